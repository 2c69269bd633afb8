"""`decontaminate`: keep evaluation sets out of the training mix with a shared word n-gram index.

Every evaluation item (one row of an eval file; one text column, or several joined such as
question + answer + choices) is normalised (lowercase, punctuation as spaces, whitespace collapsed)
and cut into word n-grams (n = 13 as GPT-3 and datatrove by default, 8 as Llama 3). The distinct
n-gram hashes of all items go into one index file, built once by whichever task gets there first
(others wait on a lock) and memory-mapped by every worker.

A document *contains* an item when it shares at least `min_matched_ngrams` of the item's n-grams,
or at least `min_item_fraction` of them. Signals:

    matched_ngrams      distinct n-grams of the document found in the index (any item)
    best_item_ngrams    n-grams shared with the item sharing the most
    max_item_fraction   largest shared fraction of one item's n-grams
    eval_set            evaluation set of that best item (null when nothing matched)
    matched_items       ids of the items the document contains (most shared first)

With `action: flag` nothing is dropped: a `<step>.contaminated` column marks the documents, and
the contamination report (`filter contamination-report OUT`) says which items were found where.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from thresher import _core
from thresher.config import InputConfig
from thresher.io.readers import InputError, discover_shards
from thresher.steps.base import Decision, Step, StepContext, StepParams, ThresholdRule, decide_by_rules
from thresher.steps.registry import register_step

_ITEM_FIELDS = [pa.field("eval_set", pa.string()), pa.field("item_id", pa.string()), pa.field("text", pa.string())]
LOADED_ITEMS_SCHEMA = pa.schema(_ITEM_FIELDS)
ITEMS_SCHEMA = pa.schema([*_ITEM_FIELDS, pa.field("ngrams", pa.uint32())])  # plus distinct n-grams per item


class EvalSet(BaseModel):
    """One evaluation set: files, the columns that make an item's text, and optional row filters."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, description="Name in signals and reports; the first file's stem when unset")
    paths: list[str] = Field(min_length=1, description="Parquet/JSONL files, globs or directories")
    format: Literal["auto", "parquet", "jsonl"] = "auto"
    text_columns: list[str] = Field(
        default_factory=lambda: ["text"],
        min_length=1,
        description="Columns joined with newlines into an item's text (list columns are joined first)",
    )
    id_column: str | None = Field("id", description="Item ids; '<set>/<row>' when unset or absent")
    where: dict[str, str] = Field(
        default_factory=dict, description="column: regular expression a row's value must contain to be an item"
    )

    def display_name(self) -> str:
        if self.name:
            return self.name
        stem = Path(self.paths[0]).name
        for suffix in (".gz", ".zst", ".zstd", ".parquet", ".pq", ".jsonl", ".ndjson", ".json"):
            stem = stem.removesuffix(suffix)
        return stem.replace("*", "") or "eval"


class DecontaminateParams(StepParams):
    eval_sets: list[EvalSet] = Field([], description="Evaluation sets to keep out of the corpus")
    n: int = Field(13, ge=1, le=1024, description="Words per n-gram (13 as GPT-3 and datatrove, 8 as Llama 3)")
    min_matched_ngrams: int | None = Field(
        1, ge=1, description="A document contains an item when it shares at least this many of the item's n-grams"
    )
    min_item_fraction: float | None = Field(
        None, gt=0.0, le=1.0, description="...or at least this fraction of the item's n-grams"
    )
    action: Literal["drop", "flag"] = Field("drop", description="flag: keep every row, mark `<step>.contaminated`")
    index_dir: str | None = Field(None, description="Where the index is built and cached; the step's work dir if unset")
    max_listed_items: int = Field(10, ge=1, description="At most this many matched item ids per document")
    report_examples: int = Field(5, ge=0, description="Side-by-side examples per evaluation set in the report")

    @model_validator(mode="after")
    def _one_rule(self) -> DecontaminateParams:
        if self.min_matched_ngrams is None and self.min_item_fraction is None:
            raise ValueError("set min_matched_ngrams or min_item_fraction (or both)")
        names = [s.display_name() for s in self.eval_sets]
        if len(set(names)) != len(names):
            raise ValueError(f"evaluation set names must be distinct, got {names}; give each a `name:`")
        return self


# -- evaluation items --------------------------------------------------------------------------
def _read_file(path: str, fmt: str) -> pa.Table:
    try:
        if fmt == "parquet":
            return pq.read_table(path)
        with pa.input_stream(path, compression="detect") as stream:
            return pajson.read_json(stream)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(f"{path}: cannot read evaluation set: {err}") from None


def _as_text(column: pa.ChunkedArray, where: str) -> pa.ChunkedArray:
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        column = pc.binary_join(column.cast(pa.list_(pa.string())), "\n")
    try:
        return pc.fill_null(column.cast(pa.string()), "")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise InputError(f"{where}: cannot use column of type {column.type} as text: {err}") from None


def load_eval_items(spec: EvalSet) -> pa.Table:
    """The items of one evaluation set: eval_set, item_id and joined text, in file order."""
    name = spec.display_name()
    shards = discover_shards(InputConfig(paths=spec.paths, format=spec.format))
    tables = []
    row_base = 0
    for shard in shards:
        table = _read_file(shard.path, shard.format)
        for column, pattern in spec.where.items():
            if column not in table.column_names:
                raise InputError(f"{shard.uri}: eval set {name!r}: `where` names missing column {column!r}")
            values = table.column(column).cast(pa.string())
            table = table.filter(pc.fill_null(pc.match_substring_regex(values, pattern), False))
        missing = [c for c in spec.text_columns if c not in table.column_names]
        if missing:
            raise InputError(
                f"{shard.uri}: eval set {name!r}: no column {missing[0]!r} (columns: {table.column_names})"
            )
        parts = [_as_text(table.column(c), f"{shard.uri}: column {c!r}") for c in spec.text_columns]
        text = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\n")
        if spec.id_column and spec.id_column in table.column_names:
            ids = table.column(spec.id_column).cast(pa.string())
        else:
            ids = pa.array([f"{name}/{row_base + i}" for i in range(table.num_rows)], pa.string())
        row_base += table.num_rows
        tables.append(
            pa.table(
                {
                    "eval_set": pa.array([name] * table.num_rows, pa.string()),
                    "item_id": ids,
                    "text": text,
                }
            )
        )
    if not tables:
        return LOADED_ITEMS_SCHEMA.empty_table()
    return pa.concat_tables(tables)


def index_fingerprint(params: DecontaminateParams) -> str:
    """Changes when the items or the n-gram size change (file sizes and mtimes stand in for content)."""
    files = []
    for spec in params.eval_sets:
        for shard in discover_shards(InputConfig(paths=spec.paths, format=spec.format)):
            st = os.stat(shard.path)
            files.append([shard.path, st.st_size, st.st_mtime_ns])
    doc = {
        "n": params.n,
        "sets": [s.model_dump(mode="json") for s in params.eval_sets],
        "files": files,
        "normalization": _core.NGRAM_NORMALIZATION_VERSION,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


@contextmanager
def _file_lock(path: Path):
    """An exclusive lock across processes (flock; best effort on filesystems without it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:
            pass  # no lock support: concurrent builders write identical files and rename atomically
        try:
            yield
        finally:
            try:
                fcntl.flock(handle, fcntl.LOCK_UN)
            except OSError:
                pass


def ensure_index(params: DecontaminateParams, index_dir: Path) -> tuple[Path, Path]:
    """Builds the index and its items table once; returns (index path, items path)."""
    fp = index_fingerprint(params)
    index_path = index_dir / f"ngrams-{fp}.idx"
    items_path = index_dir / f"ngrams-{fp}.items.parquet"
    if index_path.exists() and items_path.exists():
        return index_path, items_path
    with _file_lock(index_dir / f"ngrams-{fp}.lock"):
        if index_path.exists() and items_path.exists():
            return index_path, items_path
        tables = [load_eval_items(spec) for spec in params.eval_sets]
        items = pa.concat_tables(tables) if tables else LOADED_ITEMS_SCHEMA.empty_table()
        text = items.column("text").combine_chunks() if items.num_rows else pa.array([], pa.string())
        tmp_index = index_dir / f".ngrams-{fp}.{uuid.uuid4().hex}.tmp"
        tmp_items = index_dir / f".ngrams-{fp}.{uuid.uuid4().hex}.items.tmp"
        try:
            ngrams, _, _ = _core.ngram_index_build(text, params.n, str(tmp_index))
            items = items.append_column("ngrams", pa.chunked_array([ngrams], pa.uint32()))
            pq.write_table(items.cast(ITEMS_SCHEMA), tmp_items)
            os.replace(tmp_items, items_path)
            os.replace(tmp_index, index_path)  # last: its presence means both files are complete
        finally:
            for tmp in (tmp_index, tmp_items):
                tmp.unlink(missing_ok=True)
    return index_path, items_path


# -- the step ----------------------------------------------------------------------------------
@register_step
class Decontaminate(Step):
    """Drops (or flags) documents sharing word n-grams with evaluation-set items."""

    type = "decontaminate"
    Params = DecontaminateParams
    params: DecontaminateParams

    def __init__(self, name: str, params: StepParams) -> None:
        super().__init__(name, params)
        self._index: Any = None
        self._items: pa.Table | None = None
        self._report: ContaminationCollector | None = None
        self._context: StepContext | None = None

    def signal_fields(self) -> list[pa.Field]:
        return [
            pa.field("matched_ngrams", pa.uint32()),
            pa.field("best_item_ngrams", pa.uint32()),
            pa.field("max_item_fraction", pa.float64()),
            pa.field("eval_set", pa.string()),
            pa.field("matched_items", pa.list_(pa.string())),
        ]

    def rules(self) -> list[ThresholdRule]:
        p = self.params
        return [
            ThresholdRule("contaminated", "best_item_ngrams", "<", p.min_matched_ngrams),
            ThresholdRule("contaminated", "max_item_fraction", "<", p.min_item_fraction),
        ]

    def reasons(self) -> list[str]:
        return ["contaminated"] if self.params.action == "drop" else []

    @property
    def flag_column(self) -> str:
        return f"{self.name}.contaminated"

    # -- lifecycle --------------------------------------------------------------------------
    def open(self, context: StepContext) -> None:
        self._context = context
        self._load(Path(self.params.index_dir) if self.params.index_dir else Path(context.work_dir) / "index")
        if context.shard_name is not None:
            self._report = ContaminationCollector(self.params.report_examples)

    def _load(self, index_dir: Path) -> None:
        if self._index is not None:
            return
        index_path, items_path = ensure_index(self.params, index_dir)
        self._index = _core.NgramIndex(str(index_path))
        self._items = pq.read_table(items_path)
        self._items_path = items_path
        self._item_ids = self._items.column("item_id").combine_chunks()
        self._item_sets = self._items.column("eval_set").combine_chunks()

    def close(self) -> None:
        from thresher.contamination_report import write_contamination_part

        if self._report is not None and self._context is not None and self._context.shard_name is not None:
            write_contamination_part(self, self._context, self._report)
        self._report = None

    # -- work -------------------------------------------------------------------------------
    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self._index is None:  # used without a pipeline run (notebook API): cache in the temp dir
            self._load(Path(self.params.index_dir or Path(tempfile.gettempdir()) / "thresher-decontaminate"))
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        p = self.params
        scan = self._index.scan(text, p.min_matched_ngrams, p.min_item_fraction, p.max_listed_items)
        best = scan.column("best_item")
        eval_set = self._item_sets.take(best) if len(self._item_sets) else pa.nulls(len(best), pa.string())
        listed = scan.column("matched_items")
        ids = self._item_ids.take(listed.values) if len(self._item_ids) else pa.array([], pa.string())
        matched_items = pa.ListArray.from_arrays(listed.offsets, ids, mask=listed.is_null())
        signals = pa.RecordBatch.from_arrays(
            [
                scan.column("matched_ngrams"),
                scan.column("best_item_ngrams"),
                scan.column("max_item_fraction"),
                eval_set,
                matched_items,
            ],
            schema=pa.schema(self.signal_fields()),
        )
        if self._report is not None:
            contaminated = self._contaminated(signals)
            self._report.add(self, text, batch, scan, contaminated)
        return signals

    def _contaminated(self, signals: pa.RecordBatch) -> pa.BooleanArray:
        fails = [f for f in (r.failing(signals) for r in self.rules()) if f is not None]
        mask = fails[0]
        for other in fails[1:]:
            mask = pc.or_(mask, other)
        return mask

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        if self.params.action == "drop":
            return decide_by_rules(self.rules(), signals)
        contaminated = self._contaminated(signals)
        n = signals.num_rows
        return Decision(
            keep=pa.array(np.ones(n, dtype=bool)),
            reason=pa.nulls(n, pa.string()),
            extra_columns={self.flag_column: contaminated},
        )


class ContaminationCollector:
    """Per-task tallies for the contamination report: documents per set, per item, and examples."""

    def __init__(self, examples_per_set: int) -> None:
        self.examples_per_set = examples_per_set
        self.documents = 0
        self.contaminated = 0
        self.set_documents: dict[str, int] = {}
        self.item_documents: dict[int, int] = {}
        self.examples: dict[str, list[dict[str, Any]]] = {}

    def add(
        self,
        step: Decontaminate,
        text: pa.Array,
        batch: pa.RecordBatch,
        scan: pa.RecordBatch,
        contaminated: pa.BooleanArray,
    ) -> None:
        self.documents += len(text)
        rows = np.flatnonzero(contaminated.to_numpy(zero_copy_only=False))
        if len(rows) == 0:
            return
        self.contaminated += len(rows)
        # Contaminated rows are rare: a little Python per row is fine here.
        picked = scan.take(pa.array(rows))
        texts = text.take(pa.array(rows)).to_pylist()
        id_column = step._context.id_column if step._context else "id"
        doc_ids = (
            batch.column(id_column).take(pa.array(rows)).to_pylist()
            if id_column in batch.schema.names
            else [None] * len(rows)
        )
        items = picked.column("matched_items").to_pylist()
        counts = picked.column("matched_item_ngrams").to_pylist()
        starts = picked.column("match_start").to_pylist()
        ends = picked.column("match_end").to_pylist()
        sets = step._item_sets
        item_ngrams = step._items.column("ngrams")
        for doc_text, doc_id, doc_items, doc_counts, start, end in zip(
            texts, doc_ids, items, counts, starts, ends, strict=True
        ):
            seen_sets: set[str] = set()
            for item, shared in zip(doc_items, doc_counts, strict=True):
                self.item_documents[item] = self.item_documents.get(item, 0) + 1
                set_name = sets[item].as_py()
                if set_name in seen_sets:
                    continue
                seen_sets.add(set_name)
                examples = self.examples.setdefault(set_name, [])
                if len(examples) < self.examples_per_set:
                    total = item_ngrams[item].as_py() or 1
                    examples.append(
                        {
                            "item": item,
                            "doc_id": doc_id,
                            "shard": step._context.shard_name if step._context else None,
                            "shared_ngrams": shared,
                            "item_fraction": round(shared / total, 4),
                            "excerpt": excerpt(doc_text, start, end),
                        }
                    )
            for set_name in seen_sets:
                self.set_documents[set_name] = self.set_documents.get(set_name, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "contaminated": self.contaminated,
            "set_documents": self.set_documents,
            "item_documents": {str(k): v for k, v in sorted(self.item_documents.items())},
            "examples": self.examples,
        }


_SPACES = re.compile(r"\s+")


def excerpt(text: str, start: int | None, end: int | None, context: int = 200, limit: int = 1200) -> str:
    """The matched region of a document (byte offsets) with some context, whitespace collapsed."""
    raw = text.encode("utf-8")
    if start is None or end is None:
        start, end = 0, min(len(raw), limit)
    lo, hi = max(0, start - context), min(len(raw), end + context)
    if hi - lo > limit:
        hi = lo + limit
    body = raw[lo:hi].decode("utf-8", errors="ignore")
    return ("…" if lo > 0 else "") + _SPACES.sub(" ", body).strip() + ("…" if hi < len(raw) else "")
