import pyarrow as pa
import pytest

from thresher import Pipeline
from thresher.chain import StepChain
from thresher.stages import build_steps


def test_rows_split_into_kept_and_rejected_with_reasons():
    table = pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "text": ["one two three four five", "one", None, "12345 67890 11111 22222 33333"],
        }
    )
    pipe = Pipeline.from_steps(
        [{"type": "text_length", "min_words": 3}, {"type": "char_classes", "min_alphabetic_fraction": 0.5}]
    )
    result = pipe.run_table(table)
    assert result.kept["id"].to_pylist() == ["a"]
    reasons = dict(zip(result.rejected["id"].to_pylist(), result.rejected["drop_reason"].to_pylist(), strict=True))
    assert reasons == {"b": "text_length:too_few_words", "c": "input:null_text", "d": "char_classes:too_few_letters"}
    assert result.stats["input_validation"]["rows_dropped"] == {"null_text": 1}
    steps = {s["name"]: s for s in result.stats["steps"]}
    assert steps["text_length"] == {
        "name": "text_length",
        "type": "text_length",
        "rows_in": 3,
        "rows_kept": 2,
        "rows_dropped": {"too_few_words": 1},
    }
    assert steps["char_classes"]["rows_in"] == 2
    # signals travel with the rows, prefixed by the step name
    assert result.kept["text_length.words"].to_pylist() == [5]
    assert result.rejected.filter(pa.compute.equal(result.rejected["id"], "b"))["text_length.words"].to_pylist() == [1]


def test_first_failing_rule_gives_the_reason():
    table = pa.table({"text": ["x"]})
    result = Pipeline.from_steps([{"type": "text_length", "min_chars": 5, "min_words": 5}]).run_table(table)
    assert result.rejected["drop_reason"].to_pylist() == ["text_length:too_few_chars"]
    # an id is generated when the input has none
    assert result.rejected["id"].to_pylist() == ["memory/0000000000"]


def test_document_too_large_is_rejected_not_loaded():
    table = pa.table({"id": ["big", "ok"], "text": ["x" * 2048, "fine text"]})
    pipe = Pipeline.from_steps([{"type": "text_length"}])
    pipe.config.input.max_document_bytes = 1024
    result = pipe.run_table(table)
    assert result.kept["id"].to_pylist() == ["ok"]
    assert result.rejected["drop_reason"].to_pylist() == ["input:document_too_large"]


def test_invalid_utf8_in_binary_column_is_quarantined():
    table = pa.table({"id": ["good", "bad"], "text": pa.array([b"plain words here", b"\xff\xfe broken"], pa.binary())})
    result = Pipeline.from_steps([{"type": "text_length"}]).run_table(table)
    assert result.kept["id"].to_pylist() == ["good"]
    assert result.kept["text"].to_pylist() == ["plain words here"]
    assert result.rejected["drop_reason"].to_pylist() == ["input:invalid_utf8"]


def test_empty_strings_are_measured_not_lost():
    table = pa.table({"text": ["", "  ", "word"]})
    result = Pipeline.from_steps([{"type": "text_length", "min_words": 1}]).run_table(table)
    assert result.kept.num_rows == 1
    assert result.rejected["drop_reason"].to_pylist() == ["text_length:too_few_words"] * 2


def test_step_returning_wrong_row_count_fails_loudly():
    from thresher.config import parse_pipeline

    config = parse_pipeline({"input": {"paths": ["-"]}, "steps": [{"type": "text_length"}], "output": {"path": "o"}})
    steps = build_steps(config)
    steps[0].compute_signals = lambda text, batch: pa.record_batch({"chars": pa.array([1], pa.uint64())})
    chain = StepChain(steps, "text")
    with pytest.raises(AssertionError, match="returned 1 signal rows for 2 documents"):
        chain.run(pa.record_batch({"text": ["a", "b"], "id": ["1", "2"]}))


def test_accepts_string_view_and_large_string():
    for kind in (pa.string_view(), pa.large_string(), pa.string()):
        table = pa.table({"text": pa.array(["one two", "three"], kind)})
        result = Pipeline.from_steps([{"type": "text_length", "min_words": 2}]).run_table(table)
        assert result.kept.num_rows == 1, kind


def test_in_memory_runs_call_open_with_a_work_dir():
    result = Pipeline.from_steps([{"type": "toy_steps:OpenedMarker"}]).run_table(pa.table({"text": ["a", "b"]}))
    assert result.kept.num_rows == 2, result.rejected["drop_reason"].to_pylist()
