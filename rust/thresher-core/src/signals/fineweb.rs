//! FineWeb's own quality rules (Penedo et al. 2024, §3.6 and appendix E.4): share of lines ending
//! in terminal punctuation, share of short lines, characters in duplicated lines, newlines per word.
//!
//! `Datatrove` (0.4 and later): lines are the non-empty `\n`-separated lines, a line ends in
//! punctuation when its last character is a Unicode Sentence_Terminal mark (no quotes; lines are
//! not right-stripped). `Fineweb2024` (datatrove 0.2, what FineWeb was built with): the end marks
//! are `. ' " ! ?` and the punctuation and short-line shares count empty lines too.

use crate::column::TextColumn;
use crate::parallel::map_rows_with;
use crate::signals::heuristic_text::{
    char_len, find_duplicates_with, is_sentence_terminal, py_strip, ratio, KeyIds, Profile,
};
use crate::signals::{SignalBatch, SignalKind, SignalRow, SignalValue};
use crate::text::splitters::WordSplitter;
use crate::text::word_memo::WordMemo;

pub struct FinewebConfig {
    pub profile: Profile,
    pub splitter: WordSplitter,
    pub short_line_length: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fineweb {
    pub non_empty_lines: u64,
    pub line_punct_ratio: f64,
    pub short_line_ratio: f64,
    pub char_dup_ratio: f64,
    pub list_ratio: f64,
}

pub const SIGNALS: [&str; 5] = [
    "non_empty_lines",
    "line_punct_ratio",
    "short_line_ratio",
    "char_dup_ratio",
    "list_ratio",
];

impl SignalRow for Fineweb {
    const NAMES: &'static [&'static str] = &SIGNALS;
    const KINDS: &'static [SignalKind] = &[
        SignalKind::Count,
        SignalKind::Fraction,
        SignalKind::Fraction,
        SignalKind::Fraction,
        SignalKind::Fraction,
    ];

    fn value(&self, signal: usize) -> SignalValue {
        SignalValue::Fraction(match signal {
            0 => return SignalValue::Count(self.non_empty_lines),
            1 => self.line_punct_ratio,
            2 => self.short_line_ratio,
            3 => self.char_dup_ratio,
            _ => self.list_ratio,
        })
    }
}

fn ends_with_terminal(line: &str, profile: Profile) -> bool {
    match line.chars().next_back() {
        None => false,
        Some(c) => match profile {
            Profile::Fineweb2024 => matches!(c, '.' | '\'' | '"' | '!' | '?'),
            _ => is_sentence_terminal(c),
        },
    }
}

pub fn measure_text(text: &str, config: &FinewebConfig) -> Fineweb {
    let mut words = Vec::new();
    config.splitter.split(text, &mut words);
    measure_words(text, words.len(), config)
}

/// Measures one document of `word_count` words (under `config.splitter`).
pub fn measure_words(text: &str, word_count: usize, config: &FinewebConfig) -> Fineweb {
    // `text.split('\n')`, cut with memchr; the newlines are counted on the way.
    let mut all_lines: Vec<&str> = Vec::with_capacity(text.len() / 48 + 1);
    let mut start = 0;
    for at in memchr::memchr_iter(b'\n', text.as_bytes()) {
        all_lines.push(&text[start..at]);
        start = at + 1;
    }
    all_lines.push(&text[start..]);
    let newlines = all_lines.len() - 1;
    let lines: Vec<&str> = all_lines
        .iter()
        .copied()
        .filter(|l| !py_strip(l).is_empty())
        .collect();
    let mut out = Fineweb {
        non_empty_lines: lines.len() as u64,
        ..Default::default()
    };
    if lines.is_empty() {
        return out;
    }
    let counted: &[&str] = if config.profile == Profile::Fineweb2024 {
        &all_lines
    } else {
        &lines
    };
    out.line_punct_ratio = ratio(
        counted
            .iter()
            .filter(|l| ends_with_terminal(l, config.profile))
            .count(),
        counted.len(),
    );
    let short = config.short_line_length;
    out.short_line_ratio = ratio(
        counted
            .iter()
            // A line of at most `short` bytes has at most `short` characters, one of more than
            // four times that has more (a character is at most 4 bytes); only others are counted.
            .filter(|l| l.len() <= short || (l.len() <= 4 * short && char_len(l) <= short))
            .count(),
        counted.len(),
    );
    let mut table = KeyIds::default();
    let duplicated = find_duplicates_with(&lines, false, &mut table).1;
    out.char_dup_ratio = ratio(duplicated, char_len(text) - newlines);
    out.list_ratio = ratio(newlines, word_count);
    out
}

/// Measures every row of `column` in parallel (words from `memo` when given).
pub fn compute(
    column: TextColumn<'_>,
    config: &FinewebConfig,
    memo: Option<&WordMemo>,
) -> SignalBatch {
    let measured = map_rows_with(column, Vec::new, |words, text| {
        text.map(|t| {
            config.splitter.split_with(t, words, memo);
            measure_words(t, words.len(), config)
        })
    });
    Fineweb::batch(measured.iter().map(Option::as_ref))
}
