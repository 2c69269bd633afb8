//! RefinedWeb line corrections (Penedo et al. 2023) as reproduced by DCLM
//! (`dclm_baseline_refinedweb.yaml`, `baselines/mappers/modifiers.py`): lines that are mostly
//! upper case, only digits, social-media counters ("3 likes") or a single word are removed; in
//! short lines (at most 10 words) the boilerplate "items in cart", a leading "sign-in" and a
//! trailing "Read more..." are cut out. The document is rewritten; the share of its whitespace words
//! that were removed decides whether it is kept.

use std::sync::{Arc, OnceLock};

use arrow_array::{ArrayRef, LargeStringArray};
use regex::Regex;

use crate::column::TextColumn;
use crate::parallel::map_rows;
use crate::signals::heuristic_text::{char_len, py_isdigit_char, py_isupper_char, ratio};
use crate::signals::{SignalBatch, SignalKind, SignalRow, SignalValue};
use crate::text::english::is_py_space;

pub struct RefinedwebConfig {
    pub max_uppercase_ratio: f64,
    pub max_numeric_ratio: f64,
    pub remove_counters: bool,
    pub min_words_per_line: usize,
    pub max_words_for_substrings: usize,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RefinedwebResult {
    pub words_before: u64,
    pub words_after: u64,
    pub removed_word_ratio: f64,
    pub lines_removed: u64,
    pub text_modified: bool,
    pub text: String,
}

pub const SIGNALS: [&str; 5] = [
    "words_before",
    "words_after",
    "removed_word_ratio",
    "lines_removed",
    "text_modified",
];

impl SignalRow for RefinedwebResult {
    const NAMES: &'static [&'static str] = &SIGNALS;
    const KINDS: &'static [SignalKind] = &[
        SignalKind::Count,
        SignalKind::Count,
        SignalKind::Fraction,
        SignalKind::Count,
        SignalKind::Count,
    ];

    fn value(&self, signal: usize) -> SignalValue {
        SignalValue::Count(match signal {
            0 => self.words_before,
            1 => self.words_after,
            2 => return SignalValue::Fraction(self.removed_word_ratio),
            3 => self.lines_removed,
            _ => self.text_modified as u64,
        })
    }
}

fn counter_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^\W*\d(?:,|\.|\d)*(?:K|k|M|m|B|b)?\s+(?:likes|shares|comments|retweets|reposts|quotes|bookmarks|upvotes|downvotes|downloads|views|followers)\W*$",
        )
        .expect("counter pattern")
    })
}

fn word_count(s: &str) -> usize {
    s.split(is_py_space).filter(|w| !w.is_empty()).count()
}

/// Removes the first case-insensitive (ASCII) occurrence of `needle` from `line`.
fn remove_substring_ci(line: &str, needle: &str) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    lower
        .find(needle)
        .map(|at| format!("{}{}", &line[..at], &line[at + needle.len()..]))
}

fn fraction(line: &str, pred: fn(char) -> bool) -> f64 {
    let n = char_len(line);
    ratio(line.chars().filter(|&c| pred(c)).count(), n)
}

pub fn measure_text(text: &str, config: &RefinedwebConfig) -> RefinedwebResult {
    let mut out = RefinedwebResult {
        words_before: word_count(text) as u64,
        ..Default::default()
    };
    let mut kept: Vec<String> = Vec::new();
    for line in text.split('\n') {
        if !line.is_empty() {
            if fraction(line, py_isupper_char) > config.max_uppercase_ratio
                || fraction(line, py_isdigit_char) > config.max_numeric_ratio
            {
                out.lines_removed += 1;
                continue;
            }
            if config.remove_counters && counter_regex().is_match(&line.trim().to_lowercase()) {
                out.lines_removed += 1;
                continue;
            }
        }
        let words = word_count(line);
        if words < config.min_words_per_line {
            out.lines_removed += 1;
            continue;
        }
        let mut line = line.to_string();
        if words <= config.max_words_for_substrings {
            if let Some(cut) = remove_substring_ci(&line, "items in cart") {
                line = cut;
            }
            let trimmed_end = line.trim_end();
            if trimmed_end.to_ascii_lowercase().ends_with("read more...") {
                line = trimmed_end[..trimmed_end.len() - "read more...".len()].to_string();
            }
            let trimmed_start = line.trim_start();
            if trimmed_start.to_ascii_lowercase().starts_with("sign-in") {
                line = trimmed_start["sign-in".len()..].to_string();
            }
        }
        kept.push(line);
    }
    out.text = kept.join("\n");
    out.words_after = word_count(&out.text) as u64;
    out.removed_word_ratio = ratio(
        out.words_before.saturating_sub(out.words_after) as usize,
        out.words_before as usize,
    );
    out.text_modified = out.text != text;
    out
}

/// Signals of every row and the rewritten texts (nulls stay null).
pub fn compute(column: TextColumn<'_>, config: &RefinedwebConfig) -> (SignalBatch, ArrayRef) {
    let measured = map_rows(column, |text| text.map(|t| measure_text(t, config)));
    let batch = RefinedwebResult::batch(measured.iter().map(Option::as_ref));
    let texts: LargeStringArray = measured
        .iter()
        .map(|m| m.as_ref().map(|m| m.text.as_str()))
        .collect();
    (batch, Arc::new(texts))
}
