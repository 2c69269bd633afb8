"""Memory limits: a document beyond input.max_document_bytes is quarantined as input:document_too_large
(never handed to a step), and a worker's peak memory does not grow with the shard.

Peak memory is the process's own high-water mark (VmHWM in /proc/self/status, read by the process just
before it exits; ru_maxrss would include what the forking test process held)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher_testing import REPO, python_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)"),
]
MiB = 1024 * 1024

MEASURE = """
import re, sys
from thresher.cli import main
code = main(sys.argv[1:])
print("VMHWM_KB=" + re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
sys.exit(code)
"""


def peak_mib(tmp: Path, paths: list[str], name: str, extra_output: str = "") -> tuple[float, Path]:
    out = tmp / f"out-{name}"
    pipeline = tmp / f"{name}.yaml"
    pipeline.write_text(
        f"input: {{paths: {json.dumps(paths)}}}\n"
        "steps: [{type: text_length, min_words: 2}, {type: char_classes}]\n"
        f"output: {{path: {json.dumps(str(out))}, rejected: true{extra_output}}}\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, "run", str(pipeline), "--quiet", "--workers", "1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": python_path(), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return int(re.search(r"VMHWM_KB=(\d+)", run.stdout).group(1)) / 1024, out


def small_docs(n: int, start: int = 0) -> list[str]:
    return [f"document {i} has a handful of ordinary words in it" for i in range(start, start + n)]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_100_mb_document_is_quarantined_with_bounded_memory(tmp_path: Path, fmt: str):
    big_bytes = 100 * MiB
    texts = small_docs(1000) + ["word " * (big_bytes // 5)] + small_docs(1000, 1000)
    ids = [f"d{i}" for i in range(len(texts))]
    if fmt == "parquet":
        pq.write_table(pa.table({"id": ids, "text": texts}), tmp_path / "big.parquet", row_group_size=500)
        pq.write_table(
            pa.table({"id": ids[:1000] + ids[1001:], "text": texts[:1000] + texts[1001:]}),
            tmp_path / "small.parquet",
            row_group_size=500,
        )
    else:
        with open(tmp_path / "big.jsonl", "w") as f:
            f.writelines(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, texts, strict=True))
        with open(tmp_path / "small.jsonl", "w") as f:
            f.writelines(
                json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, texts, strict=True) if i != "d1000"
            )
    del texts
    base, _ = peak_mib(tmp_path, [str(tmp_path / f"small.{fmt}")], "small")
    peak, out = peak_mib(tmp_path, [str(tmp_path / f"big.{fmt}")], "big")
    rejected = pq.read_table(out / "rejected" / "big.parquet", columns=["id", "drop_reason"])
    assert rejected.to_pylist() == [{"id": "d1000", "drop_reason": "input:document_too_large"}]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["steps"][0]["rows_in"] == 2000  # the steps never saw it
    extra = peak - base
    print(f"\n{fmt}: peak {peak:.0f} MiB with a 100 MiB document, {base:.0f} MiB without (+{extra:.0f} MiB)")
    # read once, quarantined, written to rejected/: a few copies at most, not one per structure
    assert extra < 8 * big_bytes / MiB


def test_peak_memory_does_not_grow_with_the_shard(tmp_path: Path):
    text = " ".join(["ordinary words of a web page"] * 30)  # ~900 bytes
    for name, rows in (("shard10", 10_000), ("shard100", 100_000)):
        table = pa.table({"id": [f"{name}-{i}" for i in range(rows)], "text": [f"{i} {text}" for i in range(rows)]})
        pq.write_table(table, tmp_path / f"{name}.parquet", row_group_size=5_000)
    # small output row groups, so the writer's buffer (96 MiB by default) does not hide the reader's behaviour
    small, _ = peak_mib(tmp_path, [str(tmp_path / "shard10.parquet")], "s10", ", row_group_bytes: 4194304")
    large, _ = peak_mib(tmp_path, [str(tmp_path / "shard100.parquet")], "s100", ", row_group_bytes: 4194304")
    print(f"\npeak {small:.0f} MiB for a 9 MB shard, {large:.0f} MiB for a 90 MB shard")
    assert large - small < 48
