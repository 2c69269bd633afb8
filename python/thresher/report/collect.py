"""Reading an output directory for the report: stats, the pipeline that made it, and one streaming pass
over `data/` and `rejected/`.

The pass reads only the columns it needs, row group by row group, so memory stays bounded whatever the
output size: signal values are kept for at most `max_signal_rows` rows per side (a fixed stride, so the
sample is spread over every shard); counts (rows, characters, categories, cluster sizes) cover every row;
sampled documents are the rows with the smallest seeded random keys per reason, fetched at the end.

What a column means is read from its name, so columns that later steps add are picked up without code
here knowing those steps: `<step>.<signal>` numeric columns are signals; columns named `language`,
`lang`, `skill`, `phase`, `*.language`, `*.cluster_size`, ... feed the share and cluster plots.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

log = logging.getLogger("thresher.report")

DROP_REASON = "drop_reason"
KEPT = "kept"

LANGUAGE_NAMES = ("language", "lang", "top_language", "language_id")
SKILL_NAMES = ("skill", "skills", "skill_bucket", "bucket", "domain")
PHASE_NAMES = ("phase", "mix_phase")
CLUSTER_SIZE_NAMES = ("cluster_size", "duplicate_cluster_size", "dup_cluster_size")


class ReportError(Exception):
    """The directory cannot be reported on; the message says why and what to do."""


@dataclass(frozen=True)
class Threshold:
    value: float
    keep_when: str  # "<", "<=", ">", ">=": a row is kept when `signal keep_when value`
    reason: str


@dataclass
class OutputDir:
    root: Path
    stats: dict[str, Any]
    pipeline: dict[str, Any]  # the pipeline document recorded by the run ({} when absent)
    data_files: list[Path]
    rejected_files: list[Path]
    manifests: dict[str, Any]  # other JSON documents at the top of the output (mix manifests, ...)

    @classmethod
    def open(cls, path: str | Path) -> OutputDir:
        root = Path(path)
        if not root.is_dir():
            raise ReportError(f"{root}: no such output directory")
        stats_path = root / "stats.json"
        if not stats_path.is_file():
            markers = list((root / "_thresher" / "markers").glob("*/*.json"))
            hint = f" ({len(markers)} tasks finished)" if markers else ""
            raise ReportError(
                f"{root}: no stats.json, so the run has not finished{hint}; run `filter run` again to complete it"
            )
        stats = json.loads(stats_path.read_text())
        pipeline_doc = root / "_thresher" / "pipeline.json"
        pipeline = json.loads(pipeline_doc.read_text()).get("pipeline", {}) if pipeline_doc.is_file() else {}
        manifests = {}
        for doc in sorted(root.glob("*.json")):
            if doc.name != "stats.json":
                try:
                    manifests[doc.name] = json.loads(doc.read_text())
                except (OSError, ValueError) as err:
                    log.warning("%s: not readable JSON (%s), left out of the report", doc, err)
        return cls(
            root=root,
            stats=stats,
            pipeline=pipeline,
            data_files=sorted((root / "data").glob("*.parquet")),
            rejected_files=sorted((root / "rejected").glob("*.parquet")),
            manifests=manifests,
        )

    @property
    def text_column(self) -> str:
        return self.pipeline.get("input", {}).get("text_column") or "text"

    @property
    def id_column(self) -> str:
        return self.pipeline.get("input", {}).get("id_column") or "id"

    @property
    def step_names(self) -> list[str]:
        return [s["name"] for s in self.stats.get("steps", [])]

    def signal_step(self, column: str) -> str | None:
        """The step a `<step>.<signal>` column belongs to, or None for an input column."""
        for name in sorted(self.step_names, key=len, reverse=True):
            if column.startswith(name + "."):
                return name
        return None

    def thresholds(self) -> dict[str, list[Threshold]]:
        """Thresholds per signal column, from the steps' rules (steps without `rules()` have none here)."""
        if not self.pipeline:
            return {}
        try:
            from thresher.config import parse_pipeline
            from thresher.stages import build_steps

            steps = build_steps(parse_pipeline(self.pipeline, str(self.root / "_thresher" / "pipeline.json")))
        except Exception as err:  # noqa: BLE001 - a step type missing in this install: plots lose their lines only
            log.warning("thresholds not drawn: the recorded pipeline does not load here (%s)", err)
            return {}
        found: dict[str, list[Threshold]] = {}
        for step in steps:
            rules = getattr(step, "rules", None)
            if not callable(rules):
                continue
            for rule in rules():
                if rule.threshold is not None:
                    column = step.signal_column(rule.signal)
                    found.setdefault(column, []).append(Threshold(float(rule.threshold), rule.keep_when, rule.reason))
        return found


def column_role(name: str) -> str | None:
    """`language`, `skill`, `phase` or `cluster_size` when a column's name says it holds one."""
    last = name.rsplit(".", 1)[-1].lower()
    if last in LANGUAGE_NAMES:
        return "language"
    if last in SKILL_NAMES:
        return "skill"
    if last in PHASE_NAMES:
        return "phase"
    if last in CLUSTER_SIZE_NAMES:
        return "cluster_size"
    return None


@dataclass
class SignalValues:
    column: str
    step: str
    kept: list[np.ndarray] = field(default_factory=list)
    dropped_here: list[np.ndarray] = field(default_factory=list)  # dropped by this signal's own step
    dropped_later: list[np.ndarray] = field(default_factory=list)  # computed here, dropped by a later step

    def arrays(self) -> dict[str, np.ndarray]:
        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.empty(0)

        return {
            "kept": cat(self.kept),
            "dropped here": cat(self.dropped_here),
            "dropped later": cat(self.dropped_later),
        }


@dataclass
class Sample:
    label: str  # "kept" or the drop reason "step:reason"
    id: str | None
    text: str | None
    text_chars: int
    signals: dict[str, Any]


@dataclass
class ReportData:
    out: OutputDir
    signals: dict[str, SignalValues] = field(default_factory=dict)
    signal_strides: dict[str, int] = field(default_factory=dict)  # side -> 1 in N rows kept for histograms
    kept_signals_stored: bool = False
    chars: Counter = field(default_factory=Counter)  # label ("kept" or reason) -> characters of text
    rows: Counter = field(default_factory=Counter)  # label -> rows seen in the files
    categories: dict[str, dict[str, dict[str, Counter]]] = field(default_factory=dict)  # role -> column -> side
    phase_skills: dict[str, Counter] = field(default_factory=dict)  # phase -> skill -> kept rows
    cluster_sizes: dict[str, Counter] = field(default_factory=dict)  # column -> size -> rows
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    thresholds: dict[str, list[Threshold]] = field(default_factory=dict)


class _Reservoir:
    """The `n` rows with the smallest random keys per label: a seeded sample that needs one pass."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.best: dict[str, list[tuple[float, int, int]]] = {}  # label -> (key, file index, row in file)

    def offer(self, label: str, keys: np.ndarray, file_index: int, rows: np.ndarray) -> None:
        if self.n <= 0 or len(keys) == 0:
            return
        take = np.argsort(keys, kind="stable")[: self.n]
        merged = self.best.get(label, []) + [(float(keys[i]), file_index, int(rows[i])) for i in take]
        merged.sort()
        self.best[label] = merged[: self.n]


def _row_group_offsets(meta: pq.FileMetaData) -> list[int]:
    offsets, total = [], 0
    for rg in range(meta.num_row_groups):
        offsets.append(total)
        total += meta.row_group(rg).num_rows
    return offsets


def _numeric(column: pa.Array) -> np.ndarray | None:
    kind = column.type
    if pa.types.is_boolean(kind):
        column = column.cast(pa.int8())
    elif not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return None
    values = column.to_numpy(zero_copy_only=False)
    return values.astype(np.float64, copy=False)


def _is_numeric_type(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def scan_output(
    out: OutputDir,
    samples_per_label: int = 3,
    max_signal_rows: int = 200_000,
    seed: int = 0,
    only_labels: set[str] | None = None,
    count_text: bool = True,
    progress: bool = False,
) -> ReportData:
    """One pass over the output's files. `only_labels` restricts sampling (and skips the signal pass)."""
    data = ReportData(out=out, thresholds=out.thresholds() if only_labels is None else {})
    reservoir = _Reservoir(samples_per_label)
    rng = np.random.default_rng(seed)
    sides = [("kept", out.data_files), ("rejected", out.rejected_files)]
    files: list[tuple[str, Path]] = [(side, f) for side, paths in sides for f in paths]
    totals = {side: sum(pq.read_metadata(f).num_rows for f in paths) for side, paths in sides}
    for side in totals:
        data.signal_strides[side] = max(1, -(-totals[side] // max_signal_rows)) if max_signal_rows > 0 else 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(totals.values()), desc="report", unit="row", dynamic_ncols=True)
    want_signals = only_labels is None
    row_base = {side: 0 for side in totals}
    for file_index, (side, path) in enumerate(files):
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
        columns = [out.text_column] if count_text and schema.get_field_index(out.text_column) >= 0 else []
        if side == "rejected":
            columns.append(DROP_REASON)
        roles: dict[str, str] = {}
        signal_cols: list[str] = []
        if want_signals:
            for f in schema:
                role = column_role(f.name)
                if role is not None:
                    roles[f.name] = role
                    columns.append(f.name)
                elif out.signal_step(f.name) is not None and _is_numeric_type(f.type):
                    signal_cols.append(f.name)
                    columns.append(f.name)
            if side == "kept" and signal_cols:
                data.kept_signals_stored = True
        columns = list(dict.fromkeys(c for c in columns if schema.get_field_index(c) >= 0))
        file_row = 0
        for rg in range(pf.num_row_groups):
            table = pf.read_row_group(rg, columns=columns)
            n = table.num_rows
            if n == 0:
                continue
            if side == "rejected":
                reasons = table.column(DROP_REASON).combine_chunks().fill_null("?")
            else:
                reasons = pa.array([KEPT] * n, pa.string())
            label_counts = pc.value_counts(reasons).to_pylist()
            lengths = None
            if out.text_column in columns:
                lengths = pc.fill_null(pc.utf8_length(table.column(out.text_column)), 0).to_numpy()
            single = len(label_counts) == 1
            keys = rng.random(n)
            rows = np.arange(file_row, file_row + n)
            for item in label_counts:
                label = item["values"]
                mask = slice(None) if single else pc.equal(reasons, label).to_numpy(zero_copy_only=False)
                data.rows[label] += item["counts"]
                if lengths is not None:
                    data.chars[label] += int(lengths[mask].sum())
                if only_labels is None or label in only_labels:
                    reservoir.offer(label, keys[mask], file_index, rows[mask])
            if want_signals:
                _collect_categories(data, table, side, roles)
                stride = data.signal_strides[side]
                if signal_cols and stride:
                    global_rows = np.arange(row_base[side], row_base[side] + n)
                    picked = np.flatnonzero(global_rows % stride == 0)
                    _collect_signals(data, table, side, signal_cols, picked, reasons)
            file_row += n
            row_base[side] += n
            if bar is not None:
                bar.update(n)
    if bar is not None:
        bar.close()
    data.samples = _fetch_samples(out, files, reservoir)
    return data


def _collect_categories(data: ReportData, table: pa.Table, side: str, roles: dict[str, str]) -> None:
    phase_col = next((c for c, r in roles.items() if r == "phase"), None)
    skill_col = next((c for c, r in roles.items() if r == "skill"), None)
    for column, role in roles.items():
        values = table.column(column)
        if role == "cluster_size":
            numbers = _numeric(values.combine_chunks())
            if numbers is not None:
                numbers = numbers[~np.isnan(numbers)]
                data.cluster_sizes.setdefault(column, Counter()).update(numbers.astype(np.int64).tolist())
            continue
        counts = pc.value_counts(values.cast(pa.string()).combine_chunks()).to_pylist()
        by_side = data.categories.setdefault(role, {}).setdefault(column, {"input": Counter(), "kept": Counter()})
        for item in counts:
            if item["values"] is None:
                continue
            by_side["input"][item["values"]] += item["counts"]
            if side == "kept":
                by_side["kept"][item["values"]] += item["counts"]
    if side == "kept" and phase_col and skill_col:
        pairs = pa.table(
            {"p": table.column(phase_col).cast(pa.string()), "s": table.column(skill_col).cast(pa.string())}
        )
        for row in pairs.group_by(["p", "s"]).aggregate([([], "count_all")]).to_pylist():
            data.phase_skills.setdefault(str(row["p"]), Counter())[str(row["s"])] += row["count_all"]


def _collect_signals(
    data: ReportData, table: pa.Table, side: str, signal_cols: list[str], picked: np.ndarray, reasons: pa.Array
) -> None:
    if len(picked) == 0:
        return
    index = pa.array(picked)
    picked_reasons = reasons.take(index)
    for column in signal_cols:
        step = data.out.signal_step(column)
        values = _numeric(table.column(column).combine_chunks().take(index))
        if values is None or step is None:
            continue
        entry = data.signals.setdefault(column, SignalValues(column, step))
        present = ~np.isnan(values)
        if side == "kept":
            entry.kept.append(values[present])
            continue
        here = pc.starts_with(picked_reasons, step + ":").to_numpy(zero_copy_only=False)
        entry.dropped_here.append(values[present & here])
        entry.dropped_later.append(values[present & ~here])


def _fetch_samples(out: OutputDir, files: list[tuple[str, Path]], reservoir: _Reservoir) -> dict[str, list[Sample]]:
    wanted: dict[int, list[tuple[str, float, int]]] = {}
    for label, picks in reservoir.best.items():
        for key, file_index, row in picks:
            wanted.setdefault(file_index, []).append((label, key, row))
    samples: dict[str, list[tuple[float, Sample]]] = {}
    for file_index, picks in wanted.items():
        _, path = files[file_index]
        pf = pq.ParquetFile(path)
        offsets = _row_group_offsets(pf.metadata)
        by_group: dict[int, list[tuple[str, float, int]]] = {}
        for label, key, row in picks:
            rg = int(np.searchsorted(offsets, row, side="right") - 1)
            by_group.setdefault(rg, []).append((label, key, row - offsets[rg]))
        for rg, items in by_group.items():
            table = pf.read_row_group(rg).take(pa.array([r for _, _, r in items]))
            for (label, key, _), record in zip(items, table.to_pylist(), strict=True):
                text = record.get(out.text_column)
                step = label.split(":", 1)[0] if label != KEPT else None
                signals = {
                    k: v
                    for k, v in record.items()
                    if v is not None
                    and out.signal_step(k) is not None
                    and (step is None or step == "input" or out.signal_step(k) == step)
                }
                sample = Sample(
                    label=label,
                    id=None if record.get(out.id_column) is None else str(record.get(out.id_column)),
                    text=text,
                    text_chars=len(text) if isinstance(text, str) else 0,
                    signals=signals,
                )
                samples.setdefault(label, []).append((key, sample))
    return {label: [s for _, s in sorted(items, key=lambda kv: kv[0])] for label, items in sorted(samples.items())}
