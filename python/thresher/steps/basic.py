"""Language-agnostic size and character-class filters (Rust signals, YAML thresholds)."""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from thresher import _core
from thresher.steps.base import Decision, Step, StepParams, ThresholdRule, decide_by_rules
from thresher.steps.registry import register_step

_LENGTH_SIGNALS = ["chars", "bytes", "words", "lines", "non_empty_lines", "max_line_chars"]


class TextLengthParams(StepParams):
    min_chars: int | None = Field(None, ge=0)
    max_chars: int | None = Field(None, ge=0)
    min_words: int | None = Field(None, ge=0, description="Whitespace-separated words")
    max_words: int | None = Field(None, ge=0)
    min_non_empty_lines: int | None = Field(None, ge=0)
    max_line_chars: int | None = Field(None, ge=1, description="Longest line allowed, in characters")


@register_step
class TextLength(Step):
    """Document size: characters, bytes, whitespace words, lines; drop outside the bounds."""

    type = "text_length"
    Params = TextLengthParams
    params: TextLengthParams

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field(s, pa.uint64()) for s in _LENGTH_SIGNALS]

    def rules(self) -> list[ThresholdRule]:
        p = self.params
        return [
            ThresholdRule("too_few_chars", "chars", ">=", p.min_chars),
            ThresholdRule("too_many_chars", "chars", "<=", p.max_chars),
            ThresholdRule("too_few_words", "words", ">=", p.min_words),
            ThresholdRule("too_many_words", "words", "<=", p.max_words),
            ThresholdRule("too_few_lines", "non_empty_lines", ">=", p.min_non_empty_lines),
            ThresholdRule("line_too_long", "max_line_chars", "<=", p.max_line_chars),
        ]

    def reasons(self) -> list[str]:
        return [r.reason for r in self.rules()]

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        return _core.text_length_signals(text)

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return decide_by_rules(self.rules(), signals)


_CHAR_SIGNALS = [
    "alphabetic_fraction",
    "digit_fraction",
    "whitespace_fraction",
    "uppercase_fraction",
    "punctuation_fraction",
    "non_ascii_fraction",
    "replacement_char_fraction",
]

_Fraction = Field(None, ge=0.0, le=1.0)


class CharClassesParams(StepParams):
    min_alphabetic_fraction: float | None = _Fraction
    max_digit_fraction: float | None = _Fraction
    max_uppercase_fraction: float | None = Field(None, ge=0.0, le=1.0, description="Of letters")
    max_punctuation_fraction: float | None = _Fraction
    max_non_ascii_fraction: float | None = _Fraction
    max_replacement_char_fraction: float | None = Field(0.01, ge=0.0, le=1.0, description="U+FFFD from broken decoding")


@register_step
class CharClasses(Step):
    """Fractions of letters, digits, whitespace, uppercase, punctuation/symbols, non-ASCII, U+FFFD."""

    type = "char_classes"
    Params = CharClassesParams
    params: CharClassesParams

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field(s, pa.float64()) for s in _CHAR_SIGNALS]

    def rules(self) -> list[ThresholdRule]:
        p = self.params
        return [
            ThresholdRule("too_few_letters", "alphabetic_fraction", ">=", p.min_alphabetic_fraction),
            ThresholdRule("too_many_digits", "digit_fraction", "<=", p.max_digit_fraction),
            ThresholdRule("too_much_uppercase", "uppercase_fraction", "<=", p.max_uppercase_fraction),
            ThresholdRule("too_much_punctuation", "punctuation_fraction", "<=", p.max_punctuation_fraction),
            ThresholdRule("too_much_non_ascii", "non_ascii_fraction", "<=", p.max_non_ascii_fraction),
            ThresholdRule("replacement_chars", "replacement_char_fraction", "<=", p.max_replacement_char_fraction),
        ]

    def reasons(self) -> list[str]:
        return [r.reason for r in self.rules()]

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        return _core.char_class_signals(text)

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return decide_by_rules(self.rules(), signals)
