//! Word n-gram hashes with a rolling polynomial over the word hashes: O(1) per word whatever n.

use crate::decont::normalize::{fmix64, for_each_word};

const BASE: u64 = 0x9e37_79b9_7f4a_7c15; // odd, so multiplication by it is a bijection mod 2^64

/// Calls `emit(ngram_hash, start_byte, end_byte)` for every window of `n` consecutive normalised
/// words of `text` (none when the text has fewer than `n` words). `n` must be at least 1.
///
/// Windows made of numbers only are skipped: "1 2 3 4 5 6 7 8" is in page footers and in code
/// tests alike, and says nothing about where a text came from.
pub fn for_each_ngram<F: FnMut(u64, usize, usize)>(text: &str, n: usize, mut emit: F) {
    assert!(n >= 1, "n-grams need n >= 1");
    let top_power = (1..n).fold(1u64, |p, _| p.wrapping_mul(BASE));
    let salt = fmix64(n as u64);
    let mut window: Vec<(u64, usize, bool)> = vec![(0, 0, true); n];
    let mut pos = 0usize;
    let mut seen = 0usize;
    let mut numbers = 0usize; // number-only words in the window
    let mut rolling = 0u64;
    for_each_word(text, |word, start, end, is_number| {
        if seen >= n {
            let (oldest, _, oldest_is_number) = window[pos];
            rolling = rolling.wrapping_sub(oldest.wrapping_mul(top_power));
            numbers -= usize::from(oldest_is_number);
        }
        rolling = rolling.wrapping_mul(BASE).wrapping_add(word);
        window[pos] = (word, start, is_number);
        numbers += usize::from(is_number);
        pos = if pos + 1 == n { 0 } else { pos + 1 };
        seen += 1;
        if seen >= n && numbers < n {
            // `pos` now points at the oldest word of the window.
            emit(fmix64(rolling ^ salt), window[pos].1, end);
        }
    });
}

/// The distinct n-gram hashes of `text`, sorted.
pub fn distinct_ngrams(text: &str, n: usize) -> Vec<u64> {
    let mut keys = Vec::new();
    for_each_ngram(text, n, |key, _, _| keys.push(key));
    keys.sort_unstable();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decont::normalize::word_hash;
    use proptest::prelude::*;

    /// The same hash computed directly from the definition, without rolling.
    fn direct(words: &[&str]) -> u64 {
        let n = words.len();
        let mut h = 0u64;
        for w in words {
            h = h.wrapping_mul(BASE).wrapping_add(word_hash(w));
        }
        fmix64(h ^ fmix64(n as u64))
    }

    fn collect(text: &str, n: usize) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for_each_ngram(text, n, |k, s, e| out.push((k, text[s..e].to_string())));
        out
    }

    #[test]
    fn rolling_equals_direct() {
        let got = collect("The cat, the HAT; and a bat.", 3);
        assert_eq!(got.len(), 5);
        assert_eq!(
            got[0],
            (direct(&["the", "cat", "the"]), "The cat, the".to_string())
        );
        assert_eq!(
            got[4],
            (direct(&["and", "a", "bat"]), "and a bat".to_string())
        );
    }

    #[test]
    fn short_texts_have_no_ngrams_and_n_is_part_of_the_hash() {
        assert!(collect("only four words here", 5).is_empty());
        assert_eq!(collect("only four words here", 4).len(), 1);
        assert_eq!(collect("a b", 1).len(), 2);
        // The same words give different keys for different n.
        assert_ne!(direct(&["a"]), direct(&["a", "a"]));
        assert_ne!(collect("a a", 2)[0].0, collect("a", 1)[0].0);
    }

    #[test]
    fn number_only_windows_are_skipped() {
        assert!(collect("1 2 3 4", 3).is_empty());
        assert_eq!(collect("1 2 3 x", 3).len(), 1);
        assert_eq!(collect("1 2 3 4", 1).len(), 0);
    }

    #[test]
    fn distinct_is_sorted_and_unique() {
        let keys = distinct_ngrams("a b a b a b", 2);
        assert_eq!(keys.len(), 2); // "a b" and "b a"
        assert!(keys[0] < keys[1]);
    }

    proptest! {
        #[test]
        fn rolling_matches_direct_on_random_words(words in prop::collection::vec("[a-d1]{1,3}", 0..30), n in 1usize..6) {
            let text = words.join(" ");
            let got: Vec<u64> = collect(&text, n).into_iter().map(|(k, _)| k).collect();
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            let numeric = |w: &&str| w.chars().all(|c| c.is_ascii_digit());
            let want: Vec<u64> = if refs.len() >= n {
                refs.windows(n).filter(|w| !w.iter().all(numeric)).map(direct).collect()
            } else {
                vec![]
            };
            prop_assert_eq!(got, want);
        }
    }
}
