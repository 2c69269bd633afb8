"""Real corpora from ../shared/data through the whole pipeline: accounting holds on messy web text."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from thresher.cli import main
from thresher_testing import shared_data_dir

pytestmark = pytest.mark.shared_data


def test_web_text_pipeline_accounts_for_every_row(tmp_path):
    source = shared_data_dir() / "web_html_boilerplate" / "web_html_boilerplate.parquet"
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f"""
input: {{paths: ["{source}"], text_column: raw_text, columns: [url, source]}}
steps:
  - {{type: text_length, min_words: 50}}
  - {{type: char_classes, min_alphabetic_fraction: 0.6}}
output: {{path: "{tmp_path / "out"}", rejected: true}}
"""
    )
    assert main(["run", str(pipeline), "--quiet"]) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["input_rows"] == pq.ParquetFile(source).metadata.num_rows == 2250
    kept = pq.read_table(tmp_path / "out" / "data")
    rejected = pq.read_table(tmp_path / "out" / "rejected")
    assert kept.num_rows + rejected.num_rows == 2250
    assert kept.num_rows == stats["output_rows"] > 1000
    assert set(kept.schema.names) == {"raw_text", "url", "source", "id"}
