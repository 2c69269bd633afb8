//! Bindings of the dedup core: MinHash signatures and shard writers, LSH pair finding,
//! clustering, exact-hash buckets, Bloom-filter dedup. Arrow columns in, Arrow or dicts out.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float64Array, Int64Array, LargeStringArray,
    ListArray, RecordBatch, UInt32Array, UInt64Array,
};
use arrow_buffer::NullBuffer;
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use arrow_schema::{DataType, Field, Schema};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use thresher_core::dedup::bloom::{self, BloomDedupConfig, BloomFilter, BloomMode, Unit};
use thresher_core::dedup::hashing::ShingleHash;
use thresher_core::dedup::lsh::{self, ShingleStore, Verification};
use thresher_core::dedup::minhash::{MinHasher, MinhashConfig, Sketch, WordSplits};
use thresher_core::dedup::normalize::Normalization;
use thresher_core::dedup::records::{row_of, shard_dup_records};
use thresher_core::dedup::union_find::{self, KeepPolicy};
use thresher_core::dedup::{self as core_dedup, bloom_groups, exact, MapStats};
use thresher_core::{CoreError, TextColumn};

use crate::convert::{guarded, to_array};

fn invalid(message: String) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(message)
}

fn parse_policy(name: &str) -> PyResult<KeepPolicy> {
    match name {
        "first" => Ok(KeepPolicy::First),
        "highest" => Ok(KeepPolicy::Highest),
        other => Err(invalid(format!("unknown keep policy {other:?}"))),
    }
}

fn paths(list: &[String]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

fn f64_values(array: &ArrayRef) -> Result<Vec<f64>, CoreError> {
    let values = array
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| CoreError::InvalidArgument("priorities must be a float64 array".into()))?;
    Ok((0..values.len())
        .map(|i| {
            if values.is_valid(i) {
                values.value(i)
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect())
}

fn map_stats_dict<'py>(py: Python<'py>, stats: MapStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("documents", stats.documents)?;
    d.set_item("skipped", stats.skipped)?;
    d.set_item("text_bytes", stats.text_bytes)?;
    Ok(d)
}

/// MinHash settings plus the datatrove-compatible word splits learnt so far.
#[pyclass(module = "thresher._core")]
pub struct Minhasher {
    hasher: Arc<MinHasher>,
    splits: Arc<RwLock<WordSplits>>,
}

/// Fixed-size lists of `width` uint64 for `rows` rows, each filled in place by `fill` (in
/// parallel, straight into the array's buffer); rows it returns false for are null (zeros).
fn signature_matrix(
    rows: usize,
    width: usize,
    fill: impl Fn(usize, &mut [u64]) -> bool + Sync,
) -> ArrayRef {
    use rayon::prelude::*;
    let mut values = vec![0u64; rows * width];
    // MinHasher::new rejects zero bands or rows, so width >= 1.
    let valid: Vec<bool> = values
        .par_chunks_mut(width)
        .with_min_len(64)
        .enumerate()
        .map(|(i, out)| fill(i, out))
        .collect();
    let nulls = valid.contains(&false).then(|| NullBuffer::from(valid));
    let field = Arc::new(Field::new_list_field(DataType::UInt64, true));
    let values = Arc::new(UInt64Array::from(values));
    Arc::new(FixedSizeListArray::new(field, width as i32, values, nulls))
}

#[pymethods]
impl Minhasher {
    #[new]
    #[pyo3(signature = (ngram=5, bands=14, rows=8, seed=1, datatrove_compatible=false, shingle_hash="xxh3", sketch="minhash"))]
    fn new(
        ngram: usize,
        bands: usize,
        rows: usize,
        seed: u32,
        datatrove_compatible: bool,
        shingle_hash: &str,
        sketch: &str,
    ) -> PyResult<Self> {
        let shingle_hash = ShingleHash::parse(shingle_hash)
            .ok_or_else(|| invalid(format!("unknown shingle hash {shingle_hash:?}")))?;
        let sketch = Sketch::parse(sketch).ok_or_else(|| {
            invalid(format!(
                "unknown sketch {sketch:?} (minhash or one_permutation)"
            ))
        })?;
        let hasher = MinHasher::new(MinhashConfig {
            ngram,
            bands,
            rows,
            seed,
            datatrove_compatible,
            shingle_hash,
            sketch,
        })
        .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            hasher: Arc::new(hasher),
            splits: Arc::new(RwLock::new(WordSplits::default())),
        })
    }

    #[getter]
    fn num_hashes(&self) -> usize {
        self.hasher.num_hashes()
    }

    #[getter]
    fn word_split_count(&self) -> usize {
        self.splits.read().expect("splits lock").len()
    }

    /// Teaches the compatible tokenizer how spaCy splits `words` (one token list per word).
    fn add_word_splits(&self, words: Vec<String>, tokens: Vec<Vec<String>>) -> PyResult<()> {
        if words.len() != tokens.len() {
            return Err(invalid("words and tokens differ in length".into()));
        }
        let mut splits = self.splits.write().expect("splits lock");
        for (w, t) in words.into_iter().zip(tokens) {
            splits.insert(w, t);
        }
        Ok(())
    }

    /// Unique words of the batch the compatible tokenizer has no split for yet.
    fn unknown_words(&self, py: Python<'_>, text: PyArrowType<ArrayData>) -> PyResult<Vec<String>> {
        let array = to_array(text.0);
        let (hasher, splits) = (self.hasher.clone(), self.splits.clone());
        guarded(py, || {
            let column = TextColumn::try_new(array.as_ref())?;
            let splits = splits.read().expect("splits lock");
            Ok(core_dedup::unknown_words(column, &hasher, Some(&splits)))
        })
    }

    /// Signatures (fixed-size lists of uint64; null for documents too short to shingle).
    fn signatures(
        &self,
        py: Python<'_>,
        text: PyArrowType<ArrayData>,
    ) -> PyResult<PyArrowType<ArrayData>> {
        let array = to_array(text.0);
        let (hasher, splits) = (self.hasher.clone(), self.splits.clone());
        let out = guarded(py, || {
            let column = TextColumn::try_new(array.as_ref())?;
            let splits = splits.read().expect("splits lock");
            Ok(signature_matrix(
                column.len(),
                hasher.num_hashes(),
                |i, out| {
                    let shingles =
                        hasher.document_shingles(column.get(i).unwrap_or(""), Some(&splits));
                    hasher.signature_into(&shingles, out)
                },
            ))
        })?;
        Ok(PyArrowType(out.to_data()))
    }

    /// Shingle hashes of each document (list<uint64>, in order, repeats included).
    fn shingles(
        &self,
        py: Python<'_>,
        text: PyArrowType<ArrayData>,
    ) -> PyResult<PyArrowType<ArrayData>> {
        let array = to_array(text.0);
        let (hasher, splits) = (self.hasher.clone(), self.splits.clone());
        let out = guarded(py, || {
            let column = TextColumn::try_new(array.as_ref())?;
            let splits = splits.read().expect("splits lock");
            let rows = thresher_core::parallel::map_rows(column, |t| {
                hasher.document_shingles(t.unwrap_or(""), Some(&splits))
            });
            let list = ListArray::from_iter_primitive::<arrow_array::types::UInt64Type, _, _>(
                rows.into_iter().map(|r| Some(r.into_iter().map(Some))),
            );
            Ok(Arc::new(list) as ArrayRef)
        })?;
        Ok(PyArrowType(out.to_data()))
    }

    /// Signatures from ready shingle hashes (list<uint64>): the kernel alone.
    fn signatures_from_shingles(
        &self,
        py: Python<'_>,
        shingles: PyArrowType<ArrayData>,
    ) -> PyResult<PyArrowType<ArrayData>> {
        let array = to_array(shingles.0);
        let hasher = self.hasher.clone();
        let out = guarded(py, || {
            let list = array
                .as_any()
                .downcast_ref::<ListArray>()
                .ok_or_else(|| CoreError::InvalidArgument("expected list<uint64>".into()))?;
            let values = list
                .values()
                .as_any()
                .downcast_ref::<UInt64Array>()
                .ok_or_else(|| CoreError::InvalidArgument("expected list<uint64>".into()))?;
            let offsets = list.value_offsets();
            let raw = values.values();
            Ok(signature_matrix(
                list.len(),
                hasher.num_hashes(),
                |i, out| {
                    let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
                    hasher.signature_into(&raw[s..e], out)
                },
            ))
        })?;
        Ok(PyArrowType(out.to_data()))
    }
}

/// The MinHash map of one shard (band runs, optional shingle sets and priorities).
#[pyclass(module = "thresher._core")]
pub struct MinhashShardWriter {
    inner: Arc<Mutex<Option<core_dedup::MinhashShardWriter>>>,
}

#[pymethods]
impl MinhashShardWriter {
    #[new]
    #[pyo3(signature = (band_dir, shard, bands, memory_bytes, shingle_dir=None, priority_dir=None))]
    fn new(
        band_dir: String,
        shard: u32,
        bands: usize,
        memory_bytes: usize,
        shingle_dir: Option<String>,
        priority_dir: Option<String>,
    ) -> PyResult<Self> {
        let writer = core_dedup::MinhashShardWriter::create(
            Path::new(&band_dir),
            shard,
            bands,
            memory_bytes,
            shingle_dir.as_deref().map(Path::new),
            priority_dir.as_deref().map(Path::new),
        )
        .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Some(writer))),
        })
    }

    #[pyo3(signature = (minhasher, text, priorities=None))]
    fn add_batch(
        &self,
        py: Python<'_>,
        minhasher: PyRef<'_, Minhasher>,
        text: PyArrowType<ArrayData>,
        priorities: Option<PyArrowType<ArrayData>>,
    ) -> PyResult<()> {
        let array = to_array(text.0);
        let priorities = priorities.map(|p| to_array(p.0));
        let (hasher, splits) = (minhasher.hasher.clone(), minhasher.splits.clone());
        let inner = self.inner.clone();
        guarded(py, || {
            let column = TextColumn::try_new(array.as_ref())?;
            let priorities = priorities.as_ref().map(f64_values).transpose()?;
            let splits = splits.read().expect("splits lock");
            let mut guard = inner.lock().expect("writer lock");
            let writer = guard
                .as_mut()
                .ok_or_else(|| CoreError::InvalidArgument("writer already finished".into()))?;
            writer.add_batch(column, &hasher, Some(&splits), priorities.as_deref())
        })
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.inner.clone();
        let stats = guarded(py, || {
            let writer = inner
                .lock()
                .expect("writer lock")
                .take()
                .ok_or_else(|| CoreError::InvalidArgument("writer already finished".into()))?;
            writer.finish()
        })?;
        map_stats_dict(py, stats)
    }
}

/// Merges one band's (key range of) sorted runs into duplicate pairs; verifies them by exact
/// Jaccard when `shingle_dir` is given.
#[pyfunction]
#[pyo3(signature = (files, part, parts, fan_in, tmp_dir, out, shingle_dir=None, threshold=0.8))]
#[allow(clippy::too_many_arguments)]
fn minhash_find_pairs<'py>(
    py: Python<'py>,
    files: Vec<String>,
    part: u32,
    parts: u32,
    fan_in: usize,
    tmp_dir: String,
    out: String,
    shingle_dir: Option<String>,
    threshold: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let stats = guarded(py, || {
        let mut verification = shingle_dir.map(|d| Verification {
            store: ShingleStore::new(Path::new(&d)),
            threshold,
        });
        lsh::find_pairs(
            &paths(&files),
            part,
            parts,
            fan_in,
            Path::new(&tmp_dir),
            verification.as_mut(),
            Path::new(&out),
        )
    })?;
    let d = PyDict::new(py);
    d.set_item("records", stats.records)?;
    d.set_item("candidate_pairs", stats.candidate_pairs)?;
    d.set_item("verified_pairs", stats.verified_pairs)?;
    d.set_item("rejected_pairs", stats.rejected_pairs)?;
    d.set_item("largest_group", stats.largest_group)?;
    Ok(d)
}

/// Union-find over pair files; writes one verdict per clustered document to `out`.
#[pyfunction]
#[pyo3(signature = (pair_files, policy, out, priority_dir=None, shingle_dir=None, threshold=0.8))]
fn cluster_pairs<'py>(
    py: Python<'py>,
    pair_files: Vec<String>,
    policy: &str,
    out: String,
    priority_dir: Option<String>,
    shingle_dir: Option<String>,
    threshold: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let policy = parse_policy(policy)?;
    if policy == KeepPolicy::Highest && priority_dir.is_none() {
        return Err(invalid("the 'highest' policy needs priority_dir".into()));
    }
    let stats = guarded(py, || {
        let dir = priority_dir.map(PathBuf::from);
        let mut refine = shingle_dir.map(|d| Verification {
            store: ShingleStore::new(Path::new(&d)),
            threshold,
        });
        union_find::cluster_pairs(
            &paths(&pair_files),
            policy,
            |docs| {
                let dir = dir.as_ref().expect("checked above");
                union_find::read_priorities(docs, |shard| core_dedup::priority_path(dir, shard))
            },
            refine.as_mut(),
            Path::new(&out),
        )
    })?;
    let d = PyDict::new(py);
    d.set_item("pairs", stats.pairs)?;
    d.set_item("refined_out", stats.refined_out)?;
    d.set_item("documents_in_clusters", stats.documents_in_clusters)?;
    d.set_item("clusters", stats.clusters)?;
    d.set_item("removed", stats.removed)?;
    d.set_item("largest_cluster", stats.largest_cluster)?;
    d.set_item("size_histogram", stats.size_histogram)?;
    Ok(d)
}

/// The exact-dedup map of one shard.
#[pyclass(module = "thresher._core")]
pub struct ExactShardWriter {
    inner: Arc<Mutex<Option<core_dedup::ExactShardWriter>>>,
}

#[pymethods]
impl ExactShardWriter {
    #[new]
    fn new(dir: String, shard: u32, buckets: u32, normalization: &str) -> PyResult<Self> {
        let normalization = Normalization::parse(normalization)
            .ok_or_else(|| invalid(format!("unknown normalization {normalization:?}")))?;
        if buckets == 0 {
            return Err(invalid("buckets must be at least 1".into()));
        }
        Ok(Self {
            inner: Arc::new(Mutex::new(Some(core_dedup::ExactShardWriter::create(
                Path::new(&dir),
                shard,
                buckets,
                normalization,
            )))),
        })
    }

    #[pyo3(signature = (text, priorities=None))]
    fn add_batch(
        &self,
        py: Python<'_>,
        text: PyArrowType<ArrayData>,
        priorities: Option<PyArrowType<ArrayData>>,
    ) -> PyResult<()> {
        let array = to_array(text.0);
        let priorities = priorities.map(|p| to_array(p.0));
        let inner = self.inner.clone();
        guarded(py, || {
            let column = TextColumn::try_new(array.as_ref())?;
            let priorities = priorities.as_ref().map(f64_values).transpose()?;
            let mut guard = inner.lock().expect("writer lock");
            let writer = guard
                .as_mut()
                .ok_or_else(|| CoreError::InvalidArgument("writer already finished".into()))?;
            writer.add_batch(column, priorities.as_deref())
        })
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.inner.clone();
        let stats = guarded(py, || {
            let writer = inner
                .lock()
                .expect("writer lock")
                .take()
                .ok_or_else(|| CoreError::InvalidArgument("writer already finished".into()))?;
            writer.finish()
        })?;
        map_stats_dict(py, stats)
    }
}

/// Deduplicates one exact-hash bucket; writes verdicts to `out`.
#[pyfunction]
fn exact_reduce_bucket<'py>(
    py: Python<'py>,
    files: Vec<String>,
    policy: &str,
    out: String,
) -> PyResult<Bound<'py, PyDict>> {
    let policy = parse_policy(policy)?;
    let stats = guarded(py, || {
        exact::reduce_bucket(&paths(&files), policy, Path::new(&out))
    })?;
    let d = PyDict::new(py);
    d.set_item("documents", stats.documents)?;
    d.set_item("documents_in_groups", stats.documents_in_groups)?;
    d.set_item("groups", stats.groups)?;
    d.set_item("removed", stats.removed)?;
    d.set_item("size_histogram", stats.size_histogram)?;
    Ok(d)
}

/// One shard's verdicts from verdict files: row, cluster (kept document key), size, removed.
#[pyfunction]
fn shard_dup_verdicts(
    py: Python<'_>,
    files: Vec<String>,
    shard: u32,
) -> PyResult<PyArrowType<RecordBatch>> {
    let batch = guarded(py, || {
        let records = shard_dup_records(&paths(&files), shard)?;
        let rows = UInt32Array::from_iter_values(records.iter().map(|r| row_of(r.doc)));
        let clusters = Int64Array::from_iter_values(records.iter().map(|r| r.cluster as i64));
        let sizes = UInt32Array::from_iter_values(records.iter().map(|r| r.size));
        let removed = BooleanArray::from(records.iter().map(|r| r.removed()).collect::<Vec<_>>());
        let schema = Schema::new(vec![
            Field::new("row", DataType::UInt32, false),
            Field::new("cluster", DataType::Int64, false),
            Field::new("size", DataType::UInt32, false),
            Field::new("removed", DataType::Boolean, false),
        ]);
        Ok(RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(rows),
                Arc::new(clusters),
                Arc::new(sizes),
                Arc::new(removed),
            ],
        )?)
    })?;
    Ok(PyArrowType(batch))
}

/// Normalises every row (`none`, `whitespace`, `minhash`, `datatrove`).
#[pyfunction]
fn normalize_text(
    py: Python<'_>,
    text: PyArrowType<ArrayData>,
    normalization: &str,
) -> PyResult<PyArrowType<ArrayData>> {
    let normalization = Normalization::parse(normalization)
        .ok_or_else(|| invalid(format!("unknown normalization {normalization:?}")))?;
    let array = to_array(text.0);
    let out = guarded(py, || {
        let column = TextColumn::try_new(array.as_ref())?;
        let rows = thresher_core::parallel::map_rows(column, |t| t.map(|t| normalization.apply(t)));
        Ok(Arc::new(LargeStringArray::from(rows)) as ArrayRef)
    })?;
    Ok(PyArrowType(out.to_data()))
}

fn parse_unit(unit: &str) -> PyResult<Unit> {
    match unit {
        "line" => Ok(Unit::Line),
        "paragraph" => Ok(Unit::Paragraph),
        other => Err(invalid(format!("unknown unit {other:?}"))),
    }
}

fn parse_mode(mode: &str) -> PyResult<BloomMode> {
    match mode {
        "old_both" => Ok(BloomMode::OldBoth),
        "units" => Ok(BloomMode::Units),
        "document" => Ok(BloomMode::Document),
        other => Err(invalid(format!("unknown mode {other:?}"))),
    }
}

/// Per-row outcomes as the step reads them (text is null when unchanged).
fn outcomes_batch(outcomes: &[bloom::BloomOutcome]) -> Result<RecordBatch, CoreError> {
    let fraction = Float64Array::from(
        outcomes
            .iter()
            .map(|o| o.document_duplicate_fraction)
            .collect::<Vec<_>>(),
    );
    let units = UInt32Array::from_iter_values(outcomes.iter().map(|o| o.units));
    let removed = UInt32Array::from_iter_values(outcomes.iter().map(|o| o.removed_units));
    let chars = UInt64Array::from_iter_values(outcomes.iter().map(|o| o.removed_chars));
    let doc_dup = BooleanArray::from(
        outcomes
            .iter()
            .map(|o| o.document_duplicate)
            .collect::<Vec<_>>(),
    );
    let texts: LargeStringArray = outcomes.iter().map(|o| o.text.as_deref()).collect();
    let schema = Schema::new(vec![
        Field::new("duplicate_ngram_fraction", DataType::Float64, true),
        Field::new("units", DataType::UInt32, false),
        Field::new("removed_units", DataType::UInt32, false),
        Field::new("removed_chars", DataType::UInt64, false),
        Field::new("document_duplicate", DataType::Boolean, false),
        Field::new("text", DataType::LargeUtf8, true),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(fraction),
            Arc::new(units),
            Arc::new(removed),
            Arc::new(chars),
            Arc::new(doc_dup),
            Arc::new(texts),
        ],
    )?)
}

/// A Bloom-filter n-gram deduplicator whose filter lives as long as this object.
#[pyclass(module = "thresher._core")]
pub struct BloomDedup {
    filter: Arc<Mutex<BloomFilter>>,
    config: BloomDedupConfig,
}

#[pymethods]
impl BloomDedup {
    #[new]
    #[pyo3(signature = (expected_ngrams, fp_rate, ngram=13, min_ngram=13, threshold=0.8, unit="line", mode="old_both"))]
    fn new(
        expected_ngrams: u64,
        fp_rate: f64,
        ngram: usize,
        min_ngram: usize,
        threshold: f64,
        unit: &str,
        mode: &str,
    ) -> PyResult<Self> {
        let unit = parse_unit(unit)?;
        let mode = parse_mode(mode)?;
        if ngram == 0 {
            return Err(invalid("ngram must be at least 1".into()));
        }
        let filter =
            BloomFilter::with_rate(expected_ngrams, fp_rate).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            filter: Arc::new(Mutex::new(filter)),
            config: BloomDedupConfig {
                ngram,
                min_ngram: min_ngram.max(1),
                threshold,
                unit,
                mode,
            },
        })
    }

    #[getter]
    fn num_bits(&self) -> u64 {
        self.filter.lock().expect("filter lock").num_bits()
    }

    #[getter]
    fn num_hashes(&self) -> u32 {
        self.filter.lock().expect("filter lock").num_hashes()
    }

    #[getter]
    fn memory_bytes(&self) -> u64 {
        self.filter.lock().expect("filter lock").memory_bytes()
    }

    #[getter]
    fn inserted(&self) -> u64 {
        self.filter.lock().expect("filter lock").inserted
    }

    fn false_positive_rate(&self, items: u64) -> f64 {
        self.filter
            .lock()
            .expect("filter lock")
            .false_positive_rate(items)
    }

    /// Checks and inserts a batch in row order; returns per-row outcomes (text is null when
    /// unchanged).
    fn process(
        &self,
        py: Python<'_>,
        text: PyArrowType<ArrayData>,
    ) -> PyResult<PyArrowType<RecordBatch>> {
        let array = to_array(text.0);
        let filter = self.filter.clone();
        let config = self.config.clone();
        let batch = guarded(py, || {
            let column = TextColumn::try_new(array.as_ref())?;
            // n-grams are hashed in parallel; the filter is then read and updated in row order.
            use rayon::prelude::*;
            let prepared: Vec<_> = (0..column.len())
                .into_par_iter()
                .with_min_len(64)
                .map(|i| {
                    let doc = bloom::tokenize(column.get(i).unwrap_or(""), &config);
                    bloom::prepare(&doc, &config)
                })
                .collect();
            let verdicts: Vec<_> = {
                let mut filter = filter.lock().expect("filter lock");
                prepared
                    .iter()
                    .map(|p| bloom::check(&mut filter, p, &config))
                    .collect()
            };
            let outcomes: Vec<_> = verdicts
                .into_par_iter()
                .enumerate()
                .with_min_len(64)
                .map(|(i, v)| bloom::outcome(column.get(i).unwrap_or(""), v, config.unit))
                .collect();
            outcomes_batch(&outcomes)
        })?;
        Ok(PyArrowType(batch))
    }

    /// The reduce of one shard of a group: streams the shard's token file (written by
    /// `BloomShardWriter`) through this filter in row order and writes one verdict per row.
    fn reduce_shard<'py>(
        &self,
        py: Python<'py>,
        tokens: String,
        verdicts: String,
        warn_over_fp_rate: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let filter = self.filter.clone();
        let config = self.config.clone();
        let stats = guarded(py, || {
            let mut filter = filter.lock().expect("filter lock");
            bloom_groups::reduce_shard(
                &mut filter,
                &config,
                Path::new(&tokens),
                Path::new(&verdicts),
                warn_over_fp_rate,
            )
        })?;
        let d = PyDict::new(py);
        d.set_item("documents", stats.documents)?;
        d.set_item("tokens", stats.tokens)?;
        d.set_item("duplicate_documents", stats.duplicate_documents)?;
        d.set_item("all_units_duplicate", stats.all_units_duplicate)?;
        d.set_item("rewritten", stats.rewritten)?;
        d.set_item("units", stats.units)?;
        d.set_item("removed_units", stats.removed_units)?;
        d.set_item("removed_chars", stats.removed_chars)?;
        d.set_item("over_full_at_row", stats.over_full_at_row)?;
        Ok(d)
    }
}

/// The Bloom-dedup map of one shard: every row's units and token hashes, in row order.
#[pyclass(module = "thresher._core")]
pub struct BloomShardWriter {
    inner: Arc<Mutex<Option<bloom_groups::BloomShardWriter>>>,
}

#[pymethods]
impl BloomShardWriter {
    #[new]
    #[pyo3(signature = (path, unit="line", mode="old_both"))]
    fn new(path: String, unit: &str, mode: &str) -> PyResult<Self> {
        let config = BloomDedupConfig {
            unit: parse_unit(unit)?,
            mode: parse_mode(mode)?,
            ..Default::default()
        };
        let writer = bloom_groups::BloomShardWriter::create(Path::new(&path), config)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Some(writer))),
        })
    }

    fn add_batch(&self, py: Python<'_>, text: PyArrowType<ArrayData>) -> PyResult<()> {
        let array = to_array(text.0);
        let inner = self.inner.clone();
        guarded(py, || {
            let column = TextColumn::try_new(array.as_ref())?;
            let mut guard = inner.lock().expect("writer lock");
            let writer = guard
                .as_mut()
                .ok_or_else(|| CoreError::InvalidArgument("writer already finished".into()))?;
            writer.add_batch(column)
        })
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.inner.clone();
        let stats = guarded(py, || {
            let writer = inner
                .lock()
                .expect("writer lock")
                .take()
                .ok_or_else(|| CoreError::InvalidArgument("writer already finished".into()))?;
            writer.finish()
        })?;
        let d = PyDict::new(py);
        d.set_item("documents", stats.documents)?;
        d.set_item("text_bytes", stats.text_bytes)?;
        d.set_item("tokens", stats.tokens)?;
        d.set_item("units", stats.units)?;
        d.set_item("bytes", stats.bytes)?;
        Ok(d)
    }
}

/// One shard's verdicts (written by `BloomDedup.reduce_shard`), handed out batch by batch in
/// row order as the outcomes `BloomDedup.process` gives.
#[pyclass(module = "thresher._core")]
pub struct BloomVerdictReader {
    inner: Arc<Mutex<Option<bloom_groups::VerdictReader>>>,
    unit: Unit,
    check_units: bool,
}

#[pymethods]
impl BloomVerdictReader {
    #[new]
    #[pyo3(signature = (path, unit="line", mode="old_both"))]
    fn new(path: String, unit: &str, mode: &str) -> PyResult<Self> {
        let unit = parse_unit(unit)?;
        let mode = parse_mode(mode)?;
        let reader = bloom_groups::VerdictReader::open(Path::new(&path))
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Some(reader))),
            unit,
            check_units: mode != BloomMode::Document,
        })
    }

    /// Rows handed out so far.
    #[getter]
    fn rows(&self) -> u64 {
        self.inner
            .lock()
            .expect("reader lock")
            .as_ref()
            .map_or(0, |r| r.rows)
    }

    /// The outcomes of the next `len(text)` rows, texts rewritten from their verdicts. An error
    /// when the verdicts run out or a text does not have the units its verdict was made for.
    fn next_batch(
        &self,
        py: Python<'_>,
        text: PyArrowType<ArrayData>,
    ) -> PyResult<PyArrowType<RecordBatch>> {
        let array = to_array(text.0);
        let inner = self.inner.clone();
        let (unit, check_units) = (self.unit, self.check_units);
        let batch = guarded(py, || {
            let column = TextColumn::try_new(array.as_ref())?;
            let mut guard = inner.lock().expect("reader lock");
            let reader = guard
                .as_mut()
                .ok_or_else(|| CoreError::InvalidArgument("reader already finished".into()))?;
            let first = reader.rows;
            let mut verdicts = Vec::with_capacity(column.len());
            for _ in 0..column.len() {
                match reader.next_verdict()? {
                    Some(v) => verdicts.push(v),
                    None => {
                        return Err(CoreError::InvalidArgument(format!(
                            "verdicts end at row {}: the shard has more rows than the map saw",
                            reader.rows
                        )))
                    }
                }
            }
            drop(guard);
            use rayon::prelude::*;
            let outcomes: Vec<Result<bloom::BloomOutcome, CoreError>> = verdicts
                .into_par_iter()
                .enumerate()
                .with_min_len(64)
                .map(|(i, v)| {
                    let text = column.get(i).unwrap_or("");
                    if check_units {
                        let units = bloom::split_units(text, unit).len();
                        if units != v.units as usize {
                            return Err(CoreError::InvalidArgument(format!(
                                "row {}: the text has {units} units but its verdict was made for {}; \
                                 the shard changed between stages",
                                first + i as u64,
                                v.units
                            )));
                        }
                    }
                    Ok(bloom::outcome(text, v, unit))
                })
                .collect();
            let outcomes = outcomes.into_iter().collect::<Result<Vec<_>, _>>()?;
            outcomes_batch(&outcomes)
        })?;
        Ok(PyArrowType(batch))
    }

    /// Rows read; an error when the file holds verdicts for more rows.
    fn finish(&self, py: Python<'_>) -> PyResult<u64> {
        let inner = self.inner.clone();
        guarded(py, || {
            let reader = inner
                .lock()
                .expect("reader lock")
                .take()
                .ok_or_else(|| CoreError::InvalidArgument("reader already finished".into()))?;
            reader.finish()
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Minhasher>()?;
    m.add_class::<MinhashShardWriter>()?;
    m.add_class::<ExactShardWriter>()?;
    m.add_class::<BloomDedup>()?;
    m.add_class::<BloomShardWriter>()?;
    m.add_class::<BloomVerdictReader>()?;
    m.add_function(wrap_pyfunction!(minhash_find_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(cluster_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(exact_reduce_bucket, m)?)?;
    m.add_function(wrap_pyfunction!(shard_dup_verdicts, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_text, m)?)?;
    Ok(())
}
