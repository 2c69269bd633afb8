//! Text normalisation before hashing.
//!
//! The MinHash normalisation lowercases, turns every number into `0`, turns punctuation into
//! spaces, collapses whitespace, decomposes (NFD) and drops nonspacing marks. Two punctuation
//! sets exist: Thresher's own (every Unicode punctuation or symbol character, so `‘quoted’` and
//! `brand®` become plain words) and datatrove's fixed table, used by the datatrove-compatible mode
//! so that signatures match its `simplify_text` bit for bit.

use unicode_general_category::{get_general_category, GeneralCategory};
use unicode_normalization::UnicodeNormalization;

/// How text is normalised before hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalization {
    /// The text as is.
    None,
    /// Whitespace runs collapsed to one space, ends trimmed.
    Whitespace,
    /// The MinHash normalisation with Thresher's punctuation set (all Unicode P* and S*).
    Minhash,
    /// The MinHash normalisation exactly as datatrove's `simplify_text` with default settings.
    Datatrove,
}

impl Normalization {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "whitespace" => Some(Self::Whitespace),
            "minhash" => Some(Self::Minhash),
            "datatrove" => Some(Self::Datatrove),
            _ => None,
        }
    }

    pub fn apply(self, text: &str) -> String {
        match self {
            Self::None => text.to_string(),
            Self::Whitespace => collapse_whitespace(text),
            Self::Minhash => simplify(text, is_unicode_punctuation),
            Self::Datatrove => simplify(text, is_datatrove_punctuation),
        }
    }
}

/// datatrove's `PUNCTUATION` table (printable part); its control-character ranges are below.
const DATATROVE_PUNCTUATION: &str =
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~«´»–—’“”„…∶━►、。〈〉《》「」【】！％（），．１：；？～";

/// True for the characters datatrove's `simplify_text` replaces with a space.
pub fn is_datatrove_punctuation(c: char) -> bool {
    let code = c as u32;
    // Control ranges of the table: 0..9, 11..13, 13..32 and 127..160 (tab and newline excluded).
    if code < 9 || (11..32).contains(&code) || (127..160).contains(&code) {
        return true;
    }
    if c.is_ascii_alphanumeric() || c == ' ' || c == '\t' || c == '\n' {
        return false;
    }
    DATATROVE_PUNCTUATION.contains(c)
}

/// True for Unicode punctuation (P*), symbols (S*) and controls other than whitespace.
pub fn is_unicode_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() || (c.is_ascii_control() && !c.is_ascii_whitespace());
    }
    use GeneralCategory::*;
    matches!(
        get_general_category(c),
        ConnectorPunctuation
            | DashPunctuation
            | OpenPunctuation
            | ClosePunctuation
            | InitialPunctuation
            | FinalPunctuation
            | OtherPunctuation
            | MathSymbol
            | CurrencySymbol
            | ModifierSymbol
            | OtherSymbol
            | Control
    )
}

fn is_decimal_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    get_general_category(c) == GeneralCategory::DecimalNumber
}

/// Decimal separators datatrove allows inside one number (`1.5`, `1,5`, Arabic and others).
fn is_number_separator(c: char) -> bool {
    matches!(c, '.' | ',' | '،' | '٫' | '⎖' | '⎗' | '⎘')
}

/// Replaces each number (`\p{Nd}+` with an optional separator and more digits) by `0`.
fn numbers_to_zero(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_decimal_digit(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        while i < chars.len() && is_decimal_digit(chars[i]) {
            i += 1;
        }
        if i + 1 < chars.len() && is_number_separator(chars[i]) && is_decimal_digit(chars[i + 1]) {
            i += 1;
            while i < chars.len() && is_decimal_digit(chars[i]) {
                i += 1;
            }
        }
        out.push('0');
    }
    out
}

/// Whitespace as Python's `str.isspace` sees it (Rust's definition plus the ASCII separators).
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Collapses whitespace runs to one space and trims both ends.
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(is_python_space).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The MinHash normalisation, in datatrove's order: lowercase, numbers, punctuation, whitespace,
/// then NFD with nonspacing marks removed, then trim.
fn simplify(text: &str, is_punctuation: fn(char) -> bool) -> String {
    let lower = text.to_lowercase();
    let numbers = if lower.chars().any(is_decimal_digit) {
        numbers_to_zero(&lower)
    } else {
        lower
    };
    let spaced: String = numbers
        .chars()
        .map(|c| if is_punctuation(c) { ' ' } else { c })
        .collect();
    let collapsed = collapse_whitespace(&spaced);
    if collapsed.is_ascii() {
        return collapsed;
    }
    let stripped: String = collapsed
        .nfd()
        .filter(|&c| get_general_category(c) != GeneralCategory::NonspacingMark)
        .collect();
    stripped.trim_matches(is_python_space).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn datatrove_simplification_examples() {
        let n = Normalization::Datatrove;
        assert_eq!(n.apply("Hello,  World!\n"), "hello world");
        assert_eq!(n.apply("Price: 1,234.56 USD"), "price 0 0 usd");
        assert_eq!(n.apply("3.14 and 2"), "0 and 0");
        assert_eq!(n.apply("Café déjà vu"), "cafe deja vu");
        // ‘ is not in datatrove's table, ’ is.
        assert_eq!(n.apply("‘quoted’"), "‘quoted");
        assert_eq!(n.apply("brand®"), "brand®");
        assert_eq!(n.apply("tab\there"), "tab here");
        assert_eq!(n.apply(""), "");
        assert_eq!(n.apply("٣٤ items"), "0 items");
    }

    #[test]
    fn thresher_simplification_drops_all_symbols() {
        let n = Normalization::Minhash;
        assert_eq!(n.apply("‘quoted’ brand® £5"), "quoted brand 0");
        assert_eq!(n.apply("ÉTÉ — Noël"), "ete noel");
    }

    #[test]
    fn whitespace_normalisation() {
        assert_eq!(Normalization::Whitespace.apply("  a \n\t b  "), "a b");
        assert_eq!(Normalization::None.apply(" a "), " a ");
    }

    proptest! {
        #[test]
        fn normalisation_never_panics(text in "\\PC{0,64}") {
            for n in [Normalization::Minhash, Normalization::Datatrove, Normalization::Whitespace] {
                let out = n.apply(&text);
                prop_assert!(!out.starts_with(' ') && !out.ends_with(' '));
            }
        }
    }
}
