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
use crate::signals::SignalBatch;
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

/// `re.split(r"\n{2,}", s)`.
fn split_paragraphs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let mut j = i;
            while j < bytes.len() && bytes[j] == b'\n' {
                j += 1;
            }
            if j - i >= 2 {
                out.push(&s[start..i]);
                start = j;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out.push(&s[start..]);
    out
}

/// `re.split(r"\n+", s)`.
fn split_newline_runs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            out.push(&s[start..i]);
            while i < bytes.len() && bytes[i] == b'\n' {
                i += 1;
            }
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&s[start..]);
    out
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
    /// Code points of each word.
    lens: Vec<usize>,
    /// Prefix sums of `lens`.
    len_prefix: Vec<usize>,
}

impl WordWindows {
    /// Refills the buffers from `words`.
    fn fill(&mut self, words: &[&str]) {
        self.prefix.clear();
        self.prefix.push(0u64);
        self.lens.clear();
        self.len_prefix.clear();
        self.len_prefix.push(0);
        let mut acc = 0u64;
        let mut chars = 0usize;
        for w in words {
            acc = acc.wrapping_mul(BASE).wrapping_add(hash_str(w));
            self.prefix.push(acc);
            let l = char_len(w);
            self.lens.push(l);
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

/// Which word windows can be part of a repetition: `multi[n][i]` says the n-gram starting at `i`
/// occurs at least twice in the document (n = 2..=5). An n-gram can only repeat if its prefixes do,
/// so each size is counted only where the next smaller one repeats; most of a typical document is
/// never hashed past 2-grams.
#[derive(Default)]
struct Repeats {
    /// Per size 2..=5 (index n - 2): does the n-gram starting at each word occur twice or more?
    multi: [Vec<bool>; 4],
    /// Per size 2..=4: the most frequent n-gram as (count, first position).
    top: [Option<(u32, u32)>; 3],
    /// Scratch: the n-gram id of each counted window, and (count, first window) per id.
    class: Vec<u32>,
    counts: Vec<(u32, u32)>,
}

fn find_repeats(w: &WordWindows, table: &mut KeyIds, longest_ties: bool, out: &mut Repeats) {
    let total = w.lens.len();
    out.top = [None; 3];
    for n in 2..=5usize {
        let windows = (total + 1).saturating_sub(n);
        let (done, rest) = out.multi.split_at_mut(n - 2);
        let multi = &mut rest[0];
        multi.clear();
        multi.resize(windows, false);
        let prev: Option<&[bool]> = done.last().map(|v| &v[..]);
        let candidates = prev.map_or(windows, |p| p[..windows].iter().filter(|&&m| m).count());
        table.reset(candidates);
        let class = &mut out.class;
        let counts = &mut out.counts;
        class.clear();
        class.resize(windows, u32::MAX);
        counts.clear();
        for (i, slot) in class.iter_mut().enumerate() {
            if prev.is_some_and(|p| !p[i]) {
                continue;
            }
            let (id, new) = table.id_of(w.key(i, n));
            if new {
                counts.push((0, i as u32));
            }
            counts[id as usize].0 += 1;
            *slot = id;
        }
        let mut best: Option<(u32, u32, usize)> = None;
        for (i, &id) in class.iter().enumerate() {
            if id == u32::MAX {
                continue;
            }
            let (count, first) = counts[id as usize];
            multi[i] = count >= 2;
            if n <= 4 && first as usize == i {
                let chars = w.chars(i, n);
                let better = match best {
                    None => true,
                    Some((bc, bf, bl)) => {
                        count > bc
                            || (count == bc && !longest_ties && first < bf)
                            || (count == bc
                                && longest_ties
                                && (chars > bl || (chars == bl && first < bf)))
                    }
                };
                if better {
                    best = Some((count, first, chars));
                }
            }
        }
        if n <= 4 && windows > 0 {
            // Windows never counted occur once; with no repeat at all the first window wins the tie
            // (or, with `longest_ties`, the longest single window).
            let single_best = if longest_ties {
                (0..windows)
                    .max_by_key(|&i| (w.chars(i, n), std::cmp::Reverse(i)))
                    .unwrap_or(0)
            } else {
                0
            };
            out.top[n - 2] = Some(match best {
                Some((count, first, _)) if count >= 2 => (count, first),
                Some((1, first, chars)) if longest_ties && chars >= w.chars(single_best, n) => {
                    (1, first)
                }
                _ => (1, single_best as u32),
            });
        }
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
/// past each repeat so overlapping repeats are not counted twice. Only windows whose 5-gram prefix
/// repeats can repeat, so only those are hashed.
fn dup_ngram_chars_greedy(
    w: &WordWindows,
    repeats: &Repeats,
    n: usize,
    seen: &mut KeyIds,
) -> usize {
    let total = w.lens.len();
    if total < n {
        return 0;
    }
    let multi5 = &repeats.multi[3];
    seen.reset(multi5.iter().filter(|&&m| m).count());
    let mut repeated = 0;
    let mut idx = 0;
    while idx + n <= total {
        if !multi5[idx] {
            idx += 1;
            continue;
        }
        if seen.id_of(w.key(idx, n)).1 {
            idx += 1;
        } else {
            repeated += w.chars(idx, n);
            idx += n;
        }
    }
    repeated
}

/// DCLM: characters of the words covered by any n-gram that occurs more than once (first
/// occurrence included), each word counted once.
fn dup_ngram_chars_covered(w: &WordWindows, n: usize) -> usize {
    let total = w.lens.len();
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
        .zip(&w.lens)
        .filter(|(c, _)| **c)
        .map(|(_, l)| l)
        .sum()
}

/// dolma: characters of every occurrence of every repeated n-gram (overlaps counted again), over the
/// characters of all n-grams.
fn dup_ngram_fraction_all(w: &WordWindows, n: usize) -> f64 {
    let total = w.lens.len();
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
    windows: WordWindows,
    repeats: Repeats,
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

    let paragraphs = split_paragraphs(py_strip(text));
    let (dup_p, dup_pc) = find_duplicates_with(&paragraphs, all_occurrences, table);
    out.dup_para_frac = ratio(dup_p, paragraphs.len());

    let lines: Vec<&str> = match profile {
        Profile::Fineweb2024 => py_splitlines(text),
        Profile::Dclm => split_newline_runs(text)
            .into_iter()
            .filter(|l| !l.is_empty())
            .collect(),
        _ => split_newline_runs(text),
    };
    let (dup_l, dup_lc) = find_duplicates_with(&lines, all_occurrences, table);
    out.dup_line_frac = ratio(dup_l, lines.len());

    let windows = &mut scratch.windows;
    windows.fill(words);
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

    let windows = &scratch.windows;
    let repeats = &mut scratch.repeats;
    find_repeats(windows, table, profile == Profile::Dclm, repeats);
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
    let pick = |f: &dyn Fn(&GopherRepetition) -> f64| -> Vec<Option<f64>> {
        measured.iter().map(|m| m.as_ref().map(f)).collect()
    };
    let mut batch = SignalBatch::default();
    batch.push_u64(
        "chars",
        measured
            .iter()
            .map(|m| m.as_ref().map(|m| m.chars))
            .collect(),
    );
    batch.push_f64("dup_para_frac", pick(&|m| m.dup_para_frac));
    batch.push_f64("dup_para_char_frac", pick(&|m| m.dup_para_char_frac));
    batch.push_f64("dup_line_frac", pick(&|m| m.dup_line_frac));
    batch.push_f64("dup_line_char_frac", pick(&|m| m.dup_line_char_frac));
    for (k, name) in SIGNALS[5..8].iter().enumerate() {
        batch.push_f64(name, pick(&|m| m.top_ngram_char_frac[k]));
    }
    for (k, name) in SIGNALS[8..].iter().enumerate() {
        batch.push_f64(name, pick(&|m| m.dup_ngram_char_frac[k]));
    }
    batch
}
