//! Deduplication: exact (128-bit hashes), MinHash-LSH near duplicates, Bloom-filter n-grams.
//!
//! Everything that touches every document (normalising, shingling, hashing, signatures) runs
//! over a whole Arrow text column in parallel; everything global (band merges, union-find,
//! bucket sorts) reads and writes fixed-size record files under a work directory, so each stage
//! can be a separate process on a separate machine.

pub mod bloom;
pub mod bloom_groups;
pub mod exact;
pub mod hashing;
pub mod lsh;
pub mod minhash;
pub mod normalize;
pub mod oph;
pub mod records;
pub mod union_find;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::column::TextColumn;
use crate::error::{CoreError, Result};
use crate::parallel::map_rows;
use lsh::{ShardBandWriter, ShingleStoreWriter};
use minhash::{MinHasher, WordSplits};
use normalize::Normalization;
use records::AtomicFile;

/// Per-document MinHash result of a batch.
pub struct DocumentMinhash {
    pub band_keys: Option<Vec<u128>>,
    /// Shingle hashes, kept only when verification needs them.
    pub shingles: Option<Vec<u64>>,
}

/// Band keys (and optionally shingles) of every row.
pub fn batch_band_keys(
    column: TextColumn<'_>,
    hasher: &MinHasher,
    splits: Option<&WordSplits>,
    keep_shingles: bool,
) -> Vec<DocumentMinhash> {
    map_rows(column, |text| {
        let shingles = hasher.document_shingles(text.unwrap_or(""), splits);
        let band_keys = hasher.signature(&shingles).map(|s| hasher.band_keys(&s));
        DocumentMinhash {
            band_keys,
            shingles: keep_shingles.then_some(shingles),
        }
    })
}

/// Words of the batch that the datatrove-compatible tokenizer needs splits for, unique, sorted.
pub fn unknown_words(
    column: TextColumn<'_>,
    hasher: &MinHasher,
    splits: Option<&WordSplits>,
) -> Vec<String> {
    let per_row = map_rows(column, |text| {
        let normalized = hasher.normalization().apply(text.unwrap_or(""));
        let mut unknown = Vec::new();
        hasher.tokenize(&normalized, splits, Some(&mut unknown));
        unknown
    });
    let set: BTreeSet<String> = per_row.into_iter().flatten().collect();
    set.into_iter().collect()
}

/// Counts from a shard's map.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MapStats {
    pub documents: u64,
    /// Documents with fewer words than the shingle size (MinHash) or empty after
    /// normalisation (exact): never hashed, never removed.
    pub skipped: u64,
    pub text_bytes: u64,
}

/// Where a shard's keep priorities live.
pub fn priority_path(dir: &Path, shard: u32) -> PathBuf {
    dir.join(format!("priority_{shard:06}.bin"))
}

/// One f64 per row, for keep policies other than "first".
pub struct PriorityWriter {
    file: AtomicFile,
}

impl PriorityWriter {
    pub fn create(path: &Path) -> Result<Self> {
        Ok(Self {
            file: AtomicFile::create(path)?,
        })
    }

    pub fn push(&mut self, values: &[f64]) -> Result<()> {
        let mut bytes = Vec::with_capacity(values.len() * 8);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.file.write_all(&bytes)
    }

    pub fn finish(self) -> Result<()> {
        self.file.finish()
    }
}

fn check_priorities(priorities: Option<&[f64]>, rows: usize) -> Result<()> {
    match priorities {
        Some(p) if p.len() != rows => Err(CoreError::InvalidArgument(format!(
            "{} priorities for {rows} rows",
            p.len()
        ))),
        _ => Ok(()),
    }
}

/// The MinHash map of one shard: band files, optional shingle store and priorities.
pub struct MinhashShardWriter {
    bands: ShardBandWriter,
    shingles: Option<ShingleStoreWriter>,
    priorities: Option<PriorityWriter>,
    next_row: u32,
    pub stats: MapStats,
}

impl MinhashShardWriter {
    pub fn create(
        band_dir: &Path,
        shard: u32,
        bands: usize,
        memory_bytes: usize,
        shingle_dir: Option<&Path>,
        priority_dir: Option<&Path>,
    ) -> Result<Self> {
        let priority_file = priority_dir.map(|d| priority_path(d, shard));
        Ok(Self {
            bands: ShardBandWriter::new(band_dir, shard, bands, memory_bytes),
            shingles: shingle_dir
                .map(|d| ShingleStoreWriter::create(d, shard))
                .transpose()?,
            priorities: priority_file
                .as_deref()
                .map(PriorityWriter::create)
                .transpose()?,
            next_row: 0,
            stats: MapStats::default(),
        })
    }

    pub fn add_batch(
        &mut self,
        column: TextColumn<'_>,
        hasher: &MinHasher,
        splits: Option<&WordSplits>,
        priorities: Option<&[f64]>,
    ) -> Result<()> {
        check_priorities(priorities, column.len())?;
        let docs = batch_band_keys(column, hasher, splits, self.shingles.is_some());
        for doc in docs {
            let row = self.next_row;
            self.next_row = row.checked_add(1).ok_or_else(|| {
                CoreError::InvalidArgument("more than 2^32 rows in one shard".into())
            })?;
            match &doc.band_keys {
                Some(keys) => self.bands.push(row, keys)?,
                None => self.stats.skipped += 1,
            }
            if let Some(store) = self.shingles.as_mut() {
                store.push(doc.shingles.as_deref().unwrap_or(&[]))?;
            }
        }
        if let (Some(w), Some(p)) = (self.priorities.as_mut(), priorities) {
            w.push(p)?;
        }
        self.stats.documents += column.len() as u64;
        self.stats.text_bytes += column.total_bytes() as u64;
        Ok(())
    }

    pub fn finish(self) -> Result<MapStats> {
        self.bands.finish()?;
        if let Some(s) = self.shingles {
            s.finish()?;
        }
        if let Some(p) = self.priorities {
            p.finish()?;
        }
        Ok(self.stats)
    }
}

/// The exact-dedup map of one shard.
pub struct ExactShardWriter {
    writer: exact::ExactShardWriter,
    normalization: Normalization,
    next_row: u32,
    pub stats: MapStats,
}

impl ExactShardWriter {
    pub fn create(dir: &Path, shard: u32, buckets: u32, normalization: Normalization) -> Self {
        Self {
            writer: exact::ExactShardWriter::new(dir, shard, buckets),
            normalization,
            next_row: 0,
            stats: MapStats::default(),
        }
    }

    pub fn add_batch(&mut self, column: TextColumn<'_>, priorities: Option<&[f64]>) -> Result<()> {
        check_priorities(priorities, column.len())?;
        let norm = self.normalization;
        let hashes = map_rows(column, |t| exact::document_hash(t.unwrap_or(""), norm));
        for (i, hash) in hashes.into_iter().enumerate() {
            let row = self.next_row;
            self.next_row = row.checked_add(1).ok_or_else(|| {
                CoreError::InvalidArgument("more than 2^32 rows in one shard".into())
            })?;
            match hash {
                Some(h) => {
                    let p = priorities.map_or(0.0, |p| p[i]);
                    self.writer
                        .push(row, h, if p.is_nan() { f64::NEG_INFINITY } else { p });
                }
                None => self.stats.skipped += 1,
            }
        }
        self.stats.documents += column.len() as u64;
        self.stats.text_bytes += column.total_bytes() as u64;
        Ok(())
    }

    pub fn finish(self) -> Result<MapStats> {
        self.writer.finish()?;
        Ok(self.stats)
    }
}

/// Every `*.bin` file directly under `dir`, sorted.
pub fn list_bin_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "bin")
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}
