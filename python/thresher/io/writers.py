"""Writers: Parquet shards that appear whole or not at all.

A shard is written under `<out>/_tmp/` and moved to its final name when complete, so nothing
partial is ever visible in `data/` or `rejected/`. Batches are buffered up to a byte budget so
row groups hold tens of MiB, not a few rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


@contextlib.contextmanager
def naming_output(path: str):
    """An OSError while writing (a full disk, a lost mount) names the output file it was writing."""
    try:
        yield
    except OSError as err:
        if path in str(err):
            raise
        detail = " ".join(str(err).split())
        raise OSError(err.errno, f"cannot write {path}: {detail}") from None


def align_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Reorders, casts and null-fills `batch` to `schema` (missing columns become nulls)."""
    if batch.schema.equals(schema):
        return batch
    arrays = []
    for field in schema:
        index = batch.schema.get_field_index(field.name)
        if index < 0:
            arrays.append(pa.nulls(batch.num_rows, field.type))
        else:
            column = batch.column(index)
            arrays.append(column if column.type == field.type else column.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class AtomicParquetWriter:
    """Writes one Parquet file atomically: temporary file, then rename on `commit()`."""

    def __init__(
        self,
        fs: pafs.FileSystem,
        final_path: str,
        tmp_dir: str,
        schema: pa.Schema | None = None,
        compression: str = "zstd",
        compression_level: int | None = None,
        row_group_bytes: int = 96 * 1024 * 1024,
        write_empty: bool = True,
    ) -> None:
        self.fs = fs
        self.final_path = final_path
        self.tmp_path = f"{tmp_dir.rstrip('/')}/{uuid.uuid4().hex}.parquet.tmp"
        self.schema = schema
        self.compression = None if compression == "none" else compression
        self.compression_level = compression_level
        self.row_group_bytes = row_group_bytes
        self.write_empty = write_empty
        self.rows = 0
        self._buffer: list[pa.RecordBatch] = []
        self._buffered_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._sink = None

    def _open(self) -> None:
        self.fs.create_dir(os.path.dirname(self.tmp_path), recursive=True)
        self._sink = self.fs.open_output_stream(self.tmp_path)
        self._writer = pq.ParquetWriter(
            self._sink,
            self.schema,
            compression=self.compression,
            compression_level=self.compression_level,
            write_statistics=False,
            use_dictionary=False,
        )

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            if self.schema is None:
                self.schema = batch.schema
            return
        if self.schema is None:
            self.schema = batch.schema
        batch = align_batch(batch, self.schema)
        self._buffer.append(batch)
        self._buffered_bytes += batch.nbytes
        self.rows += batch.num_rows
        if self._buffered_bytes >= self.row_group_bytes:
            with naming_output(self.final_path):
                self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        if self._writer is None:
            self._open()
        table = pa.Table.from_batches(self._buffer, schema=self.schema)
        self._writer.write_table(table, row_group_size=table.num_rows)
        self._buffer = []
        self._buffered_bytes = 0

    def commit(self) -> bool:
        """Finishes the file and moves it into place. Returns False when nothing was written
        and `write_empty` is off."""
        if self.rows == 0 and not self.write_empty:
            self.abort()
            return False
        if self.schema is None:
            self.schema = pa.schema([])
        with naming_output(self.final_path):
            self._flush()
            if self._writer is None:
                self._open()
            self._writer.close()
            self._sink.close()
            self._writer = None
            self.fs.create_dir(os.path.dirname(self.final_path), recursive=True)
            self.fs.move(self.tmp_path, self.final_path)
        return True

    def abort(self) -> None:
        """Drops the temporary file (on errors and interrupts)."""
        try:
            if self._writer is not None:
                self._writer.close()
            if self._sink is not None:
                self._sink.close()
        except Exception:  # noqa: BLE001 - best effort while already failing
            pass
        self._writer = None
        self._buffer = []
        try:
            self.fs.delete_file(self.tmp_path)
        except (FileNotFoundError, OSError):
            pass


def write_json_atomic(fs: pafs.FileSystem, path: str, tmp_dir: str, document: Any) -> None:
    """Writes a small JSON file atomically (markers, stats, manifests)."""
    tmp = f"{tmp_dir.rstrip('/')}/{uuid.uuid4().hex}.json.tmp"
    with naming_output(path):
        fs.create_dir(tmp_dir, recursive=True)
        try:
            with fs.open_output_stream(tmp) as out:
                out.write(json.dumps(document, indent=2, sort_keys=False).encode())
        except OSError:
            with contextlib.suppress(OSError):
                fs.delete_file(tmp)
            raise
        fs.create_dir(os.path.dirname(path), recursive=True)
        fs.move(tmp, path)


def read_json(fs: pafs.FileSystem, path: str) -> Any:
    with fs.open_input_stream(path) as src:
        return json.loads(src.read().decode())
