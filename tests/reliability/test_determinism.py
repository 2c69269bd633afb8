"""Determinism: the same input and seed give byte-identical Parquet whatever the number of workers, and
on reruns. Covered: the quickstart, a global (map/reduce) step, and every registered step that samples
or deduplicates (a global step, or one with a `seed` parameter) that runs with its default parameters,
so dedup and mixing steps join this test as they are registered."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from thresher_testing import REPO, TESTS, python_path

pytestmark = pytest.mark.slow


def _sampling_or_dedup_steps() -> list[str]:
    from thresher.steps.registry import all_step_classes

    found = []
    for step_type, cls in sorted(all_step_classes().items()):
        if not (cls.is_global or "seed" in cls.Params.model_fields):
            continue
        try:
            cls.Params()
        except Exception:  # noqa: BLE001 - needs parameters (a model path, a budget): not runnable blind
            continue
        found.append(step_type)
    return found


def _digest(out: Path) -> dict[str, str]:
    return {
        f"{sub}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("data", "rejected")
        for p in sorted((out / sub).glob("*.parquet"))
    }


def _run(pipeline: str, out: Path, workers: int, *extra: str) -> None:
    env = dict(os.environ, PYTHONPATH=python_path(TESTS / "helpers"))
    cmd = [sys.executable, "-m", "thresher", "run", pipeline, "--output", str(out), "--workers", str(workers), "-q"]
    run = subprocess.run([*cmd, *extra], capture_output=True, text=True, cwd=REPO, env=env)
    assert run.returncode == 0, run.stderr[-3000:]


def _check(pipeline: str, tmp_path: Path) -> dict[str, str]:
    _run(pipeline, tmp_path / "one", 1)
    _run(pipeline, tmp_path / "two", 2)
    _run(pipeline, tmp_path / "two", 2, "--force")  # a rerun from scratch into the same directory
    _run(pipeline, tmp_path / "three", 3)
    first = _digest(tmp_path / "one")
    assert first, "the run wrote nothing"
    assert _digest(tmp_path / "two") == first
    assert _digest(tmp_path / "three") == first
    stats = [json.loads((tmp_path / d / "stats.json").read_text()) for d in ("one", "two", "three")]
    for s in stats:
        s.pop("fingerprint")
    assert stats[0] == stats[1] == stats[2]
    return first


def test_quickstart_is_byte_identical_across_workers_and_reruns(tmp_path: Path):
    digest = _check("pipelines/quickstart.yaml", tmp_path)
    assert any(name.startswith("rejected/") for name in digest)


STEP_PIPELINE = """
input: {{paths: [pipelines/sample/*.parquet, pipelines/sample/*.jsonl.gz]}}
steps:
  - type: text_length
    min_words: 5
{steps}
output: {{path: unused, rejected: true, keep_signals: true}}
"""


@pytest.mark.parametrize("step_type", ["toy_steps:DropBelowMedianLength", *_sampling_or_dedup_steps()])
def test_sampling_and_dedup_steps_are_deterministic(step_type: str, tmp_path: Path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(STEP_PIPELINE.format(steps=f"  - type: {json.dumps(step_type)}\n"))
    _check(str(pipeline), tmp_path)
