//! Bindings of decontamination (n-gram index build, open and scan) and line dedup (line hashes,
//! line removal). Whole columns in, Arrow out; the index is shared read-only between threads.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, UInt32Builder};
use arrow_array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use arrow_schema::{Field, Schema};
use pyo3::prelude::*;
use thresher_core::decont::normalize::normalized_words;
use thresher_core::decont::{build_index, MatchRule, NgramIndex as CoreIndex};
use thresher_core::linededup;
use thresher_core::parallel::map_rows;
use thresher_core::{CoreError, TextColumn};

use crate::convert::{guarded, to_array};

fn u64_values(array: &ArrayRef, what: &str) -> Result<Vec<u64>, CoreError> {
    let values = array
        .as_any()
        .downcast_ref::<UInt64Array>()
        .ok_or_else(|| CoreError::InvalidArgument(format!("{what} must be a uint64 array")))?;
    if values.null_count() > 0 {
        return Err(CoreError::InvalidArgument(format!(
            "{what} must not hold nulls"
        )));
    }
    let out = values.values().to_vec();
    if !out.is_sorted() {
        return Err(CoreError::InvalidArgument(format!("{what} must be sorted")));
    }
    Ok(out)
}

/// Builds an n-gram index file of the evaluation items in `texts` (one item per row).
/// Returns (distinct n-grams per item as uint32, distinct keys, file bytes).
#[pyfunction]
fn ngram_index_build(
    py: Python<'_>,
    texts: PyArrowType<ArrayData>,
    n: usize,
    path: PathBuf,
) -> PyResult<(PyArrowType<ArrayData>, u64, u64)> {
    let array = to_array(texts.0);
    let summary = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        let items: Vec<Option<&str>> = (0..column.len()).map(|i| column.get(i)).collect();
        build_index(&items, n, &path)
    })?;
    let counts = UInt32Array::from(summary.item_ngrams);
    Ok((
        PyArrowType(counts.into_data()),
        summary.num_keys as u64,
        summary.bytes as u64,
    ))
}

/// A memory-mapped n-gram index of evaluation items.
#[pyclass(frozen, module = "thresher._core")]
struct NgramIndex {
    inner: Arc<CoreIndex>,
}

#[pymethods]
impl NgramIndex {
    #[new]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = guarded(py, || CoreIndex::open(&path))?;
        Ok(NgramIndex {
            inner: Arc::new(inner),
        })
    }

    #[getter]
    fn n(&self) -> usize {
        self.inner.n()
    }

    #[getter]
    fn num_keys(&self) -> usize {
        self.inner.num_keys()
    }

    #[getter]
    fn num_items(&self) -> usize {
        self.inner.num_items()
    }

    #[getter]
    fn file_bytes(&self) -> usize {
        self.inner.file_bytes()
    }

    /// Distinct n-grams of every item (uint32; 0 for items shorter than n words).
    fn item_ngrams(&self) -> PyArrowType<ArrayData> {
        PyArrowType(UInt32Array::from(self.inner.item_ngrams().to_vec()).into_data())
    }

    /// Matches every row of `text`. Columns: matched_ngrams, best_item_ngrams (uint32),
    /// max_item_fraction (float64), best_item (uint32), matched_items and matched_item_ngrams
    /// (list<uint32>, most shared first), match_start and match_end (uint64 byte offsets of the
    /// span of matched n-grams). Null rows give nulls; unmatched rows give zeros, empty lists and
    /// null best_item/span.
    #[pyo3(signature = (text, min_item_ngrams=Some(1), min_item_fraction=None, max_listed=10))]
    fn scan(
        &self,
        py: Python<'_>,
        text: PyArrowType<ArrayData>,
        min_item_ngrams: Option<u32>,
        min_item_fraction: Option<f64>,
        max_listed: usize,
    ) -> PyResult<PyArrowType<RecordBatch>> {
        let array = to_array(text.0);
        let index = Arc::clone(&self.inner);
        let rule = MatchRule {
            min_item_ngrams,
            min_item_fraction,
            max_listed,
        };
        let batch = guarded(py, move || {
            let column = TextColumn::try_new(array.as_ref())?;
            let matches = index.scan_column(column, &rule);
            let mut items = ListBuilder::new(UInt32Builder::new());
            let mut item_counts = ListBuilder::new(UInt32Builder::new());
            for m in &matches {
                match m {
                    Some(m) => {
                        for &(item, count) in &m.items {
                            items.values().append_value(item);
                            item_counts.values().append_value(count);
                        }
                        items.append(true);
                        item_counts.append(true);
                    }
                    None => {
                        items.append(false);
                        item_counts.append(false);
                    }
                }
            }
            let pick_u32 = |f: fn(&thresher_core::decont::DocMatch) -> Option<u32>| -> ArrayRef {
                Arc::new(UInt32Array::from(
                    matches
                        .iter()
                        .map(|m| m.as_ref().and_then(f))
                        .collect::<Vec<_>>(),
                ))
            };
            let pick_u64 = |f: fn(&thresher_core::decont::DocMatch) -> Option<u64>| -> ArrayRef {
                Arc::new(UInt64Array::from(
                    matches
                        .iter()
                        .map(|m| m.as_ref().and_then(f))
                        .collect::<Vec<_>>(),
                ))
            };
            let columns: Vec<(&str, ArrayRef)> = vec![
                ("matched_ngrams", pick_u32(|m| Some(m.matched_ngrams))),
                ("best_item_ngrams", pick_u32(|m| Some(m.best_item_ngrams))),
                (
                    "max_item_fraction",
                    Arc::new(Float64Array::from(
                        matches
                            .iter()
                            .map(|m| m.as_ref().map(|m| m.max_item_fraction))
                            .collect::<Vec<_>>(),
                    )),
                ),
                ("best_item", pick_u32(|m| m.best_item)),
                ("matched_items", Arc::new(items.finish())),
                ("matched_item_ngrams", Arc::new(item_counts.finish())),
                ("match_start", pick_u64(|m| m.span.map(|s| s.0 as u64))),
                ("match_end", pick_u64(|m| m.span.map(|s| s.1 as u64))),
            ];
            let fields: Vec<Field> = columns
                .iter()
                .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
                .collect();
            let arrays = columns.into_iter().map(|(_, a)| a).collect();
            Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
        })?;
        Ok(PyArrowType(batch))
    }
}

/// The normalised words of every row joined by single spaces (what n-grams are made of).
#[pyfunction]
fn ngram_normalize(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
) -> PyResult<PyArrowType<ArrayData>> {
    let array = to_array(text.0);
    let out = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        let rows = map_rows(column, |t| t.map(|t| normalized_words(t).join(" ")));
        Ok(StringArray::from(rows))
    })?;
    Ok(PyArrowType(out.into_data()))
}

/// Every row taken as one line, normalised as line dedup hashes it.
#[pyfunction]
#[pyo3(signature = (text, digits_to_zero=false))]
fn line_normalize(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    digits_to_zero: bool,
) -> PyResult<PyArrowType<ArrayData>> {
    let array = to_array(text.0);
    let out = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        let rows = map_rows(column, |t| {
            t.map(|t| {
                let mut s = String::new();
                linededup::normalize_line(t, &mut s, digits_to_zero);
                s
            })
        });
        Ok(StringArray::from(rows))
    })?;
    Ok(PyArrowType(out.into_data()))
}

/// Hash of every row taken as one normalised line (null where it normalises to nothing).
#[pyfunction]
#[pyo3(signature = (text, digits_to_zero=false))]
fn line_hash(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    digits_to_zero: bool,
) -> PyResult<PyArrowType<ArrayData>> {
    let array = to_array(text.0);
    let out = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        let rows = map_rows(column, |t| {
            t.and_then(|t| linededup::line_hash(t, &mut String::new(), digits_to_zero))
        });
        Ok(UInt64Array::from(rows))
    })?;
    Ok(PyArrowType(out.into_data()))
}

/// Distinct normalised-line hashes of every document, concatenated (uint64).
#[pyfunction]
#[pyo3(signature = (text, digits_to_zero=false))]
fn line_hashes(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    digits_to_zero: bool,
) -> PyResult<PyArrowType<ArrayData>> {
    let array = to_array(text.0);
    let out = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        Ok(linededup::column_line_hashes(column, digits_to_zero))
    })?;
    Ok(PyArrowType(out.into_data()))
}

/// Removes lines whose hash is in `remove` (sorted uint64). Returns a batch (text as
/// large_string, lines, removed_lines, removed_bytes, remaining_chars) and, for the sorted
/// `wanted` hashes met among removed lines, their (hash, line text) as two arrays.
#[pyfunction]
#[pyo3(signature = (text, remove, wanted, digits_to_zero=false))]
fn line_dedup_apply(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    remove: PyArrowType<ArrayData>,
    wanted: PyArrowType<ArrayData>,
    digits_to_zero: bool,
) -> PyResult<(
    PyArrowType<RecordBatch>,
    PyArrowType<ArrayData>,
    PyArrowType<ArrayData>,
)> {
    let array = to_array(text.0);
    let remove = to_array(remove.0);
    let wanted = to_array(wanted.0);
    let (batch, hashes, lines) = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        let remove = u64_values(&remove, "remove")?;
        let wanted = u64_values(&wanted, "wanted")?;
        let out = linededup::remove_lines_column(column, &remove, &wanted, digits_to_zero);
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("text", Arc::new(out.text)),
            ("lines", Arc::new(UInt32Array::from(out.lines))),
            (
                "removed_lines",
                Arc::new(UInt32Array::from(out.removed_lines)),
            ),
            (
                "removed_bytes",
                Arc::new(UInt64Array::from(out.removed_bytes)),
            ),
            (
                "remaining_chars",
                Arc::new(UInt64Array::from(out.remaining_chars)),
            ),
        ];
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )?;
        let hashes = UInt64Array::from(out.samples.iter().map(|(h, _)| *h).collect::<Vec<_>>());
        let lines = StringArray::from(
            out.samples
                .iter()
                .map(|(_, l)| l.as_str())
                .collect::<Vec<_>>(),
        );
        Ok((batch, hashes, lines))
    })?;
    Ok((
        PyArrowType(batch),
        PyArrowType(hashes.into_data()),
        PyArrowType(lines.into_data()),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "NGRAM_NORMALIZATION_VERSION",
        thresher_core::decont::normalize::NORMALIZATION_VERSION,
    )?;
    m.add_class::<NgramIndex>()?;
    m.add_function(wrap_pyfunction!(ngram_index_build, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_normalize, m)?)?;
    m.add_function(wrap_pyfunction!(line_normalize, m)?)?;
    m.add_function(wrap_pyfunction!(line_hash, m)?)?;
    m.add_function(wrap_pyfunction!(line_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(line_dedup_apply, m)?)?;
    Ok(())
}
