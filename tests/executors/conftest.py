from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import multistage  # noqa: E402

from thresher.config import parse_pipeline  # noqa: E402
from thresher.stages import Plan  # noqa: E402


@pytest.fixture
def corpus(tmp_path) -> Path:
    multistage.write_inputs(tmp_path / "input")
    return tmp_path


@pytest.fixture
def make_plan(corpus):
    def make(out_name: str = "out", executor: dict | None = None) -> Plan:
        doc = multistage.pipeline_document(str(corpus / "input" / "*.parquet"), str(corpus / out_name), executor)
        return Plan.create(parse_pipeline(doc))

    return make
