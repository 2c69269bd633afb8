"""Reading shards and writing outputs."""

from thresher.io.readers import InputError, ReadBatch, Shard, ShardReader, discover_shards, filesystem_for
from thresher.io.writers import AtomicParquetWriter, align_batch, read_json, write_json_atomic

__all__ = [
    "AtomicParquetWriter",
    "InputError",
    "ReadBatch",
    "Shard",
    "ShardReader",
    "align_batch",
    "discover_shards",
    "filesystem_for",
    "read_json",
    "write_json_atomic",
]
