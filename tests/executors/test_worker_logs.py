"""Warnings logged by steps inside worker processes reach the run's stderr like those of one worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from thresher_testing import TESTS, make_docs, python_path, write_pipeline


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_step_warnings_from_every_worker_are_printed(tmp_path: Path, log_format: str):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        pq.write_table(make_docs(10, f"s{i}"), src / f"s{i}.parquet")
    pipeline = write_pipeline(
        tmp_path / "p.yaml", f"{src}/*.parquet", tmp_path / "out", "  - type: toy_steps:WarnOnOpen\n"
    )
    env = {**os.environ, "PYTHONPATH": python_path(TESTS / "helpers")}
    cmd = [sys.executable, "-m", "thresher", "run", str(pipeline), "--quiet", "--workers", "2"]
    cmd += ["--log-format", log_format]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for i in range(3):
        assert f"opened on shard s{i}" in run.stderr
    if log_format == "json":
        assert '"level": "warning"' in run.stderr
