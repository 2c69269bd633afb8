"""What a step is.

A step sees Arrow record batches, never files. It computes named signals over the whole text
column (in Rust), then turns them into a keep mask and a reason per dropped row:

    signals = step.compute_signals(text, batch)     # pa.RecordBatch of signal columns
    decision = step.decide(signals, batch)          # keep mask + reason (null where kept)

`ThresholdRule` covers the common case, so most steps only list their rules. A step that
rewrites text (C4 line removal) returns the new text in `Decision.text`.

A step that needs the whole corpus (dedup, budgets) is a `GlobalStep`: it also has a map over
shards and a reduce over partitions, which the executors run as separate stages (see
`thresher.stages`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict


class StepParams(BaseModel):
    """Base of every step's parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


Comparison = Literal["<", "<=", ">", ">="]

_FAILS_WHEN = {
    # A rule is "keep when signal OP threshold"; these give the drop condition.
    ">=": pc.less,
    ">": pc.less_equal,
    "<=": pc.greater,
    "<": pc.greater_equal,
}


@dataclass(frozen=True)
class ThresholdRule:
    """Keep a row when `signal <keep_when> threshold`; otherwise drop it with `reason`.

    A `None` threshold disables the rule. Null signals never fail a rule (a step that can
    produce nulls decides what they mean elsewhere).
    """

    reason: str
    signal: str
    keep_when: Comparison
    threshold: float | None

    def failing(self, signals: pa.RecordBatch) -> pa.BooleanArray | None:
        if self.threshold is None:
            return None
        values = signals.column(self.signal)
        fails = _FAILS_WHEN[self.keep_when](values, pa.scalar(self.threshold, values.type))
        return pc.fill_null(fails, False)


@dataclass
class Decision:
    keep: pa.BooleanArray
    reason: pa.Array  # string; null where kept
    text: pa.Array | None = None  # replacement text (for steps that rewrite documents)
    extra_columns: dict[str, pa.Array] = field(default_factory=dict)  # non-signal columns to add
    # Copies of each kept row in the output (null = 1; kept rows need >= 1). Used by the mix step to
    # repeat documents over epochs; the extra copies are counted as `rows_added`, never as input.
    repeat: pa.Array | None = None
    repeat_index_column: str | None = None  # column numbering each row's copies 0, 1, ... (e.g. `epoch`)


def decide_by_rules(rules: Sequence[ThresholdRule], signals: pa.RecordBatch) -> Decision:
    """The first failing rule (in list order) gives a row's reason."""
    n = signals.num_rows
    reason = pa.nulls(n, pa.string())
    for rule in rules:
        fails = rule.failing(signals)
        if fails is None:
            continue
        reason = pc.if_else(pc.and_(fails, pc.is_null(reason)), pa.scalar(rule.reason), reason)
    keep = pc.is_null(reason)
    return Decision(keep=keep, reason=reason)


class Step:
    """A per-batch step. Subclasses set `type`, `Params` and implement the two methods."""

    type: ClassVar[str]
    Params: ClassVar[type[StepParams]] = StepParams
    #: True when the step needs the whole corpus before it can decide (see GlobalStep).
    is_global: ClassVar[bool] = False

    def __init__(self, name: str, params: StepParams) -> None:
        self.name = name
        self.params = params

    # -- schema -----------------------------------------------------------------------------
    def signal_fields(self) -> list[pa.Field]:
        """The signal columns this step adds, unprefixed, declared before any data is seen."""
        return []

    def signal_column(self, signal: str) -> str:
        """Column name of a signal in batches and outputs: `<step name>.<signal>`."""
        return f"{self.name}.{signal}"

    def reasons(self) -> list[str]:
        """Drop reasons this step can give (documentation and reports)."""
        return []

    # -- work -------------------------------------------------------------------------------
    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        raise NotImplementedError

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        raise NotImplementedError

    # -- lifecycle --------------------------------------------------------------------------
    def open(self, context: StepContext) -> None:
        """Called once per task before the first batch (load models, indexes)."""

    def close(self) -> None:
        """Called once per task after the last batch."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "params": self.params.model_dump(mode="json")}


@dataclass
class StepContext:
    """Where a step may keep files, and which shard it is working on."""

    work_dir: Path  # this step's own directory for intermediate files (shared by all tasks)
    shard_index: int | None = None
    shard_name: str | None = None
    num_shards: int = 0
    text_column: str = "text"
    id_column: str = "id"
    output_dir: Path | None = None  # the run's output directory, for reports a step writes beside the data


class GlobalStep(Step):
    """A step that needs the whole corpus: map per shard, reduce phases, then decide per batch.

    Stage order, each run by any executor as independent tasks:
      1. `map_start`/`map_batch`/`map_finish` run once per shard over the rows reaching this step;
         they write small files under `context.work_dir`.
      2. For each `(phase, num_tasks)` of `reduce_phases_for(num_shards)`, in order,
         `reduce(context, phase, task)` runs for every task index (e.g. one per band, then one for
         the union-find).
      3. `open(context)` loads what the reduces wrote; then `compute_signals`/`decide` run per batch
         as for any step.
    """

    is_global = True

    def reduce_phases(self) -> list[tuple[str, int]]:
        return [("reduce", 1)]

    def reduce_phases_for(self, num_shards: int) -> list[tuple[str, int]]:
        """`reduce_phases()` of a run over `num_shards` shards: what the stages use. Steps whose
        task count depends on the shard count (e.g. one task per group of shards) override this."""
        return self.reduce_phases()

    def map_start(self, context: StepContext) -> None:
        """Called once per shard before the first `map_batch`."""

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def map_finish(self, context: StepContext) -> None:
        raise NotImplementedError

    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        raise NotImplementedError

    def summary(self, context: StepContext) -> dict[str, Any] | None:
        """Counts from the step's own files (e.g. duplicates found), added to stats.json."""
        return None
