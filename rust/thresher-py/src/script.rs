//! Binding of the writing-system signal: text column in, `script` and `script_fraction` out.

use arrow_array::RecordBatch;
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use pyo3::prelude::*;
use thresher_core::signals::script;

use crate::convert::text_signals;

/// Dominant Unicode script of each row's letters and the share of letters in it.
#[pyfunction]
fn script_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
) -> PyResult<PyArrowType<RecordBatch>> {
    text_signals(py, text.0, |column| Ok(script::compute(column))).map(PyArrowType)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(script_signals, m)?)?;
    Ok(())
}
