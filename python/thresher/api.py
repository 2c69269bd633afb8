"""The notebook API: the same steps on an in-memory Arrow table, no CLI, no files to manage."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from thresher.chain import StepChain, StepCounts
from thresher.config import PipelineConfig, load_pipeline, parse_pipeline
from thresher.io.readers import Shard, ShardReader
from thresher.stages import Plan, build_steps
from thresher.steps.base import StepContext


@dataclass
class PipelineResult:
    kept: pa.Table  # kept rows, with every signal column
    rejected: pa.Table  # dropped rows with drop_reason and the signals computed so far
    stats: dict[str, Any]


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "to_arrow"):  # polars
        return data.to_arrow()
    if type(data).__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    raise TypeError(f"expected a pyarrow Table/RecordBatch, pandas or polars DataFrame, got {type(data).__name__}")


class Pipeline:
    """A validated pipeline that can run on tables in memory or on files (`run`)."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> Pipeline:
        return cls(load_pipeline(path, overrides=overrides))

    @classmethod
    def from_steps(
        cls,
        steps: Sequence[dict[str, Any]],
        text_column: str = "text",
        id_column: str | None = "id",
        profile: str = "datatrove",
        output: str = "thresher-output",
    ) -> Pipeline:
        raw = {
            "input": {"paths": ["<memory>"], "text_column": text_column, "id_column": id_column},
            "steps": list(steps),
            "output": {"path": output},
            "profile": profile,
        }
        return cls(parse_pipeline(raw, "<steps>"))

    @property
    def has_global_steps(self) -> bool:
        return any(s.is_global for s in build_steps(self.config))

    def run_table(self, data: Any) -> PipelineResult:
        """Runs every step over `data` and returns kept rows, rejected rows and counts.

        Signal columns are kept on both sides (named `<step>.<signal>`). Pipelines with global
        steps (dedup, mixing) run through the same stages as on files, in a temporary directory.
        """
        table = _as_table(data)
        if self.has_global_steps:
            return self._run_via_files(table)
        return self._run_in_memory(table)

    def _run_in_memory(self, table: pa.Table) -> PipelineResult:
        cfg = self.config.input
        steps = build_steps(self.config)
        chain = StepChain(steps, cfg.text_column, validate_input=True, max_document_bytes=cfg.max_document_bytes)
        reader = ShardReader(Shard(0, "<memory>", "<memory>", "memory", "parquet"), cfg)  # for _prepare only
        kept, rejected = [], []
        counts: dict[str, StepCounts] = {}
        row = 0
        with tempfile.TemporaryDirectory(prefix="thresher-steps-") as work:
            # Steps load models and indexes in open(), exactly as in a task over files.
            for step in steps:
                step_dir = Path(work, step.name)
                step_dir.mkdir()
                step.open(
                    StepContext(
                        work_dir=step_dir,
                        shard_index=0,
                        shard_name="memory",
                        num_shards=1,
                        text_column=cfg.text_column,
                        id_column=cfg.id_column or "id",
                    )
                )
            try:
                for batch in table.to_batches(max_chunksize=cfg.batch_rows) or [
                    pa.RecordBatch.from_pylist([], schema=table.schema)
                ]:
                    prepared = reader._prepare(batch, 0, row)
                    row += batch.num_rows
                    out = chain.run(prepared)
                    kept.append(out.kept)
                    rejected.extend(out.rejected)
                    for name, c in out.counts.items():
                        counts.setdefault(name, StepCounts()).add(c)
            finally:
                for step in steps:
                    step.close()
        for name, c in counts.items():
            c.check(f"step {name!r}")
        kept_table = pa.Table.from_batches(kept) if kept else table.slice(0, 0)
        rejected_table = (
            pa.concat_tables([pa.Table.from_batches([r]) for r in rejected], promote_options="permissive")
            if rejected
            else pa.table({"drop_reason": pa.array([], pa.string())})
        )
        stats = {
            "input_rows": table.num_rows,
            "output_rows": kept_table.num_rows,
            "input_validation": counts.get("input", StepCounts()).to_json(),
            "steps": [{"name": s.name, "type": s.type, **counts.get(s.name, StepCounts()).to_json()} for s in steps],
        }
        return PipelineResult(kept_table, rejected_table, stats)

    def _run_via_files(self, table: pa.Table) -> PipelineResult:
        from thresher.executors.local import LocalExecutor

        with tempfile.TemporaryDirectory(prefix="thresher-") as tmp:
            shard = Path(tmp, "input", "table.parquet")
            shard.parent.mkdir()
            pq.write_table(table, shard)
            raw = self.config.model_dump(mode="json")
            raw["input"]["paths"] = [str(shard)]
            raw["output"].update(path=str(Path(tmp, "out")), rejected=True, keep_signals=True)
            plan = Plan.create(parse_pipeline(raw, "<memory>"))
            summary = LocalExecutor(workers=1, quiet=True).run(plan)
            if not summary.ok:
                raise RuntimeError("; ".join(e.message for e in summary.errors))
            kept = pq.read_table(Path(tmp, "out", "data"))
            rejected_dir = Path(tmp, "out", "rejected")
            files = sorted(rejected_dir.glob("*.parquet")) if rejected_dir.exists() else []
            rejected = (
                pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")
                if files
                else pa.table({"drop_reason": pa.array([], pa.string())})
            )
            return PipelineResult(kept, rejected, summary.stats or {})
