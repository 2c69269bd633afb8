//! Bindings of the signal families: one function per family, text column in, signal batch out.

use arrow_array::RecordBatch;
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use pyo3::prelude::*;
use thresher_core::signals::{char_classes, text_length};

use crate::convert::text_signals;

/// Size signals (chars, bytes, words, lines, ...) of every row of a string array.
#[pyfunction]
fn text_length_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
) -> PyResult<PyArrowType<RecordBatch>> {
    text_signals(py, text.0, |column| Ok(text_length::compute(column))).map(PyArrowType)
}

/// Character-class fractions (letters, digits, punctuation, ...) of every row of a string array.
#[pyfunction]
fn char_class_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
) -> PyResult<PyArrowType<RecordBatch>> {
    text_signals(py, text.0, |column| Ok(char_classes::compute(column))).map(PyArrowType)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(text_length_signals, m)?)?;
    m.add_function(wrap_pyfunction!(char_class_signals, m)?)?;
    Ok(())
}
