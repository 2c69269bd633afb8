"""Shared fixtures. Helpers importable by tests live in helpers/thresher_testing.py (on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from thresher_testing import make_docs, shared_data_dir  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if shared_data_dir().exists():
        return
    skip = pytest.mark.skip(reason=f"no shared data at {shared_data_dir()} (set THRESHER_SHARED_DATA)")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    """Three Parquet shards of 30, 45 and 0 rows, with several row groups each."""
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(make_docs(30, "a"), src / "a.parquet", row_group_size=7)
    pq.write_table(make_docs(45, "b"), src / "b.parquet", row_group_size=10)
    pq.write_table(make_docs(0, "c"), src / "c.parquet")
    return src
