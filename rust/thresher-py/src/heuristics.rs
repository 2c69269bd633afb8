//! Bindings of the heuristic filter families (Gopher, C4, FineWeb, RefinedWeb) and of the word
//! splitters they use: text column in, signal batch (or list column) out, GIL released.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use thresher_core::parallel::map_rows;
use thresher_core::signals::chain::{self, ChainKind, ChainStep, KeepWhen, Rule};
use thresher_core::signals::heuristic_text::Profile;
use thresher_core::signals::{c4, fineweb, gopher_quality, gopher_repetition, refinedweb};
use thresher_core::text::splitters::{count_sentences_english, WordSplitter};
use thresher_core::text::word_memo::WordMemo;
use thresher_core::{CoreError, TextColumn};

use crate::convert::{guarded, signals_to_batch, text_signals, to_array};

fn profile(name: &str) -> Result<Profile, CoreError> {
    Profile::parse(name).ok_or_else(|| {
        CoreError::InvalidArgument(format!(
            "unknown profile {name:?}; expected datatrove, fineweb-2024, dclm, dolma or c4-original"
        ))
    })
}

/// Word splits shared by the heuristic steps of one batch (see `thresher_core::text::word_memo`):
/// pass the same object to each step's call and every document is split once.
#[pyclass(frozen, name = "WordMemo")]
struct PyWordMemo {
    memo: Arc<WordMemo>,
}

#[pymethods]
impl PyWordMemo {
    #[new]
    fn new() -> Self {
        Self {
            memo: Arc::new(WordMemo::new()),
        }
    }

    /// Number of documents whose words are remembered.
    fn __len__(&self) -> usize {
        self.memo.len()
    }
}

/// Gopher quality signals (word count, word length, symbol ratios, bullets, ellipses, letters, stop words).
#[pyfunction]
#[pyo3(signature = (text, profile_name, splitter_name, stop_words, word_memo=None))]
fn gopher_quality_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    profile_name: String,
    splitter_name: String,
    stop_words: Vec<String>,
    word_memo: Option<&PyWordMemo>,
) -> PyResult<PyArrowType<RecordBatch>> {
    let memo = word_memo.map(|m| Arc::clone(&m.memo));
    let batch = text_signals(py, text.0, |column| {
        let config = gopher_quality::GopherQualityConfig::new(
            profile(&profile_name)?,
            splitter(&splitter_name)?,
            stop_words,
        );
        Ok(gopher_quality::compute(column, &config, memo.as_deref()))
    })?;
    Ok(PyArrowType(batch))
}

/// Gopher repetition signals (duplicated lines/paragraphs, top and duplicated n-grams).
#[pyfunction]
#[pyo3(signature = (text, profile_name, splitter_name, word_memo=None))]
fn gopher_repetition_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    profile_name: String,
    splitter_name: String,
    word_memo: Option<&PyWordMemo>,
) -> PyResult<PyArrowType<RecordBatch>> {
    let memo = word_memo.map(|m| Arc::clone(&m.memo));
    let batch = text_signals(py, text.0, |column| {
        let config = gopher_repetition::GopherRepetitionConfig {
            profile: profile(&profile_name)?,
            splitter: splitter(&splitter_name)?,
        };
        Ok(gopher_repetition::compute(column, &config, memo.as_deref()))
    })?;
    Ok(PyArrowType(batch))
}

/// C4 line rules: (signals, rewritten text).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (text, profile_name, remove_citations, filter_no_terminal_punct, min_words_per_line, max_word_length, filter_lorem_ipsum, filter_javascript, filter_curly_bracket, filter_policy, word_memo=None))]
fn c4_quality_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    profile_name: String,
    remove_citations: bool,
    filter_no_terminal_punct: bool,
    min_words_per_line: Option<usize>,
    max_word_length: Option<usize>,
    filter_lorem_ipsum: bool,
    filter_javascript: bool,
    filter_curly_bracket: bool,
    filter_policy: bool,
    word_memo: Option<&PyWordMemo>,
) -> PyResult<(PyArrowType<RecordBatch>, PyArrowType<ArrayData>)> {
    let memo = word_memo.map(|m| Arc::clone(&m.memo));
    let array = to_array(text.0);
    let (batch, texts) = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        let config = c4::C4Config {
            profile: profile(&profile_name)?,
            remove_citations,
            filter_no_terminal_punct,
            min_words_per_line,
            max_word_length,
            filter_lorem_ipsum,
            filter_javascript,
            filter_curly_bracket,
            filter_policy,
        };
        let (signals, texts) = c4::compute(column, &config, memo.as_deref());
        Ok((signals_to_batch(signals)?, texts.to_data()))
    })?;
    Ok((PyArrowType(batch), PyArrowType(texts)))
}

/// FineWeb quality signals (punctuated lines, short lines, duplicated-line characters, newlines per word).
#[pyfunction]
#[pyo3(signature = (text, profile_name, splitter_name, short_line_length, word_memo=None))]
fn fineweb_quality_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    profile_name: String,
    splitter_name: String,
    short_line_length: usize,
    word_memo: Option<&PyWordMemo>,
) -> PyResult<PyArrowType<RecordBatch>> {
    let memo = word_memo.map(|m| Arc::clone(&m.memo));
    let batch = text_signals(py, text.0, |column| {
        let config = fineweb::FinewebConfig {
            profile: profile(&profile_name)?,
            splitter: splitter(&splitter_name)?,
            short_line_length,
        };
        Ok(fineweb::compute(column, &config, memo.as_deref()))
    })?;
    Ok(PyArrowType(batch))
}

/// RefinedWeb line corrections (DCLM's reproduction): (signals, rewritten text).
#[pyfunction]
fn refinedweb_line_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    max_uppercase_ratio: f64,
    max_numeric_ratio: f64,
    remove_counters: bool,
    min_words_per_line: usize,
    max_words_for_substrings: usize,
) -> PyResult<(PyArrowType<RecordBatch>, PyArrowType<ArrayData>)> {
    let array = to_array(text.0);
    let (batch, texts) = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        let config = refinedweb::RefinedwebConfig {
            max_uppercase_ratio,
            max_numeric_ratio,
            remove_counters,
            min_words_per_line,
            max_words_for_substrings,
        };
        let (signals, texts) = refinedweb::compute(column, &config);
        Ok((signals_to_batch(signals)?, texts.to_data()))
    })?;
    Ok((PyArrowType(batch), PyArrowType(texts)))
}

/// A run of heuristic steps applied document by document with their threshold rules (see
/// `thresher_core::signals::chain`). Built once from the steps' specs:
/// `{"kind": "gopher_repetition" | "gopher_quality" | "c4_quality" | "fineweb_quality" |
/// "refinedweb_lines", "rules": [(signal, ">=" | ">" | "<=" | "<", threshold, zero_passes)], ...}`
/// with the step's parameters beside `kind`.
#[pyclass(frozen, name = "HeuristicChain")]
struct PyHeuristicChain {
    chain: chain::HeuristicChain,
}

fn spec_item<'py, T>(spec: &Bound<'py, PyDict>, key: &str) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py>,
{
    let value = spec.get_item(key)?.ok_or_else(|| {
        PyValueError::new_err(format!("heuristic chain spec: missing key {key:?}"))
    })?;
    value.extract::<T>().map_err(|err| {
        let err: PyErr = err.into();
        PyValueError::new_err(format!("heuristic chain spec: key {key:?}: {err}"))
    })
}

fn chain_kind(spec: &Bound<'_, PyDict>) -> PyResult<ChainKind> {
    let kind: String = spec_item(spec, "kind")?;
    let invalid = |e: CoreError| PyValueError::new_err(e.to_string());
    let profile_of = || profile(&spec_item::<String>(spec, "profile")?).map_err(invalid);
    let splitter_of = || splitter(&spec_item::<String>(spec, "splitter")?).map_err(invalid);
    Ok(match kind.as_str() {
        "gopher_repetition" => {
            ChainKind::GopherRepetition(gopher_repetition::GopherRepetitionConfig {
                profile: profile_of()?,
                splitter: splitter_of()?,
            })
        }
        "gopher_quality" => {
            ChainKind::GopherQuality(Box::new(gopher_quality::GopherQualityConfig::new(
                profile_of()?,
                splitter_of()?,
                spec_item::<Vec<String>>(spec, "stop_words")?,
            )))
        }
        "c4_quality" => ChainKind::C4(c4::C4Config {
            profile: profile_of()?,
            remove_citations: spec_item(spec, "remove_citations")?,
            filter_no_terminal_punct: spec_item(spec, "filter_no_terminal_punct")?,
            min_words_per_line: spec_item(spec, "min_words_per_line")?,
            max_word_length: spec_item(spec, "max_word_length")?,
            filter_lorem_ipsum: spec_item(spec, "filter_lorem_ipsum")?,
            filter_javascript: spec_item(spec, "filter_javascript")?,
            filter_curly_bracket: spec_item(spec, "filter_curly_bracket")?,
            filter_policy: spec_item(spec, "filter_policy")?,
        }),
        "fineweb_quality" => ChainKind::Fineweb(fineweb::FinewebConfig {
            profile: profile_of()?,
            splitter: splitter_of()?,
            short_line_length: spec_item(spec, "short_line_length")?,
        }),
        "refinedweb_lines" => ChainKind::Refinedweb(refinedweb::RefinedwebConfig {
            max_uppercase_ratio: spec_item(spec, "max_uppercase_ratio")?,
            max_numeric_ratio: spec_item(spec, "max_numeric_ratio")?,
            remove_counters: spec_item(spec, "remove_counters")?,
            min_words_per_line: spec_item(spec, "min_words_per_line")?,
            max_words_for_substrings: spec_item(spec, "max_words_for_substrings")?,
        }),
        other => {
            return Err(PyValueError::new_err(format!(
                "heuristic chain spec: unknown kind {other:?}"
            )))
        }
    })
}

fn chain_step(spec: &Bound<'_, PyDict>) -> PyResult<ChainStep> {
    let kind = chain_kind(spec)?;
    let names = kind.signal_names();
    let rules: Vec<(String, String, f64, bool)> = spec_item(spec, "rules")?;
    let rules = rules
        .into_iter()
        .map(|(signal, op, threshold, zero_passes)| {
            let index = names.iter().position(|n| *n == signal).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "heuristic chain spec: no signal {signal:?}; expected one of {names:?}"
                ))
            })?;
            let keep_when = KeepWhen::parse(&op).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "heuristic chain spec: comparison {op:?}; expected >=, >, <= or <"
                ))
            })?;
            Ok(Rule {
                signal: index,
                keep_when,
                threshold,
                zero_passes,
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    ChainStep::new(kind, rules).map_err(|e| PyValueError::new_err(e.to_string()))
}

#[pymethods]
impl PyHeuristicChain {
    #[new]
    fn new(specs: Vec<Bound<'_, PyDict>>) -> PyResult<Self> {
        let steps = specs.iter().map(chain_step).collect::<PyResult<Vec<_>>>()?;
        Ok(Self {
            chain: chain::HeuristicChain::new(steps),
        })
    }

    /// Runs the steps over a text column: (one signal batch per step, the dropping step of each
    /// row (the number of steps where it was kept), the index of its failing rule in that step's
    /// list, the output text or None when no row's text changed).
    #[allow(clippy::type_complexity)]
    fn run(
        &self,
        py: Python<'_>,
        text: PyArrowType<ArrayData>,
    ) -> PyResult<(
        Vec<PyArrowType<RecordBatch>>,
        PyArrowType<ArrayData>,
        PyArrowType<ArrayData>,
        Option<PyArrowType<ArrayData>>,
    )> {
        let array = to_array(text.0);
        let (batches, step, rule, texts) = guarded(py, || {
            let column = TextColumn::try_new(array.as_ref())?;
            let out = self.chain.run(column);
            let batches = out
                .signals
                .into_iter()
                .map(signals_to_batch)
                .collect::<Result<Vec<_>, _>>()?;
            // Kept rows: step = the number of steps (past the last one), rule 0; no nulls, so
            // the caller reads both as plain integer arrays.
            let kept_at = self.chain.steps().len() as u32;
            let step = UInt32Array::from(
                out.dropped
                    .iter()
                    .map(|d| d.map_or(kept_at, |(s, _)| s))
                    .collect::<Vec<_>>(),
            );
            let rule = UInt32Array::from(
                out.dropped
                    .iter()
                    .map(|d| d.map_or(0, |(_, r)| r))
                    .collect::<Vec<_>>(),
            );
            Ok((
                batches,
                step.into_data(),
                rule.into_data(),
                out.text.map(|t| t.to_data()),
            ))
        })?;
        Ok((
            batches.into_iter().map(PyArrowType).collect(),
            PyArrowType(step),
            PyArrowType(rule),
            texts.map(PyArrowType),
        ))
    }
}

fn splitter(name: &str) -> Result<WordSplitter, CoreError> {
    WordSplitter::parse(name).ok_or_else(|| {
        CoreError::InvalidArgument(format!(
            "unknown word splitter {name:?}; expected spacy_en, uax29 or whitespace"
        ))
    })
}

/// The words of every row as a list<string> column (nulls stay null).
#[pyfunction]
fn split_words(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    splitter_name: String,
) -> PyResult<PyArrowType<ArrayData>> {
    let array = to_array(text.0);
    let out = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        let split = splitter(&splitter_name)?;
        let rows: Vec<Option<Vec<String>>> = map_rows(column, |t| {
            t.map(|t| {
                let mut words = Vec::new();
                split.split(t, &mut words);
                words.into_iter().map(str::to_owned).collect()
            })
        });
        let mut builder = ListBuilder::new(StringBuilder::new());
        for row in rows {
            match row {
                Some(words) => {
                    for w in words {
                        builder.values().append_value(w);
                    }
                    builder.append(true);
                }
                None => builder.append(false),
            }
        }
        let list: Arc<dyn Array> = Arc::new(builder.finish());
        Ok(list.to_data())
    })?;
    Ok(PyArrowType(out))
}

/// Sentence counts of every row under the English rule-based sentence splitter.
#[pyfunction]
fn count_sentences(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
) -> PyResult<PyArrowType<ArrayData>> {
    let array = to_array(text.0);
    let out = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        let counts: Vec<Option<u64>> =
            map_rows(column, |t| t.map(|t| count_sentences_english(t) as u64));
        Ok(UInt64Array::from(counts).into_data())
    })?;
    Ok(PyArrowType(out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWordMemo>()?;
    m.add_class::<PyHeuristicChain>()?;
    m.add_function(wrap_pyfunction!(split_words, m)?)?;
    m.add_function(wrap_pyfunction!(count_sentences, m)?)?;
    m.add_function(wrap_pyfunction!(gopher_quality_signals, m)?)?;
    m.add_function(wrap_pyfunction!(gopher_repetition_signals, m)?)?;
    m.add_function(wrap_pyfunction!(c4_quality_signals, m)?)?;
    m.add_function(wrap_pyfunction!(fineweb_quality_signals, m)?)?;
    m.add_function(wrap_pyfunction!(refinedweb_line_signals, m)?)?;
    Ok(())
}
