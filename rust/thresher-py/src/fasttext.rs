//! Binding of fastText inference: a model object loaded once, text column in, probabilities out.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, Float32Array};
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use pyo3::prelude::*;
use thresher_core::fasttext::FastTextModel;
use thresher_core::TextColumn;

use crate::convert::{guarded, to_array};

/// A fastText supervised model (`.bin`, version 12, not quantized) scored in Rust.
#[pyclass(frozen, name = "FastTextModel")]
struct PyFastTextModel {
    model: Arc<FastTextModel>,
}

#[pymethods]
impl PyFastTextModel {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let model = guarded(py, move || FastTextModel::load(&path))?;
        Ok(Self {
            model: Arc::new(model),
        })
    }

    /// Label names in the model's order, with their `__label__` prefix.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.model.labels().to_vec()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.model.dim()
    }

    /// Probabilities of every label for every row, flat and row-major (rows x labels).
    fn predict(
        &self,
        py: Python<'_>,
        text: PyArrowType<ArrayData>,
    ) -> PyResult<PyArrowType<ArrayData>> {
        let array = to_array(text.0);
        let model = Arc::clone(&self.model);
        let values = guarded(py, move || {
            let column = TextColumn::try_new(array.as_ref())?;
            Ok(model.predict(column))
        })?;
        Ok(PyArrowType(Float32Array::from(values).into_data()))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFastTextModel>()?;
    Ok(())
}
