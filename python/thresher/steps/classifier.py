"""`classifier`: score every document with a trained classifier, then keep by threshold or top fraction.

The model is a Thresher model directory (`filter train-classifier`), a version folder of one, or
any fastText classifier file with its own labels (DCLM's `__label__hq`/`__label__cc` model: set
`score: hq`). With `train:` the step trains its own model from a labelled sample the first time
it runs, into its work folder (one process trains under a file lock; the others load the result).

Signals (float32):
    <step>.score        the selected output: P(class) for classifiers, the value for regression
    <step>.<output>     one per name listed in `outputs` (e.g. every skill's probability)

Selection:
* `threshold`: keep rows with score >= `min_score`;
* `top_fraction`: keep the top `fraction` of the corpus by score. The cut is computed over every
  document reaching the step (map: scores per shard, kept on disk; reduce: the quantile; apply:
  compare), never hard-coded. Rows tied with the cut are kept, so ties can push the kept share
  slightly above `fraction`;
* `none`: signals only (for mixing on scores later).
"""

from __future__ import annotations

import fcntl
import json
import re
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from thresher.classify.config import StepTrainConfig
from thresher.mixing.phases import top_fraction_cut
from thresher.steps.base import Decision, GlobalStep, StepContext, StepParams, ThresholdRule, decide_by_rules
from thresher.steps.registry import register_step

CUT_FILE = "cut.json"


class ClassifierSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["none", "threshold", "top_fraction"] = "none"
    min_score: float | None = Field(None, description="threshold: keep rows whose score reaches this")
    fraction: float | None = Field(None, gt=0.0, le=1.0, description="top_fraction: share of rows kept")

    @model_validator(mode="after")
    def _complete(self) -> ClassifierSelection:
        if self.mode == "threshold" and self.min_score is None:
            raise ValueError("selection.mode threshold needs selection.min_score")
        if self.mode == "top_fraction" and self.fraction is None:
            raise ValueError("selection.mode top_fraction needs selection.fraction")
        return self


class ClassifierParams(StepParams):
    model_config = ConfigDict(extra="forbid", validate_default=True, protected_namespaces=())

    model: str | None = Field(None, description="Model directory, version folder, or fastText .bin/.ftz file")
    train: StepTrainConfig | None = Field(None, description="Train the model in the pipeline from a labelled sample")
    score: str | None = Field(
        None, description="Output that becomes the `score` signal (a class name, e.g. hq); default: the model's"
    )
    outputs: list[str] = Field(default_factory=list, description="More outputs to add as signals, by name")
    preprocess: Literal["dclm", "normalized"] = Field("dclm", description="fastText files only: text preparation")
    max_chars: int | None = Field(None, gt=0, description="fastText files only: score the first N characters")
    threads: int | None = Field(None, ge=1, description="Embedding models: torch CPU threads")
    selection: ClassifierSelection = Field(default_factory=ClassifierSelection)

    @model_validator(mode="after")
    def _one_model(self) -> ClassifierParams:
        if (self.model is None) == (self.train is None):
            raise ValueError("give either `model` (a path) or `train` (a training config), not both or neither")
        return self


_SAFE = re.compile(r"[^0-9A-Za-z_.-]+")


def signal_name(output: str) -> str:
    """An output name as a signal name (label prefixes dropped, odd characters replaced)."""
    if output.startswith("__label__"):
        output = output[len("__label__") :]
    return _SAFE.sub("_", output)


@register_step
class Classifier(GlobalStep):
    """Classifier scores (fastText or embedding head); keep by threshold or by top fraction of the corpus."""

    type = "classifier"
    Params = ClassifierParams
    params: ClassifierParams

    def __init__(self, name: str, params: ClassifierParams) -> None:
        super().__init__(name, params)
        self.is_global = params.selection.mode == "top_fraction"
        self._scorer = None
        self._columns: list[int] = []
        self._cut: float | None = None
        self._stored: tuple[pa.Array, np.ndarray] | None = None
        self._stored_offset = 0
        self._map_ids: list[pa.Array] = []
        self._map_scores: list[np.ndarray] = []

    # -- schema ---------------------------------------------------------------------------------
    def signal_fields(self) -> list[pa.Field]:
        names = ["score"] + [signal_name(o) for o in self.params.outputs]
        return [pa.field(n, pa.float32()) for n in names]

    def reasons(self) -> list[str]:
        return {"threshold": ["score_too_low"], "top_fraction": ["below_top_fraction"]}.get(
            self.params.selection.mode, []
        )

    def describe(self) -> dict:
        doc = super().describe()
        if self._scorer is not None:
            doc["scorer"] = self._scorer.describe()
        if self._cut is not None:
            doc["cut"] = self._cut
        return doc

    # -- model ----------------------------------------------------------------------------------
    def _model_path(self, context: StepContext) -> str:
        if self.params.model is not None:
            return self.params.model
        from thresher.classify.models import ModelError, resolve_model_dir
        from thresher.classify.train import train

        config = self.params.train.model_copy(update={"output": str(context.work_dir / "models")})
        root = context.work_dir / "models" / config.name
        with open(context.work_dir / "train.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return str(resolve_model_dir(root))
            except ModelError:
                return str(train(config, log=lambda *_: None).version_dir)

    def _load(self, context: StepContext) -> None:
        if self._scorer is not None:
            return
        from thresher.classify.models import load_scorer

        p = self.params
        scorer = load_scorer(self._model_path(context), p.preprocess, p.max_chars, p.threads)
        main = p.score or scorer.default_output
        self._columns = [scorer.output_index(main)] + [scorer.output_index(o) for o in p.outputs]
        self._scorer = scorer

    def scores(self, text: pa.Array) -> np.ndarray:
        """(rows, 1 + len(outputs)) float32: score, then each listed output."""
        assert self._scorer is not None, "open() loads the model"
        return self._scorer.predict(text)[:, self._columns].astype(np.float32)

    # -- per batch --------------------------------------------------------------------------------
    def open(self, context: StepContext) -> None:
        self._load(context)
        self._id_column = context.id_column
        if not self.is_global:
            return
        self._cut = json.loads((context.work_dir / CUT_FILE).read_text())["threshold"]
        path = self._scores_path(context)
        if path is not None and path.exists():
            table = pq.read_table(path)
            width = len(self.signal_fields())
            values = table.column("scores").combine_chunks().flatten().to_numpy().reshape(-1, width)
            self._stored = (table.column("id").combine_chunks(), values)
            self._stored_offset = 0

    def _reuse_stored(self, batch: pa.RecordBatch, id_column: str) -> np.ndarray | None:
        """Scores of the map stage when the batch is the next run of the same rows (the usual case)."""
        if self._stored is None or id_column not in batch.schema.names:
            return None
        ids, values = self._stored
        start, n = self._stored_offset, batch.num_rows
        if start + n > len(ids) or not ids.slice(start, n).equals(batch.column(id_column).cast(ids.type)):
            return None
        self._stored_offset += n
        return values[start : start + n]

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        values = self._reuse_stored(batch, self._id_column) if self.is_global else None
        if values is None:
            values = self.scores(text)
        names = [f.name for f in self.signal_fields()]
        return pa.RecordBatch.from_arrays([pa.array(values[:, j], pa.float32()) for j in range(len(names))], names)

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        sel = self.params.selection
        if sel.mode == "threshold":
            return decide_by_rules([ThresholdRule("score_too_low", "score", ">=", sel.min_score)], signals)
        if sel.mode == "top_fraction":
            return decide_by_rules([ThresholdRule("below_top_fraction", "score", ">=", self._cut)], signals)
        return decide_by_rules([], signals)

    # -- global: top fraction over the corpus ---------------------------------------------------
    _id_column = "id"

    def _scores_path(self, context: StepContext):
        if context.shard_index is None:
            return None
        return context.work_dir / f"scores-{context.shard_index:05d}.parquet"

    def map_start(self, context: StepContext) -> None:
        self._load(context)
        self._id_column = context.id_column
        self._map_ids, self._map_scores = [], []

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        self._map_ids.append(batch.column(context.id_column).cast(pa.string()))
        self._map_scores.append(self.scores(text))

    def map_finish(self, context: StepContext) -> None:
        width = len(self.signal_fields())
        values = np.concatenate(self._map_scores) if self._map_scores else np.zeros((0, width), np.float32)
        ids = pa.concat_arrays(self._map_ids) if self._map_ids else pa.array([], pa.string())
        scores = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), pa.float32()), width)
        path = self._scores_path(context)
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.table({"id": ids, "scores": scores}), tmp)
        tmp.replace(path)
        self._map_ids, self._map_scores = [], []

    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        columns = [
            pq.read_table(f, columns=["scores"]).column("scores").combine_chunks().flatten()
            for f in sorted(context.work_dir.glob("scores-*.parquet"))
        ]
        width = len(self.signal_fields())
        flat = np.concatenate([c.to_numpy() for c in columns]) if columns else np.zeros(0, np.float32)
        scores = flat.reshape(-1, width)[:, 0]
        fraction = self.params.selection.fraction
        cut = top_fraction_cut(scores, fraction)
        doc = {
            "fraction": fraction,
            "rows": int(len(scores)),
            "threshold": cut,
            "rows_at_or_above": int(np.sum(scores >= cut)) if cut is not None else 0,
        }
        tmp = context.work_dir / (CUT_FILE + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(context.work_dir / CUT_FILE)
