"""Plain allocation methods (proportional, weights, explicit budgets) and the one entry point."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from thresher.mixing.allocation import (
    Allocation,
    InfeasibleBudget,
    check_budget,
    check_epoch_cap,
    check_sizes,
)
from thresher.mixing.temperature import temperature_sampling
from thresher.mixing.unimax import unimax

Method = Literal["unimax", "temperature", "proportional", "weights", "budgets"]


def proportional(
    sizes: Mapping[str, float], budget: float | None = None, max_epochs: float | None = None
) -> Allocation:
    """Each group in proportion to its size (temperature 1)."""
    return temperature_sampling(sizes, 1.0, budget, max_epochs)


def weighted(
    sizes: Mapping[str, float],
    weights: Mapping[str, float],
    budget: float | None = None,
    max_epochs: float | None = None,
) -> Allocation:
    """Budgets in proportion to explicit weights; groups without a weight get nothing."""
    sizes = check_sizes(sizes)
    budget = math.fsum(sizes.values()) if budget is None else check_budget(budget)
    for group, weight in weights.items():
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight of {group!r} must be a finite number >= 0, got {weight}")
    norm = math.fsum(weights.get(g, 0.0) for g in sizes)
    if norm <= 0 and budget > 0:
        raise InfeasibleBudget("weights: no group present in the data has a positive weight")
    budgets = {g: budget * weights.get(g, 0.0) / norm if norm > 0 else 0.0 for g in sizes}
    allocation = Allocation("weights", sizes, budgets, {"budget": budget, "weights": dict(weights)})
    return check_epoch_cap(_no_empty_group(allocation), max_epochs)


def explicit_budgets(
    sizes: Mapping[str, float], budgets: Mapping[str, float], max_epochs: float | None = None
) -> Allocation:
    """Budgets given per group; groups not listed get nothing."""
    sizes = check_sizes(sizes)
    out = {g: check_budget(budgets.get(g, 0.0), f"budget of {g!r}") for g in sizes}
    allocation = Allocation("budgets", sizes, out, {"budgets": dict(budgets)})
    return check_epoch_cap(_no_empty_group(allocation), max_epochs)


def _no_empty_group(allocation: Allocation) -> Allocation:
    empty = [g for g, b in allocation.budgets.items() if b > 0 and allocation.sizes[g] <= 0]
    if empty:
        raise InfeasibleBudget(f"{allocation.method}: budget given to group(s) with no data: {', '.join(empty)}")
    return allocation


def allocate(
    method: Method,
    sizes: Mapping[str, float],
    budget: float | None = None,
    max_epochs: float | None = None,
    temperature: float | None = None,
    weights: Mapping[str, float] | None = None,
    budgets: Mapping[str, float] | None = None,
) -> Allocation:
    """One entry point for every method (what the `mix` step calls)."""
    if method == "unimax":
        if budget is None:
            raise ValueError("unimax needs a budget")
        return unimax(sizes, budget, 1.0 if max_epochs is None else max_epochs)
    if method == "temperature":
        if temperature is None:
            raise ValueError("temperature sampling needs a temperature")
        return temperature_sampling(sizes, temperature, budget, max_epochs)
    if method == "proportional":
        return proportional(sizes, budget, max_epochs)
    if method == "weights":
        if not weights:
            raise ValueError("method weights needs a `weights` mapping")
        return weighted(sizes, weights, budget, max_epochs)
    if method == "budgets":
        if not budgets:
            raise ValueError("method budgets needs a `budgets` mapping")
        return explicit_budgets(sizes, budgets, max_epochs)
    raise ValueError(f"unknown mixing method {method!r}")
