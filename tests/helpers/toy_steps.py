"""A small global step used to test the stage machinery: drop documents shorter than the corpus
median length (map: lengths per shard; reduce: the median; apply: compare)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from thresher.steps.base import Decision, GlobalStep, Step, StepContext, StepParams, ThresholdRule, decide_by_rules


class BelowMedianParams(StepParams):
    pass


class DropBelowMedianLength(GlobalStep):
    type = "toy_steps:DropBelowMedianLength"
    Params = BelowMedianParams

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("length", pa.int64())]

    def map_start(self, context: StepContext) -> None:
        self._lengths: list[int] = []

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        self._lengths.extend(pc.utf8_length(text).to_pylist())

    def map_finish(self, context: StepContext) -> None:
        (context.work_dir / f"lengths-{context.shard_index:05d}.json").write_text(json.dumps(self._lengths))

    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        lengths = sorted(n for f in sorted(context.work_dir.glob("lengths-*.json")) for n in json.loads(f.read_text()))
        median = lengths[len(lengths) // 2] if lengths else 0
        (context.work_dir / "median.json").write_text(json.dumps(median))

    def open(self, context: StepContext) -> None:
        self._median = json.loads((context.work_dir / "median.json").read_text())

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([pc.utf8_length(text).cast(pa.int64())], names=["length"])

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return decide_by_rules([ThresholdRule("below_median", "length", ">=", self._median)], signals)


class SlowParams(StepParams):
    seconds_per_batch: float = 0.05


class SlowPassThrough(Step):
    """Keeps every row after sleeping: gives interrupt tests a window inside a shard."""

    type = "toy_steps:SlowPassThrough"
    Params = SlowParams

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        import time

        time.sleep(self.params.seconds_per_batch)
        return pa.record_batch({"_": pa.nulls(len(text))}).drop_columns(["_"])  # no signals, right length

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return Decision(keep=pa.array([True] * batch.num_rows), reason=pa.nulls(batch.num_rows, pa.string()))


class OpenedMarker(Step):
    """Drops every row unless open() ran first: proves each runner calls the lifecycle hooks."""

    type = "toy_steps:OpenedMarker"
    Params = StepParams

    def open(self, context: StepContext) -> None:
        self.opened_in = context.work_dir

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        opened = getattr(self, "opened_in", None) is not None and self.opened_in.is_dir()
        return pa.record_batch({"opened": pa.array([opened] * len(text))})

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        opened = signals.column("opened")
        reason = pc.if_else(opened, pa.scalar(None, pa.string()), pa.scalar("not_opened"))
        return Decision(keep=opened, reason=reason)


class WarnOnOpen(Step):
    """Keeps every row and logs a warning naming its shard when it opens (logging from workers)."""

    type = "toy_steps:WarnOnOpen"
    Params = StepParams

    def open(self, context: StepContext) -> None:
        import logging

        logging.getLogger("toy_steps").warning("opened on shard %s", context.shard_name)

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.record_batch({"_": pa.nulls(len(text))}).drop_columns(["_"])

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return Decision(keep=pa.array([True] * batch.num_rows), reason=pa.nulls(batch.num_rows, pa.string()))
