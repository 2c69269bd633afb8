//! The n-gram index of evaluation items: one file, built once, memory-mapped by every worker.
//!
//! Layout (little-endian; every section starts on an 8-byte boundary):
//!
//! ```text
//! header (64 bytes)  magic "THRNGRM1", version u32, n u32, bucket_bits u32, filter_bits u32,
//!                    num_keys u64, num_postings u64, num_items u64, normalisation u64, reserved u64
//! filter             2^filter_bits x u64: a register-blocked Bloom filter of the keys (3 bits set
//!                    in one word per key, 8-16 bits per key)
//! bucket_starts      (2^bucket_bits + 1) x u32: keys[bucket_starts[b]..bucket_starts[b+1]] are the
//!                    keys whose top `bucket_bits` bits equal b
//! keys               num_keys x u64, sorted, distinct n-gram hashes
//! posting_starts     (num_keys + 1) x u64: postings[posting_starts[k]..posting_starts[k+1]] hold
//!                    the items containing key k
//! postings           num_postings x u32 item indices
//! item_ngrams        num_items x u32: distinct n-grams of each item (0: shorter than n words)
//! ```
//!
//! A lookup first tests one word of the filter, small enough to stay mostly in a core's L2 cache
//! (1 MiB for 800k keys, the n-grams of 10k GSM8K-sized items), so most n-grams of ordinary text
//! stop there. The few percent that pass read two adjacent bucket bounds (one cache line) and,
//! when the bucket is not empty, a handful of keys. Without the filter every n-gram cost a cache
//! miss in a table of megabytes and the scan of web text ran about 3x slower with 10k items
//! indexed. Pages are shared through the OS page cache, so N workers cost one copy.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use memmap2::Mmap;
use rayon::prelude::*;

use crate::column::TextColumn;
use crate::decont::ngrams::{distinct_ngrams, for_each_ngram};
use crate::decont::normalize::NORMALIZATION_VERSION;
use crate::error::{CoreError, Result};

const MAGIC: &[u8; 8] = b"THRNGRM1";
const VERSION: u32 = 2;
const HEADER_BYTES: usize = 64;

fn bucket_bits_for(num_keys: usize) -> u32 {
    // About two buckets per key, at least 2^4 buckets, at most 2^31.
    let want = (num_keys.max(1) * 2).next_power_of_two().trailing_zeros();
    want.clamp(4, 31)
}

fn filter_bits_for(num_keys: usize) -> u32 {
    // 8 to 16 bits per key (in 64-bit words), at least one word: with 3 bits set per key about 3%
    // of absent n-grams pass. Fewer bits made the filter smaller but let more lookups through.
    (num_keys.max(1) * 8 / 64)
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
}

#[inline]
fn filter_mask(key: u64) -> u64 {
    (1u64 << ((key >> 32) & 63)) | (1u64 << ((key >> 38) & 63)) | (1u64 << ((key >> 44) & 63))
}

fn padded(bytes: usize) -> usize {
    bytes.div_ceil(8) * 8
}

#[derive(Clone, Copy, Debug)]
struct Layout {
    n: u32,
    bucket_bits: u32,
    filter_bits: u32,
    num_keys: usize,
    num_postings: usize,
    num_items: usize,
    filter_at: usize,
    buckets_at: usize,
    keys_at: usize,
    posting_starts_at: usize,
    postings_at: usize,
    item_ngrams_at: usize,
    total: usize,
}

impl Layout {
    fn new(
        n: u32,
        bucket_bits: u32,
        filter_bits: u32,
        num_keys: usize,
        num_postings: usize,
        num_items: usize,
    ) -> Self {
        let filter_at = HEADER_BYTES;
        let buckets_at = filter_at + (1usize << filter_bits) * 8;
        let keys_at = buckets_at + padded(((1usize << bucket_bits) + 1) * 4);
        let posting_starts_at = keys_at + num_keys * 8;
        let postings_at = posting_starts_at + (num_keys + 1) * 8;
        let item_ngrams_at = postings_at + padded(num_postings * 4);
        let total = item_ngrams_at + padded(num_items * 4);
        Layout {
            n,
            bucket_bits,
            filter_bits,
            num_keys,
            num_postings,
            num_items,
            filter_at,
            buckets_at,
            keys_at,
            posting_starts_at,
            postings_at,
            item_ngrams_at,
            total,
        }
    }
}

/// What building an index found: the distinct n-grams of each item (0 when shorter than n).
#[derive(Debug, Clone)]
pub struct BuildSummary {
    pub item_ngrams: Vec<u32>,
    pub num_keys: usize,
    pub num_postings: usize,
    pub bytes: usize,
}

/// Builds the index of `items` (null items index nothing) with word n-grams of size `n`, and
/// writes it to `path`. The caller makes the write atomic (temporary name, then rename).
pub fn build_index(items: &[Option<&str>], n: usize, path: &Path) -> Result<BuildSummary> {
    if n == 0 || n > 1024 {
        return Err(CoreError::InvalidArgument(format!(
            "n-gram size must be between 1 and 1024, got {n}"
        )));
    }
    if cfg!(target_endian = "big") {
        return Err(CoreError::InvalidArgument(
            "n-gram index files are little-endian only".into(),
        ));
    }
    if items.len() > u32::MAX as usize {
        return Err(CoreError::InvalidArgument(
            "too many evaluation items".into(),
        ));
    }
    let per_item: Vec<Vec<u64>> = items
        .par_iter()
        .map(|item| item.map_or_else(Vec::new, |text| distinct_ngrams(text, n)))
        .collect();
    let item_ngrams: Vec<u32> = per_item.iter().map(|k| k.len() as u32).collect();
    let mut pairs: Vec<(u64, u32)> = per_item
        .iter()
        .enumerate()
        .flat_map(|(item, keys)| keys.iter().map(move |&k| (k, item as u32)))
        .collect();
    drop(per_item);
    pairs.par_sort_unstable();

    let mut keys: Vec<u64> = Vec::new();
    let mut posting_starts: Vec<u64> = Vec::new();
    let mut postings: Vec<u32> = Vec::with_capacity(pairs.len());
    for &(key, item) in &pairs {
        if keys.last() != Some(&key) {
            keys.push(key);
            posting_starts.push(postings.len() as u64);
        }
        postings.push(item);
    }
    posting_starts.push(postings.len() as u64);
    if keys.len() >= u32::MAX as usize {
        return Err(CoreError::InvalidArgument(
            "too many distinct n-grams".into(),
        ));
    }

    let bucket_bits = bucket_bits_for(keys.len());
    let shift = 64 - bucket_bits;
    let num_buckets = 1usize << bucket_bits;
    let mut bucket_starts = vec![0u32; num_buckets + 1];
    // bucket_starts[b] = number of keys whose bucket is < b.
    let mut k = 0usize;
    for (b, start) in bucket_starts.iter_mut().enumerate() {
        while k < keys.len() && ((keys[k] >> shift) as usize) < b {
            k += 1;
        }
        *start = k as u32;
    }

    let filter_bits = filter_bits_for(keys.len());
    let mut filter = vec![0u64; 1usize << filter_bits];
    let word_mask = (1u64 << filter_bits) - 1;
    for &key in &keys {
        filter[(key & word_mask) as usize] |= filter_mask(key);
    }
    let layout = Layout::new(
        n as u32,
        bucket_bits,
        filter_bits,
        keys.len(),
        postings.len(),
        items.len(),
    );
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut header = [0u8; HEADER_BYTES];
    header[0..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&(n as u32).to_le_bytes());
    header[16..20].copy_from_slice(&bucket_bits.to_le_bytes());
    header[20..24].copy_from_slice(&filter_bits.to_le_bytes());
    header[24..32].copy_from_slice(&(keys.len() as u64).to_le_bytes());
    header[32..40].copy_from_slice(&(postings.len() as u64).to_le_bytes());
    header[40..48].copy_from_slice(&(items.len() as u64).to_le_bytes());
    header[48..56].copy_from_slice(&NORMALIZATION_VERSION.to_le_bytes());
    out.write_all(&header)?;
    let mut written = HEADER_BYTES;
    let pad_to = |out: &mut BufWriter<File>, written: &mut usize, at: usize| -> Result<()> {
        out.write_all(&vec![0u8; at - *written])?;
        *written = at;
        Ok(())
    };
    for v in &filter {
        out.write_all(&v.to_le_bytes())?;
    }
    written += filter.len() * 8;
    for v in &bucket_starts {
        out.write_all(&v.to_le_bytes())?;
    }
    written += bucket_starts.len() * 4;
    pad_to(&mut out, &mut written, layout.keys_at)?;
    for v in &keys {
        out.write_all(&v.to_le_bytes())?;
    }
    for v in &posting_starts {
        out.write_all(&v.to_le_bytes())?;
    }
    written += (keys.len() + posting_starts.len()) * 8;
    for v in &postings {
        out.write_all(&v.to_le_bytes())?;
    }
    written += postings.len() * 4;
    pad_to(&mut out, &mut written, layout.item_ngrams_at)?;
    for v in &item_ngrams {
        out.write_all(&v.to_le_bytes())?;
    }
    written += item_ngrams.len() * 4;
    pad_to(&mut out, &mut written, layout.total)?;
    out.flush()?;
    out.into_inner()
        .map_err(|e| CoreError::Io(e.into_error()))?
        .sync_all()?;
    Ok(BuildSummary {
        item_ngrams,
        num_keys: keys.len(),
        num_postings: postings.len(),
        bytes: layout.total,
    })
}

/// When a document counts as containing an item, and how many matched items to list.
#[derive(Clone, Copy, Debug)]
pub struct MatchRule {
    /// An item is matched when the document shares at least this many of its n-grams...
    pub min_item_ngrams: Option<u32>,
    /// ...or at least this fraction of them.
    pub min_item_fraction: Option<f64>,
    /// At most this many matched items are listed per document (most shared n-grams first).
    pub max_listed: usize,
}

impl Default for MatchRule {
    fn default() -> Self {
        MatchRule {
            min_item_ngrams: Some(1),
            min_item_fraction: None,
            max_listed: 10,
        }
    }
}

/// What one document shares with the index.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DocMatch {
    /// Distinct n-grams of the document found in the index (any item).
    pub matched_ngrams: u32,
    /// The item sharing the most n-grams (lowest index on ties), if any.
    pub best_item: Option<u32>,
    /// How many n-grams the best item shares with the document.
    pub best_item_ngrams: u32,
    /// Largest shared fraction of an item's n-grams, over all items.
    pub max_item_fraction: f64,
    /// Items matched under the rule, as (item, shared n-grams), most shared first.
    pub items: Vec<(u32, u32)>,
    /// Byte span from the first matched n-gram's start to the last one's end.
    pub span: Option<(usize, usize)>,
}

/// A memory-mapped index file.
pub struct NgramIndex {
    map: Mmap,
    layout: Layout,
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

impl NgramIndex {
    pub fn open(path: &Path) -> Result<Self> {
        let bad = |why: &str| {
            CoreError::InvalidArgument(format!(
                "{}: not a usable n-gram index: {why}",
                path.display()
            ))
        };
        if cfg!(target_endian = "big") {
            return Err(bad("index files are little-endian only"));
        }
        let file = File::open(path)?;
        // SAFETY: the file is only ever replaced by rename, never written in place, so the
        // mapped bytes do not change under us.
        let map = unsafe { Mmap::map(&file)? };
        if map.len() < HEADER_BYTES || &map[0..8] != MAGIC {
            return Err(bad("wrong magic bytes"));
        }
        if read_u32(&map, 8) != VERSION {
            return Err(bad("unsupported version"));
        }
        if read_u64(&map, 48) != NORMALIZATION_VERSION {
            return Err(bad("built with another text normalisation; rebuild it"));
        }
        let n = read_u32(&map, 12);
        let bucket_bits = read_u32(&map, 16);
        let filter_bits = read_u32(&map, 20);
        if n == 0 || !(1..=31).contains(&bucket_bits) || filter_bits > 40 {
            return Err(bad("corrupt header"));
        }
        let num_keys = read_u64(&map, 24) as usize;
        let num_postings = read_u64(&map, 32) as usize;
        let num_items = read_u64(&map, 40) as usize;
        let layout = Layout::new(
            n,
            bucket_bits,
            filter_bits,
            num_keys,
            num_postings,
            num_items,
        );
        if map.len() != layout.total {
            return Err(bad("file size does not match its header (truncated?)"));
        }
        let index = NgramIndex { map, layout };
        let starts = index.bucket_starts();
        if starts[starts.len() - 1] as usize != num_keys
            || index.posting_starts()[num_keys] as usize != num_postings
        {
            return Err(bad("section bounds do not match the header"));
        }
        Ok(index)
    }

    fn slice<T>(&self, at: usize, len: usize) -> &[T] {
        let bytes = &self.map[at..at + len * std::mem::size_of::<T>()];
        assert_eq!(bytes.as_ptr() as usize % std::mem::align_of::<T>(), 0);
        // SAFETY: in bounds (checked by the slice above), aligned (mmap is page-aligned and
        // sections start on 8-byte boundaries), and u32/u64 accept any bit pattern.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), len) }
    }

    fn filter(&self) -> &[u64] {
        self.slice(self.layout.filter_at, 1usize << self.layout.filter_bits)
    }

    fn bucket_starts(&self) -> &[u32] {
        self.slice(
            self.layout.buckets_at,
            (1usize << self.layout.bucket_bits) + 1,
        )
    }

    pub fn keys(&self) -> &[u64] {
        self.slice(self.layout.keys_at, self.layout.num_keys)
    }

    fn posting_starts(&self) -> &[u64] {
        self.slice(self.layout.posting_starts_at, self.layout.num_keys + 1)
    }

    fn postings(&self) -> &[u32] {
        self.slice(self.layout.postings_at, self.layout.num_postings)
    }

    pub fn item_ngrams(&self) -> &[u32] {
        self.slice(self.layout.item_ngrams_at, self.layout.num_items)
    }

    pub fn n(&self) -> usize {
        self.layout.n as usize
    }

    pub fn num_keys(&self) -> usize {
        self.layout.num_keys
    }

    pub fn num_items(&self) -> usize {
        self.layout.num_items
    }

    pub fn file_bytes(&self) -> usize {
        self.layout.total
    }

    /// Position of `key` among the sorted keys, if present.
    #[inline]
    pub fn find(&self, key: u64) -> Option<usize> {
        let filter = self.filter();
        let word = filter[(key as usize) & (filter.len() - 1)];
        let mask = filter_mask(key);
        if word & mask != mask {
            return None;
        }
        let bucket = (key >> (64 - self.layout.bucket_bits)) as usize;
        let starts = self.bucket_starts();
        let (lo, hi) = (starts[bucket] as usize, starts[bucket + 1] as usize);
        if lo == hi {
            return None;
        }
        self.keys()[lo..hi]
            .iter()
            .position(|&k| k == key)
            .map(|p| lo + p)
    }

    /// The items that contain key number `key_index`.
    pub fn items_of(&self, key_index: usize) -> &[u32] {
        let starts = self.posting_starts();
        &self.postings()[starts[key_index] as usize..starts[key_index + 1] as usize]
    }

    /// Matches one document against the index.
    pub fn scan(&self, text: &str, rule: &MatchRule) -> DocMatch {
        let mut hits: Vec<u32> = Vec::new();
        let mut span: Option<(usize, usize)> = None;
        for_each_ngram(text, self.n(), |key, start, end| {
            if let Some(k) = self.find(key) {
                hits.push(k as u32);
                span = Some(span.map_or((start, end), |(s, e)| (s.min(start), e.max(end))));
            }
        });
        if hits.is_empty() {
            return DocMatch::default();
        }
        hits.sort_unstable();
        hits.dedup();
        let mut items: Vec<u32> = hits
            .iter()
            .flat_map(|&k| self.items_of(k as usize).iter().copied())
            .collect();
        items.sort_unstable();
        let item_ngrams = self.item_ngrams();
        let mut counts: Vec<(u32, u32)> = Vec::new();
        for item in items {
            match counts.last_mut() {
                Some((last, count)) if *last == item => *count += 1,
                _ => counts.push((item, 1)),
            }
        }
        let mut result = DocMatch {
            matched_ngrams: hits.len() as u32,
            span,
            ..DocMatch::default()
        };
        for &(item, count) in &counts {
            if count > result.best_item_ngrams {
                result.best_item = Some(item);
                result.best_item_ngrams = count;
            }
            let fraction = f64::from(count) / f64::from(item_ngrams[item as usize].max(1));
            result.max_item_fraction = result.max_item_fraction.max(fraction);
        }
        counts.retain(|&(item, count)| {
            let fraction = f64::from(count) / f64::from(item_ngrams[item as usize].max(1));
            rule.min_item_ngrams.is_some_and(|k| count >= k)
                || rule.min_item_fraction.is_some_and(|f| fraction >= f)
        });
        counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts.truncate(rule.max_listed);
        result.items = counts;
        result
    }

    /// Matches every row of a column in parallel; null rows give `None`.
    pub fn scan_column(&self, column: TextColumn<'_>, rule: &MatchRule) -> Vec<Option<DocMatch>> {
        crate::parallel::map_rows(column, |text| text.map(|t| self.scan(t, rule)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn temp_path(name: &str) -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("thresher-decont-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(format!(
            "{}-{name}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn build(items: &[Option<&str>], n: usize, name: &str) -> NgramIndex {
        let path = temp_path(name);
        build_index(items, n, &path).unwrap();
        NgramIndex::open(&path).unwrap()
    }

    #[test]
    fn finds_items_by_hand() {
        let items = [
            Some("one two three four five"), // 3-grams: 123 234 345
            Some("three four five six"),     // 345 456
            Some("too short"),               // none
            None,
        ];
        let index = build(&items, 3, "hand.idx");
        assert_eq!(index.n(), 3);
        assert_eq!(index.num_items(), 4);
        assert_eq!(index.item_ngrams(), &[3, 2, 0, 0]);
        assert_eq!(index.num_keys(), 4); // 345 is shared

        let rule = MatchRule::default();
        let text = "Intro. ONE two, three! four five and more";
        let m = index.scan(text, &rule);
        assert_eq!(m.matched_ngrams, 3);
        assert_eq!(m.best_item, Some(0));
        assert_eq!(m.best_item_ngrams, 3);
        assert_eq!(m.max_item_fraction, 1.0);
        assert_eq!(m.items, vec![(0, 3), (1, 1)]);
        let (s, e) = m.span.unwrap();
        assert_eq!(&text[s..e], "ONE two, three! four five");

        let none = index.scan("nothing in common here at all", &rule);
        assert_eq!(none, DocMatch::default());
    }

    #[test]
    fn the_rule_decides_which_items_are_listed() {
        let items = [Some("a b c d e f g h"), Some("x y z a b c")];
        let index = build(&items, 3, "rule.idx");
        // Shares 2 of item 0's 6 trigrams and 1 of item 1's 4.
        let text = "q a b c d r";
        let by_count = MatchRule {
            min_item_ngrams: Some(2),
            min_item_fraction: None,
            max_listed: 10,
        };
        assert_eq!(index.scan(text, &by_count).items, vec![(0, 2)]);
        let by_fraction = MatchRule {
            min_item_ngrams: None,
            min_item_fraction: Some(0.25),
            max_listed: 10,
        };
        assert_eq!(index.scan(text, &by_fraction).items, vec![(0, 2), (1, 1)]);
        let capped = MatchRule {
            min_item_ngrams: Some(1),
            min_item_fraction: None,
            max_listed: 1,
        };
        assert_eq!(index.scan(text, &capped).items, vec![(0, 2)]);
        let m = index.scan(text, &capped);
        assert_eq!(m.matched_ngrams, 2);
        assert!((m.max_item_fraction - 2.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn empty_index_matches_nothing() {
        let index = build(&[], 13, "empty.idx");
        assert_eq!(index.num_keys(), 0);
        let m = index.scan("any text at all", &MatchRule::default());
        assert_eq!(m.matched_ngrams, 0);
    }

    #[test]
    fn rejects_bad_files_and_arguments() {
        let path = temp_path("garbage.idx");
        std::fs::write(&path, b"not an index").unwrap();
        assert!(NgramIndex::open(&path).is_err());
        let good = temp_path("good.idx");
        build_index(&[Some("a b c")], 2, &good).unwrap();
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
        assert!(NgramIndex::open(&path).is_err());
        assert!(build_index(&[Some("a")], 0, &good).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_indexed_item_is_found_in_itself(
            items in prop::collection::vec("[a-e ]{0,60}", 0..12),
            n in 1usize..5,
            noise in "\\PC{0,80}",
        ) {
            let refs: Vec<Option<&str>> = items.iter().map(|s| Some(s.as_str())).collect();
            let path = temp_path(&format!("prop-{n}-{}.idx", items.len()));
            let summary = build_index(&refs, n, &path).unwrap();
            let index = NgramIndex::open(&path).unwrap();
            for (i, item) in items.iter().enumerate() {
                let m = index.scan(&format!("{noise} {item} {noise}"), &MatchRule { max_listed: usize::MAX, ..MatchRule::default() });
                if summary.item_ngrams[i] > 0 {
                    prop_assert!(m.items.iter().any(|&(it, c)| it as usize == i && c == summary.item_ngrams[i]));
                }
            }
            let _ = index.scan(&noise, &MatchRule::default());
        }
    }
}
