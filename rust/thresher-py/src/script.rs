//! Binding of the writing-system signal: text column in, `script` and `script_fraction` out.

use arrow_array::RecordBatch;
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use pyo3::prelude::*;
use thresher_core::signals::script;
use thresher_core::TextColumn;

use crate::convert::{guarded, signals_to_batch, to_array};

/// Dominant Unicode script of each row's letters and the share of letters in it.
#[pyfunction]
fn script_signals(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
) -> PyResult<PyArrowType<RecordBatch>> {
    let array = to_array(text.0);
    let batch = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        signals_to_batch(script::compute(column))
    })?;
    Ok(PyArrowType(batch))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(script_signals, m)?)?;
    Ok(())
}
