//! Hash functions: 128-bit document hashes, 64-bit shingle hashes.

use sha1::{Digest, Sha1};
use xxhash_rust::{xxh3, xxh64};

/// 128-bit hash of a document's bytes (exact dedup, band keys). xxh3-128: collisions among
/// 10^10 documents have probability about 10^-19.
pub fn hash128(bytes: &[u8]) -> u128 {
    xxh3::xxh3_128(bytes)
}

/// The 64-bit hash applied to each shingle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShingleHash {
    /// xxh3-64 (Thresher's default: the fastest).
    Xxh3,
    /// xxh64 with seed 0 (datatrove's default `HashConfig`).
    Xxh64,
    /// The first 8 bytes of SHA-1, little-endian (what FineWeb used).
    Sha1,
}

impl ShingleHash {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "xxh3" => Some(Self::Xxh3),
            "xxhash" | "xxh64" => Some(Self::Xxh64),
            "sha1" => Some(Self::Sha1),
            _ => None,
        }
    }

    #[inline]
    pub fn hash(self, bytes: &[u8]) -> u64 {
        match self {
            Self::Xxh3 => xxh3::xxh3_64(bytes),
            Self::Xxh64 => xxh64::xxh64(bytes, 0),
            Self::Sha1 => {
                let digest = Sha1::digest(bytes);
                u64::from_le_bytes(digest[..8].try_into().expect("sha1 digest has 20 bytes"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Reference values from Python: xxhash.xxh64_intdigest(b"hello world") and
        // struct.unpack("<Q", hashlib.sha1(b"hello world").digest()[:8])[0].
        assert_eq!(ShingleHash::Xxh64.hash(b"hello world"), 5020219685658847592);
        assert_eq!(ShingleHash::Sha1.hash(b"hello world"), 13028719972609469994);
        assert_ne!(ShingleHash::Xxh3.hash(b"a"), ShingleHash::Xxh3.hash(b"b"));
        assert_ne!(hash128(b""), hash128(b" "));
    }
}
