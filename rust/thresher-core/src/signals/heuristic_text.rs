//! Text helpers shared by the heuristic filter families (Gopher, C4, FineWeb, RefinedWeb), written
//! to give the same numbers as the Python reference filters: lengths in code points, Python's line
//! and whitespace rules, and the punctuation sets those filters use.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Which toolkit's definition of a heuristic to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// datatrove 0.10 (the default).
    Datatrove,
    /// datatrove 0.2, which FineWeb (2024) was built with.
    Fineweb2024,
    /// DCLM's reproduction of RefinedWeb/Gopher (`baselines/mappers`).
    Dclm,
    /// Dolma's taggers (`gopher_v1`, `c4_v2`).
    Dolma,
    /// The original C4 (TFDS `c4_utils`).
    C4Original,
}

impl Profile {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "datatrove" => Some(Self::Datatrove),
            "fineweb-2024" => Some(Self::Fineweb2024),
            "dclm" => Some(Self::Dclm),
            "dolma" => Some(Self::Dolma),
            "c4-original" => Some(Self::C4Original),
            _ => None,
        }
    }
}

/// Code points in `s` (Python's `len`).
#[inline]
pub fn char_len(s: &str) -> usize {
    // Every byte but a UTF-8 continuation byte starts a character (one vectorisable pass).
    s.bytes().filter(|&b| (b as i8) >= -0x40).count()
}

/// Bytes that start a line boundary of `str.splitlines()` (or may: C2 and E2 lead other characters too).
static MAY_START_LINE_BREAK: [bool; 256] = {
    let mut table = [false; 256];
    let starts = [b'\n', 0x0b, 0x0c, b'\r', 0x1c, 0x1d, 0x1e, 0xC2, 0xE2];
    let mut k = 0;
    while k < starts.len() {
        table[starts[k] as usize] = true;
        k += 1;
    }
    table
};

/// The first byte at or after `from` that may start a line boundary (or `bytes.len()`).
#[inline]
fn next_may_start_line_break(bytes: &[u8], mut from: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    while from + 16 <= bytes.len() {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; the load reads bytes[from..from + 16].
        let mask = unsafe {
            let v = _mm_loadu_si128(bytes.as_ptr().add(from).cast());
            // `x in [lo, lo + len)` as one signed comparison: shift the range to start at -128.
            let in_range = |lo: u8, len: u8| {
                let shifted = _mm_add_epi8(v, _mm_set1_epi8(0x80u8.wrapping_sub(lo) as i8));
                _mm_cmplt_epi8(shifted, _mm_set1_epi8(0x80u8.wrapping_add(len) as i8))
            };
            let hits = _mm_or_si128(
                _mm_or_si128(in_range(b'\n', 4), in_range(0x1c, 3)),
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0xC2u8 as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0xE2u8 as i8)),
                ),
            );
            _mm_movemask_epi8(hits) as u32
        };
        if mask != 0 {
            return from + mask.trailing_zeros() as usize;
        }
        from += 16;
    }
    while from < bytes.len() && !MAY_START_LINE_BREAK[bytes[from] as usize] {
        from += 1;
    }
    from
}

/// Python's `str.splitlines()`: every Unicode line boundary, `\r\n` as one, no trailing empty line.
pub fn py_splitlines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip bytes that cannot start a line boundary, 16 at a time where there are 16.
        i = next_may_start_line_break(bytes, i);
        if i == bytes.len() {
            break;
        }
        let b = bytes[i];
        // Line boundaries: \n \r \v \f \x1c-\x1e (one byte), U+0085 (C2 85), U+2028/9 (E2 80 A8/A9).
        let width = match b {
            b'\n' | b'\x0b' | b'\x0c' | 0x1c..=0x1e => 1,
            b'\r' => {
                if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                }
            }
            0xC2 if bytes.get(i + 1) == Some(&0x85) => 2,
            0xE2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                3
            }
            _ => 0,
        };
        if width == 0 {
            i += 1;
            continue;
        }
        out.push(&text[start..i]);
        i += width;
        start = i;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Python's `str.strip()` (whitespace as `str.isspace`).
#[inline]
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(crate::text::english::is_py_space)
}

/// Non-overlapping occurrences of `needle` (Python's `str.count`).
#[inline]
pub fn count_substr(haystack: &str, needle: &str) -> usize {
    if needle.len() == 1 {
        return memchr::memchr_iter(needle.as_bytes()[0], haystack.as_bytes()).count();
    }
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let bytes = haystack.as_bytes();
    let mut count = 0;
    let mut at = 0;
    while let Some(pos) = finder.find(&bytes[at..]) {
        count += 1;
        at += pos + needle.len();
    }
    count
}

/// datatrove's `PUNCTUATION_SET`: ASCII punctuation, C0/C1 controls other than tab and newline, a
/// list of CJK/fullwidth marks, and the Unicode Sentence_Terminal characters. A word made only of
/// these is a "symbol" and does not count as a word for Gopher's length rules.
pub fn is_datatrove_punctuation(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return c.is_ascii_punctuation() || (u < 0x20 && u != 9 && u != 10) || u == 0x7F;
    }
    matches!(u, 0x80..=0x9F)
        || matches!(
            c,
            '—' | '”'
                | '％'
                | '１'
                | '〈'
                | '、'
                | '━'
                | '【'
                | '「'
                | '」'
                | '，'
                | '】'
                | '；'
                | '“'
                | '《'
                | '„'
                | '’'
                | '∶'
                | '´'
                | '．'
                | '（'
                | '–'
                | '？'
                | '！'
                | '：'
                | '～'
                | '«'
                | '〉'
                | '》'
                | '）'
                | '。'
                | '…'
                | '►'
                | '»'
        )
        || is_sentence_terminal(c)
}

/// Unicode's Sentence_Terminal property (datatrove's `TERMINAL_PUNCTUATION`).
pub fn is_sentence_terminal(c: char) -> bool {
    matches!(c as u32,
        0x21 | 0x2E | 0x3F | 0x589 | 0x61D..=0x61F | 0x6D4 | 0x700..=0x702 | 0x7F9 | 0x837 | 0x839
        | 0x83D..=0x83E | 0x964..=0x965 | 0x104A..=0x104B | 0x1362 | 0x1367..=0x1368 | 0x166E
        | 0x1735..=0x1736 | 0x17D4..=0x17D6 | 0x17D9..=0x17DA | 0x1803 | 0x1809 | 0x1944..=0x1945
        | 0x1AA8..=0x1AAB | 0x1B5A..=0x1B5B | 0x1B5E..=0x1B5F | 0x1B7D..=0x1B7E | 0x1C3B..=0x1C3C
        | 0x1C7E..=0x1C7F | 0x203C..=0x203D | 0x2047..=0x2049 | 0x2E2E | 0x2E3C | 0x2E53..=0x2E54 | 0x3002
        | 0xA4FF | 0xA60E..=0xA60F | 0xA6F3 | 0xA6F7 | 0xA876..=0xA877 | 0xA8CE..=0xA8CF | 0xA92F
        | 0xA9C8..=0xA9C9 | 0xAA5D..=0xAA5F | 0xAAF0..=0xAAF1 | 0xABEB | 0xFE52 | 0xFE56..=0xFE57 | 0xFF01
        | 0xFF0E | 0xFF1F | 0xFF61 | 0x10A56..=0x10A57 | 0x10F55..=0x10F59 | 0x10F86..=0x10F89
        | 0x11047..=0x11048 | 0x110BE..=0x110C1 | 0x11141..=0x11143 | 0x111C5..=0x111C6 | 0x111CD
        | 0x111DE..=0x111DF | 0x11238..=0x11239 | 0x1123B..=0x1123C | 0x112A9 | 0x1144B..=0x1144C
        | 0x115C2..=0x115C3 | 0x115C9..=0x115D7 | 0x11641..=0x11642 | 0x1173C..=0x1173E | 0x11944 | 0x11946
        | 0x11A42..=0x11A43 | 0x11A9B..=0x11A9C | 0x11C41..=0x11C42 | 0x11EF7..=0x11EF8 | 0x11F43..=0x11F44
        | 0x16A6E..=0x16A6F | 0x16AF5 | 0x16B37..=0x16B38 | 0x16B44 | 0x16E98 | 0x1BC9F | 0x1DA88)
}

/// Python's `str.isalpha` per character (Unicode letters: categories L*).
#[inline]
pub fn py_isalpha(c: char) -> bool {
    c.is_alphabetic() && !is_other_alphabetic_mark(c)
}

/// Rust's `is_alphabetic` also accepts Other_Alphabetic marks and letter numbers (Nl), which Python
/// does not: combining vowel signs of Indic scripts, Roman numerals, ...
fn is_other_alphabetic_mark(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    let u = c as u32;
    // Letter numbers (Nl).
    if matches!(u, 0x16EE..=0x16F0 | 0x2160..=0x2182 | 0x2185..=0x2188 | 0x3007 | 0x3021..=0x3029 | 0x3038..=0x303A | 0xA6E6..=0xA6EF | 0x10140..=0x10174 | 0x12400..=0x1246E)
    {
        return true;
    }
    // Combining marks (Mn/Mc) that carry Other_Alphabetic, in the common blocks.
    matches!(u,
        0x345 | 0x5B0..=0x5BD | 0x5BF | 0x5C1..=0x5C2 | 0x5C4..=0x5C5 | 0x5C7 | 0x610..=0x61A | 0x64B..=0x657
        | 0x659..=0x65F | 0x670 | 0x6D6..=0x6DC | 0x6E1..=0x6E4 | 0x6E7..=0x6E8 | 0x6ED | 0x711 | 0x730..=0x73F
        | 0x7A6..=0x7B0 | 0x900..=0x903 | 0x93A..=0x93B | 0x93E..=0x94C | 0x94E..=0x94F | 0x955..=0x957
        | 0x962..=0x963 | 0x981..=0x983 | 0x9BE..=0x9C4 | 0x9C7..=0x9C8 | 0x9CB..=0x9CC | 0x9D7 | 0x9E2..=0x9E3
        | 0xA01..=0xA03 | 0xA3E..=0xA42 | 0xA47..=0xA48 | 0xA4B..=0xA4C | 0xA51 | 0xA70..=0xA71 | 0xA75
        | 0xA81..=0xA83 | 0xABE..=0xAC5 | 0xAC7..=0xAC9 | 0xACB..=0xACC | 0xAE2..=0xAE3 | 0xB01..=0xB03
        | 0xB3E..=0xB44 | 0xB47..=0xB48 | 0xB4B..=0xB4C | 0xB56..=0xB57 | 0xB62..=0xB63 | 0xB82 | 0xBBE..=0xBC2
        | 0xBC6..=0xBC8 | 0xBCA..=0xBCC | 0xBD7 | 0xC00..=0xC04 | 0xC3E..=0xC44 | 0xC46..=0xC48 | 0xC4A..=0xC4C
        | 0xC55..=0xC56 | 0xC62..=0xC63 | 0xC81..=0xC83 | 0xCBE..=0xCC4 | 0xCC6..=0xCC8 | 0xCCA..=0xCCC
        | 0xCD5..=0xCD6 | 0xCE2..=0xCE3 | 0xD00..=0xD03 | 0xD3E..=0xD44 | 0xD46..=0xD48 | 0xD4A..=0xD4C | 0xD57
        | 0xD62..=0xD63 | 0xD81..=0xD83 | 0xDCF..=0xDD4 | 0xDD6 | 0xDD8..=0xDDF | 0xDF2..=0xDF3 | 0xE31
        | 0xE34..=0xE3A | 0xE4D | 0xEB1 | 0xEB4..=0xEB9 | 0xEBB..=0xEBC | 0xECD | 0xF71..=0xF83 | 0xF8D..=0xFBC
        | 0x102B..=0x1036 | 0x1038 | 0x103B..=0x103E | 0x1056..=0x1059 | 0x105E..=0x1060 | 0x1062..=0x1064
        | 0x1067..=0x106D | 0x1071..=0x1074 | 0x1082..=0x108D | 0x108F | 0x109A..=0x109D | 0x17B6..=0x17C8
        | 0x1DE7..=0x1DF4 | 0x24B6..=0x24E9 | 0x2DE0..=0x2DFF | 0xA823..=0xA827 | 0xA880..=0xA881
        | 0xA8B4..=0xA8C3 | 0xA8C5 | 0xA8FF | 0xA926..=0xA92A | 0xA947..=0xA952 | 0xA980..=0xA983
        | 0xA9B4..=0xA9BF | 0xA9E5 | 0xAA29..=0xAA36 | 0xAA43 | 0xAA4C..=0xAA4D | 0xABE3..=0xABEA | 0xFB1E)
}

/// Python's `str.isupper` for one character (cased upper-case letter).
#[inline]
pub fn py_isupper_char(c: char) -> bool {
    c.is_uppercase()
}

/// Python's `str.isdigit` for one character (decimal digits and other digits such as superscripts).
#[inline]
pub fn py_isdigit_char(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && is_digit_like(c))
}

fn is_digit_like(c: char) -> bool {
    // Nd (all decimal digits) and No digits (superscripts, circled digits).
    let u = c as u32;
    c.is_numeric()
        && (matches!(u, 0xB2 | 0xB3 | 0xB9 | 0x2070 | 0x2074..=0x2079 | 0x2080..=0x2089 | 0x2460..=0x2468
            | 0x2474..=0x247C | 0x2488..=0x2490 | 0x24EA | 0x24F5..=0x24FD | 0x24FF | 0x2776..=0x277E
            | 0x2780..=0x2788 | 0x278A..=0x2792 | 0x1369..=0x1371 | 0x19DA)
            || is_unicode_decimal(c))
}

/// Unicode decimal digits (Nd) outside ASCII: the 0-9 runs of each script.
fn is_unicode_decimal(c: char) -> bool {
    let u = c as u32;
    const ZEROS: &[u32] = &[
        0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6,
        0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
        0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
        0xFF10, 0x104A0, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
        0x116C0, 0x11730, 0x118E0, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E950,
    ];
    ZEROS.iter().any(|&z| (z..z + 10).contains(&u))
}

/// A fast hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default)]
pub struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // The table takes its control tag from the top bits: spread every input bit there.
        self.0 = (n ^ (n >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
}

pub type PrehashedMap<V> = HashMap<u64, V, BuildHasherDefault<PrehashedHasher>>;

/// Dense ids for 64-bit keys that are already hashes: open addressing with linear probing over one
/// flat array of (key, id) slots, reused from one document to the next. Counting n-grams is most of
/// the repetition signals' work, and this does it with one multiply and usually one cache line per
/// key.
#[derive(Default)]
pub struct KeyIds {
    slots: Vec<KeySlot>,
    mask: usize,
    shift: u32,
    len: u32,
}

#[derive(Clone, Copy, Default)]
struct KeySlot {
    /// 0 marks an empty slot.
    key: u64,
    id: u32,
}

impl KeyIds {
    /// Empties the table and sizes it for up to `capacity` distinct keys (at most half full).
    pub fn reset(&mut self, capacity: usize) {
        let size = (capacity.max(8) * 2).next_power_of_two();
        if self.slots.len() < size {
            self.slots.resize(size, KeySlot::default());
        }
        self.slots[..size].fill(KeySlot::default());
        self.mask = size - 1;
        self.shift = 64 - size.trailing_zeros();
        self.len = 0;
    }

    /// Number of distinct keys seen since the last reset.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of `key` (ids count up from 0 in order of first sight), and whether it is new.
    /// The caller must not insert more keys than the `capacity` it reset with.
    #[inline]
    pub fn id_of(&mut self, key: u64) -> (u32, bool) {
        // A key of 0 shares its slot with 1 (both are hashes: no matter).
        let key = key.max(1);
        let mut slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        loop {
            let entry = &mut self.slots[slot];
            if entry.key == key {
                return (entry.id, false);
            }
            if entry.key == 0 {
                *entry = KeySlot { key, id: self.len };
                self.len += 1;
                return (self.len - 1, true);
            }
            slot = (slot + 1) & self.mask;
        }
    }
}

/// 64-bit hash of a string (for duplicate detection of lines and paragraphs).
#[inline]
pub fn hash_str(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// `find_duplicates` of datatrove: (number of repeat occurrences, their total length in chars).
/// With `count_first`, every occurrence of an element that occurs more than once counts (DCLM,
/// dolma).
pub fn find_duplicates(elements: &[&str], count_first: bool) -> (usize, usize) {
    let mut table = KeyIds::default();
    find_duplicates_with(elements, count_first, &mut table)
}

/// [`find_duplicates`] with a reusable table.
pub fn find_duplicates_with(
    elements: &[&str],
    count_first: bool,
    table: &mut KeyIds,
) -> (usize, usize) {
    table.reset(elements.len());
    // (occurrences, index of the first occurrence) per distinct element; lengths are only
    // measured for the elements that repeat.
    let mut seen: Vec<(u32, u32)> = Vec::with_capacity(elements.len());
    let mut dup_elements = 0;
    let mut dup_chars = 0;
    for (k, e) in elements.iter().enumerate() {
        let (id, new) = table.id_of(hash_str(e));
        if new {
            seen.push((0, k as u32));
        }
        let entry = &mut seen[id as usize];
        entry.0 += 1;
        if entry.0 > 1 {
            dup_elements += 1;
            dup_chars += char_len(e);
            if count_first && entry.0 == 2 {
                dup_elements += 1;
                dup_chars += char_len(elements[entry.1 as usize]);
            }
        }
    }
    (dup_elements, dup_chars)
}

#[inline]
pub fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn key_ids_are_dense_in_order_of_first_sight() {
        let mut ids = KeyIds::default();
        ids.reset(4);
        assert_eq!(ids.id_of(42), (0, true));
        assert_eq!(ids.id_of(7), (1, true));
        assert_eq!(ids.id_of(42), (0, false));
        assert_eq!(ids.id_of(0), (2, true));
        assert_eq!(ids.len(), 3);
        // Reset forgets every key, and a larger reset keeps working after a smaller one.
        ids.reset(1000);
        assert!(ids.is_empty());
        for k in 1..=1000u64 {
            assert_eq!(ids.id_of(k * 0x1_0000_0001), ((k - 1) as u32, true));
        }
        assert_eq!(ids.id_of(500 * 0x1_0000_0001), (499, false));
    }

    use super::*;

    #[test]
    fn splitlines_like_python() {
        assert_eq!(
            py_splitlines("a\r\nb\rc\nd\u{2028}e\x0cf\n"),
            vec!["a", "b", "c", "d", "e", "f"]
        );
        assert_eq!(py_splitlines("\n\n"), vec!["", ""]);
        assert!(py_splitlines("").is_empty());
    }

    #[test]
    fn duplicates() {
        assert_eq!(find_duplicates(&["a", "bb", "a", "a", "bb"], false), (3, 4));
        assert_eq!(find_duplicates(&["a", "bb", "a", "a", "bb"], true), (5, 7));
        assert_eq!(find_duplicates(&[], false), (0, 0));
    }

    #[test]
    fn char_classes() {
        assert!(
            is_datatrove_punctuation('#')
                && is_datatrove_punctuation('…')
                && is_datatrove_punctuation('\x01')
        );
        assert!(
            !is_datatrove_punctuation('\n')
                && !is_datatrove_punctuation('a')
                && !is_datatrove_punctuation('1')
        );
        assert!(is_datatrove_punctuation('１'));
        assert!(py_isalpha('é') && !py_isalpha('\u{93e}') && !py_isalpha('Ⅻ') && !py_isalpha('1'));
        assert!(
            py_isdigit_char('7')
                && py_isdigit_char('²')
                && py_isdigit_char('٣')
                && !py_isdigit_char('½')
        );
        assert_eq!(count_substr("a.....b", "..."), 1);
    }
}
