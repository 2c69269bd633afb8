"""Temperature sampling: q_l proportional to p_l^(1/tau), p_l the empirical share of group l.

tau = 1 is the empirical distribution, tau -> infinity is uniform (mT5 and XLM-R use 3.33).
The resulting epochs per group are part of the allocation, so a user sees when a small
language would be repeated a hundred times.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from thresher.mixing.allocation import Allocation, check_budget, check_epoch_cap, check_sizes


def temperature_distribution(sizes: Mapping[str, float], tau: float) -> dict[str, float]:
    sizes = check_sizes(sizes)
    if not (tau > 0 and math.isfinite(tau)):
        raise ValueError(f"temperature tau must be a finite number > 0, got {tau}")
    total = math.fsum(sizes.values())
    if total <= 0:
        return {g: 0.0 for g in sizes}
    # In logs, so tiny shares at low tau do not underflow before normalisation.
    log_total = math.log(total)
    logs = {g: (math.log(s) - log_total) / tau for g, s in sizes.items() if s > 0}
    top = max(logs.values())
    weights = {g: math.exp(v - top) for g, v in logs.items()}
    norm = math.fsum(weights.values())
    return {g: weights.get(g, 0.0) / norm for g in sizes}


def temperature_sampling(
    sizes: Mapping[str, float],
    tau: float,
    budget: float | None = None,
    max_epochs: float | None = None,
) -> Allocation:
    """Budgets `budget * q_l`; the budget defaults to the whole corpus (same size, reshaped).

    With `max_epochs`, raises InfeasibleBudget naming the groups that would exceed it.
    """
    sizes = check_sizes(sizes)
    budget = math.fsum(sizes.values()) if budget is None else check_budget(budget)
    q = temperature_distribution(sizes, tau)
    allocation = Allocation(
        "temperature" if tau != 1 else "proportional",
        sizes,
        {g: budget * q[g] for g in sizes},
        {"budget": budget, "temperature": tau},
    )
    return check_epoch_cap(allocation, max_epochs)
