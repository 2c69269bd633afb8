"""Metrics against values worked out by hand."""

import math

import numpy as np
import pytest

from thresher.classify import metrics as m


def test_average_ranks_share_ties():
    assert m.average_ranks(np.array([10, 20, 20, 5])).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_roc_auc_counts_pairs_and_half_ties():
    labels = np.array([1, 1, 0, 0])
    assert m.roc_auc(labels, np.array([0.9, 0.8, 0.1, 0.2])) == 1.0
    assert m.roc_auc(labels, np.array([0.1, 0.2, 0.9, 0.8])) == 0.0
    # pairs (pos, neg): (0.5,0.5) tie=0.5, (0.5,0.1)=1, (0.7,0.5)=1, (0.7,0.1)=1 -> 3.5/4
    assert m.roc_auc(labels, np.array([0.5, 0.7, 0.5, 0.1])) == pytest.approx(0.875)
    assert math.isnan(m.roc_auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_f1_and_macro_f1():
    true = np.array(["a", "a", "b", "b", "c"])
    pred = np.array(["a", "b", "b", "b", "a"])
    per = m.f1_scores(true, pred)
    # a: tp1 fp1 fn1 -> 0.5 ; b: tp2 fp1 fn0 -> 0.8 ; c: tp0 fp0 fn1 -> 0
    assert per == {"a": 0.5, "b": pytest.approx(0.8), "c": 0.0}
    assert m.macro_f1(true, pred) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_spearman_is_rank_correlation():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert m.spearman(a, a**3) == pytest.approx(1.0)
    assert m.spearman(a, -a) == pytest.approx(-1.0)
    assert math.isnan(m.spearman(a, np.ones(4)))


def test_regression_metrics_round_like_fineweb_edu():
    true = np.array([0.0, 1.0, 3.0, 4.0, 5.0])
    pred = np.array([0.2, 1.4, 2.6, 4.4, 4.9])
    out = m.regression_metrics(true, pred, threshold=3)
    assert out["f1_at_3"] == 1.0  # rounded predictions 0,1,3,4,5
    assert out["macro_f1_rounded"] == 1.0
    assert out["spearman"] == pytest.approx(1.0)
