//! Word splitters a heuristic can be configured with, and English sentence counting.
//!
//! * `SpacyEnglish`: the rule-based English tokenizer ([`crate::text::english`]); punctuation marks
//!   are words of their own. What datatrove counts.
//! * `Uax29`: Unicode word boundaries (UAX #29); segments without a letter or digit are dropped.
//!   Han ideographs and kana are one word per character (UAX #29 already does this for Han); runs of
//!   scripts written without spaces (Thai, Lao, Khmer, Myanmar) are cut into grapheme clusters, an
//!   upper bound on their word count, since real word breaks there need a dictionary.
//! * `Whitespace`: maximal runs of non-whitespace (Python's `str.split()`).

use unicode_segmentation::UnicodeSegmentation;

use crate::text::english::{self, is_py_space};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordSplitter {
    SpacyEnglish,
    Uax29,
    Whitespace,
}

impl WordSplitter {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "spacy_en" => Some(Self::SpacyEnglish),
            "uax29" => Some(Self::Uax29),
            "whitespace" => Some(Self::Whitespace),
            _ => None,
        }
    }

    /// Appends the words of `text` to `out` (cleared first).
    pub fn split<'a>(self, text: &'a str, out: &mut Vec<&'a str>) {
        out.clear();
        match self {
            Self::SpacyEnglish => english::split_words(text, out),
            Self::Uax29 => uax29_words(text, out),
            Self::Whitespace => out.extend(text.split(is_py_space).filter(|w| !w.is_empty())),
        }
    }
}

fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32, 0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0x19E0..=0x19FF)
}

fn is_per_char_script(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x309F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

fn uax29_words<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    for segment in text.split_word_bounds() {
        if !segment.chars().any(char::is_alphanumeric) {
            continue;
        }
        let first = segment.chars().next().expect("non-empty segment");
        if is_unspaced_script(first) || (is_per_char_script(first) && segment.chars().count() > 1) {
            out.extend(segment.graphemes(true));
        } else {
            out.push(segment);
        }
    }
}

/// Sentence-final marks of the rule-based sentence splitter (a token must be exactly one of them).
fn is_sentence_final(token: &str) -> bool {
    let mut chars = token.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return false;
    };
    matches!(
        c,
        '!' | '.' | '?' | '։' | '؟' | '۔' | '܀' | '܁' | '܂' | '߹' | '।' | '॥' | '၊' | '။' | '።' | '፧'
            | '፨' | '᙮' | '᜵' | '᜶' | '᠃' | '᠉' | '᥄' | '᥅' | '᪨' | '᪩' | '᪪' | '᪫' | '᭚' | '᭛'
            | '᭞' | '᭟' | '᰻' | '᰼' | '᱾' | '᱿' | '‼' | '‽' | '⁇' | '⁈' | '⁉' | '⸮' | '⸼' | '꓿'
            | '꘎' | '꘏' | '꛳' | '꛷' | '꡶' | '꡷' | '꣎' | '꣏' | '꤯' | '꧈' | '꧉' | '꩝' | '꩞'
            | '꩟' | '꫰' | '꫱' | '꯫' | '﹒' | '﹖' | '﹗' | '！' | '．' | '？' | '｡' | '。'
            | '\u{10A56}' | '\u{10A57}' | '\u{11047}' | '\u{11048}' | '\u{110BE}'..='\u{110C1}'
            | '\u{11141}'..='\u{11143}' | '\u{111C5}' | '\u{111C6}' | '\u{111CD}' | '\u{111DE}'
            | '\u{111DF}' | '\u{11238}' | '\u{11239}' | '\u{1123B}' | '\u{1123C}' | '\u{112A9}'
            | '\u{1144B}' | '\u{1144C}' | '\u{115C2}' | '\u{115C3}' | '\u{115C9}'..='\u{115D7}'
            | '\u{11641}' | '\u{11642}' | '\u{1173C}'..='\u{1173E}' | '\u{11A42}' | '\u{11A43}'
            | '\u{11A9B}' | '\u{11A9C}' | '\u{11C41}' | '\u{11C42}' | '\u{16A6E}' | '\u{16A6F}'
            | '\u{16AF5}' | '\u{16B37}' | '\u{16B38}' | '\u{16B44}' | '\u{1BC9F}' | '\u{1DA88}'
    )
}

/// Unicode general category P* for every character (the tokenizer's `is_punct`).
fn is_punct_token(token: &str) -> bool {
    token.chars().all(is_unicode_punctuation)
}

/// General category P* (Pc, Pd, Ps, Pe, Pi, Pf, Po). ASCII exactly; elsewhere the common blocks.
pub fn is_unicode_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return matches!(
            c,
            '!' | '"'
                | '#'
                | '%'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | ','
                | '-'
                | '.'
                | '/'
                | ':'
                | ';'
                | '?'
                | '@'
                | '['
                | '\\'
                | ']'
                | '_'
                | '{'
                | '}'
        );
    }
    matches!(c as u32,
        0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF | 0x37E | 0x387 | 0x55A..=0x55F | 0x589 | 0x58A
        | 0x5BE | 0x5C0 | 0x5C3 | 0x5C6 | 0x5F3 | 0x5F4 | 0x609 | 0x60A | 0x60C | 0x60D | 0x61B
        | 0x61D..=0x61F | 0x66A..=0x66D | 0x6D4 | 0x700..=0x70D | 0x7F7..=0x7F9 | 0x830..=0x83E | 0x85E
        | 0x964 | 0x965 | 0x970 | 0x9FD | 0xA76 | 0xAF0 | 0xC77 | 0xC84 | 0xDF4 | 0xE4F | 0xE5A | 0xE5B
        | 0xF04..=0xF12 | 0xF14 | 0xF3A..=0xF3D | 0xF85 | 0xFD0..=0xFD4 | 0xFD9 | 0xFDA | 0x104A..=0x104F
        | 0x10FB | 0x1360..=0x1368 | 0x1400 | 0x166E | 0x169B | 0x169C | 0x16EB..=0x16ED | 0x1735 | 0x1736
        | 0x17D4..=0x17D6 | 0x17D8..=0x17DA | 0x1800..=0x180A | 0x1944 | 0x1945 | 0x1A1E | 0x1A1F
        | 0x1AA0..=0x1AA6 | 0x1AA8..=0x1AAD | 0x1B5A..=0x1B60 | 0x1B7D | 0x1B7E | 0x1BFC..=0x1BFF
        | 0x1C3B..=0x1C3F | 0x1C7E | 0x1C7F | 0x1CC0..=0x1CC7 | 0x1CD3 | 0x2010..=0x2027 | 0x2030..=0x2043
        | 0x2045..=0x2051 | 0x2053..=0x205E | 0x207D | 0x207E | 0x208D | 0x208E | 0x2308..=0x230B | 0x2329
        | 0x232A | 0x2768..=0x2775 | 0x27C5 | 0x27C6 | 0x27E6..=0x27EF | 0x2983..=0x2998 | 0x29D8..=0x29DB
        | 0x29FC | 0x29FD | 0x2CF9..=0x2CFC | 0x2CFE | 0x2CFF | 0x2D70 | 0x2E00..=0x2E2E | 0x2E30..=0x2E4F
        | 0x2E52..=0x2E5D | 0x3001..=0x3003 | 0x3008..=0x3011 | 0x3014..=0x301F | 0x3030 | 0x303D | 0x30A0
        | 0x30FB | 0xA4FE | 0xA4FF | 0xA60D..=0xA60F | 0xA673 | 0xA67E | 0xA6F2..=0xA6F7 | 0xA874..=0xA877
        | 0xA8CE | 0xA8CF | 0xA8F8..=0xA8FA | 0xA8FC | 0xA92E | 0xA92F | 0xA95F | 0xA9C1..=0xA9CD | 0xA9DE
        | 0xA9DF | 0xAA5C..=0xAA5F | 0xAADE | 0xAADF | 0xAAF0 | 0xAAF1 | 0xABEB | 0xFD3E | 0xFD3F
        | 0xFE10..=0xFE19 | 0xFE30..=0xFE52 | 0xFE54..=0xFE61 | 0xFE63 | 0xFE68 | 0xFE6A | 0xFE6B
        | 0xFF01..=0xFF03 | 0xFF05..=0xFF0A | 0xFF0C..=0xFF0F | 0xFF1A | 0xFF1B | 0xFF1F | 0xFF20
        | 0xFF3B..=0xFF3D | 0xFF3F | 0xFF5B | 0xFF5D | 0xFF5F..=0xFF65 | 0x10100..=0x10102 | 0x1039F
        | 0x103D0 | 0x1056F | 0x10857 | 0x1091F | 0x1093F | 0x10A50..=0x10A58 | 0x10A7F | 0x10AF0..=0x10AF6
        | 0x10B39..=0x10B3F | 0x10B99..=0x10B9C | 0x10EAD | 0x10F55..=0x10F59 | 0x10F86..=0x10F89
        | 0x11047..=0x1104D | 0x110BB | 0x110BC | 0x110BE..=0x110C1 | 0x11140..=0x11143 | 0x11174 | 0x11175
        | 0x111C5..=0x111C8 | 0x111CD | 0x111DB | 0x111DD..=0x111DF | 0x11238..=0x1123D | 0x112A9
        | 0x1144B..=0x1144F | 0x1145A | 0x1145B | 0x1145D | 0x114C6 | 0x115C1..=0x115D7 | 0x11641..=0x11643
        | 0x11660..=0x1166C | 0x116B9 | 0x1173C..=0x1173E | 0x1183B | 0x11944..=0x11946 | 0x119E2
        | 0x11A3F..=0x11A46 | 0x11A9A..=0x11A9C | 0x11A9E..=0x11AA2 | 0x11C41..=0x11C45 | 0x11C70 | 0x11C71
        | 0x11EF7 | 0x11EF8 | 0x11FFF | 0x12470..=0x12474 | 0x12FF1 | 0x12FF2 | 0x16A6E | 0x16A6F | 0x16AF5
        | 0x16B37..=0x16B3B | 0x16B44 | 0x16E97..=0x16E9A | 0x16FE2 | 0x1BC9F | 0x1DA87..=0x1DA8B | 0x1E95E
        | 0x1E95F)
}

/// Number of sentences of `text` under the rule-based sentence splitter that datatrove uses
/// (spaCy's "sentencizer"): a new sentence starts at the first token after a sentence-final mark
/// that is neither punctuation nor another final mark.
pub fn count_sentences_english(text: &str) -> usize {
    english::with_chunk_cache(|cache| {
        let mut counter = SentenceCounter {
            state: SentenceState::default(),
            cache,
        };
        english::for_each_chunk(text, &mut counter);
        counter.state.sentences
    })
}

/// [`count_sentences_english`] of a stripped line from its words under the English splitter
/// (slices of `line`, in order): the whitespace tokens are the gaps between words (a single `' '`
/// after a chunk belongs to it), so nothing is split again.
pub(crate) fn count_sentences_in_words(line: &str, words: &[&str]) -> usize {
    let base = line.as_ptr() as usize;
    let mut state = SentenceState::default();
    let mut prev_end: Option<usize> = None;
    for w in words {
        let start = w.as_ptr() as usize - base;
        if let Some(prev) = prev_end {
            let gap = &line[prev..start];
            let space = gap.strip_prefix(' ').unwrap_or(gap);
            if !space.is_empty() {
                state.token(space, true);
            }
        }
        state.token(w, false);
        prev_end = Some(start + w.len());
    }
    state.sentences
}

#[derive(Default)]
struct SentenceState {
    sentences: usize,
    any_token: bool,
    seen_final: bool,
}

impl SentenceState {
    #[inline]
    fn token(&mut self, text: &str, is_space: bool) {
        if !self.any_token {
            self.any_token = true;
            self.sentences = 1;
        }
        // A token starting with an ASCII letter or digit is neither a final mark nor punctuation.
        let word_like = is_space
            || text
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_alphanumeric);
        let is_final = !word_like && is_sentence_final(text);
        let is_punct = !word_like && is_punct_token(text);
        if self.seen_final && !is_punct && !is_final {
            self.sentences += 1;
            self.seen_final = false;
        } else if is_final {
            self.seen_final = true;
        }
    }
}

struct SentenceCounter<'c> {
    state: SentenceState,
    cache: &'c mut english::ChunkCache,
}

impl<'a> english::ChunkSink<'a> for SentenceCounter<'_> {
    fn chunk(&mut self, chunk: &'a str, plain: bool) {
        // Most chunks are ASCII words with no `.`, `!` or `?`: none of their tokens ends a sentence,
        // and one with a letter or digit has a token that is not punctuation. Their effect on the
        // count is known without splitting them.
        let bytes = chunk.as_bytes();
        let state = &mut self.state;
        if state.any_token
            && bytes.is_ascii()
            && !bytes.iter().any(|&b| matches!(b, b'.' | b'!' | b'?'))
        {
            if !state.seen_final {
                return;
            }
            if bytes.iter().any(u8::is_ascii_alphanumeric) {
                state.sentences += 1;
                state.seen_final = false;
                return;
            }
        }
        self.cache
            .tokenize(chunk, plain, &mut |t: english::Token<'a>| {
                state.token(t.text, t.is_space)
            });
    }

    fn space(&mut self, space: &'a str) {
        self.state.token(space, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(splitter: WordSplitter, text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        splitter.split(text, &mut out);
        out
    }

    #[test]
    fn uax29_words_and_scripts() {
        assert_eq!(
            words(WordSplitter::Uax29, "Don't stop, 3.5 dogs!"),
            vec!["Don't", "stop", "3.5", "dogs"]
        );
        assert_eq!(
            words(WordSplitter::Uax29, "日本語です"),
            vec!["日", "本", "語", "で", "す"]
        );
        // Thai has no spaces between words: one word per grapheme cluster (7 here: no combining marks).
        assert_eq!(words(WordSplitter::Uax29, "ภาษาไทย").len(), 7);
        assert_eq!(
            words(WordSplitter::Uax29, "e\u{301}te\u{301}"),
            vec!["e\u{301}te\u{301}"]
        );
    }

    #[test]
    fn whitespace_words() {
        assert_eq!(
            words(WordSplitter::Whitespace, " a\u{1c}b\u{a0}c\n"),
            vec!["a", "b", "c"]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Sentences counted from a line's words equal those counted by splitting the line.
        #[test]
        fn sentences_from_words_equal_a_fresh_count(
            line in r#"([A-Za-z]{1,6}|[0-9]{1,3}|Mr\.|U\.S\.|[.!?,;:'"()\-…]|\.\.\.|  | |\t|\u{a0}|\u{3000}|é|。){1,30}"#,
        ) {
            let line = line.trim_matches(crate::text::english::is_py_space);
            let mut words = Vec::new();
            WordSplitter::SpacyEnglish.split(line, &mut words);
            proptest::prop_assert_eq!(
                count_sentences_in_words(line, &words),
                count_sentences_english(line),
                "{:?}", line
            );
        }
    }

    #[test]
    fn sentences() {
        assert_eq!(count_sentences_english(""), 0);
        assert_eq!(count_sentences_english("One. Two! Three?"), 3);
        assert_eq!(count_sentences_english("Wait... what."), 1);
        assert_eq!(count_sentences_english("He said \"Stop.\" Then left."), 2);
        assert_eq!(count_sentences_english("Mr. Smith went home."), 1);
    }
}
