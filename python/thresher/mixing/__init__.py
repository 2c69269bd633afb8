"""Mixture allocation: how much of each language (or any group) goes into the final mix.

Pure functions over per-group sizes; no I/O. Sizes and budgets are in one unit (tokens or
characters), chosen by the caller. See docs/mixing.md.
"""

from thresher.mixing.allocation import Allocation, InfeasibleBudget
from thresher.mixing.budgets import allocate, explicit_budgets, proportional, weighted
from thresher.mixing.sampling import group_seed, select_repeats
from thresher.mixing.temperature import temperature_distribution, temperature_sampling
from thresher.mixing.unimax import unimax, unimax_distribution

__all__ = [
    "Allocation",
    "InfeasibleBudget",
    "allocate",
    "explicit_budgets",
    "group_seed",
    "proportional",
    "select_repeats",
    "temperature_distribution",
    "temperature_sampling",
    "unimax",
    "unimax_distribution",
    "weighted",
]
