//! Bloom-filter dedup across shards: one filter per group of shards, as scheduler stages.
//!
//! * **map** (one task per shard, parallel): [`BloomShardWriter`] tokenizes every row once and
//!   writes what the filter needs: each unit's token and character counts and the xxh3-64 hash of
//!   every token (8 bytes a token, plus a few bytes a unit and a document). N-gram hashes are not
//!   stored: they are xxh3-128 of `ngram` consecutive token hashes, recomputed by the reduce
//!   (one hash a token, cheap next to the filter's random memory reads), which keeps the file at
//!   one u64 a word and the n-grams exactly those of the per-shard path.
//! * **reduce** (one task per group): [`reduce_shard`] streams a group's token files in shard
//!   order through one [`BloomFilter`] and writes one verdict per row (document duplicate, or
//!   which units to remove) into a verdict file per shard.
//! * **apply** (one task per shard): [`VerdictReader`] hands the verdicts back in row order, and
//!   [`super::bloom::outcome`] rewrites each text from its verdict.
//!
//! Both files start with an 8-byte magic and are written to a temporary name and renamed.
//!
//! Token file, per document: varint units `U`; `U` x (varint tokens, varint chars); varint
//! tokens `T`; `T` x u64 little-endian token hashes. In document mode `U` is 0.
//!
//! Verdict file, per row: u8 flags (1: document duplicate, 2: has a duplicate fraction); the
//! fraction as f64 little-endian when flag 2; varint units; varint removed units `R`; varint
//! removed characters; `R` x varint gaps between removed unit indices (index minus the previous
//! removed index plus one, so the first is the index itself).

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::bloom::{
    check, prepare, tokenize, BloomDedupConfig, BloomFilter, PreparedDocument, TokenizedDocument,
    UnitSpan, Verdict,
};
use super::records::AtomicFile;
use crate::column::TextColumn;
use crate::error::{CoreError, Result};
use crate::parallel::map_rows;

pub const TOKENS_MAGIC: &[u8; 8] = b"TBLMTOK1";
pub const VERDICTS_MAGIC: &[u8; 8] = b"TBLMVRD1";

const FLAG_DOCUMENT_DUPLICATE: u8 = 1;
const FLAG_FRACTION: u8 = 2;

/// Documents and tokens the reduce prepares at once (n-grams hashed in parallel).
const CHUNK_DOCUMENTS: usize = 4096;
const CHUNK_TOKENS: usize = 1 << 20;

pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Buffered little-endian reading with errors that name the file and the offset.
struct ByteReader {
    inner: BufReader<File>,
    path: PathBuf,
    offset: u64,
}

impl ByteReader {
    fn open(path: &Path, magic: &[u8; 8]) -> Result<Self> {
        let file = File::open(path).map_err(|e| {
            CoreError::InvalidArgument(format!("{}: cannot open ({e})", path.display()))
        })?;
        let mut reader = Self {
            inner: BufReader::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            offset: 0,
        };
        let mut head = [0u8; 8];
        reader.exact(&mut head)?;
        if &head != magic {
            return Err(CoreError::InvalidArgument(format!(
                "{}: not a {} file",
                path.display(),
                String::from_utf8_lossy(magic)
            )));
        }
        Ok(reader)
    }

    fn corrupt(&self, what: &str) -> CoreError {
        CoreError::InvalidArgument(format!(
            "{}: {what} at byte {} (truncated or foreign file)",
            self.path.display(),
            self.offset
        ))
    }

    fn at_end(&mut self) -> Result<bool> {
        Ok(self.inner.fill_buf()?.is_empty())
    }

    fn exact(&mut self, out: &mut [u8]) -> Result<()> {
        match self.inner.read_exact(out) {
            Ok(()) => {
                self.offset += out.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Err(self.corrupt("unexpected end")),
            Err(e) => Err(e.into()),
        }
    }

    fn byte(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.corrupt("varint too long"))
    }

    fn length(&mut self, limit: u64, what: &str) -> Result<usize> {
        let value = self.varint()?;
        if value > limit {
            return Err(self.corrupt(what));
        }
        Ok(value as usize)
    }
}

/// Appends one document's record to `out`.
pub fn encode_document(doc: &TokenizedDocument, out: &mut Vec<u8>) {
    put_varint(out, doc.units.len() as u64);
    for unit in &doc.units {
        put_varint(out, unit.tokens as u64);
        put_varint(out, unit.chars);
    }
    put_varint(out, doc.tokens.len() as u64);
    out.reserve(doc.tokens.len() * 8);
    for h in &doc.tokens {
        out.extend_from_slice(&h.to_le_bytes());
    }
}

/// Counts from one shard's map.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BloomMapStats {
    pub documents: u64,
    pub text_bytes: u64,
    pub tokens: u64,
    pub units: u64,
    /// Size of the token file.
    pub bytes: u64,
}

/// The map of one shard: a token file with one record per row, in row order.
pub struct BloomShardWriter {
    file: AtomicFile,
    config: BloomDedupConfig,
    buf: Vec<u8>,
    pub stats: BloomMapStats,
}

impl BloomShardWriter {
    pub fn create(path: &Path, config: BloomDedupConfig) -> Result<Self> {
        let mut file = AtomicFile::create(path)?;
        file.write_all(TOKENS_MAGIC)?;
        Ok(Self {
            file,
            config,
            buf: Vec::new(),
            stats: BloomMapStats {
                bytes: TOKENS_MAGIC.len() as u64,
                ..Default::default()
            },
        })
    }

    /// Tokenizes a batch (in parallel) and appends its records (null text counts as empty).
    pub fn add_batch(&mut self, column: TextColumn<'_>) -> Result<()> {
        let config = &self.config;
        let docs = map_rows(column, |t| tokenize(t.unwrap_or(""), config));
        self.buf.clear();
        for doc in &docs {
            encode_document(doc, &mut self.buf);
            self.stats.tokens += doc.tokens.len() as u64;
            self.stats.units += doc.units.len() as u64;
        }
        self.file.write_all(&self.buf)?;
        self.stats.bytes += self.buf.len() as u64;
        self.stats.documents += column.len() as u64;
        self.stats.text_bytes += column.total_bytes() as u64;
        Ok(())
    }

    pub fn finish(self) -> Result<BloomMapStats> {
        self.file.finish()?;
        Ok(self.stats)
    }
}

/// Reads a token file document by document.
pub struct TokenFileReader {
    reader: ByteReader,
    bytes: Vec<u8>,
}

impl TokenFileReader {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            reader: ByteReader::open(path, TOKENS_MAGIC)?,
            bytes: Vec::new(),
        })
    }

    /// The next document into `doc` (cleared first); false at the end of the file.
    pub fn next_document(&mut self, doc: &mut TokenizedDocument) -> Result<bool> {
        doc.tokens.clear();
        doc.units.clear();
        if self.reader.at_end()? {
            return Ok(false);
        }
        let r = &mut self.reader;
        let units = r.length(u32::MAX as u64, "impossible unit count")?;
        let mut unit_tokens = 0usize;
        for _ in 0..units {
            let tokens = r.length(u32::MAX as u64, "impossible token count")?;
            let chars = r.varint()?;
            unit_tokens += tokens;
            doc.units.push(UnitSpan { tokens, chars });
        }
        let tokens = r.length(u32::MAX as u64 * 16, "impossible token count")?;
        if units > 0 && tokens != unit_tokens {
            return Err(r.corrupt("token count differs from its units'"));
        }
        self.bytes.resize(tokens * 8, 0);
        r.exact(&mut self.bytes)?;
        doc.tokens.extend(
            self.bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
        );
        Ok(true)
    }
}

/// Appends one row's verdict to `out`.
pub fn encode_verdict(v: &Verdict, out: &mut Vec<u8>) {
    let mut flags = 0u8;
    if v.document_duplicate {
        flags |= FLAG_DOCUMENT_DUPLICATE;
    }
    if v.document_duplicate_fraction.is_some() {
        flags |= FLAG_FRACTION;
    }
    out.push(flags);
    if let Some(f) = v.document_duplicate_fraction {
        out.extend_from_slice(&f.to_le_bytes());
    }
    put_varint(out, v.units as u64);
    put_varint(out, v.removed.len() as u64);
    put_varint(out, v.removed_chars);
    let mut next = 0u32;
    for &index in &v.removed {
        put_varint(out, (index - next) as u64);
        next = index + 1;
    }
}

/// Reads a verdict file row by row.
pub struct VerdictReader {
    reader: ByteReader,
    pub rows: u64,
}

impl VerdictReader {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            reader: ByteReader::open(path, VERDICTS_MAGIC)?,
            rows: 0,
        })
    }

    /// The next row's verdict; None at the end of the file.
    pub fn next_verdict(&mut self) -> Result<Option<Verdict>> {
        if self.reader.at_end()? {
            return Ok(None);
        }
        let r = &mut self.reader;
        let flags = r.byte()?;
        if flags & !(FLAG_DOCUMENT_DUPLICATE | FLAG_FRACTION) != 0 {
            return Err(r.corrupt("unknown verdict flags"));
        }
        let fraction = if flags & FLAG_FRACTION != 0 {
            let mut b = [0u8; 8];
            r.exact(&mut b)?;
            Some(f64::from_le_bytes(b))
        } else {
            None
        };
        let units = r.length(u32::MAX as u64, "impossible unit count")? as u32;
        let removed_units = r.length(units as u64, "more removed units than units")? as u32;
        let removed_chars = r.varint()?;
        let mut removed = Vec::with_capacity(removed_units as usize);
        let mut next = 0u64;
        for _ in 0..removed_units {
            let index = next + r.varint()?;
            if index >= units as u64 {
                return Err(r.corrupt("removed unit past the last unit"));
            }
            removed.push(index as u32);
            next = index + 1;
        }
        self.rows += 1;
        Ok(Some(Verdict {
            document_duplicate_fraction: fraction,
            units,
            removed_units,
            removed_chars,
            document_duplicate: flags & FLAG_DOCUMENT_DUPLICATE != 0,
            removed,
        }))
    }

    /// Rows read; an error when the file holds more.
    pub fn finish(mut self) -> Result<u64> {
        if !self.reader.at_end()? {
            return Err(CoreError::InvalidArgument(format!(
                "{}: verdicts for rows past row {} (the shard has fewer rows than the map saw)",
                self.reader.path.display(),
                self.rows
            )));
        }
        Ok(self.rows)
    }
}

/// Counts from one shard's part of a group reduce.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShardReduceStats {
    pub documents: u64,
    pub tokens: u64,
    /// Rows dropped as `duplicate_document`.
    pub duplicate_documents: u64,
    /// Rows dropped as `all_units_duplicate`.
    pub all_units_duplicate: u64,
    /// Kept rows with some (not all) units removed.
    pub rewritten: u64,
    pub units: u64,
    pub removed_units: u64,
    pub removed_chars: u64,
    /// First row after which the filter's false-positive rate passed the warning rate.
    pub over_full_at_row: Option<u64>,
}

/// Streams one shard's token file through `filter` (already holding the n-grams of the group's
/// earlier shards) and writes its verdicts, one per row in row order.
pub fn reduce_shard(
    filter: &mut BloomFilter,
    config: &BloomDedupConfig,
    tokens: &Path,
    verdicts: &Path,
    warn_over_fp_rate: f64,
) -> Result<ShardReduceStats> {
    let mut reader = TokenFileReader::open(tokens)?;
    let mut out = AtomicFile::create(verdicts)?;
    out.write_all(VERDICTS_MAGIC)?;
    let warn_at = filter.items_at_rate(warn_over_fp_rate);
    let mut stats = ShardReduceStats::default();
    let mut buf = Vec::new();
    let mut chunk: Vec<TokenizedDocument> = Vec::new();
    loop {
        chunk.clear();
        let mut chunk_tokens = 0;
        while chunk.len() < CHUNK_DOCUMENTS && chunk_tokens < CHUNK_TOKENS {
            let mut doc = TokenizedDocument::default();
            if !reader.next_document(&mut doc)? {
                break;
            }
            chunk_tokens += doc.tokens.len();
            chunk.push(doc);
        }
        if chunk.is_empty() {
            break;
        }
        stats.tokens += chunk_tokens as u64;
        let prepared: Vec<PreparedDocument> = chunk
            .par_iter()
            .with_min_len(64)
            .map(|d| prepare(d, config))
            .collect();
        buf.clear();
        for p in &prepared {
            let v = check(filter, p, config);
            stats.units += v.units as u64;
            stats.removed_units += v.removed_units as u64;
            stats.removed_chars += v.removed_chars;
            if v.document_duplicate {
                stats.duplicate_documents += 1;
            } else if v.units > 0 && v.removed_units == v.units {
                stats.all_units_duplicate += 1;
            } else if v.removed_units > 0 {
                stats.rewritten += 1;
            }
            if stats.over_full_at_row.is_none() && filter.inserted >= warn_at {
                stats.over_full_at_row = Some(stats.documents);
            }
            encode_verdict(&v, &mut buf);
            stats.documents += 1;
        }
        out.write_all(&buf)?;
    }
    out.finish()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::super::bloom::{self, BloomMode, Unit};
    use super::*;
    use arrow_array::StringArray;
    use proptest::prelude::*;

    fn texts() -> Vec<&'static str> {
        vec![
            "the quick brown fox jumps over\nthe lazy dog and runs away\n",
            "",
            "a new line of words here today\nthe lazy dog and runs away\n",
            "the quick brown fox jumps over\n",
            "κόσμε 🙂 日本語のテキスト\n\n\nshort\n",
            "the quick brown fox jumps over\nthe lazy dog and runs away\n",
        ]
    }

    fn config(mode: BloomMode, unit: Unit) -> BloomDedupConfig {
        BloomDedupConfig {
            ngram: 3,
            min_ngram: 2,
            threshold: 0.8,
            unit,
            mode,
        }
    }

    /// Map, reduce and apply over `shards` (each a list of texts) in one group.
    fn through_files(shards: &[Vec<&str>], config: &BloomDedupConfig) -> Vec<bloom::BloomOutcome> {
        let dir = tempfile::tempdir().unwrap();
        let mut filter = BloomFilter::with_rate(10_000, 1e-6).unwrap();
        let mut outcomes = Vec::new();
        for (s, texts) in shards.iter().enumerate() {
            let tokens = dir.path().join(format!("tokens/{s}.bin"));
            let verdicts = dir.path().join(format!("verdicts/{s}.bin"));
            let mut writer = BloomShardWriter::create(&tokens, config.clone()).unwrap();
            // Two batches, so records of several add_batch calls follow each other.
            let (a, b) = texts.split_at(texts.len() / 2);
            for part in [a, b] {
                let array = StringArray::from(part.to_vec());
                writer
                    .add_batch(TextColumn::try_new(&array).unwrap())
                    .unwrap();
            }
            let map = writer.finish().unwrap();
            assert_eq!(map.documents, texts.len() as u64);
            assert_eq!(map.bytes, std::fs::metadata(&tokens).unwrap().len());
            let stats = reduce_shard(&mut filter, config, &tokens, &verdicts, 0.5).unwrap();
            assert_eq!(stats.documents, texts.len() as u64);
            assert_eq!(stats.tokens, map.tokens);
            let mut reader = VerdictReader::open(&verdicts).unwrap();
            for text in texts {
                let v = reader.next_verdict().unwrap().expect("a verdict per row");
                outcomes.push(bloom::outcome(text, v, config.unit));
            }
            assert_eq!(reader.finish().unwrap(), texts.len() as u64);
        }
        outcomes
    }

    #[test]
    fn files_give_the_per_shard_outcomes() {
        for mode in [BloomMode::OldBoth, BloomMode::Units, BloomMode::Document] {
            for unit in [Unit::Line, Unit::Paragraph] {
                let config = config(mode, unit);
                let all = texts();
                let mut filter = BloomFilter::with_rate(10_000, 1e-6).unwrap();
                let direct: Vec<_> = all
                    .iter()
                    .map(|t| bloom::process(&mut filter, t, &config))
                    .collect();
                // One shard, then the same rows cut into three shards of one group.
                assert_eq!(through_files(std::slice::from_ref(&all), &config), direct);
                let split = vec![all[..2].to_vec(), vec![], all[2..].to_vec()];
                assert_eq!(through_files(&split, &config), direct);
            }
        }
        // The documents were really checked: the repeated ones were found.
        let config = config(BloomMode::OldBoth, Unit::Line);
        let out = through_files(&[texts()], &config);
        assert!(out[3].document_duplicate);
        // The exact copy of the first row: its n-grams across the line break were never
        // inserted (only surviving units' n-grams are), so 8 of 10 are seen, not above 0.8, and
        // both of its lines go instead.
        assert!(!out[5].document_duplicate);
        assert_eq!((out[5].units, out[5].removed_units), (2, 2));
        assert_eq!(out[2].removed_units, 1);
        assert_eq!(
            out[2].text.as_deref(),
            Some("a new line of words here today\n")
        );
    }

    #[test]
    fn token_records_roundtrip_and_truncation_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bin");
        let config = config(BloomMode::OldBoth, Unit::Line);
        let mut writer = BloomShardWriter::create(&path, config.clone()).unwrap();
        let all = texts();
        let array = StringArray::from(all.clone());
        writer
            .add_batch(TextColumn::try_new(&array).unwrap())
            .unwrap();
        let stats = writer.finish().unwrap();
        // 8 bytes a token, and little else.
        assert!(stats.bytes < 8 + stats.tokens * 8 + 4 * stats.units + 2 * stats.documents);
        let mut reader = TokenFileReader::open(&path).unwrap();
        let mut doc = TokenizedDocument::default();
        for text in &all {
            assert!(reader.next_document(&mut doc).unwrap());
            assert_eq!(doc, tokenize(text, &config));
        }
        assert!(!reader.next_document(&mut doc).unwrap());
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let mut reader = TokenFileReader::open(&path).unwrap();
        let err = (0..all.len())
            .map(|_| reader.next_document(&mut doc))
            .find_map(|r| r.err())
            .expect("a truncated file is an error");
        assert!(err.to_string().contains("unexpected end"), "{err}");
        std::fs::write(&path, b"NOTBLOOM").unwrap();
        assert!(TokenFileReader::open(&path).is_err());
    }

    #[test]
    fn verdicts_past_the_rows_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        let mut bytes = VERDICTS_MAGIC.to_vec();
        let v = Verdict {
            document_duplicate_fraction: Some(0.25),
            units: 5,
            removed_units: 2,
            removed_chars: 17,
            document_duplicate: false,
            removed: vec![1, 4],
        };
        encode_verdict(&v, &mut bytes);
        encode_verdict(&Verdict::default(), &mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        let mut reader = VerdictReader::open(&path).unwrap();
        assert_eq!(reader.next_verdict().unwrap(), Some(v));
        let err = reader.finish().unwrap_err();
        assert!(err.to_string().contains("past row 1"), "{err}");
    }

    #[test]
    fn over_full_is_reported_at_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(BloomMode::OldBoth, Unit::Line);
        let tokens = dir.path().join("t.bin");
        let texts: Vec<String> = (0..200)
            .map(|i| format!("w{i} x{i} y{i} z{i} v{i} u{i}\n"))
            .collect();
        let array = StringArray::from(texts.iter().map(String::as_str).collect::<Vec<_>>());
        let mut writer = BloomShardWriter::create(&tokens, config.clone()).unwrap();
        writer
            .add_batch(TextColumn::try_new(&array).unwrap())
            .unwrap();
        writer.finish().unwrap();
        let mut filter = BloomFilter::with_rate(100, 0.01).unwrap();
        let warn_at = filter.items_at_rate(0.05);
        let stats = reduce_shard(
            &mut filter,
            &config,
            &tokens,
            &dir.path().join("v.bin"),
            0.05,
        )
        .unwrap();
        let row = stats.over_full_at_row.expect("100 n-grams fill up");
        // 4 new n-grams a row: the rate passes 5% near warn_at / 4 rows.
        assert!(
            (row as i64 - (warn_at / 4) as i64).abs() <= 2,
            "{row} vs {warn_at}"
        );
        assert!(filter.false_positive_rate(filter.inserted) > 0.05);
    }

    proptest! {
        #[test]
        fn verdicts_roundtrip(
            fraction in prop::option::of(0.0f64..1.0),
            units in 0u32..50,
            picks in prop::collection::btree_set(0u32..50, 0..10),
            dup in any::<bool>(),
            chars in any::<u64>(),
        ) {
            let removed: Vec<u32> = picks.into_iter().filter(|&i| i < units).collect();
            let v = Verdict {
                document_duplicate_fraction: fraction,
                units,
                removed_units: removed.len() as u32,
                removed_chars: chars,
                document_duplicate: dup,
                removed,
            };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("v.bin");
            let mut bytes = VERDICTS_MAGIC.to_vec();
            encode_verdict(&v, &mut bytes);
            std::fs::write(&path, &bytes).unwrap();
            let mut reader = VerdictReader::open(&path).unwrap();
            prop_assert_eq!(reader.next_verdict().unwrap(), Some(v));
            prop_assert_eq!(reader.next_verdict().unwrap(), None);
        }
    }
}
