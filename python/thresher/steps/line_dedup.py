"""`line_dedup`: remove lines repeated across the corpus (menus, cookie banners, footers).

Llama 3 removed lines appearing more than 6 times in each bucket of 30M documents. Here a line is
counted once per document that contains it (after normalisation: lowercase, punctuation dropped,
whitespace collapsed; digits made 0 with `digits_to_zero`, as CCNet), over the whole corpus reaching
the step, and
removed where its count exceeds

    threshold = max_count * max(1, documents / per_documents)       (scale_with_corpus: true)

so the rule means the same on a small corpus as on a 30M-document bucket. Documents that lost
lines and are left with fewer than `min_remaining_chars` characters are dropped.

Stages (each a set of independent tasks):
  map      per shard: distinct line hashes per document, counted, split into hash partitions
           (work_dir/map/<shard>.{hashes,counts,offsets}.npy + .json)
  count    per partition: sum the counts of every shard, keep hashes over the threshold
  collect  one task: merge the partitions into remove.npy and summary.json (threshold, top lines)
  apply    per shard: rewrite documents without those lines (Decision.text)
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from thresher import _core
from thresher.steps.base import Decision, GlobalStep, StepContext, StepParams
from thresher.steps.registry import register_step

_COMPACT_AT = 4_000_000  # hashes buffered before counting them down


class LineDedupParams(StepParams):
    max_count: int = Field(6, ge=1, description="Lines in more documents than this (per `per_documents`) are removed")
    per_documents: int = Field(30_000_000, ge=1, description="Corpus size the count refers to (Llama 3: 30M)")
    scale_with_corpus: bool = Field(
        True, description="Scale the threshold by documents / per_documents when the corpus is larger"
    )
    min_remaining_chars: int = Field(
        300, ge=0, description="Documents that lost lines and keep fewer characters are dropped (CCNet: 300)"
    )
    digits_to_zero: bool = Field(
        False, description="Count lines equal up to their digits as one (CCNet); merges dates but also answers"
    )
    partitions: int = Field(16, ge=1, le=4096, description="Hash partitions: tasks of the count stage")
    top_lines: int = Field(50, ge=0, description="Most frequent removed lines kept for the report")


def merge_counts(hashes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums the counts of equal hashes; returns sorted distinct hashes and their totals."""
    if len(hashes) == 0:
        return hashes.astype(np.uint64), counts.astype(np.uint64)
    order = np.argsort(hashes, kind="stable")
    hashes, counts = hashes[order], counts[order]
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1])))
    return hashes[starts], np.add.reduceat(counts.astype(np.uint64), starts)


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, array)
    os.replace(tmp, path)


def _save_json(path: Path, doc: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


def corpus_threshold(params: LineDedupParams, documents: int) -> float:
    if not params.scale_with_corpus:
        return float(params.max_count)
    return params.max_count * max(1.0, documents / params.per_documents)


@register_step
class LineDedup(GlobalStep):
    """Removes lines repeated in more documents than a corpus-size-scaled threshold; drops documents left short."""

    type = "line_dedup"
    Params = LineDedupParams
    params: LineDedupParams

    def __init__(self, name: str, params: StepParams) -> None:
        super().__init__(name, params)
        self._remove: pa.Array | None = None
        self._new_text: pa.Array | None = None
        self._report: dict[str, Any] | None = None

    def signal_fields(self) -> list[pa.Field]:
        return [
            pa.field("lines", pa.uint32()),
            pa.field("removed_lines", pa.uint32()),
            pa.field("removed_bytes", pa.uint64()),
            pa.field("remaining_chars", pa.uint64()),
        ]

    def reasons(self) -> list[str]:
        return ["too_short_after_line_dedup"]

    def reduce_phases(self) -> list[tuple[str, int]]:
        return [("count", self.params.partitions), ("collect", 1)]

    # -- map: hash lines per shard ----------------------------------------------------------
    def map_start(self, context: StepContext) -> None:
        self._pending: list[np.ndarray] = []
        self._pending_size = 0
        self._hashes = np.empty(0, np.uint64)
        self._counts = np.empty(0, np.uint64)
        self._documents = 0

    def _compact(self) -> None:
        if not self._pending:
            return
        fresh = np.concatenate(self._pending)
        self._pending, self._pending_size = [], 0
        self._hashes, self._counts = merge_counts(
            np.concatenate([self._hashes, fresh]),
            np.concatenate([self._counts, np.ones(len(fresh), np.uint64)]),
        )

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        self._documents += len(text) - text.null_count
        hashes = _core.line_hashes(text, self.params.digits_to_zero).to_numpy(zero_copy_only=False)
        self._pending.append(hashes)
        self._pending_size += len(hashes)
        if self._pending_size >= _COMPACT_AT:
            self._compact()

    def map_finish(self, context: StepContext) -> None:
        self._compact()
        parts = (self._hashes % np.uint64(self.params.partitions)).astype(np.int64)
        order = np.argsort(parts, kind="stable")  # stays sorted by hash within a partition
        offsets = np.searchsorted(parts[order], np.arange(self.params.partitions + 1)).astype(np.int64)
        out = Path(context.work_dir) / "map"
        out.mkdir(parents=True, exist_ok=True)
        stem = context.shard_name
        _save_npy(out / f"{stem}.hashes.npy", self._hashes[order])
        _save_npy(out / f"{stem}.counts.npy", self._counts[order].astype(np.uint32))
        _save_npy(out / f"{stem}.offsets.npy", offsets)
        _save_json(out / f"{stem}.json", {"documents": self._documents, "distinct_lines": int(len(self._hashes))})
        self._hashes = self._counts = np.empty(0, np.uint64)

    # -- reduce: count per partition, then collect -----------------------------------------
    def _map_outputs(self, context: StepContext) -> list[Path]:
        found = sorted((Path(context.work_dir) / "map").glob("*.json"))
        if len(found) != context.num_shards:
            raise RuntimeError(
                f"line_dedup {self.name!r}: {len(found)} map outputs for {context.num_shards} shards; "
                "rerun the map stage first"
            )
        return found

    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        work = Path(context.work_dir)
        if phase == "count":
            self._reduce_count(work, context, task)
        elif phase == "collect":
            self._reduce_collect(work, context)
        else:
            raise ValueError(f"unknown reduce phase {phase!r}")

    def _reduce_count(self, work: Path, context: StepContext, partition: int) -> None:
        documents = 0
        hashes, counts = [], []
        for meta in self._map_outputs(context):
            stem = meta.name.removesuffix(".json")
            documents += json.loads(meta.read_text())["documents"]
            offsets = np.load(meta.with_name(f"{stem}.offsets.npy"))
            lo, hi = int(offsets[partition]), int(offsets[partition + 1])
            hashes.append(np.load(meta.with_name(f"{stem}.hashes.npy"), mmap_mode="r")[lo:hi])
            counts.append(np.load(meta.with_name(f"{stem}.counts.npy"), mmap_mode="r")[lo:hi])
        merged, totals = merge_counts(
            np.concatenate(hashes) if hashes else np.empty(0, np.uint64),
            np.concatenate(counts) if counts else np.empty(0, np.uint64),
        )
        threshold = corpus_threshold(self.params, documents)
        over = totals > threshold
        out = work / "count"
        out.mkdir(parents=True, exist_ok=True)
        _save_npy(out / f"p{partition:05d}.hashes.npy", merged[over])
        _save_npy(out / f"p{partition:05d}.counts.npy", totals[over])
        _save_json(
            out / f"p{partition:05d}.json",
            {
                "documents": documents,
                "threshold": threshold,
                "distinct_lines": int(len(merged)),
                "removed_distinct_lines": int(over.sum()),
                "removed_line_occurrences": int(totals[over].sum()),
                "lines_in_one_document": int((totals == 1).sum()),
            },
        )

    def _reduce_collect(self, work: Path, context: StepContext) -> None:
        parts = [work / "count" / f"p{p:05d}" for p in range(self.params.partitions)]
        metas = [json.loads(p.with_suffix(".json").read_text()) for p in parts]
        hashes = np.concatenate([np.load(f"{p}.hashes.npy") for p in parts])
        counts = np.concatenate([np.load(f"{p}.counts.npy") for p in parts])
        order = np.argsort(hashes)
        _save_npy(work / "remove.npy", hashes[order])
        top = np.argsort(-counts.astype(np.int64), kind="stable")[: self.params.top_lines]
        summary = {
            "documents": metas[0]["documents"] if metas else 0,
            "threshold": metas[0]["threshold"] if metas else corpus_threshold(self.params, 0),
            "distinct_lines": sum(m["distinct_lines"] for m in metas),
            "lines_in_one_document": sum(m["lines_in_one_document"] for m in metas),
            "removed_distinct_lines": sum(m["removed_distinct_lines"] for m in metas),
            "removed_line_occurrences": sum(m["removed_line_occurrences"] for m in metas),
            "top": [[f"{int(hashes[i]):016x}", int(counts[i])] for i in top],
        }
        _save_json(work / "summary.json", summary)

    # -- apply -------------------------------------------------------------------------------
    def open(self, context: StepContext) -> None:
        work = Path(context.work_dir)
        self._context = context
        self._remove = pa.array(np.load(work / "remove.npy"), pa.uint64())
        self._summary = json.loads((work / "summary.json").read_text())
        self._wanted = sorted(int(h, 16) for h, _ in self._summary["top"])
        self._report = {
            "documents": 0,
            "lines": 0,
            "removed_lines": 0,
            "removed_bytes": 0,
            "documents_changed": 0,
            "documents_dropped": 0,
            "samples": {},
        }

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self._remove is None:
            raise RuntimeError(f"line_dedup {self.name!r}: open() was not called (run it as a pipeline stage)")
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        samples = self._report["samples"] if self._report is not None else {}
        wanted = pa.array([h for h in self._wanted if f"{h:016x}" not in samples], pa.uint64())
        out, hashes, lines = _core.line_dedup_apply(text, self._remove, wanted, self.params.digits_to_zero)
        for h, line in zip(hashes.to_pylist(), lines.to_pylist(), strict=True):
            samples.setdefault(f"{h:016x}", line)
        new_text = out.column("text")
        self._new_text = new_text if new_text.type == text.type else new_text.cast(text.type)
        return out.drop_columns(["text"])

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        removed = signals.column("removed_lines")
        changed = pc.fill_null(pc.greater(removed, 0), False)
        short = pc.fill_null(pc.less(signals.column("remaining_chars"), self.params.min_remaining_chars), False)
        dropped = pc.and_(changed, short)
        reason = pc.if_else(dropped, pa.scalar("too_short_after_line_dedup"), pa.nulls(signals.num_rows, pa.string()))
        if self._report is not None:
            r = self._report
            r["documents"] += signals.num_rows
            r["lines"] += pc.sum(signals.column("lines")).as_py() or 0
            r["removed_lines"] += pc.sum(removed).as_py() or 0
            r["removed_bytes"] += pc.sum(signals.column("removed_bytes")).as_py() or 0
            r["documents_changed"] += pc.sum(changed.cast(pa.int64())).as_py() or 0
            r["documents_dropped"] += pc.sum(dropped.cast(pa.int64())).as_py() or 0
        text, self._new_text = self._new_text, None
        return Decision(keep=pc.invert(dropped), reason=reason, text=text)

    def close(self) -> None:
        from thresher.contamination_report import write_line_dedup_part

        if self._report is not None and getattr(self, "_context", None) is not None:
            if self._context.shard_name is not None:
                write_line_dedup_part(self, self._context, self._report)
        self._report = None
        self._remove = None
