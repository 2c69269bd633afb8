"""The `decontaminate` step: normalisation, matching rules, eval-set loading, index caching, edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher import _core
from thresher.api import Pipeline
from thresher.config import ConfigError
from thresher.steps.decontaminate import DecontaminateParams, EvalSet, ensure_index, excerpt, load_eval_items

QUESTION = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?"
)
ANSWER = "Natalia sold 48/2 = 24 clips in May. Natalia sold 48+24 = 72 clips altogether in April and May."
WEB = (
    "Welcome to our gardening blog where we talk about tomatoes, roses and the best time of year "
    "to plant bulbs in a temperate climate with plenty of rain."
)


def write_eval(tmp_path: Path, rows: list[dict], name: str = "eval.parquet") -> str:
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def pipeline(tmp_path: Path, eval_sets: list[dict], **params) -> Pipeline:
    step = {"type": "decontaminate", "index_dir": str(tmp_path / "index"), "eval_sets": eval_sets, **params}
    return Pipeline.from_steps([step])


def docs(*texts: str) -> pa.Table:
    return pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": list(texts)})


def test_normalisation_by_hand():
    got = _core.ngram_normalize(pa.array(["Natalia sold 48/2 = 24 clips!", "ÉCOLE  Straße", "東京abc", None, "..."]))
    assert got.to_pylist() == ["natalia sold 48 2 24 clips", "école straße", "東 京 abc", None, ""]


def test_drops_documents_containing_an_item_with_signals(tmp_path):
    path = write_eval(tmp_path, [{"id": "gsm-1", "question": QUESTION, "answer": ANSWER}])
    p = pipeline(tmp_path, [{"name": "gsm8k", "paths": [path], "text_columns": ["question", "answer"]}], n=8)
    # Pasted with other casing and punctuation: normalisation makes it match anyway.
    pasted = f"{WEB}\n\n{QUESTION.upper().replace(',', ';')}\n\nMore about roses."
    result = p.run_table(docs(pasted, WEB))
    assert result.kept.column("id").to_pylist() == ["d1"]
    rejected = result.rejected.to_pylist()[0]
    assert rejected["drop_reason"] == "decontaminate:contaminated"
    assert rejected["decontaminate.eval_set"] == "gsm8k"
    assert rejected["decontaminate.matched_items"] == ["gsm-1"]
    question_words = len(_core.ngram_normalize(pa.array([QUESTION]))[0].as_py().split())
    assert rejected["decontaminate.best_item_ngrams"] == question_words - 8 + 1
    assert 0 < rejected["decontaminate.max_item_fraction"] < 1
    kept = result.kept.to_pylist()[0]
    assert kept["decontaminate.matched_ngrams"] == 0 and kept["decontaminate.eval_set"] is None


def test_joined_columns_and_list_columns(tmp_path):
    path = write_eval(
        tmp_path,
        [{"q": "Which planet is known as the red planet", "choices": ["Mars", "Venus"], "a": "Mars"}],
    )
    p = pipeline(tmp_path, [{"paths": [path], "text_columns": ["q", "choices", "a"], "id_column": None}], n=5)
    # The join crosses the question/choices boundary: "the red planet mars venus" is one 5-gram.
    result = p.run_table(docs("quiz: the red planet? Mars, Venus! Mars", "the red planet is nice"))
    assert result.kept.column("id").to_pylist() == ["d1"]
    assert result.rejected.column("decontaminate.matched_items").to_pylist() == [["eval/0"]]


def test_flag_mode_keeps_everything(tmp_path):
    path = write_eval(tmp_path, [{"id": "a", "text": QUESTION}])
    p = pipeline(tmp_path, [{"paths": [path]}], action="flag")
    result = p.run_table(docs(QUESTION, WEB))
    assert result.kept.num_rows == 2
    assert result.kept.column("decontaminate.contaminated").to_pylist() == [True, False]
    assert result.stats["steps"][0]["rows_dropped"] == {}


def test_fraction_rule(tmp_path):
    item = " ".join(f"w{i}" for i in range(20))  # 16 distinct 5-grams
    path = write_eval(tmp_path, [{"id": "x", "text": item}])
    p = pipeline(tmp_path, [{"paths": [path]}], n=5, min_matched_ngrams=None, min_item_fraction=0.5)
    half = " ".join(f"w{i}" for i in range(12))  # 8 of 16
    little = " ".join(f"w{i}" for i in range(8))  # 4 of 16
    result = p.run_table(docs(half, little, item))
    assert result.kept.column("id").to_pylist() == ["d1"]
    fractions = sorted(result.rejected.column("decontaminate.max_item_fraction").to_pylist())
    assert fractions == [0.5, 1.0]


def test_min_matched_ngrams_counts_per_item(tmp_path):
    path = write_eval(tmp_path, [{"id": "x", "text": "a b c d e f g"}])
    p = pipeline(tmp_path, [{"paths": [path]}], n=3, min_matched_ngrams=3)
    # Shares 2, 3 and 2 (abc, cde) of the item's trigrams.
    result = p.run_table(docs("a b c d", "a b c d e", "a b c zz c d e"))
    assert result.kept.column("id").to_pylist() == ["d0", "d2"]


def test_empty_eval_sets(tmp_path):
    empty = write_eval(tmp_path, [{"id": "x", "text": "math item words here", "kind": "math"}])
    for eval_sets in ([], [{"paths": [empty], "where": {"kind": "^code$"}}]):
        p = pipeline(tmp_path, eval_sets)
        result = p.run_table(docs(QUESTION, WEB))
        assert result.kept.num_rows == 2
        assert result.kept.column("decontaminate.matched_ngrams").to_pylist() == [0, 0]


def test_items_shorter_than_n_are_not_indexed(tmp_path):
    path = write_eval(tmp_path, [{"id": "short", "text": "only five words in here"}, {"id": "long", "text": QUESTION}])
    params = DecontaminateParams(eval_sets=[EvalSet(paths=[path])], n=13)
    _, items_path = ensure_index(params, tmp_path / "index")
    assert pq.read_table(items_path).column("ngrams").to_pylist()[0] == 0
    p = pipeline(tmp_path, [{"paths": [path]}])
    result = p.run_table(docs("prefix only five words in here suffix", WEB))
    assert result.kept.num_rows == 2


def test_unicode_items(tmp_path):
    items = [
        {"id": "ja", "text": "東京は日本の首都です。"},
        {"id": "fr", "text": "L'ÉCOLE est fermée le dimanche matin"},
    ]
    path = write_eval(tmp_path, items)
    p = pipeline(tmp_path, [{"paths": [path]}], n=4)
    result = p.run_table(
        docs(
            "ニュース：東京は日本の首都です",
            "l école est fermée... le dimanche",
            "日本の",
            "\u0000\ufffd emoji 🎉🎉🎉🎉",
        )
    )
    assert sorted(result.rejected.column("id").to_pylist()) == ["d0", "d1"]
    by_id = {r["id"]: r["decontaminate.matched_items"] for r in result.rejected.to_pylist()}
    assert by_id == {"d0": ["ja"], "d1": ["fr"]}


def test_where_filter_and_generated_ids(tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [
        {"text": f"item number {i} with enough words to index", "kind": "math" if i % 2 else "code"} for i in range(6)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    items = load_eval_items(EvalSet(name="m", paths=[str(path)], where={"kind": "^math$"}, id_column="nope"))
    assert items.column("item_id").to_pylist() == ["m/0", "m/1", "m/2"]
    assert all(" 1 " in t or " 3 " in t or " 5 " in t for t in items.column("text").to_pylist())


def test_index_is_built_once_and_rebuilt_when_n_changes(tmp_path):
    path = write_eval(tmp_path, [{"id": "a", "text": QUESTION}])
    params = DecontaminateParams(eval_sets=[EvalSet(paths=[path])], n=13)
    first, _ = ensure_index(params, tmp_path / "index")
    stamp = first.stat().st_mtime_ns
    again, _ = ensure_index(params, tmp_path / "index")
    assert again == first and again.stat().st_mtime_ns == stamp
    other, _ = ensure_index(params.model_copy(update={"n": 8}), tmp_path / "index")
    assert other != first
    index = _core.NgramIndex(str(other))
    assert index.n == 8 and index.num_items == 1 and index.num_keys > 0


def test_bad_index_file_is_refused(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"THRNGRM1" + b"\0" * 10)
    with pytest.raises(_core.ThresherCoreError, match="not a usable n-gram index"):
        _core.NgramIndex(str(bad))


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="min_matched_ngrams or min_item_fraction"):
        pipeline(tmp_path, [], min_matched_ngrams=None)
    with pytest.raises(ConfigError, match="distinct"):
        pipeline(tmp_path, [{"paths": ["a.parquet"]}, {"paths": ["x/a.parquet"]}])
    with pytest.raises(ConfigError, match="action"):
        pipeline(tmp_path, [], action="delete")


def test_excerpt_is_centred_on_the_match():
    text = "x" * 1000 + " MATCH HERE " + "y" * 1000
    start = text.index("MATCH")
    got = excerpt(text, start, start + 10, context=5)
    assert got.startswith("…") and got.endswith("…") and "MATCH HERE" in got and len(got) < 40
    assert excerpt("é" * 10, 1, 5) == "é" * 10  # cut inside a character: dropped, never an error
