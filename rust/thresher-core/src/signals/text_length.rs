//! Language-agnostic size signals: characters, bytes, words, lines.
//!
//! Null texts give null signals, so the caller decides what a missing text means.

use crate::column::TextColumn;
use crate::parallel::map_rows;
use crate::signals::SignalBatch;

#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct TextLength {
    pub chars: u64,
    pub bytes: u64,
    pub words: u64,
    pub lines: u64,
    pub non_empty_lines: u64,
    pub max_line_chars: u64,
}

/// Measures one document in a single pass over its characters (this step sits on the I/O path of
/// every pipeline, so it must cost about as much as reading the text once).
///
/// Lines end at `\n`, `\r\n` or a lone `\r`; a trailing line end does not start an extra line.
/// Words are maximal runs of non-whitespace characters.
pub fn measure(text: &str) -> TextLength {
    let mut out = TextLength {
        bytes: text.len() as u64,
        ..TextLength::default()
    };
    let mut line = LineState::default();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // ASCII fast path: most web text is ASCII, and decoding a char costs more than a table test.
        let (is_line_end, is_space, is_cr) = if b < 0x80 {
            i += 1;
            (
                b == b'\n' || b == b'\r',
                matches!(b, b'\t' | 0x0B | 0x0C | b' '),
                b == b'\r',
            )
        } else {
            let c = text[i..]
                .chars()
                .next()
                .expect("index is on a char boundary");
            i += c.len_utf8();
            (false, c.is_whitespace(), false)
        };
        out.chars += 1;
        if is_line_end {
            let second_half_of_crlf = b == b'\n' && line.after_cr;
            line.after_cr = is_cr;
            line.in_word = false;
            if !second_half_of_crlf {
                line.finish(&mut out);
            }
            continue;
        }
        line.after_cr = false;
        line.chars += 1;
        if is_space {
            line.in_word = false;
        } else {
            line.has_content = true;
            if !line.in_word {
                out.words += 1;
                line.in_word = true;
            }
        }
    }
    if !text.is_empty() && !text.ends_with(['\n', '\r']) {
        line.finish(&mut out);
    }
    out
}

#[derive(Default)]
struct LineState {
    chars: u64,
    has_content: bool,
    in_word: bool,
    after_cr: bool,
}

impl LineState {
    fn finish(&mut self, out: &mut TextLength) {
        out.lines += 1;
        out.non_empty_lines += u64::from(self.has_content);
        out.max_line_chars = out.max_line_chars.max(self.chars);
        self.chars = 0;
        self.has_content = false;
    }
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
    fn single_pass_agrees_with_the_plain_definitions() {
        use crate::text::{lines::lines, words::whitespace_words};
        for text in [
            "a\r\rb",
            "\r\n\r\n",
            "x \u{3000}y\n\n z \r",
            "  lead\ttab\u{a0}nbsp\r\nend",
            "é\u{301}",
        ] {
            let m = measure(text);
            assert_eq!(m.words, whitespace_words(text).count() as u64, "{text:?}");
            assert_eq!(m.lines, lines(text).count() as u64, "{text:?}");
            let non_empty = lines(text).filter(|l| !l.trim().is_empty()).count() as u64;
            assert_eq!(m.non_empty_lines, non_empty, "{text:?}");
            let longest = lines(text)
                .map(|l| l.chars().count() as u64)
                .max()
                .unwrap_or(0);
            assert_eq!(m.max_line_chars, longest, "{text:?}");
            assert_eq!(m.chars, text.chars().count() as u64);
        }
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
