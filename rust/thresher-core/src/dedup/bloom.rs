//! Bloom-filter n-gram dedup in the style of DCLM's BFF "old-both" mode.
//!
//! Text is split into word-boundary tokens (whitespace dropped); each unit (line, paragraph or
//! the whole document) yields its word n-grams. A unit whose n-grams are more than `threshold`
//! already in the filter is a duplicate and is removed; the n-grams of surviving units are
//! inserted. In old-both mode the whole document is checked first and dropped outright when it
//! passes the threshold. The filter is updated as documents stream past, so the first copy
//! survives and the result depends on document order.
//!
//! Sizing: for `n` expected n-grams and a target false-positive rate `p`, the filter has
//! `m = -n ln p / (ln 2)^2` bits and `k = round((m / n) ln 2)` hash functions; the rate at `n`
//! inserted items is `(1 - e^(-k n / m))^k`.

use unicode_segmentation::UnicodeSegmentation;

use super::hashing::hash128;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{CoreError, Result};

pub struct BloomFilter {
    bits: Vec<u64>,
    num_bits: u64,
    hashes: u32,
    pub inserted: u64,
}

impl BloomFilter {
    /// A filter sized for `expected` items at false-positive rate `fp_rate`.
    pub fn with_rate(expected: u64, fp_rate: f64) -> Result<Self> {
        if !(fp_rate > 0.0 && fp_rate < 1.0) || expected == 0 {
            return Err(CoreError::InvalidArgument(
                "bloom filter needs expected > 0 and 0 < fp_rate < 1".into(),
            ));
        }
        let ln2 = std::f64::consts::LN_2;
        let bits = (-(expected as f64) * fp_rate.ln() / (ln2 * ln2))
            .ceil()
            .max(64.0);
        let words = (bits / 64.0).ceil() as usize;
        let num_bits = words as u64 * 64;
        let hashes = ((num_bits as f64 / expected as f64) * ln2)
            .round()
            .clamp(1.0, 64.0) as u32;
        Ok(Self {
            bits: vec![0; words],
            num_bits,
            hashes,
            inserted: 0,
        })
    }

    pub fn num_bits(&self) -> u64 {
        self.num_bits
    }

    pub fn num_hashes(&self) -> u32 {
        self.hashes
    }

    pub fn memory_bytes(&self) -> u64 {
        self.num_bits / 8
    }

    /// False-positive rate once `items` distinct items are in the filter.
    pub fn false_positive_rate(&self, items: u64) -> f64 {
        let k = self.hashes as f64;
        (1.0 - (-k * items as f64 / self.num_bits as f64).exp()).powf(k)
    }

    #[inline]
    fn positions(&self, item: u128) -> impl Iterator<Item = (usize, u64)> + '_ {
        // Items are usually hashes already; mixing keeps structured inputs well spread too.
        let h1 = splitmix64(item as u64 ^ (item >> 64) as u64);
        let h2 = splitmix64(h1 ^ (item >> 64) as u64 ^ 0x5851_f42d_4c95_7f2d) | 1;
        (0..self.hashes as u64).map(move |i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % self.num_bits;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    pub fn contains(&self, item: u128) -> bool {
        self.positions(item).all(|(w, m)| self.bits[w] & m != 0)
    }

    /// Inserts an item; counts it when it was not already (apparently) present.
    pub fn insert(&mut self, item: u128) {
        let mut new = false;
        let positions: Vec<(usize, u64)> = self.positions(item).collect();
        for (w, m) in positions {
            new |= self.bits[w] & m == 0;
            self.bits[w] |= m;
        }
        self.inserted += new as u64;
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The text units checked one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Lines (split at `\n`): what DCLM calls paragraphs.
    Line,
    /// Paragraphs separated by blank lines.
    Paragraph,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BloomMode {
    /// Whole-document check first, then units (DCLM's `old-both`).
    OldBoth,
    /// Units only.
    Units,
    /// Whole documents only.
    Document,
}

#[derive(Clone, Debug)]
pub struct BloomDedupConfig {
    pub ngram: usize,
    /// Units with fewer tokens than `ngram` but at least `min_ngram` count as one n-gram.
    pub min_ngram: usize,
    pub threshold: f64,
    pub unit: Unit,
    pub mode: BloomMode,
}

impl Default for BloomDedupConfig {
    fn default() -> Self {
        Self {
            ngram: 13,
            min_ngram: 13,
            threshold: 0.8,
            unit: Unit::Line,
            mode: BloomMode::OldBoth,
        }
    }
}

/// What happened to one document.
#[derive(Debug, Clone, PartialEq)]
pub struct BloomOutcome {
    /// Share of the document's n-grams already present (None without n-grams).
    pub document_duplicate_fraction: Option<f64>,
    pub units: u32,
    pub removed_units: u32,
    pub removed_chars: u64,
    /// The whole document is a duplicate (dropped before unit checks).
    pub document_duplicate: bool,
    /// Text with duplicate units removed, when any was (empty when all were).
    pub text: Option<String>,
}

/// Word-boundary tokens without whitespace, as DCLM's BFF splits text.
pub fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split_word_bounds()
        .filter(|w| !w.chars().all(char::is_whitespace))
}

/// Splits text into units, each with its trailing separator (so joining them gives the text).
fn split_units(text: &str, unit: Unit) -> Vec<&str> {
    let separator = match unit {
        Unit::Line => "\n",
        Unit::Paragraph => "\n\n",
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(separator) {
        let mut end = at + separator.len();
        if unit == Unit::Paragraph {
            while rest[end..].starts_with('\n') {
                end += 1;
            }
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The n-gram hashes of a token sequence.
fn ngram_hashes(token_hashes: &[u64], ngram: usize, min_ngram: usize) -> Vec<u128> {
    let window = |w: &[u64]| {
        let mut bytes = Vec::with_capacity(w.len() * 8);
        for h in w {
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        hash128(&bytes)
    };
    if token_hashes.len() < ngram {
        if !token_hashes.is_empty() && token_hashes.len() >= min_ngram {
            return vec![window(token_hashes)];
        }
        return Vec::new();
    }
    token_hashes.windows(ngram).map(window).collect()
}

/// A document's n-grams, prepared without touching the filter (so it can run in parallel).
pub struct PreparedDocument<'a> {
    document: Vec<u128>,
    units: Vec<(&'a str, Vec<u128>)>,
}

pub fn prepare<'a>(text: &'a str, config: &BloomDedupConfig) -> PreparedDocument<'a> {
    let hashes = |t: &str| -> Vec<u64> { tokens(t).map(|w| xxh3_64(w.as_bytes())).collect() };
    let document = if config.mode == BloomMode::Units {
        Vec::new()
    } else {
        ngram_hashes(&hashes(text), config.ngram, config.min_ngram)
    };
    let units = if config.mode == BloomMode::Document {
        Vec::new()
    } else {
        split_units(text, config.unit)
            .into_iter()
            .map(|u| (u, ngram_hashes(&hashes(u), config.ngram, config.min_ngram)))
            .collect()
    };
    PreparedDocument { document, units }
}

fn contained_fraction(filter: &BloomFilter, ngrams: &[u128]) -> Option<f64> {
    if ngrams.is_empty() {
        return None;
    }
    let hits = ngrams.iter().filter(|&&g| filter.contains(g)).count();
    Some(hits as f64 / ngrams.len() as f64)
}

/// Checks a prepared document against the filter and updates the filter (order matters).
pub fn apply(
    filter: &mut BloomFilter,
    prepared: PreparedDocument<'_>,
    config: &BloomDedupConfig,
) -> BloomOutcome {
    let fraction = contained_fraction(filter, &prepared.document);
    let mut outcome = BloomOutcome {
        document_duplicate_fraction: fraction,
        units: prepared.units.len() as u32,
        removed_units: 0,
        removed_chars: 0,
        document_duplicate: false,
        text: None,
    };
    if config.mode != BloomMode::Units && fraction.is_some_and(|f| f > config.threshold) {
        outcome.document_duplicate = true;
        return outcome;
    }
    if config.mode == BloomMode::Document {
        for &g in &prepared.document {
            filter.insert(g);
        }
        return outcome;
    }
    let mut kept = String::new();
    for (unit, ngrams) in &prepared.units {
        let duplicate = contained_fraction(filter, ngrams).is_some_and(|f| f > config.threshold);
        if duplicate {
            outcome.removed_units += 1;
            outcome.removed_chars += unit.chars().count() as u64;
        } else {
            for &g in ngrams {
                filter.insert(g);
            }
            kept.push_str(unit);
        }
    }
    if outcome.removed_units > 0 {
        outcome.text = Some(kept);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizing_follows_the_formulas() {
        let f = BloomFilter::with_rate(1_000_000, 0.01).unwrap();
        // 9.59 bits per item, 7 hashes.
        assert!((f.num_bits() as f64 / 1e6 - 9.59).abs() < 0.01);
        assert_eq!(f.num_hashes(), 7);
        assert!((f.false_positive_rate(1_000_000) - 0.01).abs() < 0.001);
        assert!(f.false_positive_rate(4_000_000) > 0.2);
        assert!(BloomFilter::with_rate(0, 0.01).is_err());
    }

    #[test]
    fn membership_has_no_false_negatives() {
        let mut f = BloomFilter::with_rate(1000, 0.001).unwrap();
        for i in 0..1000u128 {
            f.insert(i * 7919);
        }
        assert!((0..1000u128).all(|i| f.contains(i * 7919)));
        let false_hits = (0..10_000u128).filter(|i| f.contains(i * 7919 + 1)).count();
        assert!(false_hits < 50, "{false_hits} false positives");
    }

    #[test]
    fn old_both_removes_repeated_lines_then_documents() {
        let config = BloomDedupConfig {
            ngram: 3,
            min_ngram: 3,
            ..Default::default()
        };
        let mut f = BloomFilter::with_rate(10_000, 1e-6).unwrap();
        let first = "the quick brown fox jumps\nover the lazy dog today\n";
        let out = apply(&mut f, prepare(first, &config), &config);
        assert_eq!(out.removed_units, 0);
        assert!(out.text.is_none());
        let second = "a completely new line here\nover the lazy dog today\n";
        let out = apply(&mut f, prepare(second, &config), &config);
        assert_eq!(out.removed_units, 1);
        assert_eq!(out.text.as_deref(), Some("a completely new line here\n"));
        assert!(!out.document_duplicate);
        // Every n-gram of this document is inside lines seen before.
        let third = "the quick brown fox jumps\n";
        let out = apply(&mut f, prepare(third, &config), &config);
        assert!(out.document_duplicate);
        assert_eq!(out.document_duplicate_fraction, Some(1.0));
    }

    #[test]
    fn short_units_are_never_removed() {
        let config = BloomDedupConfig::default();
        let mut f = BloomFilter::with_rate(1000, 0.01).unwrap();
        for _ in 0..3 {
            let out = apply(
                &mut f,
                prepare("Home | About | Contact\n", &config),
                &config,
            );
            assert_eq!(out.removed_units, 0);
            assert!(!out.document_duplicate);
        }
    }

    #[test]
    fn paragraph_units_keep_their_separators() {
        assert_eq!(
            split_units("a\n\n\nb\nc\n\nd", Unit::Paragraph),
            vec!["a\n\n\n", "b\nc\n\n", "d"]
        );
        assert_eq!(split_units("a\nb", Unit::Line), vec!["a\n", "b"]);
    }

    proptest! {
        #[test]
        fn never_panics_and_only_removes(text in "\\PC{0,120}", n in 1usize..5) {
            let config = BloomDedupConfig { ngram: n, min_ngram: 1, ..Default::default() };
            let mut f = BloomFilter::with_rate(1000, 0.01).unwrap();
            for _ in 0..2 {
                let out = apply(&mut f, prepare(&text, &config), &config);
                if let Some(t) = out.text {
                    prop_assert!(t.len() < text.len());
                }
            }
        }
    }
}
