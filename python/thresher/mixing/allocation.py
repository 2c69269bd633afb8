"""The result of every allocation method: per-group sizes in, per-group budgets out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class InfeasibleBudget(ValueError):
    """The requested mix cannot be drawn from the available data under the given limits."""


@dataclass(frozen=True)
class Allocation:
    """Budgets per group (language) in the unit of `sizes` (tokens or characters).

    `budgets[g] / sizes[g]` is the number of epochs of group g the mix asks for; above 1 the
    group's documents are repeated.
    """

    method: str
    sizes: dict[str, float]
    budgets: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def total_size(self) -> float:
        return math.fsum(self.sizes.values())

    @property
    def total_budget(self) -> float:
        return math.fsum(self.budgets.values())

    @property
    def shares(self) -> dict[str, float]:
        """Each group's fraction of the mix (the sampling distribution p)."""
        total = self.total_budget
        return {g: (b / total if total > 0 else 0.0) for g, b in self.budgets.items()}

    @property
    def epochs(self) -> dict[str, float]:
        return {g: epochs_of(self.budgets[g], self.sizes[g]) for g in self.budgets}

    def max_epochs(self) -> float:
        return max(self.epochs.values(), default=0.0)


def epochs_of(budget: float, size: float) -> float:
    if budget <= 0:
        return 0.0
    return budget / size if size > 0 else math.inf


def check_sizes(sizes: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for group, size in sizes.items():
        size = float(size)
        if not math.isfinite(size) or size < 0:
            raise ValueError(f"size of {group!r} must be a finite number >= 0, got {size}")
        out[str(group)] = size
    return out


def check_budget(budget: float, what: str = "budget") -> float:
    budget = float(budget)
    if not math.isfinite(budget) or budget < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {budget}")
    return budget


def check_epoch_cap(allocation: Allocation, max_epochs: float | None) -> Allocation:
    """Raises InfeasibleBudget naming every group the allocation would repeat more than `max_epochs` times."""
    if max_epochs is None:
        return allocation
    over = {g: e for g, e in allocation.epochs.items() if e > max_epochs * (1 + 1e-12)}
    if not over:
        return allocation
    worst = sorted(over.items(), key=lambda kv: -kv[1])
    listed = ", ".join(f"{g} ({'no data' if math.isinf(e) else f'{e:.3g} epochs'})" for g, e in worst[:10])
    more = f" and {len(worst) - 10} more" if len(worst) > 10 else ""
    raise InfeasibleBudget(
        f"{allocation.method}: {len(over)} group(s) would be repeated more than max_epochs = {max_epochs:g} times: "
        f"{listed}{more}. Raise max_epochs, lower the budget, or use method unimax, which caps each group at "
        f"max_epochs and spreads the rest."
    )
