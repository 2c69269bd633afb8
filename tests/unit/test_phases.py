"""Skill-mix phases: conditions, percentile cuts, overlap rules, shares, UniMax caps inside a phase,
and phase 2 as a subset of phase 1."""

import math

import numpy as np
import pytest
from pydantic import ValidationError

from thresher.mixing.allocation import InfeasibleBudget
from thresher.mixing.phases import (
    Condition,
    PhaseSpec,
    apply_condition,
    assign_skills,
    draw_phases,
    score_columns,
    top_fraction_cut,
)


def test_condition_parsing():
    assert Condition.parse("quality.score >= 0.5") == Condition("quality.score", ">=", 0.5)
    assert Condition.parse("skills.knowledge top 40%") == Condition("skills.knowledge", "top", 0.4)
    assert Condition.parse("x bottom 0.25") == Condition("x", "bottom", 0.25)
    assert str(Condition.parse("k top 40%")) == "k top 40%"
    for bad in ("quality >= ", "q == 1", "q top 140%", "q >= 5%", "q top 0%"):
        with pytest.raises(ValueError):
            Condition.parse(bad)


def test_top_and_bottom_are_percentiles_of_the_rows_evaluated():
    values = np.array([0.1, 0.9, 0.5, 0.7, 0.3, np.nan])
    everyone = np.ones(6, dtype=bool)
    passing, applied = apply_condition(Condition("s", "top", 0.4), values, everyone)
    assert passing.tolist() == [False, True, False, True, False, False]  # 2 of the 5 non-null
    assert applied["threshold"] == pytest.approx(0.7) and applied["applied"] == "s >= 0.7"
    passing, _ = apply_condition(Condition("s", "bottom", 0.2), values, everyone)
    assert passing.tolist() == [True, False, False, False, False, False]
    subset = np.array([True, False, True, False, True, False])  # 0.1, 0.5, 0.3
    passing, applied = apply_condition(Condition("s", "top", 0.34), values, subset)
    assert passing.tolist() == [False, False, True, False, True, False] and applied["rows_evaluated"] == 3
    passing, _ = apply_condition(Condition("s", ">=", 0.5), values, everyone)
    assert passing.tolist() == [False, True, True, True, False, False]  # NaN fails
    assert top_fraction_cut(np.array([]), 0.5) is None


def phase(**kw):
    base = {
        "name": "p1",
        "budget": 100,
        "skills": [
            {"name": "knowledge", "share": 0.5, "when": "k >= 0.5"},
            {"name": "reasoning", "share": 0.3, "when": ["r >= 0.5"]},
            {"name": "general", "share": 0.2},
        ],
    }
    base.update(kw)
    return PhaseSpec.model_validate(base)


def test_overlap_first_highest_and_catch_all():
    scores = {"k": np.array([0.9, 0.6, 0.1, 0.1, 0.7]), "r": np.array([0.8, 0.9, 0.9, 0.1, np.nan])}
    eligible = np.array([True, True, True, True, False])
    bucket, _, overlap = assign_skills(phase(), scores, eligible)
    assert bucket.tolist() == [0, 0, 1, 2, -1]  # first listed wins; doc 3 falls to the catch-all
    assert overlap["rows_in_several_skills"] == 2
    bucket, _, _ = assign_skills(phase(overlap="highest"), scores, eligible)
    assert bucket.tolist() == [0, 1, 1, 2, -1]  # doc 1: r 0.9 > k 0.6
    no_catch_all = phase(skills=[{"name": "knowledge", "share": 1.0, "when": "k >= 0.5"}])
    bucket, _, overlap = assign_skills(no_catch_all, scores, eligible)
    assert bucket.tolist() == [0, 0, -1, -1, -1] and overlap["rows_in_no_skill"] == 2


def test_spec_validation():
    with pytest.raises(ValidationError, match="add up"):
        phase(skills=[{"name": "a", "share": 0.5}])
    with pytest.raises(ValidationError, match="catch-all"):
        phase(skills=[{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}])
    with pytest.raises(ValidationError, match="expected"):
        phase(when=["k => 1"])
    assert phase(budget="2M").budget == 2e6
    assert score_columns([phase(when="q top 50%")]) == ["q", "k", "r"]
    with pytest.raises(ValueError, match="earlier phase"):
        draw_phases([phase(subset_of="p0")], np.ones(3), np.array(["en"] * 3), {"k": np.ones(3), "r": np.ones(3)})


def corpus(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(50, 400, n).astype(float)
    languages = rng.choice(["en", "de", "sw"], n, p=[0.7, 0.25, 0.05])
    scores = {"q": rng.uniform(size=n), "k": rng.uniform(size=n), "r": rng.uniform(size=n)}
    return tokens, languages, scores


def two_phases(budget1=150_000, budget2=20_000):
    return [
        PhaseSpec.model_validate(
            {
                "name": "phase1",
                "budget": budget1,
                "when": ["q >= 0.3"],
                "skills": [
                    {"name": "knowledge", "share": 0.5, "when": "k top 40%"},
                    {"name": "reasoning", "share": 0.3, "when": "r >= 0.6"},
                    {"name": "general", "share": 0.2},
                ],
                "max_epochs": 2,
            }
        ),
        PhaseSpec.model_validate(
            {
                "name": "phase2",
                "subset_of": "phase1",
                "budget": budget2,
                "when": ["q top 50%"],
                "skills": [
                    {"name": "knowledge", "share": 0.3, "when": "k >= 0.7"},
                    {"name": "reasoning", "share": 0.7, "when": "r >= 0.7"},
                ],
                "overlap": "highest",
                "max_epochs": 1,
            }
        ),
    ]


def test_two_phases_meet_shares_caps_and_subset():
    tokens, languages, scores = corpus()
    p1, p2 = draw_phases(two_phases(), tokens, languages, scores, seed=7)
    for result, spec in ((p1, two_phases()[0]), (p2, two_phases()[1])):
        m = result.manifest
        assert abs(m["tokens_selected"] - spec.budget) / spec.budget < 0.01
        for skill in m["skills"]:
            assert abs(skill["share"] - skill["target_share"]) < 0.01, skill
            for lang, cell in skill["languages"].items():
                assert cell["epochs"] <= spec.max_epochs + 1e-9, (skill["skill"], lang)
                # within half a document of the cell's budget
                assert abs(cell["tokens_selected"] - cell["budget"]) <= 200
        assert sum(s["tokens_selected"] for s in m["skills"]) == pytest.approx(
            sum(v["tokens_selected"] for v in m["languages"].values())
        )
        assert math.isclose(float((result.repeats * tokens).sum()), m["tokens_selected"])
    # phase 2 only uses documents phase 1 selected, and only ones meeting both phases' conditions
    chosen2 = p2.repeats > 0
    assert np.all(p1.repeats[chosen2] > 0)
    assert np.all(scores["q"][chosen2] >= 0.3)
    assert p2.manifest["docs_in_pool"] == int((p1.repeats > 0).sum())
    cut = p2.manifest["conditions"][0]["threshold"]
    assert np.all(scores["q"][chosen2] >= cut)
    # each selected document is counted in exactly one skill
    assert np.all(p1.skill[p1.repeats > 0] >= 0)
    assert p1.manifest["docs_selected"] == int(p1.repeats.sum())
    # the small language is capped at max_epochs inside its skill while the others share the rest
    sw = p1.manifest["skills"][0]["languages"]["sw"]
    assert sw["epochs"] == pytest.approx(2.0, rel=0.02)


def test_draw_is_deterministic_for_a_seed():
    tokens, languages, scores = corpus(800)
    phases = two_phases(30_000, 4_000)
    a = draw_phases(phases, tokens, languages, scores, seed=1)
    b = draw_phases(phases, tokens, languages, scores, seed=1)
    c = draw_phases(phases, tokens, languages, scores, seed=2)
    assert np.array_equal(a[0].repeats, b[0].repeats) and np.array_equal(a[1].repeats, b[1].repeats)
    assert not np.array_equal(a[0].repeats, c[0].repeats)


def test_infeasible_share_names_the_skill():
    tokens, languages, scores = corpus(300)
    with pytest.raises(InfeasibleBudget, match="skill 'knowledge'"):
        draw_phases(two_phases(budget1=10_000_000), tokens, languages, scores)
