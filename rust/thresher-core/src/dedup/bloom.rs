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

use std::ops::Range;

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

    /// The fewest distinct items at which the false-positive rate passes `rate` (`u64::MAX`
    /// when it never does).
    pub fn items_at_rate(&self, rate: f64) -> u64 {
        let (mut lo, mut hi) = (0u64, self.num_bits.saturating_mul(64));
        if self.false_positive_rate(hi) <= rate {
            return u64::MAX;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.false_positive_rate(mid) > rate {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
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

/// The filter's verdict on one document, without its text: what a group reduce writes per row
/// and the apply turns back into a [`BloomOutcome`] with [`remove_units`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    /// Share of the document's n-grams already present (None without n-grams).
    pub document_duplicate_fraction: Option<f64>,
    pub units: u32,
    pub removed_units: u32,
    pub removed_chars: u64,
    pub document_duplicate: bool,
    /// Indices of the removed units, ascending (`removed_units` of them).
    pub removed: Vec<u32>,
}

/// Word-boundary tokens without whitespace, as DCLM's BFF splits text.
pub fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split_word_bounds()
        .filter(|w| !w.chars().all(char::is_whitespace))
}

/// Splits text into units, each with its trailing separator (so joining them gives the text).
pub fn split_units(text: &str, unit: Unit) -> Vec<&str> {
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

/// One unit of a tokenized document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitSpan {
    /// Tokens of the unit (a run of [`TokenizedDocument::tokens`]).
    pub tokens: usize,
    /// Characters of the unit, its separator included (what `removed_chars` counts).
    pub chars: u64,
}

/// What the filter needs of a document: the xxh3-64 hash of every token in order, and the units
/// they fall in (none in document mode). In the unit modes the document's tokens are its units'
/// tokens one after the other: a unit ends right after a `\n`, which is always a word boundary
/// (UAX #29 WB3a), so this is the tokenisation of the whole text (a property test checks it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenizedDocument {
    pub tokens: Vec<u64>,
    pub units: Vec<UnitSpan>,
}

fn token_hashes(text: &str, out: &mut Vec<u64>) {
    out.extend(tokens(text).map(|w| xxh3_64(w.as_bytes())));
}

/// Tokens and units of one document under `config`'s unit and mode.
pub fn tokenize(text: &str, config: &BloomDedupConfig) -> TokenizedDocument {
    let mut doc = TokenizedDocument::default();
    if config.mode == BloomMode::Document {
        token_hashes(text, &mut doc.tokens);
        return doc;
    }
    for unit in split_units(text, config.unit) {
        let before = doc.tokens.len();
        token_hashes(unit, &mut doc.tokens);
        doc.units.push(UnitSpan {
            tokens: doc.tokens.len() - before,
            chars: unit.chars().count() as u64,
        });
    }
    doc
}

/// Appends the n-gram hashes of a token sequence to `out` and returns where they are: every
/// window of `ngram` tokens, or, for fewer tokens (at least `min_ngram`, at least one), one
/// n-gram of them all. An n-gram's hash is xxh3-128 of its token hashes' little-endian bytes.
fn push_ngrams(
    out: &mut Vec<u128>,
    token_hashes: &[u64],
    ngram: usize,
    min_ngram: usize,
) -> Range<usize> {
    let start = out.len();
    let mut bytes = Vec::with_capacity(ngram.max(token_hashes.len().min(ngram)) * 8);
    let mut window = |w: &[u64]| {
        bytes.clear();
        for h in w {
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        hash128(&bytes)
    };
    if token_hashes.len() < ngram {
        if !token_hashes.is_empty() && token_hashes.len() >= min_ngram {
            out.push(window(token_hashes));
        }
    } else {
        out.extend(token_hashes.windows(ngram).map(window));
    }
    start..out.len()
}

/// A document's n-grams, prepared without touching the filter (so it can run in parallel).
pub struct PreparedDocument {
    /// Every n-gram hash; `document` and each unit's range index into it.
    ngrams: Vec<u128>,
    document: Range<usize>,
    /// Per unit: its n-grams and its characters.
    units: Vec<(Range<usize>, u64)>,
}

pub fn prepare(doc: &TokenizedDocument, config: &BloomDedupConfig) -> PreparedDocument {
    let (n, min) = (config.ngram, config.min_ngram);
    let mut ngrams = Vec::new();
    let document = if config.mode == BloomMode::Units {
        0..0
    } else {
        push_ngrams(&mut ngrams, &doc.tokens, n, min)
    };
    let mut units = Vec::with_capacity(doc.units.len());
    let mut start = 0;
    for span in &doc.units {
        let unit_tokens = &doc.tokens[start..start + span.tokens];
        let range = if config.mode == BloomMode::OldBoth && unit_tokens.len() >= n {
            // The unit's windows are the document's windows that start at its tokens.
            start..start + unit_tokens.len() - n + 1
        } else {
            push_ngrams(&mut ngrams, unit_tokens, n, min)
        };
        units.push((range, span.chars));
        start += span.tokens;
    }
    PreparedDocument {
        ngrams,
        document,
        units,
    }
}

fn contained_fraction(filter: &BloomFilter, ngrams: &[u128]) -> Option<f64> {
    if ngrams.is_empty() {
        return None;
    }
    let hits = ngrams.iter().filter(|&&g| filter.contains(g)).count();
    Some(hits as f64 / ngrams.len() as f64)
}

/// Checks a prepared document against the filter and updates the filter (order matters).
pub fn check(
    filter: &mut BloomFilter,
    prepared: &PreparedDocument,
    config: &BloomDedupConfig,
) -> Verdict {
    let document = &prepared.ngrams[prepared.document.clone()];
    let fraction = contained_fraction(filter, document);
    let mut verdict = Verdict {
        document_duplicate_fraction: fraction,
        units: prepared.units.len() as u32,
        ..Default::default()
    };
    if config.mode != BloomMode::Units && fraction.is_some_and(|f| f > config.threshold) {
        verdict.document_duplicate = true;
        return verdict;
    }
    if config.mode == BloomMode::Document {
        for &g in document {
            filter.insert(g);
        }
        return verdict;
    }
    for (index, (range, chars)) in prepared.units.iter().enumerate() {
        let ngrams = &prepared.ngrams[range.clone()];
        let duplicate = contained_fraction(filter, ngrams).is_some_and(|f| f > config.threshold);
        if duplicate {
            verdict.removed_units += 1;
            verdict.removed_chars += chars;
            verdict.removed.push(index as u32);
        } else {
            for &g in ngrams {
                filter.insert(g);
            }
        }
    }
    verdict
}

/// The text without the units at `removed` (ascending indices into [`split_units`]).
pub fn remove_units(text: &str, unit: Unit, removed: &[u32]) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut next = removed.iter().copied().peekable();
    for (index, part) in split_units(text, unit).into_iter().enumerate() {
        if next.peek() == Some(&(index as u32)) {
            next.next();
        } else {
            kept.push_str(part);
        }
    }
    kept
}

/// The outcome of a verdict on the text it was made for (the text is rewritten only when a
/// unit was removed).
pub fn outcome(text: &str, verdict: Verdict, unit: Unit) -> BloomOutcome {
    let text = (verdict.removed_units > 0).then(|| remove_units(text, unit, &verdict.removed));
    BloomOutcome {
        document_duplicate_fraction: verdict.document_duplicate_fraction,
        units: verdict.units,
        removed_units: verdict.removed_units,
        removed_chars: verdict.removed_chars,
        document_duplicate: verdict.document_duplicate,
        text,
    }
}

/// Tokenizes, checks and rewrites one document (the per-shard path, one document at a time).
pub fn process(filter: &mut BloomFilter, text: &str, config: &BloomDedupConfig) -> BloomOutcome {
    let prepared = prepare(&tokenize(text, config), config);
    let verdict = check(filter, &prepared, config);
    outcome(text, verdict, config.unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The implementation before documents were tokenized once (whole text for the document
    /// check, each unit again for the unit checks): the per-shard path must still give its results.
    mod reference {
        use super::super::*;

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

        fn fraction(filter: &BloomFilter, ngrams: &[u128]) -> Option<f64> {
            if ngrams.is_empty() {
                return None;
            }
            let hits = ngrams.iter().filter(|&&g| filter.contains(g)).count();
            Some(hits as f64 / ngrams.len() as f64)
        }

        pub fn process(
            filter: &mut BloomFilter,
            text: &str,
            config: &BloomDedupConfig,
        ) -> BloomOutcome {
            let hashes =
                |t: &str| -> Vec<u64> { tokens(t).map(|w| xxh3_64(w.as_bytes())).collect() };
            let document = if config.mode == BloomMode::Units {
                Vec::new()
            } else {
                ngram_hashes(&hashes(text), config.ngram, config.min_ngram)
            };
            let units: Vec<(&str, Vec<u128>)> = if config.mode == BloomMode::Document {
                Vec::new()
            } else {
                split_units(text, config.unit)
                    .into_iter()
                    .map(|u| (u, ngram_hashes(&hashes(u), config.ngram, config.min_ngram)))
                    .collect()
            };
            let f = fraction(filter, &document);
            let mut outcome = BloomOutcome {
                document_duplicate_fraction: f,
                units: units.len() as u32,
                removed_units: 0,
                removed_chars: 0,
                document_duplicate: false,
                text: None,
            };
            if config.mode != BloomMode::Units && f.is_some_and(|f| f > config.threshold) {
                outcome.document_duplicate = true;
                return outcome;
            }
            if config.mode == BloomMode::Document {
                for &g in &document {
                    filter.insert(g);
                }
                return outcome;
            }
            let mut kept = String::new();
            for (unit, ngrams) in &units {
                if fraction(filter, ngrams).is_some_and(|f| f > config.threshold) {
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
    }

    #[test]
    fn sizing_follows_the_formulas() {
        let f = BloomFilter::with_rate(1_000_000, 0.01).unwrap();
        // 9.59 bits per item, 7 hashes.
        assert!((f.num_bits() as f64 / 1e6 - 9.59).abs() < 0.01);
        assert_eq!(f.num_hashes(), 7);
        assert!((f.false_positive_rate(1_000_000) - 0.01).abs() < 0.001);
        assert!(f.false_positive_rate(4_000_000) > 0.2);
        let at = f.items_at_rate(0.05);
        assert!(f.false_positive_rate(at) > 0.05 && f.false_positive_rate(at - 1) <= 0.05);
        assert!(at > 1_000_000 && at < 4_000_000);
        assert_eq!(f.items_at_rate(1.0), u64::MAX);
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
        let out = process(&mut f, first, &config);
        assert_eq!(out.removed_units, 0);
        assert!(out.text.is_none());
        let second = "a completely new line here\nover the lazy dog today\n";
        let out = process(&mut f, second, &config);
        assert_eq!(out.removed_units, 1);
        assert_eq!(out.removed_chars, "over the lazy dog today\n".len() as u64);
        assert_eq!(out.text.as_deref(), Some("a completely new line here\n"));
        assert!(!out.document_duplicate);
        // Every n-gram of this document is inside lines seen before.
        let third = "the quick brown fox jumps\n";
        let out = process(&mut f, third, &config);
        assert!(out.document_duplicate);
        assert_eq!(out.document_duplicate_fraction, Some(1.0));
    }

    #[test]
    fn short_units_are_never_removed() {
        let config = BloomDedupConfig::default();
        let mut f = BloomFilter::with_rate(1000, 0.01).unwrap();
        for _ in 0..3 {
            let out = process(&mut f, "Home | About | Contact\n", &config);
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

    #[test]
    fn tokenized_units_and_removal() {
        let config = BloomDedupConfig::default();
        let doc = tokenize("héllo wörld\n\nzwei drei\n", &config);
        assert_eq!(doc.tokens.len(), 4);
        let spans: Vec<(usize, u64)> = doc.units.iter().map(|u| (u.tokens, u.chars)).collect();
        assert_eq!(spans, vec![(2, 12), (0, 1), (2, 10)]);
        let whole = tokenize(
            "héllo wörld\n\nzwei drei\n",
            &BloomDedupConfig {
                mode: BloomMode::Document,
                ..config.clone()
            },
        );
        assert_eq!(whole.tokens, doc.tokens);
        assert!(whole.units.is_empty());
        assert_eq!(remove_units("a\nb\nc", Unit::Line, &[0, 2]), "b\n");
        assert_eq!(remove_units("a\nb\nc", Unit::Line, &[]), "a\nb\nc");
        assert_eq!(remove_units("a\n\nb", Unit::Paragraph, &[1]), "a\n\n");
    }

    fn mode_of(i: u8) -> BloomMode {
        [BloomMode::OldBoth, BloomMode::Units, BloomMode::Document][i as usize % 3]
    }

    // Text with line breaks, CR LF, combining marks, ZWJ, regional indicators and apostrophes
    // around them: the characters whose word-boundary rules look at their neighbours.
    fn tricky_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("\n".to_string()),
                Just("\r\n".to_string()),
                Just("\n\n".to_string()),
                Just("\u{301}".to_string()),
                Just("\u{200d}".to_string()),
                Just("\u{1f1eb}\u{1f1f7}".to_string()),
                Just("\u{1f1eb}".to_string()),
                Just("'".to_string()),
                Just(".".to_string()),
                Just(" ".to_string()),
                Just("3".to_string()),
                Just("日本".to_string()),
                "[a-c]{1,3}",
                "\\PC{1,4}",
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn never_panics_and_only_removes(text in "\\PC{0,120}", n in 1usize..5) {
            let config = BloomDedupConfig { ngram: n, min_ngram: 1, ..Default::default() };
            let mut f = BloomFilter::with_rate(1000, 0.01).unwrap();
            for _ in 0..2 {
                let out = process(&mut f, &text, &config);
                if let Some(t) = out.text {
                    prop_assert!(t.len() < text.len());
                }
            }
        }

        #[test]
        fn units_tokens_are_the_whole_texts_tokens(text in tricky_text(), paragraph in any::<bool>()) {
            let unit = if paragraph { Unit::Paragraph } else { Unit::Line };
            let whole: Vec<&str> = tokens(&text).collect();
            let joined: Vec<&str> = split_units(&text, unit).into_iter().flat_map(tokens).collect();
            prop_assert_eq!(whole, joined);
        }

        #[test]
        fn same_outcomes_as_the_reference(
            texts in prop::collection::vec(tricky_text(), 1..8),
            n in 1usize..4,
            min in 1usize..4,
            mode in 0u8..3,
            paragraph in any::<bool>(),
        ) {
            let config = BloomDedupConfig {
                ngram: n,
                min_ngram: min,
                threshold: 0.5,
                unit: if paragraph { Unit::Paragraph } else { Unit::Line },
                mode: mode_of(mode),
            };
            let mut ours = BloomFilter::with_rate(500, 0.01).unwrap();
            let mut theirs = BloomFilter::with_rate(500, 0.01).unwrap();
            // Each text twice, so the second copy meets its own n-grams.
            for text in texts.iter().chain(texts.iter()) {
                let a = process(&mut ours, text, &config);
                let b = reference::process(&mut theirs, text, &config);
                prop_assert_eq!(a, b);
                prop_assert_eq!(ours.inserted, theirs.inserted);
            }
        }
    }
}
