"""Heuristic quality filters from the web-corpus literature, computed in Rust over whole batches.

Five steps: `gopher_quality`, `gopher_repetition` (Rae et al. 2021), `c4_quality` (Raffel et al.
2020; rewrites text), `fineweb_quality` (Penedo et al. 2024) and `refinedweb_lines` (Penedo et al.
2023 as reproduced by DCLM; rewrites text). Each has a `profile` that selects which toolkit's
definition of the same-named rule to reproduce (see docs/profiles.md); thresholds default to the
published values (see docs/signals.md).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from thresher import _core
from thresher.steps.base import Decision, Step, StepContext, StepParams, ThresholdRule, decide_by_rules
from thresher.steps.registry import register_step

Profile = Literal["datatrove", "fineweb-2024", "dclm", "dolma", "c4-original"]
WordSplitterName = Literal["spacy_en", "uax29", "whitespace"]

#: The stop words of the Gopher paper (Rae et al. 2021, appendix A).
GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]


class HeuristicParams(StepParams):
    profile: Profile = Field("datatrove", description="Whose definition of the rules to reproduce")
    language: str = Field("en", description="ISO 639-1 code; picks the word splitter and stop words")
    word_splitter: WordSplitterName | None = Field(
        None, description="spacy_en (English rules, punctuation tokens count), uax29 or whitespace; default by language"
    )

    def splitter(self) -> str:
        if self.word_splitter is not None:
            return self.word_splitter
        return "spacy_en" if self.language == "en" else "uax29"


@lru_cache(maxsize=64)
def stop_words_for(language: str) -> tuple[str, ...]:
    """The Gopher list for English; the stopwords-iso list (PyPI `stopwordsiso`) for other languages."""
    if language == "en":
        return tuple(GOPHER_STOP_WORDS)
    try:
        import stopwordsiso
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"stop words for language {language!r} come from the stopwordsiso package: "
            "pip install 'thresher[multilingual]' or give `stop_words:` explicitly"
        ) from err
    if not stopwordsiso.has_lang(language):
        raise ValueError(f"stopwordsiso has no stop words for {language!r}; give `stop_words:` explicitly")
    return tuple(sorted(stopwordsiso.stopwords(language)))


class _SharesWordSplits:
    """A step whose Rust call can take a `_core.WordMemo`: a chain with several such steps gives them
    one memo per batch, so each document is split into words once, not once per step (C4, which
    splits no words itself, passes a document's words on to its rewritten text)."""

    shares_word_splits = True
    word_memo = None  # set by StepChain for the duration of a batch


class _ChainableStep:
    """A heuristic step that the Rust `HeuristicChain` can run together with its neighbours: each
    document goes through the whole run of such steps at once (see `thresher.chain`)."""

    chain_kind: str

    def chain_options(self) -> dict | None:
        """The step's Rust parameters, or None when this configuration must run on its own."""
        raise NotImplementedError

    def chain_spec(self) -> dict | None:
        options = self.chain_options()
        if options is None:
            return None
        rules = [
            (rule.signal, rule.keep_when, float(rule.threshold), self._zero_passes(rule)) for rule in self.chain_rules()
        ]
        return {"kind": self.chain_kind, "rules": rules, **options}

    def chain_rules(self) -> list[ThresholdRule]:
        """The rules that can fail (threshold set), in the order `decide` tries them."""
        return [rule for rule in self.rules() if rule.threshold is not None]

    def _zero_passes(self, rule: ThresholdRule) -> bool:
        return False


class _RewritingStep(Step):
    """A step whose Rust call returns new text beside its signals; `decide` picks it up."""

    _text_column = "text"
    _rewritten: tuple[pa.RecordBatch, pa.Array, pa.Array] | None = None

    def open(self, context: StepContext) -> None:
        self._text_column = context.text_column

    def _compute(self, text: pa.Array) -> tuple[pa.RecordBatch, pa.Array]:
        raise NotImplementedError

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        signals, new_text = self._compute(text)
        self._rewritten = (signals, text, new_text)
        return signals

    def _rewrite_decision(self, decision: Decision, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        if self._rewritten is not None and self._rewritten[0] is signals:
            _, original, new_text = self._rewritten
        else:  # decide() on stored signals (re-thresholding): recompute the rewrite
            original = batch.column(self._text_column)
            new_text = self._compute(original)[1]
        if not original.type.equals(new_text.type):
            new_text = new_text.cast(original.type)
        # Kept rows carry the rewritten text; dropped rows keep what they came with.
        decision.text = pc.if_else(decision.keep, new_text, original)
        if getattr(self.params, "keep_original_text", False):
            decision.extra_columns[f"{self.name}.original_text"] = original
        self._rewritten = None
        return decision


# ---- Gopher quality --------------------------------------------------------------------------------


class GopherQualityParams(HeuristicParams):
    min_doc_words: int | None = Field(50, ge=0)
    max_doc_words: int | None = Field(100_000, ge=0)
    min_avg_word_length: float | None = Field(3, ge=0)
    max_avg_word_length: float | None = Field(10, ge=0)
    max_symbol_word_ratio: float | None = Field(0.1, ge=0, description="'#' and ellipses per word")
    max_bullet_lines_ratio: float | None = Field(0.9, ge=0, le=1)
    max_ellipsis_lines_ratio: float | None = Field(0.3, ge=0, le=1)
    min_alpha_words_ratio: float | None = Field(0.8, ge=0, le=1, description="Words with a letter")
    min_stop_words: int | None = Field(2, ge=0)
    stop_words: list[str] | None = Field(None, description="Default: Gopher's 8 for English, stopwords-iso otherwise")


@register_step
class GopherQuality(_SharesWordSplits, _ChainableStep, Step):
    """Gopher's document quality rules: length, word length, symbols, bullets, ellipses, letters, stop words."""

    type = "gopher_quality"
    chain_kind = "gopher_quality"
    Params = GopherQualityParams
    params: GopherQualityParams

    def chain_options(self) -> dict:
        p = self.params
        return {"profile": p.profile, "splitter": p.splitter(), "stop_words": self._stop_words()}

    def _stop_words(self) -> list[str]:
        p = self.params
        return list(p.stop_words) if p.stop_words is not None else list(stop_words_for(p.language))

    def signal_fields(self) -> list[pa.Field]:
        u, f = pa.uint64(), pa.float64()
        return [
            pa.field("word_count", u),
            pa.field("avg_word_length", f),
            pa.field("hash_ratio", f),
            pa.field("ellipsis_ratio", f),
            pa.field("symbol_ratio", f),
            pa.field("bullet_lines_ratio", f),
            pa.field("ellipsis_lines_ratio", f),
            pa.field("alpha_words_ratio", f),
            pa.field("stop_words", u),
        ]

    def rules(self) -> list[ThresholdRule]:
        p = self.params
        rules = [
            ThresholdRule("gopher_short_doc", "word_count", ">=", p.min_doc_words),
            ThresholdRule("gopher_long_doc", "word_count", "<=", p.max_doc_words),
            ThresholdRule("gopher_below_avg_threshold", "avg_word_length", ">=", p.min_avg_word_length),
            ThresholdRule("gopher_above_avg_threshold", "avg_word_length", "<=", p.max_avg_word_length),
        ]
        if p.profile in ("dclm", "dolma"):
            rules.append(ThresholdRule("gopher_too_many_symbols", "symbol_ratio", "<=", p.max_symbol_word_ratio))
        else:
            rules += [
                ThresholdRule("gopher_too_many_hashes", "hash_ratio", "<=", p.max_symbol_word_ratio),
                ThresholdRule("gopher_too_many_ellipsis", "ellipsis_ratio", "<=", p.max_symbol_word_ratio),
            ]
        rules += [
            ThresholdRule("gopher_too_many_bullets", "bullet_lines_ratio", "<=", p.max_bullet_lines_ratio),
            ThresholdRule("gopher_too_many_end_ellipsis", "ellipsis_lines_ratio", "<=", p.max_ellipsis_lines_ratio),
            ThresholdRule("gopher_below_alpha_threshold", "alpha_words_ratio", ">=", p.min_alpha_words_ratio),
            ThresholdRule("gopher_enough_stop_words", "stop_words", ">=", p.min_stop_words),
        ]
        return rules

    def reasons(self) -> list[str]:
        return [r.reason for r in self.rules()]

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        p = self.params
        return _core.gopher_quality_signals(text, p.profile, p.splitter(), self._stop_words(), word_memo=self.word_memo)

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return decide_by_rules(self.rules(), signals)


# ---- Gopher repetition -----------------------------------------------------------------------------


class GopherRepetitionParams(HeuristicParams):
    max_dup_line_frac: float | None = Field(0.3, ge=0)
    max_dup_para_frac: float | None = Field(0.3, ge=0)
    max_dup_line_char_frac: float | None = Field(0.2, ge=0)
    max_dup_para_char_frac: float | None = Field(0.2, ge=0)
    max_top_2_gram_frac: float | None = Field(0.20, ge=0)
    max_top_3_gram_frac: float | None = Field(0.18, ge=0)
    max_top_4_gram_frac: float | None = Field(0.16, ge=0)
    max_dup_5_gram_frac: float | None = Field(0.15, ge=0)
    max_dup_6_gram_frac: float | None = Field(0.14, ge=0)
    max_dup_7_gram_frac: float | None = Field(0.13, ge=0)
    max_dup_8_gram_frac: float | None = Field(0.12, ge=0)
    max_dup_9_gram_frac: float | None = Field(0.11, ge=0)
    max_dup_10_gram_frac: float | None = Field(0.10, ge=0)


@register_step
class GopherRepetition(_SharesWordSplits, _ChainableStep, Step):
    """Gopher's repetition rules: duplicated lines and paragraphs, dominant and duplicated n-grams."""

    type = "gopher_repetition"
    chain_kind = "gopher_repetition"
    Params = GopherRepetitionParams
    params: GopherRepetitionParams

    def chain_options(self) -> dict:
        return {"profile": self.params.profile, "splitter": self.params.splitter()}

    _FRACTIONS = [
        "dup_para_frac",
        "dup_para_char_frac",
        "dup_line_frac",
        "dup_line_char_frac",
        "top_2_gram_frac",
        "top_3_gram_frac",
        "top_4_gram_frac",
        *[f"dup_{n}_gram_frac" for n in range(5, 11)],
    ]

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("chars", pa.uint64())] + [pa.field(s, pa.float64()) for s in self._FRACTIONS]

    def rules(self) -> list[ThresholdRule]:
        p = self.params
        rules = [
            ThresholdRule("empty", "chars", ">=", 1),
            ThresholdRule("dup_para_frac", "dup_para_frac", "<=", p.max_dup_para_frac),
            ThresholdRule("dup_para_char_frac", "dup_para_char_frac", "<=", p.max_dup_para_char_frac),
            ThresholdRule("dup_line_frac", "dup_line_frac", "<=", p.max_dup_line_frac),
            ThresholdRule("dup_line_char_frac", "dup_line_char_frac", "<=", p.max_dup_line_char_frac),
        ]
        for n in (2, 3, 4):
            limit = getattr(p, f"max_top_{n}_gram_frac")
            rules.append(ThresholdRule(f"top_{n}_gram", f"top_{n}_gram_frac", "<=", limit))
        for n in range(5, 11):
            limit = getattr(p, f"max_dup_{n}_gram_frac")
            rules.append(ThresholdRule(f"duplicated_{n}_n_grams", f"dup_{n}_gram_frac", "<=", limit))
        return rules

    def reasons(self) -> list[str]:
        return [r.reason for r in self.rules()]

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        p = self.params
        return _core.gopher_repetition_signals(text, p.profile, p.splitter(), word_memo=self.word_memo)

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return decide_by_rules(self.rules(), signals)


# ---- C4 --------------------------------------------------------------------------------------------


class C4QualityParams(HeuristicParams):
    remove_citations: bool = True
    filter_no_terminal_punct: bool = Field(True, description="FineWeb turns this off")
    min_num_sentences: int | None = Field(
        None, ge=0, description="Default by profile: 5 (datatrove), 3 (c4-original); 0 disables"
    )
    min_words_per_line: int | None = Field(
        None, ge=0, description="Default by profile: 3 (datatrove), 5 (c4-original); 0 disables"
    )
    max_word_length: int | None = Field(1000, ge=1, description="A longer word drops its line; null disables")
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    keep_original_text: bool = Field(False, description="Add `<step>.original_text` with the text before rewriting")

    def sentences_min(self) -> int:
        if self.min_num_sentences is not None:
            return self.min_num_sentences
        return 3 if self.profile == "c4-original" else 5

    def words_per_line_min(self) -> int:
        if self.min_words_per_line is not None:
            return self.min_words_per_line
        return 5 if self.profile == "c4-original" else 3


@register_step
class C4Quality(_SharesWordSplits, _ChainableStep, _RewritingStep):
    """C4's line filters (terminal punctuation, short lines, javascript, policy lines, citations) and
    document rules (lorem ipsum, curly brackets, too few sentences). Rewrites the text."""

    type = "c4_quality"
    chain_kind = "c4_quality"
    Params = C4QualityParams
    params: C4QualityParams

    def chain_options(self) -> dict | None:
        p = self.params
        if p.keep_original_text:  # an extra output column: the step-by-step path adds it
            return None
        return {
            "profile": p.profile,
            "remove_citations": p.remove_citations,
            "filter_no_terminal_punct": p.filter_no_terminal_punct,
            "min_words_per_line": p.words_per_line_min(),
            "max_word_length": p.max_word_length,
            "filter_lorem_ipsum": p.filter_lorem_ipsum,
            "filter_javascript": p.filter_javascript,
            "filter_curly_bracket": p.filter_curly_bracket,
            "filter_policy": p.filter_policy,
        }

    def signal_fields(self) -> list[pa.Field]:
        return [
            pa.field(s, pa.uint64())
            for s in ["lines", "lines_kept", "sentences", "lorem_ipsum", "curly_bracket", "text_modified"]
        ]

    def rules(self) -> list[ThresholdRule]:
        return [
            ThresholdRule("lorem_ipsum", "lorem_ipsum", "<=", 0),
            ThresholdRule("curly_bracket", "curly_bracket", "<=", 0),
            ThresholdRule("too_few_sentences", "sentences", ">=", self.params.sentences_min()),
        ]

    def reasons(self) -> list[str]:
        return [r.reason for r in self.rules()]

    def _compute(self, text: pa.Array) -> tuple[pa.RecordBatch, pa.Array]:
        p = self.params
        return _core.c4_quality_signals(
            text,
            p.profile,
            p.remove_citations,
            p.filter_no_terminal_punct,
            p.words_per_line_min(),
            p.max_word_length,
            p.filter_lorem_ipsum,
            p.filter_javascript,
            p.filter_curly_bracket,
            p.filter_policy,
            word_memo=self.word_memo,
        )

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return self._rewrite_decision(decide_by_rules(self.rules(), signals), signals, batch)


# ---- FineWeb ---------------------------------------------------------------------------------------


class FinewebQualityParams(HeuristicParams):
    line_punct_thr: float | None = Field(0.12, ge=0, le=1, description="Minimum share of lines ending in punctuation")
    line_punct_exclude_zero: bool = Field(False, description="Do not drop documents with no punctuated line at all")
    short_line_thr: float | None = Field(0.67, ge=0, le=1, description="Maximum share of short lines")
    short_line_length: int = Field(30, ge=0, description="A line of at most this many characters is short")
    char_duplicates_ratio: float | None = Field(0.01, ge=0, le=1, description="Maximum share in duplicated lines")
    new_line_ratio: float | None = Field(0.3, ge=0, description="Maximum newlines per word")


@register_step
class FinewebQuality(_SharesWordSplits, _ChainableStep, Step):
    """FineWeb's rules: punctuated lines, short lines, duplicated-line characters, newlines per word."""

    type = "fineweb_quality"
    chain_kind = "fineweb_quality"
    Params = FinewebQualityParams
    params: FinewebQualityParams

    def chain_options(self) -> dict:
        p = self.params
        return {"profile": p.profile, "splitter": p.splitter(), "short_line_length": p.short_line_length}

    def _zero_passes(self, rule: ThresholdRule) -> bool:
        return self.params.line_punct_exclude_zero and rule.signal == "line_punct_ratio"

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("non_empty_lines", pa.uint64())] + [
            pa.field(s, pa.float64()) for s in ["line_punct_ratio", "short_line_ratio", "char_dup_ratio", "list_ratio"]
        ]

    def rules(self) -> list[ThresholdRule]:
        p = self.params
        # datatrove 0.2 (fineweb-2024) dropped at equality; 0.4 and later only strictly past the threshold.
        inclusive = p.profile == "fineweb-2024"
        return [
            ThresholdRule("empty", "non_empty_lines", ">=", 1),
            ThresholdRule("line_punct_ratio", "line_punct_ratio", ">" if inclusive else ">=", p.line_punct_thr),
            ThresholdRule("short_line_ratio", "short_line_ratio", "<" if inclusive else "<=", p.short_line_thr),
            ThresholdRule("char_dup_ratio", "char_dup_ratio", "<" if inclusive else "<=", p.char_duplicates_ratio),
            ThresholdRule("list_ratio", "list_ratio", "<=", p.new_line_ratio),
        ]

    def reasons(self) -> list[str]:
        return [r.reason for r in self.rules()]

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        p = self.params
        return _core.fineweb_quality_signals(
            text, p.profile, p.splitter(), p.short_line_length, word_memo=self.word_memo
        )

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        rules = self.rules()
        if self.params.line_punct_exclude_zero:
            # A document with no punctuated line at all is not dropped for it: mask those rows out.
            zero = pc.equal(signals.column("line_punct_ratio"), 0.0)
            masked = pc.if_else(zero, pa.scalar(None, pa.float64()), signals.column("line_punct_ratio"))
            signals = signals.set_column(signals.schema.get_field_index("line_punct_ratio"), "line_punct_ratio", masked)
        return decide_by_rules(rules, signals)


# ---- RefinedWeb lines ------------------------------------------------------------------------------


class RefinedwebLinesParams(StepParams):
    max_uppercase_ratio: float = Field(0.5, ge=0, le=1, description="A line with more upper-case characters goes")
    max_numeric_ratio: float = Field(0.999999, ge=0, le=1, description="A line with more digits goes")
    remove_counters: bool = Field(True, description='Drop lines like "3 likes" or "1.2K views"')
    min_words_per_line: int = Field(2, ge=0, description="Shorter lines go (whitespace words)")
    max_words_for_substrings: int = Field(
        10, ge=0, description='Lines up to this many words lose "items in cart", "sign-in", "Read more..."'
    )
    max_removed_word_ratio: float | None = Field(0.05, ge=0, le=1, description="Drop the document past this")
    keep_original_text: bool = Field(False, description="Add `<step>.original_text` with the text before rewriting")


@register_step
class RefinedwebLines(_ChainableStep, _RewritingStep):
    """RefinedWeb's line corrections (DCLM's reproduction); drops documents that lost too many words."""

    type = "refinedweb_lines"
    chain_kind = "refinedweb_lines"
    Params = RefinedwebLinesParams
    params: RefinedwebLinesParams

    def chain_options(self) -> dict | None:
        p = self.params
        if p.keep_original_text:
            return None
        return {
            "max_uppercase_ratio": p.max_uppercase_ratio,
            "max_numeric_ratio": p.max_numeric_ratio,
            "remove_counters": p.remove_counters,
            "min_words_per_line": p.min_words_per_line,
            "max_words_for_substrings": p.max_words_for_substrings,
        }

    def signal_fields(self) -> list[pa.Field]:
        u = pa.uint64()
        return [
            pa.field("words_before", u),
            pa.field("words_after", u),
            pa.field("removed_word_ratio", pa.float64()),
            pa.field("lines_removed", u),
            pa.field("text_modified", u),
        ]

    def rules(self) -> list[ThresholdRule]:
        return [ThresholdRule("too_many_words_removed", "removed_word_ratio", "<=", self.params.max_removed_word_ratio)]

    def reasons(self) -> list[str]:
        return [r.reason for r in self.rules()]

    def _compute(self, text: pa.Array) -> tuple[pa.RecordBatch, pa.Array]:
        p = self.params
        return _core.refinedweb_line_signals(
            text,
            p.max_uppercase_ratio,
            p.max_numeric_ratio,
            p.remove_counters,
            p.min_words_per_line,
            p.max_words_for_substrings,
        )

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return self._rewrite_decision(decide_by_rules(self.rules(), signals), signals, batch)
