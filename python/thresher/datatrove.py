"""Thresher inside datatrove pipelines, and datatrove's outputs as Thresher input.

`ThresherFilter` is a datatrove filter that runs Thresher steps (the same YAML step entries) on
batches of documents through `filter_batch`: one Arrow batch per `batch_size` documents, the
signals computed in Rust over the whole batch, decisions as in `filter run`. A dropped
document's reason is Thresher's `step:reason` (datatrove counts it as `dropped_<reason>` and
writes it to `metadata["filter_reason"]` in the exclusion writer). Steps that rewrite text
replace `doc.text` of kept documents.

Global steps (dedup, budgets) need the whole corpus; in datatrove they take three pipelines,
like datatrove's own MinHash dedup (see `global_step_stages`):

    1. reader -> ThresherGlobalMap(step)          -> writer      (tasks = shards)
    2. ThresherGlobalReduce(step, phase)                          (per phase, its task count)
    3. reader -> ThresherGlobalFilter(step)       -> writer      (same tasks as 1)

Reading datatrove's outputs needs nothing special: its JsonlWriter and ParquetWriter write `text`,
`id` and a `metadata` struct, which is what `input:` expects by default; `datatrove_input()`
builds that section for a datatrove output folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from thresher.chain import DROP_REASON, StepChain
from thresher.config import StepSpec, parse_pipeline
from thresher.steps.base import GlobalStep, Step, StepContext
from thresher.steps.registry import get_step_class

_ROW = "__thresher_row"


def _parse_steps(steps: Sequence[dict[str, Any]], profile: str) -> list[StepSpec]:
    raw = {"input": {"paths": ["<datatrove>"]}, "steps": list(steps), "output": {"path": "<datatrove>"}}
    raw["profile"] = profile
    return parse_pipeline(raw, "<datatrove steps>").specs


def _build(spec: StepSpec) -> Step:
    return get_step_class(spec.type)(spec.name, spec.params)


def _documents_batch(docs: Sequence[Document]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array([d.text for d in docs], pa.large_string()),
            pa.array([str(d.id) for d in docs], pa.string()),
            pa.array(range(len(docs)), pa.int64()),
        ],
        names=["text", "id", _ROW],
    )


def _apply(chain: StepChain, docs: Sequence[Document], signals_key: str | None) -> list[bool | tuple[bool, str]]:
    """Runs the chain over `docs`; returns datatrove filter results and updates kept documents."""
    output = chain.run(_documents_batch(docs))
    results: list[bool | tuple[bool, str]] = [True] * len(docs)
    for dropped in output.rejected:
        for row, reason in zip(dropped.column(_ROW).to_pylist(), dropped.column(DROP_REASON).to_pylist(), strict=True):
            results[row] = (False, reason)
    kept = output.kept
    rows = kept.column(_ROW).to_pylist()
    texts = kept.column("text").to_pylist()
    signal_names = [f.name for f in chain.signal_columns() if kept.schema.get_field_index(f.name) >= 0]
    signal_values = {name: kept.column(name).to_pylist() for name in signal_names} if signals_key else {}
    for i, row in enumerate(rows):
        doc = docs[row]
        if texts[i] != doc.text:
            doc.text = texts[i]
        if signals_key:
            doc.metadata[signals_key] = {name: values[i] for name, values in signal_values.items()}
    return results


class ThresherFilter(BaseFilter):
    """Thresher's per-batch steps as a datatrove filter.

    Args:
        steps: step entries as in a pipeline file, e.g. `[{"type": "text_length", "min_words": 50}]`
        profile: default profile of steps that have profiles
        batch_size: documents per Arrow batch (larger batches amortise the Rust call)
        exclusion_writer: datatrove writer for dropped documents (reason in metadata.filter_reason)
        signals_key: when set, kept documents get their signals under `metadata[signals_key]`
    """

    name = "🌾 Thresher"

    def __init__(
        self,
        steps: Sequence[dict[str, Any]],
        profile: str = "datatrove",
        batch_size: int = 1024,
        exclusion_writer: DiskWriter | None = None,
        signals_key: str | None = None,
    ) -> None:
        super().__init__(exclusion_writer, batch_size)
        self.specs = _parse_steps(steps, profile)
        self.signals_key = signals_key
        global_steps = [s.name for s in self.specs if get_step_class(s.type).is_global]
        if global_steps:
            raise ValueError(
                f"steps {global_steps} need the whole corpus: run them with global_step_stages(), not inside one filter"
            )
        self._chain: StepChain | None = None

    def _get_chain(self) -> StepChain:
        if self._chain is None:
            steps = [_build(s) for s in self.specs]
            for step in steps:
                step.open(StepContext(work_dir=Path(".")))
            self._chain = StepChain(steps, "text")
        return self._chain

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        return _apply(self._get_chain(), batch, self.signals_key)


def _global_step(step: dict[str, Any], profile: str) -> tuple[StepSpec, type[GlobalStep]]:
    (spec,) = _parse_steps([step], profile)
    cls = get_step_class(spec.type)
    if not cls.is_global:
        raise ValueError(f"step {spec.name!r} is not a global step: use ThresherFilter")
    return spec, cls


def _context(work_dir: str, rank: int | None, world_size: int) -> StepContext:
    folder = Path(work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = None if rank is None else f"{rank:05d}"
    return StepContext(work_dir=folder, shard_index=rank, shard_name=name, num_shards=world_size)


class ThresherGlobalMap(PipelineStep):
    """Stage 1 of a global step: feeds every document to the step's map and passes it on."""

    name = "🌾 Thresher global map"

    def __init__(self, step: dict[str, Any], work_dir: str, profile: str = "datatrove", batch_size: int = 1024):
        super().__init__()
        self.spec, _ = _global_step(step, profile)
        self.work_dir = work_dir
        self.batch_size = batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        step = _build(self.spec)
        context = _context(self.work_dir, rank, world_size)
        step.map_start(context)
        pending: list[Document] = []

        def flush() -> None:
            batch = _documents_batch(pending)
            step.map_batch(context, batch.column("text"), batch)
            pending.clear()

        for doc in data or []:
            pending.append(doc)
            self.stat_update("documents")
            yield doc
            if len(pending) >= self.batch_size:
                flush()
        if pending:
            flush()
        step.map_finish(context)


class ThresherGlobalReduce(PipelineStep):
    """Stage 2 of a global step: one reduce phase; run with `tasks` = that phase's task count."""

    name = "🌾 Thresher global reduce"

    def __init__(self, step: dict[str, Any], work_dir: str, phase: str, profile: str = "datatrove"):
        super().__init__()
        self.spec, _ = _global_step(step, profile)
        self.work_dir = work_dir
        self.phase = phase

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        step = _build(self.spec)
        assert isinstance(step, GlobalStep)
        step.reduce(_context(self.work_dir, None, world_size), self.phase, rank)
        return iter(())


class ThresherGlobalFilter(ThresherFilter):
    """Stage 3 of a global step: decides per document from what the reduce phases wrote."""

    name = "🌾 Thresher global filter"

    def __init__(
        self,
        step: dict[str, Any],
        work_dir: str,
        profile: str = "datatrove",
        batch_size: int = 1024,
        exclusion_writer: DiskWriter | None = None,
        signals_key: str | None = None,
    ) -> None:
        BaseFilter.__init__(self, exclusion_writer, batch_size)
        spec, _ = _global_step(step, profile)
        self.specs = [spec]
        self.work_dir = work_dir
        self.signals_key = signals_key
        self._chain = None
        self._rank = 0
        self._world_size = 1

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._rank, self._world_size = rank, world_size
        return super().run(data, rank, world_size)

    def _get_chain(self) -> StepChain:
        if self._chain is None:
            step = _build(self.specs[0])
            step.open(_context(self.work_dir, self._rank, self._world_size))
            self._chain = StepChain([step], "text")
        return self._chain


def global_step_stages(step: dict[str, Any], profile: str = "datatrove") -> list[tuple[str, int]]:
    """The reduce phases of a global step as (phase, tasks): one datatrove executor each, in order,
    between the map pipeline and the filter pipeline."""
    spec, _ = _global_step(step, profile)
    return list(_build(spec).reduce_phases())


def datatrove_input(folder: str, **extra: Any) -> dict[str, Any]:
    """The `input:` section reading a datatrove output folder: every `.parquet` and `.jsonl[.gz]`
    file below it (JsonlWriter's and ParquetWriter's layouts), text in `text`, ids in `id`, the
    `metadata` struct carried through to the output."""
    return {"paths": [folder], "format": "auto", "text_column": "text", "id_column": "id", **extra}
