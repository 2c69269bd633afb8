//! C4 quality rules (Raffel et al. 2020, §2.2) as line filters that rewrite the text, plus
//! document-level flags.
//!
//! Per line (`splitlines`, stripped): a word longer than `max_word_length` drops the line;
//! citation markers (`[1]`, `[edit]`, `[citation needed]`) are removed; lines not ending in a
//! terminal mark (or ending in `...`) are dropped when `filter_no_terminal_punct`; lines with too few
//! whitespace words are dropped; "lorem ipsum" or `{` in a line that got this far flags the
//! document; lines mentioning "javascript" or a cookie/terms phrase are dropped. The sentences of
//! the kept lines are counted with the rule-based English sentence splitter. Kept lines are joined
//! with `\n`.
//!
//! `Datatrove` (and the other toolkit profiles) count words before citation removal and accept `'`
//! as an end mark; `C4Original` (TFDS `c4_utils`) counts words after removal and has no `'`.

use std::sync::{Arc, OnceLock};

use arrow_array::{ArrayRef, LargeStringArray};
use regex::Regex;

use crate::column::TextColumn;
use crate::parallel::map_rows;
use crate::signals::heuristic_text::{py_splitlines, py_strip, Profile};
use crate::signals::{SignalBatch, SignalKind, SignalRow, SignalValue};
use crate::text::english::{count_words, count_words_and_longest};
use crate::text::splitters::{count_sentences_english, count_sentences_in_words, WordSplitter};
use crate::text::word_memo::WordMemo;

pub struct C4Config {
    pub profile: Profile,
    pub remove_citations: bool,
    pub filter_no_terminal_punct: bool,
    pub min_words_per_line: Option<usize>,
    pub max_word_length: Option<usize>,
    pub filter_lorem_ipsum: bool,
    pub filter_javascript: bool,
    pub filter_curly_bracket: bool,
    pub filter_policy: bool,
}

impl C4Config {
    /// The published rules of `profile`, every filter on (the step's defaults): at least 3 words
    /// per line (datatrove), or 5 (`C4Original`); words of at most 1,000 characters.
    pub fn for_profile(profile: Profile) -> Self {
        Self {
            profile,
            remove_citations: true,
            filter_no_terminal_punct: true,
            min_words_per_line: Some(if profile == Profile::C4Original { 5 } else { 3 }),
            max_word_length: Some(1000),
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
        }
    }
}

const POLICY_SUBSTRINGS: [&str; 6] = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct C4Result {
    pub lines: u64,
    pub lines_kept: u64,
    pub sentences: u64,
    pub lorem_ipsum: bool,
    pub curly_bracket: bool,
    pub text_modified: bool,
    pub text: String,
}

pub const SIGNALS: [&str; 6] = [
    "lines",
    "lines_kept",
    "sentences",
    "lorem_ipsum",
    "curly_bracket",
    "text_modified",
];

impl SignalRow for C4Result {
    const NAMES: &'static [&'static str] = &SIGNALS;
    const KINDS: &'static [SignalKind] = &[SignalKind::Count; 6];

    fn value(&self, signal: usize) -> SignalValue {
        SignalValue::Count(match signal {
            0 => self.lines,
            1 => self.lines_kept,
            2 => self.sentences,
            3 => self.lorem_ipsum as u64,
            4 => self.curly_bracket as u64,
            _ => self.text_modified as u64,
        })
    }
}

fn citation_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\[\d*\]|\[edit\]|\[citation needed\]").expect("citation pattern")
    })
}

/// Phrases searched in each line: "lorem ipsum", "javascript", then the policy phrases.
const LOREM_IPSUM: usize = 0;
const JAVASCRIPT: usize = 1;

/// One automaton for every phrase, matching ASCII letters in either case: an ASCII line is searched
/// once, without building its lower-case copy.
fn phrase_searcher() -> &'static aho_corasick::AhoCorasick {
    static SEARCHER: OnceLock<aho_corasick::AhoCorasick> = OnceLock::new();
    SEARCHER.get_or_init(|| {
        let phrases: Vec<&str> = ["lorem ipsum", "javascript"]
            .into_iter()
            .chain(POLICY_SUBSTRINGS)
            .collect();
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(phrases)
            .expect("phrase automaton")
    })
}

/// Which phrase groups `line` contains after Python's `lower()`: a bit set indexed like the
/// phrases, with at least one bit of each group (lorem ipsum, javascript, policy) that occurs.
fn phrases_in(line: &str) -> u32 {
    let searcher = phrase_searcher();
    let lowered;
    // The phrases are ASCII, and `lower()` turns only two non-ASCII characters into ASCII letters:
    // U+0130 (into "i" + U+0307, which no phrase can contain, since none ends in "i") and the
    // Kelvin sign U+212A (into "k"). Without a Kelvin sign, searching the line itself with ASCII
    // case folding finds the same phrases.
    let haystack = if line.is_ascii() || !line.contains('\u{212A}') {
        line
    } else {
        lowered = line.to_lowercase();
        &lowered
    };
    // Non-overlapping matches find the same phrase groups as overlapping ones: the only overlaps
    // between phrases are "javascript" + "terms of use" (the line goes for javascript either way)
    // and policy phrases with each other (one group).
    searcher
        .find_iter(haystack)
        .fold(0u32, |set, m| set | (1 << m.pattern().as_u32()))
}

pub fn measure_text(text: &str, config: &C4Config) -> C4Result {
    measure(text, config).0
}

/// A kept line of the rewritten text: where it starts there, and whether it is an unchanged
/// slice of the original (citations removed make a new string).
pub(crate) struct KeptLine<'a> {
    line: std::borrow::Cow<'a, str>,
    start_in_rewritten: i64,
}

/// The signals and rewritten text, with the kept lines.
pub(crate) fn measure<'a>(text: &'a str, config: &C4Config) -> (C4Result, Vec<KeptLine<'a>>) {
    measure_lines(text, &py_splitlines(text), None, config)
}

/// [`measure`] with the text's `splitlines()` given, and its English words when known (flattened
/// (start, end) byte offsets): sentences of the kept lines are then counted from them.
pub(crate) fn measure_lines<'a>(
    text: &'a str,
    lines: &[&'a str],
    english_words: Option<&[&str]>,
    config: &C4Config,
) -> (C4Result, Vec<KeptLine<'a>>) {
    let original = config.profile == Profile::C4Original;
    let end_marks: &[char] = if original {
        &['.', '?', '!', '"']
    } else {
        &['.', '?', '!', '"', '\'']
    };
    let mut out = C4Result::default();
    let mut kept: Vec<std::borrow::Cow<'_, str>> = Vec::new();
    for &raw in lines {
        out.lines += 1;
        let stripped = py_strip(raw);
        // A word longer than the line cannot be: the longest word is only measured on long lines.
        let (mut n_words, longest) = match config.max_word_length {
            Some(max) if stripped.len() > max => count_words_and_longest(stripped),
            _ => (count_words(stripped), 0),
        };
        if config.max_word_length.is_some_and(|max| longest > max) {
            continue;
        }
        let line = if config.remove_citations && stripped.contains('[') {
            citation_regex().replace_all(stripped, "")
        } else {
            std::borrow::Cow::Borrowed(stripped)
        };
        if config.filter_no_terminal_punct && (!line.ends_with(end_marks) || line.ends_with("..."))
        {
            continue;
        }
        if original {
            n_words = count_words(&line);
        }
        if config.min_words_per_line.is_some_and(|min| n_words < min) {
            continue;
        }
        let phrases = phrases_in(&line);
        if config.filter_lorem_ipsum && phrases & (1 << LOREM_IPSUM) != 0 {
            out.lorem_ipsum = true;
            return (out, Vec::new());
        }
        if config.filter_javascript && phrases & (1 << JAVASCRIPT) != 0 {
            continue;
        }
        if config.filter_curly_bracket && line.contains('{') {
            out.curly_bracket = true;
            return (out, Vec::new());
        }
        let policy = !((1u32 << LOREM_IPSUM) | (1 << JAVASCRIPT));
        if config.filter_policy && phrases & policy != 0 {
            continue;
        }
        let sentences = match (&line, english_words) {
            // An unchanged line of the text: its words are those between its ends.
            (std::borrow::Cow::Borrowed(l), Some(words)) => {
                count_sentences_in_words(l, words_within(words, l))
            }
            _ => count_sentences_english(&line),
        };
        out.sentences += sentences as u64;
        kept.push(line);
    }
    out.lines_kept = kept.len() as u64;
    let joined = kept.join("\n");
    let stripped = py_strip(&joined);
    let lead = stripped.as_ptr() as usize - joined.as_ptr() as usize;
    let len = stripped.len();
    out.text = if len == joined.len() {
        joined
    } else {
        joined[lead..lead + len].to_string()
    };
    out.text_modified = out.text != text;
    let mut at = 0usize;
    let lines = kept
        .into_iter()
        .map(|line| {
            // May be negative: the margin stripped off the joined text can reach into a first line
            // (one whose citations were cut out of its start); no word sits in that margin.
            let start_in_rewritten = at as i64 - lead as i64;
            at += line.len() + 1;
            KeptLine {
                line,
                start_in_rewritten,
            }
        })
        .collect();
    (out, lines)
}

/// The run of `words` (slices of one text, in order) that lie within `part`, a slice of the same
/// text.
fn words_within<'w, 'a>(words: &'w [&'a str], part: &str) -> &'w [&'a str] {
    let (start, end) = (part.as_ptr() as usize, part.as_ptr() as usize + part.len());
    let first = words.partition_point(|w| (w.as_ptr() as usize) < start);
    let last = first + words[first..].partition_point(|w| w.as_ptr() as usize + w.len() <= end);
    &words[first..last]
}

/// Passes the word splits of `original` that `memo` holds on to the rewritten text: words never
/// span a line break, so the rewritten text's words are those of its kept lines (split afresh
/// only where citations were cut out of a line). The next step (FineWeb) then finds them.
fn carry_words(memo: &WordMemo, original: &str, result: &C4Result, kept: &[KeptLine<'_>]) {
    // UAX-29 words are left out: the splitter's rules are not checked to stop at every line break.
    for splitter in [WordSplitter::SpacyEnglish, WordSplitter::Whitespace] {
        let Some(bounds) = memo.get(splitter, original) else {
            continue;
        };
        let words: Vec<&str> = bounds
            .chunks_exact(2)
            .map(|b| &original[b[0] as usize..b[1] as usize])
            .collect();
        let mut carried = Vec::new();
        carry_bounds(original, &words, kept, splitter, &mut carried);
        memo.insert(splitter, &result.text, carried.into());
    }
}

/// The word boundaries of the rewritten text (flattened (start, end) byte offsets into it) from
/// `words`, those of `original` (slices of it, in order) under `splitter`: a kept line that is a
/// slice of the original keeps its words, shifted; a line that lost citations is split afresh.
/// Appends to `carried`. `splitter` must not find words across line breaks (the English and
/// whitespace splitters).
pub(crate) fn carry_bounds(
    original: &str,
    words: &[&str],
    kept: &[KeptLine<'_>],
    splitter: WordSplitter,
    carried: &mut Vec<u32>,
) {
    let base = original.as_ptr() as usize;
    let within_original = |s: &str| {
        let p = s.as_ptr() as usize;
        (p >= base && p + s.len() <= base + original.len()).then_some(p - base)
    };
    let mut fresh = Vec::new();
    for kept_line in kept {
        let shift = kept_line.start_in_rewritten;
        let origin = match &kept_line.line {
            std::borrow::Cow::Borrowed(line) => within_original(line).map(|start| (start, *line)),
            std::borrow::Cow::Owned(_) => None,
        };
        match origin {
            Some((start, line)) => {
                for w in words_within(words, line) {
                    let s = (w.as_ptr() as usize - base) as i64 - start as i64 + shift;
                    carried.push(s as u32);
                    carried.push((s + w.len() as i64) as u32);
                }
            }
            None => {
                let line = &kept_line.line;
                splitter.split(line, &mut fresh);
                let line_base = line.as_ptr() as usize;
                for w in &fresh {
                    let s = (w.as_ptr() as usize - line_base) as i64 + shift;
                    carried.push(s as u32);
                    carried.push((s + w.len() as i64) as u32);
                }
            }
        }
    }
}

/// Signals of every row, and the rewritten texts (the original where a row is null).
/// With `memo`, the word splits an earlier step left there for a document are passed on to its
/// rewritten text.
pub fn compute(
    column: TextColumn<'_>,
    config: &C4Config,
    memo: Option<&WordMemo>,
) -> (SignalBatch, ArrayRef) {
    let measured = map_rows(column, |text| {
        text.map(|t| {
            let (result, kept) = measure(t, config);
            if let Some(memo) = memo {
                if result.text_modified && !(result.lorem_ipsum || result.curly_bracket) {
                    carry_words(memo, t, &result, &kept);
                }
            }
            result
        })
    });
    let batch = C4Result::batch(measured.iter().map(Option::as_ref));
    let texts: LargeStringArray = measured
        .iter()
        .enumerate()
        .map(|(i, m)| match m {
            Some(m) if !(m.lorem_ipsum || m.curly_bracket) => Some(m.text.as_str()),
            _ => column.get(i),
        })
        .collect();
    (batch, Arc::new(texts))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn config() -> C4Config {
        C4Config {
            filter_no_terminal_punct: false,
            ..C4Config::for_profile(Profile::Datatrove)
        }
    }

    /// The words C4 passes on to its rewritten text are those a fresh split of that text gives.
    fn carried_equal_fresh(text: &str) -> Result<(), TestCaseError> {
        let memo = WordMemo::new();
        for splitter in [WordSplitter::SpacyEnglish, WordSplitter::Whitespace] {
            memo.split(splitter, text, &mut Vec::new());
        }
        let (result, kept) = measure(text, &config());
        if !result.text_modified || result.lorem_ipsum || result.curly_bracket {
            return Ok(());
        }
        carry_words(&memo, text, &result, &kept);
        for splitter in [WordSplitter::SpacyEnglish, WordSplitter::Whitespace] {
            let mut fresh = Vec::new();
            splitter.split(&result.text, &mut fresh);
            let mut carried = Vec::new();
            memo.split(splitter, &result.text, &mut carried);
            prop_assert_eq!(&carried, &fresh, "{:?} on {:?}", splitter, text);
            prop_assert!(memo.get(splitter, &result.text).is_some());
        }
        Ok(())
    }

    /// What the phrases decide for a line: lorem ipsum (the document is flagged), else javascript
    /// (the line goes before the curly-bracket check), else a policy phrase.
    fn groups(bits: u32) -> (bool, bool, bool) {
        let (lorem, javascript) = (bits & 1 != 0, bits & 2 != 0);
        (
            lorem,
            !lorem && javascript,
            !lorem && !javascript && bits & !3 != 0,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn phrase_groups_equal_an_overlapping_search(
            line in r"(javascript|javascripterms of use|terms of use|uses cookies|use of cookies|use cookies|cookie policy|privacy policy|lorem ipsum|JavaScript|USE|s|e| |x|\u{212A}ookie policy|İ){0,12}",
        ) {
            let overlapping = phrase_searcher()
                .find_overlapping_iter(line.to_lowercase().as_str())
                .fold(0u32, |set, m| set | (1 << m.pattern().as_u32()));
            prop_assert_eq!(groups(phrases_in(&line)), groups(overlapping), "{:?}", line);
        }
    }

    #[test]
    fn carried_words_by_hand() {
        let text = "  Short.\n\nThis line has [1] enough words here.\r\nUse javascript to view.\n\
                    \u{2028}Another fine sentence, isn't it?  \n\tok\n";
        carried_equal_fresh(text).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn carried_words_equal_a_fresh_split(
            text in r"([a-z]{1,6}|[A-Z]|[0-9]|\[1\]|\[edit\]|[.,'!?()\-]|  | |\t|\n|\r\n|\u{2028}|\u{85}|é|javascript){0,80}",
        ) {
            carried_equal_fresh(&text)?;
        }
    }
}
