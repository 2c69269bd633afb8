"""Drawing documents to meet a budget: whole epochs first, then one seeded partial epoch.

For a group with documents of sizes t_1..t_n (total T) and budget A:
  * every document is taken E = floor(A / T) times (whole epochs);
  * the rest R = A - E*T is filled by walking a seeded permutation of the documents and taking
    them until the running size reaches R; the document that crosses R is kept when that lands
    closer to R than stopping before it.
So the selected size is within half a document of A, no document is taken more than
ceil(A / T) times, and the same seed and group always give the same selection.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

#: Budgets within this relative distance of a whole number of epochs count as that number
#: (so 3 epochs computed as 2.9999999999 is three whole epochs, not two and a partial one).
_EPOCH_SLACK = 1e-9


def group_seed(seed: int, group: str) -> int:
    """A per-group seed, so one group's selection does not depend on which other groups exist."""
    digest = hashlib.sha256(f"{seed}\x00{group}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def select_repeats(sizes: np.ndarray, budget: float, seed: int) -> np.ndarray:
    """How many times each document is taken (uint32, same order as `sizes`)."""
    sizes = np.asarray(sizes, dtype=np.float64)
    n = len(sizes)
    repeats = np.zeros(n, dtype=np.uint32)
    if not math.isfinite(budget) or budget < 0:
        raise ValueError(f"budget must be a finite number >= 0, got {budget}")
    total = math.fsum(sizes)
    if budget == 0 or n == 0:
        return repeats
    if total <= 0:
        raise ValueError(f"budget {budget:g} asked of documents of total size 0")
    ratio = budget / total
    whole = math.floor(ratio)
    if ratio - whole > 1 - _EPOCH_SLACK:
        whole += 1
    rest = budget - whole * total
    repeats[:] = whole
    if rest <= total * _EPOCH_SLACK:
        return repeats
    order = np.random.default_rng(seed).permutation(n)
    running = np.cumsum(sizes[order])
    crossing = int(np.searchsorted(running, rest, side="left"))  # first position where running >= rest
    if crossing >= n:
        take = n
    else:
        before = running[crossing - 1] if crossing > 0 else 0.0
        take = crossing + 1 if running[crossing] - rest <= rest - before else crossing
    repeats[order[:take]] += 1
    return repeats
