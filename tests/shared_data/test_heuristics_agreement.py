"""Smoke test of decision agreement with datatrove on real web text (the benchmark does all of it)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.api import Pipeline

pytestmark = pytest.mark.shared_data

ROOT = Path(__file__).resolve().parents[2]


def shared_data() -> Path:
    return Path(os.environ.get("THRESHER_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def corpus() -> pa.Table:
    path = shared_data() / "dclm_human_quality" / "dclm_human_quality.parquet"
    if not path.exists():
        pytest.skip(f"no shared data at {path}")
    table = pq.read_table(path, columns=["id", "text"])
    return table.take(list(range(0, table.num_rows, 8)))  # ~100 documents


@pytest.mark.parametrize(
    ("step_type", "filter_name"),
    [
        ("gopher_quality", "GopherQualityFilter"),
        ("gopher_repetition", "GopherRepetitionFilter"),
        ("c4_quality", "C4QualityFilter"),
        ("fineweb_quality", "FineWebQualityFilter"),
    ],
)
def test_decisions_match_datatrove(corpus: pa.Table, step_type: str, filter_name: str) -> None:
    filters = pytest.importorskip("datatrove.pipeline.filters")
    from datatrove.data import Document

    reference = getattr(filters, filter_name)()
    result = Pipeline.from_steps([{"type": step_type}]).run_table(corpus)
    dropped = set(result.rejected["id"].to_pylist()) if result.rejected.num_rows else set()
    agree = 0
    for doc_id, text in zip(corpus["id"].to_pylist(), corpus["text"].to_pylist(), strict=True):
        outcome = reference.filter(Document(text=text, id=doc_id))
        keep = outcome is True or (isinstance(outcome, tuple) and outcome[0])
        agree += keep == (doc_id not in dropped)
    assert agree / corpus.num_rows >= 0.98
