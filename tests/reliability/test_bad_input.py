"""Bad input, one test per kind. Each ends either in a clear error that names the file (and the row
group, column or line where one applies) with no traceback, or in rows quarantined in rejected/ with a
reason, every input row accounted for."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.cli import main
from thresher_testing import make_docs

MiB = 1024 * 1024
STEPS = "  - type: text_length\n    min_words: 2\n"


def pipeline(tmp: Path, paths: list[str], steps: str = STEPS, input_extra: str = "", out: Path | None = None) -> Path:
    path = tmp / "pipeline.yaml"
    out = out or tmp / "out"
    extra = "".join(f"\n  {line}" for line in input_extra.splitlines() if line)
    path.write_text(
        f"input:\n  paths: {json.dumps(paths)}\n  batch_rows: 64{extra}\nsteps:\n{steps}"
        f"output:\n  path: {json.dumps(str(out))}\n  rejected: true\n"
    )
    return path


def run(capsys, path: Path, *args: str) -> tuple[int, str, str]:
    code = main(["run", str(path), "--quiet", "--workers", "1", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_clear_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    assert "Traceback" not in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"


def accounted(out: Path, ids: list[str]) -> tuple[pa.Table, pa.Table, dict]:
    """Every input id is in data/ or rejected/ exactly once, and stats.json adds up."""
    kept = [pq.read_table(f) for f in sorted((out / "data").glob("*.parquet"))]
    dropped = [pq.read_table(f) for f in sorted((out / "rejected").glob("*.parquet"))]
    kept_t = (
        pa.concat_tables(kept, promote_options="permissive") if kept else pa.table({"id": pa.array([], pa.string())})
    )
    drop_t = (
        pa.concat_tables(dropped, promote_options="permissive")
        if dropped
        else pa.table({"id": pa.array([], pa.string()), "drop_reason": pa.array([], pa.string())})
    )
    seen = kept_t["id"].to_pylist() + drop_t["id"].to_pylist()
    assert sorted(seen) == sorted(ids)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["input_rows"] == len(ids) == stats["output_rows"] + stats["dropped_rows"]
    assert stats["output_rows"] == kept_t.num_rows
    return kept_t, drop_t, stats


def write_docs(path: Path, texts: list, text_type: pa.DataType | None = None, **kw) -> list[str]:
    ids = [f"{path.stem}-{i}" for i in range(len(texts))]
    text = pa.array(texts, text_type) if text_type is not None else pa.array(texts)
    pq.write_table(pa.table({"id": ids, "text": text}), path, **kw)
    return ids


# -- files that cannot be read: a clear error -------------------------------------------------


def test_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "nope.parquet")]))
    assert_clear_error(code, err, "nope.parquet", "no such file")


def test_glob_matching_nothing(tmp_path, capsys):
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "*.parquet")]))
    assert_clear_error(code, err, "*.parquet", "no file matches")


def test_file_deleted_after_listing(tmp_path, capsys):
    from thresher.config import load_pipeline
    from thresher.executors.local import LocalExecutor
    from thresher.stages import Plan

    write_docs(tmp_path / "a.parquet", ["some words here"] * 5)
    write_docs(tmp_path / "b.parquet", ["more words here"] * 5)
    plan = Plan.create(load_pipeline(pipeline(tmp_path, [str(tmp_path / "*.parquet")])))
    (tmp_path / "b.parquet").unlink()
    summary = LocalExecutor(quiet=True).run(plan)
    (error,) = summary.errors
    assert "b.parquet" in error.where and "no such file" in error.message and "Traceback" not in error.message
    assert (tmp_path / "out" / "data" / "a.parquet").exists()  # the readable shard is done and kept


def test_truncated_parquet(tmp_path, capsys):
    write_docs(tmp_path / "a.parquet", ["some words here"] * 500)
    data = (tmp_path / "a.parquet").read_bytes()
    (tmp_path / "a.parquet").write_bytes(data[: len(data) // 2])
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert_clear_error(code, err, "a.parquet", "not a readable Parquet file")


def test_corrupt_parquet_page_names_row_group_and_column(tmp_path, capsys):
    texts = [f"document {i} " + "word " * 50 for i in range(400)]
    write_docs(tmp_path / "a.parquet", texts, row_group_size=100, compression="none")
    meta = pq.read_metadata(tmp_path / "a.parquet")
    text_index = meta.schema.to_arrow_schema().get_field_index("text")
    chunk = meta.row_group(2).column(text_index)
    data = bytearray((tmp_path / "a.parquet").read_bytes())
    start = chunk.data_page_offset
    for i in range(start, start + 64):  # the page header of row group 2's text column
        data[i] ^= 0x5A
    (tmp_path / "a.parquet").write_bytes(bytes(data))
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert_clear_error(code, err, "a.parquet, row group 2, column 'text'", "cannot decode")
    assert not list((tmp_path / "out" / "data").glob("*")) if (tmp_path / "out" / "data").exists() else True


def test_empty_zero_byte_parquet_file(tmp_path, capsys):
    (tmp_path / "a.parquet").write_bytes(b"")
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert_clear_error(code, err, "a.parquet", "0 bytes")


def test_not_a_parquet_file(tmp_path, capsys):
    (tmp_path / "a.parquet").write_text("id,text\n1,hello\n")
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert_clear_error(code, err, "a.parquet", "not a readable Parquet file")


def test_missing_text_column(tmp_path, capsys):
    pq.write_table(pa.table({"id": ["a"], "body": ["hello there"]}), tmp_path / "a.parquet")
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert_clear_error(code, err, "a.parquet", "column 'text'", "no such column", "body", "input.text_column")


@pytest.mark.parametrize(
    "values",
    [pa.array([1, 2], pa.int64()), pa.array([["a"], ["b"]]), pa.array([{"x": "a"}, {"x": "b"}])],
    ids=["int64", "list", "struct"],
)
def test_text_column_of_the_wrong_type(tmp_path, capsys, values):
    pq.write_table(pa.table({"id": ["a", "b"], "text": values}), tmp_path / "a.parquet")
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert_clear_error(code, err, "a.parquet, row group 0, column 'text'", "expected a string column")


def test_jsonl_with_a_bad_line_names_the_line(tmp_path, capsys):
    lines = [json.dumps({"id": f"d{i}", "text": "hello world"}) for i in range(50)]
    lines[37] = '{"id": "d37", "text": "unterminated'
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.jsonl")]))
    assert_clear_error(code, err, "a.jsonl, line 38", "not valid JSON Lines", "unterminated")


def test_jsonl_with_a_number_where_text_belongs(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_text('{"id": "a", "text": "hello there"}\n\n{"id": "b", "text": 12}\n')
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.jsonl")]))
    assert_clear_error(code, err, "a.jsonl, line 3", "changed from string to number")


def test_truncated_gzip_jsonl(tmp_path, capsys):
    payload = gzip.compress(b'{"id": "a", "text": "hello there"}\n' * 5000)
    (tmp_path / "a.jsonl.gz").write_bytes(payload[: len(payload) // 2])
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.jsonl.gz")]))
    assert_clear_error(code, err, "a.jsonl.gz", "cannot read", "runcated")


def test_a_json_line_beyond_the_size_limit(tmp_path, capsys):
    with open(tmp_path / "a.jsonl", "w") as f:
        f.write(json.dumps({"id": "a", "text": "word " * (4 * MiB)}) + "\n")  # 20 MB line
        f.write(json.dumps({"id": "b", "text": "word " * 10}) + "\n")
    path = pipeline(tmp_path, [str(tmp_path / "a.jsonl")], input_extra="max_document_bytes: 1048576")
    code, _, err = run(capsys, path)
    assert_clear_error(code, err, "a.jsonl", "longer than", "input.max_document_bytes")


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_file_changing_while_read(tmp_path, fmt):
    from thresher.config import InputConfig
    from thresher.io.readers import InputError, ShardReader, discover_shards

    path = tmp_path / f"a.{fmt}"
    if fmt == "parquet":
        write_docs(path, ["some words"] * 300, row_group_size=50)
    else:
        path.write_text("".join(json.dumps({"id": str(i), "text": "some words"}) + "\n" for i in range(300)))
    config = InputConfig(paths=[str(path)], batch_rows=50)
    reader = iter(ShardReader(discover_shards(config)[0], config))
    next(reader)
    with open(path, "ab") as f:  # another process appends while we read
        f.write(b"x" * 100)
    os.utime(path, ns=(0, 1))
    with pytest.raises(InputError, match=rf"a\.{fmt}: the file changed while it was being read"):
        list(reader)


# -- the output side ------------------------------------------------------------------------


def test_failing_writer_names_the_output_and_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    import errno

    from thresher.io import writers

    ids = write_docs(tmp_path / "a.parquet", [f"words number {i * 7919 % 1000003} {i**3}" for i in range(3000)])
    real_open = writers.AtomicParquetWriter._open

    class FullDisk:
        """A sink that accepts 2 KiB, then fails as a full disk does."""

        def __init__(self, sink):
            self.sink, self.written, self.closed = sink, 0, False

        def write(self, data):
            self.written += len(data)
            if self.written > 2048:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.sink.write(data)

        def __getattr__(self, name):
            return getattr(self.sink, name)

    def failing_open(self):
        real_open(self)
        self._writer.close()
        self._sink = FullDisk(self._sink)
        self._writer = pq.ParquetWriter(self._sink, self.schema, compression=self.compression)

    monkeypatch.setattr(writers.AtomicParquetWriter, "_open", failing_open)
    path = pipeline(tmp_path, [str(tmp_path / "a.parquet")])
    code, _, err = run(capsys, path)
    assert_clear_error(code, err, "cannot write", str(tmp_path / "out" / "data" / "a.parquet"), "No space left")
    assert not list((tmp_path / "out" / "data").glob("*")) if (tmp_path / "out" / "data").exists() else True
    assert list((tmp_path / "out" / "_thresher" / "tmp").glob("*")) == []
    monkeypatch.undo()  # space is back: the rerun completes
    code, _, err = run(capsys, path)
    assert code == 0, err
    accounted(tmp_path / "out", ids)


def _mount_tmpfs(target: Path, size: str) -> bool:
    target.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], capture_output=True)
    except FileNotFoundError:
        return False
    return done.returncode == 0


def test_full_disk_on_a_small_tmpfs(tmp_path, capsys):
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "256k"):
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    try:
        import random

        rng = random.Random(0)
        texts = [" ".join(str(rng.random()) for _ in range(200)) for _ in range(400)]  # ~1.6 MB, incompressible
        write_docs(tmp_path / "a.parquet", texts)
        path = pipeline(tmp_path, [str(tmp_path / "a.parquet")], out=small / "out")
        code, _, err = run(capsys, path)
        assert_clear_error(code, err, "cannot write", str(small / "out"), "No space left on device")
        assert not (small / "out" / "data").exists() or not list((small / "out" / "data").iterdir())
        assert list((small / "out" / "_thresher" / "tmp").iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


# -- the pipeline file --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "needles"),
    [
        ("steps:\n  - type: gopher_qualty\n", ["steps[0].type", "unknown step type 'gopher_qualty'", "text_length"]),
        ("steps:\n  - type: text_length\n    min_wrods: 3\n", ["steps[0].min_wrods", "unknown key"]),
        ("steps: []\nouptut: {path: x}\n", ["ouptut", "unknown key"]),
        ("steps:\n  - type: text_length\n    min_words: many\n", ["steps[0].min_words", '"many"']),
        ("steps: [\n", ["not valid YAML"]),
        ("- just\n- a list\n", ["expected a mapping"]),
    ],
    ids=["unknown-step", "typo-in-step-key", "unknown-top-key", "wrong-value-type", "yaml-syntax", "not-a-mapping"],
)
def test_bad_pipeline_files(tmp_path, capsys, document, needles):
    write_docs(tmp_path / "a.parquet", ["hello there"])
    path = tmp_path / "p.yaml"
    head = "" if document.startswith("- ") else f"input: {{paths: [{tmp_path / 'a.parquet'}]}}\noutput: {{path: out}}\n"
    path.write_text(head + document)
    code, _, err = run(capsys, path)
    assert code == 2
    assert_clear_error(code, err, "p.yaml", *needles)


def test_missing_pipeline_file(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "nope.yaml")
    assert_clear_error(code, err, "nope.yaml", "no such pipeline file")


def test_missing_model_folder_of_ask_llm(tmp_path, capsys):
    write_docs(tmp_path / "a.parquet", ["hello there, this is a document"] * 3)
    missing = tmp_path / "no-such-model"
    steps = (
        f"  - type: ask_llm\n    backend: {{type: transformers, model: {json.dumps(str(missing))}}}\n"
        "    questions: [quality]\n    selection: {mode: none}\n"
    )
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")], steps=steps))
    assert_clear_error(code, err, "a.parquet", str(missing), "not a local model folder")


def _model_path_fields() -> list[tuple[str, str]]:
    from thresher.steps.registry import all_step_classes

    found = []
    for step_type, cls in sorted(all_step_classes().items()):
        for name in cls.Params.model_fields:
            if "model" in name and any(word in name for word in ("path", "file", "dir")):
                found.append((step_type, name))
    return found


@pytest.mark.parametrize(
    "step_type,field",
    _model_path_fields()
    or [
        pytest.param(
            None, None, marks=pytest.mark.skip(reason="no registered step has a top-level model-path parameter")
        )
    ],
)
def test_missing_model_file(tmp_path, capsys, step_type, field):
    """Every step with a model file parameter: a missing file is a clear error before or during the run."""
    write_docs(tmp_path / "a.parquet", ["hello there, this is a document"] * 3)
    missing = tmp_path / "no-such-model.bin"
    steps = f"  - type: {step_type}\n    {field}: {json.dumps(str(missing))}\n"
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")], steps=steps))
    assert_clear_error(code, err, "no-such-model.bin")


# -- row-level problems: quarantined with a reason, counted ----------------------------------------


def test_null_texts_are_rejected_with_a_reason(tmp_path, capsys):
    ids = write_docs(tmp_path / "a.parquet", ["hello there", None, "more words", None])
    code, out, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert code == 0, err
    _, dropped, stats = accounted(tmp_path / "out", ids)
    assert dropped["drop_reason"].to_pylist() == ["input:null_text"] * 2
    assert stats["input_validation"]["rows_dropped"] == {"null_text": 2}
    assert "input:null_text: 2 dropped" in out


def test_a_text_column_of_only_nulls(tmp_path, capsys):
    ids = ["a", "b"]
    pq.write_table(pa.table({"id": ids, "text": pa.nulls(2)}), tmp_path / "a.parquet")
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert code == 0, err
    _, dropped, _ = accounted(tmp_path / "out", ids)
    assert set(dropped["drop_reason"].to_pylist()) == {"input:null_text"}


def test_empty_strings_are_counted_by_the_steps(tmp_path, capsys):
    ids = write_docs(tmp_path / "a.parquet", ["", "hello there", "   ", "\n\n"])
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert code == 0, err
    kept, dropped, _ = accounted(tmp_path / "out", ids)
    assert kept["text"].to_pylist() == ["hello there"]
    assert dropped["drop_reason"].to_pylist() == ["text_length:too_few_words"] * 3


def test_invalid_utf8_in_a_binary_column(tmp_path, capsys):
    ids = write_docs(
        tmp_path / "a.parquet", [b"good words", b"bad \xff\xfe bytes", None, b"\xc3\xa9t\xc3\xa9 ok"], pa.binary()
    )
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert code == 0, err
    kept, dropped, _ = accounted(tmp_path / "out", ids)
    assert sorted(dropped["drop_reason"].to_pylist()) == ["input:invalid_utf8", "input:null_text"]
    assert kept["text"].to_pylist() == ["good words", "été ok"]


def test_invalid_utf8_inside_a_string_typed_parquet_column(tmp_path, capsys):
    texts = pa.array([b"good words", b"bad \xff bytes here", b"fine text"], pa.binary()).view(pa.string())
    ids = ["a", "b", "c"]
    pq.write_table(pa.table({"id": ids, "text": texts}), tmp_path / "a.parquet")
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert code == 0, err
    kept, dropped, _ = accounted(tmp_path / "out", ids)
    assert dropped["drop_reason"].to_pylist() == ["input:invalid_utf8"] and kept.num_rows == 2


def test_invalid_utf8_inside_jsonl(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_bytes(b'{"id": "a", "text": "bad \xff\xfe bytes"}\n{"id": "b", "text": "ok words"}\n')
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.jsonl")]))
    assert code == 0, err
    _, dropped, _ = accounted(tmp_path / "out", ["a", "b"])
    assert dropped["id"].to_pylist() == ["a"] and dropped["drop_reason"].to_pylist() == ["input:invalid_utf8"]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_single_50_mb_document(tmp_path, capsys, fmt):
    big = "word " * (10 * MiB)  # 50 MiB
    ids = ["small", "big", "after"]
    texts = ["hello there", big, "more words"]
    if fmt == "parquet":
        pq.write_table(pa.table({"id": ids, "text": texts}), tmp_path / "a.parquet")
    else:
        lines = (json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, texts, strict=True))
        (tmp_path / "a.jsonl").write_text("".join(lines))
    del big, texts
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / f"a.{fmt}")]))
    assert code == 0, err
    kept, dropped, _ = accounted(tmp_path / "out", ids)
    assert dropped["id"].to_pylist() == ["big"]
    assert dropped["drop_reason"].to_pylist() == ["input:document_too_large"]
    assert dropped["text"][0].as_py().startswith("word word")  # quarantined whole, not lost


def test_an_empty_shard_and_an_empty_jsonl_file(tmp_path, capsys):
    pq.write_table(make_docs(0), tmp_path / "empty.parquet")
    (tmp_path / "nothing.jsonl").write_bytes(b"")
    ids = write_docs(tmp_path / "full.parquet", ["hello there"] * 3)
    path = pipeline(tmp_path, [str(tmp_path / "*.parquet"), str(tmp_path / "nothing.jsonl")])
    code, _, err = run(capsys, path)
    assert code == 0, err
    accounted(tmp_path / "out", ids)
    assert pq.read_table(tmp_path / "out" / "data" / "empty.parquet").num_rows == 0


def test_deeply_nested_json_lines(tmp_path, capsys):
    nested = "[" * 2000 + "]" * 2000
    lines = [f'{{"id": "a", "text": "hello there", "meta": {nested}}}', '{"id": "b", "text": "two words"}']
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.jsonl")]))
    # Parquet readers refuse schemas nested deeper than 100 levels: say so instead of writing such a file
    assert_clear_error(code, err, "a.jsonl", "field 'meta' is nested 2000 levels deep", "input.columns")
    path = pipeline(tmp_path, [str(tmp_path / "a.jsonl")], input_extra="columns: [id]")
    code, _, err = run(capsys, path, "--force")
    assert code == 0, err
    accounted(tmp_path / "out", ["a", "b"])


def test_a_json_line_longer_than_a_read_block(tmp_path, capsys, monkeypatch):
    from thresher.io.readers import ShardReader

    monkeypatch.setattr(ShardReader, "JSONL_BLOCK_BYTES", 4096)  # small blocks: the long line straddles two
    ids = [f"d{i}" for i in range(300)]
    with open(tmp_path / "a.jsonl", "w") as f:
        for i, doc_id in enumerate(ids):
            text = "word " * 3000 if i == 150 else f"document number {i}"
            f.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.jsonl")], input_extra="max_document_bytes: 8192"))
    assert code == 0, err
    kept, dropped, _ = accounted(tmp_path / "out", ids)
    assert dropped["id"].to_pylist() == ["d150"]
    assert dropped["drop_reason"].to_pylist() == ["input:document_too_large"]
    assert kept["id"].to_pylist() == [i for i in ids if i != "d150"]  # order kept, nothing read twice


def test_rows_without_ids_get_generated_ones(tmp_path, capsys):
    pq.write_table(pa.table({"id": ["a", None, "c"], "text": ["hello there"] * 3}), tmp_path / "a.parquet")
    code, _, err = run(capsys, pipeline(tmp_path, [str(tmp_path / "a.parquet")]))
    assert code == 0, err
    kept = pq.read_table(tmp_path / "out" / "data" / "a.parquet")
    assert kept["id"].null_count == 0 and kept["id"][0].as_py() == "a" and kept["id"][2].as_py() == "c"
