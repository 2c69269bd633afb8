"""Decontamination and line dedup on the real data of ../shared/data (GSM8K and web pages)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from thresher import _core
from thresher.api import Pipeline
from thresher_testing import shared_data_dir

pytestmark = pytest.mark.shared_data

DATA = shared_data_dir()


@pytest.fixture(scope="module")
def gsm8k_test(tmp_path_factory) -> tuple[Path, list[dict]]:
    if not (DATA / "skills" / "skills.parquet").exists():
        pytest.skip(f"no shared data at {DATA}")
    skills = pq.read_table(DATA / "skills" / "skills.parquet")
    test = skills.filter(
        pc.equal(skills.column("source"), "openai/grade-school-math:grade_school_math/data/test.jsonl")
    )
    path = tmp_path_factory.mktemp("eval") / "gsm8k_test.parquet"
    pq.write_table(test.select(["id", "text"]), path)
    return path, test.to_pylist()


def test_pasted_gsm8k_items_are_found_and_untouched_pages_are_not(gsm8k_test, tmp_path):
    path, rows = gsm8k_test
    web = pq.read_table(DATA / "web_html_boilerplate" / "web_html_boilerplate.parquet").slice(0, 400)
    texts = web.column("raw_text").to_pylist()
    rng = random.Random(1)
    picked = rng.sample(rows, 40)
    hosts = rng.sample(range(len(texts)), 40)
    for k, (row, host) in enumerate(zip(picked, hosts, strict=True)):
        snippet = row["text"] if k % 2 else json.loads(row["meta"])["question"]
        lines = texts[host].split("\n")
        at = rng.randrange(len(lines) + 1)
        texts[host] = "\n".join(lines[:at] + [snippet] + lines[at:])
    step = {
        "type": "decontaminate",
        "action": "flag",
        "index_dir": str(tmp_path),
        "eval_sets": [{"name": "gsm8k", "paths": [str(path)]}],
    }
    result = Pipeline.from_steps([step]).run_table(pa.table({"id": web.column("id"), "text": texts}))
    flagged = result.kept.column("decontaminate.contaminated").to_pylist()
    assert sorted(i for i, f in enumerate(flagged) if f) == sorted(hosts)
    ids = result.kept.column("decontaminate.matched_items").to_pylist()
    for row, host in zip(picked, hosts, strict=True):
        assert ids[host][0] == row["id"]


def test_line_dedup_removes_navigation_but_keeps_unique_content():
    web = pq.read_table(DATA / "web_html_boilerplate" / "web_html_boilerplate.parquet").slice(0, 800)
    table = pa.table({"id": web.column("id"), "text": web.column("raw_text")})
    result = Pipeline.from_steps([{"type": "line_dedup", "min_remaining_chars": 0, "partitions": 2}]).run_table(table)
    kept = dict(zip(result.kept.column("id").to_pylist(), result.kept.column("text").to_pylist(), strict=True))
    assert len(kept) == 800
    # Count normalised lines per page, as the step does: sidebar headlines that differ only in
    # bullets or non-breaking spaces are one line, repeated across a site's pages.
    counts: dict[int, int] = {}
    for text in table.column("text").to_pylist():
        for h in set(_core.line_hash(pa.array(text.split("\n"), pa.string())).to_pylist()) - {None}:
            counts[h] = counts.get(h, 0) + 1
    home = _core.line_hash(pa.array(["• Home"]))[0].as_py()
    assert counts[home] > 6
    assert not any(line.strip() == "• Home" for text in kept.values() for line in text.split("\n"))
    unique_lines = 0
    for doc_id, text in zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True):
        lines = text.split("\n")
        hashes = _core.line_hash(pa.array(lines, pa.string())).to_pylist()
        once = [line for line, h in zip(lines, hashes, strict=True) if h is not None and counts[h] == 1]
        unique_lines += len(once)
        assert all(line in kept[doc_id] for line in once)
    assert unique_lines > 10_000
