"""Skill mixes in phases (Phi-3's "data optimal regime"): pure functions over per-document arrays.

A phase draws a token budget from the documents that pass its conditions, split between skill
buckets by target shares; inside each bucket the languages share the bucket's budget under the
UniMax caps (N epochs per language at most). Phase 2 may be declared a subset of phase 1: its pool
is then the documents phase 1 selected.

    phases:
      - name: phase1
        budget: 2M                                   # tokens (the mix's unit)
        when: ["quality.score >= 0.5"]               # phase conditions
        skills:
          - {name: knowledge, share: 0.5, when: ["skills.knowledge top 40%"]}
          - {name: reasoning, share: 0.3, when: ["skills.reasoning >= 0.5"]}
          - {name: general, share: 0.2}              # no condition: everything else
        max_epochs: 2
      - name: phase2
        subset_of: phase1
        budget: 500k
        when: ["quality.score top 50%"]
        skills: [...]

Conditions are `COLUMN OP VALUE` with OP one of >=, >, <=, <, or `COLUMN top P%` / `COLUMN bottom
P%`. A `top` condition is a percentile over the rows it is evaluated on: a phase's conditions over
the phase's pool (the whole corpus, or the parent phase's selection), a skill's conditions over
the rows that passed the phase's conditions. Each condition's cut is computed independently of the
other conditions of the same list, then all must hold. Null scores fail every condition.

Documents in several buckets are counted once. `overlap: first` (the default) gives a document
to the first listed skill whose conditions it meets; `overlap: highest` to the qualifying skill
whose score column (`score`, default the column of its first condition) is highest. A skill with
no condition takes only documents that no other skill took. Documents in no bucket are not part
of the phase.

Selection inside a (skill, language) cell takes every document `floor(budget / size)` times, then
fills the rest first-fit in a seeded order (a document too large for what is left is passed over).
Cells come out a little short of their budgets, so each skill is then topped up to its target,
first-fit again, from any of its languages still under `max_epochs`. Every skill thus lands just
under its target, by less than its smallest document that still fits, and its share of the phase
matches the target share; the languages inside a skill follow UniMax up to that top-up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from thresher.mixing.allocation import InfeasibleBudget
from thresher.mixing.budgets import proportional
from thresher.mixing.sampling import group_seed
from thresher.mixing.unimax import unimax

_CONDITION = re.compile(
    r"^\s*(?P<column>\S+)\s+(?P<op>>=|<=|>|<|top|bottom)\s+(?P<value>[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
    r"\s*(?P<percent>%)?\s*$"
)


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # >=, >, <=, <, top, bottom
    value: float  # threshold, or the fraction kept for top/bottom

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _CONDITION.match(text)
        if not match:
            raise ValueError(
                f"condition {text!r}: expected 'COLUMN >= VALUE' (or >, <=, <) or 'COLUMN top P%' / 'COLUMN bottom P%'"
            )
        op, value = match.group("op"), float(match.group("value"))
        if op in ("top", "bottom"):
            if match.group("percent"):
                value /= 100.0
            if not 0.0 < value <= 1.0:
                raise ValueError(f"condition {text!r}: the share kept must be within (0, 100%]")
        elif match.group("percent"):
            raise ValueError(f"condition {text!r}: % only goes with top or bottom")
        return cls(match.group("column"), op, value)

    def __str__(self) -> str:
        if self.op in ("top", "bottom"):
            return f"{self.column} {self.op} {100 * self.value:g}%"
        return f"{self.column} {self.op} {self.value:g}"


def top_fraction_cut(values: np.ndarray, fraction: float) -> float | None:
    """The k-th highest value, k = ceil(fraction * n): `value >= cut` keeps the top fraction (more
    only where values tie with the cut). None when there is no value."""
    n = len(values)
    if n == 0:
        return None
    k = max(1, int(math.ceil(fraction * n - 1e-9)))
    return float(np.partition(values, n - k)[n - k])


def apply_condition(condition: Condition, values: np.ndarray, among: np.ndarray) -> tuple[np.ndarray, dict]:
    """Rows (of all n) passing the condition, evaluated on rows `among`; and what was applied."""
    values = np.asarray(values, dtype=np.float64)
    present = among & ~np.isnan(values)
    op, threshold = condition.op, condition.value
    if op in ("top", "bottom"):
        pool = values[present]
        if op == "top":
            cut = top_fraction_cut(pool, condition.value)
            op, threshold = ">=", cut
        else:
            cut = top_fraction_cut(-pool, condition.value)
            op, threshold = "<=", (None if cut is None else -cut)
    if threshold is None:
        passing = np.zeros(len(values), dtype=bool)
    else:
        with np.errstate(invalid="ignore"):
            compare = {">=": np.greater_equal, ">": np.greater, "<=": np.less_equal, "<": np.less}[op]
            passing = present & compare(values, threshold)
    applied = {
        "condition": str(condition),
        "column": condition.column,
        "applied": None if threshold is None else f"{condition.column} {op} {threshold:.6g}",
        "threshold": threshold,
        "rows_evaluated": int(among.sum()),
        "rows_passing": int(passing.sum()),
    }
    return passing, applied


def apply_conditions(
    conditions: list[Condition], scores: Mapping[str, np.ndarray], among: np.ndarray
) -> tuple[np.ndarray, list[dict]]:
    passing = among.copy()
    applied = []
    for condition in conditions:
        if condition.column not in scores:
            raise KeyError(f"condition {str(condition)!r}: no column {condition.column!r} among the scores")
        ok, doc = apply_condition(condition, scores[condition.column], among)
        passing &= ok
        applied.append(doc)
    return passing, applied


# -- the phase specification ------------------------------------------------------------------------


class SkillSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    share: float = Field(gt=0.0, le=1.0, description="Target share of the phase budget")
    when: list[str] = Field(default_factory=list, description="Conditions; none = every document no other skill took")
    score: str | None = Field(None, description="overlap: highest: the column ranking this skill")

    @field_validator("when", mode="before")
    @classmethod
    def _one_condition(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("when")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        for text in value:
            Condition.parse(text)
        return value

    def conditions(self) -> list[Condition]:
        return [Condition.parse(t) for t in self.when]

    def score_column(self) -> str | None:
        conditions = self.conditions()
        return self.score or (conditions[0].column if conditions else None)


class PhaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    budget: float = Field(ge=0.0, description="Tokens (the mix's unit) drawn in this phase")
    subset_of: str | None = Field(None, description="Draw only from documents that phase selected")
    when: list[str] = Field(default_factory=list, description="Conditions every document of the phase meets")
    skills: list[SkillSpec] = Field(min_length=1)
    overlap: Literal["first", "highest"] = "first"
    max_epochs: float = Field(1.0, gt=0.0, description="UniMax N: most epochs of a language inside a skill")
    language_method: Literal["unimax", "proportional"] = "unimax"

    @field_validator("budget", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        from thresher.steps.mix import parse_amount

        return parse_amount(value)

    @field_validator("when", mode="before")
    @classmethod
    def _one_condition(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> PhaseSpec:
        for text in self.when:
            Condition.parse(text)
        total = math.fsum(s.share for s in self.skills)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"phase {self.name!r}: skill shares add up to {total:g}, not 1")
        names = [s.name for s in self.skills]
        if len(set(names)) != len(names):
            raise ValueError(f"phase {self.name!r}: a skill name is used twice")
        if sum(1 for s in self.skills if not s.when) > 1:
            raise ValueError(f"phase {self.name!r}: at most one skill without conditions (the catch-all)")
        if self.overlap == "highest":
            for s in self.skills:
                if s.when and s.score_column() is None:
                    raise ValueError(f"skill {s.name!r}: overlap highest needs a score column")
        return self

    def conditions(self) -> list[Condition]:
        return [Condition.parse(t) for t in self.when]


def check_phases(phases: list[PhaseSpec]) -> None:
    """Names are unique and `subset_of` names an earlier phase."""
    seen: set[str] = set()
    for phase in phases:
        if phase.name in seen:
            raise ValueError(f"phase name {phase.name!r} is used twice")
        if phase.subset_of is not None and phase.subset_of not in seen:
            raise ValueError(f"phase {phase.name!r}: subset_of {phase.subset_of!r} is not an earlier phase")
        seen.add(phase.name)


def score_columns(phases: list[PhaseSpec]) -> list[str]:
    """Every column the phases read, in first-use order."""
    out: list[str] = []
    for phase in phases:
        columns = [c.column for c in phase.conditions()]
        for skill in phase.skills:
            columns += [c.column for c in skill.conditions()]
            if phase.overlap == "highest" and skill.score_column():
                columns.append(skill.score_column())
        out += [c for c in columns if c not in out]
    return out


# -- drawing a phase --------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    repeats: np.ndarray  # uint32 per document: copies drawn in this phase
    skill: np.ndarray  # int16 per document: index of its skill bucket, -1 outside the phase
    manifest: dict[str, Any]


def assign_skills(
    phase: PhaseSpec, scores: Mapping[str, np.ndarray], eligible: np.ndarray
) -> tuple[np.ndarray, list[dict], dict]:
    """Bucket per document (-1 = none), the skills' applied conditions, and overlap counts."""
    n = len(eligible)
    members = []
    applied = []
    for skill in phase.skills:
        if skill.when:
            ok, doc = apply_conditions(skill.conditions(), scores, eligible)
        else:
            ok, doc = np.zeros(n, dtype=bool), []
        members.append(ok)
        applied.append({"skill": skill.name, "conditions": doc, "rows_qualifying": int(ok.sum())})
    qualifying = np.stack(members) if members else np.zeros((0, n), dtype=bool)
    how_many = qualifying.sum(axis=0)
    bucket = np.full(n, -1, dtype=np.int16)
    conditional = [k for k, s in enumerate(phase.skills) if s.when]
    if phase.overlap == "first":
        for k in reversed(conditional):
            bucket[qualifying[k]] = k
    else:
        best = np.full(n, -np.inf)
        for k in conditional:
            value = np.nan_to_num(np.asarray(scores[phase.skills[k].score_column()], float), nan=-np.inf)
            better = qualifying[k] & ((bucket < 0) | (value > best))
            bucket[better] = k
            best[better] = value[better]
    catch_all = [k for k, s in enumerate(phase.skills) if not s.when]
    if catch_all:
        bucket[eligible & (bucket < 0)] = catch_all[0]
    overlap = {
        "rows_in_several_skills": int((how_many > 1).sum()),
        "rows_in_no_skill": int((eligible & (bucket < 0)).sum()),
        "rule": phase.overlap,
    }
    return bucket, applied, overlap


def _allocate_languages(phase: PhaseSpec, sizes: dict[str, float], budget: float, where: str):
    try:
        if phase.language_method == "unimax":
            return unimax(sizes, budget, phase.max_epochs)
        return proportional(sizes, budget, phase.max_epochs)
    except InfeasibleBudget as err:
        raise InfeasibleBudget(
            f"{where}: {err} (or lower this skill's share, or loosen the conditions that select its documents)"
        ) from None


#: Budgets within this relative distance of a whole number of epochs count as that number.
_EPOCH_SLACK = 1e-9


def fill_budget(sizes: np.ndarray, budget: float, seed: int) -> np.ndarray:
    """Copies per document so their total comes as close to `budget` as whole documents allow
    without passing it: every document `floor(budget / total)` times, then a first fit of the rest
    in a seeded order (a document too large for what is left is passed over, not taken)."""
    sizes = np.asarray(sizes, dtype=np.float64)
    repeats = np.zeros(len(sizes), dtype=np.uint32)
    total = math.fsum(sizes)
    if budget <= 0 or total <= 0:
        return repeats
    ratio = budget / total
    whole = math.floor(ratio + _EPOCH_SLACK)
    repeats[:] = whole
    rest = budget - whole * total
    if rest <= total * _EPOCH_SLACK:
        return repeats
    for i in np.random.default_rng(seed).permutation(len(sizes)):
        if sizes[i] <= rest:
            repeats[i] += 1
            rest -= sizes[i]
    return repeats


def top_up(
    rows: np.ndarray,
    langs: np.ndarray,
    tokens: np.ndarray,
    repeats: np.ndarray,
    target: float,
    available: dict[str, float],
    max_epochs: float,
    seed: int,
) -> None:
    """Adds copies of the skill's documents (first fit, seeded order) until its total reaches the
    target as closely as whole documents allow, never taking a language past `max_epochs`."""
    gap = target - math.fsum(repeats[rows] * tokens[rows])
    used = {lang: math.fsum(repeats[rows[langs == lang]] * tokens[rows[langs == lang]]) for lang in available}
    rng = np.random.default_rng(seed)
    progress = True
    while gap > 0 and progress:
        progress = False
        for j in rng.permutation(len(rows)):
            size, lang = tokens[rows[j]], str(langs[j])
            if 0 < size <= gap and used[lang] + size <= max_epochs * available[lang] * (1 + 1e-12):
                repeats[rows[j]] += 1
                used[lang] += size
                gap -= size
                progress = True


def draw_phase(
    phase: PhaseSpec,
    tokens: np.ndarray,
    languages: np.ndarray,
    scores: Mapping[str, np.ndarray],
    pool: np.ndarray,
    seed: int,
) -> PhaseResult:
    """Selects one phase from `pool` (a boolean mask over every document)."""
    tokens = np.asarray(tokens, dtype=np.float64)
    languages = np.asarray(languages, dtype=object)
    eligible, phase_applied = apply_conditions(phase.conditions(), scores, pool)
    bucket, skill_applied, overlap = assign_skills(phase, scores, eligible)
    repeats = np.zeros(len(tokens), dtype=np.uint32)
    skills_doc = []
    by_language: dict[str, dict[str, float]] = {}
    for k, skill in enumerate(phase.skills):
        rows = np.flatnonzero(bucket == k)
        target = phase.budget * skill.share
        langs = languages[rows]
        sizes = {str(lang): math.fsum(tokens[rows[langs == lang]]) for lang in sorted(set(langs.tolist()))}
        where = f"phase {phase.name!r}, skill {skill.name!r}"
        if target > 0 and not sizes:
            raise InfeasibleBudget(f"{where}: no document qualifies, so its share {skill.share:g} cannot be met")
        allocation = _allocate_languages(phase, sizes, target, where) if sizes else None
        cells = {lang: rows[langs == lang] for lang in sizes}
        for lang, cell in cells.items():
            cell_seed = group_seed(seed, f"{phase.name}\x00{skill.name}\x00{lang}")
            repeats[cell] = fill_budget(tokens[cell], allocation.budgets[lang], cell_seed)
        # Rounding to whole documents leaves each cell a little short; top the skill up to its target
        # from any of its languages still under max_epochs, so the skill's share holds.
        top_up(
            rows,
            langs,
            tokens,
            repeats,
            target,
            sizes,
            phase.max_epochs,
            group_seed(seed, f"{phase.name}\x00{skill.name}"),
        )
        lang_docs = {}
        for lang, cell in cells.items():
            picked = repeats[cell]
            selected = math.fsum(picked * tokens[cell])
            lang_docs[lang] = {
                "tokens_available": sizes[lang],
                "budget": allocation.budgets[lang],
                "tokens_selected": selected,
                "epochs": selected / sizes[lang] if sizes[lang] else 0.0,
                "docs_selected": int(picked.sum()),
                "unique_docs_selected": int((picked > 0).sum()),
            }
            totals = by_language.setdefault(lang, {"tokens_available": 0.0, "tokens_selected": 0.0})
            totals["tokens_available"] += sizes[lang]
            totals["tokens_selected"] += selected
        selected = math.fsum(v["tokens_selected"] for v in lang_docs.values())
        available = math.fsum(sizes.values())
        skills_doc.append(
            {
                "skill": skill.name,
                "target_share": skill.share,
                "budget": target,
                "tokens_available": available,
                "tokens_selected": selected,
                "epochs": selected / available if available else 0.0,
                "docs_available": int(len(rows)),
                "languages": lang_docs,
            }
        )
    total_selected = math.fsum(s["tokens_selected"] for s in skills_doc)
    for s in skills_doc:
        s["share"] = s["tokens_selected"] / total_selected if total_selected else 0.0
        s["share_error"] = s["share"] - s["target_share"]
    for totals in by_language.values():
        totals["share"] = totals["tokens_selected"] / total_selected if total_selected else 0.0
        totals["epochs"] = totals["tokens_selected"] / totals["tokens_available"] if totals["tokens_available"] else 0.0
    manifest = {
        "phase": phase.name,
        "subset_of": phase.subset_of,
        "budget": phase.budget,
        "tokens_selected": total_selected,
        "budget_error": total_selected - phase.budget,
        "docs_in_pool": int(pool.sum()),
        "docs_eligible": int(eligible.sum()),
        "docs_selected": int(repeats.sum()),
        "unique_docs_selected": int((repeats > 0).sum()),
        "epochs": total_selected / math.fsum(tokens[repeats > 0]) if repeats.any() else 0.0,
        "max_epochs": phase.max_epochs,
        "language_method": phase.language_method,
        "conditions": phase_applied,
        "skill_conditions": skill_applied,
        "overlap": overlap,
        "skills": skills_doc,
        "languages": dict(sorted(by_language.items(), key=lambda kv: -kv[1]["tokens_selected"])),
    }
    return PhaseResult(phase.name, repeats, bucket, manifest)


def draw_phases(
    phases: list[PhaseSpec],
    tokens: np.ndarray,
    languages: np.ndarray,
    scores: Mapping[str, np.ndarray],
    seed: int = 0,
    pool: np.ndarray | None = None,
) -> list[PhaseResult]:
    """Every phase in order; a `subset_of` phase draws from its parent's selected documents, the
    others from `pool` (default: every document)."""
    check_phases(phases)
    n = len(tokens)
    base = np.ones(n, dtype=bool) if pool is None else np.asarray(pool, dtype=bool)
    results: dict[str, PhaseResult] = {}
    for phase in phases:
        pool = base if phase.subset_of is None else results[phase.subset_of].repeats > 0
        results[phase.name] = draw_phase(phase, tokens, languages, scores, pool, seed)
    return [results[p.name] for p in phases]
