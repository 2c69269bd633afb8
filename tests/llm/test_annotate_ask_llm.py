"""The whole loop on CPU with a tiny random judge: `filter annotate` labels a stratified sample
with ask_llm, `filter train-classifier` distils the scores into fastText, and the model scores."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from labelled_docs import labelled_docs

from thresher.classify.models import load_scorer
from thresher.cli import main

fasttext = pytest.importorskip("fasttext")
if not hasattr(fasttext, "train_supervised"):
    pytest.skip("the installed fasttext module cannot train", allow_module_level=True)


def test_annotate_with_ask_llm_then_train(tmp_path, tiny_causal):
    src = tmp_path / "in"
    src.mkdir()
    docs = labelled_docs(12, seed=3)
    n = len(docs["text"])
    source = ["books" if lab in ("math", "code") else "web" for lab in docs["label"]]
    table = pa.table({"id": [f"d{i:02d}" for i in range(n)], "text": docs["text"], "source": source})
    pq.write_table(table, src / "docs.parquet")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f"""
input: {{paths: ["{src}/*.parquet"]}}
steps:
  - type: text_length
    min_words: 5
  - type: ask_llm
    backend: {{type: transformers, model: "{tiny_causal}", device: cpu}}
    questions: [quality, reasoning]
    selection: {{mode: top_fraction, fraction: 0.5}}
output: {{path: "{tmp_path / "out"}"}}
"""
    )
    labelled = tmp_path / "labelled.parquet"
    assert main(["annotate", str(pipeline), "-o", str(labelled), "--size", "30", "--strata", "source"]) == 0
    sample = pq.read_table(labelled)
    assert sample.num_rows == 30
    assert set(sample.column("stratum").to_pylist()) == {"books", "web"}
    scores = np.asarray(sample.column("ask_llm.quality.p_yes").to_pylist())
    assert np.all((scores >= 0) & (scores <= 1)) and "ask_llm.reasoning.p_yes" in sample.column_names

    cut = float(np.median(scores))
    args = ["train-classifier", "--name", "quality", "--input", str(labelled), "--output", str(tmp_path / "models")]
    args += ["--label-column", "ask_llm.quality.p_yes", "--threshold", repr(cut)]
    args += ["--set", "fasttext.dim=16", "--set", "fasttext.bucket=20000"]
    assert main(args) == 0
    scorer = load_scorer(tmp_path / "models" / "quality")
    probs = scorer.predict(pa.array(docs["text"][:4]))
    assert probs.shape == (4, 2) and scorer.default_output == "positive"
