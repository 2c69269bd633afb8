"""End to end through files: the CLI, the local executor, resume, global stages."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.cli import main
from thresher_testing import make_docs, write_pipeline

STEPS = """
  - type: text_length
    min_words: 20
  - type: char_classes
    max_digit_fraction: 0.5
"""


def read_dir(path: Path) -> pa.Table:
    files = sorted(path.glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")


def test_run_writes_data_rejected_and_stats_that_add_up(shards: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{shards}/*.parquet", out, STEPS)
    assert main(["run", str(pipeline), "--quiet"]) == 0
    assert "75 documents in, 50 kept" in capsys.readouterr().out

    assert sorted(p.name for p in (out / "data").iterdir()) == ["a.parquet", "b.parquet", "c.parquet"]
    kept, rejected = read_dir(out / "data"), read_dir(out / "rejected")
    assert kept.num_rows == 50 and rejected.num_rows == 25
    assert set(rejected["drop_reason"].to_pylist()) == {"text_length:too_few_words"}
    assert set(kept["id"].to_pylist()).isdisjoint(rejected["id"].to_pylist())
    assert "text_length.words" not in kept.schema.names  # keep_signals is off
    assert "text_length.words" in rejected.schema.names
    assert pq.read_table(out / "data" / "c.parquet").num_rows == 0  # empty shard, empty output

    stats = json.loads((out / "stats.json").read_text())
    assert stats["input_rows"] == 75 and stats["output_rows"] == 50
    first, second = stats["steps"]
    assert (first["name"], first["rows_in"], first["rows_kept"]) == ("text_length", 75, 50)
    assert first["rows_dropped"] == {"too_few_words": 25}
    assert second["rows_in"] == 50 and second["rows_dropped"] == {}
    assert stats["shards"]["b"] == {"input_rows": 45, "output_rows": 30}
    # nothing temporary is left in the output
    assert not list((out / "_thresher" / "tmp").glob("*")) if (out / "_thresher" / "tmp").exists() else True


def test_row_groups_are_large_not_per_batch(shards: Path, tmp_path: Path):
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{shards}/*.parquet", out, STEPS)
    assert main(["run", str(pipeline), "--quiet"]) == 0
    meta = pq.ParquetFile(out / "data" / "b.parquet").metadata
    assert meta.num_row_groups == 1  # 8-row input batches were buffered into one row group
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_workers_give_identical_output(shards: Path, tmp_path: Path):
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        pipeline = write_pipeline(tmp_path / f"p{workers}.yaml", f"{shards}/*.parquet", out, STEPS)
        assert main(["run", str(pipeline), "--quiet", "--workers", str(workers)]) == 0
        outputs.append({p.name: p.read_bytes() for p in sorted((out / "data").iterdir())})
    assert outputs[0] == outputs[1]


def test_rerun_skips_finished_shards_and_force_redoes(shards: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{shards}/*.parquet", out, STEPS)
    assert main(["run", str(pipeline), "--quiet"]) == 0
    first = (out / "data" / "a.parquet").stat().st_mtime_ns
    # forget one shard's completion: only that one is redone
    (out / "_thresher" / "markers" / "segment0" / "00001.json").unlink()
    capsys.readouterr()
    assert main(["run", str(pipeline), "--quiet"]) == 0
    assert "2 of 3 tasks already done, skipped" in capsys.readouterr().out
    assert (out / "data" / "a.parquet").stat().st_mtime_ns == first
    assert json.loads((out / "stats.json").read_text())["input_rows"] == 75
    assert main(["run", str(pipeline), "--quiet", "--force"]) == 0
    assert (out / "data" / "a.parquet").stat().st_mtime_ns != first


def test_changed_pipeline_is_refused_with_what_changed(shards: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{shards}/*.parquet", out, STEPS)
    assert main(["run", str(pipeline), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["run", str(pipeline), "--quiet", "--set", "steps.0.min_words=5"]) == 2
    err = capsys.readouterr().err
    assert "different pipeline" in err and "steps[0].min_words: 20 -> 5" in err


def test_one_bad_shard_fails_the_run_but_not_the_others(shards: Path, tmp_path: Path, capsys):
    (shards / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{shards}/*.parquet", out, STEPS)
    assert main(["run", str(pipeline), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "1 task(s) failed" in err and "broken.parquet" in err and "not a readable Parquet file" in err
    assert (out / "data" / "a.parquet").exists() and not (out / "data" / "broken.parquet").exists()
    assert not (out / "stats.json").exists()


def test_missing_text_column_names_file_and_column(tmp_path: Path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(pa.table({"body": ["x"]}), src / "s.parquet")
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{src}/*.parquet", tmp_path / "out", STEPS)
    assert main(["run", str(pipeline), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "s.parquet, column 'text': no such column (the file has: body)" in err


def test_jsonl_plain_gzip_and_zstd_inputs(tmp_path: Path):
    zstd = pytest.importorskip("zstandard")
    src = tmp_path / "in"
    src.mkdir()
    rows = make_docs(12).drop_columns(["id"]).to_pylist()  # no id column: ids are generated
    lines = "".join(json.dumps(r) + "\n" for r in rows).encode()
    (src / "plain.jsonl").write_bytes(lines)
    (src / "packed.jsonl.gz").write_bytes(gzip.compress(lines))
    (src / "tight.jsonl.zst").write_bytes(zstd.ZstdCompressor().compress(lines))
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{src}/*", out, STEPS)
    assert main(["run", str(pipeline), "--quiet"]) == 0
    for name in ("plain", "packed", "tight"):
        table = pq.read_table(out / "data" / f"{name}.parquet")
        assert table.num_rows == 8
        assert table["id"][0].as_py() == f"{name}/0000000001"


def test_directory_input_and_columns_selection(shards: Path, tmp_path: Path):
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", str(shards), out, STEPS, extra="")
    text = pipeline.read_text().replace("batch_rows: 8", "batch_rows: 8\n  columns: [id]")
    pipeline.write_text(text)
    assert main(["run", str(pipeline), "--quiet"]) == 0
    assert pq.read_table(out / "data" / "a.parquet").schema.names == ["id", "text"]


def test_global_step_runs_as_map_reduce_apply(shards: Path, tmp_path: Path):
    steps = STEPS + "  - type: toy_steps:DropBelowMedianLength\n  - type: text_length\n    name: final_length\n"
    results = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        pipeline = write_pipeline(
            tmp_path / f"p{workers}.yaml", f"{shards}/*.parquet", out, steps, extra="  keep_signals: true"
        )
        assert main(["run", str(pipeline), "--quiet", "--workers", str(workers)]) == 0
        stats = json.loads((out / "stats.json").read_text())
        results.append((read_dir(out / "data").sort_by("id"), stats))
        names = [s["name"] for s in stats["steps"]]
        assert names == ["text_length", "char_classes", "toy_steps:DropBelowMedianLength", "final_length"]
        median_step = stats["steps"][2]
        assert median_step["rows_in"] == 50 and 0 < median_step["rows_kept"] < 50
        assert stats["output_rows"] == stats["steps"][3]["rows_kept"] == median_step["rows_kept"]
        assert (out / "rejected" / "a.s1.parquet").exists()  # drops of the second segment
        markers = out / "_thresher" / "markers"
        assert sorted(p.name for p in markers.iterdir()) == [
            "segment0",
            "segment1",
            "toy_steps:DropBelowMedianLength.reduce",
        ]
    assert results[0][0].equals(results[1][0])


def test_validate_command(shards: Path, tmp_path: Path, capsys):
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{shards}/*.parquet", tmp_path / "out", STEPS)
    assert main(["validate", str(pipeline)]) == 0
    assert "2 steps, 3 input shards" in capsys.readouterr().out
    pipeline.write_text(pipeline.read_text().replace("min_words: 20", "min_words: lots"))
    assert main(["validate", str(pipeline)]) == 2
    assert "steps[0].min_words" in capsys.readouterr().err
