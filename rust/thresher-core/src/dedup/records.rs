//! Fixed-size little-endian records on disk: band records, pairs, duplicate verdicts.
//!
//! Files have no header: a file of `n` records is exactly `n * SIZE` bytes, so a reader can
//! check it, binary-search it by offset and merge many of them with little memory. Every file is
//! written to a temporary name and renamed, so a reader never sees a partial file.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{CoreError, Result};

/// A document across the whole corpus: shard index in the high 32 bits, row in the low 32.
pub type DocKey = u64;

pub fn doc_key(shard: u32, row: u32) -> DocKey {
    ((shard as u64) << 32) | row as u64
}

pub fn shard_of(doc: DocKey) -> u32 {
    (doc >> 32) as u32
}

pub fn row_of(doc: DocKey) -> u32 {
    doc as u32
}

pub trait Record: Sized + Copy {
    const SIZE: usize;
    fn encode(&self, out: &mut [u8]);
    fn decode(bytes: &[u8]) -> Self;
}

/// One document's key in one LSH band (or its exact hash): documents with equal keys collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRecord {
    pub key: u128,
    pub doc: DocKey,
}

impl Record for KeyRecord {
    const SIZE: usize = 24;
    fn encode(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.key.to_le_bytes());
        out[16..24].copy_from_slice(&self.doc.to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        Self {
            key: u128::from_le_bytes(bytes[..16].try_into().unwrap()),
            doc: u64::from_le_bytes(bytes[16..24].try_into().unwrap()),
        }
    }
}

/// A candidate (or verified) duplicate pair, `a < b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pair {
    pub a: DocKey,
    pub b: DocKey,
}

impl Record for Pair {
    const SIZE: usize = 16;
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.a.to_le_bytes());
        out[8..16].copy_from_slice(&self.b.to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        Self {
            a: u64::from_le_bytes(bytes[..8].try_into().unwrap()),
            b: u64::from_le_bytes(bytes[8..16].try_into().unwrap()),
        }
    }
}

/// Bit of [`DupRecord::flags`]: the document is removed.
pub const FLAG_REMOVED: u32 = 1;

/// The verdict on one document that has a duplicate: its cluster (the kept document's key),
/// the cluster's size and whether it is removed. Files of these are sorted by `doc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DupRecord {
    pub doc: DocKey,
    pub cluster: DocKey,
    pub size: u32,
    pub flags: u32,
}

impl DupRecord {
    pub fn removed(&self) -> bool {
        self.flags & FLAG_REMOVED != 0
    }
}

impl Record for DupRecord {
    const SIZE: usize = 24;
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.doc.to_le_bytes());
        out[8..16].copy_from_slice(&self.cluster.to_le_bytes());
        out[16..20].copy_from_slice(&self.size.to_le_bytes());
        out[20..24].copy_from_slice(&self.flags.to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        Self {
            doc: u64::from_le_bytes(bytes[..8].try_into().unwrap()),
            cluster: u64::from_le_bytes(bytes[8..16].try_into().unwrap()),
            size: u32::from_le_bytes(bytes[16..20].try_into().unwrap()),
            flags: u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
        }
    }
}

/// A temporary path next to `path`, unique per process and thread.
pub fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tid = format!("{:?}", std::thread::current().id());
    let tid: String = tid.chars().filter(char::is_ascii_digit).collect();
    path.with_file_name(format!(".{name}.tmp.{}.{tid}", std::process::id()))
}

/// Writes through a buffered temporary file that is renamed over `path` on `finish`.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let tmp = temporary_path(path);
        let out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            out: Some(out),
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.as_mut().expect("open").write_all(bytes)?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        let out = self.out.take().expect("open");
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_data()?;
        drop(file);
        fs::rename(&self.tmp, &self.path)?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Streams records into an atomically written file.
pub struct RecordWriter<R: Record> {
    file: AtomicFile,
    buf: Vec<u8>,
    pub count: u64,
    _record: std::marker::PhantomData<R>,
}

impl<R: Record> RecordWriter<R> {
    pub fn create(path: &Path) -> Result<Self> {
        Ok(Self {
            file: AtomicFile::create(path)?,
            buf: vec![0u8; R::SIZE],
            count: 0,
            _record: std::marker::PhantomData,
        })
    }

    pub fn push(&mut self, record: &R) -> Result<()> {
        record.encode(&mut self.buf);
        self.file.write_all(&self.buf)?;
        self.count += 1;
        Ok(())
    }

    pub fn finish(self) -> Result<u64> {
        let count = self.count;
        self.file.finish()?;
        Ok(count)
    }
}

pub fn write_records<R: Record>(path: &Path, records: &[R]) -> Result<()> {
    let mut writer = RecordWriter::create(path)?;
    for r in records {
        writer.push(r)?;
    }
    writer.finish()?;
    Ok(())
}

/// Number of records in a file, checking the size is a whole number of records.
pub fn record_count<R: Record>(path: &Path) -> Result<u64> {
    let len = fs::metadata(path)?.len();
    if len % R::SIZE as u64 != 0 {
        return Err(CoreError::InvalidArgument(format!(
            "{}: {len} bytes is not a whole number of {}-byte records (truncated or foreign file)",
            path.display(),
            R::SIZE
        )));
    }
    Ok(len / R::SIZE as u64)
}

pub fn read_record_at<R: Record>(file: &File, index: u64) -> Result<R> {
    let mut buf = vec![0u8; R::SIZE];
    file.read_exact_at(&mut buf, index * R::SIZE as u64)?;
    Ok(R::decode(&buf))
}

/// Index of the first record for which `before` is false, in a file sorted so that `before`
/// is true for a prefix.
pub fn partition_point<R: Record>(
    file: &File,
    count: u64,
    before: impl Fn(&R) -> bool,
) -> Result<u64> {
    let (mut lo, mut hi) = (0u64, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(&read_record_at::<R>(file, mid)?) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Sequential reader over `[start, end)` records of a file.
pub struct RecordReader<R: Record> {
    reader: BufReader<File>,
    remaining: u64,
    buf: Vec<u8>,
    _record: std::marker::PhantomData<R>,
}

impl<R: Record> RecordReader<R> {
    pub fn open(path: &Path) -> Result<Self> {
        let count = record_count::<R>(path)?;
        Self::open_range(path, 0, count)
    }

    pub fn open_range(path: &Path, start: u64, end: u64) -> Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(start * R::SIZE as u64))?;
        Ok(Self {
            reader: BufReader::with_capacity(64 * 1024, file),
            remaining: end.saturating_sub(start),
            buf: vec![0u8; R::SIZE],
            _record: std::marker::PhantomData,
        })
    }

    pub fn next_record(&mut self) -> Result<Option<R>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.reader.read_exact(&mut self.buf)?;
        self.remaining -= 1;
        Ok(Some(R::decode(&self.buf)))
    }
}

pub fn read_all<R: Record>(path: &Path) -> Result<Vec<R>> {
    let mut reader = RecordReader::<R>::open(path)?;
    let mut out = Vec::with_capacity(reader.remaining as usize);
    while let Some(r) = reader.next_record()? {
        out.push(r);
    }
    Ok(out)
}

/// The verdicts of one shard's documents from files sorted by `doc`, merged and sorted by row.
pub fn shard_dup_records(files: &[PathBuf], shard: u32) -> Result<Vec<DupRecord>> {
    let first = doc_key(shard, 0);
    let mut out = Vec::new();
    for path in files {
        if !path.exists() {
            continue;
        }
        let count = record_count::<DupRecord>(path)?;
        let file = File::open(path)?;
        let start = partition_point::<DupRecord>(&file, count, |r| r.doc < first)?;
        let mut reader = RecordReader::<DupRecord>::open_range(path, start, count)?;
        while let Some(r) = reader.next_record()? {
            if shard_of(r.doc) != shard {
                break;
            }
            out.push(r);
        }
    }
    out.sort_unstable_by_key(|r| r.doc);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_shard_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x/dups.bin");
        let records: Vec<DupRecord> = [(0, 5), (1, 0), (1, 7), (3, 2)]
            .iter()
            .map(|&(s, r)| DupRecord {
                doc: doc_key(s, r),
                cluster: 9,
                size: 2,
                flags: r % 2,
            })
            .collect();
        write_records(&path, &records).unwrap();
        assert_eq!(record_count::<DupRecord>(&path).unwrap(), 4);
        assert_eq!(read_all::<DupRecord>(&path).unwrap(), records);
        let shard1 = shard_dup_records(std::slice::from_ref(&path), 1).unwrap();
        assert_eq!(shard1.len(), 2);
        assert_eq!(row_of(shard1[1].doc), 7);
        assert!(shard1[1].removed());
        assert!(shard_dup_records(std::slice::from_ref(&path), 2)
            .unwrap()
            .is_empty());
        std::fs::write(&path, [0u8; 5]).unwrap();
        assert!(record_count::<DupRecord>(&path).is_err());
    }
}
