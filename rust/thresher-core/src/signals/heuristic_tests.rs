//! Hand-computed cases for the heuristic families, and no-panic property tests.

use proptest::prelude::*;

use crate::signals::c4::{self, C4Config};
use crate::signals::fineweb::{self, FinewebConfig};
use crate::signals::gopher_quality::{self, GopherQualityConfig};
use crate::signals::gopher_repetition::{self, GopherRepetitionConfig};
use crate::signals::heuristic_text::Profile;
use crate::signals::refinedweb::{self, RefinedwebConfig};
use crate::text::splitters::WordSplitter;

const STOP: [&str; 8] = ["the", "be", "to", "of", "and", "that", "have", "with"];

fn gq(profile: Profile) -> GopherQualityConfig {
    GopherQualityConfig::new(
        profile,
        WordSplitter::SpacyEnglish,
        STOP.iter().map(|s| s.to_string()),
    )
}

fn gr(profile: Profile) -> GopherRepetitionConfig {
    GopherRepetitionConfig {
        profile,
        splitter: WordSplitter::SpacyEnglish,
    }
}

fn c4_config(profile: Profile) -> C4Config {
    C4Config::for_profile(profile)
}

fn fw(profile: Profile) -> FinewebConfig {
    FinewebConfig {
        profile,
        splitter: WordSplitter::SpacyEnglish,
        short_line_length: 30,
    }
}

fn rw() -> RefinedwebConfig {
    RefinedwebConfig {
        max_uppercase_ratio: 0.5,
        max_numeric_ratio: 0.999999,
        remove_counters: true,
        min_words_per_line: 2,
        max_words_for_substrings: 10,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn gopher_quality_by_hand() {
    // Tokens: The cat , the dog and # 1 ... -> [The, cat, ",", the, dog, and, #, 1, ...] (9 tokens).
    let m = gopher_quality::measure_text(
        "The cat, the dog and #1...\n- item",
        &gq(Profile::Datatrove),
    );
    // Second line: "-" "item" -> 11 tokens; symbols: "," "#" "..." "-" -> 7 content words.
    assert_eq!(m.word_count, 7);
    // content lengths: The3 cat3 the3 dog3 and3 1=1 item4 -> 20/7
    assert!(close(m.avg_word_length, 20.0 / 7.0));
    assert!(close(m.hash_ratio, 1.0 / 11.0));
    assert!(close(m.ellipsis_ratio, 1.0 / 11.0));
    assert!(close(m.bullet_lines_ratio, 0.5));
    assert!(close(m.ellipsis_lines_ratio, 0.5));
    // with a letter: The cat the dog and item = 6 of 11
    assert!(close(m.alpha_words_ratio, 6.0 / 11.0));
    // distinct, case-sensitive: "the", "and" ("The" does not count)
    assert_eq!(m.stop_words, 2);
    // occurrence counting (datatrove 0.2)
    let m = gopher_quality::measure_text("the the the", &gq(Profile::Fineweb2024));
    assert_eq!(m.stop_words, 3);
    let m = gopher_quality::measure_text("the the the", &gq(Profile::Datatrove));
    assert_eq!(m.stop_words, 1);
    // dolma: median word length of whitespace words: [a, bbb, ccccc] -> 3
    let m = gopher_quality::measure_text("a bbb ccccc", &gq(Profile::Dolma));
    assert!(close(m.avg_word_length, 3.0));
}

#[test]
fn gopher_quality_edge_cases() {
    let empty = gopher_quality::measure_text("", &gq(Profile::Datatrove));
    assert_eq!(empty, gopher_quality::GopherQuality::default());
    let ws = gopher_quality::measure_text(" \n\t ", &gq(Profile::Datatrove));
    assert_eq!(ws.word_count, 0);
    assert!(close(ws.bullet_lines_ratio, 0.0));
    // CRLF: two lines, both bullets.
    let crlf = gopher_quality::measure_text("• a\r\n• b\r\n", &gq(Profile::Datatrove));
    assert!(close(crlf.bullet_lines_ratio, 1.0));
    // Unicode ellipsis and combining characters: "e\u{301}" is one word of two code points.
    let m = gopher_quality::measure_text("cafe\u{301}…", &gq(Profile::Datatrove));
    assert_eq!(m.word_count, 1);
    assert!(close(m.avg_word_length, 5.0));
    assert!(close(m.ellipsis_lines_ratio, 1.0));
}

#[test]
fn gopher_repetition_by_hand() {
    // Lines "a b", "a b", "c": 1 repeat of 3 by count, 3 chars of 11.
    let m = gopher_repetition::measure_text("a b\na b\nc\n\nd", &gr(Profile::Datatrove));
    assert_eq!(m.chars, 12);
    // \n+ split: [a b, a b, c, d] -> one repeat of 4
    assert!(close(m.dup_line_frac, 0.25));
    assert!(close(m.dup_line_char_frac, 3.0 / 12.0));
    // paragraphs: ["a b\na b\nc", "d"]: none repeated
    assert!(close(m.dup_para_frac, 0.0));
    // words a b a b c d: 2-gram "a b" twice -> len("a b") * 2 = 6
    assert!(close(m.top_ngram_char_frac[0], 6.0 / 12.0));
    // 3-grams all distinct: first one "a b a" once -> 5
    assert!(close(m.top_ngram_char_frac[1], 5.0 / 12.0));
    assert!(m.dup_ngram_char_frac.iter().all(|&f| f == 0.0));
    // DCLM counts every occurrence of a repeated line.
    let d = gopher_repetition::measure_text("a b\na b\nc\n\nd", &gr(Profile::Dclm));
    assert!(close(d.dup_line_frac, 0.5));
}

#[test]
fn gopher_repetition_duplicated_ngrams() {
    // Ten words repeated: the second copy of each 5-gram is a repeat; the greedy scan counts the
    // second half once: words "w0".."w4" (2 chars each) x 2 -> 5-gram repeat at 5: 10 chars.
    let text = "w0 w1 w2 w3 w4 w0 w1 w2 w3 w4";
    let m = gopher_repetition::measure_text(text, &gr(Profile::Datatrove));
    assert!(close(m.dup_ngram_char_frac[0], 10.0 / text.len() as f64));
    assert!(close(m.dup_ngram_char_frac[1], 0.0));
    assert_eq!(
        gopher_repetition::measure_text("", &gr(Profile::Datatrove)),
        Default::default()
    );
}

#[test]
fn c4_rewrites_lines() {
    let text = "Short line.\nThis line has enough words here.\nno end mark here at all\nUse javascript to view this page.\nAnother fine sentence is here! And one more.\n";
    let r = c4::measure_text(text, &c4_config(Profile::Datatrove));
    assert_eq!(r.lines, 5);
    assert_eq!(r.lines_kept, 2);
    assert_eq!(r.sentences, 3);
    assert_eq!(
        r.text,
        "This line has enough words here.\nAnother fine sentence is here! And one more."
    );
    assert!(r.text_modified);
    let lorem = c4::measure_text(
        "Lorem ipsum dolor sit amet.",
        &c4_config(Profile::Datatrove),
    );
    assert!(lorem.lorem_ipsum);
    let curly = c4::measure_text("function f() { return 1; }", &c4_config(Profile::Datatrove));
    // No terminal mark: the line is dropped before the bracket is seen.
    assert!(!curly.curly_bracket);
    let curly = c4::measure_text(
        "Use a {bracket} in this line.",
        &c4_config(Profile::Datatrove),
    );
    assert!(curly.curly_bracket);
    // Citations are removed; `'` is an end mark for datatrove only.
    let cited = c4::measure_text(
        "It was so [1] indeed, he said.[2]\nShe said it's 'fine'",
        &c4_config(Profile::Datatrove),
    );
    assert_eq!(
        cited.text,
        "It was so  indeed, he said.\nShe said it's 'fine'"
    );
    let original = c4::measure_text("She said it's so 'fine'", &c4_config(Profile::C4Original));
    assert_eq!(original.lines_kept, 0);
    let crlf = c4::measure_text(
        "One two three.\r\nFour five six.\r\n",
        &c4_config(Profile::Datatrove),
    );
    assert_eq!(crlf.text, "One two three.\nFour five six.");
    assert_eq!(
        c4::measure_text("", &c4_config(Profile::Datatrove)).lines,
        0
    );
}

#[test]
fn c4_phrases_match_in_any_case_and_in_non_ascii_lines() {
    let config = c4_config(Profile::Datatrove);
    let text = "Enable JavaScript to see the map here.
\
                This Site Uses Cookies for the best experience.\n\
                Read our Privacy Policy before you go.\n\
                Die Straße hat eine Cookie Policy für Besucher.\n\
                The café opened its doors in the old town.\n\
                A line about java script is kept here.";
    let r = c4::measure_text(text, &config);
    assert_eq!(
        r.text,
        "The café opened its doors in the old town.\nA line about java script is kept here."
    );
    // Lorem ipsum in capitals after a non-ASCII character still flags the document.
    assert!(c4::measure_text("Ünïcode LOREM IPSUM dolor sit amet.", &config).lorem_ipsum);
    // The order of the rules: javascript drops its line before a bracket in it is seen.
    let js = c4::measure_text("Turn on javascript {now} to read more.", &config);
    assert!(!js.curly_bracket);
    assert_eq!(js.lines_kept, 0);
}

#[test]
fn fineweb_by_hand() {
    let text = "A first line that is long enough to count.\nshort\n\nshort\nEnd!";
    let m = fineweb::measure_text(text, &fw(Profile::Datatrove));
    assert_eq!(m.non_empty_lines, 4);
    assert!(close(m.line_punct_ratio, 0.5));
    assert!(close(m.short_line_ratio, 0.75));
    // "short" repeated once: 5 chars over the text without newlines
    let no_newlines = text.len() - 4;
    assert!(close(m.char_dup_ratio, 5.0 / no_newlines as f64));
    // fineweb-2024 counts the empty line too: 5 lines.
    let old = fineweb::measure_text(text, &fw(Profile::Fineweb2024));
    assert!(close(old.line_punct_ratio, 2.0 / 5.0));
    assert!(close(old.short_line_ratio, 4.0 / 5.0));
    assert_eq!(
        fineweb::measure_text(" \n ", &fw(Profile::Datatrove)).non_empty_lines,
        0
    );
    // Unicode terminal punctuation counts under datatrove; a closing quote does not.
    let m = fineweb::measure_text("終わり。\n\"Quoted.\"", &fw(Profile::Datatrove));
    assert!(close(m.line_punct_ratio, 0.5));
}

#[test]
fn refinedweb_by_hand() {
    let text = "A normal line of text here.\nCOOKIES ARE USED\n1234567\n12 likes\nWord\nSign-in to comment now\nGreat post Read more...";
    let r = refinedweb::measure_text(text, &rw());
    assert_eq!(r.lines_removed, 4);
    assert_eq!(
        r.text,
        "A normal line of text here.\n to comment now\nGreat post "
    );
    assert_eq!(r.words_before, 21);
    assert_eq!(r.words_after, 11);
    assert!(close(r.removed_word_ratio, 10.0 / 21.0));
    let unchanged = refinedweb::measure_text("two words", &rw());
    assert!(!unchanged.text_modified);
}

#[test]
fn ten_megabyte_document() {
    let paragraph = "The quick brown fox jumps over the lazy dog, and then it rests.\n";
    let text = paragraph.repeat(10 * 1024 * 1024 / paragraph.len());
    let q = gopher_quality::measure_text(&text, &gq(Profile::Datatrove));
    assert!(q.word_count > 1_000_000);
    let r = gopher_repetition::measure_text(&text, &gr(Profile::Datatrove));
    assert!(r.dup_line_frac > 0.99);
    let f = fineweb::measure_text(&text, &fw(Profile::Datatrove));
    assert!(f.char_dup_ratio > 0.99);
    let c = c4::measure_text(&text, &c4_config(Profile::Datatrove));
    assert!(c.sentences > 100_000);
}

fn profiles() -> impl Strategy<Value = Profile> {
    prop_oneof![
        Just(Profile::Datatrove),
        Just(Profile::Fineweb2024),
        Just(Profile::Dclm),
        Just(Profile::Dolma),
        Just(Profile::C4Original),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_input_panics(text in "(?s).{0,300}", profile in profiles()) {
        let _ = gopher_quality::measure_text(&text, &gq(profile));
        let _ = gopher_repetition::measure_text(&text, &gr(profile));
        let _ = c4::measure_text(&text, &c4_config(profile));
        let _ = fineweb::measure_text(&text, &fw(profile));
        let _ = refinedweb::measure_text(&text, &rw());
    }

    #[test]
    fn web_like_input_never_panics(
        text in r"([a-zA-Z'’.,:;!?\-#…()\[\]{}$%0-9 ]|\n|\r\n|\u{2028}|é|e\u{301}|日本){0,400}",
        profile in profiles(),
    ) {
        let q = gopher_quality::measure_text(&text, &gq(profile));
        prop_assert!(q.alpha_words_ratio <= 1.0);
        let r = gopher_repetition::measure_text(&text, &gr(profile));
        prop_assert!(r.dup_line_frac <= 1.0);
        let c = c4::measure_text(&text, &c4_config(profile));
        prop_assert!(c.lines_kept <= c.lines);
        let f = fineweb::measure_text(&text, &fw(profile));
        prop_assert!(f.short_line_ratio <= 1.0);
    }

    #[test]
    fn english_tokens_are_slices_without_whitespace(text in "(?s).{0,200}") {
        let mut words = Vec::new();
        crate::text::english::split_words(&text, &mut words);
        for w in words {
            prop_assert!(!w.is_empty());
            prop_assert!(!w.chars().any(crate::text::english::is_py_space));
        }
    }

    #[test]
    fn sentence_count_shortcut_equals_counting_every_token(
        text in r"([a-zA-Z0-9'.,!?()\-$ ]|  |\t|\n|é|。|…|Mr\.|U\.S\.){0,120}",
    ) {
        prop_assert_eq!(
            crate::text::splitters::count_sentences_english(&text),
            sentences_token_by_token(&text)
        );
    }

    #[test]
    fn split_words_equals_the_non_space_tokens(
        text in r"([a-zA-Z0-9'’.,:;!?()\[\]\-$%#@/&]|[a-z]{1,8}|[0-9]{1,3}(km|kg|am|pm|\.)?|cannot|don't|U\.S\.|https?://a\.com/x|  | |\t|\n|\r\n|\u{a0}|\u{2028}|\u{3000}|é|日本|…|—){0,60}",
    ) {
        let mut words = Vec::new();
        crate::text::english::split_words(&text, &mut words);
        let mut tokens = Vec::new();
        crate::text::english::for_each_token(&text, |t| {
            if !t.is_space {
                tokens.push(t.text)
            }
        });
        prop_assert_eq!(words, tokens);
    }

    #[test]
    fn word_count_and_longest_match_whitespace_split(
        text in prop_oneof![
            r"(?s).{0,200}",
            r"([a-z]{1,40}|[ \t\n\x0b\x1c]{1,3}){0,30}",
            r"([a-z]{1,20}|[ \t\n]|\u{a0}|\u{2003}|\u{3000}|\u{1680}|\u{85}|\u{2028}|é|“|”|’|—|\u{2027}|日){0,60}",
        ],
    ) {
        let words: Vec<&str> = text
            .split(crate::text::english::is_py_space)
            .filter(|w| !w.is_empty())
            .collect();
        let longest = words.iter().map(|w| w.chars().count()).max().unwrap_or(0);
        prop_assert_eq!(
            crate::text::english::count_words_and_longest(&text),
            (words.len(), longest)
        );
        prop_assert_eq!(crate::text::english::count_words(&text), words.len());
    }

    #[test]
    fn splitlines_matches_python_definition(text in r"(?s)([a-z ]{16,40}|a|é|\r|\n|\r\n|\x0b|\x0c|\x1c|\x1d|\x1e|\u{85}|\u{2028}|\u{2029}|\u{a0}|\u{2027}){0,40}") {
        let expected: Vec<&str> = python_splitlines(&text);
        prop_assert_eq!(crate::signals::heuristic_text::py_splitlines(&text), expected);
    }
}

/// The sentencizer rule applied to every token (what the counting shortcut must agree with).
fn sentences_token_by_token(text: &str) -> usize {
    let (mut sentences, mut any, mut seen_final) = (0usize, false, false);
    crate::text::english::for_each_token(text, |t| {
        if !any {
            any = true;
            sentences = 1;
        }
        let is_final = !t.is_space && matches!(t.text, "." | "!" | "?" | "。");
        let is_punct = !t.is_space
            && t.text
                .chars()
                .all(crate::text::splitters::is_unicode_punctuation);
        if seen_final && !is_punct && !is_final {
            sentences += 1;
            seen_final = false;
        } else if is_final {
            seen_final = true;
        }
    });
    sentences
}

/// `str.splitlines()` written char by char from its definition.
fn python_splitlines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let breaks = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if breaks {
            out.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' && chars.peek().map(|&(_, n)| n) == Some('\n') {
                chars.next();
                end += 1;
            }
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}
