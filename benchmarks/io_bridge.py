"""The cost of Thresher's data path against a bare pyarrow read+write of the same shard.

Two measurements, one command:

1. Overhead: a shard of real web text (../shared/data: web_html_boilerplate raw text, cc_misc_samples,
   dclm_human_quality), read, passed through the Rust bridge (the `text_length` step computes its
   signals over every batch) and written by Thresher's local executor, against pyarrow reading
   the file and writing it back with the same compression. Target: at most 1.5x.
2. Memory: peak RSS of one worker on a small and a large shard of the same text. Target: about the
   same peak (streaming by row group).

    python benchmarks/io_bridge.py                 # overhead + RSS on 20 MB vs 500 MB shards
    python benchmarks/io_bridge.py --large-mb 2000 # the full 2 GB shard
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("THRESHER_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_web_text() -> pa.Table:
    parts = [
        pq.read_table(
            SHARED / "web_html_boilerplate" / "web_html_boilerplate.parquet", columns=["id", "raw_text"]
        ).rename_columns(["id", "text"]),
        pq.read_table(SHARED / "cc_misc_samples" / "cc_misc_samples.parquet", columns=["id", "text"]),
        pq.read_table(SHARED / "dclm_human_quality" / "dclm_human_quality.parquet", columns=["id", "text"]),
    ]
    return pa.concat_tables([p.cast(pa.schema([("id", pa.string()), ("text", pa.large_string())])) for p in parts])


def write_shard(table: pa.Table, path: Path, target_mb: float) -> float:
    """Writes `table` repeated until its text reaches target_mb; returns the text MB written."""
    text_mb = sum(len(t.encode()) for t in table["text"].to_pylist() if t) / 1e6
    copies = max(1, round(target_mb / text_mb))
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for i in range(copies):
            ids = pa.array([f"{x}-{i}" for x in table["id"].to_pylist()])
            writer.write_table(table.set_column(0, "id", ids), row_group_size=4096)
    return text_mb * copies


def bare_pyarrow(src: Path, dst: Path) -> None:
    with pq.ParquetFile(src) as reader, pq.ParquetWriter(dst, reader.schema_arrow, compression="zstd") as writer:
        for batch in reader.iter_batches(batch_size=2048):
            writer.write_batch(batch)


def thresher_run(src: Path, out: Path) -> None:
    from thresher.config import parse_pipeline
    from thresher.executors.local import LocalExecutor
    from thresher.stages import Plan

    raw = {
        "input": {"paths": [str(src)]},
        "steps": [{"type": "text_length"}],
        "output": {"path": str(out), "rejected": True},
    }
    plan = Plan.create(parse_pipeline(raw))
    summary = LocalExecutor(workers=1, quiet=True).run(plan, force=True)
    assert summary.ok, summary.errors


def time_it(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def peak_rss_mb(src: Path, out: Path) -> float:
    """Peak RSS of a fresh process running the pipeline on one shard.

    Read from the child's own VmHWM: ru_maxrss would carry over this (large) parent's high-water mark
    through fork, while exec gives the child a new address space with its own VmHWM."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[3]); from io_bridge import thresher_run; "
        "from pathlib import Path; thresher_run(Path(sys.argv[1]), Path(sys.argv[2])); "
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(src), str(out), str(Path(__file__).parent)],
        env={**os.environ, "RAYON_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shard-mb", type=float, default=100, help="text MB in the overhead shard")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small-mb", type=float, default=20)
    parser.add_argument("--large-mb", type=float, default=500)
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"no shared data at {SHARED}; set THRESHER_SHARED_DATA")
    os.environ.setdefault("RAYON_NUM_THREADS", "1")  # one core for both sides

    table = load_web_text()
    with tempfile.TemporaryDirectory(prefix="thresher-bench-") as tmp:
        tmp = Path(tmp)
        shard = tmp / "shard.parquet"
        text_mb = write_shard(table, shard, args.shard_mb)
        print(
            f"shard: {shard.stat().st_size / 1e6:.1f} MB on disk, {text_mb:.1f} MB of text, "
            f"{pq.ParquetFile(shard).metadata.num_rows:,} documents"
        )
        bare, ours = [], []
        time_it(thresher_run, shard, tmp / "warm")  # imports and page cache
        for _ in range(args.repeats):
            bare.append(time_it(bare_pyarrow, shard, tmp / "bare.parquet"))
            ours.append(time_it(thresher_run, shard, tmp / "out"))
        b, o = statistics.median(bare), statistics.median(ours)
        print(f"bare pyarrow read+write : {b:6.2f} s  {text_mb / b:7.1f} MB/s of text  (median of {args.repeats})")
        print(f"thresher read+Rust+write: {o:6.2f} s  {text_mb / o:7.1f} MB/s of text")
        print(f"overhead ratio          : {o / b:.2f}x  (target <= 1.5x)")

        if not args.skip_rss:
            rss = {}
            for label, mb in (("small", args.small_mb), ("large", args.large_mb)):
                path = tmp / f"{label}.parquet"
                size = write_shard(table, path, mb)
                rss[label] = (size, peak_rss_mb(path, tmp / f"rss-{label}"))
                path.unlink()
                shutil.rmtree(tmp / f"rss-{label}", ignore_errors=True)
            (s_mb, s_rss), (l_mb, l_rss) = rss["small"], rss["large"]
            print(f"peak RSS, {s_mb:8.0f} MB text shard: {s_rss:7.1f} MB")
            print(
                f"peak RSS, {l_mb:8.0f} MB text shard: {l_rss:7.1f} MB  (ratio {l_rss / s_rss:.2f}x for "
                f"{l_mb / s_mb:.0f}x the data)"
            )


if __name__ == "__main__":
    main()
