"""Measuring a corpus per language: the map side writes one small table per shard (one row per
document: position, language, characters, tokens); the reduce side sums them into the counts
table the mixer reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thresher.tokens import TokenCounter

DOCS_SCHEMA = pa.schema(
    [
        pa.field("position", pa.uint64()),
        pa.field("language", pa.string()),
        pa.field("chars", pa.int64()),
        pa.field("tokens", pa.float64()),
    ]
)
COUNTS_SCHEMA = pa.schema(
    [
        pa.field("language", pa.string()),
        pa.field("docs", pa.int64()),
        pa.field("chars", pa.int64()),
        pa.field("tokens", pa.float64()),
    ]
)


MISSING_KEY = b"rows_without_language_column"


def language_labels(batch: pa.RecordBatch, column: str, null_language: str) -> pa.Array | None:
    """The language of each row as strings (null -> `null_language`); None when the column is absent."""
    index = batch.schema.get_field_index(column)
    if index < 0:
        return None
    values = batch.column(index)
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    return pc.fill_null(values, null_language).cast(pa.string())


class ShardCounter:
    """Collects one shard's per-document rows and writes them once, atomically."""

    def __init__(self, counter: TokenCounter, column: str, null_language: str) -> None:
        self.counter = counter
        self.column = column
        self.null_language = null_language
        self.batches: list[pa.RecordBatch] = []
        self.rows = 0
        self.without_column = 0  # rows that reached the step without the language column

    def add(self, text: pa.Array, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        languages = language_labels(batch, self.column, self.null_language)
        if languages is None:
            # Counted, not lost: they form the `null_language` group, and the counts say why.
            languages = pa.array([self.null_language] * n, pa.string())
            self.without_column += n
        chars = pc.fill_null(pc.utf8_length(text), 0).cast(pa.int64())
        tokens = pa.array(self.counter.count(text), pa.float64())
        positions = pa.array(np.arange(self.rows, self.rows + n, dtype=np.uint64))
        self.batches.append(pa.RecordBatch.from_arrays([positions, languages, chars, tokens], schema=DOCS_SCHEMA))
        self.rows += n

    def write(self, path: Path) -> None:
        table = pa.Table.from_batches(self.batches, schema=DOCS_SCHEMA)
        table = table.replace_schema_metadata({MISSING_KEY: str(self.without_column).encode()})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)


def shard_docs_path(work_dir: Path, shard_index: int) -> Path:
    return work_dir / "docs" / f"{shard_index:05d}.parquet"


def read_shard_docs(work_dir: Path, num_shards: int) -> list[pa.Table]:
    """Every shard's per-document table, in shard order (a shard with no rows gives an empty table)."""
    out = []
    for shard in range(num_shards):
        path = shard_docs_path(work_dir, shard)
        if not path.exists():
            raise FileNotFoundError(f"{path}: the map task of shard {shard} has not written its counts")
        out.append(pq.read_table(path))
    return out


def count_languages(shard_docs: list[pa.Table]) -> pa.Table:
    """docs, chars and tokens per language, sorted by language."""
    tables = [t for t in shard_docs if t.num_rows]
    if not tables:
        return COUNTS_SCHEMA.empty_table()
    docs = pa.concat_tables(tables)
    grouped = docs.group_by("language").aggregate([("position", "count"), ("chars", "sum"), ("tokens", "sum")])
    table = pa.table(
        {
            "language": grouped["language"],
            "docs": grouped["position_count"].cast(pa.int64()),
            "chars": grouped["chars_sum"].cast(pa.int64()),
            "tokens": grouped["tokens_sum"].cast(pa.float64()),
        },
        schema=COUNTS_SCHEMA,
    )
    return table.sort_by("language")


def rows_without_column(shard_docs: list[pa.Table]) -> int:
    return sum(int((t.schema.metadata or {}).get(MISSING_KEY, b"0")) for t in shard_docs)


def write_counts(
    table: pa.Table, directory: Path, stem: str, tokenizer: str, notes: dict[str, object] | None = None
) -> None:
    """`<stem>.parquet` (what the mixer reads) and `<stem>.json` (for people and scripts)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"{stem}.parquet.tmp"
    pq.write_table(table, tmp)
    tmp.replace(directory / f"{stem}.parquet")
    rows = table.to_pylist()
    doc = {
        **(notes or {}),
        "tokenizer": tokenizer,
        "languages": rows,
        "total": {
            "docs": sum(r["docs"] for r in rows),
            "chars": sum(r["chars"] for r in rows),
            "tokens": sum(r["tokens"] for r in rows),
        },
    }
    write_json(directory / f"{stem}.json", doc)


def write_json(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
