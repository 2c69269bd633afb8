"""The `mix` step with `phases:` (skill mixes): the stage side of `thresher.mixing.phases`.

Map: next to the per-document counts (language, tokens) the step already writes, each shard keeps
the score columns the phases read (`scores/<shard>.parquet`, float64, null as NaN).
Reduce `allocate`: every phase is drawn over the whole corpus (pure functions in `phases.py`);
the copies per phase are saved per shard (`phase_selection/<shard>.npy`, rows x phases), and the
manifest `<mix>.json` / `<mix>.md` lands beside the output.
Apply: a row is kept when some phase drew it. Each phase's copies go in an extra column
`<mix>.<phase>.repeats`; the `repeats` signal is their sum, used as in a language-only mix
(`output: repeat` repeats the row that many times, numbered by the epoch column, phase 1's copies
first; `output: weight` keeps it once with the sum as its weight).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thresher.mixing.counting import read_shard_docs, write_json
from thresher.mixing.phases import PhaseSpec, draw_phases, score_columns
from thresher.steps.base import Decision, StepContext

if TYPE_CHECKING:
    from thresher.steps.mix import Mix

_EXCLUDED = -1


def _scores_path(work_dir: Path, shard: int) -> Path:
    return work_dir / "scores" / f"{shard:05d}.parquet"


def _selection_path(work_dir: Path, shard: int) -> Path:
    return work_dir / "phase_selection" / f"{shard:05d}.npy"


class SkillMixer:
    """What the `mix` step does differently when it has phases."""

    def __init__(self, step: Mix, phases: list[PhaseSpec]) -> None:
        self.step = step
        self.phases = phases
        self.columns = score_columns(phases)
        self._batches: list[pa.RecordBatch] = []
        self._selection: np.ndarray | None = None

    # -- map ------------------------------------------------------------------------------------
    def map_start(self) -> None:
        self._batches = []

    def map_batch(self, batch: pa.RecordBatch) -> None:
        arrays = []
        for column in self.columns:
            index = batch.schema.get_field_index(column)
            if index < 0:
                raise KeyError(
                    f"step {self.step.name!r}: the phases read column {column!r}, which is not in the rows reaching "
                    f"the mix (columns: {batch.schema.names}); score it in an earlier step"
                )
            values = batch.column(index).cast(pa.float64())
            arrays.append(pc.fill_null(values, float("nan")))
        self._batches.append(pa.RecordBatch.from_arrays(arrays, names=self.columns))

    def map_finish(self, context: StepContext) -> None:
        schema = pa.schema([pa.field(c, pa.float64()) for c in self.columns])
        table = pa.Table.from_batches(self._batches, schema=schema)
        path = _scores_path(context.work_dir, context.shard_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        tmp.replace(path)
        self._batches = []

    # -- reduce -----------------------------------------------------------------------------------
    def allocate(self, context: StepContext) -> None:
        p = self.step.params
        shards = read_shard_docs(context.work_dir, context.num_shards)
        lengths = [t.num_rows for t in shards]
        docs = pa.concat_tables(shards)
        scores_table = pa.concat_tables(
            [pq.read_table(_scores_path(context.work_dir, s)) for s in range(context.num_shards)]
        )
        size_key = "tokens" if p.unit == "tokens" else "chars"
        sizes = docs[size_key].to_numpy().astype(np.float64)
        languages = np.asarray(docs["language"].to_pylist(), dtype=object)
        scores = {c: scores_table[c].to_numpy() for c in self.columns}
        allowed = np.ones(len(sizes), dtype=bool)
        if p.languages is not None:
            allowed = np.isin(languages, np.asarray(p.languages, dtype=object))
        # Excluded languages take no part: their rows never enter a pool or a percentile.
        results = draw_phases(self.phases, sizes, languages, scores, p.seed, pool=allowed)
        matrix = np.stack([r.repeats.astype(np.int64) for r in results], axis=1)
        matrix[~allowed] = _EXCLUDED
        start = 0
        for shard, length in enumerate(lengths):
            path = _selection_path(context.work_dir, shard)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "wb") as f:
                np.save(f, matrix[start : start + length])
            tmp.replace(path)
            start += length
        tokens = docs["tokens"].to_numpy().astype(np.float64)
        for result in results:
            # Tokens (whatever the budget unit) per phase, for readers comparing phases.
            result.manifest["tokens_drawn"] = float((result.repeats * tokens).sum())
        doc = {
            "mix": self.step.name,
            "unit": p.unit,
            "tokenizer": p.tokenizer.describe(),
            "seed": p.seed,
            "output": p.output,
            "excluded_languages": sorted(set(languages[~allowed].tolist())),
            "phases": [r.manifest for r in results],
        }
        directory = context.output_dir or context.work_dir
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / f"{self.step.name}.json", doc)
        tmp = directory / f"{self.step.name}.md.tmp"
        tmp.write_text(render_phases(doc))
        tmp.replace(directory / f"{self.step.name}.md")

    # -- apply ----------------------------------------------------------------------------------
    def open(self, context: StepContext) -> None:
        self._selection = np.load(_selection_path(context.work_dir, context.shard_index))

    def repeats(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """Copies per phase (rows x phases) and their sum (-1 for excluded languages)."""
        per_phase = self._selection[rows]
        total = np.where(per_phase[:, 0] == _EXCLUDED, _EXCLUDED, per_phase.clip(min=0).sum(axis=1))
        return per_phase, total

    def decide(self, repeats: pa.Array, per_phase: np.ndarray, base: Decision) -> Decision:
        for j, phase in enumerate(self.phases):
            base.extra_columns[f"{self.step.name}.{phase.name}.repeats"] = pa.array(per_phase[:, j].clip(min=0))
        return base


def render_phases(doc: dict[str, Any]) -> str:
    unit = doc["unit"]
    lines = [
        f"# Mix {doc['mix']}: {len(doc['phases'])} phases",
        "",
        f"- unit: {unit} ({doc['tokenizer']}); seed {doc['seed']}",
    ]
    for m in doc["phases"]:
        lines += [
            "",
            f"## {m['phase']}" + (f" (subset of {m['subset_of']})" if m["subset_of"] else ""),
            "",
            f"- budget {m['budget']:,.0f} {unit}; selected {m['tokens_selected']:,.0f} "
            f"({m['unique_docs_selected']:,} unique documents, {m['docs_selected']:,} with repeats, "
            f"{m['epochs']:.3g} epochs on average)",
            f"- pool {m['docs_in_pool']:,} documents, {m['docs_eligible']:,} meet the phase conditions; "
            f"{m['overlap']['rows_in_several_skills']:,} qualify for several skills (rule: {m['overlap']['rule']})",
        ]
        for c in m["conditions"]:
            lines.append(f"- condition `{c['condition']}` applied as `{c['applied']}`: {c['rows_passing']:,} pass")
        for s in m["skill_conditions"]:
            for c in s["conditions"]:
                lines.append(
                    f"- skill {s['skill']}: `{c['condition']}` applied as `{c['applied']}`: {c['rows_passing']:,} pass"
                )
        lines += [
            "",
            f"| skill | target share | share | {unit} available | {unit} selected | epochs |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for s in m["skills"]:
            lines.append(
                f"| {s['skill']} | {100 * s['target_share']:.2f}% | {100 * s['share']:.2f}% "
                f"| {s['tokens_available']:,.0f} | {s['tokens_selected']:,.0f} | {s['epochs']:.3g} |"
            )
        lines += [
            "",
            f"| language | share | {unit} available | {unit} selected | epochs |",
            "|---|---:|---:|---:|---:|",
        ]
        for lang, v in m["languages"].items():
            lines.append(
                f"| {lang} | {100 * v['share']:.2f}% | {v['tokens_available']:,.0f} "
                f"| {v['tokens_selected']:,.0f} | {v['epochs']:.3g} |"
            )
    return "\n".join(lines) + "\n"
