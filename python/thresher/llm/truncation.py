"""Fitting a document into a token budget before it is placed in the prompt.

`head` keeps the first `max_tokens` tokens. `head_tail` keeps the start and the last
`tail_tokens` tokens with a short marker between them, so a page's conclusion (or its footer
spam) is seen as well as its opening. Backends without a tokenizer use the same rules on
characters, at `chars_per_token` characters per token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

T = TypeVar("T")


class Truncation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(1024, ge=8, description="Token budget of the document inside the prompt")
    mode: Literal["head", "head_tail"] = "head"
    tail_tokens: int = Field(128, ge=1, description="Tokens kept from the end in head_tail mode")
    marker: str = Field("\n[...]\n", description="Text put where head_tail removed the middle")
    chars_per_token: float = Field(4.0, gt=0, description="Budget in characters when no tokenizer is available")

    @model_validator(mode="after")
    def _tail_fits(self) -> Truncation:
        if self.mode == "head_tail" and self.tail_tokens >= self.max_tokens // 2:
            raise ValueError(f"tail_tokens ({self.tail_tokens}) must be under half of max_tokens ({self.max_tokens})")
        return self


def truncate(items: Sequence[T], config: Truncation, marker: Sequence[T]) -> list[T]:
    """`items` cut to `config.max_tokens` (tokens, or characters scaled by the caller)."""
    return cut(items, config.max_tokens, config.mode, config.tail_tokens, marker)


def cut(items: Sequence[T], budget: int, mode: str, tail: int, marker: Sequence[T]) -> list[T]:
    if len(items) <= budget:
        return list(items)
    if mode == "head":
        return list(items[:budget])
    head = max(budget - tail - len(marker), 0)
    return [*items[:head], *marker, *items[len(items) - tail :]]


def truncate_text(text: str, config: Truncation) -> str:
    """Character-budget truncation for backends that have no tokenizer."""
    budget = int(config.max_tokens * config.chars_per_token)
    tail = int(config.tail_tokens * config.chars_per_token)
    return "".join(cut(text, budget, config.mode, tail, config.marker))
