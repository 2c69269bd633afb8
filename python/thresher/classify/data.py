"""Labelled samples: reading them, turning a label column into targets, and seeded splits."""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from thresher.classify.config import DataSpec, LabelSpec, SplitSpec
from thresher.config import ConfigError


def read_table(path: str) -> pa.Table:
    """A Parquet or JSON Lines file (optionally .gz/.zst compressed) as one table."""
    lower = path.lower()
    if lower.endswith((".parquet", ".pq")):
        return pq.read_table(path)
    with pa.input_stream(path, compression="detect") as stream:
        return pajson.read_json(stream)


def expand_paths(patterns: list[str]) -> list[str]:
    paths: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise ConfigError(f"data.paths: {pattern}: no file matches")
            paths.extend(matches)
        else:
            paths.append(pattern)
    return paths


def read_labelled(spec: DataSpec, label_column: str, seed: int = 0) -> pa.Table:
    """The rows of every file with their text and label columns (other columns are kept when all
    files share them)."""
    tables = []
    for path in expand_paths(spec.paths):
        try:
            table = read_table(path)
        except FileNotFoundError:
            raise ConfigError(f"data.paths: {path}: no such file") from None
        for column in (spec.text_column, label_column):
            if column not in table.column_names:
                raise ConfigError(f"{path}: no column {column!r} (columns: {table.column_names})")
        tables.append(table)
    common = [c for c in tables[0].column_names if all(c in t.column_names for t in tables)]
    table = pa.concat_tables([t.select(common) for t in tables], promote_options="permissive")
    if spec.max_rows is not None and table.num_rows > spec.max_rows:
        rng = np.random.default_rng(seed)
        table = table.take(np.sort(rng.choice(table.num_rows, spec.max_rows, replace=False)))
    return table


@dataclass
class Targets:
    """Training targets of a task, aligned with the rows that have a usable label."""

    task: str
    classes: list[str]  # classification: class names in output order; regression: ["score"]
    rows: np.ndarray  # indices of usable rows in the table
    y: np.ndarray  # binary/multiclass: class index; multilabel: (n, classes) 0/1; regression: float

    def class_names_of(self, indices: np.ndarray) -> list[str]:
        return [self.classes[i] for i in indices]


def _name(value, rename: dict[str, str]) -> str:
    text = str(value).strip()
    return rename.get(text, text)


def encode_labels(values: list, spec: LabelSpec) -> Targets:
    """Targets for `spec.task` from a label column's values; rows with a null label are left out."""
    rows = [i for i, v in enumerate(values) if v is not None]
    if not rows:
        raise ConfigError(f"label column {spec.column!r} has no non-null value")
    present = [values[i] for i in rows]
    if spec.task == "regression":
        try:
            y = np.asarray([float(v) for v in present], dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"label.task regression needs numeric labels in {spec.column!r}: {err}") from None
        return Targets("regression", ["score"], np.asarray(rows), y)
    if spec.task == "binary":
        if spec.threshold is not None:
            try:
                y = np.asarray([float(v) >= spec.threshold for v in present], dtype=np.int64)
            except (TypeError, ValueError) as err:
                raise ConfigError(f"label.threshold needs numeric labels in {spec.column!r}: {err}") from None
        else:
            positives = {str(p).strip().lower() for p in spec.positive or []}
            y = np.asarray([_name(v, spec.rename).lower() in positives for v in present], dtype=np.int64)
        if y.min() == y.max():
            raise ConfigError(f"label column {spec.column!r}: every row is in one class; binary training needs both")
        # Class 1 is the positive one; its probability is the model's score.
        return Targets("binary", [f"not_{spec.positive_name}", spec.positive_name], np.asarray(rows), y)
    if spec.task == "multilabel":
        lists = []
        for v in present:
            if isinstance(v, str):
                items = v.split(spec.separator) if spec.separator else [v]
            else:
                items = list(v)
            lists.append({_name(item, spec.rename) for item in items if str(item).strip()})
        classes = spec.classes or sorted(set().union(*lists))
        y = np.asarray([[1 if c in labels else 0 for c in classes] for labels in lists], dtype=np.int64)
        return Targets("multilabel", list(classes), np.asarray(rows), y)
    names = [_name(v, spec.rename) for v in present]
    classes = spec.classes or sorted(set(names))
    if len(classes) < 2:
        raise ConfigError(f"label column {spec.column!r}: multiclass training needs at least two classes")
    index = {c: i for i, c in enumerate(classes)}
    keep = [j for j, n in enumerate(names) if n in index]
    y = np.asarray([index[names[j]] for j in keep], dtype=np.int64)
    return Targets("multiclass", list(classes), np.asarray(rows)[keep], y)


def row_keys(texts: list[str]) -> np.ndarray:
    """A stable 64-bit key per row from its text, so splits do not depend on file order."""
    return np.asarray(
        [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") for t in texts],
        dtype=np.uint64,
    )


def split_indices(targets: Targets, keys: np.ndarray, spec: SplitSpec) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test positions into `targets.rows`; stratified by class when asked."""
    rng = np.random.default_rng(spec.seed)
    n = len(targets.rows)
    # Order by a seeded permutation of the text keys: the same rows land in test for the same seed.
    tiebreak = rng.permutation(n)
    order = np.lexsort((tiebreak, keys ^ np.uint64(rng.integers(0, 2**63))))
    if spec.stratify and targets.task in ("binary", "multiclass"):
        test: list[int] = []
        for c in np.unique(targets.y):
            members = order[targets.y[order] == c]
            test.extend(members[: int(round(len(members) * spec.test_fraction))].tolist())
        test_idx = np.sort(np.asarray(test, dtype=np.int64))
    else:
        test_idx = np.sort(order[: int(round(n * spec.test_fraction))])
    mask = np.ones(n, dtype=bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


def fold_indices(targets: Targets, keys: np.ndarray, spec: SplitSpec, folds: int) -> list[np.ndarray]:
    """k disjoint test folds covering every row (stratified like `split_indices`)."""
    rng = np.random.default_rng(spec.seed)
    n = len(targets.rows)
    order = np.lexsort((rng.permutation(n), keys ^ np.uint64(rng.integers(0, 2**63))))
    assignment = np.empty(n, dtype=np.int64)
    if spec.stratify and targets.task in ("binary", "multiclass"):
        for c in np.unique(targets.y):
            members = order[targets.y[order] == c]
            assignment[members] = np.arange(len(members)) % folds
    else:
        assignment[order] = np.arange(n) % folds
    return [np.flatnonzero(assignment == k) for k in range(folds)]
