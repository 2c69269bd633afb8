"""Row repetition in the chain: a step may return `repeat` counts; extra copies are counted as
rows_added, numbered by a copy-index column, and the next step sees them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from thresher.chain import StepChain, StepCounts
from thresher.steps.base import Decision, Step, StepParams


class RepeatByColumn(Step):
    type = "test_repeat"

    def signal_fields(self):
        return []

    def compute_signals(self, text, batch):
        return pa.RecordBatch.from_pydict({"n": batch.column("n")})

    def decide(self, signals, batch):
        n = batch.column("n")
        reason = pc.if_else(pc.equal(n, 0), pa.scalar("zero"), pa.nulls(len(n), pa.string()))
        return Decision(keep=pc.is_null(reason), reason=reason, repeat=n, repeat_index_column="copy")


class CountRows(Step):
    type = "test_count"

    def compute_signals(self, text, batch):
        return pa.RecordBatch.from_pydict({"len": pc.utf8_length(text)})

    def decide(self, signals, batch):
        return Decision(keep=pa.array([True] * batch.num_rows), reason=pa.nulls(batch.num_rows, pa.string()))


def test_repeats_are_counted_as_added_and_ordered_by_copy():
    batch = pa.record_batch({"text": ["a", "b", "c", "d"], "n": [2, 0, 1, 3]})
    chain = StepChain([RepeatByColumn("rep", StepParams()), CountRows("after", StepParams())], "text")
    out = chain.run(batch)
    assert out.kept["text"].to_pylist() == ["a", "c", "d", "a", "d", "d"]
    assert out.kept["copy"].to_pylist() == [0, 0, 0, 1, 1, 2]
    rep = out.counts["rep"]
    assert (rep.rows_in, rep.rows_kept, rep.rows_added, dict(rep.rows_dropped)) == (4, 3, 3, {"zero": 1})
    rep.check("rep")  # rows_in = kept + dropped still holds
    assert out.counts["after"].rows_in == rep.rows_out == 6
    assert out.rejected[0]["drop_reason"].to_pylist() == ["rep:zero"]


def test_counts_round_trip_and_keep_old_json():
    counts = StepCounts(5, 4, rows_added=2)
    counts.rows_dropped["x"] = 1
    assert StepCounts.from_json(counts.to_json()) == counts
    assert "rows_added" not in StepCounts(1, 1).to_json()
    assert StepCounts.from_json({"rows_in": 1, "rows_kept": 1, "rows_dropped": {}}).rows_added == 0


def test_a_kept_row_must_have_at_least_one_copy():
    class Bad(RepeatByColumn):
        def decide(self, signals, batch):
            return Decision(keep=pa.array([True]), reason=pa.nulls(1, pa.string()), repeat=pa.array([0]))

    with pytest.raises(AssertionError, match="repeat < 1"):
        StepChain([Bad("bad", StepParams())], "text").run(pa.record_batch({"text": ["a"], "n": [0]}))
