"""A two-phase skill mix through the real stages: classifier scores from a model trained in the
pipeline, then `mix` with phases; the manifest's shares match their targets and phase 2 is a subset
of phase 1."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from labelled_docs import labelled_docs

from thresher.config import parse_pipeline
from thresher.executors.local import LocalExecutor
from thresher.stages import Plan

fasttext = pytest.importorskip("fasttext")
if not hasattr(fasttext, "train_supervised"):
    pytest.skip("the installed fasttext module cannot train", allow_module_level=True)


def test_two_phase_skill_mix(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for k in range(2):
        docs = labelled_docs(40, seed=20 + k)
        n = len(docs["text"])
        langs = ["en" if i % 4 else "de" for i in range(n)]
        pq.write_table(
            pa.table(
                {"id": [f"{k}-{i}" for i in range(n)], "text": docs["text"], "lang": langs, "truth": docs["label"]}
            ),
            src / f"s{k}.parquet",
            row_group_size=37,
        )
    labelled = tmp_path / "labelled.parquet"
    pq.write_table(pa.table(labelled_docs(40, seed=1)), labelled)
    train = {
        "data": {"paths": [str(labelled)]},
        "label": {"column": "label", "task": "multiclass"},
        "fasttext": {"dim": 16, "bucket": 20000, "epoch": 10},
    }
    phases = [
        {
            "name": "phase1",
            "budget": 6000,
            "when": ["skills.junk < 0.5"],
            "skills": [
                {"name": "math", "share": 0.4, "when": "skills.math >= 0.5"},
                {"name": "code", "share": 0.2, "when": "skills.code >= 0.5"},
                {"name": "general", "share": 0.4},
            ],
            "max_epochs": 2,
        },
        {
            "name": "phase2",
            "subset_of": "phase1",
            "budget": 1500,
            "skills": [
                {"name": "math", "share": 0.7, "when": "skills.math top 50%"},
                {"name": "code", "share": 0.3, "when": "skills.code >= 0.5"},
            ],
            "overlap": "highest",
        },
    ]
    raw = {
        "input": {"paths": [str(src / "*.parquet")], "batch_rows": 16},
        "steps": [
            {"type": "classifier", "name": "skills", "train": train, "outputs": ["math", "code", "junk", "prose"]},
            {"type": "mix", "language_column": "lang", "phases": phases, "output": "weight", "seed": 3},
        ],
        "output": {"path": str(tmp_path / "out"), "rejected": True},
    }
    summary = LocalExecutor(workers=1, quiet=True).run(Plan.create(parse_pipeline(raw)))
    assert summary.ok, summary.errors
    manifest = json.loads((tmp_path / "out" / "mix.json").read_text())
    assert [m["phase"] for m in manifest["phases"]] == ["phase1", "phase2"]
    for m in manifest["phases"]:
        assert 0.97 * m["budget"] <= m["tokens_selected"] <= m["budget"]
        for skill in m["skills"]:
            assert abs(skill["share"] - skill["target_share"]) < 0.01, (m["phase"], skill)
        assert set(m["languages"]) <= {"en", "de"}
    p2 = manifest["phases"][1]
    assert p2["conditions"] == [] and p2["skill_conditions"][0]["conditions"][0]["threshold"] is not None
    assert (tmp_path / "out" / "mix.md").read_text().count("## phase") == 2

    kept = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "out" / "data").glob("*.parquet"))])
    r1 = np.asarray(kept["mix.phase1.repeats"].to_pylist())
    r2 = np.asarray(kept["mix.phase2.repeats"].to_pylist())
    assert np.all((r1 > 0) | (r2 > 0)) and np.all(r1[r2 > 0] > 0)  # phase 2 within phase 1
    assert "junk" not in set(kept["truth"].to_pylist())  # the phase condition dropped the junk
    assert np.array_equal(np.asarray(kept["sample_weight"].to_pylist()), r1 + r2)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["output_rows"] == kept.num_rows
