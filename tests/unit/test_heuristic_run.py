"""Consecutive heuristic steps run as one Rust `HeuristicChain` (a fused run): the kept rows, rejected
rows, counts and rewritten text must be exactly those of running the steps one after the other."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.api import Pipeline
from thresher.chain import HeuristicRun, StepChain, plan_steps
from thresher.stages import build_steps

SAMPLE = Path(__file__).resolve().parents[2] / "pipelines" / "sample" / "web-cc.parquet"

EDGE_TEXTS = [
    None,
    "",
    " \n\t ",
    "Lorem ipsum dolor sit amet, and the rest of the page is fine to read.",
    "function f() { return 1; }\nThe code above is a function of the kind that we have to see.",
    "Enable javascript to see this page.\nThe rest of the text has the words of a good page to keep.\n"
    "It has [1] citations [edit] and lines. And more of them to be read by all of us.\n" * 3,
    "Read more...\nSIGN IN NOW\n12 likes\n" + "the cat and the dog went to the park to play.\n" * 8,
]


def sample_batch() -> pa.RecordBatch:
    table = pq.read_table(SAMPLE, columns=["id", "text"])
    edge = pa.table({"id": [f"edge-{i}" for i in range(len(EDGE_TEXTS))], "text": pa.array(EDGE_TEXTS, pa.string())})
    both = pa.concat_tables([table.cast(edge.schema), edge])
    return both.combine_chunks().to_batches()[0]


CHAINS = {
    "fineweb": [
        {"type": "gopher_repetition"},
        {"type": "gopher_quality"},
        {"type": "c4_quality", "filter_no_terminal_punct": False},
        {"type": "fineweb_quality"},
    ],
    "refinedweb-first": [
        {"type": "refinedweb_lines"},
        {"type": "c4_quality", "min_num_sentences": 2},
        {"type": "gopher_repetition", "profile": "dclm"},
        {"type": "fineweb_quality", "line_punct_exclude_zero": True},
    ],
    "dolma-words": [
        {"type": "gopher_quality", "profile": "dolma"},
        {"type": "gopher_repetition", "profile": "dolma", "max_top_2_gram_frac": None},
        {"type": "fineweb_quality", "profile": "fineweb-2024", "word_splitter": "whitespace"},
    ],
    "c4-original": [
        {"type": "c4_quality", "profile": "c4-original"},
        {"type": "gopher_quality", "profile": "c4-original", "min_doc_words": 20},
    ],
}


def run_both(steps_config: list[dict], batch: pa.RecordBatch):
    steps = build_steps(Pipeline.from_steps(steps_config).config)
    fused = StepChain(steps, "text").run(batch)
    stepwise = StepChain(steps, "text", fuse_heuristics=False).run(batch)
    return fused, stepwise


def assert_same(fused, stepwise) -> None:
    assert fused.kept.equals(stepwise.kept)
    assert len(fused.rejected) == len(stepwise.rejected)
    for a, b in zip(fused.rejected, stepwise.rejected, strict=True):
        assert a.schema.equals(b.schema)
        assert a.equals(b)
    assert {k: v.to_json() for k, v in fused.counts.items()} == {k: v.to_json() for k, v in stepwise.counts.items()}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_fused_run_equals_step_by_step(name: str) -> None:
    batch = sample_batch()
    fused, stepwise = run_both(CHAINS[name], batch)
    assert_same(fused, stepwise)
    # the comparison means something: rows are dropped along the chain and some reach its end
    assert 0 < fused.kept.num_rows < batch.num_rows
    assert sum(1 for r in fused.rejected if r is not None) >= 2


def test_runs_are_grouped_only_where_steps_can_be_fused() -> None:
    steps = build_steps(
        Pipeline.from_steps(
            [
                {"type": "gopher_repetition"},
                {"type": "gopher_quality"},
                {"type": "text_length"},
                {"type": "c4_quality", "keep_original_text": True},
                {"type": "fineweb_quality"},
                {"type": "gopher_quality", "name": "again"},
            ]
        ).config
    )
    plan = plan_steps(steps)
    assert [type(p).__name__ for p in plan] == ["HeuristicRun", "TextLength", "C4Quality", "HeuristicRun"]
    assert [s.name for s in plan[0].steps] == ["gopher_repetition", "gopher_quality"]
    assert all(not isinstance(p, HeuristicRun) for p in plan_steps(steps, fuse_heuristics=False))


def test_keep_original_text_runs_step_by_step_with_the_same_outputs() -> None:
    config = [{"type": "gopher_repetition"}, {"type": "c4_quality", "keep_original_text": True}]
    fused, stepwise = run_both(config, sample_batch())
    assert_same(fused, stepwise)
    assert "c4_quality.original_text" in fused.kept.schema.names


def test_input_that_already_has_the_signal_columns_goes_step_by_step() -> None:
    """Re-filtering an output that kept its signals: the step-by-step path replaces each column."""
    batch = sample_batch()
    first = Pipeline.from_steps(CHAINS["fineweb"]).run_table(pa.Table.from_batches([batch]))
    again = first.kept.combine_chunks().to_batches()[0]
    fused, stepwise = run_both(CHAINS["fineweb"], again)
    assert_same(fused, stepwise)
    assert fused.kept.num_rows > 0


def test_empty_batch() -> None:
    batch = sample_batch().slice(0, 0)
    fused, stepwise = run_both(CHAINS["fineweb"], batch)
    assert_same(fused, stepwise)
    assert fused.kept.num_rows == 0
