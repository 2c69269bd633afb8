"""Helpers shared by the test suites: paths, small documents, pipeline files."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent


def shared_data_dir() -> Path:
    return Path(os.environ.get("THRESHER_SHARED_DATA", REPO.parent / "shared" / "data"))


LOREM = (
    "The committee met on Tuesday to review the annual budget and agreed that the library should open "
    "longer hours during the exam period, because students had asked for more quiet places to study."
)


def make_docs(n: int, prefix: str = "doc") -> pa.Table:
    """n documents of varied length: every third one is too short for a 20-word minimum."""
    texts, ids = [], []
    for i in range(n):
        if i % 3 == 0:
            texts.append(f"short text number {i}")
        else:
            texts.append(f"{LOREM} Item {i}.\n{LOREM}")
        ids.append(f"{prefix}-{i}")
    return pa.table({"id": ids, "text": texts, "n": list(range(n))})


def write_pipeline(path: Path, input_glob: str, out: Path, steps: str, extra: str = "") -> Path:
    path.write_text(
        f"""
input:
  paths: ["{input_glob}"]
  batch_rows: 8
steps:
{steps}
output:
  path: "{out}"
  rejected: true
{extra}
"""
    )
    return path


def python_path(*extra: Path) -> str:
    """PYTHONPATH for a subprocess that must import the thresher under test: the in-place development
    build (scripts/dev-build.sh) when there is one, else the installed package, plus `extra` folders."""
    parts = [str(p) for p in extra]
    if any((REPO / "python" / "thresher").glob("_core*.so")):
        parts.insert(0, str(REPO / "python"))
    return os.pathsep.join(parts)
