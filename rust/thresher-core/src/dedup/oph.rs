//! One-permutation hashing (Li, Owen and Zhang, 2012) with optimal densification (Shrivastava,
//! 2017): a MinHash-class signature for which each shingle costs one hash, not one per slot.
//!
//! Each shingle hash `x` is mixed once, `h = fmix(x + key)`, with a bijective 64-bit mixer (the
//! splitmix64 finaliser) seeded through `key`. Since the mixer is a bijection, distinct shingles
//! get distinct `h`. The `k` slots split the range of `h` into `k` equal intervals, slot
//! `floor(h * k / 2^64)`, and each slot keeps the smallest `h` that falls in it: for a random
//! permutation of the shingle universe, this is the minimum of each of `k` disjoint parts of it.
//!
//! Slots no shingle falls in are filled by optimal densification: empty slot `j` probes the slots
//! `p(j, 1), p(j, 2), ...`, a sequence that depends only on `j`, the seed and the attempt
//! number (never on the document), and copies the value of the first slot that was non-empty
//! before densification. For two sets `A` and `B`, slot `j` of both ends on the first probed slot
//! that is non-empty for `A ∪ B` (a slot holding a shingle of only one of them makes that one
//! stop there and the other continue, and values of different slots never coincide, since the
//! slots are disjoint ranges of `h`). The two signatures agree at `j` exactly when the smallest
//! `h` of `A ∪ B` in that slot belongs to `A ∩ B`, which, the shingles being exchangeable under a
//! random permutation, happens with probability `|A ∩ B| / |A ∪ B|`: `P[sig_A[j] = sig_B[j]] = J`
//! for every slot, non-empty or not, with no bias for documents with fewer shingles than slots.
//!
//! Slots are not independent (densified slots copy other slots), so the variance of the share of
//! equal slots is somewhat above `J (1 - J) / k` for documents with few shingles, and somewhat
//! below it for large documents (one-permutation slots are sampled without replacement).
//!
//! `h = u64::MAX` doubles as the marker of an empty slot: the one shingle hash that mixes to it is
//! ignored when other shingles are present (a changed signature with probability about `n / 2^64`
//! for `n` shingles).

/// The splitmix64 finaliser: a bijection of u64 with full avalanche.
#[inline(always)]
fn fmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `floor(hi * bins / 2^32)` with `hi` the top 32 bits of `h`: the slot of `h`, intervals of `h`
/// in slot order (one 32 x 32 -> 64-bit product, which vector units have; `bins < 2^32`).
#[inline(always)]
fn slot_of(h: u64, bins: usize) -> usize {
    (((h >> 32) * bins as u64) >> 32) as usize
}

/// After this many probes an empty slot falls back to the next non-empty slot to its right
/// (still a function of the slot and the document only). With `m >= 1` non-empty slots of `k`,
/// reaching it has probability `(1 - m/k)^MAX_PROBES`, below 10^-30 for `k` up to 10^4.
const MAX_PROBES: u64 = 1 << 20;

/// Seeded one-permutation sketch of `bins` slots.
#[derive(Clone, Debug)]
pub struct OnePermutation {
    bins: usize,
    key: u64,
    probe_key: u64,
    avx512: bool,
}

/// The most slots a sketch can have.
pub const MAX_BINS: usize = u32::MAX as usize;

impl OnePermutation {
    pub fn new(bins: usize, seed: u32) -> Self {
        assert!((1..=MAX_BINS).contains(&bins), "1 to 2^32 - 1 slots");
        // Two keys from the seed, through the splitmix64 sequence.
        let state = (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Self {
            bins,
            key: fmix(state.wrapping_add(0x9e37_79b9_7f4a_7c15)),
            probe_key: fmix(state.wrapping_add(0x3c6e_f372_fe94_f82a)),
            avx512: avx512_supported(),
        }
    }

    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Writes the signature of `shingles` into the first `bins` values of `out`; false, with
    /// `out` untouched, when there are no shingles (no signature, as for exact MinHash).
    pub fn signature_into(&self, shingles: &[u64], out: &mut [u64]) -> bool {
        if shingles.is_empty() {
            return false;
        }
        let out = &mut out[..self.bins];
        out.fill(u64::MAX);
        self.fill_minima(shingles, out);
        let empty = out.iter().filter(|&&v| v == u64::MAX).count();
        if empty == 0 {
            return true;
        }
        if empty == self.bins {
            // Every shingle mixed to u64::MAX (so there is one, repeated): what densifying from
            // its slot would give.
            return true;
        }
        self.densify(out);
        true
    }

    /// The smallest `h` of each slot (u64::MAX where none fell).
    #[inline]
    fn fill_minima(&self, shingles: &[u64], out: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if self.avx512 {
            // SAFETY: AVX-512F/DQ were detected at construction.
            unsafe { fill_minima_avx512(shingles, self.key, self.bins, out) };
            return;
        }
        fill_minima_scalar(shingles, self.key, self.bins, out);
    }

    #[cfg(test)]
    fn scalar_only(mut self) -> Self {
        self.avx512 = false;
        self
    }

    /// Slot probed by empty slot `slot` at `attempt` (1, 2, ...).
    #[inline]
    fn probe(&self, slot: usize, attempt: u64) -> usize {
        slot_of(
            fmix(self.probe_key ^ ((slot as u64) << 32 | attempt)),
            self.bins,
        )
    }

    /// Fills every empty slot from the first non-empty slot of its probe sequence.
    fn densify(&self, out: &mut [u64]) {
        let filled: Vec<bool> = out.iter().map(|&v| v != u64::MAX).collect();
        for slot in 0..self.bins {
            if filled[slot] {
                continue;
            }
            let mut source = None;
            for attempt in 1..=MAX_PROBES {
                let j = self.probe(slot, attempt);
                if filled[j] {
                    source = Some(j);
                    break;
                }
            }
            let j = source.unwrap_or_else(|| {
                (1..self.bins)
                    .map(|d| (slot + d) % self.bins)
                    .find(|&j| filled[j])
                    .expect("a non-empty slot")
            });
            out[slot] = out[j];
        }
    }
}

fn avx512_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The min-update is branch-free: a conditional store would be mispredicted about as often as a
/// slot's minimum changes, which early in a document is often.
#[inline(always)]
fn update(out: &mut [u64], h: u64, bins: usize) {
    let slot = &mut out[slot_of(h, bins)];
    *slot = (*slot).min(h);
}

fn fill_minima_scalar(shingles: &[u64], key: u64, bins: usize, out: &mut [u64]) {
    // Four mixes at a time, independent, so that several are in flight.
    let mut chunks = shingles.chunks_exact(4);
    for c in &mut chunks {
        let h = [
            fmix(c[0].wrapping_add(key)),
            fmix(c[1].wrapping_add(key)),
            fmix(c[2].wrapping_add(key)),
            fmix(c[3].wrapping_add(key)),
        ];
        for h in h {
            update(out, h, bins);
        }
    }
    for &x in chunks.remainder() {
        update(out, fmix(x.wrapping_add(key)), bins);
    }
}

/// Shingles mixed and placed eight at a time in vector registers (the three 64-bit multiplies of
/// the mixer and the slot's 32-bit product), a block of 64 into two small arrays, then the
/// block's 64 scalar min-updates: the same values as [`fill_minima_scalar`]. Keeping the two
/// phases apart matters more than the vector arithmetic: with the lanes extracted and stored
/// into `out` one by one, the loads of `out` sit among pending stores of unknown address, and
/// the run took 3-5x as long (2.0 ms against 9.8 ms for 2.5 M shingles).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn fill_minima_avx512(shingles: &[u64], key: u64, bins: usize, out: &mut [u64]) {
    use std::arch::x86_64::*;
    const BLOCK: usize = 64;
    let keyv = _mm512_set1_epi64(key as i64);
    let m1 = _mm512_set1_epi64(0xbf58_476d_1ce4_e5b9_u64 as i64);
    let m2 = _mm512_set1_epi64(0x94d0_49bb_1331_11eb_u64 as i64);
    let binsv = _mm512_set1_epi64(bins as i64);
    let (mut mixed, mut slots) = ([0u64; BLOCK], [0u64; BLOCK]);
    let mut blocks = shingles.chunks_exact(BLOCK);
    for block in &mut blocks {
        for (j, c) in block.chunks_exact(8).enumerate() {
            // SAFETY: c holds 8 u64 (unaligned load); mixed and slots hold BLOCK = 8 x 8 u64.
            unsafe {
                let x = _mm512_loadu_si512(c.as_ptr().cast());
                let mut z = _mm512_add_epi64(x, keyv);
                z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64::<30>(z)), m1);
                z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64::<27>(z)), m2);
                z = _mm512_xor_si512(z, _mm512_srli_epi64::<31>(z));
                let slot =
                    _mm512_srli_epi64::<32>(_mm512_mul_epu32(_mm512_srli_epi64::<32>(z), binsv));
                _mm512_storeu_si512(mixed.as_mut_ptr().add(8 * j).cast(), z);
                _mm512_storeu_si512(slots.as_mut_ptr().add(8 * j).cast(), slot);
            }
        }
        for (&slot, &h) in slots.iter().zip(&mixed) {
            let slot = &mut out[slot as usize];
            *slot = (*slot).min(h);
        }
    }
    fill_minima_scalar(blocks.remainder(), key, bins, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64, for test sets.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            fmix(self.0)
        }
    }

    /// Two sets with `union` elements in all, `common` of them shared, the rest split evenly:
    /// Jaccard exactly `common / union`.
    fn pair(rng: &mut Rng, union: usize, common: usize) -> (Vec<u64>, Vec<u64>) {
        let elements: Vec<u64> = (0..union).map(|_| rng.next()).collect();
        let only = union - common;
        let (shared, rest) = elements.split_at(common);
        let (only_a, only_b) = rest.split_at(only / 2);
        let mut a: Vec<u64> = shared.iter().chain(only_a).copied().collect();
        let mut b: Vec<u64> = shared.iter().chain(only_b).copied().collect();
        // Order and repeats must not matter.
        a.reverse();
        b.extend_from_slice(&shared[..common.min(3)]);
        (a, b)
    }

    fn signature(sketch: &OnePermutation, shingles: &[u64]) -> Vec<u64> {
        let mut out = vec![0; sketch.bins()];
        assert!(sketch.signature_into(shingles, &mut out));
        out
    }

    fn agreement(sketch: &OnePermutation, a: &[u64], b: &[u64]) -> f64 {
        let (sa, sb) = (signature(sketch, a), signature(sketch, b));
        sa.iter().zip(&sb).filter(|(x, y)| x == y).count() as f64 / sa.len() as f64
    }

    /// Mean share of equal slots over `pairs` independent pairs (new sets and a new seed each)
    /// and its standard error, estimated from the pairs themselves.
    fn mean_agreement(union: usize, jaccard: f64, pairs: usize, seed: u64) -> (f64, f64, f64) {
        let common = (jaccard * union as f64).round() as usize;
        let exact = common as f64 / union as f64;
        let mut rng = Rng(seed);
        let shares: Vec<f64> = (0..pairs)
            .map(|i| {
                let sketch = OnePermutation::new(112, (seed as u32).wrapping_add(i as u32));
                let (a, b) = pair(&mut rng, union, common);
                agreement(&sketch, &a, &b)
            })
            .collect();
        let n = shares.len() as f64;
        let mean = shares.iter().sum::<f64>() / n;
        let var = shares.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, (var / n).sqrt(), exact)
    }

    // The share of equal slots of one pair estimates J; averaged over P independent pairs, its
    // mean is within a few standard errors of J if the estimate is unbiased. The standard error
    // is measured from the same P shares (the slots of one signature are correlated through
    // densification, so J (1 - J) / 112 would understate it for small sets). With P = 300 the
    // mean is close to normal; 4.5 standard errors gives a false failure below 10^-5 per check
    // (with fixed seeds the outcome is deterministic anyway), while a bias of 0.02, the size a
    // broken densification gives (a slot copying its right neighbour, for instance, makes
    // neighbouring slots agree together), is about 5 to 20 standard errors.
    fn assert_unbiased(union: usize, jaccard: f64, seed: u64) {
        let (mean, se, exact) = mean_agreement(union, jaccard, 300, seed);
        let tolerance = 4.5 * se.max(1e-3);
        assert!(
            (mean - exact).abs() <= tolerance,
            "{union} elements, J = {exact:.4}: mean share of equal slots {mean:.4} \
             (standard error {se:.4})"
        );
    }

    #[test]
    fn identical_sets_give_identical_signatures() {
        let sketch = OnePermutation::new(112, 1);
        let mut rng = Rng(5);
        for size in [1, 2, 7, 111, 112, 500, 5000] {
            let set: Vec<u64> = (0..size).map(|_| rng.next()).collect();
            let mut shuffled = set.clone();
            shuffled.reverse();
            shuffled.extend_from_slice(&set[..size.min(10)]);
            let sig = signature(&sketch, &set);
            assert_eq!(sig, signature(&sketch, &shuffled), "{size}");
            assert!(sig.iter().all(|&v| v != u64::MAX));
        }
    }

    #[test]
    fn empty_sets_get_no_signature() {
        let sketch = OnePermutation::new(112, 1);
        let mut out = vec![7u64; 112];
        assert!(!sketch.signature_into(&[], &mut out));
        assert!(out.iter().all(|&v| v == 7));
    }

    #[test]
    fn seeded_and_deterministic() {
        let set: Vec<u64> = (0..300u64).map(|i| i * 31 + 7).collect();
        let a1 = signature(&OnePermutation::new(112, 1), &set);
        let a2 = signature(&OnePermutation::new(112, 1), &set);
        let b = signature(&OnePermutation::new(112, 2), &set);
        assert_eq!(a1, a2);
        assert!(a1.iter().zip(&b).filter(|(x, y)| x == y).count() < 10);
        // Values lie in their slot's interval when not densified; every value is a mixed shingle.
        let sketch = OnePermutation::new(112, 1);
        let mixed: Vec<u64> = set
            .iter()
            .map(|&x| fmix(x.wrapping_add(sketch.key)))
            .collect();
        assert!(a1.iter().all(|v| mixed.contains(v)));
    }

    #[test]
    fn vector_and_scalar_paths_agree() {
        let mut rng = Rng(11);
        for bins in [1, 7, 112, 1000] {
            // Around the 8-lane vectors and the 64-shingle blocks of the vector path.
            for n in [1, 7, 8, 9, 63, 64, 65, 100, 128, 3001] {
                let set: Vec<u64> = (0..n).map(|_| rng.next() >> (rng.next() % 64)).collect();
                let sketch = OnePermutation::new(bins, n as u32);
                let expected = signature(&sketch.clone().scalar_only(), &set);
                assert_eq!(
                    signature(&sketch, &set),
                    expected,
                    "{bins} slots, {n} shingles"
                );
            }
        }
    }

    #[test]
    fn one_shingle_fills_every_slot() {
        let sketch = OnePermutation::new(112, 3);
        let sig = signature(&sketch, &[42]);
        assert!(sig.iter().all(|&v| v == sig[0]));
        assert_eq!(sig[0], fmix(42u64.wrapping_add(sketch.key)));
    }

    #[test]
    fn equal_slots_estimate_jaccard() {
        for (k, jaccard) in [0.2, 0.5, 0.8, 0.95].into_iter().enumerate() {
            for union in [20, 200, 2000] {
                assert_unbiased(union, jaccard, 1000 + 10 * k as u64 + union as u64);
            }
        }
    }

    #[test]
    fn small_documents_are_unbiased() {
        // Fewer shingles than the 112 slots: most slots are filled by densification.
        for (k, jaccard) in [0.2, 0.5, 0.8].into_iter().enumerate() {
            for union in [5, 10, 40, 100] {
                assert_unbiased(union, jaccard, 7000 + 10 * k as u64 + union as u64);
            }
        }
    }

    #[test]
    fn small_sets_need_densification() {
        // Without densification (empty slots left at a fixed value) slots empty in both sets
        // always agree, so the share of equal slots of small sets is far above J: the checks
        // above have something to detect.
        let sketch = OnePermutation::new(112, 9);
        let mut rng = Rng(77);
        let mut shares = Vec::new();
        for _ in 0..300 {
            let (a, b) = pair(&mut rng, 10, 5);
            let fixed = |set: &[u64]| {
                let mut out = vec![u64::MAX; 112];
                sketch.fill_minima(set, &mut out);
                out.iter()
                    .map(|&v| if v == u64::MAX { 0 } else { v })
                    .collect::<Vec<_>>()
            };
            let (sa, sb) = (fixed(&a), fixed(&b));
            shares.push(sa.iter().zip(&sb).filter(|(x, y)| x == y).count() as f64 / 112.0);
        }
        let mean = shares.iter().sum::<f64>() / shares.len() as f64;
        // Empty-in-both slots (about 90% here) always agree: far above J = 0.5.
        assert!(mean > 0.8, "{mean}");
    }
}
