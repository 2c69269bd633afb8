//! Bindings of the signal families: one function per family, text column in, signal batch out.

use arrow_array::RecordBatch;
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use pyo3::prelude::*;
use thresher_core::signals::{char_classes, text_length};
use thresher_core::TextColumn;

use crate::convert::{guarded, signals_to_batch, to_array};

/// Size signals (chars, bytes, words, lines, ...) of every row of a string array.
#[pyfunction]
fn text_length_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
) -> PyResult<PyArrowType<RecordBatch>> {
    let array = to_array(text.0);
    let batch = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        signals_to_batch(text_length::compute(column))
    })?;
    Ok(PyArrowType(batch))
}

/// Character-class fractions (letters, digits, punctuation, ...) of every row of a string array.
#[pyfunction]
fn char_class_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
) -> PyResult<PyArrowType<RecordBatch>> {
    let array = to_array(text.0);
    let batch = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        signals_to_batch(char_classes::compute(column))
    })?;
    Ok(PyArrowType(batch))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(text_length_signals, m)?)?;
    m.add_function(wrap_pyfunction!(char_class_signals, m)?)?;
    Ok(())
}
