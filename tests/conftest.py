"""Shared fixtures: small shards written into a temporary directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
sys.path.insert(0, str(TESTS / "helpers"))


def shared_data_dir() -> Path:
    return Path(os.environ.get("THRESHER_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config, items):
    if shared_data_dir().exists():
        return
    skip = pytest.mark.skip(reason=f"no shared data at {shared_data_dir()} (set THRESHER_SHARED_DATA)")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


LOREM = (
    "The committee met on Tuesday to review the annual budget and agreed that the library should open "
    "longer hours during the exam period, because students had asked for more quiet places to study."
)


def make_docs(n: int, prefix: str = "doc") -> pa.Table:
    """n documents of varied length: every third one is too short for a 20-word minimum."""
    texts, ids = [], []
    for i in range(n):
        if i % 3 == 0:
            texts.append(f"short text number {i}")
        else:
            texts.append(f"{LOREM} Item {i}.\n{LOREM}")
        ids.append(f"{prefix}-{i}")
    return pa.table({"id": ids, "text": texts, "n": list(range(n))})


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    """Three Parquet shards of 30, 45 and 0 rows, with several row groups each."""
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(make_docs(30, "a"), src / "a.parquet", row_group_size=7)
    pq.write_table(make_docs(45, "b"), src / "b.parquet", row_group_size=10)
    pq.write_table(make_docs(0, "c"), src / "c.parquet")
    return src


def write_pipeline(path: Path, input_glob: str, out: Path, steps: str, extra: str = "") -> Path:
    path.write_text(
        f"""
input:
  paths: ["{input_glob}"]
  batch_rows: 8
steps:
{steps}
output:
  path: "{out}"
  rejected: true
{extra}
"""
    )
    return path
