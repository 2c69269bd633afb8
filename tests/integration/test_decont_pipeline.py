"""line_dedup + decontaminate from a YAML file through the local executor, as stages."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from thresher.cli import main
from thresher.config import load_pipeline
from thresher.executors.local import LocalExecutor
from thresher.stages import Plan

ITEMS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting.",
    "James writes a 3-page letter to 2 different friends twice a week. How many pages does he write a year?",
    "Too short to index",
]
MENU = "Home | Products | About us | Contact"
COOKIES = "This site uses cookies. By continuing to browse you agree to our use of cookies."


def page(i: int, inserted: str | None = None) -> str:
    body = [
        f"Article {i}: a long paragraph about topic number {i}, with details nobody else has written, "
        f"covering history, practice and the many opinions about item {i} that readers sent in.",
        f"Second paragraph of page {i}, again entirely its own, with numbers {i * 7} and {i * 13}.",
    ]
    if inserted:
        body.insert(1, inserted)
    lines = [MENU, *body, COOKIES] if i % 3 else body
    return "\n".join(lines)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    pq.write_table(
        pa.table({"id": [f"gsm-{i}" for i in range(len(ITEMS))], "question": ITEMS}), tmp_path / "eval.parquet"
    )
    inserted = {4: ITEMS[0], 17: ITEMS[2].upper(), 25: "Intro. " + ITEMS[1]}
    for shard in range(3):
        ids = list(range(shard * 10, shard * 10 + 10))
        texts = [page(i, inserted.get(i)) for i in ids]
        pq.write_table(pa.table({"id": [f"doc-{i}" for i in ids], "text": texts}), tmp_path / f"web-{shard}.parquet")
    doc = {
        "input": {"paths": [str(tmp_path / "web-*.parquet")]},
        "steps": [
            {"type": "line_dedup", "max_count": 6, "min_remaining_chars": 100, "partitions": 3},
            {
                "type": "decontaminate",
                "n": 8,
                "eval_sets": [
                    {"name": "gsm8k", "paths": [str(tmp_path / "eval.parquet")], "text_columns": ["question"]}
                ],
            },
        ],
        "output": {"path": str(tmp_path / "out"), "keep_signals": True},
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def run(workspace: Path, out: str, workers: int, overrides: list[str] | None = None) -> dict:
    config = load_pipeline(workspace / "pipeline.yaml", overrides=overrides, output=str(workspace / out))
    summary = LocalExecutor(workers=workers, quiet=True).run(Plan.create(config))
    assert summary.ok, summary.errors
    return summary.stats


def read_sorted(path: Path) -> pa.Table:
    table = pa.concat_tables([pq.read_table(f) for f in sorted(path.glob("*.parquet"))])
    return table.sort_by("id")


def test_stages_and_results_match_with_one_and_two_workers(workspace):
    plan = Plan.create(load_pipeline(workspace / "pipeline.yaml"))
    assert [(s.name, s.num_tasks) for s in plan.stages] == [
        ("segment0", 3),
        ("line_dedup.count", 3),
        ("line_dedup.collect", 1),
        ("segment1", 3),
    ]
    one = run(workspace, "out1", workers=1)
    two = run(workspace, "out2", workers=2)
    assert one["steps"] == two["steps"]
    kept1, kept2 = read_sorted(workspace / "out1" / "data"), read_sorted(workspace / "out2" / "data")
    assert kept1.equals(kept2)

    steps = {s["name"]: s for s in one["steps"]}
    assert steps["decontaminate"]["rows_dropped"] == {"contaminated": 3}
    assert steps["line_dedup"]["rows_dropped"] == {}
    rejected = read_sorted(workspace / "out1" / "rejected")
    assert rejected.column("id").to_pylist() == ["doc-17", "doc-25", "doc-4"]
    assert sorted(x[0] for x in rejected.column("decontaminate.matched_items").to_pylist()) == [
        "gsm-0",
        "gsm-1",
        "gsm-2",
    ]
    for text in kept1.column("text").to_pylist():  # 20 pages with the menu and the banner: both removed
        assert MENU not in text and COOKIES not in text
        assert text.startswith("Article ")  # the unique content lines stay

    report = json.loads((workspace / "out1/_thresher/work/steps/decontaminate/report/report.json").read_text())
    gsm = report["sets"]["gsm8k"]
    assert (gsm["items"], gsm["items_indexed"], gsm["items_found"], gsm["documents"]) == (4, 3, 3, 3)
    assert report["documents"] == 30 and report["contaminated"] == 3
    example = gsm["examples"][0]
    assert example["item_text"] in ITEMS and example["doc_id"].startswith("doc-")
    lines = json.loads((workspace / "out1/_thresher/work/steps/line_dedup/report/report.json").read_text())
    top = {t["line"]: t["documents"] for t in lines["top_lines"]}
    assert top == {MENU: 20, COOKIES: 20}
    assert lines["removed_lines"] == 40 and lines["documents_changed"] == 20


def test_flag_only_mode_drops_nothing_and_reports(workspace, capsys):
    stats = run(workspace, "flag", workers=2, overrides=["steps.1.action=flag"])
    assert stats["output_rows"] == 30
    kept = read_sorted(workspace / "flag" / "data")
    flagged = kept.filter(kept.column("decontaminate.contaminated")).column("id").to_pylist()
    assert flagged == ["doc-17", "doc-25", "doc-4"]
    assert main(["contamination-report", str(workspace / "flag")]) == 0
    out = capsys.readouterr().out
    assert "3 of 30 documents contain an evaluation item" in out and "flagged" in out
    assert "| gsm8k | 4 | 3 | 3 (75.0%) | 3 |" in out
    assert "shorter than 8 words" in out
    assert COOKIES in out  # top removed lines of line_dedup
    assert main(["contamination-report", str(workspace / "flag"), "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert [r["type"] for r in parsed] == ["line_dedup", "decontaminate"]


def test_report_of_a_directory_without_a_run(tmp_path, capsys):
    assert main(["contamination-report", str(tmp_path)]) == 2
    assert "no pipeline run here" in capsys.readouterr().err
