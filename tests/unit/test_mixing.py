"""Allocation methods: the spec's test vectors exactly, and properties over random corpora."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from thresher.mixing import (
    InfeasibleBudget,
    allocate,
    explicit_budgets,
    group_seed,
    proportional,
    select_repeats,
    temperature_distribution,
    temperature_sampling,
    unimax,
    unimax_distribution,
    weighted,
)

FIVE = {"a": 100, "b": 200, "c": 300, "d": 400, "e": 500}
THREE = {"a": 10, "b": 1000, "c": 100000}


def _rounded(dist: dict[str, float], places: int) -> list[float]:
    return [round(v, places) for _, v in sorted(dist.items())]


# -- the test vectors of specs/mixing.md -------------------------------------------------------
def test_unimax_vector_five_languages_one_epoch():
    p = unimax_distribution(FIVE, 1000, 1)
    assert _rounded(p, 4) == [0.1, 0.2, 0.2333, 0.2333, 0.2333]
    for got, want in zip(_rounded(p, 15), [0.1, 0.2, 7 / 30, 7 / 30, 7 / 30], strict=True):
        assert got == pytest.approx(want, abs=1e-14)


def test_unimax_vector_five_languages_two_epochs_is_uniform():
    assert _rounded(unimax_distribution(FIVE, 1000, 2), 12) == [0.2] * 5


def test_unimax_vector_three_languages():
    assert _rounded(unimax_distribution(THREE, 3000, 1), 4) == [0.0033, 0.3333, 0.6633]
    assert _rounded(unimax_distribution(THREE, 3000, 5), 4) == [0.0167, 0.4917, 0.4917]
    exact = unimax(THREE, 3000, 1).budgets
    assert exact == {"a": 10.0, "b": 1000.0, "c": 1990.0}
    assert unimax(THREE, 3000, 5).budgets == {"a": 50.0, "b": 1475.0, "c": 1475.0}


def test_temperature_vectors():
    assert _rounded(temperature_distribution(THREE, 2), 3) == [0.009, 0.090, 0.901]
    assert _rounded(temperature_distribution(THREE, 3.33), 3) == [0.048, 0.191, 0.761]


def test_unimax_order_is_by_size_not_by_input_order():
    # A known bug elsewhere indexes sorted sizes by the original position; shuffled input must not matter.
    shuffled = {"d": 400, "a": 100, "e": 500, "c": 300, "b": 200}
    assert unimax_distribution(shuffled, 1000, 2) == pytest.approx({g: 0.2 for g in shuffled})
    assert unimax(shuffled, 1000, 1).budgets == pytest.approx(unimax(FIVE, 1000, 1).budgets)


def test_unimax_ties_are_broken_by_name():
    a = unimax({"x": 10, "y": 10, "z": 1000}, 60, 1)
    assert a.budgets == {"x": 10.0, "y": 10.0, "z": 40.0}


def test_unimax_infeasible_budget_says_what_fits():
    with pytest.raises(InfeasibleBudget) as err:
        unimax({"a": 100, "b": 300}, 1000, 2)
    message = str(err.value)
    assert "at most 800" in message  # C that fits with N = 2
    assert "at least 2.5" in message  # N that fits C = 1000


def test_unimax_exactly_n_times_corpus_is_feasible():
    a = unimax({"a": 100, "b": 300}, 800, 2)
    assert a.budgets == {"a": 200.0, "b": 600.0}
    assert a.epochs == {"a": 2.0, "b": 2.0}


# -- properties ----------------------------------------------------------------------------------
_sizes = st.dictionaries(
    st.text("abcdefghij", min_size=1, max_size=3),
    # Token counts: zero or at least a fraction of a token (subnormal floats are not sizes).
    st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e9)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(_sizes, st.floats(min_value=0, max_value=1), st.floats(min_value=0.1, max_value=20))
def test_unimax_properties(sizes, fraction, max_epochs):
    total = sum(sizes.values())
    budget = fraction * max_epochs * total
    a = unimax(sizes, budget, max_epochs)
    # Budget spent exactly when feasible.
    assert a.total_budget == pytest.approx(budget, rel=1e-9, abs=1e-6)
    # No language over N epochs.
    for g, b in a.budgets.items():
        assert b <= sizes[g] * max_epochs * (1 + 1e-12) + 1e-9
        assert b >= 0
    # Every language below its cap gets the same (uniform) share, and no capped language gets more.
    uncapped = [b for g, b in a.budgets.items() if b < sizes[g] * max_epochs * (1 - 1e-9)]
    if uncapped:
        assert max(uncapped) == pytest.approx(min(uncapped), rel=1e-9)
        assert max(a.budgets.values()) <= max(uncapped) * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(_sizes, st.floats(min_value=1.0001, max_value=100), st.floats(min_value=0.1, max_value=20))
def test_unimax_rejects_every_infeasible_budget(sizes, over, max_epochs):
    total = sum(sizes.values())
    assume(total > 0)
    with pytest.raises(InfeasibleBudget):
        unimax(sizes, over * max_epochs * total, max_epochs)


@settings(max_examples=100, deadline=None)
@given(_sizes, st.floats(min_value=0.05, max_value=50))
def test_temperature_is_a_distribution_that_flattens(sizes, tau):
    assume(sum(sizes.values()) > 0)
    q = temperature_distribution(sizes, tau)
    assert math.fsum(q.values()) == pytest.approx(1.0)
    present = sorted((s, q[g]) for g, s in sizes.items() if s > 0)
    # Order preserved: a larger language never gets less.
    for (s1, q1), (s2, q2) in zip(present, present[1:], strict=False):
        if s2 > s1:
            assert q2 >= q1 * (1 - 1e-9)


def test_temperature_one_is_proportional_and_large_tau_is_near_uniform():
    empirical = {"a": 10 / 101010, "b": 1000 / 101010, "c": 1e5 / 101010}
    assert temperature_distribution(THREE, 1) == pytest.approx(empirical)
    flat = temperature_distribution(THREE, 1e6)
    assert max(flat.values()) - min(flat.values()) < 1e-4


def test_temperature_reports_epochs_and_can_refuse_them():
    a = temperature_sampling({"big": 1e6, "small": 100}, 3.33, budget=1e6)
    assert a.epochs["small"] > 100  # the mT5 problem, visible
    with pytest.raises(InfeasibleBudget, match="small"):
        temperature_sampling({"big": 1e6, "small": 100}, 3.33, budget=1e6, max_epochs=4)


def test_proportional_weights_and_explicit_budgets():
    p = proportional({"a": 1, "b": 3}, budget=8)
    assert p.budgets == pytest.approx({"a": 2, "b": 6})
    w = weighted({"a": 10, "b": 10, "c": 10}, {"a": 1, "b": 3}, budget=8)
    assert w.budgets == pytest.approx({"a": 2, "b": 6, "c": 0})
    e = explicit_budgets({"a": 10, "b": 10}, {"a": 25})
    assert e.budgets == {"a": 25.0, "b": 0.0}
    assert e.epochs == {"a": 2.5, "b": 0.0}
    with pytest.raises(InfeasibleBudget, match="no data"):
        explicit_budgets({"a": 10, "b": 0}, {"b": 5})
    with pytest.raises(ValueError, match="needs a budget"):
        allocate("unimax", {"a": 1})


# -- sampling ------------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=200),
    st.floats(min_value=0, max_value=12),
    st.integers(min_value=0, max_value=2**32),
)
def test_selection_hits_the_budget_within_half_a_document(sizes, epochs, seed):
    sizes = np.array(sizes)
    total = sizes.sum()
    assume(total > 0)
    budget = epochs * total
    repeats = select_repeats(sizes, budget, seed)
    selected = float((repeats * sizes).sum())
    assert abs(selected - budget) <= sizes.max() / 2 + 1e-6 * max(budget, 1)
    whole = math.floor(epochs + 1e-9)
    assert repeats.min() >= min(whole, math.ceil(epochs))
    assert repeats.max() <= math.ceil(epochs - 1e-9) or repeats.max() <= whole
    assert np.array_equal(repeats, select_repeats(sizes, budget, seed))  # deterministic


def test_selection_whole_epochs_then_partial():
    sizes = np.full(100, 10.0)
    repeats = select_repeats(sizes, 2500.0, seed=7)
    assert sorted(set(repeats.tolist())) == [2, 3]
    assert int((repeats == 3).sum()) == 50
    assert not np.array_equal(repeats, select_repeats(sizes, 2500.0, seed=8))
    assert group_seed(1, "de") != group_seed(1, "fr") and group_seed(1, "de") == group_seed(1, "de")
