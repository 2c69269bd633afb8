"""A multi-stage pipeline for executor tests, built from the basic steps plus two test steps.

`MedianLength` is a GlobalStep with two reduce phases (partial sums of per-shard length files,
then the corpus median) and drops documents shorter than the median. `Hold` keeps every row
but, in the shard named by THRESHER_TEST_HOLD_SHARD, waits while the file named by
THRESHER_TEST_HOLD_FILE exists (touching `<that file>.held` first): tests use it to catch a
task in the middle of a batch. Both are read from
the environment, not from parameters, so they do not change the pipeline's fingerprint.

Steps are named by import path (`multistage:MedianLength`), so processes that run tasks
(Slurm jobs, Ray workers, pool workers) need this folder on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thresher.steps.base import Decision, GlobalStep, Step, StepContext, StepParams

SUPPORT_DIR = Path(__file__).resolve().parent
HOLD_SHARD_ENV = "THRESHER_TEST_HOLD_SHARD"
HOLD_FILE_ENV = "THRESHER_TEST_HOLD_FILE"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class MedianLengthParams(StepParams):
    partitions: int = 2


class MedianLength(GlobalStep):
    """Drops documents shorter (in characters) than the corpus median of the rows reaching it."""

    type = "median_length"
    Params = MedianLengthParams

    def reduce_phases(self) -> list[tuple[str, int]]:
        return [("partial", self.params.partitions), ("median", 1)]

    def map_start(self, context: StepContext) -> None:
        self._lengths: list[np.ndarray] = []

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        self._lengths.append(pc.utf8_length(text).to_numpy(zero_copy_only=False).astype(np.int64))

    def map_finish(self, context: StepContext) -> None:
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        target = context.work_dir / "lengths" / f"{context.shard_index:05d}.json"
        _write_atomic(target, json.dumps(lengths.tolist()).encode())

    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        if phase == "partial":
            values: list[int] = []
            for f in sorted((context.work_dir / "lengths").glob("*.json")):
                if int(f.stem) % self.params.partitions == task:
                    values += json.loads(f.read_text())
            _write_atomic(context.work_dir / "partial" / f"{task}.json", json.dumps(values).encode())
        else:
            values = []
            for f in sorted((context.work_dir / "partial").glob("*.json")):
                values += json.loads(f.read_text())
            median = float(np.median(values)) if values else 0.0
            _write_atomic(context.work_dir / "median.json", json.dumps({"median": median}).encode())

    def open(self, context: StepContext) -> None:
        self.median = json.loads((context.work_dir / "median.json").read_text())["median"]

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("chars", pa.int64())]

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([pc.cast(pc.utf8_length(text), pa.int64())], names=["chars"])

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        short = pc.less(pc.cast(signals.column("chars"), pa.float64()), self.median)
        reason = pc.if_else(short, pa.scalar("below_median"), pa.nulls(signals.num_rows, pa.string()))
        return Decision(keep=pc.invert(short), reason=reason)


class Hold(Step):
    """Keeps every row; in one shard, waits while a file exists (see the module docstring)."""

    type = "hold"

    def open(self, context: StepContext) -> None:
        self.shard_name = context.shard_name

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("held", pa.bool_())]

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        hold_file = os.environ.get(HOLD_FILE_ENV)
        held = False
        if hold_file and os.environ.get(HOLD_SHARD_ENV) == self.shard_name:
            if os.path.exists(hold_file):
                Path(f"{hold_file}.held").touch()  # tells the test the task is inside a batch
            deadline = time.time() + 300
            while os.path.exists(hold_file) and time.time() < deadline:
                held = True
                time.sleep(0.1)
        return pa.RecordBatch.from_arrays([pa.array([held] * len(text), pa.bool_())], names=["held"])

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        n = signals.num_rows
        return Decision(keep=pa.array([True] * n), reason=pa.nulls(n, pa.string()))


WORDS = "the quick brown fox jumps over lazy dog data filter corpus shard token model".split()


def write_inputs(folder: Path, shards: int = 4, rows: int = 60, seed: int = 7) -> list[Path]:
    """Parquet shards of documents of varied lengths (some digit-heavy, some empty)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(shards):
        texts, ids = [], []
        for r in range(rows):
            n = int(rng.integers(0, 120))
            words = [WORDS[i] for i in rng.integers(0, len(WORDS), n)]
            if r % 9 == 0:
                words = [str(int(x)) for x in rng.integers(0, 10**6, n)]
            texts.append(" ".join(words))
            ids.append(f"s{s}-{r}")
        path = folder / f"part-{s}.parquet"
        pq.write_table(pa.table({"text": texts, "id": ids}), path)
        paths.append(path)
    return paths


def pipeline_document(input_glob: str, output: str, executor: dict | None = None) -> dict:
    """text_length -> hold -> median_length (global, 2 reduce phases) -> char_classes."""
    return {
        "input": {"paths": [input_glob], "batch_rows": 16},
        "steps": [
            {"type": "text_length", "min_words": 3},
            {"type": "multistage:Hold", "name": "hold"},
            {"type": "multistage:MedianLength", "name": "median"},
            {"type": "char_classes", "max_digit_fraction": 0.3},
        ],
        "output": {"path": output},
        "executor": executor or {"type": "local"},
    }


def with_support_on_path(env: dict[str, str]) -> dict[str, str]:
    """`env` with this folder and the imported thresher package on PYTHONPATH (for task processes)."""
    import thresher

    package_parent = Path(thresher.__file__).resolve().parent.parent  # wherever this thresher comes from
    parts = [str(SUPPORT_DIR), str(package_parent), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {**env, "PYTHONPATH": os.pathsep.join(dict.fromkeys(parts))}


def read_output(out: Path) -> dict[str, pa.Table]:
    """Every Parquet file under data/ and rejected/, sorted by id, by relative path."""
    tables = {}
    for sub in ("data", "rejected"):
        for f in sorted((out / sub).glob("*.parquet")):
            table = pq.read_table(f)
            tables[f"{sub}/{f.name}"] = table.sort_by("id") if table.num_rows else table
    return tables


def read_stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())
