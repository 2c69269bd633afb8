//! Writing-system detection: which Unicode script most of a document's letters are written in.
//!
//! A cheap signal beside model-based language ID: it needs no model, never confuses Cyrillic with
//! Latin, and flags documents whose script does not fit the language a model predicted. Only
//! letters count (digits, punctuation and spaces are shared by every script).

use std::sync::Arc;

use arrow_array::{ArrayRef, StringArray};

use crate::column::TextColumn;
use crate::parallel::map_rows;
use crate::signals::SignalBatch;

/// Scripts told apart, in a fixed order; `Other` collects letters of any script not listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Script {
    Latin,
    Cyrillic,
    Greek,
    Armenian,
    Georgian,
    Hebrew,
    Arabic,
    Syriac,
    Thaana,
    Devanagari,
    Bengali,
    Gurmukhi,
    Gujarati,
    Oriya,
    Tamil,
    Telugu,
    Kannada,
    Malayalam,
    Sinhala,
    Thai,
    Lao,
    Tibetan,
    Myanmar,
    Ethiopic,
    Khmer,
    Mongolian,
    Hangul,
    Hiragana,
    Katakana,
    Han,
    Other,
}

pub const SCRIPT_NAMES: [&str; 31] = [
    "Latin",
    "Cyrillic",
    "Greek",
    "Armenian",
    "Georgian",
    "Hebrew",
    "Arabic",
    "Syriac",
    "Thaana",
    "Devanagari",
    "Bengali",
    "Gurmukhi",
    "Gujarati",
    "Oriya",
    "Tamil",
    "Telugu",
    "Kannada",
    "Malayalam",
    "Sinhala",
    "Thai",
    "Lao",
    "Tibetan",
    "Myanmar",
    "Ethiopic",
    "Khmer",
    "Mongolian",
    "Hangul",
    "Hiragana",
    "Katakana",
    "Han",
    "Other",
];

impl Script {
    pub fn name(self) -> &'static str {
        SCRIPT_NAMES[self as usize]
    }
}

/// Unicode blocks (start, end inclusive) of each script, sorted by start for binary search.
const RANGES: &[(u32, u32, Script)] = &[
    (0x00C0, 0x024F, Script::Latin),
    (0x0250, 0x02AF, Script::Latin), // IPA extensions
    (0x0370, 0x03FF, Script::Greek),
    (0x0400, 0x052F, Script::Cyrillic),
    (0x0531, 0x058F, Script::Armenian),
    (0x0590, 0x05FF, Script::Hebrew),
    (0x0600, 0x06FF, Script::Arabic),
    (0x0700, 0x074F, Script::Syriac),
    (0x0750, 0x077F, Script::Arabic),
    (0x0780, 0x07BF, Script::Thaana),
    (0x08A0, 0x08FF, Script::Arabic),
    (0x0900, 0x097F, Script::Devanagari),
    (0x0980, 0x09FF, Script::Bengali),
    (0x0A00, 0x0A7F, Script::Gurmukhi),
    (0x0A80, 0x0AFF, Script::Gujarati),
    (0x0B00, 0x0B7F, Script::Oriya),
    (0x0B80, 0x0BFF, Script::Tamil),
    (0x0C00, 0x0C7F, Script::Telugu),
    (0x0C80, 0x0CFF, Script::Kannada),
    (0x0D00, 0x0D7F, Script::Malayalam),
    (0x0D80, 0x0DFF, Script::Sinhala),
    (0x0E00, 0x0E7F, Script::Thai),
    (0x0E80, 0x0EFF, Script::Lao),
    (0x0F00, 0x0FFF, Script::Tibetan),
    (0x1000, 0x109F, Script::Myanmar),
    (0x10A0, 0x10FF, Script::Georgian),
    (0x1100, 0x11FF, Script::Hangul),
    (0x1200, 0x139F, Script::Ethiopic),
    (0x1780, 0x17FF, Script::Khmer),
    (0x1800, 0x18AF, Script::Mongolian),
    (0x1C80, 0x1C8F, Script::Cyrillic),
    (0x1C90, 0x1CBF, Script::Georgian),
    (0x1D00, 0x1DBF, Script::Latin), // phonetic extensions
    (0x1E00, 0x1EFF, Script::Latin),
    (0x1F00, 0x1FFF, Script::Greek),
    (0x2C60, 0x2C7F, Script::Latin),
    (0x2D00, 0x2D2F, Script::Georgian),
    (0x2D80, 0x2DDF, Script::Ethiopic),
    (0x2DE0, 0x2DFF, Script::Cyrillic),
    (0x2E80, 0x2FDF, Script::Han), // radicals
    (0x3005, 0x3007, Script::Han), // ideographic iteration mark, closing mark, number zero
    (0x3021, 0x3029, Script::Han), // Hangzhou numerals
    (0x3040, 0x309F, Script::Hiragana),
    (0x30A0, 0x30FF, Script::Katakana),
    (0x3130, 0x318F, Script::Hangul),
    (0x31F0, 0x31FF, Script::Katakana),
    (0x3400, 0x4DBF, Script::Han),
    (0x4E00, 0x9FFF, Script::Han),
    (0xA640, 0xA69F, Script::Cyrillic),
    (0xA720, 0xA7FF, Script::Latin),
    (0xA960, 0xA97F, Script::Hangul),
    (0xAB30, 0xAB6F, Script::Latin),
    (0xAB70, 0xABBF, Script::Other), // Cherokee supplement
    (0xAC00, 0xD7FF, Script::Hangul),
    (0xF900, 0xFAFF, Script::Han),
    (0xFB00, 0xFB06, Script::Latin),
    (0xFB1D, 0xFB4F, Script::Hebrew),
    (0xFB50, 0xFDFF, Script::Arabic),
    (0xFE70, 0xFEFF, Script::Arabic),
    (0xFF21, 0xFF5A, Script::Latin),    // fullwidth Latin
    (0xFF66, 0xFF9F, Script::Katakana), // halfwidth Katakana
    (0xFFA0, 0xFFDC, Script::Hangul),
    (0x20000, 0x3134F, Script::Han),
];

/// The script of one letter (callers pass letters only).
pub fn script_of(c: char) -> Script {
    let cp = c as u32;
    if cp < 0x80 {
        return if c.is_ascii_alphabetic() {
            Script::Latin
        } else {
            Script::Other
        };
    }
    if cp < 0xC0 {
        return if cp == 0xAA || cp == 0xBA {
            Script::Latin
        } else {
            Script::Other
        };
    }
    let at = RANGES.partition_point(|&(start, _, _)| start <= cp);
    if at > 0 {
        let (_, end, script) = RANGES[at - 1];
        if cp <= end {
            return script;
        }
    }
    Script::Other
}

/// The dominant script of a document and its share of the letters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScriptShare {
    pub script: Script,
    pub fraction: f64,
    pub letters: u64,
}

/// `None` when the text has no letter. Ties go to the script listed first in [`Script`].
pub fn dominant_script(text: &str) -> Option<ScriptShare> {
    let mut counts = [0u64; SCRIPT_NAMES.len()];
    let mut letters = 0u64;
    for c in text.chars() {
        // Marks (Indic vowel signs) are alphabetic for Rust and belong to their letter's script.
        if c.is_alphabetic() {
            counts[script_of(c) as usize] += 1;
            letters += 1;
        }
    }
    if letters == 0 {
        return None;
    }
    let (best, &count) = counts
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
        .expect("non-empty table");
    Some(ScriptShare {
        script: SCRIPT_NAMES_ORDER[best],
        fraction: count as f64 / letters as f64,
        letters,
    })
}

const SCRIPT_NAMES_ORDER: [Script; 31] = [
    Script::Latin,
    Script::Cyrillic,
    Script::Greek,
    Script::Armenian,
    Script::Georgian,
    Script::Hebrew,
    Script::Arabic,
    Script::Syriac,
    Script::Thaana,
    Script::Devanagari,
    Script::Bengali,
    Script::Gurmukhi,
    Script::Gujarati,
    Script::Oriya,
    Script::Tamil,
    Script::Telugu,
    Script::Kannada,
    Script::Malayalam,
    Script::Sinhala,
    Script::Thai,
    Script::Lao,
    Script::Tibetan,
    Script::Myanmar,
    Script::Ethiopic,
    Script::Khmer,
    Script::Mongolian,
    Script::Hangul,
    Script::Hiragana,
    Script::Katakana,
    Script::Han,
    Script::Other,
];

/// Signal names, in output order.
pub const SIGNALS: [&str; 2] = ["script", "script_fraction"];

/// `script` (utf8, null when the text is null or has no letter) and `script_fraction` (the share
/// of letters in that script; 0 when there is no letter).
pub fn compute(column: TextColumn<'_>) -> SignalBatch {
    let measured = map_rows(column, |text| text.map(dominant_script));
    let names: StringArray = measured
        .iter()
        .map(|m| m.flatten().map(|s| s.script.name()))
        .collect();
    let fractions = measured
        .iter()
        .map(|m| m.map(|s| s.map_or(0.0, |s| s.fraction)))
        .collect();
    let mut batch = SignalBatch::default();
    batch.columns.push(("script", Arc::new(names) as ArrayRef));
    batch.push_f64("script_fraction", fractions);
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_sorted_and_disjoint() {
        for pair in RANGES.windows(2) {
            assert!(
                pair[0].1 < pair[1].0,
                "{:x?} overlaps {:x?}",
                pair[0],
                pair[1]
            );
        }
        for (i, s) in SCRIPT_NAMES_ORDER.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }

    #[test]
    fn scripts_of_real_text() {
        let cases = [
            ("The quick brown fox", Script::Latin),
            ("Größe, façade, żółw", Script::Latin),
            ("Съешь же ещё этих мягких булок", Script::Cyrillic),
            ("Καλημέρα κόσμε", Script::Greek),
            ("שלום עולם", Script::Hebrew),
            ("مرحبا بالعالم", Script::Arabic),
            ("नमस्ते दुनिया", Script::Devanagari),
            ("வணக்கம் உலகம்", Script::Tamil),
            ("안녕하세요 세계", Script::Hangul),
            ("你好，世界", Script::Han),
            ("สวัสดีชาวโลก", Script::Thai),
            ("გამარჯობა", Script::Georgian),
            ("Բարեւ աշխարհ", Script::Armenian),
            ("ሰላም ለዓለም", Script::Ethiopic),
        ];
        for (text, want) in cases {
            let got = dominant_script(text).expect("letters");
            assert_eq!(got.script, want, "{text}");
            assert!((got.fraction - 1.0).abs() < 1e-12, "{text}: {got:?}");
        }
    }

    #[test]
    fn mixed_text_reports_the_majority_and_its_share() {
        // 6 Latin letters, 2 Cyrillic letters; digits and punctuation do not count.
        let got = dominant_script("abc def 123 !! жж").unwrap();
        assert_eq!(got.script, Script::Latin);
        assert!((got.fraction - 0.75).abs() < 1e-12);
        assert_eq!(got.letters, 8);
        // Japanese: kana and kanji are separate scripts.
        let ja = dominant_script("ひらがなとカタカナと漢").unwrap();
        assert_eq!(ja.script, Script::Hiragana);
    }

    #[test]
    fn no_letters_no_script() {
        assert_eq!(dominant_script(""), None);
        assert_eq!(dominant_script("123 -- !!"), None);
    }
}
