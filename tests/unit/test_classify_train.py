"""Training fastText classifiers end to end on small generated data: labels, splits, versioned
model directories, metrics, and scoring through `load_scorer`."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from labelled_docs import labelled_docs

from thresher.classify.config import LabelSpec, SplitSpec, load_train_config, parse_train_config
from thresher.classify.data import encode_labels, row_keys, split_indices
from thresher.classify.models import ModelError, load_scorer, resolve_model_dir
from thresher.classify.train import train
from thresher.cli import main
from thresher.config import ConfigError

fasttext = pytest.importorskip("fasttext")
if not hasattr(fasttext, "train_supervised"):
    pytest.skip("the installed fasttext module cannot train", allow_module_level=True)

SMALL_FASTTEXT = {"dim": 16, "bucket": 20000, "epoch": 10}


def write_labelled(path, n_per_class=60, classes=("math", "prose", "code", "junk"), seed=0):
    pq.write_table(pa.table(labelled_docs(n_per_class, classes, seed)), path)
    return path


def test_encode_labels_by_task():
    binary = encode_labels(["hq", "cc", None, "hq"], LabelSpec(column="l", positive=["hq"]))
    assert binary.rows.tolist() == [0, 1, 3] and binary.y.tolist() == [1, 0, 1]
    assert binary.classes == ["not_positive", "positive"]
    scored = encode_labels([0.9, 0.2, 0.5], LabelSpec(column="l", threshold=0.5))
    assert scored.y.tolist() == [1, 0, 1]
    multi = encode_labels(["math", "code", "wiki"], LabelSpec(task="multiclass", rename={"wiki": "knowledge"}))
    assert multi.classes == ["code", "knowledge", "math"] and multi.y.tolist() == [2, 0, 1]
    restricted = encode_labels(["a", "b", "c"], LabelSpec(task="multiclass", classes=["c", "a"]))
    assert restricted.rows.tolist() == [0, 2] and restricted.y.tolist() == [1, 0]
    multilabel = encode_labels(["a,b", "b", ""], LabelSpec(task="multilabel", separator=","))
    assert multilabel.classes == ["a", "b"] and multilabel.y.tolist() == [[1, 1], [0, 1], [0, 0]]
    with pytest.raises(ConfigError, match="both"):
        encode_labels(["x", "x"], LabelSpec(positive=["y"]))


def test_split_is_seeded_and_stratified():
    labels = ["a"] * 70 + ["b"] * 30
    targets = encode_labels(labels, LabelSpec(task="multiclass"))
    keys = row_keys([f"doc {i}" for i in range(100)])
    train_a, test_a = split_indices(targets, keys, SplitSpec(test_fraction=0.3, seed=1))
    train_b, test_b = split_indices(targets, keys, SplitSpec(test_fraction=0.3, seed=1))
    _, test_c = split_indices(targets, keys, SplitSpec(test_fraction=0.3, seed=2))
    assert test_a.tolist() == test_b.tolist() and test_a.tolist() != test_c.tolist()
    assert sorted(train_a.tolist() + test_a.tolist()) == list(range(100))
    assert np.sum(targets.y[test_a] == 0) == 21 and np.sum(targets.y[test_a] == 1) == 9


def test_multiclass_fasttext_trains_versions_and_scores(tmp_path):
    data = write_labelled(tmp_path / "labelled.parquet")
    raw = {
        "name": "skills",
        "data": {"paths": [str(data)]},
        "label": {"column": "label", "task": "multiclass"},
        "split": {"folds": 3},
        "fasttext": SMALL_FASTTEXT,
        "output": str(tmp_path / "models"),
    }
    config = parse_train_config(raw)
    first = train(config, log=lambda *_: None)
    assert first.version_dir.name == "v1"
    assert first.metrics["held_out"]["macro_f1"] > 0.95
    assert first.metrics["cross_validated"]["folds"] == 3 and len(first.metrics["cross_validated"]["per_fold"]) == 3
    for name in ("model.json", "model.bin", "metrics.json", "config.yaml", "data.json"):
        assert (first.version_dir / name).is_file(), name
    saved_config = yaml.safe_load((first.version_dir / "config.yaml").read_text())
    assert parse_train_config(saved_config) == config  # the config that made it, complete
    data_doc = json.loads((first.version_dir / "data.json").read_text())
    assert data_doc["class_counts"] == {"code": 60, "junk": 60, "math": 60, "prose": 60}

    second = train(config, log=lambda *_: None)
    assert second.version_dir.name == "v2"
    root = tmp_path / "models" / "skills"
    assert (root / "LATEST").read_text().strip() == "v2" and resolve_model_dir(root) == second.version_dir

    scorer = load_scorer(root)
    assert scorer.outputs == ["code", "junk", "math", "prose"]
    texts = labelled_docs(5, seed=99)
    probs = scorer.predict(pa.array(texts["text"]))
    assert probs.shape == (20, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    predicted = [scorer.outputs[i] for i in probs.argmax(axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, texts["label"], strict=True)]) >= 0.9


def test_binary_and_regression_fasttext(tmp_path):
    docs = labelled_docs(60, ("math", "junk"), seed=3)
    # An LLM-like score: high for the worked problems, low for the junk.
    rng = np.random.default_rng(0)
    docs["p_yes"] = [float(rng.uniform(0.6, 1.0) if lab == "math" else rng.uniform(0.0, 0.4)) for lab in docs["label"]]
    docs["edu"] = [4.0 if lab == "math" else 1.0 for lab in docs["label"]]
    path = tmp_path / "scored.jsonl"
    rows = [dict(zip(docs, row, strict=True)) for row in zip(*docs.values(), strict=True)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    binary = train(
        parse_train_config(
            {
                "name": "quality",
                "data": {"paths": [str(path)]},
                "label": {"column": "p_yes", "threshold": 0.5, "positive_name": "good"},
                "fasttext": SMALL_FASTTEXT,
                "output": str(tmp_path / "m"),
            }
        ),
        log=lambda *_: None,
    )
    assert binary.model_json["positive"] == "good"
    assert binary.metrics["held_out"]["roc_auc"] > 0.95
    scorer = load_scorer(binary.version_dir)
    assert scorer.default_output == "good"
    regression = train(
        parse_train_config(
            {
                "name": "edu",
                "data": {"paths": [str(path)]},
                "label": {"column": "edu", "task": "regression", "threshold": 3},
                "fasttext": SMALL_FASTTEXT,
                "output": str(tmp_path / "m"),
            }
        ),
        log=lambda *_: None,
    )
    assert regression.metrics["held_out"]["spearman"] > 0.8
    values = load_scorer(regression.version_dir).predict(pa.array([math_text() for _ in range(3)]))
    assert values.shape == (3, 1) and np.all(values > 3.0)


def math_text():
    return labelled_docs(1, ("math",), seed=5)["text"][0]


def test_raw_fasttext_file_keeps_its_label_convention(tmp_path):
    from thresher.classify.config import FastTextSpec
    from thresher.classify.fasttext_model import train_fasttext

    docs = labelled_docs(40, ("math", "junk"), seed=4)
    lines = [" ".join(t.split()) for t in docs["text"]]
    names = [["hq" if lab == "math" else "cc"] for lab in docs["label"]]  # DCLM's label names
    model = train_fasttext(lines, names, FastTextSpec(dim=8, bucket=20000, epoch=5, lr=0.1), "binary", seed=1)
    path = tmp_path / "dclm_like.bin"
    model.save_model(str(path))
    scorer = load_scorer(path)
    assert sorted(scorer.outputs) == ["cc", "hq"]
    text = "Question: Ana has 3 coins.\nAnswer: 3 + 1 = 4.\nThe answer is 4."
    probs = scorer.predict(pa.array([text]))
    labels, p = model.predict(" ".join(text.strip().splitlines()), k=2)
    expected = dict(zip(labels, p, strict=True))["__label__hq"]
    assert probs[0, scorer.output_index("__label__hq")] == pytest.approx(expected, abs=3e-5)
    with pytest.raises(ModelError, match="no output"):
        scorer.output_index("knowledge")


def test_train_classifier_command(tmp_path, capsys):
    data = write_labelled(tmp_path / "l.parquet", n_per_class=30, classes=("math", "prose"))
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"name": "mp", "label": {"column": "label", "task": "multiclass"}}))
    code = main(
        [
            "train-classifier",
            str(config),
            "--input",
            str(data),
            "--output",
            str(tmp_path / "models"),
            "--set",
            "fasttext.dim=8",
            "--set",
            "fasttext.bucket=20000",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "saved" in out and "macro_f1=" in out
    assert (tmp_path / "models" / "mp" / "v1" / "model.bin").is_file()


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"fasttext\.epoch"):
        load_train_config(None, ["name=x", "data.paths=[a.parquet]", "fasttext.epoch=0"])
    with pytest.raises(ConfigError, match="no column"):
        path = write_labelled(tmp_path / "l.parquet", 2)
        train(parse_train_config({"name": "x", "data": {"paths": [str(path)]}, "label": {"column": "nope"}}))


@pytest.mark.parametrize("loss", ["softmax", "ova"])
def test_rust_scoring_matches_fasttext(tmp_path, loss):
    from thresher.classify.fasttext_model import FastTextPredictor

    data = write_labelled(tmp_path / "l.parquet", n_per_class=30)
    config = parse_train_config(
        {
            "name": "m",
            "data": {"paths": [str(data)]},
            "label": {"column": "label", "task": "multiclass"},
            "fasttext": {**SMALL_FASTTEXT, "loss": loss},
            "output": str(tmp_path / "models"),
        }
    )
    path = train(config, log=lambda *_: None).version_dir / "model.bin"
    rust, python = FastTextPredictor(path), FastTextPredictor(path, engine="fasttext")
    assert rust.engine == "rust" and python.engine == "fasttext" and rust.labels == python.labels
    texts = labelled_docs(10, seed=42)["text"] + [
        "",
        None,
        "  Héllo wörld\u2028naïve café\u0085 résumé  ",
        "__label__math inside the text, and é\u00a0non-breaking",
        "line one\r\nline two\n\n\tline three\x0bfour\x0cfive",
        "数学の問題です。 答えは 8 です。",
    ]
    column = pa.array(texts, pa.large_string())
    for mode in ("dclm", "normalized"):
        np.testing.assert_allclose(rust.predict(column, mode), python.predict(column, mode), atol=2e-5)
    np.testing.assert_allclose(rust.predict(column, max_chars=40), python.predict(column, max_chars=40), atol=2e-5)
