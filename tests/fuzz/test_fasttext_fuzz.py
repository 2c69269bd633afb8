"""Thresher's Rust fastText scorer against the fasttext package on DCLM-prepared text
(`" ".join(text.strip().splitlines())`), on generated documents full of awkward characters."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labelled_docs import labelled_docs

fasttext = pytest.importorskip("fasttext")
if not hasattr(fasttext, "train_supervised"):
    pytest.skip("the installed fasttext module cannot train", allow_module_level=True)

from thresher.classify.config import FastTextSpec  # noqa: E402
from thresher.classify.fasttext_model import FastTextPredictor, label_token, train_fasttext  # noqa: E402

EXAMPLES = int(os.environ.get("THRESHER_FUZZ_EXAMPLES", "300"))
PIECES = [
    "\n", "\r", "\r\n", " ", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\u2028", "\u2029",
    "\xa0", "\u3000", "\u200b", "\x00", "é", "數", "\U0001f600", "__label__math", "__label__", "</s>",
    "Question:", "answer", "The", "def", "return", "=", "+", "8", "apples", "|", "Home",
]  # fmt: skip
TEXT = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=40).map("".join)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    docs = labelled_docs(40, seed=8)
    lines = [" ".join(t.split()) for t in docs["text"]]
    out = {}
    for loss in ("softmax", "ova"):
        spec = FastTextSpec(dim=8, bucket=20000, epoch=5, lr=0.2, loss=loss)
        path = tmp_path_factory.mktemp(loss) / "model.bin"
        train_fasttext(lines, [[lab] for lab in docs["label"]], spec, "multiclass", seed=1).save_model(str(path))
        out[loss] = (FastTextPredictor(path), fasttext.load_model(str(path)))
    return out


def reference(model, texts: list[str], labels: list[str]) -> np.ndarray:
    """DCLM's preparation in Python, then fastText's own prediction."""
    lines = [" ".join(t.strip().splitlines()) + "\n" for t in texts]
    names, probs = model.f.multilinePredict(lines, -1, 0.0, "replace")
    out = np.zeros((len(texts), len(labels)), dtype=np.float64)
    index = {label: j for j, label in enumerate(labels)}
    for i, (ns, ps) in enumerate(zip(names, probs, strict=True)):
        for n, p in zip(ns, ps, strict=True):
            out[i, index[n]] = p
    return out


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(TEXT, min_size=1, max_size=8))
def test_rust_scores_equal_fasttext_on_dclm_prepared_text(models, texts):
    for rust, model in models.values():
        got = rust.predict(pa.array(texts, pa.large_string()))
        expected = reference(model, texts, rust.labels)
        # fastText reports log(p + 1e-5) and Python takes exp: within 2e-5 of the plain probability.
        np.testing.assert_allclose(got, expected, atol=2e-5)
        assert sorted(rust.labels) == [label_token(c) for c in ("code", "junk", "math", "prose")]
