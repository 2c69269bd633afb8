"""Training a classifier from a labelled sample: split, fit, held-out metrics, versioned directory.

The saved model is fit on the training part of a seeded split, so its `metrics.json` is an honest
held-out estimate. With `split.folds: k`, k-fold cross-validated metrics are reported as well
(each fold's model is discarded). Texts are prepared once (preprocessed lines for fastText,
embeddings for the embedding head) and shared by the split and the folds.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml

from thresher.classify import embedding as emb
from thresher.classify import fasttext_model as ft
from thresher.classify import metrics as m
from thresher.classify.config import TrainConfig
from thresher.classify.data import Targets, encode_labels, fold_indices, read_labelled, row_keys, split_indices
from thresher.classify.models import FORMAT, FORMAT_VERSION, mark_latest, next_version_dir


@dataclass
class TrainResult:
    version_dir: Path
    metrics: dict
    model_json: dict


class _FastTextLearner:
    """fastText on preprocessed lines; regression targets become integer score classes."""

    def __init__(self, config: TrainConfig, texts: pa.Array, targets: Targets):
        self.spec = config.fasttext
        self.seed = config.split.seed
        self.targets = targets
        self.lines = ft.preprocess(texts, self.spec.preprocess, self.spec.max_chars).to_pylist()
        if targets.task == "regression":
            rounded = np.rint(targets.y).astype(int)
            self.model_classes = [str(v) for v in sorted(set(rounded.tolist()))]
            self.line_labels = [[str(v)] for v in rounded]
        elif targets.task == "multilabel":
            self.model_classes = targets.classes
            self.line_labels = [[c for c, on in zip(targets.classes, row, strict=True) if on] for row in targets.y]
        else:
            self.model_classes = targets.classes
            self.line_labels = [[targets.classes[i]] for i in targets.y]

    def fit(self, idx: np.ndarray):
        return ft.train_fasttext(
            [self.lines[i] for i in idx], [self.line_labels[i] for i in idx], self.spec, self.targets.task, self.seed
        )

    def predict(self, model, idx: np.ndarray) -> np.ndarray:
        lines = pa.array([self.lines[i] for i in idx], pa.large_string())
        probs = ft.predict_probabilities(model, lines, self.model_classes)
        if self.targets.task == "regression":
            values = np.asarray([float(c) for c in self.model_classes])
            return (probs @ values / np.maximum(probs.sum(axis=1), 1e-12)).reshape(-1, 1)
        return probs

    def save(self, model, version_dir: Path) -> dict:
        model.save_model(str(version_dir / "model.bin"))
        return {
            "kind": "fasttext",
            "classes": self.model_classes,
            "fasttext": {
                "file": "model.bin",
                "preprocess": self.spec.preprocess,
                "max_chars": self.spec.max_chars,
                "params": self.spec.model_dump(mode="json"),
            },
        }


class _EmbeddingLearner:
    def __init__(self, config: TrainConfig, texts: pa.Array, targets: Targets, encoder=None):
        self.spec = config.embedding
        self.seed = config.split.seed
        self.targets = targets
        self.encoder = encoder or emb.encoder_for(self.spec)
        self.x = self.encoder.encode([t or "" for t in texts.to_pylist()])

    def fit(self, idx: np.ndarray) -> dict:
        t = self.targets
        n_out = 1 if t.task == "regression" else len(t.classes)
        return emb.train_head(self.x[idx], t.y[idx], t.task, n_out, self.spec, self.seed)

    def predict(self, head: dict, idx: np.ndarray) -> np.ndarray:
        return emb.head_outputs(head, self.x[idx], self.targets.task)

    def save(self, head: dict, version_dir: Path) -> dict:
        emb.save_head(head, version_dir / "head.npz")
        return {
            "kind": "embedding",
            "classes": self.targets.classes,
            "embedding": {**self.encoder.identity(), "batch_size": self.spec.batch_size},
            "head": {"file": "head.npz", "type": self.spec.head, "params": self.spec.model_dump(mode="json")},
        }


def evaluate(targets: Targets, idx: np.ndarray, outputs: np.ndarray, threshold: float | None) -> dict:
    """Metrics of one held-out part, by task."""
    y = targets.y[idx]
    if targets.task == "binary":
        return m.binary_metrics(y, outputs[:, 1])
    if targets.task == "multiclass":
        predicted = outputs.argmax(axis=1)
        out = m.multiclass_metrics(targets.class_names_of(y), targets.class_names_of(predicted), targets.classes)
        aucs = [m.roc_auc(y == j, outputs[:, j]) for j in range(len(targets.classes))]
        aucs = [a for a in aucs if not np.isnan(a)]
        out["macro_roc_auc_ovr"] = float(np.mean(aucs)) if aucs else float("nan")
        return out
    if targets.task == "multilabel":
        return m.multilabel_metrics(y, outputs, targets.classes)
    return m.regression_metrics(y, outputs[:, 0], threshold)


def _mean_metrics(per_fold: list[dict]) -> dict:
    out = {}
    for key, value in per_fold[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values = [f[key] for f in per_fold]
            out[key] = float(np.mean(values))
            out[f"{key}_std"] = float(np.std(values))
    return out


def make_learner(config: TrainConfig, texts: pa.Array, targets: Targets, encoder=None):
    if config.kind == "fasttext":
        return _FastTextLearner(config, texts, targets)
    return _EmbeddingLearner(config, texts, targets, encoder)


def cross_validate(config: TrainConfig, learner, targets: Targets, keys: np.ndarray, folds: int) -> dict:
    per_fold = []
    everything = np.arange(len(targets.rows))
    for test in fold_indices(targets, keys, config.split, folds):
        train = np.setdiff1d(everything, test)
        model = learner.fit(train)
        per_fold.append(evaluate(targets, test, learner.predict(model, test), config.label.threshold))
    return {"folds": folds, **_mean_metrics(per_fold), "per_fold": per_fold}


def _data_digest(texts: list[str], targets: Targets) -> str:
    digest = hashlib.sha256()
    for t, y in zip(texts, targets.y.tolist(), strict=True):
        digest.update(hashlib.sha1(t.encode()).digest() + json.dumps(y).encode())
    return digest.hexdigest()[:16]


def train(config: TrainConfig, encoder=None, log=print) -> TrainResult:
    """Trains, evaluates and saves the next version of `config.name` under `config.output`."""
    started = time.time()
    table = read_labelled(config.data, config.label.column, config.split.seed)
    targets = encode_labels(table.column(config.label.column).to_pylist(), config.label)
    texts_all = table.column(config.data.text_column)
    texts = texts_all.take(pa.array(targets.rows)).combine_chunks()
    text_list = [t or "" for t in texts.to_pylist()]
    keys = row_keys(text_list)
    train_idx, test_idx = split_indices(targets, keys, config.split)
    log(f"{config.name}: {len(targets.rows)} labelled rows, {len(train_idx)} train, {len(test_idx)} test")
    learner = make_learner(config, texts, targets, encoder)
    prepared = time.time()
    model = learner.fit(train_idx)
    held_out = evaluate(targets, test_idx, learner.predict(model, test_idx), config.label.threshold)
    metrics: dict = {"held_out": held_out, "train_rows": int(len(train_idx)), "test_rows": int(len(test_idx))}
    if config.split.folds:
        metrics["cross_validated"] = cross_validate(config, learner, targets, keys, config.split.folds)
    metrics["seconds"] = {"prepare": round(prepared - started, 3), "total": round(time.time() - started, 3)}

    root = Path(config.output) / config.name
    version_dir = next_version_dir(root)
    saved = learner.save(model, version_dir)
    from thresher import __version__

    model_json = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": config.name,
        "version": version_dir.name,
        "task": targets.task,
        "label_column": config.label.column,
        "positive": config.label.positive_name if targets.task == "binary" else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "thresher_version": __version__,
        "python": platform.python_version(),
        **saved,
    }
    if targets.task == "regression":
        model_json["outputs"] = ["score"]
    (version_dir / "model.json").write_text(json.dumps(model_json, indent=2) + "\n")
    (version_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default) + "\n")
    (version_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    data_doc = {
        "paths": config.data.paths,
        "rows": int(table.num_rows),
        "labelled_rows": int(len(targets.rows)),
        "class_counts": _class_counts(targets),
        "digest": _data_digest(text_list, targets),
    }
    (version_dir / "data.json").write_text(json.dumps(data_doc, indent=2) + "\n")
    mark_latest(root, version_dir)
    return TrainResult(version_dir, metrics, model_json)


def _class_counts(targets: Targets) -> dict:
    if targets.task == "regression":
        return {}
    if targets.task == "multilabel":
        return {c: int(n) for c, n in zip(targets.classes, targets.y.sum(axis=0), strict=True)}
    counts = np.bincount(targets.y, minlength=len(targets.classes))
    return {c: int(n) for c, n in zip(targets.classes, counts, strict=True)}


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def summarize(metrics: dict) -> str:
    """One line per metric group for the command line."""
    lines = []
    for group in ("held_out", "cross_validated"):
        doc = metrics.get(group)
        if not doc:
            continue
        shown = ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in doc.items()
            if isinstance(v, int | float) and not k.endswith("_std") and k != "threshold"
        )
        lines.append(f"  {group}: {shown}")
    return "\n".join(lines)
