"""Model directories and scorers.

A trained model lives in a versioned directory; each training run adds the next version:

    models/quality/
      LATEST            "v2"
      v1/ v2/
        model.json      kind, task, classes, preprocessing, encoder identity, format version
        model.bin       fastText model            (kind: fasttext)
        head.npz        head weights (numpy)      (kind: embedding)
        metrics.json    held-out metrics (and cross-validated ones when asked)
        config.yaml     the training config that made it
        data.json       which files, how many rows, a digest of the labelled rows

A scorer turns a text column into a (documents, outputs) matrix: class probabilities for
classification, the predicted value for regression. `load_scorer` accepts a model directory
(its latest version), a version directory, or any fastText `.bin`/`.ftz` file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from thresher.classify import embedding as emb
from thresher.classify import fasttext_model as ft
from thresher.config import ConfigError

FORMAT = "thresher-classifier"
FORMAT_VERSION = 1
_VERSION = re.compile(r"^v(\d+)$")


class ModelError(ConfigError):
    """A model path or label does not fit what the caller asked for."""


def versions(root: Path) -> list[int]:
    if not root.is_dir():
        return []
    return sorted(int(m.group(1)) for p in root.iterdir() if p.is_dir() and (m := _VERSION.match(p.name)))


def next_version_dir(root: Path) -> Path:
    """Claims the next free `vN` under `root` (mkdir is atomic, so two trainers never share one)."""
    root.mkdir(parents=True, exist_ok=True)
    n = (versions(root) or [0])[-1] + 1
    while True:
        path = root / f"v{n}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1


def mark_latest(root: Path, version_dir: Path) -> None:
    tmp = root / ".LATEST.tmp"
    tmp.write_text(version_dir.name + "\n")
    tmp.replace(root / "LATEST")


def resolve_model_dir(path: str | Path) -> Path:
    """A version directory from a model directory (its LATEST, else its highest vN) or itself."""
    path = Path(path)
    if (path / "model.json").is_file():
        return path
    latest = path / "LATEST"
    if latest.is_file():
        candidate = path / latest.read_text().strip()
        if (candidate / "model.json").is_file():
            return candidate
    found = versions(path)
    if found:
        return path / f"v{found[-1]}"
    raise ModelError(f"{path}: not a model (no model.json, no LATEST, no vN folder)")


class Scorer:
    """Scores documents. `outputs` names the columns of `predict`'s result."""

    kind: str
    task: str
    outputs: list[str]
    default_output: str

    def predict(self, text: pa.Array) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"kind": self.kind, "task": self.task, "outputs": self.outputs, "default_output": self.default_output}

    def output_index(self, name: str) -> int:
        key = name[len(ft.LABEL_PREFIX) :] if name.startswith(ft.LABEL_PREFIX) else name
        if key not in self.outputs:
            raise ModelError(f"the model has no output {name!r}; its outputs are {self.outputs}")
        return self.outputs.index(key)


def _default_output(task: str, classes: list[str], positive: str | None) -> str:
    if task == "regression":
        return "score"
    if task == "binary":
        return positive or classes[-1]
    return classes[0]


class FastTextScorer(Scorer):
    kind = "fasttext"

    def __init__(
        self,
        model: ft.FastTextPredictor,
        task: str,
        classes: list[str],
        preprocess: str,
        max_chars: int | None,
        positive=None,
    ):
        self.model = model
        tokens = {label: j for j, label in enumerate(model.labels)}
        missing = [c for c in classes if ft.label_token(c) not in tokens]
        if missing:
            raise ModelError(f"{model.path}: the model has no label for {missing}; its labels are {model.labels}")
        self._label_columns = [tokens[ft.label_token(c)] for c in classes]
        self.task = task
        self.classes = classes
        self.preprocess = preprocess
        self.max_chars = max_chars
        if task == "regression":
            self.outputs = ["score"]
            self._values = np.asarray([float(c) for c in classes], dtype=np.float32)
        else:
            self.outputs = list(classes)
        self.default_output = _default_output(task, classes, positive)

    @classmethod
    def from_file(cls, path: str | Path, preprocess: str = "dclm", max_chars: int | None = None) -> FastTextScorer:
        """Any fastText classifier: its labels become the outputs (prefix removed)."""
        model = ft.FastTextPredictor(path)
        labels = [label[len(ft.LABEL_PREFIX) :] for label in model.labels]
        task = "binary" if len(labels) == 2 else "multiclass"
        return cls(model, task, labels, preprocess, max_chars, positive=labels[0])

    def predict(self, text: pa.Array) -> np.ndarray:
        probs = self.model.predict(text, self.preprocess, self.max_chars)[:, self._label_columns]
        if self.task == "regression":
            # Expected value over the score classes, renormalised (fastText may leave a little mass out).
            total = probs.sum(axis=1, keepdims=True)
            return (probs @ self._values / np.maximum(total[:, 0], 1e-12)).reshape(-1, 1)
        return probs

    def describe(self) -> dict:
        return {
            **super().describe(),
            "preprocess": self.preprocess,
            "max_chars": self.max_chars,
            "engine": self.model.engine,
        }


class EmbeddingScorer(Scorer):
    kind = "embedding"

    def __init__(self, encoder: emb.SentenceEncoder, head: dict, task: str, classes: list[str], positive=None):
        self.encoder = encoder
        self.head = head
        self.task = task
        self.classes = classes
        self.outputs = ["score"] if task == "regression" else list(classes)
        self.default_output = _default_output(task, classes, positive)

    def predict(self, text: pa.Array) -> np.ndarray:
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        texts = [t or "" for t in text.to_pylist()]
        return head_predict(self.head, self.encoder.encode(texts), self.task)

    def describe(self) -> dict:
        return {**super().describe(), "encoder": self.encoder.identity()}


def head_predict(head: dict, x: np.ndarray, task: str) -> np.ndarray:
    return emb.head_outputs(head, x, task).astype(np.float32)


def read_model_json(version_dir: Path) -> dict:
    meta = json.loads((version_dir / "model.json").read_text())
    if meta.get("format") != FORMAT:
        raise ModelError(f"{version_dir}: model.json is not a {FORMAT} model")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{version_dir}: made by a newer Thresher (format {meta['format_version']})")
    return meta


def load_scorer(
    path: str | Path, preprocess: str = "dclm", max_chars: int | None = None, threads: int | None = None
) -> Scorer:
    """A scorer for a trained model directory or any fastText model file."""
    path = Path(path)
    if path.is_file():
        return FastTextScorer.from_file(path, preprocess, max_chars)
    if not path.exists():
        raise ModelError(f"{path}: no such model")
    version_dir = resolve_model_dir(path)
    meta = read_model_json(version_dir)
    task, classes, positive = meta["task"], meta["classes"], meta.get("positive")
    if meta["kind"] == "fasttext":
        model = ft.FastTextPredictor(version_dir / meta["fasttext"]["file"])
        return FastTextScorer(
            model, task, classes, meta["fasttext"]["preprocess"], meta["fasttext"].get("max_chars"), positive
        )
    if meta["kind"] == "embedding":
        enc = meta["embedding"]
        encoder = emb.SentenceEncoder(enc["model"], enc["max_seq_length"], enc.get("batch_size", 32), threads)
        found = emb.model_fingerprint(encoder.path)
        if found != enc["fingerprint"]:
            raise ModelError(
                f"{version_dir}: trained on encoder {enc['model']!r} with fingerprint {enc['fingerprint']}, "
                f"but {encoder.path} has {found}; the head only fits the encoder it was trained on"
            )
        head = emb.load_head(version_dir / meta["head"]["file"])
        return EmbeddingScorer(encoder, head, task, classes, positive)
    raise ModelError(f"{version_dir}: unknown model kind {meta['kind']!r}")
