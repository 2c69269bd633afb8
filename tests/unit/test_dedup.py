"""Dedup steps through the real stages: exact, MinHash (with and without verification), Bloom."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher import _core
from thresher.api import Pipeline
from thresher.cli import main
from thresher.steps.dedup import MinhashDedup, MinhashDedupParams
from thresher_testing import write_pipeline

WORDS = (
    "river mountain quiet library window garden village market bridge candle winter summer orange "
    "silver forest music paper stone harbor valley meadow lantern engine pocket thunder"
).split()


def essay(seed: int, words: int = 60) -> str:
    """A deterministic text of distinct-looking words, different for every seed."""
    out, x = [], seed * 7919 + 1
    for _ in range(words):
        x = (x * 1103515245 + 12345) % 2**31
        out.append(WORDS[x % len(WORDS)] + str((x >> 8) % 97))
    return " ".join(out)


def edit(text: str, every: int) -> str:
    """Replaces every `every`-th word: a near duplicate."""
    words = text.split()
    return " ".join("changed" if i % every == 0 else w for i, w in enumerate(words))


def run(texts: list[str], step: dict) -> tuple[list[str], dict]:
    table = pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts})
    result = Pipeline.from_steps([step]).run_table(table)
    return sorted(result.kept.column("id").to_pylist()), result.stats["steps"][0]


MINHASH = {"type": "minhash_dedup"}
MINHASH_VERIFIED = {"type": "minhash_dedup", "verify": True}
ONE_PERMUTATION = {"type": "minhash_dedup", "sketch": "one_permutation"}
ONE_PERMUTATION_VERIFIED = {**ONE_PERMUTATION, "verify": True}
EXACT = {"type": "exact_dedup"}


@pytest.mark.parametrize("step", [MINHASH, MINHASH_VERIFIED, ONE_PERMUTATION, EXACT])
def test_no_duplicates_keeps_everything(step):
    kept, stats = run([essay(i) for i in range(20)], step)
    assert len(kept) == 20
    assert stats["rows_dropped"] == {}
    assert stats["summary"]["removed"] == 0


@pytest.mark.parametrize("step", [MINHASH, MINHASH_VERIFIED, ONE_PERMUTATION, EXACT])
def test_all_duplicates_keep_exactly_the_first(step):
    kept, stats = run([essay(3)] * 12, step)
    assert kept == ["d0"]
    assert sum(stats["rows_dropped"].values()) == 11
    summary = stats["summary"]
    histogram = summary.get("cluster_size_histogram") or summary.get("group_size_histogram")
    assert histogram == [[12, 1]]


@pytest.mark.parametrize("step", [MINHASH_VERIFIED, ONE_PERMUTATION_VERIFIED])
def test_near_duplicates_found_and_unrelated_kept(step):
    base = essay(1, 200)
    texts = [base, edit(base, 50), essay(2, 200), edit(essay(2, 200), 3)]
    kept, stats = run(texts, step)
    # One word in 50 changed: Jaccard about 0.9, found. One in 3: about 0.2, not.
    assert kept == ["d0", "d2", "d3"]
    assert stats["rows_dropped"] == {"near_duplicate": 1}


@pytest.mark.parametrize("step", [MINHASH, ONE_PERMUTATION])
def test_short_documents_get_no_signature_and_stay(step):
    texts = ["one two three four", "one two three four", "", "x", essay(5), essay(5)]
    kept, stats = run(texts, step)
    assert kept == ["d0", "d1", "d2", "d3", "d4"]
    assert stats["summary"]["documents_without_signature"] == 4
    # Exact dedup removes identical short texts, but never empty ones.
    kept, stats = run(texts, EXACT)
    assert kept == ["d0", "d2", "d3", "d4"]
    assert stats["summary"]["documents_empty_after_normalization"] == 1


def test_unicode_only_text():
    greek = " ".join(["καλημέρα κόσμε σήμερα βρέχει πολύ στην πόλη"] * 3)
    emoji = "🙂 🚀 🌍 🎉 🙂 🚀 🌍 🎉 🙂 🚀"
    cjk = "今天 天气 很好 我们 去 公园 散步 吧 然后 吃饭"
    texts = [greek, greek.upper(), emoji, emoji, cjk, cjk + " 好"]
    kept, stats = run(texts, MINHASH)
    assert kept == ["d0", "d2", "d3", "d4"]  # case-folded Greek and the CJK near copy removed
    # Emoji normalise to nothing: no signature, never removed (they are not even words).
    assert stats["summary"]["documents_without_signature"] == 2
    kept, _ = run(texts, {"type": "exact_dedup", "normalization": "minhash"})
    assert kept == ["d0", "d2", "d3", "d4", "d5"]


def test_keep_longest_and_signal_policies():
    base = essay(9, 100)
    texts = [base, base + " plus a longer tail of words", base + " tail"]
    kept, _ = run(texts, {"type": "minhash_dedup", "keep": "longest"})
    assert kept == ["d1"]
    table = pa.table({"id": ["a", "b", "c"], "text": [base] * 3, "score": [0.1, 0.9, None]})
    result = Pipeline.from_steps([{"type": "exact_dedup", "keep": "signal", "keep_signal": "score"}]).run_table(table)
    assert result.kept.column("id").to_pylist() == ["b"]
    assert result.kept.column("exact_dedup.cluster_size").to_pylist() == [3]


def test_cluster_signals_on_kept_and_dropped_rows():
    base = essay(4)
    table = pa.table({"id": ["a", "b", "c"], "text": [base, essay(8), base]})
    result = Pipeline.from_steps([MINHASH]).run_table(table)
    kept = {r["id"]: r for r in result.kept.to_pylist()}
    assert kept["b"]["minhash_dedup.cluster_id"] is None and kept["b"]["minhash_dedup.cluster_size"] == 1
    assert kept["a"]["minhash_dedup.cluster_size"] == 2
    dropped = result.rejected.to_pylist()[0]
    assert dropped["id"] == "c" and dropped["minhash_dedup.cluster_id"] == kept["a"]["minhash_dedup.cluster_id"]


def test_bloom_removes_repeated_lines_and_documents(caplog):
    boiler = "Subscribe to our newsletter for the latest news and updates from our editorial team today"
    texts = [
        essay(1, 30) + "\n" + boiler,
        essay(2, 30) + "\n" + boiler,
        essay(1, 30),
        "short line\nanother",
    ]
    table = pa.table({"id": ["a", "b", "c", "d"], "text": texts})
    step = {"type": "bloom_dedup", "expected_ngrams": 10_000, "fp_rate": 1e-4}
    with caplog.at_level(logging.INFO, logger="thresher.dedup"):
        result = Pipeline.from_steps([step]).run_table(table)
    assert "expected false-positive rate" in caplog.text
    kept = {r["id"]: r for r in result.kept.to_pylist()}
    assert sorted(kept) == ["a", "b", "d"]
    assert kept["b"]["text"] == essay(2, 30) + "\n"  # the repeated line is cut
    assert kept["b"]["bloom_dedup.removed_units"] == 1
    assert result.rejected.column("drop_reason").to_pylist() == ["bloom_dedup:duplicate_document"]


def test_bloom_warns_when_over_full(caplog):
    table = pa.table({"id": [str(i) for i in range(50)], "text": [essay(i, 80) for i in range(50)]})
    step = {"type": "bloom_dedup", "expected_ngrams": 100, "fp_rate": 0.01, "ngram": 5}
    with caplog.at_level(logging.WARNING, logger="thresher.dedup"):
        Pipeline.from_steps([step]).run_table(table)
    assert "over-full" in caplog.text


def test_steps_pickle_without_runtime_state():
    step = MinhashDedup("m", MinhashDedupParams(bands=4, rows=2))
    step.signatures(pa.array([essay(1)]))
    clone = pickle.loads(pickle.dumps(step))
    assert clone.params.bands == 4 and clone._minhasher is None


def test_signal_policy_needs_a_column():
    with pytest.raises(ValueError, match="keep_signal"):
        MinhashDedupParams(keep="signal")


def test_one_permutation_finds_planted_near_duplicates():
    # 40 unrelated essays, 10 of them with a copy that has one word in 40 changed (Jaccard about
    # 0.88 on 5-gram shingles), 5 with a copy that has one word in 3 changed (about 0.2).
    originals = [essay(100 + i, 150) for i in range(40)]
    near = [edit(originals[i], 40) for i in range(10)]
    far = [edit(originals[i], 3) for i in range(20, 25)]
    texts = originals + near + far
    for step in (ONE_PERMUTATION, ONE_PERMUTATION_VERIFIED):
        kept, stats = run(texts, step)
        removed = set(f"d{i}" for i in range(len(texts))) - set(kept)
        assert removed == {f"d{i}" for i in range(40, 50)}, step
        assert stats["rows_dropped"] == {"near_duplicate": 10}


def test_one_permutation_is_not_datatrove_compatible():
    with pytest.raises(ValueError, match="one_permutation cannot be combined with datatrove_compatible"):
        MinhashDedupParams(sketch="one_permutation", datatrove_compatible=True)
    with pytest.raises(ValueError, match="datatrove"):
        _core.Minhasher(sketch="one_permutation", datatrove_compatible=True)
    with pytest.raises(ValueError, match="unknown sketch"):
        _core.Minhasher(sketch="oph")


def test_one_permutation_signatures():
    exact = _core.Minhasher(ngram=2, bands=3, rows=2)
    oph = _core.Minhasher(ngram=2, bands=3, rows=2, sketch="one_permutation")
    texts = pa.array(["a b c d", "A, b. C d!", "a", None, essay(9)])
    sigs = oph.signatures(texts)
    assert sigs[0] == sigs[1] and len(sigs[0]) == 6 and oph.num_hashes == 6
    assert sigs[2].as_py() is None and sigs[3].as_py() is None
    assert sigs[4] != exact.signatures(texts)[4]
    assert oph.signatures_from_shingles(oph.shingles(texts)).equals(sigs)
    step = MinhashDedup("m", MinhashDedupParams(sketch="one_permutation", bands=3, rows=2, ngram=2))
    assert step.signatures(texts).equals(sigs)


def test_band_keys_from_identical_signatures():
    m = _core.Minhasher(ngram=2, bands=3, rows=2)
    sigs = m.signatures(pa.array(["a b c d", "A, b. C d!", "a", None]))
    assert sigs[0] == sigs[1] and len(sigs[0]) == 6
    assert sigs[2].as_py() is None and sigs[3].as_py() is None


# -- through files, the CLI and the local executor ---------------------------------------------
def _corpus(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    shared = essay(100, 120)
    shard_a = [essay(i, 80) for i in range(25)] + [shared, edit(shared, 60)]
    shard_b = [shared, essay(300, 80), "too short", edit(essay(7, 80), 79)] + [essay(i + 200, 80) for i in range(20)]
    pq.write_table(pa.table({"id": [f"a{i}" for i in range(len(shard_a))], "text": shard_a}), src / "a.parquet")
    pq.write_table(pa.table({"id": [f"b{i}" for i in range(len(shard_b))], "text": shard_b}), src / "b.parquet")
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}), src / "c.parquet")
    return src


STEPS = """
  - type: exact_dedup
    buckets: 3
  - type: minhash_dedup
    verify: true
    lsh_partitions: 2
    merge_fan_in: 2
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_yaml_run_across_shards(tmp_path: Path, workers: int):
    src = _corpus(tmp_path)
    out = tmp_path / f"out{workers}"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{src}/*.parquet", out, STEPS, f"executor:\n  workers: {workers}")
    assert main(["run", str(pipeline), "--quiet"]) == 0
    kept = pa.concat_tables([pq.read_table(f) for f in sorted((out / "data").glob("*.parquet"))])
    ids = kept.column("id").to_pylist()
    # b0 is an exact copy of a25, a26 a near copy of it, b3 a near copy of shard a's a7.
    assert "a25" in ids and "b0" not in ids and "a26" not in ids and "b3" not in ids and "a7" in ids
    assert "b2" in ids  # too short to shingle
    stats = json.loads((out / "stats.json").read_text())
    exact, minhash = stats["steps"]
    assert exact["rows_dropped"] == {"duplicate": 1}
    assert minhash["rows_dropped"] == {"near_duplicate": 2}
    assert minhash["summary"]["documents_without_signature"] == 1
    assert stats["output_rows"] == 48
    assert pq.read_table(out / "data" / "c.parquet").num_rows == 0


def test_workers_give_identical_output(tmp_path: Path):
    src = _corpus(tmp_path)
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        pipeline = write_pipeline(
            tmp_path / f"p{workers}.yaml", f"{src}/*.parquet", out, STEPS, f"executor:\n  workers: {workers}"
        )
        assert main(["run", str(pipeline), "--quiet"]) == 0
        outputs.append({f.name: pq.read_table(f) for f in sorted((out / "data").glob("*.parquet"))})
    assert outputs[0].keys() == outputs[1].keys()
    for name in outputs[0]:
        assert outputs[0][name].equals(outputs[1][name]), name


def test_dedup_report(tmp_path: Path, capsys):
    src = _corpus(tmp_path)
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{src}/*.parquet", out, STEPS)
    assert main(["run", str(pipeline), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["dedup-report", str(out), "--examples", "2"]) == 0
    text = capsys.readouterr().out
    assert "minhash_dedup" in text and "duplicate rate" in text
    assert "cluster size" in text
    assert "KEPT" in text and "REMOVED" in text
