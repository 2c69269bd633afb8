"""Per-language counting and the multilingual mix (global steps).

`language_counts` measures what reaches it (documents, characters, tokens per language) and keeps
every row. `mix` measures the same way, allocates a budget per language (UniMax, temperature,
proportional, weights or explicit budgets), then selects documents deterministically from a seed:
whole epochs first, then a seeded partial epoch, so each language's selection lands within one
document of its budget. Repeated documents come out as repeated rows numbered by an `epoch`
column, or once with a weight column.

Stages: map (per shard: one row per document -> docs/<shard>.parquet), reduce `count` (the counts
table), reduce `allocate` (mix only: budgets, selection per shard, manifest), then the apply pass.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, WithJsonSchema, field_validator, model_validator

from thresher.mixing.budgets import allocate
from thresher.mixing.counting import (
    ShardCounter,
    count_languages,
    read_shard_docs,
    rows_without_column,
    shard_docs_path,
    write_counts,
)
from thresher.mixing.manifest import manifest_rows, totals, write_manifest
from thresher.mixing.phases import PhaseSpec, check_phases
from thresher.mixing.sampling import group_seed, select_repeats
from thresher.mixing.skill_mix import SkillMixer
from thresher.steps.base import Decision, GlobalStep, StepContext, StepParams
from thresher.steps.registry import register_step
from thresher.tokens import TokenCounter, TokenizerConfig

log = logging.getLogger(__name__)

_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_AMOUNT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgt]?)\s*$", re.IGNORECASE)


def parse_amount(value: Any) -> Any:
    """`1e9`, `250M`, `1.5B`, `2T` -> float; anything else is left for pydantic to reject."""
    if isinstance(value, str):
        match = _AMOUNT.match(value)
        if not match:
            raise ValueError(f"expected a number like 1e9, 250M, 1.5B or 2T, got {value!r}")
        return float(match.group(1)) * _SUFFIX[match.group(2).lower()]
    return value


class CountParams(StepParams):
    language_column: str = Field("language.lang", description="Column with each document's language")
    null_language: str = Field("und", description="Group of documents whose language is null")
    tokenizer: TokenizerConfig = Field(TokenizerConfig(), description="How tokens are counted (default chars / 4)")


# Budgets are numbers or amounts such as "250M"; the schema says so, so editors accept both.
_AMOUNT_SCHEMA = {
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\s*[0-9.eE+]+\s*[kKmMbBtT]?\s*$"}]
}


class MixParams(CountParams):
    method: Literal["unimax", "temperature", "proportional", "weights", "budgets"] = "unimax"
    unit: Literal["tokens", "chars"] = Field("tokens", description="Unit of sizes and budgets")
    budget: Annotated[float | None, WithJsonSchema({"anyOf": [_AMOUNT_SCHEMA, {"type": "null"}]})] = Field(
        None, ge=0, description="Total budget C in `unit` (1e9, 250M, 1.5B accepted)"
    )
    max_epochs: float | None = Field(
        None, gt=0, description="unimax: N (default 1); other methods: fail if a language would exceed it"
    )
    temperature: float | None = Field(None, gt=0, description="temperature: tau (mT5 uses 3.33)")
    weights: dict[str, float] = Field(default_factory=dict, description="weights: relative share per language")
    budgets: Annotated[dict[str, float], WithJsonSchema({"type": "object", "additionalProperties": _AMOUNT_SCHEMA})] = (
        Field(default_factory=dict, description="budgets: explicit budget per language")
    )
    languages: list[str] | None = Field(None, description="Only these languages enter the mix; others are dropped")
    seed: int = Field(0, description="Selection seed; the same seed always selects the same documents")
    output: Literal["repeat", "weight"] = Field(
        "repeat", description="repeat: one row per selection with an epoch column; weight: one row with a count"
    )
    epoch_column: str = "epoch"
    weight_column: str = "sample_weight"
    phases: list[PhaseSpec] | None = Field(None, description="Skill mix: phases with conditions and skill shares")

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_amount(cls, value: Any) -> Any:
        return parse_amount(value)

    @field_validator("budgets", mode="before")
    @classmethod
    def _budgets_amounts(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: parse_amount(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _method_needs(self) -> MixParams:
        if self.phases:  # budgets, language policy and caps are per phase
            check_phases(self.phases)
            return self
        needs = {"unimax": "budget", "temperature": "temperature", "weights": "weights", "budgets": "budgets"}
        key = needs.get(self.method)
        if key is not None and not getattr(self, key):
            raise ValueError(f"method {self.method} needs `{key}`")
        return self


class _CountingStep(GlobalStep):
    """Map side shared by both steps: one row per document reaching the step, per shard."""

    params: CountParams

    def __init__(self, name: str, params: CountParams) -> None:
        super().__init__(name, params)
        self._shard: ShardCounter | None = None
        self._tokens: np.ndarray | None = None
        self._offset = 0

    def map_start(self, context: StepContext) -> None:
        p = self.params
        self._shard = ShardCounter(TokenCounter(p.tokenizer), p.language_column, p.null_language)

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        self._shard.add(text, batch)

    def map_finish(self, context: StepContext) -> None:
        self._shard.write(shard_docs_path(context.work_dir, context.shard_index))
        self._shard = None

    def _count(self, context: StepContext) -> pa.Table:
        shard_docs = read_shard_docs(context.work_dir, context.num_shards)
        counts = count_languages(shard_docs)
        tokenizer = self.params.tokenizer.describe()
        notes = self._notes(rows_without_column(shard_docs))
        write_counts(counts, context.work_dir, "counts", tokenizer, notes)
        write_counts(counts, context.output_dir or context.work_dir, f"{self.name}.counts", tokenizer, notes)
        return counts

    def _notes(self, without_column: int) -> dict[str, object]:
        if not without_column:
            return {}
        p = self.params
        message = (
            f"{without_column} rows reached step {self.name!r} without the column {p.language_column!r} "
            f"and are counted as language {p.null_language!r}; run a `language` step before it or set "
            "`language_column`"
        )
        log.warning(message)
        return {"warnings": [message]}

    def _load_shard(self, context: StepContext) -> pa.Table:
        self._offset = 0
        return pq.read_table(shard_docs_path(context.work_dir, context.shard_index))

    def _take(self, values: np.ndarray, n: int) -> np.ndarray:
        if self._offset + n > len(values):
            raise AssertionError(
                f"step {self.name!r}: more rows reach the apply pass than were counted ({len(values)}); "
                "the input changed between stages"
            )
        out = values[self._offset : self._offset + n]
        self._offset += n
        return out

    def _check_all_seen(self, counted: int) -> None:
        if self._offset != counted:
            raise AssertionError(
                f"step {self.name!r}: {self._offset} rows reached the apply pass but {counted} were counted; "
                "the input changed between stages"
            )


@register_step
class LanguageCounts(_CountingStep):
    """Documents, characters and tokens per language of the rows reaching it; keeps every row."""

    type = "language_counts"
    Params = CountParams

    def reduce_phases(self) -> list[tuple[str, int]]:
        return [("count", 1)]

    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        self._count(context)

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("tokens", pa.float64())]

    def open(self, context: StepContext) -> None:
        self._tokens = self._load_shard(context).column("tokens").to_numpy()

    def close(self) -> None:
        self._check_all_seen(len(self._tokens))

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        tokens = self._take(self._tokens, batch.num_rows)
        return pa.RecordBatch.from_arrays([pa.array(tokens)], schema=pa.schema(self.signal_fields()))

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return Decision(keep=pa.array(np.ones(batch.num_rows, bool)), reason=pa.nulls(batch.num_rows, pa.string()))


_EXCLUDED = -1  # selection value of rows whose language is not in `languages`


@register_step
class Mix(_CountingStep):
    """Per-language token budgets (UniMax, temperature, proportional, weights, budgets) and seeded selection."""

    type = "mix"
    Params = MixParams
    params: MixParams

    def __init__(self, name: str, params: MixParams) -> None:
        super().__init__(name, params)
        self._skills = SkillMixer(self, params.phases) if params.phases else None

    def map_start(self, context: StepContext) -> None:
        super().map_start(context)
        if self._skills:
            self._skills.map_start()

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        super().map_batch(context, text, batch)
        if self._skills:
            self._skills.map_batch(batch)

    def map_finish(self, context: StepContext) -> None:
        super().map_finish(context)
        if self._skills:
            self._skills.map_finish(context)

    def reduce_phases(self) -> list[tuple[str, int]]:
        return [("count", 1), ("allocate", 1)]

    def reasons(self) -> list[str]:
        return ["not_selected", "language_excluded"]

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("tokens", pa.float64()), pa.field("repeats", pa.int64())]

    # -- reduce ---------------------------------------------------------------------------------
    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        if phase == "count":
            self._count(context)
        elif phase == "allocate":
            self._skills.allocate(context) if self._skills else self._allocate(context)
        else:
            raise ValueError(f"unknown phase {phase!r}")

    def _allocate(self, context: StepContext) -> None:
        p = self.params
        counts_table = pq.read_table(context.work_dir / "counts.parquet")
        warnings = json.loads((context.work_dir / "counts.json").read_text()).get("warnings", [])
        counts = {r["language"]: r for r in counts_table.to_pylist()}
        named = set(p.languages or []) | set(p.weights) | set(p.budgets)
        for lang in named - set(counts):  # asked for but absent: size 0, so a budget for it fails loudly
            counts[lang] = {"language": lang, "docs": 0, "chars": 0, "tokens": 0.0}
        mixed = sorted(counts) if p.languages is None else sorted(set(p.languages))
        size_key = "tokens" if p.unit == "tokens" else "chars"
        sizes = {lang: float(counts[lang][size_key]) for lang in mixed}
        allocation = allocate(
            p.method,
            sizes,
            budget=p.budget,
            max_epochs=p.max_epochs,
            temperature=p.temperature,
            weights=p.weights,
            budgets=p.budgets,
        )
        shards = read_shard_docs(context.work_dir, context.num_shards)
        lengths = [t.num_rows for t in shards]
        docs = pa.concat_tables(shards) if shards else None
        total_rows = sum(lengths)
        selection = np.full(total_rows, _EXCLUDED, dtype=np.int64)
        selected: dict[str, dict[str, float]] = {}
        if total_rows:
            encoded = pc.dictionary_encode(docs["language"]).combine_chunks()
            codes = encoded.indices.to_numpy(zero_copy_only=False)
            dictionary = encoded.dictionary.to_pylist()
            by_language = {lang: np.flatnonzero(codes == i) for i, lang in enumerate(dictionary)}
            sizes_col = docs[size_key].to_numpy().astype(np.float64)
            tokens_col = docs["tokens"].to_numpy()
            chars_col = docs["chars"].to_numpy()
            for lang in mixed:
                rows = by_language.get(lang, np.zeros(0, dtype=np.int64))
                repeats = select_repeats(sizes_col[rows], allocation.budgets[lang], group_seed(p.seed, lang))
                selection[rows] = repeats
                selected[lang] = {
                    "docs": float(repeats.sum()),
                    "unique_docs": float((repeats > 0).sum()),
                    "tokens": math.fsum(repeats * tokens_col[rows]),
                    "chars": float((repeats * chars_col[rows]).sum()),
                    "size": math.fsum(repeats * sizes_col[rows]),
                }
        selection_dir = context.work_dir / "selection"
        selection_dir.mkdir(parents=True, exist_ok=True)
        start = 0
        for shard, length in enumerate(lengths):
            _save_npy(selection_dir / f"{shard:05d}.npy", selection[start : start + length])
            start += length
        empty = {"docs": 0.0, "unique_docs": 0.0, "tokens": 0.0, "chars": 0.0, "size": 0.0}
        rows = manifest_rows(allocation, counts, {lang: selected.get(lang, empty) for lang in mixed})
        excluded = sorted(lang for lang in set(counts) - set(mixed) if counts[lang]["docs"])
        doc = {
            "method": allocation.method,
            "unit": p.unit,
            "tokenizer": p.tokenizer.describe(),
            "seed": p.seed,
            "output": p.output,
            "params": {k: v for k, v in allocation.params.items() if v not in (None, {}, [])},
            "languages": rows,
            "total": totals(rows),
            "excluded_languages": {lang: int(counts[lang]["docs"]) for lang in excluded},
            **({"warnings": warnings} if warnings else {}),
        }
        write_manifest(context.output_dir or context.work_dir, self.name, doc)

    # -- apply ----------------------------------------------------------------------------------
    def open(self, context: StepContext) -> None:
        docs = self._load_shard(context)
        self._tokens = docs.column("tokens").to_numpy()
        if self._skills:
            self._skills.open(context)
            self._selection = self._skills.repeats(slice(None))[1]
            return
        self._selection = np.load(context.work_dir / "selection" / f"{context.shard_index:05d}.npy")

    def close(self) -> None:
        self._check_all_seen(len(self._selection))

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        start = self._offset
        repeats = self._take(self._selection, batch.num_rows)
        tokens = self._tokens[start : start + batch.num_rows]
        return pa.RecordBatch.from_arrays([pa.array(tokens), pa.array(repeats)], schema=pa.schema(self.signal_fields()))

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        p = self.params
        repeats = signals.column("repeats")
        none = pa.nulls(len(repeats), pa.string())
        reason = pc.if_else(
            pc.equal(repeats, _EXCLUDED),
            pa.scalar("language_excluded"),
            pc.if_else(pc.equal(repeats, 0), pa.scalar("not_selected"), none),
        )
        keep = pc.is_null(reason)
        if p.output == "weight":
            decision = Decision(keep=keep, reason=reason, extra_columns={p.weight_column: repeats})
        else:
            decision = Decision(keep=keep, reason=reason, repeat=repeats, repeat_index_column=p.epoch_column)
        if self._skills:
            rows = slice(self._offset - len(repeats), self._offset)
            decision = self._skills.decide(repeats, self._skills.repeats(rows)[0], decision)
        return decision


def _save_npy(path: Path, values: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, values)
    tmp.replace(path)
