"""Running a list of steps over record batches, with per-step counts and rejected rows.

This is the whole per-batch data path; executors, stages and the notebook API all go through it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher import _core
from thresher.io.readers import ShardReader
from thresher.steps.base import Decision, Step

DROP_REASON = "drop_reason"
INPUT_STEP = "input"


@dataclass
class StepCounts:
    rows_in: int = 0
    rows_kept: int = 0
    rows_dropped: Counter = field(default_factory=Counter)
    rows_added: int = 0  # extra copies of kept rows (repetition); the step outputs rows_kept + rows_added

    @property
    def rows_out(self) -> int:
        return self.rows_kept + self.rows_added

    def add(self, other: StepCounts) -> None:
        self.rows_in += other.rows_in
        self.rows_kept += other.rows_kept
        self.rows_dropped.update(other.rows_dropped)
        self.rows_added += other.rows_added

    def check(self, where: str) -> None:
        dropped = sum(self.rows_dropped.values())
        if self.rows_in != self.rows_kept + dropped:
            raise AssertionError(
                f"{where}: row accounting broken: {self.rows_in} in != {self.rows_kept} kept + {dropped} dropped"
            )

    def to_json(self) -> dict:
        doc = {
            "rows_in": self.rows_in,
            "rows_kept": self.rows_kept,
            "rows_dropped": dict(sorted(self.rows_dropped.items())),
        }
        if self.rows_added:
            doc["rows_added"] = self.rows_added
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> StepCounts:
        return cls(doc["rows_in"], doc["rows_kept"], Counter(doc["rows_dropped"]), doc.get("rows_added", 0))


@dataclass
class ChainOutput:
    kept: pa.RecordBatch
    rejected: list[pa.RecordBatch]
    counts: dict[str, StepCounts]  # by step name, INPUT_STEP first when input is validated


class HeuristicRun:
    """Consecutive heuristic steps run by Rust's `HeuristicChain` in one call per batch: each
    document goes through all of them while it is in cache, its words are split once, and the first
    failing rule ends its run. The outputs (signals, rejected rows, counts, rewritten text) are
    those of running the steps one after the other."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self._chain = None
        self._schema_for: pa.Schema | None = None
        self._schema: pa.Schema | None = None
        self._width_after: list[int] = []
        self._signal_names: list[str] | None = None
        self._reasons: list[list[str]] = []
        self._labels: list[pa.Array] = []

    @staticmethod
    def spec_of(step: Step) -> dict | None:
        chain_spec = getattr(step, "chain_spec", None)
        return chain_spec() if chain_spec is not None else None

    def chain(self):
        if self._chain is None:
            self._chain = _core.HeuristicChain([self.spec_of(step) for step in self.steps])
            # `<step>:<reason>` of each rule the chain can report, by rule index.
            self._reasons = [[rule.reason for rule in step.chain_rules()] for step in self.steps]
            self._labels = [
                pa.array([f"{step.name}:{reason}" for reason in reasons], pa.string())
                for step, reasons in zip(self.steps, self._reasons, strict=True)
            ]
        return self._chain

    def _output_schema(self, schema: pa.Schema, text_column: str, signal_batches: list) -> pa.Schema:
        """The input's columns (the text's field as a rewritten text column has it) and every
        step's signals; the same for every batch of a shard, so it is built once."""
        if self._schema_for is not None and self._schema_for.equals(schema, check_metadata=True):
            return self._schema
        fields = list(schema)
        index = schema.get_field_index(text_column)
        fields[index] = pa.field(text_column, schema.field(index).type)
        self._width_after = []
        for step, signals in zip(self.steps, signal_batches, strict=True):
            for f in signals.schema:
                fields.append(pa.field(step.signal_column(f.name), f.type, metadata=f.metadata))
            self._width_after.append(len(fields))
        self._schema_for, self._schema = schema, pa.schema(fields, metadata=schema.metadata)
        return self._schema

    def signal_names(self) -> list[str]:
        if self._signal_names is None:
            self._signal_names = [step.signal_column(f.name) for step in self.steps for f in step.signal_fields()]
        return self._signal_names

    def run(
        self, batch: pa.RecordBatch, text_column: str
    ) -> tuple[pa.RecordBatch, list[pa.RecordBatch | None], list[StepCounts]]:
        text = batch.column(text_column)
        signal_batches, dropped_step, dropped_rule, new_text = self.chain().run(text)
        # One batch with every step's signals (none of their names is in the input: see
        # `_names_present`); the rows a step drops carry the columns up to that step's.
        arrays = list(batch.columns)
        if new_text is not None:
            if not new_text.type.equals(text.type):  # Rust keeps string/large_string, not views
                new_text = new_text.cast(text.type)
            arrays[batch.schema.get_field_index(text_column)] = new_text
        for signals in signal_batches:
            arrays.extend(signals.columns)
        full = pa.RecordBatch.from_arrays(arrays, schema=self._output_schema(batch.schema, text_column, signal_batches))
        width_after = self._width_after
        steps_at = dropped_step.to_numpy()
        rules_at = dropped_rule.to_numpy()
        rejected: list[pa.RecordBatch | None] = []
        counts: list[StepCounts] = []
        rows_in = batch.num_rows
        for k in range(len(self.steps)):
            at_k = np.flatnonzero(steps_at == k)
            step_counts = StepCounts(rows_in=rows_in, rows_kept=rows_in - len(at_k))
            if len(at_k):
                rules_k = rules_at[at_k]
                labels = self._labels[k].take(pa.array(rules_k))
                dropped = full.select(range(width_after[k])).take(pa.array(at_k))
                rejected.append(dropped.append_column(DROP_REASON, labels))
                for rule, n in enumerate(np.bincount(rules_k)):
                    if n:
                        step_counts.rows_dropped[self._reasons[k][rule]] += int(n)
            else:
                rejected.append(None)
            counts.append(step_counts)
            rows_in = step_counts.rows_kept
        kept = full.filter(pa.array(steps_at == len(self.steps))) if rows_in < batch.num_rows else full
        return kept, rejected, counts


def plan_steps(steps: list[Step], fuse_heuristics: bool = True) -> list[Step | HeuristicRun]:
    """The steps in order, runs of two or more chainable heuristic steps grouped into one run."""
    plan: list[Step | HeuristicRun] = []
    run: list[Step] = []

    def flush() -> None:
        if len(run) >= 2:
            plan.append(HeuristicRun(list(run)))
        else:
            plan.extend(run)
        run.clear()

    for step in steps:
        if fuse_heuristics and HeuristicRun.spec_of(step) is not None:
            run.append(step)
        else:
            flush()
            plan.append(step)
    flush()
    return plan


class StepChain:
    """Applies steps in order to a batch: signals, decision, split into kept and rejected."""

    def __init__(
        self,
        steps: list[Step],
        text_column: str,
        validate_input: bool = False,
        max_document_bytes: int | None = None,
        fuse_heuristics: bool = True,
    ) -> None:
        self.steps = steps
        self.text_column = text_column
        self.validate_input = validate_input
        self.max_document_bytes = max_document_bytes
        self._plan = plan_steps(steps, fuse_heuristics)
        # Steps that split documents into words (outside a fused run) share one memo per batch when
        # there are several.
        word_steps = [s for s in self._plan if getattr(s, "shares_word_splits", False)]
        self._word_memo_steps = word_steps if len(word_steps) > 1 else []

    def signal_columns(self) -> list[pa.Field]:
        return [
            pa.field(step.signal_column(f.name), f.type, metadata=f.metadata)
            for step in self.steps
            for f in step.signal_fields()
        ]

    def _input_validation(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch | None, StepCounts]:
        text = batch.column(self.text_column)
        reason = pc.if_else(pc.is_null(text), pa.scalar("null_text"), pa.nulls(batch.num_rows, pa.string()))
        flag_index = batch.schema.get_field_index(ShardReader.INVALID_UTF8_COLUMN)
        if flag_index >= 0:
            invalid = batch.column(flag_index)
            reason = pc.if_else(pc.fill_null(invalid, False), pa.scalar("invalid_utf8"), reason)
            batch = batch.remove_column(flag_index)
        if self.max_document_bytes is not None:
            too_large = pc.fill_null(pc.greater(pc.binary_length(text), self.max_document_bytes), False)
            reason = pc.if_else(pc.and_(too_large, pc.is_null(reason)), pa.scalar("document_too_large"), reason)
        return self._split(batch, INPUT_STEP, reason)

    def _split(
        self, full: pa.RecordBatch, step_name: str, reason: pa.Array
    ) -> tuple[pa.RecordBatch, pa.RecordBatch | None, StepCounts]:
        keep = pc.is_null(reason)
        counts = StepCounts(rows_in=full.num_rows)
        n_dropped = full.num_rows - pc.sum(keep.cast(pa.int64())).as_py() if full.num_rows else 0
        if n_dropped == 0:
            counts.rows_kept = full.num_rows
            return full, None, counts
        kept = full.filter(keep)
        dropped_mask = pc.invert(keep)
        dropped_reasons = reason.filter(dropped_mask)
        rejected = full.filter(dropped_mask)
        labelled = pc.binary_join_element_wise(pa.scalar(step_name), dropped_reasons, ":")
        rejected = rejected.append_column(DROP_REASON, labelled.cast(pa.string()))
        counts.rows_kept = kept.num_rows
        for item in pc.value_counts(dropped_reasons).to_pylist():
            counts.rows_dropped[item["values"]] += item["counts"]
        return kept, rejected, counts

    def run_step(self, step: Step, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch | None, StepCounts]:
        text = batch.column(self.text_column)
        signals = step.compute_signals(text, batch)
        if signals.num_rows != batch.num_rows:
            raise AssertionError(
                f"step {step.name!r} returned {signals.num_rows} signal rows for {batch.num_rows} documents"
            )
        decision = step.decide(signals, batch)
        full = batch
        for signal_field, column in zip(signals.schema, signals.columns, strict=True):
            full = _set_column(full, step.signal_column(signal_field.name), column, signal_field.metadata)
        for name, column in decision.extra_columns.items():
            full = _set_column(full, name, column)
        if decision.text is not None:
            full = _set_column(full, self.text_column, decision.text)
        kept, rejected, counts = self._split(full, step.name, decision.reason)
        if decision.repeat is not None:
            kept, counts.rows_added = _repeat_rows(kept, decision, step.name)
        return kept, rejected, counts

    def run(self, batch: pa.RecordBatch) -> ChainOutput:
        counts: dict[str, StepCounts] = {}
        rejected: list[pa.RecordBatch] = []
        if self.validate_input:
            batch, dropped, counts[INPUT_STEP] = self._input_validation(batch)
            if dropped is not None:
                rejected.append(dropped)
        memo = _core.WordMemo() if self._word_memo_steps else None
        for step in self._word_memo_steps:
            step.word_memo = memo
        try:
            for item in self._plan:
                if isinstance(item, HeuristicRun) and not _names_present(batch, item.signal_names()):
                    batch, dropped_per_step, step_counts = item.run(batch, self.text_column)
                    for step, dropped, c in zip(item.steps, dropped_per_step, step_counts, strict=True):
                        counts[step.name] = c
                        if dropped is not None:
                            rejected.append(dropped)
                    continue
                for step in item.steps if isinstance(item, HeuristicRun) else [item]:
                    batch, dropped, counts[step.name] = self.run_step(step, batch)
                    if dropped is not None:
                        rejected.append(dropped)
        finally:
            # The memo holds this batch's word boundaries: release them with the batch.
            for step in self._word_memo_steps:
                step.word_memo = None
        return ChainOutput(batch, rejected, counts)


def _names_present(batch: pa.RecordBatch, names: list[str]) -> bool:
    # Input that already holds some of a run's signal columns goes step by step, which replaces them
    # one step at a time (a fused run would show later steps' values in earlier steps' rejects).
    existing = set(batch.schema.names)
    return any(name in existing for name in names)


def _set_column(batch: pa.RecordBatch, name: str, column: pa.Array, metadata: dict | None = None) -> pa.RecordBatch:
    # `metadata` is the signal field's own (e.g. which score definition a column holds).
    index = batch.schema.get_field_index(name)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    field = pa.field(name, column.type, metadata=metadata)
    if index >= 0:
        return batch.set_column(index, field, column)
    return batch.append_column(field, column)


def _repeat_rows(kept: pa.RecordBatch, decision: Decision, step_name: str) -> tuple[pa.RecordBatch, int]:
    """Copies each kept row `repeat` times, copy k of every row before copy k+1 of any (epoch order)."""
    repeat = decision.repeat.filter(pc.is_null(decision.reason))
    counts = np.asarray(pc.fill_null(repeat, 1).cast(pa.int64()).to_numpy(zero_copy_only=False))
    if len(counts) and counts.min() < 1:
        raise AssertionError(f"step {step_name!r} kept a row with repeat < 1; drop it with a reason instead")
    max_copies = int(counts.max()) if len(counts) else 1
    if max_copies == 1:
        out = kept
        copy_index = np.zeros(kept.num_rows, dtype=np.int32)
    else:
        indices = [np.flatnonzero(counts > k) for k in range(max_copies)]
        copy_index = np.concatenate([np.full(len(ix), k, dtype=np.int32) for k, ix in enumerate(indices)])
        out = kept.take(pa.array(np.concatenate(indices)))
    if decision.repeat_index_column is not None:
        out = _set_column(out, decision.repeat_index_column, pa.array(copy_index))
    return out, out.num_rows - kept.num_rows
