"""How a pipeline becomes schedulable work: stages of independent tasks.

Steps are cut into segments at every global step. Segment k is a map over shards: it reads the
input (k = 0) or segment k-1's output, runs its steps, and writes its output; when a global step
follows, its `map_batch` sees the segment's kept rows. The global step's reduce is a stage of its
own per phase (e.g. one task per band, then one union-find). The next segment starts by applying the global step.

    segment 0 (map, one task per shard) -> G.<phase> (reduce tasks, per phase) -> segment 1 (map) ...

Every task writes its outputs atomically and then a completion marker; a task whose marker
exists is skipped on a rerun. Executors only ever see `Plan.stages` and task indices.

Output layout:
    OUT/data/<shard>.parquet          kept rows
    OUT/rejected/<shard>[.sK].parquet dropped rows with drop_reason (segment K > 0 adds .sK)
    OUT/stats.json                    merged counts
    OUT/_thresher/                    pipeline fingerprint, markers, intermediate files, tmp
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from thresher.chain import DROP_REASON, INPUT_STEP, StepChain, StepCounts
from thresher.config import PipelineConfig, parse_pipeline
from thresher.io.readers import InputError, Shard, ShardReader, discover_shards, filesystem_for, text_bytes
from thresher.io.writers import AtomicParquetWriter, read_json, write_json_atomic
from thresher.steps.base import GlobalStep, Step, StepContext
from thresher.steps.registry import get_step_class

Progress = Callable[[int, int], None]  # (rows, text bytes) processed since the last call


class PipelineChanged(RuntimeError):
    """The output directory was made by a different pipeline; mixing outputs would be wrong."""


class TaskFailed(RuntimeError):
    pass


@dataclass
class Segment:
    index: int
    steps: list[int]  # indices into config.specs
    applies: int | None  # index of the global step applied first (its decide), or None
    feeds: int | None  # index of the global step whose map runs on this segment's output


@dataclass
class Stage:
    name: str
    kind: str  # "map" or "reduce"
    num_tasks: int
    segment: int | None = None
    step: int | None = None  # global step index for reduce stages
    phase: str | None = None  # reduce phase name of that step

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "tasks": self.num_tasks}


def build_steps(config: PipelineConfig) -> list[Step]:
    return [get_step_class(s.type)(s.name, s.params) for s in config.specs]


def plan_segments(steps: list[Step]) -> list[Segment]:
    segments: list[Segment] = []
    current: list[int] = []
    applies: int | None = None
    for i, step in enumerate(steps):
        if step.is_global:
            segments.append(Segment(len(segments), current, applies, feeds=i))
            current, applies = [], i
        else:
            current.append(i)
    segments.append(Segment(len(segments), current, applies, feeds=None))
    return segments


@dataclass
class Plan:
    """A pipeline bound to an input listing and an output directory."""

    config: PipelineConfig
    shards: list[Shard]
    steps: list[Step] = field(init=False)
    segments: list[Segment] = field(init=False)
    stages: list[Stage] = field(init=False)

    def __post_init__(self) -> None:
        self.steps = build_steps(self.config)
        self.segments = plan_segments(self.steps)
        self.fs, self.root = filesystem_for(self.config.output.path)
        self.stages = []
        for seg in self.segments:
            self.stages.append(Stage(f"segment{seg.index}", "map", len(self.shards), segment=seg.index))
            if seg.feeds is not None:
                g = self.steps[seg.feeds]
                assert isinstance(g, GlobalStep)
                for phase, num_tasks in g.reduce_phases_for(len(self.shards)):
                    self.stages.append(Stage(f"{g.name}.{phase}", "reduce", num_tasks, step=seg.feeds, phase=phase))

    @classmethod
    def create(cls, config: PipelineConfig) -> Plan:
        return cls(config, discover_shards(config.input))

    # -- paths ------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    @property
    def tmp_dir(self) -> str:
        return self.path("_thresher", "tmp")

    def marker_path(self, stage: Stage, task: int) -> str:
        return self.path("_thresher", "markers", stage.name, f"{task:05d}.json")

    def step_work_dir(self, step: Step) -> str:
        return self.path("_thresher", "work", "steps", step.name)

    def segment_output(self, segment: Segment, shard: Shard) -> str:
        if segment.feeds is None:
            return self.path("data", f"{shard.name}.parquet")
        return self.path("_thresher", "work", f"segment{segment.index}", f"{shard.name}.parquet")

    def rejected_output(self, segment: Segment, shard: Shard) -> str:
        suffix = "" if segment.index == 0 else f".s{segment.index}"
        return self.path("rejected", f"{shard.name}{suffix}.parquet")

    # -- state ------------------------------------------------------------------------------
    def is_done(self, stage: Stage, task: int) -> bool:
        return self.fs.get_file_info(self.marker_path(stage, task)).type == pafs.FileType.File

    def pending_tasks(self, stage: Stage) -> list[int]:
        return [t for t in range(stage.num_tasks) if not self.is_done(stage, t)]

    def manifest(self) -> dict[str, Any]:
        return {
            "fingerprint": self.config.fingerprint(),
            "pipeline": self.config.model_dump(mode="json"),
            "shards": [s.uri for s in self.shards],
            "stages": [s.describe() for s in self.stages],
        }

    def prepare_output(self, force: bool = False) -> None:
        """Checks the output belongs to this pipeline (or clears it with force), then records it."""
        manifest_path = self.path("_thresher", "pipeline.json")
        exists = self.fs.get_file_info(manifest_path).type == pafs.FileType.File
        if exists and force:
            for sub in ("_thresher", "data", "rejected"):
                _delete_dir(self.fs, self.path(sub))
            for name in ("stats.json",):
                _delete_file(self.fs, self.path(name))
            exists = False
        if exists:
            previous = read_json(self.fs, manifest_path)
            mine = self.manifest()
            if previous.get("fingerprint") != mine["fingerprint"] or previous.get("shards") != mine["shards"]:
                changes = describe_changes(previous, mine)
                raise PipelineChanged(
                    f"{self.config.output.path} holds output of a different pipeline or input "
                    f"({'; '.join(changes)}). Use --force to start over, or another output path."
                )
        _delete_dir(self.fs, self.tmp_dir)  # temporary files of interrupted runs
        write_json_atomic(self.fs, manifest_path, self.tmp_dir, self.manifest())

    # -- tasks ------------------------------------------------------------------------------
    def run_task(self, stage: Stage, task: int, progress: Progress | None = None) -> dict[str, Any]:
        if stage.kind == "map":
            result = self._run_map(self.segments[stage.segment], self.shards[task], progress)
        else:
            result = self._run_reduce(self.steps[stage.step], stage.phase, task)
        write_json_atomic(self.fs, self.marker_path(stage, task), self.tmp_dir, result)
        return result

    def _context(self, step: Step, shard: Shard | None = None) -> StepContext:
        work = self.step_work_dir(step)
        self.fs.create_dir(work, recursive=True)
        return StepContext(
            work_dir=_local_path(self.fs, work),
            shard_index=shard.index if shard else None,
            shard_name=shard.name if shard else None,
            num_shards=len(self.shards),
            text_column=self.config.input.text_column,
            id_column=self.config.input.id_column or "id",
            output_dir=_local_path(self.fs, self.root),
        )

    def _run_reduce(self, step: Step, phase: str, task: int) -> dict[str, Any]:
        assert isinstance(step, GlobalStep)
        started = time.time()
        step.reduce(self._context(step), phase, task)
        return {"stage": f"{step.name}.{phase}", "task": task, "seconds": round(time.time() - started, 3)}

    def _source(self, segment: Segment, shard: Shard) -> ShardReader:
        if segment.index == 0:
            return ShardReader(shard, self.config.input)
        previous = self.segments[segment.index - 1]
        path = self.segment_output(previous, shard)
        work_shard = Shard(shard.index, path, path, shard.name, "parquet")
        cfg = self.config.input.model_copy(update={"columns": None})
        return ShardReader(work_shard, cfg, self.fs)

    def _run_map(self, segment: Segment, shard: Shard, progress: Progress | None) -> dict[str, Any]:
        started = time.time()
        out = self.config.output
        steps = [self.steps[i] for i in segment.steps]
        if segment.applies is not None:
            steps.insert(0, self.steps[segment.applies])
        feeds = self.steps[segment.feeds] if segment.feeds is not None else None
        chain = StepChain(
            steps,
            self.config.input.text_column,
            validate_input=segment.index == 0,
            max_document_bytes=self.config.input.max_document_bytes,
        )
        final = segment.feeds is None
        signal_names = {f.name for s in self.steps for f in _prefixed_fields(s)}
        data_writer = AtomicParquetWriter(
            self.fs,
            self.segment_output(segment, shard),
            self.tmp_dir,
            compression=out.compression if final else "zstd",
            compression_level=out.compression_level if final else 1,
            row_group_bytes=out.row_group_bytes,
        )
        rejected_writer = (
            AtomicParquetWriter(
                self.fs,
                self.rejected_output(segment, shard),
                self.tmp_dir,
                compression=out.compression,
                compression_level=out.compression_level,
                row_group_bytes=out.row_group_bytes,
                write_empty=False,
            )
            if out.rejected
            else None
        )
        counts: dict[str, StepCounts] = {}
        rows_read = 0
        reader = self._source(segment, shard)
        try:
            for step in steps:
                step.open(self._context(step, shard))
            if feeds is not None:
                assert isinstance(feeds, GlobalStep)
                feeds.map_start(self._context(feeds, shard))
            for read in reader:
                batch = read.batch
                rows_read += batch.num_rows
                result = chain.run(batch)
                for name, c in result.counts.items():
                    counts.setdefault(name, StepCounts()).add(c)
                kept = result.kept
                if feeds is not None and kept.num_rows:
                    feeds.map_batch(self._context(feeds, shard), kept.column(chain.text_column), kept)
                if final and not out.keep_signals:
                    kept = kept.drop_columns([n for n in kept.schema.names if n in signal_names])
                data_writer.write(kept)
                if rejected_writer is not None:
                    for dropped in result.rejected:
                        if rejected_writer.schema is None:
                            rejected_writer.schema = _rejected_schema(dropped, chain)
                        rejected_writer.write(dropped)
                if progress is not None:
                    progress(batch.num_rows, text_bytes(batch.column(chain.text_column)))
            if rows_read == 0 and data_writer.schema is None:
                data_writer.schema = reader.empty_schema()
                if final and not out.keep_signals and data_writer.schema is not None:
                    keep_fields = [f for f in data_writer.schema if f.name not in signal_names]
                    data_writer.schema = pa.schema(keep_fields)
            if feeds is not None:
                assert isinstance(feeds, GlobalStep)
                feeds.map_finish(self._context(feeds, shard))
            for step in steps:
                step.close()
            result_doc = self._map_result(segment, shard, chain, steps, counts, rows_read, data_writer.rows)
            data_writer.commit()
            if rejected_writer is not None:
                rejected_writer.commit()
        except BaseException:
            data_writer.abort()
            if rejected_writer is not None:
                rejected_writer.abort()
            raise
        result_doc["seconds"] = round(time.time() - started, 3)
        return result_doc

    def _map_result(
        self,
        segment: Segment,
        shard: Shard,
        chain: StepChain,
        steps: list[Step],
        counts: dict[str, StepCounts],
        rows_read: int,
        rows_written: int,
    ) -> dict[str, Any]:
        where = f"shard {shard.uri}, segment {segment.index}"
        expected_in = rows_read
        ordered: list[tuple[str, StepCounts]] = []
        if chain.validate_input:
            ordered.append((INPUT_STEP, counts.get(INPUT_STEP, StepCounts())))
        ordered += [(s.name, counts.get(s.name, StepCounts())) for s in steps]
        for name, c in ordered:
            c.check(f"{where}, step {name!r}")
            if c.rows_in != expected_in:
                raise AssertionError(
                    f"{where}, step {name!r}: received {c.rows_in} rows but the previous step kept {expected_in}"
                )
            expected_in = c.rows_out
        if rows_written != expected_in:
            raise AssertionError(f"{where}: wrote {rows_written} rows but the last step kept {expected_in}")
        return {
            "stage": f"segment{segment.index}",
            "shard": shard.name,
            "source": shard.uri,
            "rows_read": rows_read,
            "rows_written": rows_written,
            "steps": {name: c.to_json() for name, c in ordered},
        }

    # -- stats ------------------------------------------------------------------------------
    def merge_stats(self) -> dict[str, Any]:
        """Sums every finished map task's counts into stats.json and checks they add up."""
        per_step: dict[str, StepCounts] = {}
        shards: dict[str, dict[str, int]] = {}
        input_rows = output_rows = 0
        for seg in self.segments:
            stage = next(s for s in self.stages if s.segment == seg.index and s.kind == "map")
            for task in range(stage.num_tasks):
                doc = read_json(self.fs, self.marker_path(stage, task))
                for name, c in doc["steps"].items():
                    per_step.setdefault(name, StepCounts()).add(StepCounts.from_json(c))
                shard = shards.setdefault(doc["shard"], {"input_rows": 0, "output_rows": 0})
                if seg.index == 0:
                    input_rows += doc["rows_read"]
                    shard["input_rows"] = doc["rows_read"]
                if seg.feeds is None:
                    output_rows += doc["rows_written"]
                    shard["output_rows"] = doc["rows_written"]
        steps_out = []
        for step in self.steps:
            c = per_step.get(step.name, StepCounts())
            steps_out.append({"name": step.name, "type": step.type, **c.to_json()})
            if isinstance(step, GlobalStep) and (summary := step.summary(self._context(step))):
                steps_out[-1]["summary"] = summary
        validation = per_step.get(INPUT_STEP, StepCounts())
        dropped_total = sum(validation.rows_dropped.values()) + sum(sum(s["rows_dropped"].values()) for s in steps_out)
        added_total = sum(s.get("rows_added", 0) for s in steps_out)  # copies made by repeating steps (mix)
        if input_rows + added_total != output_rows + dropped_total:
            raise AssertionError(
                f"stats do not add up: {input_rows} input rows + {added_total} repeated != "
                f"{output_rows} output + {dropped_total} dropped"
            )
        stats = {
            "input_rows": input_rows,
            "output_rows": output_rows,
            "dropped_rows": dropped_total,
            **({"added_rows": added_total} if added_total else {}),
            "input_validation": validation.to_json(),
            "steps": steps_out,
            "shards": shards,
            "fingerprint": self.config.fingerprint(),
        }
        write_json_atomic(self.fs, self.path("stats.json"), self.tmp_dir, stats)
        return stats

    def reload(self) -> Plan:
        """A fresh Plan from the same config (used by worker processes)."""
        return Plan(parse_pipeline(self.config.model_dump(mode="json")), self.shards)


def _prefixed_fields(step: Step) -> list[pa.Field]:
    return [pa.field(step.signal_column(f.name), f.type) for f in step.signal_fields()]


def _rejected_schema(first: pa.RecordBatch, chain: StepChain) -> pa.Schema:
    """Input columns, drop_reason, then every signal of the segment (null where not computed)."""
    signal_fields = chain.signal_columns()
    signal_names = {f.name for f in signal_fields}
    fields = [f for f in first.schema if f.name not in signal_names and f.name != DROP_REASON]
    fields.append(pa.field(DROP_REASON, pa.string()))
    fields += signal_fields
    return pa.schema(fields)


def describe_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    changes = []
    if previous.get("shards") != current.get("shards"):
        before, after = len(previous.get("shards", [])), len(current["shards"])
        changes.append(f"input shards changed ({before} before, {after} now)")
    old, new = previous.get("pipeline", {}), current["pipeline"]
    for key in sorted(set(old) | set(new)):
        if key == "executor":
            continue
        if key == "steps":
            old_steps, new_steps = old.get("steps", []), new.get("steps", [])
            if len(old_steps) != len(new_steps):
                changes.append(f"steps: {len(old_steps)} before, {len(new_steps)} now")
            for i, (a, b) in enumerate(zip(old_steps, new_steps, strict=False)):
                for k in sorted(set(a) | set(b)):
                    if a.get(k) != b.get(k):
                        changes.append(f"steps[{i}].{k}: {json.dumps(a.get(k))} -> {json.dumps(b.get(k))}")
        elif old.get(key) != new.get(key):
            if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
                for k in sorted(set(old[key]) | set(new[key])):
                    if old[key].get(k) != new[key].get(k):
                        changes.append(f"{key}.{k}: {json.dumps(old[key].get(k))} -> {json.dumps(new[key].get(k))}")
            else:
                changes.append(f"{key}: {json.dumps(old.get(key))} -> {json.dumps(new.get(key))}")
    return changes or ["fingerprint differs"]


def _local_path(fs: pafs.FileSystem, path: str):
    from pathlib import Path

    if not isinstance(fs, pafs.LocalFileSystem):
        raise InputError(f"{path}: global steps keep intermediate files on a local or shared filesystem")
    return Path(path)


def _delete_dir(fs: pafs.FileSystem, path: str) -> None:
    if isinstance(fs, pafs.LocalFileSystem):
        shutil.rmtree(path, ignore_errors=True)
        return
    try:
        fs.delete_dir(path)
    except (FileNotFoundError, OSError):
        pass


def _delete_file(fs: pafs.FileSystem, path: str) -> None:
    try:
        fs.delete_file(path)
    except (FileNotFoundError, OSError):
        pass
