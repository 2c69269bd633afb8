//! A run of heuristic steps applied to one document after another, with their threshold rules.
//!
//! A pipeline such as FineWeb's (Gopher repetition, Gopher quality, C4, FineWeb) runs each step
//! only on the documents the previous ones kept. Run step by step, every step is a pass over the
//! whole batch: the text is filtered and copied between steps, and each step looks up the words an
//! earlier one split. Here each document goes through the steps in turn while it is in cache: its
//! words are split once per text (a step that rewrites the text, C4, carries the words of the lines
//! it keeps over to the new text), a step's rules are evaluated as soon as its signals are known,
//! and the first failing rule ends the document's run, exactly as the step-by-step path decides.
//!
//! The result is what the steps would have produced one after the other: each step's signals
//! (null for rows that did not reach it), the step and rule that dropped each row, and the text
//! each row leaves with (the rewritten text when it was kept, the text it reached the dropping step
//! with otherwise).

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::{ArrayRef, LargeStringArray, StringArray};

use crate::column::TextColumn;
use crate::error::{CoreError, Result};
use crate::parallel::map_rows_with_tasks;
use crate::signals::c4::{self, C4Config, C4Result};
use crate::signals::fineweb::{self, Fineweb, FinewebConfig};
use crate::signals::gopher_quality::{self, GopherQuality, GopherQualityConfig};
use crate::signals::gopher_repetition::{
    self, GopherRepetition, GopherRepetitionConfig, RepetitionScratch,
};
use crate::signals::heuristic_text::py_splitlines;
use crate::signals::refinedweb::{self, RefinedwebConfig, RefinedwebResult};
use crate::signals::{SignalBatch, SignalRow, SignalValue};
use crate::text::splitters::WordSplitter;

/// One heuristic step of a chain, with its configuration.
pub enum ChainKind {
    GopherRepetition(GopherRepetitionConfig),
    GopherQuality(Box<GopherQualityConfig>),
    C4(C4Config),
    Fineweb(FinewebConfig),
    Refinedweb(RefinedwebConfig),
}

impl ChainKind {
    /// The step's signal names, in column order.
    pub fn signal_names(&self) -> &'static [&'static str] {
        match self {
            Self::GopherRepetition(_) => GopherRepetition::NAMES,
            Self::GopherQuality(_) => GopherQuality::NAMES,
            Self::C4(_) => C4Result::NAMES,
            Self::Fineweb(_) => Fineweb::NAMES,
            Self::Refinedweb(_) => RefinedwebResult::NAMES,
        }
    }
}

/// How a rule compares a signal with its threshold to keep a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepWhen {
    AtLeast,
    Above,
    AtMost,
    Below,
}

impl KeepWhen {
    /// `>=`, `>`, `<=` or `<`.
    pub fn parse(op: &str) -> Option<Self> {
        match op {
            ">=" => Some(Self::AtLeast),
            ">" => Some(Self::Above),
            "<=" => Some(Self::AtMost),
            "<" => Some(Self::Below),
            _ => None,
        }
    }
}

/// Keep a row when `signal <keep_when> threshold`; a NaN never fails (as Arrow's comparisons).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub signal: usize,
    pub keep_when: KeepWhen,
    pub threshold: f64,
    /// A value of exactly 0 never fails (FineWeb's `line_punct_exclude_zero`).
    pub zero_passes: bool,
}

impl Rule {
    #[inline]
    pub fn fails(&self, value: f64) -> bool {
        if self.zero_passes && value == 0.0 {
            return false;
        }
        let t = self.threshold;
        match self.keep_when {
            KeepWhen::AtLeast => value < t,
            KeepWhen::Above => value <= t,
            KeepWhen::AtMost => value > t,
            KeepWhen::Below => value >= t,
        }
    }
}

pub struct ChainStep {
    kind: ChainKind,
    rules: Vec<Rule>,
}

impl ChainStep {
    /// A step and its rules, in the order they are tried (the first failing one gives the reason).
    pub fn new(kind: ChainKind, rules: Vec<Rule>) -> Result<Self> {
        let names = kind.signal_names();
        if let Some(rule) = rules.iter().find(|r| r.signal >= names.len()) {
            return Err(CoreError::InvalidArgument(format!(
                "rule on signal {} of a step with {} signals",
                rule.signal,
                names.len()
            )));
        }
        Ok(Self { kind, rules })
    }

    pub fn kind(&self) -> &ChainKind {
        &self.kind
    }
}

/// What the chain gives for a batch.
pub struct ChainOutput {
    /// Per step, its signal columns; null for rows that did not reach the step.
    pub signals: Vec<SignalBatch>,
    /// Per row, the step that dropped it and the index of the failing rule in that step's list.
    pub dropped: Vec<Option<(u32, u32)>>,
    /// The text each row leaves with, when some row's text changed (`None`: the input is unchanged).
    pub text: Option<ArrayRef>,
}

enum Measured {
    Repetition(GopherRepetition),
    Quality(GopherQuality),
    C4(C4Result),
    Fineweb(Fineweb),
    Refinedweb(RefinedwebResult),
}

impl Measured {
    fn value(&self, signal: usize) -> SignalValue {
        match self {
            Self::Repetition(m) => m.value(signal),
            Self::Quality(m) => m.value(signal),
            Self::C4(m) => m.value(signal),
            Self::Fineweb(m) => m.value(signal),
            Self::Refinedweb(m) => m.value(signal),
        }
    }
}

struct RowOut {
    /// One per step reached, the dropping step included.
    measured: Vec<Measured>,
    dropped: Option<(u32, u32)>,
    /// The text the row leaves with, when it differs from its input.
    text: Option<String>,
}

/// The words of a text under one splitter: slices while it is the row's own text, byte offsets
/// (flattened (start, end)) into a text a step rewrote.
enum Words<'a> {
    Slices(Vec<&'a str>),
    Bounds(Vec<u32>),
}

/// Words per splitter and `splitlines()` of a row's current text, found on first use: Gopher
/// repetition, Gopher quality and FineWeb read the same words, Gopher quality and C4 the same lines.
#[derive(Default)]
struct TextCache<'a> {
    words: [Option<Words<'a>>; 3],
    lines: Option<Vec<[u32; 2]>>,
}

fn slot(splitter: WordSplitter) -> usize {
    match splitter {
        WordSplitter::SpacyEnglish => 0,
        WordSplitter::Uax29 => 1,
        WordSplitter::Whitespace => 2,
    }
}

fn to_bounds(text: &str, words: &[&str]) -> Vec<u32> {
    let base = text.as_ptr() as usize;
    let mut bounds = Vec::with_capacity(words.len() * 2);
    for w in words {
        let start = (w.as_ptr() as usize - base) as u32;
        bounds.push(start);
        bounds.push(start + w.len() as u32);
    }
    bounds
}

impl<'a> TextCache<'a> {
    /// The words of `text` (this cache's text) under `splitter`, split now if no step has yet;
    /// `own` is the same text borrowed for the row's lifetime while it is the row's input.
    fn words<'s>(
        &'s mut self,
        text: &'s str,
        own: Option<&'a str>,
        splitter: WordSplitter,
        buf: &'s mut Vec<&'s str>,
    ) -> &'s [&'s str] {
        let entry = &mut self.words[slot(splitter)];
        if entry.is_none() {
            *entry = Some(match own {
                Some(own) => {
                    // About a word per five bytes of English: room for most texts at once.
                    let mut words = Vec::with_capacity(own.len() / 5 + 8);
                    splitter.split(own, &mut words);
                    Words::Slices(words)
                }
                None if text.len() <= u32::MAX as usize => {
                    splitter.split(text, buf);
                    Words::Bounds(to_bounds(text, buf))
                }
                None => {
                    splitter.split(text, buf);
                    return buf;
                }
            });
        }
        Self::view(entry.as_ref().expect("filled above"), text, buf)
    }

    /// The words under `splitter` if a step has split them.
    fn known_words<'s>(
        &'s self,
        text: &'s str,
        splitter: WordSplitter,
        buf: &'s mut Vec<&'s str>,
    ) -> Option<&'s [&'s str]> {
        self.words[slot(splitter)]
            .as_ref()
            .map(|words| Self::view(words, text, buf))
    }

    fn view<'s>(words: &'s Words<'a>, text: &'s str, buf: &'s mut Vec<&'s str>) -> &'s [&'s str] {
        match words {
            Words::Slices(slices) => slices,
            Words::Bounds(bounds) => {
                buf.clear();
                buf.extend(
                    bounds
                        .chunks_exact(2)
                        .map(|b| &text[b[0] as usize..b[1] as usize]),
                );
                buf
            }
        }
    }

    /// Fills `out` with the `splitlines()` of `text` (this cache's text).
    fn lines<'t>(&mut self, text: &'t str, out: &mut Vec<&'t str>) {
        if let Some(bounds) = &self.lines {
            out.clear();
            out.extend(bounds.iter().map(|b| &text[b[0] as usize..b[1] as usize]));
            return;
        }
        *out = py_splitlines(text);
        if text.len() <= u32::MAX as usize {
            let base = text.as_ptr() as usize;
            self.lines = Some(
                out.iter()
                    .map(|l| {
                        let start = (l.as_ptr() as usize - base) as u32;
                        [start, start + l.len() as u32]
                    })
                    .collect(),
            );
        }
    }
}

/// Buffers one rayon thread reuses from one document to the next.
#[derive(Default)]
struct Scratch {
    repetition: RepetitionScratch,
}

pub struct HeuristicChain {
    steps: Vec<ChainStep>,
}

impl HeuristicChain {
    pub fn new(steps: Vec<ChainStep>) -> Self {
        Self { steps }
    }

    pub fn steps(&self) -> &[ChainStep] {
        &self.steps
    }

    /// Runs every row through the steps.
    pub fn run(&self, column: TextColumn<'_>) -> ChainOutput {
        // A document through every step costs a quarter of a millisecond on average, some a
        // hundred times more: small tasks keep the threads evenly busy.
        let rows = map_rows_with_tasks(column, 4, Scratch::default, |scratch, text| match text {
            Some(t) => self.run_row(t, scratch),
            // Null text: every step's signals are null and null signals fail no rule.
            None => RowOut {
                measured: Vec::new(),
                dropped: None,
                text: None,
            },
        });
        let signals = self
            .steps
            .iter()
            .enumerate()
            .map(|(k, step)| step_batch(k, &step.kind, &rows))
            .collect();
        let dropped = rows.iter().map(|r| r.dropped).collect();
        let text = rows.iter().any(|r| r.text.is_some()).then(|| {
            let texts = rows
                .iter()
                .enumerate()
                .map(|(i, r)| r.text.as_deref().or_else(|| column.get(i)));
            // The input's layout where 32-bit offsets can hold the text, so the caller need not
            // convert it.
            let bytes: usize = rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    r.text
                        .as_ref()
                        .map_or_else(|| column.get(i).map_or(0, str::len), String::len)
                })
                .sum();
            match column {
                TextColumn::Utf8(_) if bytes <= i32::MAX as usize => {
                    Arc::new(texts.collect::<StringArray>()) as ArrayRef
                }
                _ => Arc::new(texts.collect::<LargeStringArray>()) as ArrayRef,
            }
        });
        ChainOutput {
            signals,
            dropped,
            text,
        }
    }

    fn run_row<'a>(&self, original: &'a str, scratch: &mut Scratch) -> RowOut {
        let mut current: Cow<'a, str> = Cow::Borrowed(original);
        // The row's own text while no step has rewritten it.
        let mut own = Some(original);
        let mut cache = TextCache::default();
        let mut measured = Vec::with_capacity(self.steps.len());
        let mut dropped = None;
        for (k, step) in self.steps.iter().enumerate() {
            // A rewriting step's new text and its words, adopted if the row is kept.
            let mut rewritten: Option<(String, TextCache<'a>)> = None;
            let m = {
                let text: &str = &current;
                let mut buf = Vec::new();
                match &step.kind {
                    ChainKind::GopherRepetition(config) => {
                        let words = cache.words(text, own, config.word_splitter(), &mut buf);
                        Measured::Repetition(gopher_repetition::measure_words(
                            text,
                            words,
                            config,
                            &mut scratch.repetition,
                        ))
                    }
                    ChainKind::GopherQuality(config) => {
                        let mut lines = Vec::new();
                        cache.lines(text, &mut lines);
                        let words = cache.words(text, own, config.word_splitter(), &mut buf);
                        Measured::Quality(gopher_quality::measure_words_lines(
                            text, words, &lines, config,
                        ))
                    }
                    ChainKind::Fineweb(config) => {
                        let count = cache.words(text, own, config.splitter, &mut buf).len();
                        Measured::Fineweb(fineweb::measure_words(text, count, config))
                    }
                    ChainKind::C4(config) => {
                        let mut lines = Vec::new();
                        cache.lines(text, &mut lines);
                        let english = cache.known_words(text, WordSplitter::SpacyEnglish, &mut buf);
                        let (mut result, kept) = c4::measure_lines(text, &lines, english, config);
                        if result.text_modified && !(result.lorem_ipsum || result.curly_bracket) {
                            let new_text = std::mem::take(&mut result.text);
                            let mut carried = TextCache::default();
                            // Words never span a line break under these two splitters.
                            for splitter in [WordSplitter::SpacyEnglish, WordSplitter::Whitespace] {
                                let mut words_buf = Vec::new();
                                if let Some(words) =
                                    cache.known_words(text, splitter, &mut words_buf)
                                {
                                    let mut out = Vec::with_capacity(words.len() * 2);
                                    c4::carry_bounds(text, words, &kept, splitter, &mut out);
                                    carried.words[slot(splitter)] = Some(Words::Bounds(out));
                                }
                            }
                            rewritten = Some((new_text, carried));
                        }
                        result.text = String::new();
                        Measured::C4(result)
                    }
                    ChainKind::Refinedweb(config) => {
                        let mut result = refinedweb::measure_text(text, config);
                        if result.text_modified {
                            rewritten =
                                Some((std::mem::take(&mut result.text), TextCache::default()));
                        }
                        result.text = String::new();
                        Measured::Refinedweb(result)
                    }
                }
            };
            let failing = step
                .rules
                .iter()
                .position(|rule| rule.fails(m.value(rule.signal).as_f64()));
            measured.push(m);
            if let Some(rule) = failing {
                // A dropped row leaves with the text it reached this step with.
                dropped = Some((k as u32, rule as u32));
                break;
            }
            if let Some((text, words)) = rewritten {
                current = Cow::Owned(text);
                own = None;
                cache = words;
            }
        }
        RowOut {
            measured,
            dropped,
            text: match current {
                Cow::Owned(text) => Some(text),
                Cow::Borrowed(_) => None,
            },
        }
    }
}

/// Step `k`'s signal columns over every row.
fn step_batch(k: usize, kind: &ChainKind, rows: &[RowOut]) -> SignalBatch {
    macro_rules! batch_of {
        ($variant:ident, $row:ty) => {
            <$row>::batch(rows.iter().map(|r| match r.measured.get(k) {
                Some(Measured::$variant(m)) => Some(m),
                _ => None,
            }))
        };
    }
    match kind {
        ChainKind::GopherRepetition(_) => batch_of!(Repetition, GopherRepetition),
        ChainKind::GopherQuality(_) => batch_of!(Quality, GopherQuality),
        ChainKind::C4(_) => batch_of!(C4, C4Result),
        ChainKind::Fineweb(_) => batch_of!(Fineweb, Fineweb),
        ChainKind::Refinedweb(_) => batch_of!(Refinedweb, RefinedwebResult),
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, Float64Array, StringArray, UInt64Array};
    use proptest::prelude::*;

    use super::*;
    use crate::signals::heuristic_text::Profile;

    fn rule(signal: &str, names: &[&str], op: &str, threshold: f64) -> Rule {
        Rule {
            signal: names.iter().position(|n| *n == signal).expect("signal"),
            keep_when: KeepWhen::parse(op).expect("op"),
            threshold,
            zero_passes: false,
        }
    }

    /// FineWeb's chain with its published thresholds, under `profile`, with RefinedWeb's line
    /// corrections first when `refinedweb`.
    fn fineweb_chain(profile: Profile, refinedweb: bool) -> HeuristicChain {
        let splitter = WordSplitter::SpacyEnglish;
        let mut steps = Vec::new();
        if refinedweb {
            let names = RefinedwebResult::NAMES;
            steps.push(
                ChainStep::new(
                    ChainKind::Refinedweb(RefinedwebConfig {
                        max_uppercase_ratio: 0.5,
                        max_numeric_ratio: 0.999999,
                        remove_counters: true,
                        min_words_per_line: 2,
                        max_words_for_substrings: 10,
                    }),
                    vec![rule("removed_word_ratio", names, "<=", 0.05)],
                )
                .unwrap(),
            );
        }
        let names = GopherRepetition::NAMES;
        steps.push(
            ChainStep::new(
                ChainKind::GopherRepetition(GopherRepetitionConfig { profile, splitter }),
                vec![
                    rule("chars", names, ">=", 1.0),
                    rule("dup_para_frac", names, "<=", 0.3),
                    rule("dup_line_char_frac", names, "<=", 0.2),
                    rule("top_2_gram_frac", names, "<=", 0.2),
                    rule("dup_5_gram_frac", names, "<=", 0.15),
                ],
            )
            .unwrap(),
        );
        let names = GopherQuality::NAMES;
        steps.push(
            ChainStep::new(
                ChainKind::GopherQuality(Box::new(GopherQualityConfig::new(
                    profile,
                    splitter,
                    ["the", "be", "to", "of", "and"].map(String::from),
                ))),
                vec![
                    rule("word_count", names, ">=", 5.0),
                    rule("alpha_words_ratio", names, ">=", 0.5),
                    rule("stop_words", names, ">=", 1.0),
                ],
            )
            .unwrap(),
        );
        let names = C4Result::NAMES;
        steps.push(
            ChainStep::new(
                ChainKind::C4(C4Config {
                    filter_no_terminal_punct: false,
                    ..C4Config::for_profile(profile)
                }),
                vec![
                    rule("lorem_ipsum", names, "<=", 0.0),
                    rule("curly_bracket", names, "<=", 0.0),
                    rule("sentences", names, ">=", 2.0),
                ],
            )
            .unwrap(),
        );
        let names = Fineweb::NAMES;
        let mut punct = rule("line_punct_ratio", names, ">=", 0.12);
        punct.zero_passes = true;
        steps.push(
            ChainStep::new(
                ChainKind::Fineweb(FinewebConfig {
                    profile,
                    splitter,
                    short_line_length: 30,
                }),
                vec![
                    rule("non_empty_lines", names, ">=", 1.0),
                    punct,
                    rule("short_line_ratio", names, "<=", 0.67),
                    rule("list_ratio", names, "<=", 0.3),
                ],
            )
            .unwrap(),
        );
        HeuristicChain::new(steps)
    }

    /// The step-by-step reference: each family's own `measure_text` on the text as the previous
    /// steps left it, rules checked after each step.
    fn step_by_step(
        chain: &HeuristicChain,
        text: &str,
    ) -> (Vec<Vec<SignalValue>>, Option<(u32, u32)>, String) {
        let mut current = text.to_string();
        let mut values = Vec::new();
        for (k, step) in chain.steps().iter().enumerate() {
            let (row, new_text): (Vec<SignalValue>, Option<String>) = match step.kind() {
                ChainKind::GopherRepetition(c) => {
                    let m = gopher_repetition::measure_text(&current, c);
                    ((0..14).map(|i| m.value(i)).collect(), None)
                }
                ChainKind::GopherQuality(c) => {
                    let m = gopher_quality::measure_text(&current, c);
                    ((0..9).map(|i| m.value(i)).collect(), None)
                }
                ChainKind::Fineweb(c) => {
                    let m = fineweb::measure_text(&current, c);
                    ((0..5).map(|i| m.value(i)).collect(), None)
                }
                ChainKind::C4(c) => {
                    let m = c4::measure_text(&current, c);
                    let text = (!(m.lorem_ipsum || m.curly_bracket)).then(|| m.text.clone());
                    ((0..6).map(|i| m.value(i)).collect(), text)
                }
                ChainKind::Refinedweb(c) => {
                    let m = refinedweb::measure_text(&current, c);
                    ((0..5).map(|i| m.value(i)).collect(), Some(m.text.clone()))
                }
            };
            let failing = step
                .rules
                .iter()
                .position(|r| r.fails(row[r.signal].as_f64()));
            values.push(row);
            if let Some(rule) = failing {
                return (values, Some((k as u32, rule as u32)), current);
            }
            if let Some(t) = new_text {
                current = t;
            }
        }
        (values, None, current)
    }

    fn value_at(batch: &SignalBatch, signal: usize, row: usize) -> Option<SignalValue> {
        let array = &batch.columns[signal].1;
        if array.is_null(row) {
            return None;
        }
        let any = array.as_any();
        Some(match any.downcast_ref::<UInt64Array>() {
            Some(a) => SignalValue::Count(a.value(row)),
            None => SignalValue::Fraction(
                any.downcast_ref::<Float64Array>()
                    .expect("f64 column")
                    .value(row),
            ),
        })
    }

    fn agrees_with_step_by_step(texts: &[Option<&str>], chain: &HeuristicChain) {
        let column = StringArray::from(texts.to_vec());
        let out = chain.run(TextColumn::try_new(&column).unwrap());
        for (row, text) in texts.iter().enumerate() {
            let Some(text) = text else {
                assert_eq!(out.dropped[row], None);
                for batch in &out.signals {
                    assert!(value_at(batch, 0, row).is_none());
                }
                continue;
            };
            let (values, dropped, final_text) = step_by_step(chain, text);
            assert_eq!(out.dropped[row], dropped, "{text:?}");
            for (k, batch) in out.signals.iter().enumerate() {
                for signal in 0..batch.columns.len() {
                    let got = value_at(batch, signal, row);
                    let want = values.get(k).map(|v| v[signal]);
                    let same = match (got, want) {
                        (Some(SignalValue::Fraction(a)), Some(SignalValue::Fraction(b))) => {
                            a == b || (a.is_nan() && b.is_nan())
                        }
                        (a, b) => a == b,
                    };
                    assert!(
                        same,
                        "step {k} signal {signal} of {text:?}: {got:?} != {want:?}"
                    );
                }
            }
            let got_text = out
                .text
                .as_ref()
                .map(|t| {
                    // Rewritten text keeps the input's layout (Utf8 here).
                    assert_eq!(t.data_type(), column.data_type());
                    TextColumn::try_new(t.as_ref())
                        .unwrap()
                        .get(row)
                        .unwrap()
                        .to_string()
                })
                .unwrap_or_else(|| text.to_string());
            assert_eq!(got_text, final_text, "{text:?}");
        }
    }

    const DOCS: [&str; 7] = [
        "",
        "   \n\t ",
        "The cat sat on the mat. It was happy to be there.\nShort line\nThe dog and the cat are friends of the house.\n\nA second paragraph with [1] a citation, and more words to count.",
        "Enable javascript to see this page.\nThe rest of the text is fine and long enough to keep, and it has the words.\nLorem ipsum dolor sit amet.",
        "function f() { return 1; }\nThe code above is a function of the kind that we have to see.",
        "Read more...\nSIGN IN NOW\n12 likes\nthe the the the the the the the the the\nthe the the the the the the the the the",
        "A line.\r\nAnother line, with the end.\r\n\r\nA third one to be read by all of us.",
    ];

    #[test]
    fn hand_made_documents_agree_with_step_by_step() {
        let texts: Vec<Option<&str>> = DOCS.iter().map(|d| Some(*d)).chain([None]).collect();
        for profile in [
            Profile::Datatrove,
            Profile::Dclm,
            Profile::Dolma,
            Profile::C4Original,
        ] {
            for refinedweb in [false, true] {
                agrees_with_step_by_step(&texts, &fineweb_chain(profile, refinedweb));
            }
        }
    }

    #[test]
    fn rules_compare_as_arrow_does() {
        let r = |op, t| Rule {
            signal: 0,
            keep_when: KeepWhen::parse(op).unwrap(),
            threshold: t,
            zero_passes: false,
        };
        assert!(r(">=", 2.0).fails(1.0) && !r(">=", 2.0).fails(2.0));
        assert!(r(">", 2.0).fails(2.0) && !r(">", 2.0).fails(2.5));
        assert!(r("<=", 2.0).fails(2.5) && !r("<=", 2.0).fails(2.0));
        assert!(r("<", 2.0).fails(2.0) && !r("<", 2.0).fails(1.0));
        for op in [">=", ">", "<=", "<"] {
            assert!(!r(op, 2.0).fails(f64::NAN));
        }
        assert!(KeepWhen::parse("==").is_none());
        let bad = ChainStep::new(
            ChainKind::Fineweb(FinewebConfig {
                profile: Profile::Datatrove,
                splitter: WordSplitter::SpacyEnglish,
                short_line_length: 30,
            }),
            vec![
                r(">=", 1.0),
                Rule {
                    signal: 5,
                    ..r(">=", 1.0)
                },
            ],
        );
        assert!(bad.is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn random_documents_agree_with_step_by_step(
            docs in proptest::collection::vec(
                r"([a-z]{1,6}|the|and|of|[A-Z]{2,5}|[0-9]{1,3}|\[1\]|[.,'!?()\-{]|\.\.\.|  | |\t|\n|\n\n|\r\n|é|javascript|lorem ipsum|likes|read more\.\.\.){0,60}",
                1..6,
            ),
        ) {
            let texts: Vec<Option<&str>> = docs.iter().map(|d| Some(d.as_str())).collect();
            for refinedweb in [false, true] {
                agrees_with_step_by_step(&texts, &fineweb_chain(Profile::Datatrove, refinedweb));
            }
        }
    }
}
