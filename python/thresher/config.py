"""The pipeline file: typed models, loading, `--set` overrides and readable errors.

A pipeline file has four sections (`input`, `steps`, `output`, `executor`) plus an optional
pipeline-wide `profile`. Each step is `{type: NAME, name: OPTIONAL, **params}`; its parameters
are validated by the step class's own `Params` model, so an error names the exact key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator

MiB = 1024 * 1024


class ConfigError(ValueError):
    """A pipeline file is wrong; the message names the file, the key path and what was expected."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class InputConfig(StrictModel):
    paths: list[str] = Field(min_length=1, description="Files or globs; local or any pyarrow filesystem URI")
    format: Literal["auto", "parquet", "jsonl"] = "auto"
    text_column: str = "text"
    id_column: str | None = Field(
        "id", description="Column holding document ids; generated as '<shard>/<row>' when absent"
    )
    columns: list[str] | None = Field(None, description="Columns to carry through; all when unset")
    batch_rows: int = Field(2048, gt=0, description="Rows per Arrow batch read from a shard")
    max_document_bytes: int = Field(
        16 * MiB, gt=0, description="Longer documents are rejected as input:document_too_large"
    )

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class OutputConfig(StrictModel):
    path: str
    rejected: bool = Field(True, description="Write dropped rows with drop_reason to rejected/")
    keep_signals: bool = Field(False, description="Keep signal columns in the kept output")
    compression: Literal["zstd", "snappy", "gzip", "lz4", "brotli", "none"] = "zstd"
    compression_level: int | None = None
    row_group_bytes: int = Field(96 * MiB, gt=0, description="Uncompressed bytes buffered per output row group")


class LocalExecutorConfig(StrictModel):
    type: Literal["local"] = "local"
    workers: int = Field(1, ge=1)


def _executor_type(value: Any) -> str:
    # `executor: {workers: 4}` (no type) has always meant the local executor.
    if isinstance(value, dict):
        return value.get("type", "local")
    return getattr(value, "type", "local")


class SlurmExecutorConfig(StrictModel):
    """Each stage becomes a Slurm job array; see docs/executors.md."""

    type: Literal["slurm"]
    partition: str | None = Field(None, description="Partition; the cluster's default when unset")
    time: str = Field("24:00:00", description="Time limit per array task (sbatch --time)")
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: float = Field(2, gt=0, description="sbatch --mem-per-cpu, in GB")
    qos: str | None = None
    account: str | None = None
    sbatch_args: dict[str, str | int | None] = Field(
        default_factory=dict, description="Extra #SBATCH lines as option: value (null for a bare flag)"
    )
    env_command: str | None = Field(
        None, description="Shell lines that make `python -m thresher` work in the job (module load, activate)"
    )
    venv_path: str | None = Field(None, description="A venv's bin/activate script to source in the job")
    log_dir: str | None = Field(None, description="Shared directory for logs; default OUT/_thresher/slurm")
    max_array_size: int | Literal["auto"] = Field(
        "auto", description="Largest job array; auto reads MaxArraySize from `scontrol show config`"
    )
    tasks_per_job: int = Field(1, ge=1, description="Thresher tasks run one after another by each array element")
    max_running: int | None = Field(None, ge=1, description="Array tasks running at once (sbatch --array=...%N)")
    requeue: bool = Field(True, description="A task warned by SIGUSR1 requeues itself after a clean stop")
    signal_before_timeout_s: int | None = Field(
        120, ge=1, description="Seconds before the time limit at which Slurm sends SIGUSR1"
    )
    job_name: str = Field("thresher", description="Prefix of the jobs' names")
    wait: bool = Field(False, description="Wait for the jobs to finish (as --wait does)")


class RayExecutorConfig(StrictModel):
    """Each stage's tasks become Ray tasks; see docs/executors.md."""

    type: Literal["ray"]
    address: str | None = Field(None, description="Ray cluster address; unset starts a local Ray")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local Ray (when address is unset)")
    cpus_per_task: float = Field(1, gt=0)
    node_ip_address: str | None = Field(None, description="Node IP of the local Ray (127.0.0.1 keeps it local)")


_EXECUTOR_TYPES = ("local", "slurm", "ray")
ExecutorConfig = Annotated[
    Annotated[LocalExecutorConfig, Tag("local")]
    | Annotated[SlurmExecutorConfig, Tag("slurm")]
    | Annotated[RayExecutorConfig, Tag("ray")],
    Discriminator(_executor_type),
]


class StepSpec(BaseModel):
    """One entry of `steps`: its type, its name and its validated parameters."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    type: str
    name: str
    params: Any  # an instance of the step class's Params model


class PipelineConfig(StrictModel):
    input: InputConfig
    steps: list[dict[str, Any]] = Field(default_factory=list)
    output: OutputConfig
    executor: ExecutorConfig = Field(default_factory=LocalExecutorConfig)
    profile: str = Field("datatrove", description="Default profile of steps that have profiles")

    # Filled by load/validate: the steps with their parameters parsed.
    _specs: list[StepSpec] = []

    @property
    def specs(self) -> list[StepSpec]:
        return self._specs

    def fingerprint(self) -> str:
        """Hash of everything that changes what lands in the output (not the executor)."""
        # Where the output lives does not change what is in it: a moved output directory still resumes.
        doc = self.model_dump(mode="json", exclude={"executor": True, "output": {"path"}})
        doc["steps"] = [
            {"type": s.type, "name": s.name, "params": s.params.model_dump(mode="json")} for s in self.specs
        ]
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def format_location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe_errors(source: str, err: ValidationError, prefix: tuple[Any, ...] = ()) -> list[str]:
    lines = []
    for e in err.errors():
        loc = prefix + tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if len(loc) > 1 and loc[0] == "executor" and loc[1] in _EXECUTOR_TYPES:
            loc = loc[:1] + loc[2:]  # the union's tag is not a key of the file
        if e["type"] == "union_tag_invalid":
            lines.append(
                f"{source}: {format_location(loc)}.type: unknown executor type {e['ctx']['tag']!r}; "
                f"one of {', '.join(_EXECUTOR_TYPES)}"
            )
            continue
        got = e.get("input")
        message = e["msg"]
        if e["type"] == "extra_forbidden":
            message = "unknown key"
            lines.append(f"{source}: {format_location(loc)}: {message}")
            continue
        if e["type"] == "missing":
            lines.append(f"{source}: {format_location(loc)}: required key is missing")
            continue
        shown = json.dumps(got) if isinstance(got, str | int | float | bool) or got is None else type(got).__name__
        lines.append(f"{source}: {format_location(loc)}: {message}, got {shown}")
    return lines


def _step_specs(source: str, raw_steps: list[dict[str, Any]], profile: str) -> list[StepSpec]:
    from thresher.steps.registry import get_step_class, known_step_types

    errors: list[str] = []
    specs: list[StepSpec] = []
    names: set[str] = set()
    for i, raw in enumerate(raw_steps):
        where = f"steps[{i}]"
        if not isinstance(raw, dict):
            errors.append(f"{source}: {where}: expected a mapping with a 'type' key, got {type(raw).__name__}")
            continue
        step_type = raw.get("type")
        if not isinstance(step_type, str):
            errors.append(f"{source}: {where}.type: required key is missing (one of {known_step_types()})")
            continue
        try:
            cls = get_step_class(step_type)
        except KeyError:
            errors.append(f"{source}: {where}.type: unknown step type {step_type!r}; known types: {known_step_types()}")
            continue
        name = raw.get("name") or step_type
        if name in names:
            errors.append(f"{source}: {where}.name: step name {name!r} is used twice; give one a `name:`")
        names.add(name)
        params = {k: v for k, v in raw.items() if k not in ("type", "name")}
        if "profile" in cls.Params.model_fields and "profile" not in params:
            params["profile"] = profile
        try:
            specs.append(StepSpec(type=step_type, name=name, params=cls.Params.model_validate(params)))
        except ValidationError as err:
            errors.extend(_describe_errors(source, err, (f"steps[{i}]",)))
    if errors:
        raise ConfigError("\n".join(errors))
    return specs


def parse_pipeline(raw: Any, source: str = "<pipeline>") -> PipelineConfig:
    """Validates a parsed pipeline document; raises ConfigError naming every wrong key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with input, steps, output, got {type(raw).__name__}")
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError("\n".join(_describe_errors(source, err))) from None
    config._specs = _step_specs(source, config.steps, config.profile)
    return config


_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Applies `key.path=value` (value parsed as YAML) to a raw pipeline document in place.

    Paths use dots and list indices: `steps.0.min_words=20` or `steps[0].min_words=20`.
    """
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key.path=value")
    path, _, value_text = assignment.partition("=")
    parts: list[str | int] = []
    for name, index in _KEY_PART.findall(path.strip()):
        if index:
            parts.append(int(index))
        elif name.isdigit():
            parts.append(int(name))
        else:
            parts.append(name)
    if not parts:
        raise ConfigError(f"--set {assignment!r}: empty key path")
    value = yaml.safe_load(value_text) if value_text.strip() else ""
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        nxt = parts[depth + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise ConfigError(f"--set {assignment!r}: {format_location(tuple(parts[: depth + 1]))} does not exist")
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise ConfigError(f"--set {assignment!r}: {format_location(tuple(parts[:depth]))} is not a mapping")
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ConfigError(f"--set {assignment!r}: index {last} does not exist")
        node[last] = value
    else:
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment!r}: parent of {last!r} is not a mapping")
        node[last] = value


def read_pipeline_document(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such pipeline file") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with input, steps, output at the top")
    return raw


def load_pipeline(
    path: str | Path, overrides: list[str] | None = None, output: str | None = None, executor: str | None = None
) -> PipelineConfig:
    """Reads, overrides and validates a pipeline file. Relative input/output paths are taken as
    relative to the current directory (as a user typing the command expects). `executor` names an
    executor type that replaces the file's executor section unless the file already uses that type."""
    raw = copy.deepcopy(read_pipeline_document(path))
    if executor is not None:
        section = raw.get("executor")
        current = section.get("type", "local") if isinstance(section, dict) else None
        if current != executor:
            raw["executor"] = {"type": executor}
    for assignment in overrides or []:
        apply_override(raw, assignment)
    if output is not None:
        raw.setdefault("output", {})
        if not isinstance(raw["output"], dict):
            raise ConfigError(f"{path}: output: expected a mapping")
        raw["output"]["path"] = output
    return parse_pipeline(raw, str(path))


def pipeline_json_schema() -> dict[str, Any]:
    """JSON Schema of the pipeline file, with each registered step's parameters."""
    from thresher.steps.registry import all_step_classes

    schema = PipelineConfig.model_json_schema()
    variants = []
    for step_type, cls in sorted(all_step_classes().items()):
        params = cls.Params.model_json_schema()
        props = dict(params.get("properties", {}))
        props["type"] = {"const": step_type}
        props["name"] = {"type": "string"}
        variant = {
            "type": "object",
            "title": step_type,
            "description": (cls.__doc__ or "").strip().split("\n")[0],
            "properties": props,
            "required": ["type", *params.get("required", [])],
            "additionalProperties": False,
        }
        if "$defs" in params:
            schema.setdefault("$defs", {}).update(params["$defs"])
        variants.append(variant)
    schema["properties"]["steps"] = {"type": "array", "items": {"oneOf": variants}}
    return schema
