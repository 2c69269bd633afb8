//! Gopher quality signals (Rae et al. 2021, MassiveText appendix A): word count, word length,
//! symbol ratios, bullet and ellipsis lines, words with a letter, stop words.
//!
//! Under `Datatrove` (and `Fineweb2024`, `C4Original`) the numbers are datatrove's: words from the
//! configured splitter (the English rule-based one by default, punctuation tokens included), the
//! length rules over words that are not only punctuation, `#` and ellipses counted in the raw text
//! over all tokens, lines from `splitlines`. `Dclm` and `Dolma` use whitespace words (DCLM counts
//! its length rules over Unicode words without punctuation), a combined symbol ratio, their own
//! bullet and ellipsis marks, and (dolma) the median word length.

use std::collections::{HashMap, HashSet};

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
    /// Each stop word's index (distinct ones are counted in a bit set of these).
    index: HashMap<String, u32, ahash::RandomState>,
    /// First bytes and longest length of the stop words: most words are ruled out without hashing.
    first_bytes: [bool; 256],
    max_len: usize,
    /// A short list (Gopher's eight) by first byte, compared directly instead of hashed: each
    /// word as its bytes packed into an integer (words of up to 8 bytes), or its bytes, with its
    /// index.
    by_first_byte: Option<Vec<Vec<(ShortStopWord, u32)>>>,
    /// The short list's words of up to 8 bytes in a collision-free table keyed by their packed
    /// bytes: one multiply and one comparison tell whether a short ASCII word is one of them.
    packed_table: Option<PackedTable>,
}

/// A table of packed words (bytes little-endian, zero-padded, at most 8) without collisions:
/// slot `(packed * multiplier) >> shift` holds (packed, length, index + 1), index 0 where empty.
/// The length is kept because a word may hold NUL bytes ("th\0" packs as "th" does).
struct PackedTable {
    multiplier: u64,
    shift: u32,
    slots: Vec<(u64, u32, u32)>,
}

impl PackedTable {
    /// A table for `words` ((packed, length, index), distinct), if a multiplier without
    /// collisions is found among the first thousand tried.
    fn build(words: &[(u64, u32, u32)]) -> Option<Self> {
        let bits = ((words.len().max(1) * 4)
            .next_power_of_two()
            .trailing_zeros())
        .max(4);
        let shift = 64 - bits;
        let mut multiplier = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..1000 {
            let mut slots = vec![(0u64, 0u32, 0u32); 1 << bits];
            let fits = words.iter().all(|&(packed, len, index)| {
                let slot = &mut slots[(packed.wrapping_mul(multiplier) >> shift) as usize];
                let free = slot.2 == 0;
                *slot = (packed, len, index + 1);
                free
            });
            if fits {
                return Some(Self {
                    multiplier,
                    shift,
                    slots,
                });
            }
            // The next odd multiplier of a splitmix64 sequence.
            multiplier = multiplier.wrapping_add(0x9E37_79B9_7F4A_7C15);
            multiplier = (multiplier ^ (multiplier >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1;
        }
        None
    }

    #[inline]
    fn index_of(&self, packed: u64, len: usize) -> Option<u32> {
        let (key, key_len, index) =
            self.slots[(packed.wrapping_mul(self.multiplier) >> self.shift) as usize];
        (index != 0 && key == packed && key_len as usize == len).then(|| index - 1)
    }
}

#[derive(Clone)]
enum ShortStopWord {
    /// Length and bytes (little-endian, zero-padded) of a word of up to 8 bytes.
    Packed(usize, u64),
    Long(Box<[u8]>),
}

impl ShortStopWord {
    fn new(w: &str) -> Self {
        let b = w.as_bytes();
        if b.len() <= 8 {
            let mut buf = [0u8; 8];
            buf[..b.len()].copy_from_slice(b);
            Self::Packed(b.len(), u64::from_le_bytes(buf))
        } else {
            Self::Long(b.into())
        }
    }
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
        let mut sorted: Vec<&String> = set.iter().collect();
        sorted.sort();
        let index: HashMap<String, u32, ahash::RandomState> = sorted
            .iter()
            .enumerate()
            .map(|(i, w)| ((*w).clone(), i as u32))
            .collect();
        let by_first_byte = (set.len() <= SHORT_LIST).then(|| {
            let mut lists = vec![Vec::new(); 256];
            for (w, &i) in &index {
                if let Some(&b) = w.as_bytes().first() {
                    lists[b as usize].push((ShortStopWord::new(w), i));
                }
            }
            lists
        });
        let packed_table = by_first_byte.as_ref().and_then(|_| {
            let packed: Vec<(u64, u32, u32)> = index
                .iter()
                .filter(|(w, _)| !w.is_empty() && w.len() <= 8)
                .map(|(w, &i)| {
                    let mut buf = [0u8; 8];
                    buf[..w.len()].copy_from_slice(w.as_bytes());
                    (u64::from_le_bytes(buf), w.len() as u32, i)
                })
                .collect();
            PackedTable::build(&packed)
        });
        Self {
            profile,
            splitter,
            stop_words: set,
            index,
            first_bytes,
            max_len,
            by_first_byte,
            packed_table,
        }
    }

    fn may_be_stop_word(&self, w: &str) -> bool {
        w.len() <= self.max_len
            && w.as_bytes()
                .first()
                .is_some_and(|&b| self.first_bytes[b as usize] || b >= 0x80)
    }

    /// The index of `w` among the stop words, if it is one; `packed` is its bytes as
    /// [`ShortStopWord::Packed`] holds them when it has at most 8.
    fn stop_word_index(&self, w: &str, packed: Option<u64>) -> Option<u32> {
        if !self.may_be_stop_word(w) {
            return None;
        }
        match &self.by_first_byte {
            Some(lists) => lists[w.as_bytes()[0] as usize]
                .iter()
                .find(|(s, _)| match s {
                    ShortStopWord::Packed(len, bytes) => {
                        *len == w.len()
                            && packed.map_or_else(
                                || w.as_bytes() == &bytes.to_le_bytes()[..*len],
                                |p| p == *bytes,
                            )
                    }
                    ShortStopWord::Long(bytes) => **bytes == *w.as_bytes(),
                })
                .map(|&(_, i)| i),
            None => self.index.get(w).copied(),
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

const ONES: u64 = 0x0101_0101_0101_0101;
/// `LOW_BYTES[n]`: the low `n` bytes of a word set.
const LOW_BYTES: [u64; 9] = {
    let mut masks = [0u64; 9];
    let mut n = 1;
    while n <= 8 {
        masks[n] = u64::MAX >> (64 - 8 * n);
        n += 1;
    }
    masks
};
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether some byte of `x` (every byte below 0x80) lies strictly between `m` and `n`
/// (0 <= m <= 127, 0 <= n <= 128), for all eight bytes at once.
#[inline]
fn any_byte_between(x: u64, m: u64, n: u64) -> bool {
    let low7 = x & (ONES * 127);
    (ONES * (127 + n)).wrapping_sub(low7) & !x & (low7 + ONES * (127 - m)) & HIGHS != 0
}

/// An ASCII word's two classes: it has a letter or digit (so it is not all datatrove
/// punctuation: a word holds no whitespace), and it has a letter; and its bytes packed into an
/// integer when it has at most 8. `None` for a non-ASCII word.
/// Words are read eight bytes at a time; a word of up to eight bytes with one load from `text`,
/// which holds it (bytes past the word are masked to 0, neither a letter nor a digit).
#[inline]
fn ascii_word_classes(text: &[u8], w: &str) -> Option<(bool, bool, Option<u64>)> {
    let b = w.as_bytes();
    let len = b.len();
    if len == 0 {
        return Some((false, false, Some(0)));
    }
    if len <= 8 {
        let off = (w.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        let eight = match text.get(off..off.wrapping_add(8)) {
            Some(eight) if off.wrapping_add(len) <= text.len() => {
                u64::from_le_bytes(eight.try_into().expect("8 bytes"))
            }
            _ => {
                let mut buf = [0u8; 8];
                buf[..len].copy_from_slice(b);
                u64::from_le_bytes(buf)
            }
        };
        let packed = eight & (u64::MAX >> (64 - 8 * len));
        return classes_of(packed).map(|(alnum, alpha)| (alnum, alpha, Some(packed)));
    }
    // Eight bytes at a time, the last read overlapping the one before.
    let (mut alnum, mut alpha) = (false, false);
    let mut at = 0;
    loop {
        let start = at.min(len - 8);
        let (n, a) = classes_of(u64::from_le_bytes(
            b[start..start + 8].try_into().expect("8 bytes"),
        ))?;
        alnum |= n;
        alpha |= a;
        if start + 8 == len {
            return Some((alnum, alpha, None));
        }
        at += 8;
    }
}

/// (has a letter or digit, has a letter) of eight ASCII bytes; `None` when one is not ASCII.
#[inline]
fn classes_of(x: u64) -> Option<(bool, bool)> {
    if x & HIGHS != 0 {
        return None;
    }
    let lower = x | (ONES * 0x20);
    let alpha = any_byte_between(lower, b'a' as u64 - 1, b'z' as u64 + 1);
    let digit = any_byte_between(x, b'0' as u64 - 1, b'9' as u64 + 1);
    Some((alpha || digit, alpha))
}

impl WordPass {
    fn over(text: &str, words: &[&str], config: &GopherQualityConfig) -> Self {
        let mut pass = Self {
            content: 0,
            content_chars: 0,
            alpha: 0,
            stop_word_occurrences: 0,
            distinct_stop_words: 0,
        };
        // Distinct stop words: one bit per stop word index (the first 64 in a register).
        let mut seen_low = 0u64;
        let mut seen_high: Vec<u64> = Vec::new();
        let bytes = text.as_bytes();
        let base = bytes.as_ptr() as usize;
        for &w in words {
            // Most words: ASCII, at most 8 bytes, read with one load; stop words looked up in the
            // packed table. Others take the general path below.
            let len = w.len();
            let off = (w.as_ptr() as usize).wrapping_sub(base);
            if let (Some(table), true) = (&config.packed_table, (1..=8).contains(&len)) {
                if let Some(eight) = bytes.get(off..off.wrapping_add(8)) {
                    let x = u64::from_le_bytes(eight.try_into().expect("8 bytes")) & LOW_BYTES[len];
                    if let Some((alnum, alpha)) = classes_of(x) {
                        pass.content += usize::from(alnum);
                        pass.content_chars += len * usize::from(alnum);
                        pass.alpha += usize::from(alpha);
                        if let Some(i) = table.index_of(x, len) {
                            pass.stop_word_occurrences += 1;
                            seen_low |= 1 << i; // short lists have fewer than 64 words
                        }
                        continue;
                    }
                }
            }
            let (counts, has_letter, chars, packed) = match ascii_word_classes(text.as_bytes(), w) {
                Some((counts, has_letter, packed)) => (counts, has_letter, w.len(), packed),
                None => (
                    has_non_punct(w),
                    w.chars().any(py_isalpha),
                    char_len(w),
                    None,
                ),
            };
            // Without branches: punctuation tokens and words alternate unpredictably.
            pass.content += usize::from(counts);
            pass.content_chars += chars * usize::from(counts);
            pass.alpha += usize::from(has_letter);
            if let Some(i) = config.stop_word_index(w, packed) {
                pass.stop_word_occurrences += 1;
                if i < 64 {
                    seen_low |= 1 << i;
                } else {
                    let (word, bit) = ((i / 64) as usize - 1, i % 64);
                    if seen_high.len() <= word {
                        seen_high.resize(word + 1, 0);
                    }
                    seen_high[word] |= 1 << bit;
                }
            }
        }
        pass.distinct_stop_words = seen_low.count_ones() as usize
            + seen_high
                .iter()
                .map(|b| b.count_ones() as usize)
                .sum::<usize>();
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
    let pass = WordPass::over(text, words, config);

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::signals::heuristic_text::is_datatrove_punctuation;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The eight-bytes-at-a-time classes equal a byte-by-byte look, words of any length.
        #[test]
        fn ascii_word_classes_equal_the_byte_by_byte_ones(
            text in r"[ -~\x00-\x1f]{0,40}",
            start in 0usize..40,
            len in 0usize..40,
        ) {
            let start = start.min(text.len());
            let end = (start + len).min(text.len());
            let w = &text[start..end];
            let by_byte = (
                w.chars().any(|c| !is_datatrove_punctuation(c)),
                w.bytes().any(|b| b.is_ascii_alphabetic()),
            );
            let expected = if w.bytes().any(|b| matches!(b, b' ' | b'\t' | b'\n')) {
                // Words hold no whitespace; only the letter class is defined for such slices.
                return Ok(());
            } else {
                by_byte
            };
            let classes = ascii_word_classes(text.as_bytes(), w).map(|(a, b, _)| (a, b));
            prop_assert_eq!(classes, Some(expected), "{:?}", w);
        }
    }

    #[test]
    fn distinct_stop_words_of_a_long_list() {
        // 100 stop words (hashed, not the short list): indices past 64 are counted too.
        let list: Vec<String> = (0..100)
            .map(|i| format!("w{i:02}"))
            .chain(["é".into()])
            .collect();
        for profile in [Profile::Datatrove, Profile::Fineweb2024] {
            let config = GopherQualityConfig::new(profile, WordSplitter::Whitespace, list.clone());
            let m = measure_text("w05 w70 w70 w99 é é x w100", &config);
            let expected = if profile == Profile::Datatrove { 4 } else { 6 };
            assert_eq!(m.stop_words, expected, "{profile:?}");
        }
        let short = GopherQualityConfig::new(
            Profile::Datatrove,
            WordSplitter::Whitespace,
            ["the", "and", "über"].map(String::from),
        );
        assert_eq!(
            measure_text("the über and the über x", &short).stop_words,
            3
        );
    }

    #[test]
    fn non_ascii_words_go_the_character_way() {
        let text = "café au lait";
        assert_eq!(ascii_word_classes(text.as_bytes(), &text[..5]), None);
        let packed = u64::from_le_bytes(*b"au\0\0\0\0\0\0");
        assert_eq!(
            ascii_word_classes(text.as_bytes(), &text[6..8]),
            Some((true, true, Some(packed)))
        );
    }
}
