"""Reading answers from logprobs, and the score cache (no model needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thresher.llm.answers import (
    ScoreOptions,
    final_scores,
    log_prob_from_top,
    log_prob_from_top_ids,
    log_prob_of_tokens,
)
from thresher.llm.cache import ScoreCache, document_key


def test_exact_answer_from_top_logprobs():
    top = {"Yes": math.log(0.5), "yes": math.log(0.2), " Yes": math.log(0.1), "No": math.log(0.15)}
    assert log_prob_from_top(top, "Yes", "", False) == (math.log(0.5), True)
    assert log_prob_from_top(top, "Yes", " ", False) == (math.log(0.1), True)
    value, exact = log_prob_from_top(top, "Yes", "", True)
    assert exact and value == pytest.approx(math.log(0.8))


def test_missing_answer_is_bounded_by_the_smallest_returned():
    top = {"Maybe": math.log(0.6), "Perhaps": math.log(0.3)}
    assert log_prob_from_top(top, "Yes", "", False) == (math.log(0.3), False)
    assert log_prob_from_top_ids({5: -0.1, 7: -3.0}, [9], False) == (-3.0, False)
    assert log_prob_from_top_ids({5: -0.1, 7: -3.0}, [7, 5], True)[0] == pytest.approx(np.logaddexp(-0.1, -3.0))


def test_log_prob_of_tokens_sums_probabilities():
    log_probs = np.log(np.array([[0.1, 0.2, 0.3, 0.4]]))
    assert log_prob_of_tokens(log_probs, [1])[0] == pytest.approx(math.log(0.2))
    assert log_prob_of_tokens(log_probs, [1, 3])[0] == pytest.approx(math.log(0.6))


def test_renormalised_score():
    yes, no = np.log([0.02, 0.3]), np.log([0.06, 0.1])
    assert np.allclose(final_scores(yes, no, ScoreOptions()), yes)
    assert np.allclose(np.exp(final_scores(yes, no, ScoreOptions(renormalize=True))), [0.25, 0.75])


def test_cache_round_trip_and_reopen(tmp_path):
    path = tmp_path / "scores.sqlite"
    cache = ScoreCache(path)
    scope = cache.register_scope({"model": "m", "question": "q"})
    other = cache.register_scope({"model": "m", "question": "q2"})
    keys = [document_key(t) for t in ["a", "b", "c"]]
    cache.put(scope, keys[:2], np.array([-1.0, -2.0]), np.array([-3.0, -4.0]))
    assert cache.get(scope, keys) == {keys[0]: (-1.0, -3.0), keys[1]: (-2.0, -4.0)}
    assert cache.get(other, keys) == {}
    cache.close()
    reopened = ScoreCache(path)
    assert reopened.get(scope, [keys[1]]) == {keys[1]: (-2.0, -4.0)}
    assert reopened.count(scope) == 2 and reopened.hits == 1
