//! Inference of fastText supervised classifiers over whole text columns.
//!
//! Reads the `.bin` format fastText writes (version 12, dense matrices) and reproduces its
//! prediction exactly: words split on fastText's whitespace, FNV-1a hashes with fastText's signed
//! bytes, the end-of-line token `</s>` appended as fastText's `predict` does, word n-grams hashed
//! into `bucket` rows, the hidden vector as the mean of the input rows, and softmax (or per-label
//! sigmoid for one-vs-all models) over the output rows. Before splitting, a document is treated as
//! DCLM prepares it (`" ".join(text.strip().splitlines())`): its ends are trimmed and every line
//! break, including the Unicode ones, separates words.
//!
//! Quantized models (`.ftz`), hierarchical softmax and character n-grams (`maxn > 0`) are not
//! handled here; `FastTextModel::load` reports them as unsupported so callers can use fastText
//! itself.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use rayon::prelude::*;

use crate::column::TextColumn;
use crate::error::{CoreError, Result};

const MAGIC: i32 = 793_712_314;
const VERSION: i32 = 12;
const EOS: &str = "</s>";
const LABEL_PREFIX: &str = "__label__";
const LOSS_SOFTMAX: i32 = 3;
const LOSS_OVA: i32 = 4;
const MODEL_SUPERVISED: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    Softmax,
    OneVsAll,
}

/// A loaded fastText supervised model.
pub struct FastTextModel {
    dim: usize,
    word_ngrams: usize,
    bucket: u64,
    loss: Loss,
    nwords: usize,
    /// Every dictionary entry: the row of a word (< nwords), or `None` for a label.
    vocabulary: Vocabulary,
    labels: Vec<String>,
    eos: Option<u32>,
    input: Vec<f32>,
    input_rows: usize,
    output: Vec<f32>,
}

struct Reader<R: Read> {
    inner: R,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf)?;
        Ok(buf)
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.bytes::<4>()?))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.bytes::<8>()?))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }
    fn word(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let b = self.u8()?;
            if b == 0 {
                return Ok(out);
            }
            out.push(b);
        }
    }
    fn matrix(&mut self) -> Result<(usize, usize, Vec<f32>)> {
        let rows = self.i64()?;
        let cols = self.i64()?;
        if rows < 0 || cols < 0 {
            return Err(invalid("negative matrix shape"));
        }
        let (rows, cols) = (rows as usize, cols as usize);
        let mut raw = vec![0u8; rows * cols * 4];
        self.inner.read_exact(&mut raw)?;
        let data = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((rows, cols, data))
    }
}

fn invalid(what: &str) -> CoreError {
    CoreError::InvalidArgument(format!("fastText model: {what}"))
}

/// fastText's string hash: FNV-1a over bytes taken as signed chars.
pub fn fasttext_hash(word: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in word {
        h ^= b as i8 as i32 as u32;
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// Bytes fastText splits words on.
fn is_fasttext_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

/// Characters Python's `str.splitlines` breaks on that fastText would keep inside a word.
fn is_unicode_line_break(c: char) -> bool {
    matches!(
        c,
        '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Calls `f` for every word of `text` as fastText reads the DCLM-prepared line.
fn for_each_word(text: &str, mut f: impl FnMut(&[u8])) {
    let text = text.trim_matches(is_python_space);
    let bytes = text.as_bytes();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (is_break, width) = if b < 0x80 {
            (is_fasttext_space(b) || (0x1c..=0x1e).contains(&b), 1)
        } else {
            // Multi-byte character: only U+0085, U+2028 and U+2029 separate words.
            let c = text[i..].chars().next().expect("valid UTF-8");
            (is_unicode_line_break(c), c.len_utf8())
        };
        if is_break {
            if let Some(s) = start.take() {
                f(&bytes[s..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += width;
    }
    if let Some(s) = start {
        f(&bytes[s..]);
    }
}

const PREFETCH_DISTANCE: usize = 12;

#[inline(always)]
fn prefetch(values: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint; the pointer comes from a live slice and is never dereferenced.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // One hint per 64-byte line of the row.
        let mut offset = 0;
        while offset < values.len() {
            _mm_prefetch::<_MM_HINT_T0>(values.as_ptr().add(offset) as *const i8);
            offset += 16;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

const SIGMOID_TABLE_SIZE: f32 = 512.0;
const MAX_SIGMOID: f32 = 8.0;

/// fastText's sigmoid for one-vs-all models: a 513-entry table over [-8, 8], indexed by truncation.
fn table_sigmoid(x: f32) -> f32 {
    if x < -MAX_SIGMOID {
        return 0.0;
    }
    if x > MAX_SIGMOID {
        return 1.0;
    }
    let i = ((x + MAX_SIGMOID) * SIGMOID_TABLE_SIZE / MAX_SIGMOID / 2.0) as i64;
    let at = (i as f32 * 2.0 * MAX_SIGMOID) / SIGMOID_TABLE_SIZE - MAX_SIGMOID;
    (1.0 / (1.0 + f64::from((-at).exp()))) as f32
}

/// Open-addressing table keyed by fastText's own word hash, which every word needs anyway for
/// the n-grams, so a lookup costs one probe and one comparison.
struct Vocabulary {
    slots: Vec<u32>, // index + 1 into `entries`; 0 = empty
    mask: usize,
    entries: Vec<(Box<[u8]>, Option<u32>)>,
}

impl Vocabulary {
    fn new(entries: Vec<(Box<[u8]>, Option<u32>)>) -> Self {
        let size = (entries.len() * 2).next_power_of_two().max(16);
        let mut slots = vec![0u32; size];
        let mask = size - 1;
        for (i, (word, _)) in entries.iter().enumerate() {
            let mut slot = fasttext_hash(word) as usize & mask;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = i as u32 + 1;
        }
        Self {
            slots,
            mask,
            entries,
        }
    }

    fn get(&self, word: &[u8], hash: u32) -> Option<Option<u32>> {
        let mut slot = hash as usize & self.mask;
        loop {
            let at = self.slots[slot];
            if at == 0 {
                return None;
            }
            let (known, row) = &self.entries[at as usize - 1];
            if known.as_ref() == word {
                return Some(*row);
            }
            slot = (slot + 1) & self.mask;
        }
    }
}

/// Per-thread buffers reused across documents.
#[derive(Default)]
struct Scratch {
    rows: Vec<u32>,
    hashes: Vec<u32>,
    hidden: Vec<f32>,
}

impl FastTextModel {
    pub fn load(path: &Path) -> Result<Self> {
        let file = File::open(path)?;
        Self::read(BufReader::with_capacity(1 << 20, file))
    }

    pub fn read<R: Read>(inner: R) -> Result<Self> {
        let mut r = Reader { inner };
        if r.i32()? != MAGIC {
            return Err(invalid("not a fastText .bin file (bad magic number)"));
        }
        let version = r.i32()?;
        if version != VERSION {
            return Err(invalid(&format!("unsupported format version {version}")));
        }
        let dim = r.i32()?;
        let _ws = r.i32()?;
        let _epoch = r.i32()?;
        let _min_count = r.i32()?;
        let _neg = r.i32()?;
        let word_ngrams = r.i32()?;
        let loss = r.i32()?;
        let model = r.i32()?;
        let bucket = r.i32()?;
        let _minn = r.i32()?;
        let maxn = r.i32()?;
        let _lr_update_rate = r.i32()?;
        let _t = r.i64()?;
        if model != MODEL_SUPERVISED {
            return Err(invalid("not a supervised (classifier) model"));
        }
        let loss = match loss {
            LOSS_SOFTMAX => Loss::Softmax,
            LOSS_OVA => Loss::OneVsAll,
            other => {
                return Err(invalid(&format!(
                    "unsupported loss {other} (softmax and ova only)"
                )))
            }
        };
        if maxn > 0 {
            return Err(invalid("unsupported: character n-grams (maxn > 0)"));
        }
        let size = r.i32()?;
        let nwords = r.i32()?;
        let nlabels = r.i32()?;
        let _ntokens = r.i64()?;
        let prune_size = r.i64()?;
        if size < 0 || nwords < 0 || nlabels < 0 || nwords + nlabels != size {
            return Err(invalid("inconsistent dictionary sizes"));
        }
        let mut entries = Vec::with_capacity(size as usize);
        let mut labels = Vec::with_capacity(nlabels as usize);
        for i in 0..size as usize {
            let word = r.word()?;
            let _count = r.i64()?;
            let kind = r.u8()?;
            if kind == 1 {
                let name = String::from_utf8_lossy(&word).into_owned();
                labels.push(name);
                entries.push((word.into_boxed_slice(), None));
            } else {
                entries.push((word.into_boxed_slice(), Some(i as u32)));
            }
        }
        if prune_size > 0 {
            return Err(invalid("unsupported: pruned dictionary (quantized model)"));
        }
        if r.u8()? != 0 {
            return Err(invalid("unsupported: quantized input matrix (.ftz)"));
        }
        let (input_rows, input_cols, input) = r.matrix()?;
        if r.u8()? != 0 {
            return Err(invalid("unsupported: quantized output matrix"));
        }
        let (output_rows, output_cols, output) = r.matrix()?;
        let dim = dim as usize;
        if input_cols != dim || output_cols != dim || output_rows != labels.len() {
            return Err(invalid("matrix shapes do not match the model's dimensions"));
        }
        if input_rows != nwords as usize + bucket.max(0) as usize {
            return Err(invalid("input matrix rows differ from words + buckets"));
        }
        let vocabulary = Vocabulary::new(entries);
        let eos = vocabulary
            .get(EOS.as_bytes(), fasttext_hash(EOS.as_bytes()))
            .flatten();
        Ok(Self {
            dim,
            word_ngrams: word_ngrams.max(1) as usize,
            bucket: bucket.max(0) as u64,
            loss,
            nwords: nwords as usize,
            vocabulary,
            labels,
            eos,
            input,
            input_rows,
            output,
        })
    }

    /// Label names as stored in the model (with their `__label__` prefix).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Input rows of one document: known words, `</s>`, then hashed word n-grams.
    fn document_rows(&self, text: &str, scratch: &mut Scratch) {
        scratch.rows.clear();
        scratch.hashes.clear();
        // fastText ends a line at its first `</s>`: one written in the text stops the reading
        // there, and the end-of-line token is then not added again.
        let mut ended = false;
        for_each_word(text, |word| {
            if ended {
                return;
            }
            let hash = fasttext_hash(word);
            match self.vocabulary.get(word, hash) {
                Some(Some(row)) => {
                    scratch.rows.push(row);
                    scratch.hashes.push(hash);
                }
                Some(None) => {} // a label written in the text: fastText skips it
                None if word.starts_with(LABEL_PREFIX.as_bytes()) => {}
                None => scratch.hashes.push(hash),
            }
            ended = word == EOS.as_bytes();
        });
        if !ended {
            if let Some(row) = self.eos {
                scratch.rows.push(row);
            }
            scratch.hashes.push(fasttext_hash(EOS.as_bytes()));
        }
        if self.word_ngrams > 1 && self.bucket > 0 {
            let hashes = &scratch.hashes;
            for i in 0..hashes.len() {
                // fastText keeps hashes as int32 and widens them with sign extension.
                let mut h = hashes[i] as i32 as i64 as u64;
                for &next in hashes
                    .iter()
                    .take((i + self.word_ngrams).min(hashes.len()))
                    .skip(i + 1)
                {
                    h = h
                        .wrapping_mul(116_049_371)
                        .wrapping_add(next as i32 as i64 as u64);
                    scratch
                        .rows
                        .push((self.nwords as u64 + h % self.bucket) as u32);
                }
            }
        }
    }

    /// Label probabilities of one document into `out` (len = labels); zeros for an empty one.
    fn predict_into(&self, text: &str, scratch: &mut Scratch, out: &mut [f32]) {
        self.document_rows(text, scratch);
        out.iter_mut().for_each(|v| *v = 0.0);
        if scratch.rows.is_empty() {
            return;
        }
        let dim = self.dim;
        scratch.hidden.clear();
        scratch.hidden.resize(dim, 0.0);
        let rows = &scratch.rows;
        for (k, &row) in rows.iter().enumerate() {
            // Rows are scattered over a large matrix: ask for one a few steps ahead.
            if let Some(&ahead) = rows.get(k + PREFETCH_DISTANCE) {
                let start = ahead as usize * dim;
                prefetch(&self.input[start..start + dim]);
            }
            let row = row as usize;
            debug_assert!(row < self.input_rows);
            let values = &self.input[row * dim..(row + 1) * dim];
            for (h, v) in scratch.hidden.iter_mut().zip(values) {
                *h += *v;
            }
        }
        let scale = 1.0 / scratch.rows.len() as f32;
        scratch.hidden.iter_mut().for_each(|h| *h *= scale);
        for (label, o) in out.iter_mut().enumerate() {
            let weights = &self.output[label * dim..(label + 1) * dim];
            *o = weights
                .iter()
                .zip(&scratch.hidden)
                .map(|(w, h)| w * h)
                .sum();
        }
        match self.loss {
            Loss::Softmax => {
                let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut total = 0.0;
                for o in out.iter_mut() {
                    *o = (*o - max).exp();
                    total += *o;
                }
                out.iter_mut().for_each(|o| *o /= total);
            }
            Loss::OneVsAll => out.iter_mut().for_each(|o| *o = table_sigmoid(*o)),
        }
    }

    /// Probabilities of every label for every row, row-major (rows x labels); null rows score as
    /// empty text.
    pub fn predict(&self, column: TextColumn<'_>) -> Vec<f32> {
        let width = self.labels.len();
        let mut out = vec![0.0f32; column.len() * width];
        if width == 0 {
            return out;
        }
        out.par_chunks_mut(width)
            .enumerate()
            .with_min_len(64)
            .for_each_init(Scratch::default, |scratch, (i, row)| {
                self.predict_into(column.get(i).unwrap_or(""), scratch, row)
            });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_word(text, |w| out.push(String::from_utf8(w.to_vec()).unwrap()));
        out
    }

    #[test]
    fn words_follow_dclm_preparation_and_fasttext_splitting() {
        assert_eq!(
            words("  a b\n\nc\r\nd\te\u{2028}f\u{85}g  "),
            ["a", "b", "c", "d", "e", "f", "g"]
        );
        assert_eq!(words("\u{a0}x\u{a0}y\u{a0}"), ["x\u{a0}y"]); // no-break space splits only at the ends
        assert!(words(" \n ").is_empty());
    }

    #[test]
    fn hash_uses_signed_bytes() {
        // Values from fastText's own Dictionary::hash.
        assert_eq!(fasttext_hash(b""), 2_166_136_261);
        assert_eq!(fasttext_hash(b"a"), 0xe40c292c);
        let mut h: u32 = 2_166_136_261;
        for b in "é".bytes() {
            h ^= 0xffff_ff00 | b as u32; // bytes >= 0x80 sign-extend
            h = h.wrapping_mul(16_777_619);
        }
        assert_eq!(fasttext_hash("é".as_bytes()), h);
    }

    fn tiny_model_bytes(loss: i32) -> Vec<u8> {
        // dim 2, words: "good", "</s>"; labels: __label__hq, __label__cc; 1 bucket.
        let mut b = Vec::new();
        let i32s = |b: &mut Vec<u8>, v: &[i32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
        i32s(
            &mut b,
            &[MAGIC, VERSION, 2, 5, 5, 1, 5, 2, loss, 3, 1, 0, 0, 100],
        );
        b.extend(1e-4f64.to_le_bytes());
        i32s(&mut b, &[4, 2, 2]);
        b.extend(10i64.to_le_bytes());
        b.extend((-1i64).to_le_bytes());
        for (word, kind) in [
            ("good", 0u8),
            ("</s>", 0),
            ("__label__hq", 1),
            ("__label__cc", 1),
        ] {
            b.extend(word.as_bytes());
            b.push(0);
            b.extend(1i64.to_le_bytes());
            b.push(kind);
        }
        b.push(0);
        b.extend(3i64.to_le_bytes());
        b.extend(2i64.to_le_bytes());
        for v in [1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0] {
            b.extend(v.to_le_bytes());
        }
        b.push(0);
        b.extend(2i64.to_le_bytes());
        b.extend(2i64.to_le_bytes());
        for v in [2.0f32, 0.0, 0.0, 2.0] {
            b.extend(v.to_le_bytes());
        }
        b
    }

    #[test]
    fn predicts_mean_of_rows_then_softmax() {
        let model = FastTextModel::read(tiny_model_bytes(LOSS_SOFTMAX).as_slice()).unwrap();
        assert_eq!(model.labels(), ["__label__hq", "__label__cc"]);
        let column =
            arrow_array::StringArray::from(vec![Some("good"), Some("unknown words"), None]);
        let probs = model.predict(TextColumn::try_new(&column).unwrap());
        // "good" + </s> + the bigram bucket row: hidden = ([1,0] + [0,0] + [0,1]) / 3
        let expected = 1.0 / (1.0 + (-(2.0f32 / 3.0 - 2.0 / 3.0)).exp());
        assert!((probs[0] - expected).abs() < 1e-6);
        // unknown words: </s> + 2 bigram rows -> hidden [0, 2/3] -> cc wins
        let cc = (4.0f32 / 3.0).exp() / (1.0 + (4.0f32 / 3.0).exp());
        assert!((probs[3] - cc).abs() < 1e-6, "{probs:?}");
        assert!((probs[4] + probs[5] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn rejects_other_files() {
        assert!(FastTextModel::read(&b"not a model at all"[..]).is_err());
        let mut bytes = tiny_model_bytes(1); // hierarchical softmax
        assert!(FastTextModel::read(bytes.as_slice()).is_err());
        bytes = tiny_model_bytes(LOSS_SOFTMAX);
        bytes.truncate(bytes.len() - 3);
        assert!(FastTextModel::read(bytes.as_slice()).is_err());
    }
}
