"""The long fuzz run, benchmark style: generated documents through every Rust entry point that takes text.

    python benchmarks/fuzz.py            # 1 million documents through the core, 1 million through the bindings
    python benchmarks/fuzz.py --full     # 10 million each (a few minutes per million-ish core on a laptop)

Two layers, each printing documents, documents/s, panics and failures:
  core      rust/thresher-core/examples/fuzz_text.rs over `thresher_core::fuzzing::ENTRY_POINTS` (all of them,
            every Arrow layout in rotation, invariants checked in Rust)
  bindings  thresher._core's text functions (the registry of tests/fuzz/test_bindings_fuzz.py) on batches
            built with vectorised Arrow kernels: awkward Unicode pieces, random bytes, nulls, sliced arrays
Exit status 1 when anything panicked or failed. The short pass of both runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "tests" / "fuzz"))

AWKWARD = [
    "\n", "\r", "\r\n", " ", "  ", "\t", "\xa0", "\u2028", "\u3000", "\u200b", "\ufeff", "\u0301", "\u202e",
    "\U0001f600", "\U0010ffff", "\x00", "a", "Z", "9", ".", "...", "é", "ß", "İ", "日本語", "\ufffd", "word",
    "Лорем", "ipsum", "http://example.org/", "<p>", "&amp;", "ﬃ", "ǅ",
]  # fmt: skip


def run_core(inputs: int, seed: int) -> dict:
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "-p", "thresher-core", "--example", "fuzz_text"],
        cwd=REPO,
        check=True,
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    run = subprocess.run(
        [str(target / "release" / "examples" / "fuzz_text"), "--inputs", str(inputs), "--seed", str(seed)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    sys.stderr.write(run.stderr[-4000:])
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["exit"] = run.returncode
    return result


def batches(n_docs: int, rng: np.random.Generator, batch_rows: int = 512):
    """Batches of documents built with Arrow kernels (no Python object per document)."""
    pool = pa.array(AWKWARD, pa.large_string())
    produced = 0
    while produced < n_docs:
        rows = min(batch_rows, n_docs - produced)
        pieces_per_doc = rng.integers(0, 96, rows)
        offsets = np.concatenate([[0], np.cumsum(pieces_per_doc)]).astype(np.int64)
        tokens = pool.take(pa.array(rng.integers(0, len(pool), int(offsets[-1]))))
        lists = pa.LargeListArray.from_arrays(pa.array(offsets), tokens)
        text = pc.binary_join(lists, pa.scalar("", pa.large_string()))
        nulls = rng.random(rows) < 0.05
        text = pc.if_else(pa.array(nulls), pa.scalar(None, pa.large_string()), text)
        # random bytes: invalid UTF-8 most of the time
        lengths = rng.integers(0, 200, rows)
        data = rng.integers(0, 256, int(lengths.sum()), dtype=np.uint8).tobytes()
        raw_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        raw = pa.Array.from_buffers(pa.binary(), rows, [None, pa.py_buffer(raw_offsets.tobytes()), pa.py_buffer(data)])
        produced += rows
        yield text, raw


def run_bindings(n_docs: int, seed: int) -> dict:
    from test_bindings_fuzz import BINARY_BINDINGS, TEXT_BINDINGS  # the registry the tests use

    from thresher import _core

    rng = np.random.default_rng(seed)
    layouts = [
        lambda a: a,
        lambda a: a.cast(pa.string()),
        lambda a: a.cast(pa.string_view()),
        lambda a: a.slice(1, max(len(a) - 2, 0)),
    ]
    failures: dict[str, int] = {}
    panics = 0
    calls = 0
    started = time.perf_counter()
    for index, (text, raw) in enumerate(batches(n_docs, rng)):
        array = layouts[index % len(layouts)](text)
        for name, (call, _) in TEXT_BINDINGS.items():
            calls += 1
            try:
                out = call(array)
                if name != "sequential_ids" and (out.num_rows if hasattr(out, "num_rows") else len(out)) != len(array):
                    failures[name] = failures.get(name, 0) + 1
            except _core.RustPanic:
                panics += 1
            except Exception:  # noqa: BLE001 - counted and reported
                failures[name] = failures.get(name, 0) + 1
        for name, call in BINARY_BINDINGS.items():
            calls += 1
            for binary in (raw, pc.cast(array, pa.large_binary())):
                try:
                    decoded, invalid = call(binary)
                    if len(decoded) != len(binary) or len(invalid) != len(binary):
                        failures[name] = failures.get(name, 0) + 1
                except _core.RustPanic:
                    panics += 1
                except Exception:  # noqa: BLE001
                    failures[name] = failures.get(name, 0) + 1
    seconds = time.perf_counter() - started
    return {
        "inputs": n_docs * 2,  # each batch: generated text and random bytes
        "calls": calls,
        "entry_points": len(TEXT_BINDINGS) + len(BINARY_BINDINGS),
        "seconds": round(seconds, 3),
        "inputs_per_s": round(2 * n_docs / seconds),
        "panics": panics,
        "failures": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="10 million documents per layer")
    parser.add_argument("--inputs", type=int, help="documents per layer (overrides --full)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=["core", "bindings"])
    args = parser.parse_args()
    n = args.inputs or (10_000_000 if args.full else 1_000_000)
    ok = True
    if args.only in (None, "core"):
        core = run_core(n, args.seed)
        print(
            f"core:     {core['inputs']:,} documents through {core['entry_points']} entry points in "
            f"{core['seconds']:.1f}s ({core['inputs_per_s']:,.0f} docs/s); panics {core['panics']}, "
            f"broken invariants {core['broken_invariants']}"
        )
        ok &= core["exit"] == 0
    if args.only in (None, "bindings"):
        bindings = run_bindings(n // 2, args.seed)
        print(
            f"bindings: {bindings['inputs']:,} documents through {bindings['entry_points']} bindings in "
            f"{bindings['seconds']:.1f}s ({bindings['inputs_per_s']:,} docs/s); panics {bindings['panics']}, "
            f"failures {bindings['failures'] or 0}"
        )
        ok &= bindings["panics"] == 0 and not bindings["failures"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
