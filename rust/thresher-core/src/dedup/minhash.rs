//! MinHash signatures: normalised text -> words -> word n-gram shingles -> 64-bit shingle
//! hashes -> `bands x rows` universal hashes `(a*x + b) mod (2^61 - 1)`, minimum over shingles.
//!
//! The hash parameters come from numpy's legacy `RandomState(seed)` (`randint(1, p)` then
//! `randint(0, p)`, 64-bit) in both modes, so Thresher and datatrove draw the same functions.
//! Like datatrove, `a*x + b` wraps modulo 2^64 before the modulus: this is what datatrove's uint64
//! numpy arithmetic does, and reproducing it is what makes signatures agree bit for bit.
//!
//! The datatrove-compatible mode differs only in what feeds the kernel: datatrove's punctuation
//! table, spaCy's English word splits (supplied by the caller through [`WordSplits`], since they
//! come from spaCy itself) and xxh64 (or sha1) shingle hashes.

use std::collections::HashMap;

use unicode_general_category::{get_general_category, GeneralCategory};

use super::hashing::{hash128, ShingleHash};
use super::normalize::Normalization;
use super::oph::OnePermutation;
use crate::error::{CoreError, Result};

/// The Mersenne prime 2^61 - 1, modulus of the universal hash family.
pub const MERSENNE_61: u64 = (1 << 61) - 1;

/// How a signature is computed from the shingle hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sketch {
    /// `bands * rows` universal hash functions, the minimum of each (datatrove's signatures).
    #[default]
    Minhash,
    /// One mixed hash per shingle spread over `bands * rows` slots, densified
    /// ([`super::oph`]): the same collision probability per slot, one hash per shingle.
    OnePermutation,
}

impl Sketch {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "minhash" => Some(Self::Minhash),
            "one_permutation" => Some(Self::OnePermutation),
            _ => None,
        }
    }
}

/// MinHash settings; the defaults are FineWeb's (5-grams, 14 bands of 8 rows, seed 1).
#[derive(Clone, Debug)]
pub struct MinhashConfig {
    pub ngram: usize,
    pub bands: usize,
    pub rows: usize,
    pub seed: u32,
    pub datatrove_compatible: bool,
    pub shingle_hash: ShingleHash,
    pub sketch: Sketch,
}

impl Default for MinhashConfig {
    fn default() -> Self {
        Self {
            ngram: 5,
            bands: 14,
            rows: 8,
            seed: 1,
            datatrove_compatible: false,
            shingle_hash: ShingleHash::Xxh3,
            sketch: Sketch::Minhash,
        }
    }
}

/// numpy's legacy MT19937 (`np.random.RandomState(seed)`), enough of it to draw 64-bit integers.
struct NumpyRandomState {
    key: [u32; 624],
    pos: usize,
}

impl NumpyRandomState {
    fn new(seed: u32) -> Self {
        let mut key = [0u32; 624];
        let mut s = seed;
        for (pos, slot) in key.iter_mut().enumerate() {
            *slot = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        Self { key, pos: 624 }
    }

    fn regenerate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..624 {
            let y = (self.key[i] & UPPER) | (self.key[(i + 1) % 624] & LOWER);
            let mut next = self.key[(i + 397) % 624] ^ (y >> 1);
            if y & 1 == 1 {
                next ^= MATRIX_A;
            }
            self.key[i] = next;
        }
        self.pos = 0;
    }

    fn next_u32(&mut self) -> u32 {
        if self.pos == 624 {
            self.regenerate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn next_u64(&mut self) -> u64 {
        let high = self.next_u32() as u64;
        let low = self.next_u32() as u64;
        (high << 32) | low
    }

    /// `randint(low, high, dtype=uint64)` for a range wider than 32 bits: masked rejection.
    fn randint_u64(&mut self, low: u64, high: u64) -> u64 {
        let range = high - 1 - low;
        debug_assert!(range > u32::MAX as u64);
        let mask = u64::MAX >> range.leading_zeros();
        loop {
            let value = self.next_u64() & mask;
            if value <= range {
                return low + value;
            }
        }
    }
}

/// The `a` and `b` of each hash function, drawn as datatrove draws them.
pub fn hash_parameters(seed: u32, count: usize) -> (Vec<u64>, Vec<u64>) {
    let mut rng = NumpyRandomState::new(seed);
    let a = (0..count)
        .map(|_| rng.randint_u64(1, MERSENNE_61))
        .collect();
    let b = (0..count)
        .map(|_| rng.randint_u64(0, MERSENNE_61))
        .collect();
    (a, b)
}

/// How spaCy's English tokenizer splits words that are not plain letters (`0km` -> `0 km`,
/// `cannot` -> `can not`). Filled by the caller from spaCy; words it lacks are reported back.
#[derive(Default, Clone)]
pub struct WordSplits {
    splits: HashMap<String, Vec<String>>,
}

impl WordSplits {
    pub fn insert(&mut self, word: String, tokens: Vec<String>) {
        self.splits.insert(word, tokens);
    }

    pub fn get(&self, word: &str) -> Option<&Vec<String>> {
        self.splits.get(word)
    }

    pub fn len(&self) -> usize {
        self.splits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.splits.is_empty()
    }
}

/// A word spaCy's English tokenizer leaves whole unless it is a special case: only letters and
/// combining marks, or only ASCII digits. Anything with a symbol or a digit next to letters can
/// be split by its prefix, suffix, infix or unit rules.
pub fn is_plain_word(word: &str) -> bool {
    if word.bytes().all(|b| b.is_ascii_lowercase()) || word.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    word.chars().all(|c| {
        use GeneralCategory::*;
        matches!(
            get_general_category(c),
            LowercaseLetter
                | UppercaseLetter
                | TitlecaseLetter
                | ModifierLetter
                | OtherLetter
                | SpacingMark
                | EnclosingMark
                | NonspacingMark
        )
    })
}

/// A document's words joined by single spaces, so every shingle is a slice of one string.
pub struct Tokenized {
    pub joined: String,
    pub words: usize,
}

/// Computes MinHash signatures.
pub struct MinHasher {
    pub config: MinhashConfig,
    a: Vec<u64>,
    b: Vec<u64>,
    one_permutation: Option<OnePermutation>,
}

impl MinHasher {
    pub fn new(config: MinhashConfig) -> Result<Self> {
        if config.ngram == 0 || config.bands == 0 || config.rows == 0 {
            return Err(CoreError::InvalidArgument(
                "ngram, bands and rows must be at least 1".into(),
            ));
        }
        if config.sketch == Sketch::OnePermutation && config.datatrove_compatible {
            return Err(CoreError::InvalidArgument(
                "the one_permutation sketch cannot be datatrove-compatible (datatrove computes \
                 exact MinHash): use sketch minhash, or datatrove_compatible false"
                    .into(),
            ));
        }
        let width = config.bands * config.rows;
        if config.sketch == Sketch::OnePermutation && width > super::oph::MAX_BINS {
            return Err(CoreError::InvalidArgument(
                "the one_permutation sketch takes at most 2^32 - 1 bands x rows".into(),
            ));
        }
        let (a, b) = hash_parameters(config.seed, width);
        let one_permutation = (config.sketch == Sketch::OnePermutation)
            .then(|| OnePermutation::new(width, config.seed));
        Ok(Self {
            config,
            a,
            b,
            one_permutation,
        })
    }

    pub fn num_hashes(&self) -> usize {
        self.a.len()
    }

    pub fn normalization(&self) -> Normalization {
        if self.config.datatrove_compatible {
            Normalization::Datatrove
        } else {
            Normalization::Minhash
        }
    }

    /// Words of normalised text. Whitespace words in Thresher's mode; in the compatible mode
    /// non-plain words are replaced by their spaCy split. `unknown` receives words that need a
    /// split `splits` lacks (they are then kept whole).
    pub fn tokenize(
        &self,
        normalized: &str,
        splits: Option<&WordSplits>,
        mut unknown: Option<&mut Vec<String>>,
    ) -> Tokenized {
        let mut joined = String::with_capacity(normalized.len() + 8);
        let mut words = 0;
        let mut push = |token: &str, joined: &mut String| {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(token);
            words += 1;
        };
        for word in normalized.split(' ').filter(|w| !w.is_empty()) {
            if self.config.datatrove_compatible {
                if let Some(tokens) = splits.and_then(|s| s.get(word)) {
                    for token in tokens {
                        push(token, &mut joined);
                    }
                    continue;
                }
                if !is_plain_word(word) {
                    if let Some(list) = unknown.as_deref_mut() {
                        list.push(word.to_string());
                    }
                }
            }
            push(word, &mut joined);
        }
        Tokenized { joined, words }
    }

    /// Hashes of every word n-gram (words joined by one space), in order, repeats included.
    pub fn shingle_hashes(&self, tokenized: &Tokenized) -> Vec<u64> {
        let n = self.config.ngram;
        if tokenized.words < n {
            return Vec::new();
        }
        let text = tokenized.joined.as_bytes();
        let mut starts = Vec::with_capacity(tokenized.words + 1);
        starts.push(0usize);
        starts.extend(memchr_spaces(text).map(|i| i + 1));
        let mut out = Vec::with_capacity(tokenized.words - n + 1);
        for i in 0..=tokenized.words - n {
            let end = if i + n < starts.len() {
                starts[i + n] - 1
            } else {
                text.len()
            };
            out.push(self.config.shingle_hash.hash(&text[starts[i]..end]));
        }
        out
    }

    /// Normalises, tokenises and hashes a document's shingles.
    pub fn document_shingles(&self, text: &str, splits: Option<&WordSplits>) -> Vec<u64> {
        let normalized = self.normalization().apply(text);
        let tokenized = if !self.config.datatrove_compatible && !normalized.contains("  ") {
            // Already single-space separated words: no copy needed.
            let words = if normalized.is_empty() {
                0
            } else {
                1 + normalized.bytes().filter(|&b| b == b' ').count()
            };
            Tokenized {
                joined: normalized,
                words,
            }
        } else {
            self.tokenize(&normalized, splits, None)
        };
        self.shingle_hashes(&tokenized)
    }

    /// The signature (`bands * rows` values) of a set of shingle hashes; `None` when empty.
    pub fn signature(&self, shingles: &[u64]) -> Option<Vec<u64>> {
        let mut mins = vec![0; self.a.len()];
        self.signature_into(shingles, &mut mins).then_some(mins)
    }

    /// Writes the signature of `shingles` into `out` (its first [`num_hashes`] values); false,
    /// with `out` untouched, when there are no shingles.
    ///
    /// [`num_hashes`]: MinHasher::num_hashes
    pub fn signature_into(&self, shingles: &[u64], out: &mut [u64]) -> bool {
        if let Some(sketch) = &self.one_permutation {
            return sketch.signature_into(shingles, out);
        }
        if shingles.is_empty() {
            return false;
        }
        let out = &mut out[..self.a.len()];
        out.fill(u64::MAX);
        signature_kernel(shingles, &self.a, &self.b, out);
        true
    }

    /// One 128-bit key per band: documents sharing a key are LSH candidates.
    pub fn band_keys(&self, signature: &[u64]) -> Vec<u128> {
        signature
            .chunks(self.config.rows)
            .enumerate()
            .map(|(band, values)| {
                let mut bytes = Vec::with_capacity(8 * values.len() + 4);
                bytes.extend_from_slice(&(band as u32).to_le_bytes());
                for v in values {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                hash128(&bytes)
            })
            .collect()
    }
}

fn memchr_spaces(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    text.iter()
        .enumerate()
        .filter(|(_, &b)| b == b' ')
        .map(|(i, _)| i)
}

/// `((x * a + b) mod 2^64) mod (2^61 - 1)`, the hash function family of both modes.
#[inline(always)]
fn universal_hash(x: u64, a: u64, b: u64) -> u64 {
    let v = x.wrapping_mul(a).wrapping_add(b);
    let r = (v & MERSENNE_61) + (v >> 61);
    // r < 2^61 + 8: one conditional subtraction finishes the reduction (branch-free: when
    // r < p the subtraction wraps to a huge value and the minimum ignores it).
    r.min(r.wrapping_sub(MERSENNE_61))
}

/// The portable kernel, four functions at a time kept in registers while every shingle
/// streams past (with the same lane arithmetic as the vector kernels, described below).
fn kernel_scalar(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
    if shingles.is_empty() {
        return;
    }
    let n = mins.len().min(a.len()).min(b.len());
    let full = n / 4 * 4;
    for start in (0..full).step_by(4) {
        let (a0, a1, a2, a3) = (a[start], a[start + 1], a[start + 2], a[start + 3]);
        let (b0, b1, b2, b3) = (b[start], b[start + 1], b[start + 2], b[start + 3]);
        let mut t = [u64::MAX; 4];
        for &x in shingles {
            // Opaque to the optimiser: a loop vectorised over shingles without a 64-bit vector
            // multiply (SSE2) runs at a third of this speed.
            let x = std::hint::black_box(x);
            t[0] = t[0].min(lane_value(x, a0, b0));
            t[1] = t[1].min(lane_value(x, a1, b1));
            t[2] = t[2].min(lane_value(x, a2, b2));
            t[3] = t[3].min(lane_value(x, a3, b3));
        }
        let mut wrapped = 0;
        for (lane, &t) in t.iter().enumerate() {
            if t < 8 {
                wrapped |= 1 << lane;
            } else {
                mins[start + lane] = mins[start + lane].min(t.wrapping_add(MERSENNE_61));
            }
        }
        if wrapped != 0 {
            recompute_lanes(wrapped, start, shingles, a, b, mins);
        }
    }
    for j in full..n {
        mins[j] = mins[j].min(exact_min(shingles, a[j], b[j]));
    }
}

/// The minimum hash of one function over every shingle, one exact hash at a time.
fn exact_min(shingles: &[u64], a: u64, b: u64) -> u64 {
    shingles
        .iter()
        .map(|&x| universal_hash(x, a, b))
        .min()
        .unwrap_or(u64::MAX)
}

/// `(v >> 61) - (!v & p)` for `v = x * a + b`, the value the kernels take minima of.
#[inline(always)]
fn lane_value(x: u64, a: u64, b: u64) -> u64 {
    let v = x.wrapping_mul(a).wrapping_add(b);
    (v >> 61).wrapping_sub(!v & MERSENNE_61)
}

// The kernels keep, for each function, the minimum over shingles of
//
//     t = (v >> 61) - (!v & p)   (wrapping), with v = x * a + b (wrapping) = hi * 2^61 + lo,
//
// which is lo + hi - p: three operations instead of a full reduction. When lo + hi < p (all but
// about 8 in 2^61 values) t = h - p with h the exact hash, a number at or above 2^64 - p, ordered
// like h; otherwise t is the exact hash itself (0 to 7) and sorts first. A final minimum at or
// above 2^64 - p is therefore exact (h = t + p); a lane whose minimum is below 8 met a wrapped
// value, and is recomputed one exact hash at a time. The initial t of u64::MAX stands for
// h = p - 1, the largest hash, so it never shows through once a shingle has been seen (the
// kernels are only called with at least one).

/// AVX-512 kernel: passes of up to 56 functions (7 registers of 8, whose `a`, `b` and minima
/// take 21 of the 32 vector registers), every shingle broadcast against them: 6 vector
/// operations per 8 functions and shingle.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn kernel_avx512(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
    let n = mins.len().min(a.len()).min(b.len());
    let mut start = 0;
    macro_rules! pass {
        ($r:literal) => {
            let end = start + 8 * $r;
            // SAFETY: the caller guarantees AVX-512F/DQ; the slices hold 8 * R values.
            unsafe {
                avx512_pass::<$r>(
                    shingles,
                    &a[start..end],
                    &b[start..end],
                    &mut mins[start..end],
                )
            };
            start = end;
        };
    }
    while n - start >= 56 {
        pass!(7);
    }
    if n - start >= 32 {
        pass!(4);
    }
    if n - start >= 16 {
        pass!(2);
    }
    if n - start >= 8 {
        pass!(1);
    }
    if start < n {
        kernel_scalar(shingles, &a[start..n], &b[start..n], &mut mins[start..n]);
    }
}

/// `8 * R` functions (the whole of `a`, `b` and `mins`) over every shingle.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
#[inline]
unsafe fn avx512_pass<const R: usize>(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
    use std::arch::x86_64::*;
    assert!(a.len() == 8 * R && b.len() == 8 * R && mins.len() == 8 * R);
    let p = _mm512_set1_epi64(MERSENNE_61 as i64);
    let mut av = [_mm512_setzero_si512(); R];
    let mut bv = [_mm512_setzero_si512(); R];
    let mut tv = [_mm512_set1_epi64(-1); R];
    for r in 0..R {
        // SAFETY: 8 * r + 8 <= 8 * R, the slices' length (asserted above).
        unsafe {
            av[r] = _mm512_loadu_si512(a.as_ptr().add(8 * r).cast());
            bv[r] = _mm512_loadu_si512(b.as_ptr().add(8 * r).cast());
        }
    }
    for &x in shingles {
        let xv = _mm512_set1_epi64(x as i64);
        for r in 0..R {
            let v = _mm512_add_epi64(_mm512_mullo_epi64(xv, av[r]), bv[r]);
            let t = _mm512_sub_epi64(_mm512_srli_epi64::<61>(v), _mm512_andnot_si512(v, p));
            tv[r] = _mm512_min_epu64(tv[r], t);
        }
    }
    let eight = _mm512_set1_epi64(8);
    for (r, &t) in tv.iter().enumerate() {
        let wrapped = _mm512_cmplt_epu64_mask(t, eight);
        // SAFETY: as for the loads.
        unsafe {
            let out = mins.as_mut_ptr().add(8 * r);
            let old = _mm512_loadu_si512(out.cast());
            let new = _mm512_min_epu64(old, _mm512_add_epi64(t, p));
            _mm512_mask_storeu_epi64(out.cast(), !wrapped, new);
        }
        if wrapped != 0 {
            recompute_lanes(wrapped as u32, 8 * r, shingles, a, b, mins);
        }
    }
}

/// AVX2 kernel: 4 functions a register, 2 registers a pass. AVX2 has no 64-bit low multiply
/// (three 32 x 32 -> 64 products instead) and no unsigned 64-bit minimum: t is compared as a
/// signed number, where the wrapped values (0 to 7) sort last instead of first, so a mask of
/// their sign bits finds the lanes to recompute. 13 vector operations per 4 functions and shingle.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn kernel_avx2(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
    let n = mins.len().min(a.len()).min(b.len());
    let mut start = 0;
    while n - start >= 8 {
        // SAFETY: the caller guarantees AVX2; the slices hold 8 values.
        unsafe {
            avx2_pass::<2>(
                shingles,
                &a[start..start + 8],
                &b[start..start + 8],
                &mut mins[start..start + 8],
            )
        };
        start += 8;
    }
    if n - start >= 4 {
        // SAFETY: as above, 4 values.
        unsafe {
            avx2_pass::<1>(
                shingles,
                &a[start..start + 4],
                &b[start..start + 4],
                &mut mins[start..start + 4],
            )
        };
        start += 4;
    }
    if start < n {
        kernel_scalar(shingles, &a[start..n], &b[start..n], &mut mins[start..n]);
    }
}

/// `4 * R` functions (the whole of `a`, `b` and `mins`) over every shingle.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn avx2_pass<const R: usize>(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
    use std::arch::x86_64::*;
    assert!(a.len() == 4 * R && b.len() == 4 * R && mins.len() == 4 * R);
    let p = _mm256_set1_epi64x(MERSENNE_61 as i64);
    let mut av = [_mm256_setzero_si256(); R];
    let mut ahv = [_mm256_setzero_si256(); R];
    let mut bv = [_mm256_setzero_si256(); R];
    let mut tv = [_mm256_set1_epi64x(-1); R];
    // Sign bits stay set while every t of the lane was negative (not wrapped).
    let mut unwrapped = [_mm256_set1_epi64x(-1); R];
    for r in 0..R {
        // SAFETY: 4 * r + 4 <= 4 * R, the slices' length (asserted above).
        unsafe {
            av[r] = _mm256_loadu_si256(a.as_ptr().add(4 * r).cast());
            bv[r] = _mm256_loadu_si256(b.as_ptr().add(4 * r).cast());
        }
        ahv[r] = _mm256_srli_epi64::<32>(av[r]);
    }
    for &x in shingles {
        let xl = _mm256_set1_epi64x(x as i64);
        let xh = _mm256_set1_epi64x((x >> 32) as i64);
        for r in 0..R {
            // x * a mod 2^64 = xl * al + ((xl * ah + xh * al) << 32).
            let low = _mm256_mul_epu32(xl, av[r]);
            let cross = _mm256_add_epi64(_mm256_mul_epu32(xl, ahv[r]), _mm256_mul_epu32(xh, av[r]));
            let v = _mm256_add_epi64(_mm256_add_epi64(low, bv[r]), _mm256_slli_epi64::<32>(cross));
            let t = _mm256_sub_epi64(_mm256_srli_epi64::<61>(v), _mm256_andnot_si256(v, p));
            // Both lie in [-p, 7], so t - min cannot overflow: its sign says t < min.
            let less = _mm256_castsi256_pd(_mm256_sub_epi64(t, tv[r]));
            tv[r] = _mm256_castpd_si256(_mm256_blendv_pd(
                _mm256_castsi256_pd(tv[r]),
                _mm256_castsi256_pd(t),
                less,
            ));
            unwrapped[r] = _mm256_and_si256(unwrapped[r], t);
        }
    }
    for r in 0..R {
        let mut t = [0u64; 4];
        // SAFETY: `t` holds 4 values.
        unsafe { _mm256_storeu_si256(t.as_mut_ptr().cast(), tv[r]) };
        let clean = _mm256_movemask_pd(_mm256_castsi256_pd(unwrapped[r])) as u32;
        for (lane, &t) in t.iter().enumerate() {
            if clean >> lane & 1 == 1 {
                let j = 4 * r + lane;
                mins[j] = mins[j].min(t.wrapping_add(MERSENNE_61));
            }
        }
        let wrapped = !clean & 0b1111;
        if wrapped != 0 {
            recompute_lanes(wrapped, 4 * r, shingles, a, b, mins);
        }
    }
}

/// Recomputes exactly, one hash at a time, the functions `first + lane` for every set bit
/// of `lanes` (vector lanes that met a value of `lo + hi` at or above p).
#[cold]
#[inline(never)]
fn recompute_lanes(
    mut lanes: u32,
    first: usize,
    shingles: &[u64],
    a: &[u64],
    b: &[u64],
    mins: &mut [u64],
) {
    while lanes != 0 {
        let j = first + lanes.trailing_zeros() as usize;
        mins[j] = mins[j].min(exact_min(shingles, a[j], b[j]));
        lanes &= lanes - 1;
    }
}

/// An implementation of the signature kernel; all give identical minima.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    Scalar,
    Avx2,
    Avx512,
}

impl KernelPath {
    /// Every path, slowest first.
    pub const ALL: [KernelPath; 3] = [KernelPath::Scalar, KernelPath::Avx2, KernelPath::Avx512];

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            KernelPath::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest path this CPU supports.
    pub fn best() -> Self {
        Self::ALL
            .into_iter()
            .rev()
            .find(|path| path.supported())
            .unwrap_or(KernelPath::Scalar)
    }
}

/// `mins[j] = min(mins[j], min over x of ((x * a[j] + b[j]) mod 2^64) mod (2^61 - 1))`, on the
/// fastest path the CPU supports.
pub fn signature_kernel(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
    signature_kernel_on(KernelPath::best(), shingles, a, b, mins)
}

/// [`signature_kernel`] on a chosen path; one the CPU lacks runs the scalar kernel instead.
pub fn signature_kernel_on(
    path: KernelPath,
    shingles: &[u64],
    a: &[u64],
    b: &[u64],
    mins: &mut [u64],
) {
    if shingles.is_empty() {
        return;
    }
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the features the kernel is compiled for were detected at run time.
        KernelPath::Avx512 if path.supported() => unsafe { kernel_avx512(shingles, a, b, mins) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        KernelPath::Avx2 if path.supported() => unsafe { kernel_avx2(shingles, a, b, mins) },
        _ => kernel_scalar(shingles, a, b, mins),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parameters_match_numpy_random_state() {
        // np.random.RandomState(1): randint(1, p, uint64, 112) then randint(0, p, uint64, 112).
        let (a, b) = hash_parameters(1, 112);
        assert_eq!(
            &a[..3],
            &[775169054918279404, 1758426461858698313, 2109959069025162]
        );
        assert_eq!(a[111], 223865076026037746);
        assert_eq!(
            &b[..3],
            &[
                1062448801025099917,
                1324811268927594100,
                1217488311597731462
            ]
        );
        assert_eq!(b[111], 1097409548522419201);
    }

    /// The kernel's definition, written out with a 128-bit remainder.
    fn reference_kernel(shingles: &[u64], a: &[u64], b: &[u64], mins: &mut [u64]) {
        for &x in shingles {
            for (j, m) in mins.iter_mut().enumerate() {
                let v = x.wrapping_mul(a[j]).wrapping_add(b[j]);
                *m = (*m).min((v as u128 % MERSENNE_61 as u128) as u64);
            }
        }
    }

    fn supported_paths() -> Vec<KernelPath> {
        let paths: Vec<_> = KernelPath::ALL
            .into_iter()
            .filter(|p| p.supported())
            .collect();
        eprintln!("kernel paths tested: {paths:?}");
        paths
    }

    /// Every supported path, on `mins` as given, against the reference.
    fn check_paths(shingles: &[u64], a: &[u64], b: &[u64], mins: &[u64]) {
        let mut expected = mins.to_vec();
        reference_kernel(shingles, a, b, &mut expected);
        for path in supported_paths() {
            let mut got = mins.to_vec();
            signature_kernel_on(path, shingles, a, b, &mut got);
            assert_eq!(
                got,
                expected,
                "{path:?}, {} functions, {} shingles",
                a.len(),
                shingles.len()
            );
        }
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn kernel_wraps_before_the_modulus() {
        for path in supported_paths() {
            let mut mins = [u64::MAX];
            signature_kernel_on(path, &[2], &[3 << 62], &[5], &mut mins);
            // 2 * 3*2^62 = 3*2^63 wraps to 2^63; + 5; mod (2^61 - 1) = 4 + 5 = 9.
            assert_eq!(mins[0], 9, "{path:?}");
        }
        let mut plain = [u64::MAX];
        kernel_scalar(&[2, 7, 11], &[12345, 999], &[1, 2], &mut plain);
        assert_eq!(plain[0], 2 * 12345 + 1);
    }

    #[test]
    fn every_path_matches_the_reference_on_random_inputs() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for functions in [
            1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 32, 33, 55, 56, 57, 63, 64, 100, 112, 113, 128,
        ] {
            for shingles in [1, 2, 3, 8, 61, 500] {
                // Datatrove's parameter ranges, then any 64-bit values (the kernel takes both).
                for full_range in [false, true] {
                    let draw = |rng: &mut XorShift, low: u64| {
                        if full_range {
                            rng.next()
                        } else {
                            low + rng.next() % (MERSENNE_61 - low)
                        }
                    };
                    let a: Vec<u64> = (0..functions).map(|_| draw(&mut rng, 1)).collect();
                    let b: Vec<u64> = (0..functions).map(|_| draw(&mut rng, 0)).collect();
                    let x: Vec<u64> = (0..shingles).map(|_| rng.next()).collect();
                    check_paths(&x, &a, &b, &vec![u64::MAX; functions]);
                    // Minima carried in from earlier calls, some below what the shingles give.
                    let carried: Vec<u64> = (0..functions)
                        .map(|_| rng.next() >> (rng.next() % 64))
                        .collect();
                    check_paths(&x, &a, &b, &carried);
                }
            }
        }
    }

    #[test]
    fn every_path_handles_values_at_and_above_the_modulus() {
        // With a = 1 the function values are x + b, so b places them exactly. v = hi * 2^61 + lo
        // with lo + hi >= p is the case the vector kernels detect and recompute.
        const TOP: u64 = 7 << 61;
        let interesting = [
            MERSENNE_61,                 // lo = p: hash 0
            MERSENNE_61 - 1,             // lo + hi = p - 1: the largest hash
            MERSENNE_61 + 1,             // hi = 1, lo = 0
            u64::MAX,                    // hi = 7, lo = p: hash 7; x = 1 wraps it to 0
            u64::MAX - 1,                // hash 6, then 7, then 0
            (4 << 61) + MERSENNE_61 - 1, // lo + hi = p + 3: hash 3
            (2 << 61) + MERSENNE_61 - 5, // lo + hi = p - 3: no wrap
            TOP + MERSENNE_61 - 7,       // lo + hi = p: hash 0
            TOP,
            0,
            1,
            1 << 61,
            u64::MAX - (1 << 40) + 1, // x = 2^40 gives 1
        ];
        let functions = 3 * 56 + 13;
        let b: Vec<u64> = (0..functions)
            .map(|j| interesting[j % interesting.len()])
            .collect();
        let a = vec![1u64; functions];
        for x in [
            vec![0u64],
            vec![1],
            vec![0, 1],
            vec![2, 0],
            vec![0, 1, 2, 1 << 40, 12345],
            vec![1 << 40, 3, 0],
        ] {
            check_paths(&x, &a, &b, &vec![u64::MAX; functions]);
        }
        let mut mins = vec![u64::MAX; functions];
        signature_kernel(&[0], &a, &b, &mut mins);
        assert_eq!(&mins[..6], &[0, MERSENNE_61 - 1, 1, 7, 6, 3]);
    }

    #[test]
    fn vectorised_kernel_matches_scalar() {
        let hasher = MinHasher::new(MinhashConfig::default()).unwrap();
        let shingles: Vec<u64> = (0..1000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut scalar = vec![u64::MAX; 112];
        kernel_scalar(&shingles, &hasher.a, &hasher.b, &mut scalar);
        assert_eq!(hasher.signature(&shingles).unwrap(), scalar);
        let mut out = vec![1; 112];
        assert!(hasher.signature_into(&shingles, &mut out));
        assert_eq!(out, scalar);
        assert!(!hasher.signature_into(&[], &mut out));
        assert_eq!(out, scalar);
    }

    #[test]
    fn shingles_are_word_ngrams() {
        let config = MinhashConfig {
            ngram: 2,
            shingle_hash: ShingleHash::Xxh64,
            ..Default::default()
        };
        let hasher = MinHasher::new(config).unwrap();
        let shingles = hasher.document_shingles("The cat, the HAT!", None);
        let expected: Vec<u64> = ["the cat", "cat the", "the hat"]
            .iter()
            .map(|s| ShingleHash::Xxh64.hash(s.as_bytes()))
            .collect();
        assert_eq!(shingles, expected);
        assert!(hasher.document_shingles("one", None).is_empty());
        assert!(hasher.signature(&[]).is_none());
    }

    #[test]
    fn compatible_mode_uses_word_splits() {
        let config = MinhashConfig {
            ngram: 2,
            datatrove_compatible: true,
            shingle_hash: ShingleHash::Xxh64,
            ..Default::default()
        };
        let hasher = MinHasher::new(config).unwrap();
        let mut splits = WordSplits::default();
        splits.insert("cannot".into(), vec!["can".into(), "not".into()]);
        let mut unknown = Vec::new();
        let t = hasher.tokenize("i cannot run 0km", Some(&splits), Some(&mut unknown));
        assert_eq!(t.joined, "i can not run 0km");
        assert_eq!(t.words, 5);
        assert_eq!(unknown, vec!["0km".to_string()]);
    }

    #[test]
    fn identical_texts_share_all_band_keys() {
        let hasher = MinHasher::new(MinhashConfig::default()).unwrap();
        let text = "one two three four five six seven eight nine ten";
        let s1 = hasher
            .signature(&hasher.document_shingles(text, None))
            .unwrap();
        let s2 = hasher
            .signature(&hasher.document_shingles(&text.to_uppercase(), None))
            .unwrap();
        assert_eq!(hasher.band_keys(&s1), hasher.band_keys(&s2));
        assert_eq!(hasher.band_keys(&s1).len(), 14);
    }

    #[test]
    fn one_permutation_sketch_is_used_when_configured() {
        let config = MinhashConfig {
            sketch: Sketch::OnePermutation,
            ..Default::default()
        };
        let hasher = MinHasher::new(config).unwrap();
        assert_eq!(hasher.num_hashes(), 112);
        let shingles: Vec<u64> = (0..500u64).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
        let mut expected = vec![0; 112];
        assert!(OnePermutation::new(112, 1).signature_into(&shingles, &mut expected));
        assert_eq!(hasher.signature(&shingles).unwrap(), expected);
        assert_ne!(
            MinHasher::new(MinhashConfig::default())
                .unwrap()
                .signature(&shingles)
                .unwrap(),
            expected
        );
        assert!(hasher.signature(&[]).is_none());
        let text = "one two three four five six seven eight nine ten";
        let s1 = hasher.signature(&hasher.document_shingles(text, None));
        let s2 = hasher.signature(&hasher.document_shingles(&text.to_uppercase(), None));
        assert_eq!(
            hasher.band_keys(&s1.unwrap()),
            hasher.band_keys(&s2.unwrap())
        );
    }

    #[test]
    fn one_permutation_is_not_datatrove_compatible() {
        let config = MinhashConfig {
            sketch: Sketch::OnePermutation,
            datatrove_compatible: true,
            ..Default::default()
        };
        let err = MinHasher::new(config).err().unwrap().to_string();
        assert!(err.contains("datatrove"), "{err}");
        assert_eq!(
            Sketch::parse("one_permutation"),
            Some(Sketch::OnePermutation)
        );
        assert_eq!(Sketch::parse("minhash"), Some(Sketch::Minhash));
        assert_eq!(Sketch::parse("oph"), None);
    }

    #[test]
    fn plain_words() {
        assert!(is_plain_word("hello"));
        assert!(is_plain_word("000"));
        assert!(is_plain_word("외모지상주의"));
        assert!(!is_plain_word("0km"));
        assert!(!is_plain_word("brand®"));
        assert!(!is_plain_word("‘the"));
    }

    proptest! {
        #[test]
        fn kernel_paths_agree(
            x in proptest::collection::vec(any::<u64>(), 0..40),
            ab in proptest::collection::vec((any::<u64>(), any::<u64>()), 0..80),
        ) {
            let (a, b): (Vec<u64>, Vec<u64>) = ab.into_iter().unzip();
            let mut expected = vec![u64::MAX; a.len()];
            reference_kernel(&x, &a, &b, &mut expected);
            for path in KernelPath::ALL.into_iter().filter(|p| p.supported()) {
                let mut got = vec![u64::MAX; a.len()];
                signature_kernel_on(path, &x, &a, &b, &mut got);
                prop_assert_eq!(&got, &expected, "{:?}", path);
            }
        }

        #[test]
        fn signatures_never_panic(text in "\\PC{0,200}", compatible in any::<bool>()) {
            let hasher = MinHasher::new(MinhashConfig { datatrove_compatible: compatible, ..Default::default() }).unwrap();
            let shingles = hasher.document_shingles(&text, None);
            if let Some(sig) = hasher.signature(&shingles) {
                prop_assert_eq!(sig.len(), 112);
                prop_assert!(sig.iter().all(|&v| v < MERSENNE_61));
            }
        }
    }
}
