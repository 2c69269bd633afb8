//! Small column utilities the readers need: generated ids and binary-to-text decoding.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef};
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use pyo3::prelude::*;
use thresher_core::{ids, utf8, TextColumn};

use crate::convert::{guarded, to_array};

/// `prefix/0000000000`-style ids for `count` rows starting at row `start`.
#[pyfunction]
fn sequential_ids(
    py: Python<'_>,
    prefix: String,
    start: u64,
    count: usize,
) -> PyResult<PyArrowType<ArrayData>> {
    let ids = guarded(py, || Ok(ids::sequential_ids(&prefix, start, count)))?;
    Ok(PyArrowType(ids.into_data()))
}

/// Decodes a binary column to large_string; returns (text, invalid_utf8_mask).
#[pyfunction]
fn decode_utf8(
    py: Python<'_>,
    data: PyArrowType<ArrayData>,
) -> PyResult<(PyArrowType<ArrayData>, PyArrowType<ArrayData>)> {
    let array: ArrayRef = to_array(data.0);
    let (text, invalid) = guarded(py, || utf8::decode_binary(array.as_ref()))?;
    let text: ArrayRef = Arc::new(text);
    Ok((
        PyArrowType(text.to_data()),
        PyArrowType(invalid.into_data()),
    ))
}

/// UTF-8 byte length of every row of a string column (utf8, large_utf8 or utf8_view).
#[pyfunction]
fn text_byte_lengths(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
) -> PyResult<PyArrowType<ArrayData>> {
    let array: ArrayRef = to_array(text.0);
    let lengths = guarded(py, || {
        Ok(TextColumn::try_new(array.as_ref())?.byte_lengths())
    })?;
    Ok(PyArrowType(lengths.into_data()))
}

/// Panics on purpose, so tests can check that a panic arrives as an exception.
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    guarded(py, || -> Result<(), thresher_core::CoreError> {
        panic!("deliberate panic from _panic_for_test")
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sequential_ids, m)?)?;
    m.add_function(wrap_pyfunction!(decode_utf8, m)?)?;
    m.add_function(wrap_pyfunction!(text_byte_lengths, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    Ok(())
}
