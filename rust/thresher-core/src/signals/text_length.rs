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

/// Measures one document line by line, decoding characters only in non-ASCII lines (this step sits on the I/O path of
/// every pipeline, so it must cost about as much as reading the text once).
///
/// Lines end at `\n`, `\r\n` or a lone `\r`; a trailing line end does not start an extra line.
/// Words are maximal runs of non-whitespace characters.
pub fn measure(text: &str) -> TextLength {
    let bytes = text.as_bytes();
    let mut out = TextLength {
        bytes: bytes.len() as u64,
        ..TextLength::default()
    };
    let mut pos = 0;
    while pos < bytes.len() {
        // Line ends are ASCII, so memchr over the bytes never splits a character.
        let end = memchr::memchr2(b'\n', b'\r', &bytes[pos..]).map_or(bytes.len(), |p| pos + p);
        let (chars, words) = measure_line(&text[pos..end]);
        out.chars += chars;
        out.words += words;
        out.lines += 1;
        out.non_empty_lines += u64::from(words > 0);
        out.max_line_chars = out.max_line_chars.max(chars);
        if end == bytes.len() {
            break;
        }
        let line_end = if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        out.chars += line_end as u64;
        pos = end + line_end;
    }
    out
}

/// Characters and words of one line (no line end inside). Most lines of web text are ASCII even
/// when their document is not: those take a byte loop with no character decoding.
fn measure_line(line: &str) -> (u64, u64) {
    let mut words = 0u64;
    let mut previous_was_space = true;
    if line.is_ascii() {
        for &b in line.as_bytes() {
            let space = ASCII_SPACE[b as usize];
            words += u64::from(previous_was_space & !space);
            previous_was_space = space;
        }
        return (line.len() as u64, words);
    }
    let mut chars = 0u64;
    for c in line.chars() {
        chars += 1;
        let space = c.is_whitespace();
        words += u64::from(previous_was_space & !space);
        previous_was_space = space;
    }
    (chars, words)
}

/// ASCII white space as Unicode's White_Space property has it (line ends never reach the table).
const ASCII_SPACE: [bool; 128] = {
    let mut table = [false; 128];
    table[b'\t' as usize] = true;
    table[0x0B] = true;
    table[0x0C] = true;
    table[b' ' as usize] = true;
    table
};

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
