"""`ask_llm`: ask a judge model yes/no questions about each document; P(yes) is the score.

The Ask-LLM method (Sachdeva et al. 2024): show an instruction-tuned model the document, ask
whether it is good pretraining data, and read the probability of "yes" at the first generated
position from one softmax over the whole vocabulary. Thresher asks any number of questions
(`quality`, `knowledge`, `reasoning`, `educational`, `code`, `math`, or the user's own) and adds
two signals per question:

    <step>.<question>.log_p_yes     log of the score
    <step>.<question>.p_yes         the score

Which score (full-vocabulary or renormalised over yes/no, single token or summed variants) is
written into each signal field's Arrow metadata and the run's pipeline manifest.

Selection (`selection.mode`):
* `threshold`: keep rows whose p_yes reaches `min_p_yes` (per question);
* `top_fraction`: keep the top `fraction` by the selection question's score over the whole input.
  This makes the step global: the map stage scores every row and stores the shard's scores in the
  step's work folder, the reduce finds the cut, and the apply stage reads the scores back and keeps
  rows at or above the cut;
* `sample`: sample `fraction` of the rows without replacement with probability proportional to
  exp(score / tau) (QuRating's Gumbel top-k: keep the top by score/tau + Gumbel noise, the noise
  a fixed function of the document and `seed`);
* `none`: signals only.

Scores go through a cache keyed by (model, question, document hash), so reruns and repeated
documents are not scored twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from thresher.llm.answers import ScoreOptions, final_scores
from thresher.llm.backends.base import RUNTIME_ONLY, Backend, BackendParams, load_backend, model_identity
from thresher.llm.cache import ScoreCache, document_key
from thresher.llm.prompts import BUILTIN_QUESTIONS, Question, QuestionTemplate, resolve_questions
from thresher.llm.truncation import Truncation
from thresher.steps.base import Decision, GlobalStep, StepContext, StepParams, ThresholdRule, decide_by_rules
from thresher.steps.registry import register_step

SELECTION_FILE = "selection.json"


class CacheParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    path: str | None = Field(
        None,
        description="SQLite file shared across runs; default: the step's work folder inside the output "
        "(kept across reruns of the same output)",
    )


class SelectionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["none", "threshold", "top_fraction", "sample"] = "threshold"
    question: str | None = Field(None, description="Question whose score selects (default: the first)")
    min_p_yes: float | dict[str, float] | None = Field(
        None, description="threshold: one value for the selection question, or one per question"
    )
    fraction: float | None = Field(None, gt=0.0, le=1.0, description="top_fraction / sample: share of rows kept")
    tau: float = Field(1.0, gt=0.0, description="sample: temperature; keep probability grows as exp(score/tau)")
    standardize: bool = Field(False, description="sample: z-normalise log scores over the input before /tau")
    seed: int = 0


class AskLlmParams(StepParams):
    model_config = ConfigDict(extra="forbid", validate_default=True, protected_namespaces=())

    backend: BackendParams
    questions: list[str] = Field(
        default_factory=lambda: ["quality"],
        description=f"Built-in ({', '.join(BUILTIN_QUESTIONS)}) or names defined under templates",
        min_length=1,
    )
    templates: dict[str, QuestionTemplate] = Field(default_factory=dict, description="Your own questions by name")
    truncation: Truncation = Field(default_factory=Truncation)
    score: ScoreOptions = Field(default_factory=ScoreOptions)
    cache: CacheParams = Field(default_factory=CacheParams)
    selection: SelectionParams = Field(default_factory=SelectionParams)
    batch_documents: int = Field(256, ge=1, description="Documents per backend call; the cache commits after each")

    @model_validator(mode="after")
    def _consistent(self) -> AskLlmParams:
        resolve_questions(self.questions, self.templates)
        if len(set(self.questions)) != len(self.questions):
            raise ValueError("a question is listed twice")
        sel = self.selection
        if sel.question is not None and sel.question not in self.questions:
            raise ValueError(f"selection.question {sel.question!r} is not among questions {self.questions}")
        if sel.mode in ("top_fraction", "sample"):
            if sel.fraction is None:
                raise ValueError(f"selection.mode {sel.mode} needs selection.fraction")
        if sel.mode == "threshold":
            if sel.min_p_yes is None:
                raise ValueError("selection.mode threshold needs selection.min_p_yes (or use mode: none)")
            thresholds = sel.min_p_yes if isinstance(sel.min_p_yes, dict) else {}
            for name, value in thresholds.items():
                if name not in self.questions:
                    raise ValueError(f"selection.min_p_yes names {name!r}, which is not among questions")
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"selection.min_p_yes.{name} must be within [0, 1]")
            if isinstance(sel.min_p_yes, float) and not 0.0 <= sel.min_p_yes <= 1.0:
                raise ValueError("selection.min_p_yes must be within [0, 1]")
        return self


def gumbel_noise(texts: list[str | None], seed: int) -> np.ndarray:
    """Standard Gumbel noise that is a fixed function of each document's text and the seed, so the
    map stage and the apply stage (another process, maybe another machine) draw the same value."""
    salt = seed.to_bytes(8, "little", signed=True)
    out = np.empty(len(texts))
    for i, text in enumerate(texts):
        digest = hashlib.blake2b(document_key(text or "") + salt, digest_size=8).digest()
        u = (int.from_bytes(digest, "little") + 0.5) / 2.0**64
        out[i] = -math.log(-math.log(u))
    return out


@register_step
class AskLlm(GlobalStep):
    """LLM-judged P(yes) per question (Ask-LLM), with threshold, top-fraction or Gumbel-sampled selection."""

    type = "ask_llm"
    Params = AskLlmParams
    params: AskLlmParams

    def __init__(self, name: str, params: AskLlmParams) -> None:
        super().__init__(name, params)
        self.questions: list[Question] = resolve_questions(params.questions, params.templates)
        self.selection_question = params.selection.question or params.questions[0]
        self.is_global = params.selection.mode in ("top_fraction", "sample")
        self._context: StepContext | None = None
        self._backend: Backend | None = None
        self._cache: ScoreCache | None = None
        self._scopes: list[str] | None = None
        self._cut: dict | None = None
        self._map_keys: list[bytes] = []
        self._map_raw: list[np.ndarray] = []
        self._map_noise: list[np.ndarray] = []
        self._known: dict[bytes, np.ndarray] = {}  # apply stage: this shard's scores from its map stage
        self.documents_scored = 0  # by the backend (cache misses), in this process

    # -- schema -------------------------------------------------------------------------------
    def _score_metadata(self, question: Question, value: str) -> dict[bytes, bytes]:
        backend = self.params.backend
        description = {
            "question": question.name,
            "question_fingerprint": question.fingerprint,
            "value": value,
            "score": self.params.score.describe(),
            "renormalize": self.params.score.renormalize,
            "sum_variants": self.params.score.sum_variants,
            "backend": backend.type,
            "model": backend.model,
        }
        return {b"thresher.ask_llm": json.dumps(description, sort_keys=True).encode()}

    def signal_fields(self) -> list[pa.Field]:
        fields = []
        for q in self.questions:
            fields.append(pa.field(f"{q.name}.log_p_yes", pa.float64(), metadata=self._score_metadata(q, "log")))
            fields.append(pa.field(f"{q.name}.p_yes", pa.float64(), metadata=self._score_metadata(q, "probability")))
        return fields

    def reasons(self) -> list[str]:
        mode = self.params.selection.mode
        if mode == "threshold":
            return [f"{q.name}_p_yes_too_low" for q in self.questions]
        return {"top_fraction": ["below_top_fraction"], "sample": ["not_sampled"]}.get(mode, [])

    def describe(self) -> dict:
        doc = super().describe()
        doc["score"] = self.params.score.describe()
        doc["question_fingerprints"] = {q.name: q.fingerprint for q in self.questions}
        return doc

    # -- scoring ------------------------------------------------------------------------------
    def _scope_descriptions(self) -> list[dict]:
        backend = self.params.backend
        settings = backend.model_dump(mode="json", exclude=RUNTIME_ONLY)
        model = model_identity(backend)
        return [
            {
                "model": model,
                "backend": settings,
                "question": q.fingerprint,
                "truncation": self.params.truncation.model_dump(mode="json"),
                "sum_variants": self.params.score.sum_variants,
            }
            for q in self.questions
        ]

    def _ensure_cache(self) -> ScoreCache | None:
        if not self.params.cache.enabled:
            return None
        if self._cache is None:
            if self.params.cache.path:
                path: str = os.path.expanduser(self.params.cache.path)
            elif self._context is not None:
                path = str(Path(self._context.work_dir) / "scores.sqlite")
            else:
                path = ":memory:"  # notebook use without a run folder: this process only
            self._cache = ScoreCache(path)
        if self._scopes is None:
            self._scopes = [self._cache.register_scope(d) for d in self._scope_descriptions()]
        return self._cache

    def _ensure_backend(self) -> Backend:
        if self._backend is None:
            self._backend = load_backend(self.params.backend, self.questions, self.params.truncation, self.params.score)
        return self._backend

    @property
    def backend(self) -> Backend:
        return self._ensure_backend()

    def raw_scores(self, texts: list[str | None]) -> np.ndarray:
        """(rows, questions, 2) log p(yes), log p(no): from the cache where known, else the backend."""
        texts = [t or "" for t in texts]
        n, nq = len(texts), len(self.questions)
        out = np.full((n, nq, 2), np.nan)
        cache = self._ensure_cache()
        keys = [document_key(t) for t in texts]
        if self._known:
            for i, key in enumerate(keys):
                known = self._known.get(key)
                if known is not None:
                    out[i] = known
        if cache is not None and np.isnan(out).any():
            for qi, scope in enumerate(self._scopes):
                found = cache.get(scope, keys)
                for i, key in enumerate(keys):
                    hit = found.get(key)
                    if hit is not None and np.isnan(out[i, qi]).any():
                        out[i, qi] = hit
        missing_rows = np.flatnonzero(np.isnan(out).any(axis=(1, 2)))
        # One backend call per distinct document: duplicates within the batch are scored once.
        first_row: dict[bytes, int] = {}
        for i in missing_rows:
            first_row.setdefault(keys[i], int(i))
        todo = list(first_row.values())
        size = self.params.batch_documents
        for start in range(0, len(todo), size):
            rows = todo[start : start + size]
            scored = self._ensure_backend().score([texts[i] for i in rows])
            self.documents_scored += len(rows)
            if cache is not None:
                row_keys = [keys[i] for i in rows]
                for qi, scope in enumerate(self._scopes):
                    cache.put(scope, row_keys, scored[:, qi, 0], scored[:, qi, 1])
            for j, i in enumerate(rows):
                out[i] = scored[j]
        if len(todo) < len(missing_rows):
            by_key = {keys[i]: out[i] for i in todo}
            for i in missing_rows:
                out[i] = by_key[keys[i]]
        return out

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        raw = self.raw_scores(text.to_pylist())
        arrays, fields = [], self.signal_fields()
        for qi in range(len(self.questions)):
            log_score = final_scores(raw[:, qi, 0], raw[:, qi, 1], self.params.score)
            arrays += [pa.array(log_score, pa.float64()), pa.array(np.exp(log_score), pa.float64())]
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))

    # -- selection ----------------------------------------------------------------------------
    def _selection_index(self) -> int:
        return self.params.questions.index(self.selection_question)

    def _rules(self) -> list[ThresholdRule]:
        sel = self.params.selection
        thresholds = sel.min_p_yes if isinstance(sel.min_p_yes, dict) else {self.selection_question: sel.min_p_yes}
        return [
            ThresholdRule(f"{name}_p_yes_too_low", f"{name}.p_yes", ">=", value) for name, value in thresholds.items()
        ]

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        mode = self.params.selection.mode
        n = signals.num_rows
        if mode == "none":
            return Decision(keep=pa.array(np.ones(n, bool)), reason=pa.nulls(n, pa.string()))
        if mode == "threshold":
            return decide_by_rules(self._rules(), signals)
        cut = self._load_cut()
        name = self.selection_question
        scores = np.nan_to_num(signals.column(f"{name}.log_p_yes").to_numpy(zero_copy_only=False), nan=-np.inf)
        noise = None
        if mode == "sample":
            text_column = self._context.text_column if self._context else "text"
            noise = gumbel_noise(batch.column(text_column).to_pylist(), self.params.selection.seed)
        keep = self._keys(scores, noise, cut) >= cut["cut"]
        reason = "below_top_fraction" if mode == "top_fraction" else "not_sampled"
        reasons = pa.array(np.where(keep, None, reason), pa.string())
        return Decision(keep=pa.array(keep), reason=reasons)

    def _keys(self, scores: np.ndarray, noise: np.ndarray | None, stats: dict) -> np.ndarray:
        if noise is None:
            return scores
        sel = self.params.selection
        z = (scores - stats["mean"]) / stats["std"] if sel.standardize else scores
        return z / sel.tau + noise

    # -- global stages (top_fraction, sample) ---------------------------------------------------
    def map_start(self, context: StepContext) -> None:
        self._context = context
        self._map_keys, self._map_raw, self._map_noise = [], [], []

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        texts = text.to_pylist()
        self._map_raw.append(self.raw_scores(texts))
        self._map_keys += [document_key(t or "") for t in texts]
        if self.params.selection.mode == "sample":
            self._map_noise.append(gumbel_noise(texts, self.params.selection.seed))

    def _shard_file(self, context: StepContext, shard_index: int) -> Path:
        return Path(context.work_dir) / "scores" / f"{shard_index:05d}.npz"

    def map_finish(self, context: StepContext) -> None:
        # Every score of the shard, keyed by document hash: the reduce reads the selection scores,
        # and the apply stage reads them all back, whatever filesystem the cache is on.
        final = self._shard_file(context, context.shard_index)
        final.parent.mkdir(parents=True, exist_ok=True)
        nq = len(self.questions)
        raw = np.concatenate(self._map_raw) if self._map_raw else np.empty((0, nq, 2))
        keys = np.frombuffer(b"".join(self._map_keys), dtype=np.uint8).reshape(-1, 16)
        noise = np.concatenate(self._map_noise) if self._map_noise else np.empty(0)
        tmp = final.with_name(f".{final.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, keys=keys, raw=raw, noise=noise)
        os.replace(tmp, final)
        self._map_keys, self._map_raw, self._map_noise = [], [], []

    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        parts = [np.load(self._shard_file(context, i)) for i in range(context.num_shards)]
        qi = self._selection_index()
        raw = np.concatenate([p["raw"] for p in parts]) if parts else np.empty((0, len(self.questions), 2))
        scores = np.nan_to_num(final_scores(raw[:, qi, 0], raw[:, qi, 1], self.params.score), nan=-np.inf)
        sel = self.params.selection
        finite = scores[np.isfinite(scores)]
        stats = {
            "rows": int(scores.size),
            "mean": float(finite.mean()) if finite.size else 0.0,
            "std": float(finite.std()) if finite.size > 1 and finite.std() > 0 else 1.0,
        }
        noise = np.concatenate([p["noise"] for p in parts]) if sel.mode == "sample" and parts else None
        keys = self._keys(scores, noise, stats)
        k = math.ceil(sel.fraction * scores.size)
        stats["keep"] = k
        # The k-th largest key; rows at or above it are kept (ties at the cut are all kept).
        stats["cut"] = float(np.partition(keys, scores.size - k)[scores.size - k]) if k else math.inf
        tmp = Path(context.work_dir) / f".{SELECTION_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(stats, indent=2))
        os.replace(tmp, Path(context.work_dir) / SELECTION_FILE)

    def _load_cut(self) -> dict:
        if self._cut is None:
            if self._context is None:
                raise RuntimeError(f"step {self.name!r}: the selection cut is read in open(); no context was given")
            path = Path(self._context.work_dir) / SELECTION_FILE
            self._cut = json.loads(path.read_text())
        return self._cut

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self, context: StepContext) -> None:
        self._context = context
        self._cut = None
        self._known = {}
        if self.is_global and context.shard_index is not None:
            stored = self._shard_file(context, context.shard_index)
            if stored.is_file():
                with np.load(stored) as part:
                    self._known = {bytes(k): r for k, r in zip(part["keys"], part["raw"], strict=True)}

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None
            self._scopes = None
