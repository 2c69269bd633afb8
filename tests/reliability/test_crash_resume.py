"""Crash and resume: `filter run` is killed with SIGKILL at 20 seeded random moments (while starting,
inside a shard, while a shard is being written, between stages of a global step) and run again. Every
time the final output is byte-identical to an uninterrupted run's and stats.json is equal; a watcher
reading the output while the runs go checks that no partial file is ever visible in data/ or rejected/.

THRESHER_CRASH_KILLS changes the number of kills (default 20).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher_testing import REPO, TESTS, make_docs, python_path

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("THRESHER_CRASH_KILLS", "20"))
VISIBLE_DIRS = ("data", "rejected")
SHARDS = 6


def _pipeline(tmp: Path, src: Path, out: Path, workers: int) -> Path:
    path = tmp / f"pipeline-{workers}.yaml"
    path.write_text(
        f"""
input:
  paths: ["{src}/*.parquet"]
  batch_rows: 128
steps:
  - type: text_length
    min_words: 20
  - type: char_classes
    max_digit_fraction: 0.3
  - type: "toy_steps:DropBelowMedianLength"
    name: median
  - type: text_length
    name: length_again
    max_chars: 100000
output:
  path: "{out}"
  rejected: true
  keep_signals: true
  row_group_bytes: 65536
executor: {{type: local, workers: {workers}}}
"""
    )
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("crash") / "in"
    src.mkdir()
    for shard in range(SHARDS):
        docs = make_docs(900 + 150 * shard, prefix=f"s{shard}")
        digits = pa.array(
            [f"{d} 0123456789 98765 4321" if i % 11 == 0 else d for i, d in enumerate(docs["text"].to_pylist())]
        )
        docs = docs.set_column(docs.schema.get_field_index("text"), "text", digits)
        pq.write_table(docs, src / f"shard-{shard}.parquet", row_group_size=250)
    return src


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = python_path(TESTS / "helpers")
    return env


def _start(pipeline: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "thresher", "run", str(pipeline), "--quiet"],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


class Watcher(threading.Thread):
    """Reads every file that appears under data/ and rejected/ in full: a partial Parquet file fails."""

    def __init__(self, out: Path) -> None:
        super().__init__(daemon=True)
        self.out = out
        self.stop = threading.Event()
        self.checked: set[tuple[str, int, int]] = set()
        self.problems: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            self.scan()
            time.sleep(0.005)

    def scan(self) -> None:
        for sub in VISIBLE_DIRS:
            folder = self.out / sub
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                try:
                    info = path.stat()
                except FileNotFoundError:  # replaced by a rerun between listing and stat
                    continue
                key = (str(path), info.st_ino, info.st_mtime_ns)
                if key in self.checked:
                    continue
                self.checked.add(key)
                if path.suffix != ".parquet":
                    self.problems.append(f"unexpected file {path}")
                    continue
                try:
                    table = pq.read_table(path)
                    assert table.num_rows == pq.read_metadata(path).num_rows
                except FileNotFoundError:
                    continue
                except Exception as err:  # noqa: BLE001 - any unreadable file is the failure we look for
                    self.problems.append(f"{path}: {type(err).__name__}: {err}")


def _digest(out: Path) -> dict[str, str]:
    found = {}
    for sub in VISIBLE_DIRS:
        for path in sorted((out / sub).glob("*")):
            found[f"{sub}/{path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _stats(out: Path) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    stats.pop("fingerprint")  # covers the output path, which differs between trials
    return stats


def _state(out: Path) -> str:
    """Where the run was when killed, for the test's own coverage report."""
    if not (out / "_thresher" / "pipeline.json").exists():
        return "starting"
    if (out / "stats.json").exists():
        return "finished"
    done = {d.name: len(list(d.glob("*.json"))) for d in sorted((out / "_thresher" / "markers").glob("*"))}
    tasks = ", ".join(f"{stage} {n}" for stage, n in done.items()) or "no task done"
    return tasks + (", writing" if _writing(out) else "")


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory) -> tuple[dict[str, str], dict, float]:
    tmp = tmp_path_factory.mktemp("reference")
    out = tmp / "out"
    started = time.time()
    run = _start(_pipeline(tmp, corpus, out, workers=1))
    _, err = run.communicate(timeout=600)
    assert run.returncode == 0, err.decode()
    return _digest(out), _stats(out), time.time() - started


def _markers(out: Path, stage: str) -> int:
    return len(list((out / "_thresher" / "markers" / stage).glob("*.json")))


def _writing(out: Path) -> bool:
    tmp = out / "_thresher" / "tmp"
    return tmp.is_dir() and any(p.name.endswith(".parquet.tmp") for p in tmp.iterdir())


# Moments to kill at: a condition on the output directory, then a random extra delay. Together they
# cover starting, every kind of task, writes in progress, and the gaps between shards and stages.
TARGETS = {
    "starting": lambda out, k: True,
    "segment0 writing": lambda out, k: _writing(out) and _markers(out, "segment0") < SHARDS,
    "between segment0 shards": lambda out, k: _markers(out, "segment0") >= k,
    "median reduce": lambda out, k: _markers(out, "segment0") == SHARDS,
    "segment1 writing": lambda out, k: _markers(out, "median.reduce") == 1 and _writing(out),
    "between segment1 shards": lambda out, k: _markers(out, "segment1") >= k,
    "merging stats": lambda out, k: _markers(out, "segment1") == SHARDS,
}


def _group_gone(pgid: int, timeout: float = 2.0) -> bool:
    """True once no live process of the run's process group is left (workers die with their parent;
    zombies waiting for a reaper do not count)."""
    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = []
        for proc in psutil.process_iter(["pid", "status"]):
            try:
                if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(proc.pid)
            except (ProcessLookupError, psutil.Error):
                continue
        if not alive:
            return True
        time.sleep(0.05)
    return False


def _kill_when(run: subprocess.Popen, out: Path, target: str, k: int, delay: float) -> None:
    condition = TARGETS[target]
    deadline = time.time() + 300
    while run.poll() is None and time.time() < deadline:
        try:
            if condition(out, k):
                break
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    time.sleep(delay)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_at_random_moments_then_rerun_gives_the_same_output(
    workers: int, corpus: Path, reference, tmp_path: Path
):
    expected_files, expected_stats, _ = reference
    rng = random.Random(20240 + workers)
    kills = KILLS // 2 if workers == 2 else KILLS - KILLS // 2
    names = list(TARGETS)
    plan = [(names[i % len(names)], rng.randint(1, SHARDS - 1), rng.uniform(0.0, 0.08)) for i in range(kills)]
    states = []
    for trial, (target, k, delay) in enumerate(plan):
        out = tmp_path / f"out-{trial}"
        pipeline = _pipeline(tmp_path, corpus, out, workers)
        watcher = Watcher(out)
        watcher.start()
        run = _start(pipeline)
        if target == "starting":
            delay = rng.uniform(0.05, 1.5)
        _kill_when(run, out, target, k, delay)
        state = _state(out)
        alive = run.poll() is None
        if alive:
            if trial % 3 == 2 and workers > 1:
                os.kill(run.pid, signal.SIGKILL)  # the run's process only: its workers must die with it
            else:
                os.killpg(run.pid, signal.SIGKILL)  # the whole job, as a scheduler or the OOM killer does
        run.communicate()
        assert _group_gone(run.pid), f"trial {trial}: worker processes outlived the killed run"
        states.append(f"{target} -> {state}{'' if alive else ' (had already ended)'}")
        rerun = _start(pipeline)
        _, err = rerun.communicate(timeout=600)
        watcher.stop.set()
        watcher.join()
        watcher.scan()
        where = f"trial {trial} (killed at {states[-1]})"
        assert rerun.returncode == 0, f"{where}: {err.decode()}"
        assert watcher.problems == [], f"{where}: partial files were visible: {watcher.problems}"
        assert _stats(out) == expected_stats, where
        assert _digest(out) == expected_files, where
        leftovers = list((out / "_thresher" / "tmp").glob("*"))
        assert leftovers == [], f"{where}: temporary files left: {leftovers}"
    print(f"\nworkers={workers}, kills:\n  " + "\n  ".join(states))
    ended_early = [s for s in states if "had already ended" not in s]
    assert len(ended_early) >= kills - 2, "most kills must land while the run is going"
