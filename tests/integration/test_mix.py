"""The mix and language_counts steps through the real stages: counts, allocation, seeded selection,
repeated rows with an epoch column or a weight column, manifest, and the row accounting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from thresher.config import parse_pipeline
from thresher.executors.local import LocalExecutor
from thresher.stages import Plan

# Skewed sizes: language k has round(60 / k) documents of varied length.
LANGS = ["en", "de", "fr", "sw", "yo"]


def _corpus(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    rows = []
    for k, lang in enumerate(LANGS, start=1):
        for i in range(round(60 / k)):
            words = int(rng.integers(3, 40))
            rows.append({"id": f"{lang}-{i}", "lang": lang, "text": " ".join([f"{lang}word{i}"] * words)})
    rng.shuffle(rows)
    src = tmp_path / "in"
    src.mkdir()
    half = len(rows) // 2
    for name, part in (("a", rows[:half]), ("b", rows[half:]), ("c", [])):
        table = pa.Table.from_pylist(
            part, schema=pa.schema([("id", pa.string()), ("lang", pa.string()), ("text", pa.string())])
        )
        pq.write_table(table, src / f"{name}.parquet", row_group_size=9)
    return src


def _run(tmp_path: Path, steps: list[dict], out: str = "out", force: bool = False, workers: int = 1):
    raw = {
        "input": {"paths": [str(tmp_path / "in" / "*.parquet")], "batch_rows": 8},
        "steps": steps,
        "output": {"path": str(tmp_path / out), "rejected": True, "keep_signals": True},
    }
    plan = Plan.create(parse_pipeline(raw))
    summary = LocalExecutor(workers=workers, quiet=True).run(plan, force=force)
    return summary


def _sizes(src: Path) -> dict[str, float]:
    table = pq.read_table(src)
    out: dict[str, float] = {}
    for lang, text in zip(table["lang"].to_pylist(), table["text"].to_pylist(), strict=True):
        out[lang] = out.get(lang, 0.0) + len(text) / 4
    return out


@pytest.fixture
def corpus(tmp_path):
    return _corpus(tmp_path)


def test_unimax_mix_repeats_rows_and_accounts_for_them(tmp_path, corpus):
    sizes = _sizes(corpus)
    budget = 0.8 * 2 * sum(sizes.values())  # feasible with N = 2, so small languages get 2 epochs
    mix = {"type": "mix", "language_column": "lang", "budget": budget, "max_epochs": 2, "seed": 5}
    summary = _run(tmp_path, [mix])
    assert summary.ok, summary.errors
    stats = summary.stats
    step = stats["steps"][0]
    out = pq.read_table(tmp_path / "out" / "data")
    assert stats["input_rows"] + stats.get("added_rows", 0) == stats["output_rows"] + stats["dropped_rows"]
    assert stats["output_rows"] == out.num_rows == step["rows_kept"] + step["rows_added"]
    assert step["rows_added"] > 0
    manifest = json.loads((tmp_path / "out" / "mix.json").read_text())
    assert (tmp_path / "out" / "mix.md").read_text().startswith("# Mix: unimax")
    assert (tmp_path / "out" / "mix.counts.parquet").exists()
    by_lang = {r["language"]: r for r in manifest["languages"]}
    assert set(by_lang) == set(LANGS)
    longest = {
        lang: max(len(t) for t, g in zip(out["text"].to_pylist(), out["lang"].to_pylist(), strict=True) if g == lang)
        / 4
        for lang in LANGS
    }
    for lang, row in by_lang.items():
        assert row["size_available"] == pytest.approx(sizes[lang])
        assert row["epochs"] <= 2 + 1e-9
        assert abs(row["size_selected"] - row["budget"]) <= longest[lang] / 2 + 1e-9
        # Selected rows in the output match the manifest.
        assert int(pc.sum(pc.equal(out["lang"], lang)).as_py()) == row["docs_selected"]
    assert manifest["total"]["budget"] == pytest.approx(budget)
    # Epoch column: copy k of a document is epoch k; no document beyond epoch 1 (N = 2).
    assert set(out["epoch"].to_pylist()) == {0, 1}
    pairs = list(zip(out["id"].to_pylist(), out["epoch"].to_pylist(), strict=True))
    assert len(pairs) == len(set(pairs))
    # Uncapped languages share the budget equally.
    uncapped = [r["budget"] for r in by_lang.values() if r["epochs"] < 2 - 1e-9]
    assert uncapped and max(uncapped) == pytest.approx(min(uncapped))
    # 1.6 corpus passes with N = 2: every document is taken at least once, so none is dropped.
    assert stats["dropped_rows"] == 0 and out.num_rows == stats["input_rows"] + step["rows_added"]


def test_selection_is_deterministic_and_seeded(tmp_path, corpus):
    mix = {"type": "mix", "language_column": "lang", "budget": 400, "seed": 1}
    assert _run(tmp_path, [mix], "one").ok
    assert _run(tmp_path, [mix], "two", workers=2).ok
    assert _run(tmp_path, [{**mix, "seed": 2}], "three").ok
    ids = {name: pq.read_table(tmp_path / name / "data")["id"].to_pylist() for name in ("one", "two", "three")}
    assert ids["one"] == ids["two"]  # one worker or two, the same rows in the same order
    assert sorted(ids["one"]) != sorted(ids["three"])


def test_mix_counts_what_is_left_after_earlier_drops(tmp_path, corpus):
    steps = [
        {"type": "text_length", "min_words": 10},
        {"type": "mix", "language_column": "lang", "method": "proportional", "output": "weight"},
    ]
    summary = _run(tmp_path, steps)
    assert summary.ok, summary.errors
    counts = json.loads((tmp_path / "out" / "mix.counts.json").read_text())
    reached = summary.stats["steps"][0]["rows_kept"]
    assert counts["total"]["docs"] == reached == summary.stats["steps"][1]["rows_in"]
    out = pq.read_table(tmp_path / "out" / "data")
    # Proportional over the whole remaining corpus: every document exactly once, weight 1, no epoch column.
    assert out.num_rows == reached and set(out["sample_weight"].to_pylist()) == {1}
    assert "epoch" not in out.column_names


def test_weight_output_and_explicit_budgets(tmp_path, corpus):
    sizes = _sizes(corpus)
    mix = {
        "type": "mix",
        "language_column": "lang",
        "method": "budgets",
        "budgets": {"yo": 3 * sizes["yo"], "en": sizes["en"] / 2},
        "output": "weight",
    }
    summary = _run(tmp_path, [mix])
    assert summary.ok, summary.errors
    out = pq.read_table(tmp_path / "out" / "data")
    assert set(out["lang"].to_pylist()) == {"yo", "en"}
    yo = out.filter(pc.equal(out["lang"], "yo"))
    assert set(yo["sample_weight"].to_pylist()) == {3}  # exactly three whole epochs
    assert summary.stats.get("added_rows", 0) == 0


def test_language_filter_and_infeasible_budget(tmp_path, corpus):
    mix = {"type": "mix", "language_column": "lang", "budget": 1e12, "languages": ["en", "de"]}
    summary = _run(tmp_path, [mix])
    assert not summary.ok
    message = summary.errors[0].message
    assert "exceeds max_epochs N = 1" in message and "raise max_epochs to at least" in message
    small = {**mix, "budget": 100}
    summary = _run(tmp_path, [small], "ok")
    assert summary.ok
    reasons = set(pq.read_table(tmp_path / "ok" / "rejected")["drop_reason"].to_pylist())
    assert reasons == {"mix:language_excluded", "mix:not_selected"}


def test_language_counts_keeps_everything(tmp_path, corpus):
    summary = _run(
        tmp_path, [{"type": "language_counts", "language_column": "lang", "tokenizer": {"type": "whitespace"}}]
    )
    assert summary.ok, summary.errors
    counts = pq.read_table(tmp_path / "out" / "language_counts.counts.parquet").to_pylist()
    assert [r["language"] for r in counts] == sorted(LANGS)
    assert sum(r["docs"] for r in counts) == summary.stats["input_rows"] == summary.stats["output_rows"]
    out = pq.read_table(tmp_path / "out" / "data")
    words = pc.list_value_length(pc.utf8_split_whitespace(out["text"]))
    assert out["language_counts.tokens"].to_pylist() == words.cast(pa.float64()).to_pylist()


def test_temperature_mix_reports_epochs_and_runs_from_the_api(corpus):
    from thresher.api import Pipeline

    table = pq.read_table(corpus)
    steps = [{"type": "mix", "language_column": "lang", "method": "temperature", "temperature": 3.33, "seed": 9}]
    result = Pipeline.from_steps(steps).run_table(table)
    sizes = _sizes(corpus)
    kept = result.kept
    # Flattened towards uniform: the smallest language is repeated, the largest thinned.
    yo = kept.filter(pc.equal(kept["lang"], "yo"))
    en = kept.filter(pc.equal(kept["lang"], "en"))
    yo_tokens = sum(len(t) / 4 for t in yo["text"].to_pylist())
    en_tokens = sum(len(t) / 4 for t in en["text"].to_pylist())
    assert yo_tokens > 1.5 * sizes["yo"] and en_tokens < 0.9 * sizes["en"]
    assert max(yo["epoch"].to_pylist()) >= 1
    assert result.stats["output_rows"] == kept.num_rows
    with pytest.raises(RuntimeError, match="more than max_epochs = 1.5"):
        Pipeline.from_steps([{**steps[0], "max_epochs": 1.5}]).run_table(table)


def test_budget_for_a_language_absent_from_the_data_fails(tmp_path, corpus):
    mix = {"type": "mix", "language_column": "lang", "method": "budgets", "budgets": {"en": 100, "zz": 50}}
    summary = _run(tmp_path, [mix])
    assert not summary.ok
    assert "no data: zz" in summary.errors[0].message
    unimax = {"type": "mix", "language_column": "lang", "budget": 300, "languages": ["en", "zz"]}
    summary = _run(tmp_path, [unimax], "two")
    assert summary.ok, summary.errors
    rows = {r["language"]: r for r in json.loads((tmp_path / "two" / "mix.json").read_text())["languages"]}
    assert rows["zz"]["docs_available"] == 0 and rows["zz"]["budget"] == 0
    assert rows["en"]["budget"] == pytest.approx(300)


def test_rows_without_the_language_column_are_counted_as_und_with_a_warning(tmp_path, corpus):
    summary = _run(tmp_path, [{"type": "language_counts"}])  # default column language.lang is absent
    assert summary.ok, summary.errors
    counts = json.loads((tmp_path / "out" / "language_counts.counts.json").read_text())
    assert [r["language"] for r in counts["languages"]] == ["und"]
    assert counts["languages"][0]["docs"] == summary.stats["input_rows"]
    assert "without the column 'language.lang'" in counts["warnings"][0]
