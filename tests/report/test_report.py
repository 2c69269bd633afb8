"""`filter report` and `filter inspect` on real runs: sections, charts, escaping, graceful degradation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.cli import main
from thresher.report.collect import OutputDir, ReportError
from thresher_testing import REPO, make_docs, write_pipeline

STEPS = """
  - type: text_length
    min_words: 20
  - type: char_classes
    max_digit_fraction: 0.3
"""


@pytest.fixture(scope="module")
def quickstart_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("qs") / "out"
    cwd = Path.cwd()
    try:
        import os

        os.chdir(REPO)
        assert main(["run", "pipelines/quickstart.yaml", "--output", str(out), "--workers", "1", "--quiet"]) == 0
    finally:
        os.chdir(cwd)
    return out


def _images(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', html)


def test_report_of_quickstart_has_every_section_and_chart(quickstart_out: Path, capsys):
    assert main(["report", str(quickstart_out), "--quiet"]) == 0
    assert "report written" in capsys.readouterr().out
    index = quickstart_out / "report" / "index.html"
    html = index.read_text()
    for heading in (
        "Summary",
        "Funnel",
        "Drop reasons",
        "Signals",
        "Language shares: lang",
        "Skill shares: skill",
        "Sampled documents",
        "Pipeline",
    ):
        assert f"<h2>{heading}" in html, heading
    images = _images(html)
    for name in images:
        png = index.parent / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    # one histogram per numeric signal column of the steps
    kept = pq.read_schema(next((quickstart_out / "data").glob("*.parquet")))
    signals = [n for n in kept.names if n.startswith(("text_length.", "char_classes."))]
    assert len(signals) == 13
    for column in signals:
        assert f"signal_{column.replace('.', '_')}.png" in images
    # every drop reason of stats.json has a sample section with its count
    stats = json.loads((quickstart_out / "stats.json").read_text())
    for step in stats["steps"]:
        for reason, n in step["rows_dropped"].items():
            assert f"dropped: {step['name']}:{reason} ({n:,} documents)" in html
    assert "<script" not in html  # the report runs no code


def test_thresholds_come_from_the_steps_rules(quickstart_out: Path):
    found = OutputDir.open(quickstart_out).thresholds()
    (words,) = found["text_length.words"]
    assert (words.value, words.keep_when, words.reason) == (20.0, ">=", "too_few_words")
    assert found["char_classes.alphabetic_fraction"][0].value == 0.55


def test_report_escapes_documents_and_embeds_images(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    texts = ["<script>alert('x')</script> & <b>bold</b>", "tiny", *make_docs(20)["text"].to_pylist()]
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts}), src / "a.parquet")
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{src}/*.parquet", out, STEPS)
    assert main(["run", str(pipeline), "--quiet"]) == 0
    assert main(["report", str(out), "--embed", "--samples", "50", "--quiet"]) == 0
    html = (out / "report" / "index.html").read_text()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "<script" not in html and "<b>bold" not in html
    assert all(src.startswith("data:image/png;base64,") for src in _images(html))
    assert not list((out / "report").glob("*.png"))
    # keep_signals is off: the kept rows have no signals, and the charts say so
    assert "not stored (output.keep_signals: false)" in html


def test_long_documents_are_cut(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    long_text = "word " * 5000
    pq.write_table(pa.table({"id": ["a", "b"], "text": [long_text, "short"]}), src / "a.parquet")
    out = tmp_path / "out"
    assert main(["run", str(write_pipeline(tmp_path / "p.yaml", f"{src}/*.parquet", out, STEPS)), "-q"]) == 0
    assert main(["report", str(out), "-q"]) == 0
    html = (out / "report" / "index.html").read_text()
    assert "more characters]" in html and long_text not in html


def test_report_picks_up_language_skill_phase_and_cluster_columns(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    docs = make_docs(60)
    n = docs.num_rows
    docs = docs.append_column("language", pa.array(["en", "fr", "de"] * (n // 3)))
    docs = docs.append_column("skill", pa.array(["math", "code", "knowledge", "reasoning"] * (n // 4)))
    docs = docs.append_column("phase", pa.array(["1"] * (n // 2) + ["2"] * (n // 2)))
    docs = docs.append_column("cluster_size", pa.array([1, 1, 2, 2, 5, 5, 5, 5, 5, 1] * (n // 10), pa.int64()))
    pq.write_table(docs, src / "a.parquet")
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{src}/*.parquet", out, STEPS, "  keep_signals: true")
    assert main(["run", str(pipeline), "-q"]) == 0
    (out / "mix.json").write_text(json.dumps({"languages": {"en": {"share": 0.5}}}))
    assert main(["report", str(out), "-q"]) == 0
    html = (out / "report" / "index.html").read_text()
    for heading in (
        "Language shares: language",
        "Skill shares: skill",
        "Skill shares per phase",
        "Duplicate clusters: cluster_size",
        "Manifests",
    ):
        assert f"<h2>{heading}" in html, heading
    assert "mix.json" in html
    for png in ("phase_skills.png", "clusters_cluster_size.png", "shares_language.png"):
        assert (out / "report" / png).is_file()


def test_report_without_rejected_rows_still_works(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(make_docs(30), src / "a.parquet")
    out = tmp_path / "out"
    pipeline = write_pipeline(tmp_path / "p.yaml", f"{src}/*.parquet", out, STEPS)
    assert main(["run", str(pipeline), "-q", "--set", "output.rejected=false"]) == 0
    assert main(["report", str(out), "-q"]) == 0
    html = (out / "report" / "index.html").read_text()
    assert "Tokens are not shown" in html
    assert "<h2>Funnel" in html


def test_report_of_an_unfinished_run_says_what_to_do(tmp_path: Path, capsys):
    (tmp_path / "out" / "_thresher" / "markers" / "segment0").mkdir(parents=True)
    (tmp_path / "out" / "_thresher" / "markers" / "segment0" / "00000.json").write_text("{}")
    assert main(["report", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no stats.json" in err and "1 tasks finished" in err and "filter run" in err
    with pytest.raises(ReportError, match="no such output directory"):
        OutputDir.open(tmp_path / "missing")


def test_inspect_prints_sampled_documents_with_signals(quickstart_out: Path, capsys):
    assert main(["inspect", str(quickstart_out), "--reason", "text_length:too_few_words", "-n", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("text_length:too_few_words: 23 documents; showing 3")
    assert printed.count("[") >= 3 and "text_length.words = " in printed
    assert "char_classes." not in printed  # only the dropping step's signals
    # same seed, same sample; a bare step name covers all its reasons
    assert main(["inspect", str(quickstart_out), "--reason", "text_length:too_few_words", "-n", "3"]) == 0
    assert capsys.readouterr().out == printed
    assert main(["inspect", str(quickstart_out), "--reason", "char_classes", "-n", "20"]) == 0
    assert "showing 17" in capsys.readouterr().out
    assert main(["inspect", str(quickstart_out), "--reason", "kept", "-n", "1"]) == 0
    kept = json.loads((quickstart_out / "stats.json").read_text())["output_rows"]
    assert f"kept: {kept} documents; showing 1" in capsys.readouterr().out


def test_inspect_of_an_unknown_reason_lists_the_known_ones(quickstart_out: Path, capsys):
    assert main(["inspect", str(quickstart_out), "--reason", "gopher_repetition:top_2_gram"]) == 2
    err = capsys.readouterr().err
    assert "no document was dropped for 'gopher_repetition:top_2_gram'" in err
    assert "text_length:too_few_words" in err
