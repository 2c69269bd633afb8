//! Word splitting for contamination n-grams: lowercase, punctuation and symbols turned into
//! spaces, whitespace collapsed.
//!
//! The normalised form of `"Natalia sold 48/2 = 24 clips!"` is `natalia sold 48 2 24 clips`: a
//! word is a maximal run of letters and digits (lowercased), so `48/2`, `48 / 2` and `48/ 2` all
//! give the same words, as datatrove's `simplify_text` does. Characters of scripts written without
//! spaces (Han, kana, Thai, Lao, Khmer, Myanmar) are one word each, so n-grams exist for them too.
//!
//! Words are never materialised on the hot path: each is hashed as it is read, and the caller
//! gets the hash and the byte span of the word in the original text.

/// Bumped whenever the normalisation or the hashing changes, so old index files are refused.
pub const NORMALIZATION_VERSION: u64 = 3;

const WORD_SEED: u64 = 0xcbf2_9ce4_8422_2325;
const WORD_PRIME: u64 = 0x0000_0100_0000_01b3;

#[inline]
fn step(hash: u64, c: u32) -> u64 {
    (hash ^ u64::from(c)).wrapping_mul(WORD_PRIME)
}

/// Murmur3's 64-bit finaliser: spreads every input bit over the whole output.
#[inline]
pub fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// True for characters of scripts that do not separate words with spaces.
#[inline]
pub fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF      // Thai, Lao
        | 0x1000..=0x109F    // Myanmar
        | 0x1780..=0x17FF    // Khmer
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FA1F  // CJK extensions B.. and supplement
    )
}

/// Calls `emit(word_hash, start_byte, end_byte, is_number)` for every normalised word of `text`,
/// in order. The span runs from the word's first character to its last; `is_number` is true when
/// the word has no letter (digits only).
pub fn for_each_word<F: FnMut(u64, usize, usize, bool)>(text: &str, mut emit: F) {
    let bytes = text.as_bytes();
    let mut hash = WORD_SEED;
    let mut in_word = false;
    let mut letters = false;
    let (mut start, mut end) = (0usize, 0usize);
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if b.is_ascii_alphanumeric() {
                if !in_word {
                    in_word = true;
                    letters = false;
                    hash = WORD_SEED;
                    start = i;
                }
                letters |= b.is_ascii_alphabetic();
                hash = step(hash, u32::from(b.to_ascii_lowercase()));
                end = i + 1;
            } else if in_word {
                emit(fmix64(hash), start, end, !letters);
                in_word = false;
            }
            i += 1;
            continue;
        }
        let c = text[i..]
            .chars()
            .next()
            .expect("index is on a char boundary");
        let len = c.len_utf8();
        if is_unspaced_script(c) {
            if in_word {
                emit(fmix64(hash), start, end, !letters);
                in_word = false;
            }
            emit(fmix64(step(WORD_SEED, c as u32)), i, i + len, false);
        } else if c.is_alphanumeric() {
            if !in_word {
                in_word = true;
                letters = false;
                hash = WORD_SEED;
                start = i;
            }
            letters |= c.is_alphabetic();
            for lower in c.to_lowercase() {
                hash = step(hash, lower as u32);
            }
            end = i + len;
        } else if in_word {
            emit(fmix64(hash), start, end, !letters);
            in_word = false;
        }
        i += len;
    }
    if in_word {
        emit(fmix64(hash), start, end, !letters);
    }
}

/// The normalised words of `text`, for tests, docs and debugging (the hot path only hashes).
pub fn normalized_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            words.push(std::mem::take(current));
        }
    };
    for c in text.chars() {
        if is_unspaced_script(c) {
            flush(&mut current, &mut words);
            words.push(c.to_string());
        } else if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else {
            flush(&mut current, &mut words);
        }
    }
    flush(&mut current, &mut words);
    words
}

/// Hash of one normalised word, as `for_each_word` computes it.
pub fn word_hash(word: &str) -> u64 {
    fmix64(word.chars().fold(WORD_SEED, |h, c| step(h, c as u32)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spans(text: &str) -> Vec<(u64, &str)> {
        let mut out = Vec::new();
        for_each_word(text, |h, s, e, _| out.push((h, &text[s..e])));
        out
    }

    #[test]
    fn normalises_by_hand() {
        assert_eq!(
            normalized_words("Natalia sold 48/2 = 24 clips!"),
            vec!["natalia", "sold", "48", "2", "24", "clips"]
        );
        assert_eq!(normalized_words("48 / 2"), normalized_words("48/2"));
        assert_eq!(
            normalized_words("  Don't  STOP\n\tnow. "),
            vec!["don", "t", "stop", "now"]
        );
        assert_eq!(normalized_words("— ... ==="), Vec::<String>::new());
        assert_eq!(normalized_words("ÉCOLE Straße"), vec!["école", "straße"]);
        assert_eq!(normalized_words("東京都abc"), vec!["東", "京", "都", "abc"]);
        assert_eq!(normalized_words("a\u{00a0}b\u{3000}c"), vec!["a", "b", "c"]);
    }

    #[test]
    fn hashes_agree_with_the_words() {
        let text = "Hello, World! 東京 x-ray";
        let got = spans(text);
        let words = normalized_words(text);
        assert_eq!(got.len(), words.len());
        for ((hash, _), word) in got.iter().zip(&words) {
            assert_eq!(*hash, word_hash(word));
        }
        assert_eq!(got[0].1, "Hello");
        assert_eq!(got[1].1, "World");
        assert_eq!(got[4].1, "x");
        assert_eq!(got[5].1, "ray");
        let mut numbers = Vec::new();
        for_each_word("abc 123 a1 ١٢", |_, _, _, is_number| {
            numbers.push(is_number)
        });
        assert_eq!(numbers, vec![false, true, false, true]);
        // Case and punctuation do not change a word's hash.
        assert_eq!(spans("HELLO")[0].0, spans("hello...")[0].0);
    }

    proptest! {
        #[test]
        fn never_panics_and_spans_are_in_bounds(text in "\\PC{0,200}") {
            let mut count = 0;
            for_each_word(&text, |_, s, e, _| {
                assert!(s < e && e <= text.len());
                assert!(text.is_char_boundary(s) && text.is_char_boundary(e));
                count += 1;
            });
            prop_assert_eq!(count, normalized_words(&text).len());
        }
    }
}
