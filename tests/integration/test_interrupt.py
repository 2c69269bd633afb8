"""Ctrl-C: the run stops, leaves no partial file, exits 130, and a rerun finishes the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from thresher_testing import TESTS, make_docs, write_pipeline

STEPS = """
  - type: toy_steps:SlowPassThrough
    seconds_per_batch: 0.1
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_sigint_stops_cleanly_and_rerun_completes(tmp_path: Path, workers: int):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        pq.write_table(make_docs(40, f"s{i}"), src / f"s{i}.parquet", row_group_size=4)
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{src}/*.parquet", out, STEPS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS / "helpers"), *sys.path])}
    cmd = [sys.executable, "-m", "thresher", "run", str(pipeline), "--quiet", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    markers = out / "_thresher" / "markers" / "segment0"
    deadline = time.time() + 60
    while time.time() < deadline and not (markers.exists() and any(markers.iterdir())):
        time.sleep(0.05)
    time.sleep(0.15)  # inside the next shard
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    visible = list((out / "data").glob("*")) if (out / "data").exists() else []
    assert all(p.suffix == ".parquet" for p in visible)
    for path in visible:  # every visible file is a whole shard
        assert pq.read_table(path).num_rows == 40
    assert len(visible) < 6

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "already done, skipped" in done.stdout
    assert sorted(p.name for p in (out / "data").iterdir()) == [f"s{i}.parquet" for i in range(6)]
    assert sum(pq.read_table(p).num_rows for p in (out / "data").iterdir()) == 240
