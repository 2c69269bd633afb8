"""Held-out metrics for classifiers, in numpy only (no scikit-learn in the install).

* `roc_auc`: probability that a random positive scores above a random negative (ties count half),
  computed from average ranks (the Mann-Whitney U statistic).
* `f1_scores` / `macro_f1`: per-class F1 and their unweighted mean.
* `spearman`: Pearson correlation of average ranks.
"""

from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    # Boundaries of runs of equal values in sorted order.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return ranks


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of `scores` for binary `labels` (1 = positive). NaN when one class is missing."""
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(scores)
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def f1_scores(true: np.ndarray, predicted: np.ndarray, classes: list | None = None) -> dict:
    """F1 per class (one-vs-rest); a class never predicted nor present gets no entry."""
    true = np.asarray(true)
    predicted = np.asarray(predicted)
    if classes is None:
        classes = sorted(set(true.tolist()) | set(predicted.tolist()))
    out = {}
    for c in classes:
        tp = int(np.sum((true == c) & (predicted == c)))
        fp = int(np.sum((true != c) & (predicted == c)))
        fn = int(np.sum((true == c) & (predicted != c)))
        if tp + fp + fn == 0:
            continue
        out[c] = 2.0 * tp / (2.0 * tp + fp + fn)
    return out


def macro_f1(true: np.ndarray, predicted: np.ndarray, classes: list | None = None) -> float:
    scores = f1_scores(true, predicted, classes)
    return float(np.mean(list(scores.values()))) if scores else float("nan")


def accuracy(true: np.ndarray, predicted: np.ndarray) -> float:
    true = np.asarray(true)
    return float(np.mean(true == np.asarray(predicted))) if len(true) else float("nan")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    labels = np.asarray(labels).astype(bool)
    predicted = np.asarray(scores) >= threshold
    f1 = f1_scores(labels, predicted, [True])
    return {
        "rows": int(len(labels)),
        "positives": int(labels.sum()),
        "roc_auc": roc_auc(labels, scores),
        "f1": f1.get(True, 0.0),
        "accuracy": accuracy(labels, predicted),
        "threshold": threshold,
    }


def multiclass_metrics(true: list[str], predicted: list[str], classes: list[str]) -> dict:
    per_class = f1_scores(np.asarray(true, dtype=object), np.asarray(predicted, dtype=object), classes)
    return {
        "rows": len(true),
        "macro_f1": float(np.mean(list(per_class.values()))) if per_class else float("nan"),
        "accuracy": accuracy(np.asarray(true, dtype=object), np.asarray(predicted, dtype=object)),
        "f1_per_class": {str(k): v for k, v in per_class.items()},
    }


def multilabel_metrics(true: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """`true` and `probabilities` are (rows, classes); F1 at 0.5 and AUC per label."""
    per_class_f1, per_class_auc = {}, {}
    for j, c in enumerate(classes):
        per_class_f1[c] = f1_scores(true[:, j].astype(bool), probabilities[:, j] >= 0.5, [True]).get(True, 0.0)
        per_class_auc[c] = roc_auc(true[:, j], probabilities[:, j])
    aucs = [v for v in per_class_auc.values() if not np.isnan(v)]
    return {
        "rows": int(true.shape[0]),
        "macro_f1": float(np.mean(list(per_class_f1.values()))),
        "macro_roc_auc": float(np.mean(aucs)) if aucs else float("nan"),
        "f1_per_class": per_class_f1,
        "roc_auc_per_class": per_class_auc,
    }


def regression_metrics(true: np.ndarray, predicted: np.ndarray, threshold: float | None = None) -> dict:
    """Spearman and MSE; with a threshold (FineWeb-Edu: 3), F1 of `round(prediction) >= threshold`
    and macro-F1 of the rounded, clipped integer scores."""
    true = np.asarray(true, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    out = {
        "rows": int(len(true)),
        "spearman": spearman(true, predicted),
        "mse": float(np.mean((true - predicted) ** 2)) if len(true) else float("nan"),
    }
    lo, hi = float(np.floor(true.min())) if len(true) else 0.0, float(np.ceil(true.max())) if len(true) else 0.0
    rounded_true = np.clip(np.rint(true), lo, hi).astype(int)
    rounded_pred = np.clip(np.rint(predicted), lo, hi).astype(int)
    out["macro_f1_rounded"] = macro_f1(rounded_true, rounded_pred)
    if threshold is not None:
        f1 = f1_scores(true >= threshold, rounded_pred >= threshold, [True])
        out[f"f1_at_{threshold:g}"] = f1.get(True, 0.0)
        out["roc_auc_at_threshold"] = roc_auc(true >= threshold, predicted)
    return out
