//! Exact dedup: a 128-bit hash of the normalised text, partitioned into buckets by hash.
//!
//! Map: each shard writes, per bucket, `(hash, doc, priority)` records. Reduce: one task per
//! bucket loads its records (1/buckets of the corpus, 32 bytes per document), sorts them and
//! writes a verdict for every document that has an identical twin. Documents whose normalised
//! text is empty are never hashed (they would all be "duplicates" of each other).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::hashing::hash128;
use super::normalize::Normalization;
use super::records::{doc_key, read_all, DocKey, DupRecord, Record, RecordWriter, FLAG_REMOVED};
use super::union_find::KeepPolicy;
use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExactRecord {
    pub hash: u128,
    pub doc: DocKey,
    pub priority: f64,
}

impl Record for ExactRecord {
    const SIZE: usize = 32;
    fn encode(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.hash.to_le_bytes());
        out[16..24].copy_from_slice(&self.doc.to_le_bytes());
        out[24..32].copy_from_slice(&self.priority.to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        Self {
            hash: u128::from_le_bytes(bytes[..16].try_into().unwrap()),
            doc: u64::from_le_bytes(bytes[16..24].try_into().unwrap()),
            priority: f64::from_le_bytes(bytes[24..32].try_into().unwrap()),
        }
    }
}

/// Hash of a document's normalised text; `None` when it normalises to nothing.
pub fn document_hash(text: &str, normalization: Normalization) -> Option<u128> {
    let normalized = normalization.apply(text);
    if normalized.trim().is_empty() {
        return None;
    }
    Some(hash128(normalized.as_bytes()))
}

pub fn bucket_of(hash: u128, buckets: u32) -> u32 {
    (((hash >> 64) * buckets as u128) >> 64) as u32
}

pub fn bucket_path(dir: &Path, bucket: u32, shard: u32) -> PathBuf {
    dir.join(format!("bucket_{bucket:05}"))
        .join(format!("shard_{shard:06}.bin"))
}

/// One shard's exact-hash records, partitioned by bucket.
pub struct ExactShardWriter {
    dir: PathBuf,
    shard: u32,
    buckets: Vec<Vec<ExactRecord>>,
}

impl ExactShardWriter {
    pub fn new(dir: &Path, shard: u32, buckets: u32) -> Self {
        Self {
            dir: dir.to_path_buf(),
            shard,
            buckets: vec![Vec::new(); buckets as usize],
        }
    }

    pub fn push(&mut self, row: u32, hash: u128, priority: f64) {
        let bucket = bucket_of(hash, self.buckets.len() as u32) as usize;
        self.buckets[bucket].push(ExactRecord {
            hash,
            doc: doc_key(self.shard, row),
            priority,
        });
    }

    /// Writes every bucket's file (empty ones too, so the reduce sees every shard).
    pub fn finish(self) -> Result<u64> {
        let mut total = 0;
        for (bucket, records) in self.buckets.iter().enumerate() {
            let mut w = RecordWriter::create(&bucket_path(&self.dir, bucket as u32, self.shard))?;
            for r in records {
                w.push(r)?;
            }
            total += w.finish()?;
        }
        Ok(total)
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExactStats {
    pub documents: u64,
    pub documents_in_groups: u64,
    pub groups: u64,
    pub removed: u64,
    pub size_histogram: Vec<(u64, u64)>,
}

/// Deduplicates one bucket: every document sharing its hash with another gets a verdict.
pub fn reduce_bucket(files: &[PathBuf], policy: KeepPolicy, out: &Path) -> Result<ExactStats> {
    let mut records: Vec<ExactRecord> = Vec::new();
    for f in files {
        records.extend(read_all::<ExactRecord>(f)?);
    }
    records.sort_unstable_by(|x, y| x.hash.cmp(&y.hash).then(x.doc.cmp(&y.doc)));
    let mut stats = ExactStats {
        documents: records.len() as u64,
        ..Default::default()
    };
    let mut verdicts: Vec<DupRecord> = Vec::new();
    let mut histogram = BTreeMap::new();
    let mut start = 0;
    while start < records.len() {
        let mut end = start + 1;
        while end < records.len() && records[end].hash == records[start].hash {
            end += 1;
        }
        let group = &records[start..end];
        if group.len() > 1 {
            let mut kept = 0;
            if policy == KeepPolicy::Highest {
                for (i, r) in group.iter().enumerate() {
                    if r.priority > group[kept].priority {
                        kept = i;
                    }
                }
            }
            for (i, r) in group.iter().enumerate() {
                verdicts.push(DupRecord {
                    doc: r.doc,
                    cluster: group[kept].doc,
                    size: group.len() as u32,
                    flags: if i == kept { 0 } else { FLAG_REMOVED },
                });
            }
            stats.groups += 1;
            stats.documents_in_groups += group.len() as u64;
            stats.removed += group.len() as u64 - 1;
            *histogram.entry(group.len() as u64).or_insert(0u64) += 1;
        }
        start = end;
    }
    verdicts.sort_unstable_by_key(|r| r.doc);
    let mut w = RecordWriter::create(out)?;
    for v in &verdicts {
        w.push(v)?;
    }
    w.finish()?;
    stats.size_histogram = histogram.into_iter().collect();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_decides_what_is_identical() {
        let a = document_hash("Hello  World", Normalization::Whitespace);
        assert_eq!(
            a,
            document_hash(" Hello World\n", Normalization::Whitespace)
        );
        assert_ne!(a, document_hash("hello world", Normalization::Whitespace));
        assert_eq!(
            document_hash("Hello, World!", Normalization::Minhash),
            document_hash("hello world", Normalization::Minhash)
        );
        assert_eq!(document_hash("  ", Normalization::None), None);
        assert_eq!(document_hash("!!!", Normalization::Minhash), None);
    }

    #[test]
    fn bucket_reduce_keeps_one_per_group() {
        let dir = tempfile::tempdir().unwrap();
        let h = |t: &str| document_hash(t, Normalization::None).unwrap();
        let mut s0 = ExactShardWriter::new(dir.path(), 0, 1);
        s0.push(0, h("a"), 1.0);
        s0.push(1, h("b"), 1.0);
        s0.finish().unwrap();
        let mut s1 = ExactShardWriter::new(dir.path(), 1, 1);
        s1.push(0, h("a"), 5.0);
        s1.push(1, h("a"), 5.0);
        s1.finish().unwrap();
        let files = vec![bucket_path(dir.path(), 0, 0), bucket_path(dir.path(), 0, 1)];
        let out = dir.path().join("dups.bin");
        let stats = reduce_bucket(&files, KeepPolicy::First, &out).unwrap();
        assert_eq!((stats.documents, stats.groups, stats.removed), (4, 1, 2));
        let v = read_all::<DupRecord>(&out).unwrap();
        assert_eq!(
            v.iter()
                .filter(|r| !r.removed())
                .map(|r| r.doc)
                .collect::<Vec<_>>(),
            vec![doc_key(0, 0)]
        );
        reduce_bucket(&files, KeepPolicy::Highest, &out).unwrap();
        let v = read_all::<DupRecord>(&out).unwrap();
        assert_eq!(
            v.iter()
                .filter(|r| !r.removed())
                .map(|r| r.doc)
                .collect::<Vec<_>>(),
            vec![doc_key(1, 0)]
        );
        assert!(v.iter().all(|r| r.size == 3 && r.cluster == doc_key(1, 0)));
    }
}
