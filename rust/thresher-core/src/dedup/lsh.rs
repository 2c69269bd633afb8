//! LSH on disk: band files written per shard, merged per band into duplicate pairs.
//!
//! Map side: each shard keeps its `(band key, doc)` records per band and writes them sorted, one
//! file per band (more "runs" if the shard's records pass a memory budget). Reduce side: one task
//! per band (or per key range of a band) streams a k-way merge of every sorted file of that band,
//! so a band never has to fit in memory; equal keys are candidate pairs. With more files than the
//! merge fan-in, runs are first merged in rounds into temporary files (an external merge sort).
//!
//! Optional verification: the map also stores each document's shingle set (sorted, unique,
//! 32-bit) and the merge keeps a pair only when the exact Jaccard similarity reaches a threshold.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::records::{
    doc_key, partition_point, record_count, row_of, shard_of, write_records, AtomicFile, DocKey,
    KeyRecord, Pair, RecordReader, RecordWriter,
};
use crate::error::{CoreError, Result};

/// Which of `parts` key ranges a band key falls in (monotone in the key, so sorted files hold
/// each range contiguously).
pub fn key_part(key: u128, parts: u32) -> u32 {
    (((key >> 64) * parts as u128) >> 64) as u32
}

/// Path of a band's sorted run for one shard.
pub fn band_run_path(dir: &Path, band: usize, shard: u32, run: u32) -> PathBuf {
    dir.join(format!("band_{band:03}"))
        .join(format!("shard_{shard:06}.run{run:03}.bin"))
}

/// Every sorted run of a band.
pub fn band_runs(dir: &Path, band: usize) -> Result<Vec<PathBuf>> {
    let band_dir = dir.join(format!("band_{band:03}"));
    if !band_dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = fs::read_dir(&band_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("shard_") && n.ends_with(".bin"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Collects one shard's band records and writes them as sorted runs.
pub struct ShardBandWriter {
    dir: PathBuf,
    shard: u32,
    bands: Vec<Vec<KeyRecord>>,
    max_records: usize,
    runs: u32,
    pub records: u64,
}

impl ShardBandWriter {
    /// `memory_bytes` bounds the records held before a run is written.
    pub fn new(dir: &Path, shard: u32, bands: usize, memory_bytes: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            shard,
            bands: vec![Vec::new(); bands],
            max_records: (memory_bytes / 24).max(bands),
            runs: 0,
            records: 0,
        }
    }

    pub fn push(&mut self, row: u32, keys: &[u128]) -> Result<()> {
        let doc = doc_key(self.shard, row);
        for (band, &key) in keys.iter().enumerate() {
            self.bands[band].push(KeyRecord { key, doc });
        }
        self.records += keys.len() as u64;
        if self.bands.iter().map(Vec::len).sum::<usize>() >= self.max_records {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        for (band, records) in self.bands.iter_mut().enumerate() {
            records.sort_unstable();
            write_records(
                &band_run_path(&self.dir, band, self.shard, self.runs),
                records,
            )?;
            records.clear();
            records.shrink_to_fit();
        }
        self.runs += 1;
        Ok(())
    }

    /// Writes the last run (an empty one for a shard with no signature, so every shard has its
    /// files and a rerun can tell the shard is done).
    pub fn finish(mut self) -> Result<u32> {
        if self.runs == 0 || self.bands.iter().any(|b| !b.is_empty()) {
            self.spill()?;
        }
        Ok(self.runs)
    }
}

/// Writes one shard's shingle sets: `shingles_SHARD.bin` (u32 values) and `shingles_SHARD.idx`
/// (u64 end offset of each row's values, in values).
pub struct ShingleStoreWriter {
    data: AtomicFile,
    index_path: PathBuf,
    ends: Vec<u64>,
    written: u64,
}

pub fn shingle_paths(dir: &Path, shard: u32) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("shingles_{shard:06}.bin")),
        dir.join(format!("shingles_{shard:06}.idx")),
    )
}

impl ShingleStoreWriter {
    pub fn create(dir: &Path, shard: u32) -> Result<Self> {
        let (data, index_path) = shingle_paths(dir, shard);
        Ok(Self {
            data: AtomicFile::create(&data)?,
            index_path,
            ends: Vec::new(),
            written: 0,
        })
    }

    /// Stores the next row's shingle set (64-bit hashes reduced to 32 bits, sorted, unique).
    pub fn push(&mut self, shingles: &[u64]) -> Result<()> {
        let set = shingle_set(shingles);
        let mut bytes = Vec::with_capacity(set.len() * 4);
        for v in &set {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.data.write_all(&bytes)?;
        self.written += set.len() as u64;
        self.ends.push(self.written);
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        let mut bytes = Vec::with_capacity(self.ends.len() * 8);
        for e in &self.ends {
            bytes.extend_from_slice(&e.to_le_bytes());
        }
        let mut index = AtomicFile::create(&self.index_path)?;
        index.write_all(&bytes)?;
        self.data.finish()?;
        index.finish()
    }
}

/// The sorted, unique 32-bit reduction of shingle hashes used for exact Jaccard.
pub fn shingle_set(shingles: &[u64]) -> Vec<u32> {
    let mut set: Vec<u32> = shingles.iter().map(|&h| (h ^ (h >> 32)) as u32).collect();
    set.sort_unstable();
    set.dedup();
    set
}

/// Jaccard similarity of two sorted, unique sets.
pub fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f64 / (a.len() + b.len() - common) as f64
}

/// Reads stored shingle sets by document.
pub struct ShingleStore {
    dir: PathBuf,
    shards: HashMap<u32, (File, File)>,
}

impl ShingleStore {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            shards: HashMap::new(),
        }
    }

    pub fn get(&mut self, doc: DocKey) -> Result<Vec<u32>> {
        let shard = shard_of(doc);
        if !self.shards.contains_key(&shard) {
            let (data, index) = shingle_paths(&self.dir, shard);
            self.shards
                .insert(shard, (File::open(&data)?, File::open(&index)?));
        }
        let (data, index) = &self.shards[&shard];
        let row = row_of(doc) as u64;
        let mut buf = [0u8; 8];
        let start = if row == 0 {
            0
        } else {
            index.read_exact_at(&mut buf, (row - 1) * 8)?;
            u64::from_le_bytes(buf)
        };
        index.read_exact_at(&mut buf, row * 8)?;
        let end = u64::from_le_bytes(buf);
        let mut bytes = vec![0u8; ((end - start) * 4) as usize];
        data.read_exact_at(&mut bytes, start * 4)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
}

/// Counts from one band (range) merge.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PairStats {
    pub records: u64,
    pub candidate_pairs: u64,
    pub verified_pairs: u64,
    pub rejected_pairs: u64,
    pub largest_group: u64,
}

/// How candidates are checked before they become pairs.
pub struct Verification {
    pub store: ShingleStore,
    pub threshold: f64,
}

struct MergeSource {
    reader: RecordReader<KeyRecord>,
}

/// Opens the part of each file whose keys fall in `part` of `parts`.
fn open_ranges(files: &[PathBuf], part: u32, parts: u32) -> Result<(Vec<MergeSource>, u64)> {
    let mut sources = Vec::with_capacity(files.len());
    let mut total = 0;
    for path in files {
        let count = record_count::<KeyRecord>(path)?;
        let (start, end) = if parts <= 1 {
            (0, count)
        } else {
            let file = File::open(path)?;
            let start =
                partition_point::<KeyRecord>(&file, count, |r| key_part(r.key, parts) < part)?;
            let end =
                partition_point::<KeyRecord>(&file, count, |r| key_part(r.key, parts) <= part)?;
            (start, end)
        };
        total += end - start;
        if end > start {
            sources.push(MergeSource {
                reader: RecordReader::open_range(path, start, end)?,
            });
        }
    }
    Ok((sources, total))
}

/// k-way merge of sorted sources, calling `emit` with each record in order.
fn merge(
    mut sources: Vec<MergeSource>,
    mut emit: impl FnMut(KeyRecord) -> Result<()>,
) -> Result<()> {
    let mut heap = BinaryHeap::with_capacity(sources.len());
    for (i, s) in sources.iter_mut().enumerate() {
        if let Some(r) = s.reader.next_record()? {
            heap.push(Reverse((r, i)));
        }
    }
    let mut last: Option<KeyRecord> = None;
    while let Some(Reverse((r, i))) = heap.pop() {
        if let Some(prev) = last {
            if r < prev {
                return Err(CoreError::InvalidArgument(
                    "band file is not sorted (written by an interrupted or foreign run)".into(),
                ));
            }
        }
        last = Some(r);
        emit(r)?;
        if let Some(next) = sources[i].reader.next_record()? {
            heap.push(Reverse((next, i)));
        }
    }
    Ok(())
}

/// Merges sorted band files in rounds until at most `fan_in` remain (an external merge sort
/// whose memory is `fan_in` read buffers), then streams the final merge into duplicate pairs.
///
/// Within a group of equal keys each document is paired with the group's first document, or,
/// with verification, with the first earlier representative it passes the Jaccard threshold
/// against (a document that passes none becomes a representative itself).
pub fn find_pairs(
    files: &[PathBuf],
    part: u32,
    parts: u32,
    fan_in: usize,
    tmp_dir: &Path,
    mut verification: Option<&mut Verification>,
    out: &Path,
) -> Result<PairStats> {
    let fan_in = fan_in.max(2);
    let mut current: Vec<PathBuf> = files.to_vec();
    let mut round = 0;
    let mut restricted = false;
    let mut temporaries: Vec<PathBuf> = Vec::new();
    while current.len() > fan_in {
        let mut next = Vec::new();
        for (i, chunk) in current.chunks(fan_in).enumerate() {
            let path = tmp_dir.join(format!("merge_p{part:05}_r{round:02}_{i:06}.bin"));
            let (sources, _) = if restricted {
                open_ranges(chunk, 0, 1)?
            } else {
                open_ranges(chunk, part, parts)?
            };
            let mut writer = RecordWriter::<KeyRecord>::create(&path)?;
            merge(sources, |r| writer.push(&r))?;
            writer.finish()?;
            next.push(path.clone());
            temporaries.push(path);
        }
        current = next;
        restricted = true;
        round += 1;
    }
    let (sources, total) = if restricted {
        open_ranges(&current, 0, 1)?
    } else {
        open_ranges(&current, part, parts)?
    };
    let mut stats = PairStats {
        records: total,
        ..Default::default()
    };
    let mut writer = RecordWriter::<Pair>::create(out)?;
    let mut group_key: Option<u128> = None;
    let mut group: Vec<DocKey> = Vec::new();
    let mut flush = |group: &mut Vec<DocKey>,
                     stats: &mut PairStats,
                     verification: &mut Option<&mut Verification>|
     -> Result<()> {
        stats.largest_group = stats.largest_group.max(group.len() as u64);
        if group.len() < 2 {
            group.clear();
            return Ok(());
        }
        group.dedup();
        stats.candidate_pairs += group.len() as u64 - 1;
        match verification {
            None => {
                for &doc in &group[1..] {
                    writer.push(&Pair {
                        a: group[0],
                        b: doc,
                    })?;
                }
            }
            Some(v) => {
                let mut representatives: Vec<(DocKey, Vec<u32>)> = Vec::new();
                for &doc in group.iter() {
                    let set = v.store.get(doc)?;
                    let matched = representatives
                        .iter()
                        .find(|(_, rep)| jaccard(rep, &set) >= v.threshold)
                        .map(|(d, _)| *d);
                    match matched {
                        Some(rep) => {
                            writer.push(&Pair { a: rep, b: doc })?;
                            stats.verified_pairs += 1;
                        }
                        None => {
                            if !representatives.is_empty() {
                                stats.rejected_pairs += 1;
                            }
                            representatives.push((doc, set));
                        }
                    }
                }
            }
        }
        group.clear();
        Ok(())
    };
    merge(sources, |r| {
        if group_key != Some(r.key) {
            flush(&mut group, &mut stats, &mut verification)?;
            group_key = Some(r.key);
        }
        group.push(r.doc);
        Ok(())
    })?;
    flush(&mut group, &mut stats, &mut verification)?;
    writer.finish()?;
    for path in temporaries {
        let _ = fs::remove_file(path);
    }
    if verification.is_none() {
        stats.verified_pairs = stats.candidate_pairs;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::records::read_all;

    fn write_shard(dir: &Path, shard: u32, rows: &[(u32, u128)], memory: usize) {
        let mut w = ShardBandWriter::new(dir, shard, 1, memory);
        for &(row, key) in rows {
            w.push(row, &[key]).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn pairs_across_shards_and_runs() {
        let dir = tempfile::tempdir().unwrap();
        write_shard(dir.path(), 0, &[(0, 7), (1, 3), (2, 7)], 24 * 2);
        write_shard(dir.path(), 1, &[(0, 3), (1, 9)], 1 << 20);
        write_shard(dir.path(), 2, &[], 1 << 20);
        let files = band_runs(dir.path(), 0).unwrap();
        assert_eq!(files.len(), 4); // shard 0 spilled into two runs
        for fan_in in [2, 64] {
            let out = dir.path().join(format!("pairs{fan_in}.bin"));
            let stats = find_pairs(&files, 0, 1, fan_in, dir.path(), None, &out).unwrap();
            let pairs = read_all::<Pair>(&out).unwrap();
            assert_eq!(
                pairs,
                vec![
                    Pair {
                        a: doc_key(0, 1),
                        b: doc_key(1, 0)
                    },
                    Pair {
                        a: doc_key(0, 0),
                        b: doc_key(0, 2)
                    },
                ]
            );
            assert_eq!(stats.records, 5);
            assert_eq!(stats.candidate_pairs, 2);
            assert_eq!(stats.largest_group, 2);
        }
    }

    #[test]
    fn key_ranges_split_the_work() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<(u32, u128)> = (0..200u32)
            .map(|i| {
                (
                    i,
                    ((i % 50) as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
                )
            })
            .collect();
        write_shard(dir.path(), 0, &keys, 1 << 20);
        let files = band_runs(dir.path(), 0).unwrap();
        let mut total = 0;
        for part in 0..4 {
            let out = dir.path().join(format!("p{part}.bin"));
            total += find_pairs(&files, part, 4, 8, dir.path(), None, &out)
                .unwrap()
                .candidate_pairs;
        }
        assert_eq!(total, 150);
    }

    #[test]
    fn verification_drops_dissimilar_candidates() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ShingleStoreWriter::create(dir.path(), 0).unwrap();
        store.push(&[1, 2, 3, 4]).unwrap();
        store.push(&[1, 2, 3, 5]).unwrap(); // J = 3/5 with row 0
        store.push(&[1, 2, 3, 4, 4]).unwrap(); // same set as row 0
        store.finish().unwrap();
        write_shard(dir.path(), 0, &[(0, 1), (1, 1), (2, 1)], 1 << 20);
        let files = band_runs(dir.path(), 0).unwrap();
        let mut v = Verification {
            store: ShingleStore::new(dir.path()),
            threshold: 0.8,
        };
        let out = dir.path().join("pairs.bin");
        let stats = find_pairs(&files, 0, 1, 8, dir.path(), Some(&mut v), &out).unwrap();
        assert_eq!(
            read_all::<Pair>(&out).unwrap(),
            vec![Pair {
                a: doc_key(0, 0),
                b: doc_key(0, 2)
            }]
        );
        assert_eq!(stats.candidate_pairs, 2);
        assert_eq!(stats.verified_pairs, 1);
        assert_eq!(stats.rejected_pairs, 1);
    }

    #[test]
    fn jaccard_values() {
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(jaccard(&[], &[]), 1.0);
        assert_eq!(jaccard(&[1], &[]), 0.0);
    }
}
