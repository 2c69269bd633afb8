//! Every entry point of the core that takes text, in one list, so that all fuzzers cover all of them:
//! the proptest pass in `tests/fuzz_entry_points.rs` (part of `cargo test`) and the long run in
//! `examples/fuzz_text.rs` (`python benchmarks/fuzz.py`).
//!
//! Adding an entry point to every fuzzer is one line in [`ENTRY_POINTS`]: a name and a function that
//! calls it on a column and checks what must hold whatever the text (one output row per input row).
//! The driver [`check_all`] builds each input in every Arrow layout the entry point accepts (utf8,
//! large_utf8, utf8_view, sliced so offsets do not start at zero, binary for decoders) and calls each
//! entry point on each layout.

use std::sync::{Arc, OnceLock};

use arrow_array::{
    Array, ArrayRef, BinaryArray, BinaryViewArray, LargeBinaryArray, LargeStringArray, StringArray,
    StringViewArray,
};

use crate::column::TextColumn;
use crate::error::{CoreError, Result};
use crate::signals::c4::C4Config;
use crate::signals::chain::{ChainKind, ChainStep, HeuristicChain, KeepWhen, Rule};
use crate::signals::fineweb::FinewebConfig;
use crate::signals::gopher_quality::GopherQualityConfig;
use crate::signals::gopher_repetition::GopherRepetitionConfig;
use crate::signals::heuristic_text::Profile;
use crate::signals::refinedweb::RefinedwebConfig;
use crate::signals::{char_classes, text_length, SignalBatch};
use crate::text::splitters::WordSplitter;
use crate::text::{lines::lines, words::whitespace_words};
use crate::{ids, utf8};

/// What an entry point is given: a string column, or a binary column (raw bytes, maybe not UTF-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Text,
    Binary,
}

pub type EntryPoint = fn(&dyn Array) -> Result<()>;

/// The list the fuzzers walk. One line per entry point.
pub const ENTRY_POINTS: &[(&str, Input, EntryPoint)] = &[
    ("signals::text_length", Input::Text, |a| {
        rows(&text_length::compute(TextColumn::try_new(a)?), a.len())
    }),
    ("signals::char_classes", Input::Text, |a| {
        rows(&char_classes::compute(TextColumn::try_new(a)?), a.len())
    }),
    ("column::byte_lengths", Input::Text, |a| {
        same_len(TextColumn::try_new(a)?.byte_lengths().len(), a.len())
    }),
    ("text::lines", Input::Text, |a| {
        each_text(a, |t| lines(t).map(str::len).sum::<usize>() <= t.len())
    }),
    ("text::whitespace_words", Input::Text, |a| {
        each_text(a, |t| whitespace_words(t).all(|w| !w.is_empty()))
    }),
    ("ids::sequential_ids", Input::Text, |a| {
        let column = TextColumn::try_new(a)?;
        let prefix = if column.is_empty() {
            None
        } else {
            column.get(0)
        }
        .unwrap_or("");
        same_len(
            ids::sequential_ids(prefix, 0, a.len().min(8)).len(),
            a.len().min(8),
        )
    }),
    ("signals::chain", Input::Text, |a| {
        let out = every_heuristic().run(TextColumn::try_new(a)?);
        for batch in &out.signals {
            rows(batch, a.len())?;
        }
        same_len(out.dropped.len(), a.len())?;
        out.text.map_or(Ok(()), |t| same_len(t.len(), a.len()))
    }),
    ("utf8::decode_binary", Input::Binary, |a| {
        let (text, invalid) = utf8::decode_binary(a)?;
        same_len(text.len(), a.len())?;
        same_len(invalid.len(), a.len())
    }),
];

/// Every heuristic family in one run, each with a rule on its first signal (no rule on the others,
/// so most documents reach every step).
fn every_heuristic() -> &'static HeuristicChain {
    static CHAIN: OnceLock<HeuristicChain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let profile = Profile::Datatrove;
        let splitter = WordSplitter::SpacyEnglish;
        let keep_all = || {
            vec![Rule {
                signal: 0,
                keep_when: KeepWhen::AtLeast,
                threshold: 0.0,
                zero_passes: false,
            }]
        };
        let kinds = vec![
            ChainKind::Refinedweb(RefinedwebConfig {
                max_uppercase_ratio: 0.5,
                max_numeric_ratio: 0.999999,
                remove_counters: true,
                min_words_per_line: 2,
                max_words_for_substrings: 10,
            }),
            ChainKind::GopherRepetition(GopherRepetitionConfig { profile, splitter }),
            ChainKind::GopherQuality(Box::new(GopherQualityConfig::new(
                profile,
                splitter,
                ["the", "and", "é"].map(String::from),
            ))),
            ChainKind::C4(C4Config::for_profile(profile)),
            ChainKind::Fineweb(FinewebConfig {
                profile,
                splitter,
                short_line_length: 30,
            }),
        ];
        HeuristicChain::new(
            kinds
                .into_iter()
                .map(|kind| ChainStep::new(kind, keep_all()).expect("valid rules"))
                .collect(),
        )
    })
}

fn broken(message: String) -> CoreError {
    CoreError::InvalidArgument(message)
}

fn same_len(got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(broken(format!("{got} output rows for {want} input rows")))
    }
}

fn rows(signals: &SignalBatch, want: usize) -> Result<()> {
    for (name, column) in &signals.columns {
        if column.len() != want {
            return Err(broken(format!(
                "signal {name}: {} rows for {want}",
                column.len()
            )));
        }
    }
    Ok(())
}

fn each_text(array: &dyn Array, holds: impl Fn(&str) -> bool) -> Result<()> {
    let column = TextColumn::try_new(array)?;
    for i in 0..column.len() {
        if let Some(text) = column.get(i) {
            if !holds(text) {
                return Err(broken(format!("invariant broken on row {i}")));
            }
        }
    }
    Ok(())
}

/// The layouts one batch of documents is presented in: three string layouts (text made valid UTF-8
/// with replacement characters), three binary layouts of the raw bytes, and a slice of each.
/// A layout's string entry points see the text, its binary ones the raw bytes.
pub fn layouts(docs: &[Option<&[u8]>]) -> Vec<(Input, &'static str, ArrayRef)> {
    let texts: Vec<Option<String>> = docs
        .iter()
        .map(|d| d.map(|b| String::from_utf8_lossy(b).into_owned()))
        .collect();
    let strs: Vec<Option<&str>> = texts.iter().map(|t| t.as_deref()).collect();
    let full: Vec<(Input, &'static str, ArrayRef)> = vec![
        (
            Input::Text,
            "utf8",
            Arc::new(StringArray::from(strs.clone())),
        ),
        (
            Input::Text,
            "large_utf8",
            Arc::new(LargeStringArray::from(strs.clone())),
        ),
        (
            Input::Text,
            "utf8_view",
            Arc::new(StringViewArray::from(strs)),
        ),
        (
            Input::Binary,
            "binary",
            Arc::new(BinaryArray::from(docs.to_vec())),
        ),
        (
            Input::Binary,
            "large_binary",
            Arc::new(LargeBinaryArray::from(docs.to_vec())),
        ),
        (
            Input::Binary,
            "binary_view",
            Arc::new(BinaryViewArray::from(docs.to_vec())),
        ),
    ];
    let mut out = Vec::with_capacity(full.len() * 2);
    for (input, name, array) in full {
        if array.len() > 1 {
            let sliced = array.slice(1, array.len() - 1);
            out.push((input, name, sliced));
        }
        out.push((input, name, array));
    }
    out
}

/// Calls every entry point on every layout of `docs`. An error is returned for a broken invariant;
/// a panic propagates (the callers catch it and report the input).
pub fn check_all(docs: &[Option<&[u8]>]) -> std::result::Result<(), String> {
    check_layouts(docs, None)
}

/// As [`check_all`], on every layout or only on layout `only % number of layouts` (long runs rotate
/// through the layouts batch by batch, which is several times faster than all of them on each batch).
pub fn check_layouts(
    docs: &[Option<&[u8]>],
    only: Option<usize>,
) -> std::result::Result<(), String> {
    let all = layouts(docs);
    let count = all.len();
    for (index, (input, layout, array)) in all.into_iter().enumerate() {
        if only.is_some_and(|k| k % count != index) {
            continue;
        }
        for (name, wants, entry) in ENTRY_POINTS {
            if *wants != input {
                continue;
            }
            entry(array.as_ref()).map_err(|e| format!("{name} on {layout}: {e}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_point_runs_on_awkward_input() {
        let docs: Vec<Option<&[u8]>> = vec![
            Some(b"plain text\r\nsecond line\rthird"),
            None,
            Some(b""),
            Some(&[0xff, 0xfe, b'a', 0xc3]),
            Some("\u{0301}\u{200b}\u{feff}\u{1F600}\u{00a0}".as_bytes()),
        ];
        check_all(&docs).unwrap();
        check_all(&[]).unwrap();
    }

    #[test]
    fn a_wrong_column_type_is_an_error_not_a_panic() {
        let ints = arrow_array::Int32Array::from(vec![1, 2]);
        for (_, _, entry) in ENTRY_POINTS {
            assert!(entry(&ints).is_err());
        }
    }
}
