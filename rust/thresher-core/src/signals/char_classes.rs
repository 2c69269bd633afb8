//! Character-class fractions: how much of a document is letters, digits, punctuation, etc.
//! Language-agnostic (Unicode general categories via `char` methods); cheap junk detectors for
//! tables, code dumps and encoding debris.

use crate::column::TextColumn;
use crate::parallel::map_rows;
use crate::signals::SignalBatch;

#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct CharClasses {
    pub alphabetic_fraction: f64,
    pub digit_fraction: f64,
    pub whitespace_fraction: f64,
    pub uppercase_fraction: f64,
    pub punctuation_fraction: f64,
    pub non_ascii_fraction: f64,
    pub replacement_char_fraction: f64,
}

/// Fractions over all characters of `text`; an empty text gives all zeros.
pub fn measure(text: &str) -> CharClasses {
    let (mut total, mut alpha, mut digit, mut space, mut upper, mut punct, mut non_ascii, mut repl) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for c in text.chars() {
        total += 1;
        if c.is_alphabetic() {
            alpha += 1;
            if c.is_uppercase() {
                upper += 1;
            }
        } else if c.is_numeric() {
            digit += 1;
        } else if c.is_whitespace() {
            space += 1;
        } else if is_punctuation_or_symbol(c) {
            punct += 1;
        }
        if !c.is_ascii() {
            non_ascii += 1;
        }
        if c == '\u{FFFD}' {
            repl += 1;
        }
    }
    if total == 0 {
        return CharClasses::default();
    }
    let frac = |n: u64| n as f64 / total as f64;
    CharClasses {
        alphabetic_fraction: frac(alpha),
        digit_fraction: frac(digit),
        whitespace_fraction: frac(space),
        uppercase_fraction: if alpha == 0 {
            0.0
        } else {
            upper as f64 / alpha as f64
        },
        punctuation_fraction: frac(punct),
        non_ascii_fraction: frac(non_ascii),
        replacement_char_fraction: frac(repl),
    }
}

/// Anything visible that is neither a letter, a number nor whitespace, and not a control or
/// combining mark: ASCII punctuation plus Unicode punctuation and symbols.
fn is_punctuation_or_symbol(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    !(c.is_control() || is_combining_mark(c))
}

/// Common combining-mark and zero-width blocks; marks belong to the letter before them. (Most Indic
/// vowel signs are already alphabetic for Rust, through Unicode's Other_Alphabetic property.)
fn is_combining_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x0610..=0x061A | 0x064B..=0x065F
        | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E
        | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x200B..=0x200F | 0x20D0..=0x20FF | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F)
}

pub const SIGNALS: [&str; 7] = [
    "alphabetic_fraction",
    "digit_fraction",
    "whitespace_fraction",
    "uppercase_fraction",
    "punctuation_fraction",
    "non_ascii_fraction",
    "replacement_char_fraction",
];

pub fn compute(column: TextColumn<'_>) -> SignalBatch {
    let measured = map_rows(column, |text| text.map(measure));
    let pick = |f: fn(&CharClasses) -> f64| measured.iter().map(|m| m.as_ref().map(f)).collect();
    let mut batch = SignalBatch::default();
    batch.push_f64("alphabetic_fraction", pick(|m| m.alphabetic_fraction));
    batch.push_f64("digit_fraction", pick(|m| m.digit_fraction));
    batch.push_f64("whitespace_fraction", pick(|m| m.whitespace_fraction));
    batch.push_f64("uppercase_fraction", pick(|m| m.uppercase_fraction));
    batch.push_f64("punctuation_fraction", pick(|m| m.punctuation_fraction));
    batch.push_f64("non_ascii_fraction", pick(|m| m.non_ascii_fraction));
    batch.push_f64(
        "replacement_char_fraction",
        pick(|m| m.replacement_char_fraction),
    );
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_by_hand() {
        // 10 chars: A b c 1 2 ' ' ! é \u{FFFD} ,
        let m = measure("Abc12 !é\u{FFFD},");
        assert!((m.alphabetic_fraction - 0.4).abs() < 1e-12);
        assert!((m.digit_fraction - 0.2).abs() < 1e-12);
        assert!((m.whitespace_fraction - 0.1).abs() < 1e-12);
        assert!((m.uppercase_fraction - 0.25).abs() < 1e-12);
        assert!((m.punctuation_fraction - 0.3).abs() < 1e-12);
        assert!((m.non_ascii_fraction - 0.2).abs() < 1e-12);
        assert!((m.replacement_char_fraction - 0.1).abs() < 1e-12);
    }

    #[test]
    fn combining_marks_are_not_punctuation() {
        let m = measure("e\u{0301}");
        assert_eq!(m.punctuation_fraction, 0.0);
        assert_eq!(measure(""), CharClasses::default());
    }
}
