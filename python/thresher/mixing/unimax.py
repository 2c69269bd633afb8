"""UniMax (Chung et al., ICLR 2023, arXiv 2304.09151), Algorithm 1.

Groups are visited from the smallest to the largest (ties broken by name). Each gets the uniform
share of the budget still unassigned, or `max_epochs` passes over its own data if that is less.
So the smallest groups are capped at N epochs and every larger group gets exactly the same
budget. The paper counts sizes in characters and converts token budgets at 4 characters per token.
"""

from __future__ import annotations

from collections.abc import Mapping

from thresher.mixing.allocation import Allocation, InfeasibleBudget, check_budget, check_sizes


def unimax(sizes: Mapping[str, float], budget: float, max_epochs: float = 1.0) -> Allocation:
    """Budgets per group: Algorithm 1 of the UniMax paper, with U_l kept unnormalised.

    Raises InfeasibleBudget when `budget > max_epochs * sum(sizes)`: then every group is capped,
    budget is left over, and the mix would need more than `max_epochs` epochs somewhere.
    """
    sizes = check_sizes(sizes)
    budget = check_budget(budget)
    if not max_epochs > 0:
        raise ValueError(f"max_epochs must be > 0, got {max_epochs}")
    total = sum(sizes.values())
    capacity = max_epochs * total
    if budget > capacity * (1 + 1e-12):
        raise InfeasibleBudget(infeasible_message(budget, max_epochs, total))
    order = sorted(sizes, key=lambda g: (sizes[g], g))
    remaining = budget
    budgets: dict[str, float] = {}
    for i, group in enumerate(order):
        uniform_share = remaining / (len(order) - i)
        cap = sizes[group] * max_epochs
        assigned = cap if uniform_share > cap else uniform_share
        budgets[group] = assigned
        remaining -= assigned
    return Allocation(
        "unimax",
        sizes,
        {g: budgets[g] for g in sizes},
        {"budget": budget, "max_epochs": max_epochs},
    )


def unimax_distribution(sizes: Mapping[str, float], budget: float, max_epochs: float = 1.0) -> dict[str, float]:
    """The normalised sampling distribution p of Algorithm 1."""
    return unimax(sizes, budget, max_epochs).shares


def infeasible_message(budget: float, max_epochs: float, total: float) -> str:
    if total <= 0:
        return f"UniMax: budget {_amount(budget)} asked of an empty corpus; no budget > 0 fits"
    return (
        f"UniMax: budget C = {_amount(budget)} exceeds max_epochs N = {max_epochs:g} times the whole corpus "
        f"({_amount(total)}): even {max_epochs:g} epoch(s) of every language would not fill it. "
        f"Either lower the budget to at most {_amount(max_epochs * total)} (C <= N x corpus) "
        f"or raise max_epochs to at least {budget / total:.6g} (N >= C / corpus)."
    )


def _amount(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.6g}"
