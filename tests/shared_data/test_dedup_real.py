"""Dedup on real text: datatrove-compatible signatures, Reuters' natural duplicates."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.api import Pipeline
from thresher.steps.dedup import MinhashDedup, MinhashDedupParams
from thresher_testing import shared_data_dir

pytestmark = pytest.mark.shared_data


def test_compatible_signatures_equal_datatrove_on_web_text():
    pytest.importorskip("spacy")
    minhash = pytest.importorskip("datatrove.pipeline.dedup.minhash")
    path = shared_data_dir() / "cc_misc_samples" / "cc_misc_samples.parquet"
    texts = [t or "" for t in pq.read_table(path, columns=["text"]).column(0).to_pylist()]
    reference = minhash.MinhashDedupSignature(output_folder="memory://sigs", config=minhash.MinhashConfig())
    ours = MinhashDedup("m", MinhashDedupParams(datatrove_compatible=True)).signatures(pa.array(texts)).to_pylist()
    for text, signature in zip(texts, ours, strict=True):
        shingles = reference.get_shingles(text)
        expected = None if shingles.size == 0 else [v for band in reference.get_signature(shingles) for v in band]
        assert signature == expected


def test_reuters_exact_duplicates():
    path = shared_data_dir() / "news_reuters21578" / "reuters21578.parquet"
    table = pq.read_table(path, columns=["id", "text"])
    result = Pipeline.from_steps([{"type": "exact_dedup", "normalization": "none"}]).run_table(table)
    texts = [t for t in table.column("text").to_pylist() if t and t.strip()]
    expected_removed = len(texts) - len(set(texts))
    assert result.stats["steps"][0]["rows_dropped"] == {"duplicate": expected_removed}
    assert expected_removed > 200
