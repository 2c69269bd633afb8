//! Bindings of the heuristic filter families (Gopher, C4, FineWeb, RefinedWeb) and of the word
//! splitters they use: text column in, signal batch (or list column) out, GIL released.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, UInt64Array};
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use pyo3::prelude::*;
use thresher_core::parallel::map_rows;
use thresher_core::text::splitters::{count_sentences_english, WordSplitter};
use thresher_core::{CoreError, TextColumn};

use crate::convert::{guarded, to_array};

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
    m.add_function(wrap_pyfunction!(split_words, m)?)?;
    m.add_function(wrap_pyfunction!(count_sentences, m)?)?;
    Ok(())
}
