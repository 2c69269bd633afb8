"""`filter annotate`: stratified, seeded sampling after the per-batch steps, scored by a step."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from labelled_docs import labelled_docs

from thresher.classify.annotate import allocate
from thresher.cli import main

fasttext = pytest.importorskip("fasttext")
if not hasattr(fasttext, "train_supervised"):
    pytest.skip("the installed fasttext module cannot train", allow_module_level=True)


def test_allocate_balanced_and_proportional():
    counts = {"en": 100, "de": 30, "sw": 5}
    assert allocate(counts, 60, "balanced") == {"sw": 5, "de": 27, "en": 28}
    assert allocate(counts, 1000, "balanced") == counts
    prop = allocate(counts, 27, "proportional")
    assert sum(prop.values()) == 27 and prop["en"] == 20 and prop["sw"] == 1
    assert allocate({"a": 3, "b": 3}, 5, "balanced") in ({"a": 3, "b": 2}, {"a": 2, "b": 3})


def make_input(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    docs = labelled_docs(30, seed=5)  # 120 rows: math, prose, code, junk
    n = len(docs["text"])
    lang = ["en" if i % 7 else "de" for i in range(n)]
    source = ["web" if lab in ("junk", "prose") else "books" for lab in docs["label"]]
    table = pa.table({"id": [f"d{i:03d}" for i in range(n)], "text": docs["text"], "lang": lang, "source": source})
    pq.write_table(table.slice(0, 70), src / "a.parquet")
    pq.write_table(table.slice(70), src / "b.parquet")
    labelled = tmp_path / "labelled.parquet"
    pq.write_table(pa.table(labelled_docs(30, seed=1)), labelled)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f"""
input: {{paths: ["{src}/*.parquet"]}}
steps:
  - type: text_length
    min_words: 12          # drops the short navigation junk before the judge sees it
  - type: classifier
    name: judge
    score: math
    train:
      data: {{paths: ["{labelled}"]}}
      label: {{column: label, task: multiclass}}
      fasttext: {{dim: 16, bucket: 20000, epoch: 10}}
    selection: {{mode: top_fraction, fraction: 0.1}}
output: {{path: "{tmp_path / "out"}"}}
"""
    )
    return pipeline


def test_annotate_samples_strata_after_the_filters(tmp_path, capsys):
    pipeline = make_input(tmp_path)
    out = tmp_path / "labelled_sample.parquet"
    args = ["annotate", str(pipeline), "--output", str(out), "--size", "40", "--step", "judge"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "wrote 40 labelled documents" in printed and "judge.score" in printed
    table = pq.read_table(out)
    assert table.num_rows == 40
    assert {"judge.score", "stratum", "text_length.words"} <= set(table.column_names)
    assert min(table.column("text_length.words").to_pylist()) >= 12  # the prefilter ran
    counts = {}
    for s in table.column("stratum").to_pylist():
        counts[s] = counts.get(s, 0) + 1
    assert set(counts) == {"en/books", "en/web", "de/books", "de/web"}
    # balanced over the strata of the rows that pass the filter: small strata whole, the rest even
    source = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "in").glob("*.parquet"))])
    available = {}
    for text, lang, src in zip(*(source.column(c).to_pylist() for c in ("text", "lang", "source")), strict=True):
        if len(text.split()) >= 12:
            available[f"{lang}/{src}"] = available.get(f"{lang}/{src}", 0) + 1
    assert counts == allocate(available, 40, "balanced")
    assert min(available.values()) < 10 and max(counts.values()) - min(counts.values()) > 0
    scores = table.column("judge.score").to_pylist()
    assert all(0.0 <= s <= 1.0 for s in scores)

    again = tmp_path / "again.parquet"
    assert main([*args[:3], str(again), *args[4:]]) == 0
    assert pq.read_table(again).column("id").to_pylist() == table.column("id").to_pylist()
    other = tmp_path / "other.parquet"
    assert main([*args[:3], str(other), *args[4:], "--seed", "9"]) == 0
    assert pq.read_table(other).column("id").to_pylist() != table.column("id").to_pylist()


def test_annotate_needs_a_scoring_step(tmp_path, capsys):
    pipeline = make_input(tmp_path)
    assert main(["annotate", str(pipeline), "--output", str(tmp_path / "x.parquet")]) == 2
    assert "no ask_llm step" in capsys.readouterr().err
