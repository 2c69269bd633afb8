//! MinHash signatures: normalised text -> words -> word n-gram shingles -> 64-bit shingle
//! hashes -> `bands x rows` universal hashes `(a*x + b) mod (2^61 - 1)`, minimum over shingles.
//!
//! The hash parameters come from numpy's legacy `RandomState(seed)` (`randint(1, p)` then
//! `randint(0, p)`, 64-bit) in both modes, so Thresher and datatrove draw the same functions.
//! Like datatrove, `a*x + b` wraps modulo 2^64 before the modulus: this is what datatrove's uint64
//! numpy arithmetic does, and reproducing it is what makes signatures agree bit for bit.
//!
//! The datatrove-compatible mode differs only in what feeds the kernel: datatrove's punctuation
//! table, spaCy's English word splits (supplied by the caller through [`WordSplits`], since they
//! come from spaCy itself) and xxh64 (or sha1) shingle hashes.

use std::collections::HashMap;

use unicode_general_category::{get_general_category, GeneralCategory};

use super::hashing::{hash128, ShingleHash};
use super::normalize::Normalization;
use crate::error::{CoreError, Result};

/// The Mersenne prime 2^61 - 1, modulus of the universal hash family.
pub const MERSENNE_61: u64 = (1 << 61) - 1;

/// MinHash settings; the defaults are FineWeb's (5-grams, 14 bands of 8 rows, seed 1).
#[derive(Clone, Debug)]
pub struct MinhashConfig {
    pub ngram: usize,
    pub bands: usize,
    pub rows: usize,
    pub seed: u32,
    pub datatrove_compatible: bool,
    pub shingle_hash: ShingleHash,
}

impl Default for MinhashConfig {
    fn default() -> Self {
        Self {
            ngram: 5,
            bands: 14,
            rows: 8,
            seed: 1,
            datatrove_compatible: false,
            shingle_hash: ShingleHash::Xxh3,
        }
    }
}

/// numpy's legacy MT19937 (`np.random.RandomState(seed)`), enough of it to draw 64-bit integers.
struct NumpyRandomState {
    key: [u32; 624],
    pos: usize,
}

impl NumpyRandomState {
    fn new(seed: u32) -> Self {
        let mut key = [0u32; 624];
        let mut s = seed;
        for (pos, slot) in key.iter_mut().enumerate() {
            *slot = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        Self { key, pos: 624 }
    }

    fn regenerate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..624 {
            let y = (self.key[i] & UPPER) | (self.key[(i + 1) % 624] & LOWER);
            let mut next = self.key[(i + 397) % 624] ^ (y >> 1);
            if y & 1 == 1 {
                next ^= MATRIX_A;
            }
            self.key[i] = next;
        }
        self.pos = 0;
    }

    fn next_u32(&mut self) -> u32 {
        if self.pos == 624 {
            self.regenerate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn next_u64(&mut self) -> u64 {
        let high = self.next_u32() as u64;
        let low = self.next_u32() as u64;
        (high << 32) | low
    }

    /// `randint(low, high, dtype=uint64)` for a range wider than 32 bits: masked rejection.
    fn randint_u64(&mut self, low: u64, high: u64) -> u64 {
        let range = high - 1 - low;
        debug_assert!(range > u32::MAX as u64);
        let mask = u64::MAX >> range.leading_zeros();
        loop {
            let value = self.next_u64() & mask;
            if value <= range {
                return low + value;
            }
        }
    }
}

/// The `a` and `b` of each hash function, drawn as datatrove draws them.
pub fn hash_parameters(seed: u32, count: usize) -> (Vec<u64>, Vec<u64>) {
    let mut rng = NumpyRandomState::new(seed);
    let a = (0..count)
        .map(|_| rng.randint_u64(1, MERSENNE_61))
        .collect();
    let b = (0..count)
        .map(|_| rng.randint_u64(0, MERSENNE_61))
        .collect();
    (a, b)
}

/// How spaCy's English tokenizer splits words that are not plain letters (`0km` -> `0 km`,
/// `cannot` -> `can not`). Filled by the caller from spaCy; words it lacks are reported back.
#[derive(Default, Clone)]
pub struct WordSplits {
    splits: HashMap<String, Vec<String>>,
}

impl WordSplits {
    pub fn insert(&mut self, word: String, tokens: Vec<String>) {
        self.splits.insert(word, tokens);
    }

    pub fn get(&self, word: &str) -> Option<&Vec<String>> {
        self.splits.get(word)
    }

    pub fn len(&self) -> usize {
        self.splits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.splits.is_empty()
    }
}

/// A word spaCy's English tokenizer leaves whole unless it is a special case: only letters and
/// combining marks, or only ASCII digits. Anything with a symbol or a digit next to letters can
/// be split by its prefix, suffix, infix or unit rules.
pub fn is_plain_word(word: &str) -> bool {
    if word.bytes().all(|b| b.is_ascii_lowercase()) || word.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    word.chars().all(|c| {
        use GeneralCategory::*;
        matches!(
            get_general_category(c),
            LowercaseLetter
                | UppercaseLetter
                | TitlecaseLetter
                | ModifierLetter
                | OtherLetter
                | SpacingMark
                | EnclosingMark
                | NonspacingMark
        )
    })
}

/// A document's words joined by single spaces, so every shingle is a slice of one string.
pub struct Tokenized {
    pub joined: String,
    pub words: usize,
}

/// Computes MinHash signatures.
pub struct MinHasher {
    pub config: MinhashConfig,
    a: Vec<u64>,
    b: Vec<u64>,
}

impl MinHasher {
    pub fn new(config: MinhashConfig) -> Result<Self> {
        if config.ngram == 0 || config.bands == 0 || config.rows == 0 {
            return Err(CoreError::InvalidArgument(
                "ngram, bands and rows must be at least 1".into(),
            ));
        }
        let (a, b) = hash_parameters(config.seed, config.bands * config.rows);
        Ok(Self { config, a, b })
    }

    pub fn num_hashes(&self) -> usize {
        self.a.len()
    }

    pub fn normalization(&self) -> Normalization {
        if self.config.datatrove_compatible {
            Normalization::Datatrove
        } else {
            Normalization::Minhash
        }
    }

    /// Words of normalised text. Whitespace words in Thresher's mode; in the compatible mode
    /// non-plain words are replaced by their spaCy split. `unknown` receives words that need a
    /// split `splits` lacks (they are then kept whole).
    pub fn tokenize(
        &self,
        normalized: &str,
        splits: Option<&WordSplits>,
        mut unknown: Option<&mut Vec<String>>,
    ) -> Tokenized {
        let mut joined = String::with_capacity(normalized.len() + 8);
        let mut words = 0;
        let mut push = |token: &str, joined: &mut String| {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(token);
            words += 1;
        };
        for word in normalized.split(' ').filter(|w| !w.is_empty()) {
            if self.config.datatrove_compatible {
                if let Some(tokens) = splits.and_then(|s| s.get(word)) {
                    for token in tokens {
                        push(token, &mut joined);
                    }
                    continue;
                }
                if !is_plain_word(word) {
                    if let Some(list) = unknown.as_deref_mut() {
                        list.push(word.to_string());
                    }
                }
            }
            push(word, &mut joined);
        }
        Tokenized { joined, words }
    }

    /// Hashes of every word n-gram (words joined by one space), in order, repeats included.
    pub fn shingle_hashes(&self, tokenized: &Tokenized) -> Vec<u64> {
        let n = self.config.ngram;
        if tokenized.words < n {
            return Vec::new();
        }
        let text = tokenized.joined.as_bytes();
        let mut starts = Vec::with_capacity(tokenized.words + 1);
        starts.push(0usize);
        starts.extend(memchr_spaces(text).map(|i| i + 1));
        let mut out = Vec::with_capacity(tokenized.words - n + 1);
        for i in 0..=tokenized.words - n {
            let end = if i + n < starts.len() {
                starts[i + n] - 1
            } else {
                text.len()
            };
            out.push(self.config.shingle_hash.hash(&text[starts[i]..end]));
        }
        out
    }

    /// Normalises, tokenises and hashes a document's shingles.
    pub fn document_shingles(&self, text: &str, splits: Option<&WordSplits>) -> Vec<u64> {
        let normalized = self.normalization().apply(text);
        let tokenized = if !self.config.datatrove_compatible && !normalized.contains("  ") {
            // Already single-space separated words: no copy needed.
            let words = if normalized.is_empty() {
                0
            } else {
                1 + normalized.bytes().filter(|&b| b == b' ').count()
            };
            Tokenized {
                joined: normalized,
                words,
            }
        } else {
            self.tokenize(&normalized, splits, None)
        };
        self.shingle_hashes(&tokenized)
    }

    /// The signature (`bands * rows` values) of a set of shingle hashes; `None` when empty.
    pub fn signature(&self, shingles: &[u64]) -> Option<Vec<u64>> {
        if shingles.is_empty() {
            return None;
        }
        let mut mins = vec![u64::MAX; self.a.len()];
        signature_kernel(shingles, &self.a, &self.b, &mut mins);
        Some(mins)
    }

    /// One 128-bit key per band: documents sharing a key are LSH candidates.
    pub fn band_keys(&self, signature: &[u64]) -> Vec<u128> {
        signature
            .chunks(self.config.rows)
            .enumerate()
            .map(|(band, values)| {
                let mut bytes = Vec::with_capacity(8 * values.len() + 4);
                bytes.extend_from_slice(&(band as u32).to_le_bytes());
                for v in values {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                hash128(&bytes)
            })
            .collect()
    }
}

fn memchr_spaces(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    text.iter()
        .enumerate()
        .filter(|(_, &b)| b == b' ')
        .map(|(i, _)| i)
}

#[inline(always)]
fn mod_mersenne(v: u64) -> u64 {
    let r = (v & MERSENNE_61) + (v >> 61);
    // r < 2^61 + 8: one conditional subtraction finishes the reduction (branch-free: when
    // r < p the subtraction wraps to a huge value and the minimum ignores it).
    r.min(r.wrapping_sub(MERSENNE_61))
}

/// Hash functions per block: their `a`, `b` and running minima stay in vector registers while
/// every shingle streams past.
const BLOCK: usize = 16;

#[inline(always)]
fn kernel_body(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
    let n = mins.len().min(a.len()).min(b.len());
    let (a, b, mins) = (&a[..n], &b[..n], &mut mins[..n]);
    let full = n / BLOCK * BLOCK;
    for start in (0..full).step_by(BLOCK) {
        let mut ab = [0u64; BLOCK];
        let mut bb = [0u64; BLOCK];
        let mut mb = [0u64; BLOCK];
        ab.copy_from_slice(&a[start..start + BLOCK]);
        bb.copy_from_slice(&b[start..start + BLOCK]);
        mb.copy_from_slice(&mins[start..start + BLOCK]);
        for &x in shingles {
            for l in 0..BLOCK {
                mb[l] = mb[l].min(mod_mersenne(x.wrapping_mul(ab[l]).wrapping_add(bb[l])));
            }
        }
        mins[start..start + BLOCK].copy_from_slice(&mb);
    }
    for &x in shingles {
        for j in full..n {
            mins[j] = mins[j].min(mod_mersenne(x.wrapping_mul(a[j]).wrapping_add(b[j])));
        }
    }
}

/// AVX-512 kernel: 16 hash functions per pass held in registers, every shingle broadcast
/// against them. The conditional subtraction of the reduction is left out of the loop: lanes
/// track the largest partly reduced value too, and the (astronomically rare) lane that met a
/// value >= p is recomputed exactly.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn kernel_avx512(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
    let n = mins.len().min(a.len()).min(b.len());
    let mut start = 0;
    // 32 functions a pass while they last (more independent work per broadcast shingle), then 8.
    while start + 32 <= n {
        avx512_block::<4>(shingles, a, b, mins, start);
        start += 32;
    }
    while start + 8 <= n {
        avx512_block::<1>(shingles, a, b, mins, start);
        start += 8;
    }
    if start < n {
        kernel_body(shingles, &a[start..n], &b[start..n], &mut mins[start..n]);
    }
}

/// `R` registers of 8 hash functions from `start`: the partly reduced values' minimum and
/// maximum per lane; lanes that met a value >= p (about one in 2^58 shingles) are redone exactly.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
#[inline]
unsafe fn avx512_block<const R: usize>(
    shingles: &[u64],
    a: &[u64],
    b: &[u64],
    mins: &mut [u64],
    start: usize,
) {
    use std::arch::x86_64::*;
    let p = _mm512_set1_epi64(MERSENNE_61 as i64);
    let mut av = [_mm512_setzero_si512(); R];
    let mut bv = [_mm512_setzero_si512(); R];
    let mut mv = [_mm512_setzero_si512(); R];
    let mut xv = [_mm512_setzero_si512(); R];
    for r in 0..R {
        // SAFETY: the caller guarantees start + 8 * R <= every slice's length.
        av[r] = _mm512_loadu_si512(a.as_ptr().add(start + 8 * r).cast());
        bv[r] = _mm512_loadu_si512(b.as_ptr().add(start + 8 * r).cast());
        mv[r] = _mm512_loadu_si512(mins.as_ptr().add(start + 8 * r).cast());
    }
    for &x in shingles {
        let s = _mm512_set1_epi64(x as i64);
        for r in 0..R {
            let v = _mm512_add_epi64(_mm512_mullo_epi64(s, av[r]), bv[r]);
            let partly = _mm512_add_epi64(_mm512_and_si512(v, p), _mm512_srli_epi64::<61>(v));
            mv[r] = _mm512_min_epu64(mv[r], partly);
            xv[r] = _mm512_max_epu64(xv[r], partly);
        }
    }
    let mut largest = [0u64; 8];
    for r in 0..R {
        _mm512_storeu_si512(mins.as_mut_ptr().add(start + 8 * r).cast(), mv[r]);
        _mm512_storeu_si512(largest.as_mut_ptr().cast(), xv[r]);
        for (lane, &high) in largest.iter().enumerate() {
            if high >= MERSENNE_61 {
                let j = start + 8 * r + lane;
                kernel_body(shingles, &a[j..j + 1], &b[j..j + 1], &mut mins[j..j + 1]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn kernel_avx2(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
    kernel_body(shingles, a, b, mins)
}

/// `mins[j] = min over x of ((x * a[j] + b[j]) mod 2^64) mod (2^61 - 1)`, vectorised where the
/// CPU allows (the same arithmetic on every path).
pub fn signature_kernel(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq") {
            // SAFETY: the features this function is compiled for were detected at run time.
            return unsafe { kernel_avx512(shingles, a, b, mins) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { kernel_avx2(shingles, a, b, mins) };
        }
    }
    kernel_body(shingles, a, b, mins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parameters_match_numpy_random_state() {
        // np.random.RandomState(1): randint(1, p, uint64, 112) then randint(0, p, uint64, 112).
        let (a, b) = hash_parameters(1, 112);
        assert_eq!(
            &a[..3],
            &[775169054918279404, 1758426461858698313, 2109959069025162]
        );
        assert_eq!(a[111], 223865076026037746);
        assert_eq!(
            &b[..3],
            &[
                1062448801025099917,
                1324811268927594100,
                1217488311597731462
            ]
        );
        assert_eq!(b[111], 1097409548522419201);
    }

    #[test]
    fn kernel_wraps_before_the_modulus() {
        let a = [3u64 << 62];
        let b = [5u64];
        let mut mins = [u64::MAX];
        signature_kernel(&[2], &a, &b, &mut mins);
        // 2 * 3*2^62 = 3*2^63 wraps to 2^63; + 5; mod (2^61 - 1) = 4 + 5 = 9.
        assert_eq!(mins[0], 9);
        let mut plain = [u64::MAX];
        kernel_body(&[2, 7, 11], &[12345, 999], &[1, 2], &mut plain);
        assert_eq!(plain[0], 2 * 12345 + 1);
    }

    #[test]
    fn vectorised_kernel_matches_scalar() {
        let hasher = MinHasher::new(MinhashConfig::default()).unwrap();
        let shingles: Vec<u64> = (0..1000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut scalar = vec![u64::MAX; 112];
        kernel_body(&shingles, &hasher.a, &hasher.b, &mut scalar);
        assert_eq!(hasher.signature(&shingles).unwrap(), scalar);
    }

    #[test]
    fn vectorised_kernel_fixes_values_at_the_modulus() {
        // x * a + b = p + 3 for lane 5: partly reduced value p + 3, exact value 3.
        let mut a = vec![1u64; 32];
        let mut b = vec![u64::MAX - 100; 32];
        b[5] = MERSENNE_61 + 3 - 1;
        a[20] = 3 << 62;
        let shingles = [1u64, 2, 1 << 40];
        let mut fast = vec![u64::MAX; 32];
        signature_kernel(&shingles, &a, &b, &mut fast);
        let mut scalar = vec![u64::MAX; 32];
        kernel_body(&shingles, &a, &b, &mut scalar);
        assert_eq!(fast, scalar);
        assert_eq!(fast[5], 3);
    }

    #[test]
    fn shingles_are_word_ngrams() {
        let config = MinhashConfig {
            ngram: 2,
            shingle_hash: ShingleHash::Xxh64,
            ..Default::default()
        };
        let hasher = MinHasher::new(config).unwrap();
        let shingles = hasher.document_shingles("The cat, the HAT!", None);
        let expected: Vec<u64> = ["the cat", "cat the", "the hat"]
            .iter()
            .map(|s| ShingleHash::Xxh64.hash(s.as_bytes()))
            .collect();
        assert_eq!(shingles, expected);
        assert!(hasher.document_shingles("one", None).is_empty());
        assert!(hasher.signature(&[]).is_none());
    }

    #[test]
    fn compatible_mode_uses_word_splits() {
        let config = MinhashConfig {
            ngram: 2,
            datatrove_compatible: true,
            shingle_hash: ShingleHash::Xxh64,
            ..Default::default()
        };
        let hasher = MinHasher::new(config).unwrap();
        let mut splits = WordSplits::default();
        splits.insert("cannot".into(), vec!["can".into(), "not".into()]);
        let mut unknown = Vec::new();
        let t = hasher.tokenize("i cannot run 0km", Some(&splits), Some(&mut unknown));
        assert_eq!(t.joined, "i can not run 0km");
        assert_eq!(t.words, 5);
        assert_eq!(unknown, vec!["0km".to_string()]);
    }

    #[test]
    fn identical_texts_share_all_band_keys() {
        let hasher = MinHasher::new(MinhashConfig::default()).unwrap();
        let text = "one two three four five six seven eight nine ten";
        let s1 = hasher
            .signature(&hasher.document_shingles(text, None))
            .unwrap();
        let s2 = hasher
            .signature(&hasher.document_shingles(&text.to_uppercase(), None))
            .unwrap();
        assert_eq!(hasher.band_keys(&s1), hasher.band_keys(&s2));
        assert_eq!(hasher.band_keys(&s1).len(), 14);
    }

    #[test]
    fn plain_words() {
        assert!(is_plain_word("hello"));
        assert!(is_plain_word("000"));
        assert!(is_plain_word("외모지상주의"));
        assert!(!is_plain_word("0km"));
        assert!(!is_plain_word("brand®"));
        assert!(!is_plain_word("‘the"));
    }

    proptest! {
        #[test]
        fn signatures_never_panic(text in "\\PC{0,200}", compatible in any::<bool>()) {
            let hasher = MinHasher::new(MinhashConfig { datatrove_compatible: compatible, ..Default::default() }).unwrap();
            let shingles = hasher.document_shingles(&text, None);
            if let Some(sig) = hasher.signature(&shingles) {
                prop_assert_eq!(sig.len(), 112);
                prop_assert!(sig.iter().all(|&v| v < MERSENNE_61));
            }
        }
    }
}
