//! Language-agnostic size signals: characters, bytes, words, lines.
//!
//! Null texts give null signals, so the caller decides what a missing text means.

use crate::column::TextColumn;
use crate::parallel::map_rows;
use crate::signals::SignalBatch;
use crate::text::{lines::lines, words::whitespace_words};

#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct TextLength {
    pub chars: u64,
    pub bytes: u64,
    pub words: u64,
    pub lines: u64,
    pub non_empty_lines: u64,
    pub max_line_chars: u64,
}

/// Measures one document.
pub fn measure(text: &str) -> TextLength {
    let mut out = TextLength {
        chars: text.chars().count() as u64,
        bytes: text.len() as u64,
        words: whitespace_words(text).count() as u64,
        ..TextLength::default()
    };
    for line in lines(text) {
        out.lines += 1;
        if !line.trim().is_empty() {
            out.non_empty_lines += 1;
        }
        out.max_line_chars = out.max_line_chars.max(line.chars().count() as u64);
    }
    out
}

/// Signal names, in output order.
pub const SIGNALS: [&str; 6] = [
    "chars",
    "bytes",
    "words",
    "lines",
    "non_empty_lines",
    "max_line_chars",
];

/// Measures every row of `column` in parallel.
pub fn compute(column: TextColumn<'_>) -> SignalBatch {
    let measured = map_rows(column, |text| text.map(measure));
    let pick = |f: fn(&TextLength) -> u64| measured.iter().map(|m| m.as_ref().map(f)).collect();
    let mut batch = SignalBatch::default();
    batch.push_u64("chars", pick(|m| m.chars));
    batch.push_u64("bytes", pick(|m| m.bytes));
    batch.push_u64("words", pick(|m| m.words));
    batch.push_u64("lines", pick(|m| m.lines));
    batch.push_u64("non_empty_lines", pick(|m| m.non_empty_lines));
    batch.push_u64("max_line_chars", pick(|m| m.max_line_chars));
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, StringArray, UInt64Array};

    #[test]
    fn measures_by_hand() {
        let m = measure("héllo world\r\n\r\nsecond line here\n");
        assert_eq!(m.chars, 32);
        assert_eq!(m.bytes, 33);
        assert_eq!(m.words, 5);
        assert_eq!(m.lines, 3);
        assert_eq!(m.non_empty_lines, 2);
        assert_eq!(m.max_line_chars, 16);
    }

    #[test]
    fn empty_and_whitespace_only() {
        assert_eq!(measure(""), TextLength::default());
        let m = measure(" \n\t");
        assert_eq!((m.words, m.lines, m.non_empty_lines), (0, 2, 0));
    }

    #[test]
    fn nulls_stay_null() {
        let column = StringArray::from(vec![Some("a b"), None]);
        let batch = compute(TextColumn::try_new(&column).unwrap());
        let words = batch
            .get("words")
            .unwrap()
            .as_any()
            .downcast_ref::<UInt64Array>()
            .unwrap();
        assert_eq!(words.value(0), 2);
        assert!(words.is_null(1));
        assert_eq!(batch.columns.len(), SIGNALS.len());
    }
}
