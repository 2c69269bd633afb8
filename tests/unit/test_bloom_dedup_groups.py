"""bloom_dedup across shards (`shards_per_filter`): map, one reduce task per group, apply.

Runs go through the real stages: `Pipeline.run_table` (one shard) and `filter run` on Parquet
shards with the local executor (one and two workers).
"""

from __future__ import annotations

import itertools
import json
import logging
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.api import Pipeline
from thresher.cli import main
from thresher.config import parse_pipeline
from thresher.executors.local import LocalExecutor
from thresher.stages import Plan
from thresher.steps.base import StepContext
from thresher.steps.dedup import BloomDedup, BloomDedupParams
from thresher_testing import write_pipeline

WORDS = (
    "river mountain quiet library window garden village market bridge candle winter summer orange "
    "silver forest music paper stone harbor valley meadow lantern engine pocket thunder"
).split()


def line(seed: int, words: int = 16) -> str:
    """A deterministic line of distinct-looking words, different for every seed."""
    out, x = [], seed * 7919 + 1
    for _ in range(words):
        x = (x * 1103515245 + 12345) % 2**31
        out.append(WORDS[x % len(WORDS)] + str((x >> 8) % 97))
    return " ".join(out)


def doc(*seeds: int) -> str:
    return "\n".join(line(s) for s in seeds)


# A copy of a one-line document is a duplicate document. A copy of a document of several short
# lines usually is not: the n-grams across its line breaks were never inserted (only surviving
# lines' n-grams are), so its lines are removed one by one instead (all_units_duplicate).
def long_line(seed: int) -> str:
    return line(seed, 40)


BOILER = "Subscribe to our newsletter for the latest news and updates from the whole editorial team of this site"
GREEK = "καλημέρα κόσμε σήμερα βρέχει πολύ στην πόλη και όλοι μένουν σπίτι τους με ένα βιβλίο και τσάι"
CJK = "今天 天气 很好 我们 去 公园 散步 吧 然后 一起 吃饭 再 回家 看 电影 睡觉"

# One shard's worth of rows that exercise every outcome: repeated lines, a repeated document,
# an all-duplicate document, empty and short texts, unicode-only text, paragraphs.
MIXED = [
    doc(1, 2) + "\n" + BOILER,
    doc(3, 4) + "\n" + BOILER,  # the boiler line goes
    doc(1, 2) + "\n" + BOILER,  # an exact copy: every line goes
    doc(1),  # inside a seen line: a duplicate document
    "",
    "Home | About\nHome | About",  # lines shorter than the n-gram
    GREEK + "\n" + CJK,
    CJK + "\n" + line(5),
    "🙂 🚀 🌍 🎉 🙂 🚀 🌍 🎉 🙂 🚀 🌍 🎉 🙂 🚀 🌍",
    "🙂 🚀 🌍 🎉 🙂 🚀 🌍 🎉 🙂 🚀 🌍 🎉 🙂 🚀 🌍",
    doc(6, 7) + "\n\n" + doc(8) + "\n\n\n" + doc(6, 7),
    line(9) + "\r\n" + BOILER + "\r\n",
]


def bloom(**params) -> dict:
    return {"type": "bloom_dedup", "expected_ngrams": 100_000, "fp_rate": 1e-6, **params}


def ordered(result, table_name: str) -> list[dict]:
    table = getattr(result, table_name)
    return sorted(table.to_pylist(), key=lambda r: r["id"]) if table.num_rows else []


# -- the group path gives the per-shard path's results ------------------------------------------
@pytest.mark.parametrize("mode", ["old_both", "units", "document"])
@pytest.mark.parametrize("unit", ["line", "paragraph"])
def test_one_shard_group_equals_the_per_shard_path(mode: str, unit: str):
    table = pa.table({"id": [f"r{i:02d}" for i in range(len(MIXED))], "text": MIXED})
    runs = {}
    for scope in (1, 0, 5):
        step = bloom(mode=mode, unit=unit, ngram=5, shards_per_filter=scope)
        runs[scope] = Pipeline.from_steps([step]).run_table(table)
    per_shard = runs[1]
    # Something happened, so equality below means something.
    assert per_shard.rejected.num_rows > 0
    if mode != "document":
        assert sum(per_shard.kept.column("bloom_dedup.removed_units").to_pylist()) > 0
    for scope in (0, 5):
        assert ordered(runs[scope], "kept") == ordered(per_shard, "kept"), scope
        assert ordered(runs[scope], "rejected") == ordered(per_shard, "rejected"), scope
        step_stats = runs[scope].stats["steps"][0]
        assert {k: step_stats[k] for k in ("rows_in", "rows_kept", "rows_dropped")} == {
            k: per_shard.stats["steps"][0][k] for k in ("rows_in", "rows_kept", "rows_dropped")
        }
        summary = step_stats["summary"]
        assert summary["groups"] == 1
        assert summary["duplicate_documents"] == step_stats["rows_dropped"].get("duplicate_document", 0)
        assert summary["all_units_duplicate"] == step_stats["rows_dropped"].get("all_units_duplicate", 0)


def test_group_path_matches_with_tiny_batches_and_a_full_filter(tmp_path: Path):
    # An over-full filter makes false positives decide: still the same rows, in the same order.
    rows = [doc(i, i + 1, i + 2) for i in range(60)] + MIXED
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(pa.table({"id": [f"r{i:03d}" for i in range(len(rows))], "text": rows}), src / "a.parquet")
    outputs = []
    for scope in (1, 0):
        out = tmp_path / f"out{scope}"
        steps = f"  - {{type: bloom_dedup, expected_ngrams: 300, fp_rate: 0.05, ngram: 3, shards_per_filter: {scope}}}"
        pipeline = write_pipeline(tmp_path / f"p{scope}.yaml", f"{src}/*.parquet", out, steps)
        assert main(["run", str(pipeline), "--quiet"]) == 0
        # The global step's rejects are those of segment 1 (a.s1.parquet).
        (rejected,) = sorted((out / "rejected").glob("a*.parquet"))
        outputs.append((pq.read_table(out / "data" / "a.parquet"), pq.read_table(rejected)))
    assert outputs[0][0].equals(outputs[1][0])
    assert outputs[0][1].sort_by("id").equals(outputs[1][1].sort_by("id"))
    assert outputs[0][1].num_rows > 5  # false positives removed unique rows


# -- across shards -------------------------------------------------------------------------------
def write_shards(src: Path, shards: dict[str, list[str]]) -> None:
    src.mkdir(parents=True, exist_ok=True)
    for name, texts in shards.items():
        ids = pa.array([f"{name}{i}" for i in range(len(texts))], pa.string())
        pq.write_table(pa.table({"id": ids, "text": pa.array(texts, pa.string())}), src / f"{name}.parquet")


def run_yaml(tmp_path: Path, src: Path, tag: str, workers: int = 1, steps: str | None = None, **params) -> Path:
    out = tmp_path / f"out-{tag}"
    if steps is None:
        inline = ", ".join(f"{k}: {json.dumps(v)}" for k, v in {**bloom(), **params}.items())
        steps = f"  - {{{inline}}}"
    pipeline = write_pipeline(
        tmp_path / f"{tag}.yaml",
        f"{src}/*.parquet",
        out,
        steps,
        f"  keep_signals: true\nexecutor:\n  workers: {workers}",
    )
    assert main(["run", str(pipeline), "--quiet"]) == 0
    return out


def kept_rows(out: Path) -> dict[str, str]:
    rows = {}
    for f in sorted((out / "data").glob("*.parquet")):
        for r in pq.read_table(f).to_pylist():
            rows[r["id"]] = r["text"]
    return rows


def rejected_reasons(out: Path) -> dict[str, str]:
    reasons = {}
    for f in sorted((out / "rejected").glob("*.parquet")):
        for r in pq.read_table(f).to_pylist():
            reasons[r["id"]] = r["drop_reason"]
    return reasons


def cross_shard_corpus(src: Path) -> None:
    write_shards(
        src,
        {
            # Shard a: the first copies, the shared document last of all its rows.
            "a": [doc(10, 11) + "\n" + BOILER, doc(12), GREEK + "\n" + CJK, "Menu\nLog in", long_line(30)],
            # Shard b: copies first (row 0 is a copy of a's last row), then its own text.
            "b": [long_line(30), doc(20, 21) + "\n" + BOILER, CJK + "\n" + GREEK, "Menu\nLog in", doc(22)],
            "c": [],
        },
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_cross_shard_copies_removed_with_corpus_scope_and_kept_per_shard(tmp_path: Path, workers: int):
    src = tmp_path / "in"
    cross_shard_corpus(src)
    per_shard = run_yaml(tmp_path, src, f"per-shard-{workers}", workers)
    corpus = run_yaml(tmp_path, src, f"corpus-{workers}", workers, shards_per_filter=None)
    # Per shard: nothing in b repeats anything of b.
    assert rejected_reasons(per_shard) == {}
    assert kept_rows(per_shard)["b1"] == doc(20, 21) + "\n" + BOILER
    # Corpus: the first copy in (shard, row) order survives, though b's copy has the lower row.
    kept, reasons = kept_rows(corpus), rejected_reasons(corpus)
    assert kept["a4"] == long_line(30)
    assert reasons == {"b0": "bloom_dedup:duplicate_document", "b2": "bloom_dedup:all_units_duplicate"}
    assert kept["a0"] == doc(10, 11) + "\n" + BOILER
    assert kept["b1"] == doc(20, 21) + "\n"  # the boiler paragraph, seen in shard a, is cut
    assert kept["b3"] == "Menu\nLog in"  # units shorter than the n-gram are never removed
    assert kept["b4"] == doc(22)
    b = pq.read_table(corpus / "data" / "b.parquet").to_pylist()
    signals = {r["id"]: (r["bloom_dedup.removed_units"], r["bloom_dedup.removed_chars"]) for r in b}
    assert signals["b1"] == (1, len(BOILER)) and signals["b4"] == (0, 0)
    assert pq.read_table(corpus / "data" / "c.parquet").num_rows == 0
    stats = json.loads((corpus / "stats.json").read_text())
    step = stats["steps"][0]
    assert step["rows_in"] == 10 == step["rows_kept"] + sum(step["rows_dropped"].values())
    assert stats["input_rows"] == stats["output_rows"] + stats["dropped_rows"] == 10
    summary = step["summary"]
    assert summary["groups"] == 1 and summary["documents"] == 10
    assert summary["removed_units"] == 1 + 2 and summary["rewritten"] == 1
    assert summary["map_bytes"] < 8 * summary["tokens"] + 8 * summary["units"] + 4 * summary["documents"] + 64


def test_workers_give_identical_output(tmp_path: Path):
    src = tmp_path / "in"
    write_shards(
        src,
        {
            f"s{k}": [doc(k, 100 + i) + "\n" + BOILER if i % 2 else doc(i % 5, i % 7 + 50) for i in range(23)]
            for k in range(5)
        },
    )
    outputs = []
    for workers in (1, 2):
        out = run_yaml(tmp_path, src, f"w{workers}", workers, shards_per_filter=2, ngram=5)
        tables = {}
        for folder in ("data", "rejected"):
            for f in sorted((out / folder).glob("*.parquet")):
                tables[f"{folder}/{f.name}"] = pq.read_table(f)
        outputs.append(tables)
    assert outputs[0].keys() == outputs[1].keys()
    assert any(name.startswith("rejected/") for name in outputs[0])
    for name in outputs[0]:
        assert outputs[0][name].equals(outputs[1][name]), name


def test_groups_of_n_shards_do_not_see_each_other(tmp_path: Path):
    src = tmp_path / "in"
    # Shards s0 s1 | s2 s3 | s4 with shards_per_filter: 2. X repeats s0's first row in s1 (same
    # group) and s2 (next group); Y repeats s3's row in s4 (the last, smaller group).
    x, y = long_line(40), long_line(50)
    write_shards(src, {"s0": [x, doc(1)], "s1": [x, doc(2)], "s2": [x, doc(3)], "s3": [y], "s4": [y, doc(5)]})
    out = run_yaml(tmp_path, src, "groups", shards_per_filter=2)
    assert rejected_reasons(out) == {"s10": "bloom_dedup:duplicate_document"}
    assert {"s00", "s20", "s30", "s40"} <= set(kept_rows(out))
    groups = sorted((out / "_thresher" / "markers" / "bloom_dedup.groups").glob("*.json"))
    assert len(groups) == 3
    group_files = sorted((out / "_thresher" / "work" / "steps" / "bloom_dedup" / "groups").glob("*.json"))
    assert [json.loads(f.read_text())["shards"] for f in group_files] == [[0, 2], [2, 4], [4, 5]]
    # The same corpus in one group removes every later copy.
    corpus = run_yaml(tmp_path, src, "corpus", shards_per_filter=0)
    assert set(rejected_reasons(corpus)) == {"s10", "s20", "s40"}


def test_all_duplicate_and_empty_shards(tmp_path: Path):
    src = tmp_path / "in"
    a = [long_line(i) for i in range(12)]
    write_shards(src, {"a": a, "b": list(reversed(a)), "c": [], "d": [long_line(7), long_line(300)]})
    out = run_yaml(tmp_path, src, "dups", shards_per_filter=0)
    assert pq.read_table(out / "data" / "b.parquet").num_rows == 0
    assert pq.read_table(out / "data" / "c.parquet").num_rows == 0
    assert pq.read_table(out / "rejected" / "b.s1.parquet").num_rows == 12  # segment 1: the apply
    assert list(kept_rows(out)) == [f"a{i}" for i in range(12)] + ["d1"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["steps"][0]["rows_dropped"] == {"duplicate_document": 13}
    assert stats["shards"]["b"] == {"input_rows": 12, "output_rows": 0}


def test_empty_corpus(tmp_path: Path):
    src = tmp_path / "in"
    write_shards(src, {"a": [], "b": []})
    out = run_yaml(tmp_path, src, "empty", shards_per_filter=0)
    assert kept_rows(out) == {}
    summary = json.loads((out / "stats.json").read_text())["steps"][0]["summary"]
    assert summary["documents"] == 0 and summary["groups"] == 1


def test_short_units_count_with_min_ngram(tmp_path: Path):
    src = tmp_path / "in"
    nav = "Home about contact"  # 3 tokens, under the 13-gram
    write_shards(src, {"a": [doc(1) + "\n" + nav], "b": [doc(2) + "\n" + nav]})
    assert kept_rows(run_yaml(tmp_path, src, "short", shards_per_filter=0))["b0"] == doc(2) + "\n" + nav
    counted = run_yaml(tmp_path, src, "min", shards_per_filter=0, min_ngram=3)
    assert kept_rows(counted)["b0"] == doc(2) + "\n"


def test_unicode_only_text_across_shards(tmp_path: Path):
    src = tmp_path / "in"
    emoji = " ".join("🙂🚀🌍🎉🌧🍵📚"[i % 7] for i in range(20))
    write_shards(src, {"a": [GREEK, emoji, CJK], "b": [CJK, emoji.replace("🙂", "🌙"), GREEK.upper()]})
    out = run_yaml(tmp_path, src, "unicode", shards_per_filter=0, ngram=5)
    # Exact copies go; an emoji variant and upper-cased Greek are different tokens.
    assert rejected_reasons(out) == {"b0": "bloom_dedup:duplicate_document"}
    assert set(kept_rows(out)) == {"a0", "a1", "a2", "b1", "b2"}


def test_filter_sizing_and_over_full_warning_in_the_reduce(tmp_path: Path, caplog):
    src = tmp_path / "in"
    write_shards(src, {"a": [doc(i) for i in range(20)], "b": [doc(i + 20) for i in range(20)]})
    plan = _plan(src, tmp_path / "out", shards_per_filter=0, expected_ngrams=50, fp_rate=0.01, ngram=3)
    with caplog.at_level(logging.INFO, logger="thresher.dedup"):
        assert LocalExecutor(workers=1, quiet=True).run(plan).ok
    assert "group 0: shards 0-1]: Bloom filter of" in caplog.text
    assert "expected false-positive rate" in caplog.text
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "over-full" in r.message]
    assert len(warnings) == 1 and "from shard 0 row" in warnings[0].message


# -- resume and completeness ---------------------------------------------------------------------
def _plan(src: Path, out: Path, **params) -> Plan:
    raw = {
        "input": {"paths": [f"{src}/*.parquet"], "batch_rows": 4},
        "steps": [bloom(**params)],
        "output": {"path": str(out), "rejected": True},
    }
    return Plan.create(parse_pipeline(raw, "<test>"))


def test_a_rerun_resumes_from_the_markers(tmp_path: Path):
    src = tmp_path / "in"
    cross_shard_corpus(src)
    out = tmp_path / "out"
    plan = _plan(src, out, shards_per_filter=0)
    assert [(s.name, s.num_tasks) for s in plan.stages] == [
        ("segment0", 3),
        ("bloom_dedup.groups", 1),
        ("segment1", 3),
    ]
    assert LocalExecutor(workers=1, quiet=True).run(plan).ok
    first = {f.name: pq.read_table(f) for f in (out / "data").glob("*.parquet")}
    # Lose the reduce and one apply task, as after a crash: only they run again.
    (out / "_thresher" / "markers" / "bloom_dedup.groups" / "00000.json").unlink()
    (out / "_thresher" / "markers" / "segment1" / "00001.json").unlink()
    (out / "data" / "b.parquet").unlink()
    summary = LocalExecutor(workers=1, quiet=True).run(_plan(src, out, shards_per_filter=0))
    assert summary.ok
    assert [(s["name"], s["skipped"]) for s in summary.stages] == [
        ("segment0", 3),
        ("bloom_dedup.groups", 0),
        ("segment1", 2),
    ]
    again = {f.name: pq.read_table(f) for f in (out / "data").glob("*.parquet")}
    assert again.keys() == first.keys()
    for name in first:
        assert again[name].equals(first[name]), name


def test_apply_refuses_verdicts_that_do_not_fit_the_shard(tmp_path: Path):
    src = tmp_path / "in"
    cross_shard_corpus(src)
    out = tmp_path / "out"
    assert LocalExecutor(workers=1, quiet=True).run(_plan(src, out, shards_per_filter=0)).ok
    work = out / "_thresher" / "work" / "steps" / "bloom_dedup"
    # Shard b's verdicts replaced by shard a's (same row count, other texts): its units differ.
    (work / "verdicts" / "shard_000001.bin").write_bytes((work / "verdicts" / "shard_000000.bin").read_bytes())
    (out / "_thresher" / "markers" / "segment1" / "00001.json").unlink()
    summary = LocalExecutor(workers=1, quiet=True).run(_plan(src, out, shards_per_filter=0))
    assert not summary.ok
    assert "the shard changed between stages" in summary.errors[0].message
    # Verdicts for fewer rows than the shard has.
    (work / "verdicts" / "shard_000001.bin").write_bytes((work / "verdicts" / "shard_000000.bin").read_bytes()[:8])
    summary = LocalExecutor(workers=1, quiet=True).run(_plan(src, out, shards_per_filter=0))
    assert not summary.ok
    assert "verdicts end at row 0" in summary.errors[0].message
    # A map count that disagrees with the verdicts.
    map_stats = work / "map" / "shard_000001.json"
    doc_ = json.loads(map_stats.read_text())
    map_stats.write_text(json.dumps({**doc_, "documents": 4}))
    summary = LocalExecutor(workers=1, quiet=True).run(_plan(src, out, shards_per_filter=0))
    assert not summary.ok
    assert "the map saw 4 rows but the reduce wrote 5 verdicts" in summary.errors[0].message


# -- parameters ----------------------------------------------------------------------------------
def test_scope_parameter():
    assert not BloomDedup("b", BloomDedupParams()).is_global
    assert BloomDedup("b", BloomDedupParams(shards_per_filter=None)).is_global
    step = BloomDedup("b", BloomDedupParams(shards_per_filter=3))
    assert step.is_global and step.reduce_phases_for(7) == [("groups", 3)]
    assert [list(g) for g in step.groups(7)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [list(g) for g in BloomDedup("b", BloomDedupParams(shards_per_filter=0)).groups(4)] == [[0, 1, 2, 3]]
    with pytest.raises(ValueError, match="shards_per_filter"):
        BloomDedupParams(shards_per_filter=-1)
    clone = pickle.loads(pickle.dumps(step))
    assert clone.is_global and clone.params.shards_per_filter == 3


def test_the_global_step_refuses_to_run_without_its_stages(tmp_path: Path):
    step = BloomDedup("b", BloomDedupParams(shards_per_filter=0))
    with pytest.raises(RuntimeError, match="global step"):
        step.open(StepContext(work_dir=tmp_path))
    with pytest.raises(RuntimeError, match="no verdicts"):
        step.open(StepContext(work_dir=tmp_path, shard_index=0, shard_name="a"))


def test_filter_steps_lists_the_parameter(capsys):
    assert main(["steps"]) == 0
    text = capsys.readouterr().out
    lines = text[text.index("bloom_dedup:") :].splitlines()
    assert "across shards" in lines[0]
    params = list(itertools.takewhile(lambda x: x.startswith("    "), lines[1:]))
    assert any(x.strip().startswith("shards_per_filter = 1") and "whole corpus" in x for x in params)


def test_dedup_report_after_a_global_bloom_step(tmp_path: Path, capsys):
    # bloom_dedup with a corpus filter is global: the exact_dedup after it reads segment 1's rows.
    # Reading segment 0 (bloom's input, one row longer) would show the wrong texts.
    src = tmp_path / "in"
    tiny = "tiny text here"  # under 13 tokens: no n-gram, bloom keeps both copies
    write_shards(src, {"a": [long_line(1), long_line(1), tiny, tiny]})
    steps = "  - {type: bloom_dedup, shards_per_filter: 0}\n  - {type: exact_dedup}"
    out = run_yaml(tmp_path, src, "report", steps=steps)
    assert rejected_reasons(out) == {"a1": "bloom_dedup:duplicate_document", "a3": "exact_dedup:duplicate"}
    capsys.readouterr()
    assert main(["dedup-report", str(out), "--examples", "1"]) == 0
    report = capsys.readouterr().out
    assert "1 filter(s) over 1 shards" in report
    exact = report[report.index("== exact_dedup") :]
    assert "KEPT" in exact and tiny in exact
    assert long_line(1).split()[0] not in exact
