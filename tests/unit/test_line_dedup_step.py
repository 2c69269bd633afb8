"""`line_dedup`: count merging, the corpus-scaled threshold, and the whole map/reduce/apply path."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from thresher import _core
from thresher.api import Pipeline
from thresher.steps.line_dedup import LineDedupParams, corpus_threshold, merge_counts

CONTENT = "This sentence of real content is unique to document number {i} and says something new."


def test_merge_counts():
    hashes = np.array([5, 1, 5, 3, 1, 5], np.uint64)
    counts = np.array([1, 2, 1, 1, 1, 4], np.uint64)
    h, c = merge_counts(hashes, counts)
    assert h.tolist() == [1, 3, 5] and c.tolist() == [3, 1, 6]
    h, c = merge_counts(np.empty(0, np.uint64), np.empty(0, np.uint64))
    assert len(h) == len(c) == 0


def test_threshold_scales_with_corpus_size():
    p = LineDedupParams()
    assert corpus_threshold(p, 1_000) == 6
    assert corpus_threshold(p, 30_000_000) == 6
    assert corpus_threshold(p, 90_000_000) == 18
    assert corpus_threshold(LineDedupParams(scale_with_corpus=False), 90_000_000) == 6


def test_line_normalisation():
    got = _core.line_normalize(pa.array(["  Accept ALL cookies!  ", "© 2019", "---"]))
    assert got.to_pylist() == ["accept all cookies", "2019", ""]
    assert _core.line_normalize(pa.array(["© 2019"]), digits_to_zero=True).to_pylist() == ["0000"]
    hashes = _core.line_hash(pa.array(["Home", "HOME.", "---"]))
    assert hashes[0] == hashes[1] and hashes[2].as_py() is None


def corpus(n_docs: int, boilerplate_docs: int) -> pa.Table:
    texts = []
    for i in range(n_docs):
        lines = ["Home | About | Contact"] if i < boilerplate_docs else []
        lines += [CONTENT.format(i=i), "Short local note."]
        if i < boilerplate_docs:
            lines.append("We use cookies to improve your experience. Accept all cookies.")
        texts.append("\n".join(lines))
    texts.append("Home | About | Contact\nok")  # left with 2 characters: dropped
    return pa.table({"id": [f"d{i:02d}" for i in range(len(texts))], "text": texts})


def test_removes_frequent_lines_and_drops_short_leftovers():
    p = Pipeline.from_steps([{"type": "line_dedup", "max_count": 6, "min_remaining_chars": 20, "partitions": 3}])
    result = p.run_table(corpus(n_docs=12, boilerplate_docs=8))
    kept = {r["id"]: r for r in result.kept.to_pylist()}
    # 9 documents hold the menu, 8 the cookie line: both over 6, removed; "Short local note." is in 12.
    assert "d12" not in kept
    assert result.rejected.column("drop_reason").to_pylist() == ["line_dedup:too_short_after_line_dedup"]
    assert kept["d00"]["text"] == CONTENT.format(i=0) + "\n"
    assert kept["d00"]["line_dedup.removed_lines"] == 3
    assert kept["d11"]["text"] == CONTENT.format(i=11) + "\n"  # no menu there, only the shared note removed
    for i in range(12):  # content lines that appear once are all kept
        assert CONTENT.format(i=i) in kept[f"d{i:02d}"]["text"]


def test_lines_at_the_threshold_are_kept():
    p = Pipeline.from_steps([{"type": "line_dedup", "max_count": 6, "min_remaining_chars": 0, "partitions": 2}])
    # 5 + 1 documents hold the menu: it stays; 7 hold the short note: it goes.
    result = p.run_table(corpus(n_docs=7, boilerplate_docs=5))
    texts = result.kept.column("text").to_pylist()
    assert sum("Home | About | Contact" in t for t in texts) == 6
    assert not any("Short local note." in t for t in texts)


def test_empty_corpus():
    p = Pipeline.from_steps([{"type": "line_dedup"}])
    result = p.run_table(pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}))
    assert result.kept.num_rows == 0


@pytest.mark.parametrize("bad", [{"partitions": 0}, {"max_count": 0}, {"nope": 1}])
def test_bad_params(bad):
    from thresher.config import ConfigError

    with pytest.raises(ConfigError):
        Pipeline.from_steps([{"type": "line_dedup", **bad}])
