"""From the judge's first-token distribution to log p(yes) and log p(no).

The paper's score is one softmax over the whole vocabulary at the first generated position,
read at the single token of the answer. Two options beyond the paper, recorded with the scores:

* `sum_variants`: add the probabilities of the answer's case and leading-space variants
  (`Yes`, `yes`, `YES`, ` Yes`, ...), counting only tokens that spell the whole word;
* `renormalize`: p(yes) / (p(yes) + p(no)), which removes the mass the model puts elsewhere.

Backends that only see the top-k logprobs (HTTP servers, vLLM) give an exact value whenever
the answer is among them; otherwise its log probability is at most the smallest one returned,
and that bound is used (and counted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

_SPACE_MARKS = str.maketrans({"\u2581": " ", "\u0120": " ", "\u010a": "\n"})  # SentencePiece ▁, byte-level Ġ, Ċ


class ScoreOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    renormalize: bool = Field(False, description="p(yes) / (p(yes) + p(no)) instead of the full-vocabulary p(yes)")
    sum_variants: bool = Field(False, description="Sum the case and leading-space variants of the answer tokens")

    def describe(self) -> str:
        base = "p_yes_over_yes_no" if self.renormalize else "p_yes_full_vocabulary"
        return f"{base}, {'summed_variants' if self.sum_variants else 'single_token'}"


def spelled(token_text: str) -> str:
    """A token as text, with tokenizer space markers turned back into spaces."""
    return token_text.translate(_SPACE_MARKS)


def answer_forms(answer: str, lead: str, sum_variants: bool) -> list[str]:
    """Continuations whose first token counts as the answer; the exact one comes first."""
    forms = [lead + answer]
    if sum_variants:
        for word in (answer, answer.lower(), answer.capitalize(), answer.upper()):
            for space in ("", " "):
                if space + word not in forms:
                    forms.append(space + word)
    return forms


def answer_token_ids(tokenizer, answer: str, lead: str, sum_variants: bool) -> list[int]:
    """Token ids of the answer as the model's first generated token.

    The exact form's first token is always used (as the paper does). Variants count only when
    their first token spells the whole word, so `Y` of a split `YES` never adds mass.
    """
    ids: list[int] = []
    for i, form in enumerate(answer_forms(answer, lead, sum_variants)):
        encoded = tokenizer.encode(form, add_special_tokens=False)
        if not encoded:
            continue
        first = encoded[0]
        if i > 0:
            text = spelled(tokenizer.convert_ids_to_tokens(first)).strip().lower()
            if text != answer.strip().lower():
                continue
        if first not in ids:
            ids.append(first)
    if not ids:
        raise ValueError(f"the answer {answer!r} does not encode to any token")
    return ids


def log_prob_of_tokens(log_probs: np.ndarray, ids: list[int]) -> np.ndarray:
    """log of the summed probability of `ids` per row of a (rows, vocab) log-softmax array."""
    picked = log_probs[:, ids]
    if picked.shape[1] == 1:
        return picked[:, 0]
    top = picked.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(picked - top).sum(axis=1, keepdims=True)))[:, 0]


def log_prob_from_top(top: Mapping[str, float], answer: str, lead: str, sum_variants: bool) -> tuple[float, bool]:
    """log p(answer) from a server's top-k {token text: logprob}; (value, exact?).

    Without `sum_variants` the token spelled exactly `lead + answer` counts; failing that, the most
    likely token that is the answer up to surrounding spaces (servers differ in how they show the
    leading space). With it, every token that is the answer up to case and spaces is summed.
    """
    if not top:
        raise ValueError("empty top logprobs")
    exact_form = lead + answer
    if sum_variants:
        found = [lp for tok, lp in top.items() if spelled(tok).strip().lower() == answer.strip().lower()]
        if found:
            return _logsumexp(found), True
    else:
        for tok, lp in top.items():
            if spelled(tok) == exact_form:
                return lp, True
        found = [lp for tok, lp in top.items() if spelled(tok).strip() == answer.strip()]
        if found:
            return max(found), True
    return min(top.values()), False


def _logsumexp(values: Iterable[float]) -> float:
    values = list(values)
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def final_scores(log_yes: np.ndarray, log_no: np.ndarray, options: ScoreOptions) -> np.ndarray:
    """log of the score the step reports: log p(yes), or log of p(yes) renormalised over yes/no."""
    if not options.renormalize:
        return log_yes
    return log_yes - np.logaddexp(log_yes, log_no)


def log_prob_from_top_ids(top: Mapping[int, float], ids: list[int], sum_variants: bool) -> tuple[float, bool]:
    """As `log_prob_from_top`, for backends that return token ids (vLLM); `ids[0]` is the exact form."""
    if not top:
        raise ValueError("empty top logprobs")
    if sum_variants:
        found = [top[i] for i in ids if i in top]
        if found:
            return _logsumexp(found), True
    elif ids[0] in top:
        return top[ids[0]], True
    return min(top.values()), False
