"""The `classifier` step in pipelines: in-pipeline training, threshold and top-fraction selection
over the whole corpus, scores reused between the map and apply stages."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from labelled_docs import labelled_docs

from thresher.cli import main
from thresher.config import ConfigError, parse_pipeline
from thresher.steps.classifier import top_fraction_cut
from thresher_testing import write_pipeline

fasttext = pytest.importorskip("fasttext")
if not hasattr(fasttext, "train_supervised"):
    pytest.skip("the installed fasttext module cannot train", allow_module_level=True)


def corpus(tmp_path):
    """Two shards of generated documents, and a separate labelled training sample."""
    src = tmp_path / "in"
    src.mkdir()
    for k, seed in enumerate((10, 11)):
        docs = labelled_docs(15, seed=seed)
        ids = [f"s{k}-{i}" for i in range(len(docs["text"]))]
        pq.write_table(pa.table({"id": ids, "text": docs["text"], "truth": docs["label"]}), src / f"s{k}.parquet")
    labelled = tmp_path / "labelled.parquet"
    pq.write_table(pa.table(labelled_docs(40, seed=1)), labelled)
    return src, labelled


def train_block(labelled, indent="    "):
    lines = [
        "train:",
        "  data: {paths: [" + str(labelled) + "]}",
        "  label: {column: label, task: multiclass}",
        "  fasttext: {dim: 16, bucket: 20000, epoch: 10}",
    ]
    return "\n".join(indent + line for line in lines)


def read_dir(path):
    files = sorted(path.glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else None


def test_top_fraction_cut():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3], dtype=np.float32)
    assert top_fraction_cut(scores, 0.4) == pytest.approx(0.7)  # keeps 0.9 and 0.7
    assert top_fraction_cut(scores, 0.5) == pytest.approx(0.5)  # ceil(2.5) = 3 rows
    assert top_fraction_cut(scores, 1.0) == pytest.approx(0.1)
    assert top_fraction_cut(np.zeros(0), 0.5) is None


def test_trained_in_pipeline_top_fraction(tmp_path):
    src, labelled = corpus(tmp_path)
    out = tmp_path / "out"
    steps = f"""  - type: classifier
    name: skills
    score: math
    outputs: [code, prose]
{train_block(labelled)}
    selection: {{mode: top_fraction, fraction: 0.25}}
"""
    pipeline = write_pipeline(tmp_path / "p.yaml", str(src / "*.parquet"), out, steps, "  keep_signals: true")
    assert main(["run", str(pipeline), "--quiet"]) == 0
    kept = read_dir(out / "data")
    rejected = read_dir(out / "rejected")
    total = 2 * 60
    assert kept.num_rows + rejected.num_rows == total
    assert kept.num_rows >= math.ceil(0.25 * total)
    cut = json.loads((out / "_thresher/work/steps/skills/cut.json").read_text())
    assert cut["rows"] == total and cut["fraction"] == 0.25
    assert kept.num_rows == cut["rows_at_or_above"]
    assert set(kept.column("truth").to_pylist()) == {"math"}  # the top quarter by P(math) is the math quarter
    assert min(kept.column("skills.score").to_pylist()) >= cut["threshold"]
    assert set(rejected.column("drop_reason").to_pylist()) == {"skills:below_top_fraction"}
    for name in ("skills.code", "skills.prose"):
        assert name in kept.column_names
    # The model was trained once, into the step's work folder, with its metrics.
    versions = list((out / "_thresher/work/steps/skills/models/model").glob("v*"))
    assert [v.name for v in versions] == ["v1"]
    assert json.loads((versions[0] / "metrics.json").read_text())["held_out"]["macro_f1"] > 0.9


def test_model_path_and_threshold(tmp_path):
    src, labelled = corpus(tmp_path)
    models = tmp_path / "models"
    assert (
        main(
            [
                "train-classifier",
                "--name",
                "skills",
                "--input",
                str(labelled),
                "--label-column",
                "label",
                "--task",
                "multiclass",
                "--output",
                str(models),
                "--set",
                "fasttext.dim=16",
                "--set",
                "fasttext.bucket=20000",
            ]
        )
        == 0
    )
    out = tmp_path / "out"
    steps = f"""  - type: classifier
    model: {models / "skills"}
    score: junk
    selection: {{mode: threshold, min_score: 0.5}}
"""
    pipeline = write_pipeline(tmp_path / "p.yaml", str(src / "*.parquet"), out, steps)
    assert main(["run", str(pipeline), "--quiet"]) == 0
    kept, rejected = read_dir(out / "data"), read_dir(out / "rejected")
    assert set(kept.column("truth").to_pylist()) == {"junk"}
    assert rejected.num_rows == 90 and set(rejected.column("drop_reason").to_pylist()) == {"classifier:score_too_low"}
    scores = rejected.column("classifier.score").to_numpy()
    assert np.all(scores < 0.5)


def test_params_are_checked():
    base = {"input": {"paths": ["x.parquet"]}, "output": {"path": "o"}}
    with pytest.raises(ConfigError, match="either `model`"):
        parse_pipeline({**base, "steps": [{"type": "classifier"}]})
    with pytest.raises(ConfigError, match="needs selection.fraction"):
        parse_pipeline({**base, "steps": [{"type": "classifier", "model": "m", "selection": {"mode": "top_fraction"}}]})
    with pytest.raises(ConfigError, match="train.data"):
        parse_pipeline({**base, "steps": [{"type": "classifier", "train": {"label": {"column": "l"}}}]})
