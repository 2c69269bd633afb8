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

/// The MinHash normalisation in one pass over the text. Equivalent to [`simplify_reference`]
/// because each step only looks at one character, except number runs (handled with a lookahead),
/// whitespace runs (a pending space), and two cases that need the whole string: the final-sigma
/// rule of lowercasing, and canonical reordering of combining marks that survive; texts with a
/// capital sigma or a surviving reordered mark take the reference path.
fn simplify(text: &str, is_punctuation: fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let emit = |c: char, out: &mut String, pending: &mut bool| {
        if *pending && !out.is_empty() {
            out.push(' ');
        }
        *pending = false;
        out.push(c);
    };
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < text.len() {
        let b = bytes[i];
        if b.is_ascii() {
            i += 1;
            if b.is_ascii_digit() {
                i = skip_number(text, i);
                emit('0', &mut out, &mut pending_space);
            } else if b.is_ascii_alphabetic() {
                emit(b.to_ascii_lowercase() as char, &mut out, &mut pending_space);
            } else if b == b' ' || is_punctuation(b as char) || is_python_space(b as char) {
                pending_space = true;
            } else {
                emit(b as char, &mut out, &mut pending_space);
            }
            continue;
        }
        let c = text[i..].chars().next().expect("char boundary");
        i += c.len_utf8();
        if c == 'Σ' {
            return simplify_reference(text, is_punctuation);
        }
        if is_decimal_digit(c) {
            i = skip_number(text, i);
            emit('0', &mut out, &mut pending_space);
            continue;
        }
        for lower in c.to_lowercase() {
            if is_punctuation(lower) || is_python_space(lower) {
                pending_space = true;
                continue;
            }
            let mut reordered = false;
            // A pending space is written before the decomposition, so a character that vanishes
            // (a nonspacing mark) leaves the space, exactly as collapsing before NFD does.
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            unicode_normalization::char::decompose_canonical(lower, |d| {
                if get_general_category(d) == GeneralCategory::NonspacingMark {
                    return;
                }
                if unicode_normalization::char::canonical_combining_class(d) != 0 {
                    reordered = true;
                }
                out.push(d);
            });
            if reordered {
                return simplify_reference(text, is_punctuation);
            }
        }
    }
    let trimmed = out.trim_end_matches(is_python_space);
    if trimmed.len() != out.len() {
        out.truncate(trimmed.len());
    }
    if out.starts_with(is_python_space) {
        return out.trim_start_matches(is_python_space).to_string();
    }
    out
}

/// Index after a number that starts with the digit just before `i`: more digits, then an
/// optional separator followed by digits.
fn skip_number(text: &str, mut i: usize) -> usize {
    let digits_from = |mut i: usize| {
        while let Some(c) = text[i..].chars().next() {
            if !is_decimal_digit(c) {
                break;
            }
            i += c.len_utf8();
        }
        i
    };
    i = digits_from(i);
    let mut rest = text[i..].chars();
    if let (Some(sep), Some(next)) = (rest.next(), rest.next()) {
        if is_number_separator(sep) && is_decimal_digit(next) {
            i = digits_from(i + sep.len_utf8());
        }
    }
    i
}

/// The MinHash normalisation step by step, in datatrove's order: lowercase, numbers,
/// punctuation, whitespace, then NFD with nonspacing marks removed, then trim.
fn simplify_reference(text: &str, is_punctuation: fn(char) -> bool) -> String {
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

    #[test]
    fn one_pass_matches_reference_on_edge_cases() {
        for text in [
            "a \u{301} b",
            "\u{301} a",
            "a \u{301}",
            "İstanbul ΣΑΣ",
            "x1.2.3y",
            "١٢٫٣ x",
            "a\u{1c}b",
            "\u{a0}é\u{a0}",
        ] {
            for f in [
                is_datatrove_punctuation as fn(char) -> bool,
                is_unicode_punctuation,
            ] {
                assert_eq!(simplify(text, f), simplify_reference(text, f), "{text:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn one_pass_matches_reference(text in "[a-zA-Z0-9 .,!é\u{301}\u{0327}\u{05b0}\u{0300}ÉΣσ\u{a0}\u{2019}\u{2018}®٣٫\n\t]{0,40}") {
            prop_assert_eq!(simplify(&text, is_datatrove_punctuation), simplify_reference(&text, is_datatrove_punctuation));
            prop_assert_eq!(simplify(&text, is_unicode_punctuation), simplify_reference(&text, is_unicode_punctuation));
        }

        #[test]
        fn one_pass_matches_reference_on_any_text(text in "\\PC{0,40}") {
            prop_assert_eq!(simplify(&text, is_datatrove_punctuation), simplify_reference(&text, is_datatrove_punctuation));
        }

        #[test]
        fn normalisation_never_panics(text in "\\PC{0,64}") {
            for n in [Normalization::Minhash, Normalization::Datatrove, Normalization::Whitespace] {
                let out = n.apply(&text);
                prop_assert!(!out.starts_with(' ') && !out.ends_with(' '));
            }
        }
    }
}
