"""fastText classifiers: training (word bigrams, as DCLM's quality model) and batched scoring.

Text goes to fastText as one line per document. The `dclm` preprocessing is DCLM's
(`" ".join(text.strip().splitlines())`); `normalized` also lowercases and puts spaces around
punctuation and symbols so that "3." and "3" are one token. Both run as Arrow compute kernels over
the whole column; the only per-document Python objects are the strings handed to fastText.

Any fastText model works for scoring, with its own label names (`__label__hq` for DCLM's model).
Scoring runs in Rust (`thresher._core.FastTextModel`: the text column is read zero-copy and the
batch is split over cores with the GIL released) for the usual `.bin` models, and falls back to the
fasttext package for the kinds the Rust reader does not handle (quantized `.ftz`, hierarchical
softmax, character n-grams).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.classify.config import FastTextSpec

LABEL_PREFIX = "__label__"
# Every line break Python's str.splitlines() knows, so the result matches DCLM's join.
_LINE_BREAKS = r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x{85}\x{2028}\x{2029}]"


def _fasttext():
    try:
        import fasttext
    except ImportError as err:
        raise ImportError("fastText classifiers need the fasttext package: pip install 'thresher[classifier]'") from err
    return fasttext


def preprocess(text: pa.Array, mode: str = "dclm", max_chars: int | None = None) -> pa.Array:
    """One line of text per document, as fastText reads it. Nulls become empty strings."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    text = pc.fill_null(text, "")
    if max_chars is not None:
        text = pc.utf8_slice_codeunits(text, 0, max_chars)
    text = pc.utf8_trim_whitespace(text)
    text = pc.replace_substring_regex(text, _LINE_BREAKS, " ")
    if mode == "normalized":
        text = pc.utf8_lower(text)
        text = pc.replace_substring_regex(text, r"(\pP|\pS)", r" \1 ")
    elif mode != "dclm":
        raise ValueError(f"unknown fastText preprocessing {mode!r}")
    return text


def label_token(name: str) -> str:
    """A class name as a fastText label (fastText splits on whitespace)."""
    return LABEL_PREFIX + "_".join(str(name).split())


_TRAIN_SCRIPT = """
import json, sys
import fasttext
args = json.loads(sys.argv[1])
out = args.pop("output")
fasttext.train_supervised(**args).save_model(out)
"""


def train_fasttext(lines: list[str], labels: list[list[str]], spec: FastTextSpec, task: str, seed: int):
    """Trains on preprocessed lines; `labels` holds the class names of each line.

    fastText trains in a fresh interpreter: its single-thread training reads memory whose state
    depends on what the process did before (after other native code ran, it can stop with
    "Encountered NaN"), so a clean process keeps training deterministic for a seed.
    """
    fasttext = _fasttext()
    if not hasattr(fasttext, "train_supervised"):
        raise ImportError(
            "the installed fasttext module can only predict (fasttext-predict); training needs "
            "fasttext-numpy2-wheel (the classifier extra) installed after it"
        )
    loss = spec.loss or ("ova" if task == "multilabel" else "softmax")
    with tempfile.TemporaryDirectory(prefix="thresher-fasttext-") as tmp:
        data, model_path = Path(tmp) / "train.txt", Path(tmp) / "model.bin"
        with open(data, "w", encoding="utf-8") as out:
            for names, line in zip(labels, lines, strict=True):
                out.write(" ".join(label_token(n) for n in names) + " " + line + "\n")
        args = {
            "input": str(data),
            "output": str(model_path),
            "lr": spec.lr,
            "dim": spec.dim,
            "epoch": spec.epoch,
            "minCount": spec.min_count,
            "wordNgrams": spec.word_ngrams,
            "bucket": spec.bucket,
            "loss": loss,
            "thread": spec.threads,
            "seed": seed,
            "verbose": 0,
        }
        done = subprocess.run(
            [sys.executable, "-c", _TRAIN_SCRIPT, json.dumps(args)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            hint = " (training diverged: lower fasttext.lr or raise fasttext.bucket)" if "NaN" in detail else ""
            raise RuntimeError(f"fastText training failed: {detail}{hint}")
        return load_fasttext(model_path)


class FastTextPredictor:
    """A fastText model file for scoring: label names and a (documents, labels) probability matrix."""

    def __init__(self, path: str | Path, engine: str = "auto") -> None:
        from thresher import _core

        self.path = str(path)
        self.engine = "rust"
        self._rust = None
        self._python = None
        if engine in ("auto", "rust"):
            try:
                self._rust = _core.FastTextModel(self.path)
            except _core.ThresherCoreError:
                if engine == "rust":
                    raise
        if self._rust is None:
            self.engine = "fasttext"
            self._python = load_fasttext(path)
        self.labels: list[str] = list(self._rust.labels if self._rust is not None else self._python.get_labels())

    def predict(self, text: pa.Array, mode: str = "dclm", max_chars: int | None = None) -> np.ndarray:
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        if self._rust is None:
            return predict_probabilities(self._python, preprocess(text, mode, max_chars), self.labels)
        # The Rust reader trims ends and splits on every line break itself (DCLM's preparation).
        if max_chars is not None:
            text = pc.utf8_slice_codeunits(text, 0, max_chars)
        if mode == "normalized":
            text = preprocess(text, mode)
        elif mode != "dclm":
            raise ValueError(f"unknown fastText preprocessing {mode!r}")
        flat = self._rust.predict(text).to_numpy(zero_copy_only=False)
        return flat.reshape(len(text), len(self.labels))


def load_fasttext(path: str | Path):
    fasttext = _fasttext()
    # fastText prints a warning to stderr for every load of an old-format model; nothing to act on.
    if hasattr(fasttext, "FastText"):
        fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext.load_model(str(path))


def predict_probabilities(model, lines: pa.Array, classes: list[str]) -> np.ndarray:
    """(documents, classes) probabilities; `classes` are names with or without the label prefix."""
    tokens = [c if c.startswith(LABEL_PREFIX) else label_token(c) for c in classes]
    column = {t: j for j, t in enumerate(tokens)}
    texts = [t + "\n" for t in lines.to_pylist()]
    # The low-level call skips the wrapper's per-document checks (the text is already one line)
    # and its numpy conversion, which differs between fasttext builds.
    all_labels, all_probs = model.f.multilinePredict(texts, -1, 0.0, "replace")
    out = np.zeros((len(texts), len(classes)), dtype=np.float32)
    for i, (names, probs) in enumerate(zip(all_labels, all_probs, strict=True)):
        for name, p in zip(names, probs, strict=True):
            j = column.get(name)
            if j is not None:
                out[i, j] = p
    return out
