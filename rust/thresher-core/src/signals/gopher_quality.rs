//! Gopher quality signals (Rae et al. 2021, MassiveText appendix A): word count, word length,
//! symbol ratios, bullet and ellipsis lines, words with a letter, stop words.
//!
//! Under `Datatrove` (and `Fineweb2024`, `C4Original`) the numbers are datatrove's: words from the
//! configured splitter (the English rule-based one by default, punctuation tokens included), the
//! length rules over words that are not only punctuation, `#` and ellipses counted in the raw text
//! over all tokens, lines from `splitlines`. `Dclm` and `Dolma` use whitespace words (DCLM counts
//! its length rules over Unicode words without punctuation), a combined symbol ratio, their own
//! bullet and ellipsis marks, and (dolma) the median word length.

use std::collections::HashSet;

use crate::column::TextColumn;
use crate::parallel::map_rows_with;
use crate::signals::heuristic_text::{
    char_len, count_substr, is_datatrove_punctuation, py_isalpha, py_splitlines, ratio, Profile,
};
use crate::signals::{SignalBatch, SignalKind, SignalRow, SignalValue};
use crate::text::splitters::WordSplitter;
use crate::text::word_memo::WordMemo;

pub struct GopherQualityConfig {
    pub profile: Profile,
    pub splitter: WordSplitter,
    pub stop_words: HashSet<String, ahash::RandomState>,
    /// First bytes and longest length of the stop words: most words are ruled out without hashing.
    first_bytes: [bool; 256],
    max_len: usize,
    /// A short list (Gopher's eight) by first byte, compared directly instead of hashed.
    by_first_byte: Option<Vec<Vec<Box<[u8]>>>>,
}

/// Stop-word lists up to this size are searched by first byte rather than hashed.
const SHORT_LIST: usize = 32;

impl GopherQualityConfig {
    pub fn new(
        profile: Profile,
        splitter: WordSplitter,
        stop_words: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut set: HashSet<String, ahash::RandomState> =
            HashSet::with_hasher(ahash::RandomState::with_seeds(9, 10, 11, 12));
        set.extend(stop_words);
        let mut first_bytes = [false; 256];
        for w in &set {
            if let Some(&b) = w.as_bytes().first() {
                first_bytes[b as usize] = true;
                // DCLM lower-cases before the lookup: accept the upper-case first byte too.
                first_bytes[b.to_ascii_uppercase() as usize] = true;
            }
        }
        let max_len = set.iter().map(String::len).max().unwrap_or(0);
        let by_first_byte = (set.len() <= SHORT_LIST).then(|| {
            let mut lists = vec![Vec::new(); 256];
            for w in &set {
                if let Some(&b) = w.as_bytes().first() {
                    lists[b as usize].push(w.as_bytes().into());
                }
            }
            lists
        });
        Self {
            profile,
            splitter,
            stop_words: set,
            first_bytes,
            max_len,
            by_first_byte,
        }
    }

    fn may_be_stop_word(&self, w: &str) -> bool {
        w.len() <= self.max_len
            && w.as_bytes()
                .first()
                .is_some_and(|&b| self.first_bytes[b as usize] || b >= 0x80)
    }

    fn is_stop_word(&self, w: &str) -> bool {
        if !self.may_be_stop_word(w) {
            return false;
        }
        match &self.by_first_byte {
            Some(lists) => lists[w.as_bytes()[0] as usize]
                .iter()
                .any(|s| **s == *w.as_bytes()),
            None => self.stop_words.contains(w),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GopherQuality {
    pub word_count: u64,
    pub avg_word_length: f64,
    pub hash_ratio: f64,
    pub ellipsis_ratio: f64,
    pub symbol_ratio: f64,
    pub bullet_lines_ratio: f64,
    pub ellipsis_lines_ratio: f64,
    pub alpha_words_ratio: f64,
    pub stop_words: u64,
}

pub const SIGNALS: [&str; 9] = [
    "word_count",
    "avg_word_length",
    "hash_ratio",
    "ellipsis_ratio",
    "symbol_ratio",
    "bullet_lines_ratio",
    "ellipsis_lines_ratio",
    "alpha_words_ratio",
    "stop_words",
];

impl SignalRow for GopherQuality {
    const NAMES: &'static [&'static str] = &SIGNALS;
    const KINDS: &'static [SignalKind] = &{
        let mut kinds = [SignalKind::Fraction; 9];
        kinds[0] = SignalKind::Count;
        kinds[8] = SignalKind::Count;
        kinds
    };

    fn value(&self, signal: usize) -> SignalValue {
        SignalValue::Fraction(match signal {
            0 => return SignalValue::Count(self.word_count),
            1 => self.avg_word_length,
            2 => self.hash_ratio,
            3 => self.ellipsis_ratio,
            4 => self.symbol_ratio,
            5 => self.bullet_lines_ratio,
            6 => self.ellipsis_lines_ratio,
            7 => self.alpha_words_ratio,
            _ => return SignalValue::Count(self.stop_words),
        })
    }
}

fn has_non_punct(word: &str) -> bool {
    word.chars().any(|c| !is_datatrove_punctuation(c))
}

fn mean_len(words: &[&str]) -> f64 {
    if words.is_empty() {
        return 0.0;
    }
    words.iter().map(|w| char_len(w)).sum::<usize>() as f64 / words.len() as f64
}

fn median_len(words: &[&str]) -> f64 {
    if words.is_empty() {
        return 0.0;
    }
    let mut lens: Vec<usize> = words.iter().map(|w| char_len(w)).collect();
    lens.sort_unstable();
    let mid = lens.len() / 2;
    if lens.len() % 2 == 1 {
        lens[mid] as f64
    } else {
        (lens[mid - 1] + lens[mid]) as f64 / 2.0
    }
}

/// What one pass over the words counts: words not all punctuation and their characters, words with
/// a letter, and stop words (case-sensitive: every occurrence, and distinct ones).
struct WordPass {
    content: usize,
    content_chars: usize,
    alpha: usize,
    stop_word_occurrences: usize,
    distinct_stop_words: usize,
}

/// Per ASCII byte: bit 0 when it is not datatrove punctuation ([`is_datatrove_punctuation`]), bit 1
/// when it is a letter.
static ASCII_WORD_CLASS: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let byte = b as u8;
        let punct = byte.is_ascii_punctuation()
            || (byte < 0x20 && byte != b'\t' && byte != b'\n')
            || byte == 0x7F;
        table[b] = (!punct as u8) | ((byte.is_ascii_alphabetic() as u8) << 1);
        b += 1;
    }
    table
};

impl WordPass {
    fn over(words: &[&str], config: &GopherQualityConfig) -> Self {
        let mut pass = Self {
            content: 0,
            content_chars: 0,
            alpha: 0,
            stop_word_occurrences: 0,
            distinct_stop_words: 0,
        };
        let mut distinct: Vec<&str> = Vec::new();
        for &w in words {
            let bytes = w.as_bytes();
            // One pass over an ASCII word: OR of its bytes' classes (a high bit means non-ASCII).
            let mut class = 0u8;
            let mut high = 0u8;
            for &b in bytes {
                high |= b;
                class |= ASCII_WORD_CLASS[(b & 0x7F) as usize];
            }
            let (counts, has_letter, chars) = if high < 0x80 {
                (class & 1 != 0, class & 2 != 0, bytes.len())
            } else {
                (has_non_punct(w), w.chars().any(py_isalpha), char_len(w))
            };
            if counts {
                pass.content += 1;
                pass.content_chars += chars;
            }
            pass.alpha += usize::from(has_letter);
            if config.is_stop_word(w) {
                pass.stop_word_occurrences += 1;
                if !distinct.contains(&w) {
                    distinct.push(w);
                }
            }
        }
        pass.distinct_stop_words = distinct.len();
        pass
    }
}

impl GopherQualityConfig {
    /// The splitter whose words [`measure_words`] expects: DCLM and dolma count whitespace words.
    pub fn word_splitter(&self) -> WordSplitter {
        match self.profile {
            Profile::Dclm | Profile::Dolma => WordSplitter::Whitespace,
            _ => self.splitter,
        }
    }
}

/// Measures one document whose words (split by `config.word_splitter()`) are given.
pub fn measure_words(text: &str, words: &[&str], config: &GopherQualityConfig) -> GopherQuality {
    measure_words_lines(text, words, &py_splitlines(text), config)
}

/// [`measure_words`] with the text's `splitlines()` given.
pub fn measure_words_lines(
    text: &str,
    words: &[&str],
    lines: &[&str],
    config: &GopherQualityConfig,
) -> GopherQuality {
    let profile = config.profile;
    let n_words = words.len();
    let mut out = GopherQuality::default();
    let pass = WordPass::over(words, config);

    match profile {
        Profile::Dclm => {
            // Length rules over Unicode words (punctuation ignored), the rest over whitespace words.
            let mut unicode_words = Vec::new();
            WordSplitter::Uax29.split(text, &mut unicode_words);
            out.word_count = unicode_words.len() as u64;
            out.avg_word_length = mean_len(words);
        }
        Profile::Dolma => {
            out.word_count = n_words as u64;
            out.avg_word_length = median_len(words);
        }
        _ => {
            out.word_count = pass.content as u64;
            out.avg_word_length = if pass.content == 0 {
                0.0
            } else {
                pass.content_chars as f64 / pass.content as f64
            };
        }
    }

    let hashes = count_substr(text, "#");
    let ellipses = count_substr(text, "...") + count_substr(text, "…");
    out.hash_ratio = ratio(hashes, n_words);
    out.ellipsis_ratio = ratio(ellipses, n_words);
    out.symbol_ratio = match profile {
        Profile::Dolma => ratio(
            words
                .iter()
                .filter(|w| w.contains('#') || w.contains('…'))
                .count(),
            n_words,
        ),
        Profile::Dclm => ratio(hashes + ellipses + count_substr(text, ". . ."), n_words),
        _ => ratio(hashes + ellipses, n_words),
    };

    let bullet = |line: &str| {
        let l = line.trim_start_matches(crate::text::english::is_py_space);
        match profile {
            Profile::Dolma => l.starts_with('*') || l.starts_with('-'),
            Profile::Dclm => l.starts_with(['●', '•', '*', '-']),
            _ => l.starts_with('•') || l.starts_with('-'),
        }
    };
    let ends_ellipsis = |line: &str| {
        let l = line.trim_end_matches(crate::text::english::is_py_space);
        match profile {
            Profile::Dolma => l.ends_with('…'),
            _ => l.ends_with("...") || l.ends_with('…'),
        }
    };
    out.bullet_lines_ratio = ratio(lines.iter().filter(|l| bullet(l)).count(), lines.len());
    out.ellipsis_lines_ratio = ratio(
        lines.iter().filter(|l| ends_ellipsis(l)).count(),
        lines.len(),
    );
    out.alpha_words_ratio = ratio(pass.alpha, n_words);

    out.stop_words = match profile {
        // datatrove >= 0.5: distinct stop words, case-sensitive.
        Profile::Datatrove | Profile::C4Original => pass.distinct_stop_words as u64,
        // Earlier datatrove and dolma: every occurrence, case-sensitive.
        Profile::Fineweb2024 | Profile::Dolma => pass.stop_word_occurrences as u64,
        // DCLM: every occurrence, lower-cased.
        Profile::Dclm => words
            .iter()
            .filter(|w| config.may_be_stop_word(w) && config.stop_words.contains(&w.to_lowercase()))
            .count() as u64,
    };
    out
}

/// Measures every row of `column` in parallel (words from `memo` when given).
pub fn compute(
    column: TextColumn<'_>,
    config: &GopherQualityConfig,
    memo: Option<&WordMemo>,
) -> SignalBatch {
    let measured = map_rows_with(column, Vec::new, |words, text| {
        text.map(|t| {
            config.word_splitter().split_with(t, words, memo);
            measure_words(t, words, config)
        })
    });
    GopherQuality::batch(measured.iter().map(Option::as_ref))
}

/// Measures one document (convenience for tests and callers outside a column).
pub fn measure_text(text: &str, config: &GopherQualityConfig) -> GopherQuality {
    let mut words = Vec::new();
    config.word_splitter().split(text, &mut words);
    measure_words(text, &words, config)
}
