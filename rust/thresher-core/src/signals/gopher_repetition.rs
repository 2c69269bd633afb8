//! Gopher repetition signals (Rae et al. 2021, table A1): duplicated lines and paragraphs (by count
//! and by characters), the share of the most frequent 2/3/4-gram, and the share of characters in
//! duplicated 5..10-grams.
//!
//! `Datatrove`: repeat occurrences only (the first occurrence is not a duplicate), paragraphs split
//! on `\n{2,}` of the stripped text, lines on `\n+`, every denominator `len(text)`, top n-grams as
//! `len(" ".join(gram)) * count`, duplicated n-grams found by a greedy scan that skips past each
//! repeat. `Fineweb2024` differs only in splitting lines with `splitlines()`. `Dclm` and `Dolma`
//! count every occurrence of a duplicated line or paragraph and divide character counts by the
//! characters of the words (DCLM: of the non-empty lines for line characters); their n-gram
//! shares count the characters of words covered by a repeated n-gram (DCLM: first occurrence
//! included, each word once; dolma: every occurrence of every repeated n-gram, overlaps included)
//! and top n-gram ties go to the longest n-gram (DCLM).

use crate::column::TextColumn;
use crate::parallel::map_rows_with;
use crate::signals::heuristic_text::{
    char_len, find_duplicates_with, hash_str, py_splitlines, py_strip, ratio, KeyIds, PrehashedMap,
    Profile,
};
use crate::signals::{SignalBatch, SignalKind, SignalRow, SignalValue};
use crate::text::splitters::WordSplitter;
use crate::text::word_memo::WordMemo;

pub struct GopherRepetitionConfig {
    pub profile: Profile,
    pub splitter: WordSplitter,
}

pub const TOP_NGRAMS: [usize; 3] = [2, 3, 4];
pub const DUP_NGRAMS: [usize; 6] = [5, 6, 7, 8, 9, 10];

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GopherRepetition {
    pub chars: u64,
    pub dup_para_frac: f64,
    pub dup_para_char_frac: f64,
    pub dup_line_frac: f64,
    pub dup_line_char_frac: f64,
    /// Indexed like TOP_NGRAMS.
    pub top_ngram_char_frac: [f64; 3],
    /// Indexed like DUP_NGRAMS.
    pub dup_ngram_char_frac: [f64; 6],
}

pub const SIGNALS: [&str; 14] = [
    "chars",
    "dup_para_frac",
    "dup_para_char_frac",
    "dup_line_frac",
    "dup_line_char_frac",
    "top_2_gram_frac",
    "top_3_gram_frac",
    "top_4_gram_frac",
    "dup_5_gram_frac",
    "dup_6_gram_frac",
    "dup_7_gram_frac",
    "dup_8_gram_frac",
    "dup_9_gram_frac",
    "dup_10_gram_frac",
];

impl SignalRow for GopherRepetition {
    const NAMES: &'static [&'static str] = &SIGNALS;
    const KINDS: &'static [SignalKind] = &{
        let mut kinds = [SignalKind::Fraction; 14];
        kinds[0] = SignalKind::Count;
        kinds
    };

    fn value(&self, signal: usize) -> SignalValue {
        SignalValue::Fraction(match signal {
            0 => return SignalValue::Count(self.chars),
            1 => self.dup_para_frac,
            2 => self.dup_para_char_frac,
            3 => self.dup_line_frac,
            4 => self.dup_line_char_frac,
            5..=7 => self.top_ngram_char_frac[signal - 5],
            _ => self.dup_ngram_char_frac[signal - 8],
        })
    }
}

/// `re.split(r"\n{2,}", s)` into `out` (cleared first).
fn split_paragraphs<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut from = 0;
    while let Some(k) = memchr::memchr(b'\n', &bytes[from..]) {
        let i = from + k;
        let mut j = i + 1;
        while j < bytes.len() && bytes[j] == b'\n' {
            j += 1;
        }
        if j - i >= 2 {
            out.push(&s[start..i]);
            start = j;
        }
        from = j;
    }
    out.push(&s[start..]);
}

/// `re.split(r"\n+", s)` into `out` (cleared first).
fn split_newline_runs<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(k) = memchr::memchr(b'\n', &bytes[start..]) {
        let i = start + k;
        out.push(&s[start..i]);
        let mut j = i + 1;
        while j < bytes.len() && bytes[j] == b'\n' {
            j += 1;
        }
        start = j;
    }
    out.push(&s[start..]);
}

/// The 64-bit hash of a word (a slice of `text`) that the n-gram keys are built from, and its
/// length in code points. Words of up to 7 bytes, most of them, are read with one 8-byte load,
/// packed with their length into one integer and mixed by a bijection, so distinct short words
/// never collide; longer ones go through XXH3.
#[inline]
fn word_hash_and_chars(text: &[u8], w: &str) -> (u64, usize) {
    let len = w.len();
    if len > 7 {
        return (hash_str(w), char_len(w));
    }
    let off = (w.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    let packed = match text.get(off..off.wrapping_add(8)) {
        // Eight bytes from the word's start, masked to the word.
        Some(eight) if off.wrapping_add(len) <= text.len() => {
            u64::from_le_bytes(eight.try_into().expect("8 bytes")) & ((1u64 << (8 * len)) - 1)
        }
        _ => {
            let mut buf = [0u8; 8];
            buf[..len].copy_from_slice(w.as_bytes());
            u64::from_le_bytes(buf)
        }
    };
    // UTF-8 continuation bytes (10xxxxxx) are not characters.
    let continuation = packed & !(packed << 1) & 0x8080_8080_8080_8080;
    let chars = len - continuation.count_ones() as usize;
    (fmix64(packed | (len as u64) << 56), chars)
}

/// MurmurHash3's 64-bit finaliser: a bijection that spreads every input bit.
#[inline]
fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    x = x.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    x ^ (x >> 33)
}

/// Base of the rolling hash (odd, so multiplication by it is invertible modulo 2^64).
const BASE: u64 = 0x1F3D_5B79_A3C1_E4F7;

/// Rolling hashes of word windows, modulo 2^64: word `i` contributes its 64-bit hash; the window
/// `[i, i+n)` hashes to `P[i+n] - P[i] * BASE^n`. The "digits" are random 64-bit word hashes, not
/// small characters, so the wrap-around arithmetic (one multiply per step) collides no more often
/// than a random 64-bit key would.
#[derive(Default)]
struct WordWindows {
    prefix: Vec<u64>,
    pow: [u64; 11],
    /// Prefix sums of the words' lengths in code points.
    len_prefix: Vec<usize>,
}

impl WordWindows {
    /// Refills the buffers from `words`, slices of `text`.
    fn fill(&mut self, text: &str, words: &[&str]) {
        self.prefix.clear();
        self.prefix.reserve(words.len() + 1);
        self.prefix.push(0u64);
        self.len_prefix.clear();
        self.len_prefix.reserve(words.len() + 1);
        self.len_prefix.push(0);
        let mut acc = 0u64;
        let mut chars = 0usize;
        for w in words {
            let (hash, l) = word_hash_and_chars(text.as_bytes(), w);
            acc = acc.wrapping_mul(BASE).wrapping_add(hash);
            self.prefix.push(acc);
            chars += l;
            self.len_prefix.push(chars);
        }
        if self.pow[1] == 0 {
            self.pow[0] = 1;
            for k in 1..11 {
                self.pow[k] = self.pow[k - 1].wrapping_mul(BASE);
            }
        }
    }

    /// Number of words.
    #[inline]
    fn len(&self) -> usize {
        self.prefix.len() - 1
    }

    #[inline]
    fn key(&self, i: usize, n: usize) -> u64 {
        self.prefix[i + n].wrapping_sub(self.prefix[i].wrapping_mul(self.pow[n]))
    }

    /// Code points of the words `[i, i+n)` joined without separator.
    #[inline]
    fn chars(&self, i: usize, n: usize) -> usize {
        self.len_prefix[i + n] - self.len_prefix[i]
    }
}

/// Distinct n-gram keys of one document with their count and first window: open addressing over
/// 8-byte slots (a 32-bit fingerprint of the key and the entry's index), so the table of a
/// typical document fits in the first-level cache; the full key of the entry settles a
/// fingerprint match. Counts sit in an array of their own, which the pass that marks repeated
/// windows reads at random.
#[derive(Default)]
struct WindowIds {
    /// `fingerprint << 32 | (entry index + 1)`; 0 is an empty slot.
    slots: Vec<u64>,
    mask: usize,
    shift: u32,
    keys: Vec<u64>,
    counts: Vec<u32>,
    firsts: Vec<u32>,
}

impl WindowIds {
    /// Empties the table for up to `capacity` distinct keys (at most half full).
    fn reset(&mut self, capacity: usize) {
        let size = (capacity.max(8) * 2).next_power_of_two();
        if self.slots.len() < size {
            self.slots.resize(size, 0);
        }
        self.slots[..size].fill(0);
        self.mask = size - 1;
        self.shift = 64 - size.trailing_zeros();
        self.keys.clear();
        self.counts.clear();
        self.firsts.clear();
    }

    /// Counts one occurrence of `key` at `window`; returns its entry index.
    #[inline]
    fn count(&mut self, key: u64, window: u32) -> u32 {
        let mixed = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut slot = (mixed >> self.shift) as usize;
        let fingerprint = mixed & 0xFFFF_FFFF;
        loop {
            let value = self.slots[slot];
            if value == 0 {
                let id = self.keys.len() as u32;
                self.keys.push(key);
                self.counts.push(1);
                self.firsts.push(window);
                self.slots[slot] = fingerprint << 32 | u64::from(id + 1);
                return id;
            }
            if value >> 32 == fingerprint {
                let id = (value as u32) - 1;
                if self.keys[id as usize] == key {
                    self.counts[id as usize] += 1;
                    return id;
                }
            }
            slot = (slot + 1) & self.mask;
        }
    }
}

/// Which word windows can be part of a repetition: `repeated[n - 2]` lists, in order, the windows
/// whose n-gram occurs at least twice in the document (n = 2..=5). An n-gram can only repeat if both
/// (n-1)-grams inside it do, so size n counts only the windows `i` where the (n-1)-grams at `i` and
/// `i + 1` repeat: consecutive entries of the previous list. Past 2-grams only those windows are
/// visited, a small part of most documents.
#[derive(Default)]
struct Repeats {
    /// Per size 2..=5 (index n - 2): the windows whose n-gram occurs twice or more, in order.
    repeated: [Vec<u32>; 4],
    /// Does the 5-gram at each window repeat? (the duplicated-n-gram scans look it up)
    multi5: Vec<bool>,
    /// Per size 2..=4: the most frequent n-gram as (count, first position).
    top: [Option<(u32, u32)>; 3],
    /// Scratch: the entry of each counted window, and the windows counted.
    class: Vec<u32>,
    counted: Vec<u32>,
}

fn find_repeats(w: &WordWindows, table: &mut WindowIds, longest_ties: bool, out: &mut Repeats) {
    let total = w.len();
    out.top = [None; 3];
    for n in 2..=5usize {
        let windows = (total + 1).saturating_sub(n);
        let (done, rest) = out.repeated.split_at_mut(n - 2);
        let repeated = &mut rest[0];
        repeated.clear();
        let class = &mut out.class;
        class.clear();
        let counts = if n == 2 {
            // Every window.
            table.reset(windows);
            class.extend((0..windows).map(|i| table.count(w.key(i, n), i as u32)));
            let counts = &table.counts;
            repeated.extend(
                (0u32..)
                    .zip(class.iter())
                    .filter(|&(_, &id)| counts[id as usize] >= 2)
                    .map(|(i, _)| i),
            );
            counts
        } else {
            // Windows whose two inner (n-1)-grams repeat: neighbours in the previous list.
            let prev = &done[n - 3];
            let counted = &mut out.counted;
            counted.clear();
            counted.extend(
                prev.windows(2)
                    .filter(|pair| pair[1] == pair[0] + 1 && (pair[0] as usize) < windows)
                    .map(|pair| pair[0]),
            );
            table.reset(counted.len());
            class.extend(
                counted
                    .iter()
                    .map(|&i| table.count(w.key(i as usize, n), i)),
            );
            let counts = &table.counts;
            repeated.extend(
                counted
                    .iter()
                    .zip(class.iter())
                    .filter(|&(_, &id)| counts[id as usize] >= 2)
                    .map(|(&i, _)| i),
            );
            counts
        };
        if n == 5 {
            out.multi5.clear();
            out.multi5.resize(windows, false);
            for &i in repeated.iter() {
                out.multi5[i as usize] = true;
            }
        }
        if n > 4 || windows == 0 {
            continue;
        }
        // The most frequent n-gram; entries are in order of first sight, so the first of equals
        // is the earliest (DCLM: the longest, then the earliest).
        let mut best: Option<(u32, u32, usize)> = None;
        for (&count, &first) in counts.iter().zip(&table.firsts) {
            if count < 2 {
                continue;
            }
            let chars = if longest_ties {
                w.chars(first as usize, n)
            } else {
                0
            };
            let better = match best {
                None => true,
                Some((c, _, len)) => count > c || (count == c && chars > len),
            };
            if better {
                best = Some((count, first, chars));
            }
        }
        // Windows that occur once: with no repeat at all the first window wins the tie (or, with
        // `longest_ties`, the longest single window, the first of equals).
        out.top[n - 2] = Some(match best {
            Some((count, first, _)) => (count, first),
            None if longest_ties => {
                let longest = (0..windows)
                    .max_by_key(|&i| (w.chars(i, n), std::cmp::Reverse(i)))
                    .unwrap_or(0);
                (1, longest as u32)
            }
            None => (1, 0),
        });
    }
}

/// `len(" ".join(gram)) * count` of the most frequent n-gram (datatrove `find_top_duplicate`), or
/// without separators (`word_chars_only`: DCLM, dolma).
fn top_ngram_chars(w: &WordWindows, repeats: &Repeats, n: usize, word_chars_only: bool) -> usize {
    match repeats.top[n - 2] {
        None => 0,
        Some((count, first)) => {
            let separators = if word_chars_only { 0 } else { n - 1 };
            (w.chars(first as usize, n) + separators) * count as usize
        }
    }
}

/// datatrove `find_all_duplicate`: characters of repeated n-grams, scanning left to right and jumping
/// past each repeat so overlapping repeats are not counted twice. Only windows whose first and last
/// 5-grams both repeat can repeat: the scan visits those (the windows whose 5-gram repeats, in
/// order) and passes over the others, which it would only have stepped across.
fn dup_ngram_chars_greedy(
    w: &WordWindows,
    repeats: &Repeats,
    n: usize,
    seen: &mut KeyIds,
) -> usize {
    let total = w.len();
    let starts5 = &repeats.repeated[3];
    if total < n || starts5.is_empty() {
        return 0;
    }
    let multi5 = &repeats.multi5;
    seen.reset(starts5.len());
    let mut repeated = 0;
    let mut idx = 0;
    for &start in starts5 {
        let i = start as usize;
        if i < idx {
            continue; // inside the last repeat
        }
        if i + n > total {
            break;
        }
        if !multi5[i + n - 5] {
            continue;
        }
        if seen.id_of(w.key(i, n)).1 {
            idx = i + 1;
        } else {
            repeated += w.chars(i, n);
            idx = i + n;
        }
    }
    repeated
}

/// DCLM: characters of the words covered by any n-gram that occurs more than once (first
/// occurrence included), each word counted once.
fn dup_ngram_chars_covered(w: &WordWindows, n: usize) -> usize {
    let total = w.len();
    if total < n {
        return 0;
    }
    let mut counts: PrehashedMap<u32> = PrehashedMap::default();
    for i in 0..=total - n {
        *counts.entry(w.key(i, n)).or_insert(0) += 1;
    }
    let mut covered = vec![false; total];
    for i in 0..=total - n {
        if counts[&w.key(i, n)] > 1 {
            covered[i..i + n].iter_mut().for_each(|c| *c = true);
        }
    }
    covered
        .iter()
        .zip(w.len_prefix.windows(2).map(|p| p[1] - p[0]))
        .filter(|(c, _)| **c)
        .map(|(_, l)| l)
        .sum()
}

/// dolma: characters of every occurrence of every repeated n-gram (overlaps counted again), over the
/// characters of all n-grams.
fn dup_ngram_fraction_all(w: &WordWindows, n: usize) -> f64 {
    let total = w.len();
    if total < n {
        return 0.0;
    }
    let mut counts: PrehashedMap<u32> = PrehashedMap::default();
    for i in 0..=total - n {
        *counts.entry(w.key(i, n)).or_insert(0) += 1;
    }
    let mut dup = 0usize;
    let mut all = 0usize;
    for i in 0..=total - n {
        let c = w.chars(i, n);
        all += c;
        if counts[&w.key(i, n)] > 1 {
            dup += c;
        }
    }
    ratio(dup, all)
}

/// Buffers reused from one document to the next.
#[derive(Default)]
pub struct RepetitionScratch {
    table: KeyIds,
    window_ids: WindowIds,
    windows: WordWindows,
    repeats: Repeats,
    /// Paragraph and line slices (kept empty between documents, only their capacity reused).
    pieces: Vec<&'static str>,
    lines: Vec<&'static str>,
}

/// A vector of string slices emptied so its buffer can outlive the strings it held.
trait IntoEmpty<'b> {
    fn into_empty(self) -> Vec<&'b str>;
}

impl<'b> IntoEmpty<'b> for Vec<&'_ str> {
    fn into_empty(mut self) -> Vec<&'b str> {
        self.clear();
        // Empty, so no slice of the old lifetime remains: only the allocation is carried over.
        self.into_iter().map(|_| "").collect()
    }
}

impl GopherRepetitionConfig {
    /// The splitter whose words [`measure_words`] expects: DCLM and dolma split on Unicode word
    /// boundaries whatever the configured splitter.
    pub fn word_splitter(&self) -> WordSplitter {
        match self.profile {
            Profile::Dclm | Profile::Dolma => WordSplitter::Uax29,
            _ => self.splitter,
        }
    }
}

/// Measures one document whose words (split by `config.word_splitter()`) are given.
pub fn measure_words(
    text: &str,
    words: &[&str],
    config: &GopherRepetitionConfig,
    scratch: &mut RepetitionScratch,
) -> GopherRepetition {
    let profile = config.profile;
    let chars = char_len(text);
    let mut out = GopherRepetition {
        chars: chars as u64,
        ..Default::default()
    };
    if text.is_empty() {
        return out;
    }
    let all_occurrences = matches!(profile, Profile::Dclm | Profile::Dolma);
    let table = &mut scratch.table;

    let mut paragraphs = std::mem::take(&mut scratch.pieces).into_empty();
    split_paragraphs(py_strip(text), &mut paragraphs);
    let (dup_p, dup_pc) = find_duplicates_with(&paragraphs, all_occurrences, table);
    out.dup_para_frac = ratio(dup_p, paragraphs.len());

    let mut lines = std::mem::take(&mut scratch.lines).into_empty();
    match profile {
        Profile::Fineweb2024 => lines = py_splitlines(text),
        Profile::Dclm => {
            split_newline_runs(text, &mut lines);
            lines.retain(|l| !l.is_empty());
        }
        _ => split_newline_runs(text, &mut lines),
    }
    let (dup_l, dup_lc) = find_duplicates_with(&lines, all_occurrences, table);
    out.dup_line_frac = ratio(dup_l, lines.len());

    let windows = &mut scratch.windows;
    windows.fill(text, words);
    let word_chars = windows.len_prefix.last().copied().unwrap_or(0);
    match profile {
        Profile::Dclm => {
            let line_chars: usize = lines.iter().map(|l| char_len(l)).sum();
            out.dup_para_char_frac = ratio(dup_pc, paragraphs.iter().map(|p| char_len(p)).sum());
            out.dup_line_char_frac = ratio(dup_lc, line_chars);
        }
        Profile::Dolma => {
            out.dup_para_char_frac = ratio(dup_pc, word_chars);
            out.dup_line_char_frac = ratio(dup_lc, word_chars);
        }
        _ => {
            out.dup_para_char_frac = ratio(dup_pc, chars);
            out.dup_line_char_frac = ratio(dup_lc, chars);
        }
    }

    scratch.pieces = paragraphs.into_empty();
    scratch.lines = lines.into_empty();
    let windows = &scratch.windows;
    let repeats = &mut scratch.repeats;
    find_repeats(
        windows,
        &mut scratch.window_ids,
        profile == Profile::Dclm,
        repeats,
    );
    for (k, &n) in TOP_NGRAMS.iter().enumerate() {
        out.top_ngram_char_frac[k] = match profile {
            Profile::Dclm | Profile::Dolma => {
                ratio(top_ngram_chars(windows, repeats, n, true), word_chars)
            }
            _ => ratio(top_ngram_chars(windows, repeats, n, false), chars),
        };
    }
    for (k, &n) in DUP_NGRAMS.iter().enumerate() {
        out.dup_ngram_char_frac[k] = match profile {
            Profile::Dclm => ratio(dup_ngram_chars_covered(windows, n), word_chars),
            Profile::Dolma => dup_ngram_fraction_all(windows, n),
            _ => ratio(dup_ngram_chars_greedy(windows, repeats, n, table), chars),
        };
    }
    out
}

pub fn measure_text(text: &str, config: &GopherRepetitionConfig) -> GopherRepetition {
    let mut words = Vec::new();
    config.word_splitter().split(text, &mut words);
    measure_words(text, &words, config, &mut RepetitionScratch::default())
}

/// Measures every row of `column` in parallel (words from `memo` when given).
pub fn compute(
    column: TextColumn<'_>,
    config: &GopherRepetitionConfig,
    memo: Option<&WordMemo>,
) -> SignalBatch {
    let measured = map_rows_with(
        column,
        || (Vec::new(), RepetitionScratch::default()),
        |(words, scratch), text| {
            text.map(|t| {
                config.word_splitter().split_with(t, words, memo);
                measure_words(t, words, config, scratch)
            })
        },
    );
    GopherRepetition::batch(measured.iter().map(Option::as_ref))
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use proptest::prelude::*;

    use super::*;

    /// The n-gram signals computed the plain way: n-grams as word tuples in hash maps.
    fn reference(text: &str, words: &[&str], profile: Profile) -> ([f64; 3], [f64; 6]) {
        let chars = char_len(text);
        let lens: Vec<usize> = words.iter().map(|w| char_len(w)).collect();
        let word_chars: usize = lens.iter().sum();
        let span = |i: usize, n: usize| lens[i..i + n].iter().sum::<usize>();
        let windows = |n: usize| (0..(words.len() + 1).saturating_sub(n)).collect::<Vec<_>>();
        let mut top = [0.0; 3];
        for (k, n) in TOP_NGRAMS.into_iter().enumerate() {
            let mut counts: HashMap<&[&str], (usize, usize)> = HashMap::new();
            for i in windows(n) {
                counts.entry(&words[i..i + n]).or_insert((0, i)).0 += 1;
            }
            // (count, chars, first): the most frequent, ties to the first (DCLM: to the longest).
            let best = counts
                .values()
                .map(|&(count, first)| (count, span(first, n), first))
                .max_by_key(|&(count, chars, first)| {
                    let longest = if profile == Profile::Dclm { chars } else { 0 };
                    (count, longest, std::cmp::Reverse(first))
                });
            top[k] = match (best, profile) {
                (None, _) => 0.0,
                (Some((count, c, _)), Profile::Dclm | Profile::Dolma) => {
                    ratio(c * count, word_chars)
                }
                (Some((count, c, _)), _) => ratio((c + n - 1) * count, chars),
            };
        }
        let mut dup = [0.0; 6];
        for (k, n) in DUP_NGRAMS.into_iter().enumerate() {
            let mut counts: HashMap<&[&str], usize> = HashMap::new();
            for i in windows(n) {
                *counts.entry(&words[i..i + n]).or_insert(0) += 1;
            }
            dup[k] = match profile {
                Profile::Dclm => {
                    let mut covered = vec![false; words.len()];
                    for i in windows(n) {
                        if counts[&words[i..i + n]] > 1 {
                            covered[i..i + n].iter_mut().for_each(|c| *c = true);
                        }
                    }
                    let c: usize = (0..words.len())
                        .filter(|&i| covered[i])
                        .map(|i| lens[i])
                        .sum();
                    ratio(c, word_chars)
                }
                Profile::Dolma => {
                    let all: usize = windows(n).into_iter().map(|i| span(i, n)).sum();
                    let d: usize = windows(n)
                        .into_iter()
                        .filter(|&i| counts[&words[i..i + n]] > 1)
                        .map(|i| span(i, n))
                        .sum();
                    ratio(d, all)
                }
                _ => {
                    // datatrove's find_all_duplicate: skip past each repeat.
                    let mut seen: HashSet<&[&str]> = HashSet::new();
                    let (mut repeated, mut i) = (0, 0);
                    while i + n <= words.len() {
                        if seen.insert(&words[i..i + n]) {
                            i += 1;
                        } else {
                            repeated += span(i, n);
                            i += n;
                        }
                    }
                    ratio(repeated, chars)
                }
            };
        }
        (top, dup)
    }

    fn agrees(text: &str, profile: Profile) -> Result<(), TestCaseError> {
        let config = GopherRepetitionConfig {
            profile,
            splitter: WordSplitter::SpacyEnglish,
        };
        let mut words = Vec::new();
        config.word_splitter().split(text, &mut words);
        let m = measure_words(text, &words, &config, &mut RepetitionScratch::default());
        let (top, dup) = reference(text, &words, profile);
        prop_assert_eq!(m.top_ngram_char_frac, top, "{:?} {:?}", profile, text);
        prop_assert_eq!(m.dup_ngram_char_frac, dup, "{:?} {:?}", profile, text);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Few distinct words, so n-grams repeat at every length and overlap.
        #[test]
        fn ngram_signals_equal_the_plain_computation(
            text in r"((a|b|cc|dé|e\.|,)( |\n|  )){0,80}",
            profile in prop_oneof![
                Just(Profile::Datatrove), Just(Profile::Dclm), Just(Profile::Dolma)
            ],
        ) {
            agrees(&text, profile)?;
        }
    }

    #[test]
    fn ngram_signals_on_a_long_repetitive_text() {
        let text = "one two three four five six. one two three four five six seven. ".repeat(50)
            + "and then something else entirely, with new words at the end.";
        for profile in [Profile::Datatrove, Profile::Dclm, Profile::Dolma] {
            agrees(&text, profile).unwrap();
        }
    }
}
