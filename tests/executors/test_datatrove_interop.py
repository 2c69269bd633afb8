"""Thresher steps inside datatrove pipelines, and datatrove outputs as Thresher input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from thresher.config import parse_pipeline
from thresher.executors.local import LocalExecutor
from thresher.stages import Plan

pytest.importorskip("datatrove")

from datatrove.data import Document  # noqa: E402
from datatrove.executor.local import LocalPipelineExecutor  # noqa: E402
from datatrove.pipeline.readers import ParquetReader  # noqa: E402
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter  # noqa: E402

from thresher.datatrove import (  # noqa: E402
    ThresherFilter,
    ThresherGlobalFilter,
    ThresherGlobalMap,
    ThresherGlobalReduce,
    datatrove_input,
    global_step_stages,
)

STEPS = [
    {"type": "text_length", "min_words": 3, "max_words": 100},
    {"type": "char_classes", "max_digit_fraction": 0.3},
]


def run_datatrove(pipeline, tmp_path: Path, name: str, tasks: int = 1) -> None:
    LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=str(tmp_path / "logs" / name)).run()


def read_jsonl(folder: Path) -> list[dict]:
    import gzip

    rows = []
    for f in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(f, "rt") as src:
            rows += [json.loads(line) for line in src]
    return rows


def thresher_decisions(input_glob: str, out: Path, steps: list[dict]) -> tuple[set[str], dict[str, str]]:
    doc = {"input": {"paths": [input_glob]}, "steps": steps, "output": {"path": str(out)}}
    assert LocalExecutor(quiet=True).run(Plan.create(parse_pipeline(doc))).ok
    kept = set(pq.read_table(out / "data").column("id").to_pylist())
    rejected = pq.read_table(out / "rejected")
    return kept, dict(zip(rejected.column("id").to_pylist(), rejected.column("drop_reason").to_pylist(), strict=True))


def test_thresher_filter_in_a_datatrove_pipeline_makes_thresher_decisions(corpus, tmp_path):
    inputs = str(corpus / "input")
    pipeline = [
        ParquetReader(inputs, glob_pattern="*.parquet", text_key="text", id_key="id"),
        ThresherFilter(STEPS, batch_size=16, exclusion_writer=JsonlWriter(str(tmp_path / "dropped"))),
        JsonlWriter(str(tmp_path / "kept")),
    ]
    run_datatrove(pipeline, tmp_path, "filter")

    kept_ids, reasons = thresher_decisions(f"{inputs}/*.parquet", tmp_path / "thresher", STEPS)
    datatrove_kept = read_jsonl(tmp_path / "kept")
    datatrove_dropped = read_jsonl(tmp_path / "dropped")
    assert datatrove_dropped and datatrove_kept
    assert {d["id"] for d in datatrove_kept} == kept_ids
    assert {d["id"]: d["metadata"]["filter_reason"] for d in datatrove_dropped} == reasons
    assert set(reasons.values()) >= {"text_length:too_few_words", "char_classes:too_many_digits"}


def test_thresher_filter_puts_signals_in_metadata_and_refuses_global_steps():
    docs = [Document(text="one two three four", id="a"), Document(text="1 2 3 4 5 6", id="b")]
    f = ThresherFilter(STEPS, signals_key="thresher")
    results = f.filter_batch(docs)
    assert results == [True, (False, "char_classes:too_many_digits")]
    assert docs[0].metadata["thresher"]["text_length.words"] == 4
    with pytest.raises(ValueError, match="need the whole corpus"):
        ThresherFilter([{"type": "multistage:MedianLength"}])


def test_a_global_step_as_three_datatrove_stages_matches_thresher(corpus, tmp_path):
    inputs = str(corpus / "input")
    step = {"type": "multistage:MedianLength", "name": "median"}
    work = str(tmp_path / "median-work")
    shards = 4  # one datatrove task per input file
    reader = ParquetReader(inputs, glob_pattern="*.parquet", text_key="text", id_key="id")
    run_datatrove(
        [reader, ThresherGlobalMap(step, work), ParquetWriter(str(tmp_path / "mapped"))], tmp_path, "map", shards
    )
    for phase, tasks in global_step_stages(step):
        run_datatrove([ThresherGlobalReduce(step, work, phase)], tmp_path, f"reduce-{phase}", tasks)
    mapped = ParquetReader(str(tmp_path / "mapped"), text_key="text", id_key="id")
    run_datatrove(
        [mapped, ThresherGlobalFilter(step, work), JsonlWriter(str(tmp_path / "kept"))], tmp_path, "apply", shards
    )

    kept_ids, _ = thresher_decisions(f"{inputs}/*.parquet", tmp_path / "thresher", [step])
    assert {d["id"] for d in read_jsonl(tmp_path / "kept")} == kept_ids


def datatrove_documents(data, rank: int = 0, world_size: int = 1):
    for i in range(30):
        metadata = {"url": f"https://example.org/{rank}/{i}", "dump": "CC-MAIN-2024-10"}
        if i % 3 == 0:
            metadata["language_score"] = 0.5 + i / 100
        yield Document(text=" ".join(["word"] * (1 + i % 12)), id=f"{rank}/{i}", metadata=metadata)


@pytest.mark.parametrize("writer", [JsonlWriter, ParquetWriter])
def test_datatrove_outputs_are_thresher_input(tmp_path, writer):
    folder = tmp_path / "datatrove-out"
    run_datatrove([datatrove_documents, writer(str(folder))], tmp_path, "write", tasks=2)
    doc = {
        "input": datatrove_input(str(folder)),
        "steps": [{"type": "text_length", "min_words": 5}],
        "output": {"path": str(tmp_path / "out")},
    }
    summary = LocalExecutor(quiet=True).run(Plan.create(parse_pipeline(doc)))
    assert summary.ok, summary.errors
    assert summary.stats["input_rows"] == 60
    kept = pq.read_table(tmp_path / "out" / "data").to_pylist()
    assert {r["id"] for r in kept} == {f"{rank}/{i}" for rank in range(2) for i in range(30) if 1 + i % 12 >= 5}
    first = next(r for r in kept if r["id"] == "0/6")
    assert first["metadata"]["url"] == "https://example.org/0/6"
    assert first["metadata"]["language_score"] == pytest.approx(0.56)

    # and datatrove reads Thresher's output back, metadata included
    back = list(ParquetReader(str(tmp_path / "out" / "data"), text_key="text", id_key="id")())
    assert len(back) == len(kept) and back[0].metadata["dump"] == "CC-MAIN-2024-10"
