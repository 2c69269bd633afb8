"""Readers: shard discovery and streaming batches out of Parquet and JSON Lines files.

Files are read row group by row group (Parquet) or block by block (JSONL), so a worker's memory
does not grow with the shard. Every error names the file, and the row group and column where
one applies.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq

from thresher import _core
from thresher.config import InputConfig


class InputError(Exception):
    """A shard cannot be read as configured. The message names the file (and row group/column)."""


class _LineLongerThanBlock(Exception):
    def __init__(self, rows_read: int) -> None:
        self.rows_read = rows_read


@dataclass(frozen=True)
class Shard:
    index: int
    path: str  # path as the filesystem sees it
    uri: str  # as the user wrote it, for messages
    name: str  # output file stem, unique within a run
    format: str  # "parquet" or "jsonl"


_JSONL_SUFFIXES = (
    ".jsonl",
    ".json",
    ".ndjson",
    ".jsonl.gz",
    ".json.gz",
    ".jsonl.zst",
    ".json.zst",
    ".jsonl.zstd",
    ".ndjson.gz",
    ".ndjson.zst",
)


def _format_of(path: str, configured: str) -> str:
    if configured != "auto":
        return configured
    lower = path.lower()
    if lower.endswith(".parquet") or lower.endswith(".pq"):
        return "parquet"
    if lower.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    raise InputError(f"{path}: cannot tell the format from the name; set input.format to parquet or jsonl")


def _stem(path: str) -> str:
    name = PurePosixPath(path).name
    for suffix in (".gz", ".zst", ".zstd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    for suffix in (".parquet", ".pq", ".jsonl", ".ndjson", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def filesystem_for(uri: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path within it (local paths, s3://, gs://, hdfs:// ...)."""
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def discover_shards(config: InputConfig) -> list[Shard]:
    """Expands `input.paths` into a sorted, de-duplicated list of shards."""
    found: list[tuple[str, str]] = []
    for pattern in config.paths:
        fs, path = filesystem_for(pattern)
        if any(ch in path for ch in "*?["):
            if isinstance(fs, pafs.LocalFileSystem):
                matches = sorted(glob.glob(path, recursive=True))
            else:
                base = path.split("*", 1)[0].rsplit("/", 1)[0]
                infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
                matches = sorted(i.path for i in infos if i.is_file and PurePosixPath(i.path).match(path))
            matches = [m for m in matches if not os.path.basename(m).startswith((".", "_"))]
            if not matches:
                raise InputError(f"{pattern}: no file matches this pattern")
            scheme = pattern.split("://", 1)[0] + "://" if "://" in pattern else ""
            found.extend((m, scheme + m if scheme else m) for m in matches)
        else:
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.NotFound:
                raise InputError(f"{pattern}: no such file")
            if info.type == pafs.FileType.Directory:
                infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
                files = sorted(
                    i.path
                    for i in infos
                    if i.is_file
                    and not i.base_name.startswith((".", "_"))
                    and i.path.lower().endswith((".parquet", ".pq", *_JSONL_SUFFIXES))
                )
                if not files:
                    raise InputError(f"{pattern}: directory holds no .parquet or .jsonl files")
                found.extend((f, f) for f in files)
            else:
                found.append((path, pattern))
    seen: set[str] = set()
    unique = [(p, u) for p, u in found if not (p in seen or seen.add(p))]
    stems = [_stem(p) for p, _ in unique]
    clash = len(set(stems)) != len(stems)
    shards = []
    for i, ((path, uri), stem) in enumerate(zip(unique, stems, strict=True)):
        name = f"{i:05d}_{stem}" if clash else stem
        shards.append(Shard(index=i, path=path, uri=uri, name=name, format=_format_of(path, config.format)))
    return shards


@dataclass
class ReadBatch:
    batch: pa.RecordBatch
    row_group: int  # Parquet row group, or JSONL block, the batch came from
    first_row: int  # row number of the batch's first row within the shard


class ShardReader:
    """Streams a shard as record batches whose text column is a string type and whose id column
    exists. Invalid UTF-8 in a binary text column becomes null text plus a flag column that the
    pipeline turns into a counted rejection."""

    INVALID_UTF8_COLUMN = "__thresher_invalid_utf8"

    def __init__(self, shard: Shard, config: InputConfig, filesystem: pafs.FileSystem | None = None):
        self.shard = shard
        self.config = config
        self.fs = filesystem or filesystem_for(shard.uri)[0]
        self._file_schema: pa.Schema | None = None

    def empty_schema(self) -> pa.Schema:
        """The schema batches would have, for writing an empty output of an empty shard."""
        if self._file_schema is None:
            fields = [pa.field(self.config.text_column, pa.large_string())]
            if self.config.id_column:
                fields.append(pa.field(self.config.id_column, pa.string()))
            self._file_schema = pa.schema(fields)
        empty = pa.RecordBatch.from_pylist([], schema=self._file_schema)
        return self._prepare(empty, 0, 0).schema

    def _where(self, row_group: int | None = None, column: str | None = None) -> str:
        parts = [self.shard.uri]
        if row_group is not None:
            parts.append(f"row group {row_group}" if self.shard.format == "parquet" else f"block {row_group}")
        if column is not None:
            parts.append(f"column {column!r}")
        return ", ".join(parts)

    def _file_state(self) -> tuple[int | None, int | None]:
        try:
            info = self.fs.get_file_info(self.shard.path)
        except OSError:
            return (None, None)
        return (info.size, info.mtime_ns)

    def _check_unchanged(self, opened: tuple[int | None, int | None]) -> None:
        """A shard rewritten while it was read gives output that matches neither version: fail the task."""
        now = self._file_state()
        if opened != now and None not in opened:
            raise InputError(
                f"{self._where()}: the file changed while it was being read (size {opened[0]} -> {now[0]}); "
                "rerun once the files are no longer written to"
            )

    def __iter__(self) -> Iterator[ReadBatch]:
        if self.shard.format == "parquet":
            yield from self._read_parquet()
        else:
            yield from self._read_jsonl()

    # -- parquet ----------------------------------------------------------------------------
    def _read_parquet(self) -> Iterator[ReadBatch]:
        opened = self._file_state()
        try:
            handle = self.fs.open_input_file(self.shard.path)
            parquet = pq.ParquetFile(handle)
        except FileNotFoundError:
            raise InputError(f"{self._where()}: no such file") from None
        except (pa.ArrowException, OSError) as err:
            raise InputError(f"{self._where()}: not a readable Parquet file ({err})") from None
        schema = parquet.schema_arrow
        columns = self._columns_to_read(schema)
        self._file_schema = schema if columns is None else pa.schema([schema.field(c) for c in columns])
        row = 0
        for rg in range(parquet.num_row_groups):
            try:
                for batch in parquet.iter_batches(
                    batch_size=self.config.batch_rows, row_groups=[rg], columns=columns, use_threads=False
                ):
                    prepared = self._prepare(batch, rg, row)
                    yield ReadBatch(prepared, rg, row)
                    row += batch.num_rows
            except InputError:
                raise
            except (pa.ArrowException, OSError) as err:
                columns_hint = _failing_columns(parquet, rg, columns)
                where = self._where(rg, columns_hint[0] if len(columns_hint) == 1 else None)
                also = f"; columns that fail: {columns_hint}" if len(columns_hint) > 1 else ""
                raise InputError(f"{where}: cannot decode ({str(err).strip()}){also}") from None
        handle.close()
        self._check_unchanged(opened)

    def _columns_to_read(self, schema: pa.Schema) -> list[str] | None:
        text = self.config.text_column
        if schema.get_field_index(text) < 0:
            raise InputError(
                f"{self._where(column=text)}: no such column (the file has: {', '.join(schema.names)});"
                " set input.text_column"
            )
        if self.config.columns is None:
            return None
        wanted = list(dict.fromkeys([text, *self.config.columns]))
        if self.config.id_column and schema.get_field_index(self.config.id_column) >= 0:
            wanted.append(self.config.id_column)
        missing = [c for c in wanted if schema.get_field_index(c) < 0]
        if missing:
            raise InputError(f"{self._where()}: columns {missing} listed in input.columns are missing")
        wanted_set = set(wanted)
        return [name for name in schema.names if name in wanted_set]  # the file's own column order

    # -- jsonl ------------------------------------------------------------------------------
    JSONL_BLOCK_BYTES = 8 * 1024 * 1024

    def _read_jsonl(self) -> Iterator[ReadBatch]:
        """Blocks of JSON lines; a line longer than a block makes the read start over with bigger blocks
        (skipping the rows already passed on), up to 8 x `input.max_document_bytes`: a document over the limit
        is still read, to be rejected as too large, unless it is far over it."""
        opened = self._file_state()
        block_size = self.JSONL_BLOCK_BYTES
        limit = max(block_size, 8 * self.config.max_document_bytes)
        skip = 0
        while True:
            try:
                yield from self._read_jsonl_blocks(block_size, skip)
                break
            except _LineLongerThanBlock as short:
                if block_size >= limit:
                    raise InputError(
                        f"{self._where()}: a JSON line near document {short.rows_read} is longer than "
                        f"{limit:,} bytes (8 x input.max_document_bytes); raise input.max_document_bytes to read it"
                    ) from None
                block_size, skip = min(block_size * 4, limit), short.rows_read
        self._check_unchanged(opened)

    def _open_jsonl(self):
        lower = self.shard.path.lower()
        compression = "gzip" if lower.endswith(".gz") else "zstd" if lower.endswith((".zst", ".zstd")) else None
        try:
            return self.fs.open_input_stream(self.shard.path, compression=compression)
        except FileNotFoundError:
            raise InputError(f"{self._where()}: no such file") from None

    def _jsonl_error(self, err: Exception, block: int, rows_before: int) -> InputError:
        """Names the line of a parse error (found again by counting lines, on this error path only)."""
        message = str(err).strip()
        found = re.search(r"in row (\d+)", message)
        if found is None:
            return InputError(f"{self._where(block)}: not valid JSON Lines ({message})")
        document = rows_before + int(found.group(1))
        line, snippet = self._locate_document_line(document)
        where = f"{self.shard.uri}, line {line}" if line else self._where(block)
        shown = f": {snippet!r}" if snippet else ""
        return InputError(f"{where}: not valid JSON Lines ({message}){shown}")

    def _locate_document_line(self, document: int) -> tuple[int | None, str | None]:
        try:
            stream = self._open_jsonl()
            seen = -1
            line_number = 0
            pending = b""
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    lines = [pending] if pending else []
                else:
                    *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    line_number += 1
                    if raw.strip():
                        seen += 1
                        if seen == document:
                            return line_number, raw[:80].decode("utf-8", "replace")
                if not chunk:
                    return None, None
        except (OSError, pa.ArrowException, InputError):
            return None, None

    def _read_jsonl_blocks(self, block_size: int, skip: int) -> Iterator[ReadBatch]:
        stream = self._open_jsonl()
        text = self.config.text_column
        explicit = [pa.field(text, pa.large_string())]
        parse = pajson.ParseOptions(
            explicit_schema=pa.schema(explicit), unexpected_field_behavior="infer", newlines_in_values=False
        )
        read = pajson.ReadOptions(block_size=block_size, use_threads=False)
        try:
            reader = pajson.open_json(stream, read_options=read, parse_options=parse)
        except pa.ArrowInvalid as err:
            if "Empty" in str(err) or "empty" in str(err):
                return
            if "straddl" in str(err):
                raise _LineLongerThanBlock(0) from None
            raise self._jsonl_error(err, 0, 0) from None
        except (pa.ArrowException, OSError) as err:
            raise InputError(f"{self._where(0)}: cannot read ({str(err).strip()})") from None
        self._file_schema = reader.schema
        row, block = 0, 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as err:
                if "straddl" in str(err):
                    raise _LineLongerThanBlock(row) from None
                raise self._jsonl_error(err, block, row) from None
            except (pa.ArrowException, OSError) as err:
                raise InputError(f"{self._where(block)}: cannot read ({str(err).strip()})") from None
            if self.config.columns is not None:
                keep = [c for c in batch.schema.names if c in (text, self.config.id_column, *self.config.columns)]
                batch = batch.select(keep)
            for f in batch.schema:
                if _nesting_depth(f.type) > MAX_NESTING:
                    raise InputError(
                        f"{self._where(block)}: field {f.name!r} is nested {_nesting_depth(f.type)} levels deep;"
                        f" Parquet readers stop at 100, so it cannot be carried to the output. List the columns"
                        f" to keep in input.columns"
                    )
            for start in range(0, batch.num_rows, self.config.batch_rows):
                piece = batch.slice(start, self.config.batch_rows)
                if row + piece.num_rows <= skip:
                    row += piece.num_rows
                    continue
                if row < skip:
                    piece, row = piece.slice(skip - row), skip
                yield ReadBatch(self._prepare(piece, block, row), block, row)
                row += piece.num_rows
            block += 1

    # -- shared -----------------------------------------------------------------------------
    def _prepare(self, batch: pa.RecordBatch, row_group: int, first_row: int) -> pa.RecordBatch:
        """Checks the text column's type, decodes binary text, and adds generated ids."""
        text_name = self.config.text_column
        index = batch.schema.get_field_index(text_name)
        if index < 0:
            raise InputError(f"{self._where(row_group, text_name)}: no such column")
        column = batch.column(index)
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.dictionary_decode()
            kind = column.type
        invalid = None
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
            column, invalid = _core.decode_utf8(column)
        elif pa.types.is_string_view(kind):
            # pyarrow's filter/take kernels do not cover string_view yet; one copy keeps the data path whole.
            column = column.cast(pa.large_string())
        elif pa.types.is_null(kind):
            column = pa.nulls(len(column), pa.large_string())
        kind = column.type
        if invalid is None and (pa.types.is_string(kind) or pa.types.is_large_string(kind)) and not _valid_utf8(column):
            # Readers do not check UTF-8 in string columns; the bad rows are quarantined, the rest kept.
            binary = pa.binary() if pa.types.is_string(kind) else pa.large_binary()
            column, invalid = _core.decode_utf8(column.view(binary))
            kind = column.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise InputError(
                f"{self._where(row_group, text_name)}: expected a string column, got {kind};"
                " set input.text_column to the column that holds the text"
            )
        batch = batch.set_column(index, pa.field(text_name, column.type), column)
        if invalid is not None:
            batch = batch.append_column(self.INVALID_UTF8_COLUMN, invalid)
        id_name = self.config.id_column or "id"
        id_index = batch.schema.get_field_index(id_name)
        if id_index < 0:
            batch = batch.append_column(id_name, _core.sequential_ids(self.shard.name, first_row, batch.num_rows))
        elif batch.column(id_index).null_count:
            # Rows without an id get the generated one, so every row stays addressable.
            ids = batch.column(id_index)
            if not pa.types.is_string(ids.type):
                ids = ids.cast(pa.string())
            generated = _core.sequential_ids(self.shard.name, first_row, batch.num_rows)
            batch = batch.set_column(id_index, pa.field(id_name, pa.string()), pc.coalesce(ids, generated))
        return batch


MAX_NESTING = 64  # pyarrow's Parquet reader refuses schemas deeper than 100 levels


def _nesting_depth(kind: pa.DataType) -> int:
    """Levels of lists, structs and maps in a type (iterative: JSON can nest thousands deep)."""
    deepest = 0
    stack = [(kind, 0)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if pa.types.is_struct(current):
            stack.extend((current.field(i).type, depth + 1) for i in range(current.num_fields))
        elif pa.types.is_map(current):
            stack.extend([(current.key_type, depth + 1), (current.item_type, depth + 1)])
        elif pa.types.is_list(current) or pa.types.is_large_list(current) or pa.types.is_fixed_size_list(current):
            stack.append((current.value_type, depth + 1))
    return deepest


def _failing_columns(parquet: pq.ParquetFile, row_group: int, columns: list[str] | None) -> list[str]:
    """On a decode error, which columns of the row group cannot be read (each tried alone)."""
    failing = []
    for name in columns or parquet.schema_arrow.names:
        try:
            parquet.read_row_group(row_group, columns=[name], use_threads=False)
        except (pa.ArrowException, OSError):
            failing.append(name)
    return failing


def _valid_utf8(column: pa.Array) -> bool:
    try:
        column.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def text_bytes(array: pa.Array) -> int:
    """Bytes of text in a string array (for MB/s figures)."""
    if len(array) == 0:
        return 0
    total = pc.sum(pc.binary_length(array)).as_py()
    return int(total or 0)
