//! Conversions and the guard every binding goes through.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow_array::{make_array, ArrayRef, RecordBatch};
use arrow_data::ArrayData;
use arrow_schema::{Field, Schema};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use thresher_core::{CoreError, SignalBatch};

create_exception!(
    _core,
    ThresherCoreError,
    PyValueError,
    "An error reported by Thresher's Rust core."
);
create_exception!(
    _core,
    RustPanic,
    PyRuntimeError,
    "A bug: Thresher's Rust core panicked. The batch was not processed."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ThresherCoreError", m.py().get_type::<ThresherCoreError>())?;
    m.add("RustPanic", m.py().get_type::<RustPanic>())?;
    Ok(())
}

/// Runs `work` with the GIL released; a core error or a panic becomes a Python exception, so a
/// panic never unwinds into the interpreter.
pub fn guarded<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, CoreError> + Send,
{
    let outcome = py.detach(move || catch_unwind(AssertUnwindSafe(work)));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(ThresherCoreError::new_err(err.to_string())),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".to_string());
            Err(RustPanic::new_err(message))
        }
    }
}

pub fn to_array(data: ArrayData) -> ArrayRef {
    make_array(data)
}

/// The common shape of a signal binding: a text column in, the core's signal batch out, with the GIL
/// released and errors mapped by [`guarded`].
pub fn text_signals<F>(py: Python<'_>, text: ArrayData, compute: F) -> PyResult<RecordBatch>
where
    F: FnOnce(thresher_core::TextColumn<'_>) -> Result<SignalBatch, CoreError> + Send,
{
    let array = to_array(text);
    guarded(py, || {
        let column = thresher_core::TextColumn::try_new(array.as_ref())?;
        signals_to_batch(compute(column)?)
    })
}

/// Packs named signal columns into a record batch (nullable columns, names as given).
pub fn signals_to_batch(signals: SignalBatch) -> Result<RecordBatch, CoreError> {
    let fields: Vec<Field> = signals
        .columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let arrays: Vec<ArrayRef> = signals.columns.into_iter().map(|(_, a)| a).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}
