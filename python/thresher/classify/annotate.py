"""`filter annotate PIPELINE`: a seeded, stratified sample of a pipeline's input, labelled by the
pipeline's scoring step (an `ask_llm` step by default), written as one Parquet file to train on.

1. The input is read shard by shard through the per-batch steps listed before the scoring step
   (heuristics, language ID), so the judge only sees documents the pipeline would keep; global
   steps (dedup) are skipped here.
2. Rows are grouped into strata by the given columns (default: the language, `language.lang` or
   `lang`, and `source` where present). Each row gets a key, a hash of the seed and its id; a
   stratum's sample is its rows with the smallest keys, so the sample does not depend on shard
   order and a larger sample contains a smaller one with the same seed.
3. Allocation: `balanced` gives every stratum an equal share and takes small strata whole,
   spreading what they leave over the others (water-filling); `proportional` follows stratum sizes.
4. The scoring step scores the sample (its own selection is switched off) and its signal columns
   are written next to the text, the strata columns and a `stratum` column.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thresher.chain import StepChain
from thresher.config import ConfigError, PipelineConfig
from thresher.io.readers import ShardReader, discover_shards
from thresher.steps.base import Step, StepContext

LANGUAGE_COLUMNS = ("language.lang", "lang", "language")


@dataclass
class AnnotateOptions:
    size: int = 1000
    strata: list[str] | None = None
    allocation: str = "balanced"
    seed: int = 0
    step: str | None = None
    prefilter: bool = True


def allocate(counts: dict[Any, int], size: int, mode: str) -> dict[Any, int]:
    """Sample size per stratum; never more than a stratum has, summing to min(size, total)."""
    total = sum(counts.values())
    size = min(size, total)
    if mode == "proportional":
        exact = {k: size * n / total for k, n in counts.items()} if total else {}
        out = {k: math.floor(v) for k, v in exact.items()}
        rest = size - sum(out.values())
        for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), str(k)))[:rest]:
            out[k] += 1
        return out
    if mode != "balanced":
        raise ValueError(f"unknown allocation {mode!r}")
    out = {k: 0 for k in counts}
    remaining = size
    open_strata = sorted(counts, key=lambda k: (counts[k], str(k)))
    # Smallest strata first: each takes min(its size, an equal share of what is left).
    for i, k in enumerate(open_strata):
        share = remaining // (len(open_strata) - i)
        out[k] = min(counts[k], share)
        remaining -= out[k]
    # Integer shares can leave a few rows over: give them to strata with room, largest first.
    for k in sorted(counts, key=lambda k: (-counts[k], str(k))):
        if remaining == 0:
            break
        extra = min(remaining, counts[k] - out[k])
        out[k] += extra
        remaining -= extra
    return out


def row_key(seed: int, doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{doc_id}".encode(), digest_size=8).digest(), "little")


def _scoring_step(steps: list[Step], name: str | None) -> int:
    for i, step in enumerate(steps):
        if (name is not None and step.name == name) or (name is None and step.type == "ask_llm"):
            return i
    if name is not None:
        raise ConfigError(f"no step named {name!r} in the pipeline (steps: {[s.name for s in steps]})")
    raise ConfigError(
        "the pipeline has no ask_llm step to label the sample with; add one or name a scoring step with --step"
    )


def _without_selection(step: Step) -> Step:
    """The same step with its own keep/drop selection off: the sample is scored, not filtered."""
    params = step.params
    selection = getattr(params, "selection", None)
    if selection is not None and "mode" in type(selection).model_fields:
        params = params.model_copy(update={"selection": selection.model_copy(update={"mode": "none"})})
    return type(step)(step.name, params)


class _Sampler:
    def __init__(self, config: PipelineConfig, prefilter: list[Step], work_dir: Path) -> None:
        self.config = config
        self.prefilter = prefilter
        self.work_dir = work_dir
        self.shards = discover_shards(config.input)

    def batches(self):
        """Rows surviving the per-batch steps, shard by shard."""
        text_column = self.config.input.text_column
        for shard in self.shards:
            chain = StepChain(self.prefilter, text_column, validate_input=True)
            context = StepContext(
                work_dir=self.work_dir,
                shard_index=shard.index,
                shard_name=shard.name,
                num_shards=len(self.shards),
                text_column=text_column,
                id_column=self.config.input.id_column or "id",
            )
            for step in self.prefilter:
                step.open(context)
            for read in ShardReader(shard, self.config.input):
                kept = chain.run(read.batch).kept
                if kept.num_rows:
                    yield kept
            for step in self.prefilter:
                step.close()


def _strata_of(batch: pa.RecordBatch, columns: list[str]) -> list[tuple]:
    values = [pc.fill_null(batch.column(c).cast(pa.string()), "").to_pylist() for c in columns]
    return list(zip(*values, strict=True)) if columns else [()] * batch.num_rows


def annotate(config: PipelineConfig, output: str | Path, options: AnnotateOptions) -> dict:
    from thresher.stages import build_steps

    if options.size <= 0:
        raise ConfigError("--size must be positive")
    steps = build_steps(config)
    scorer_index = _scoring_step(steps, options.step)
    prefilter = [s for s in steps[:scorer_index] if not s.is_global] if options.prefilter else []
    skipped_global = [s.name for s in steps[:scorer_index] if s.is_global] if options.prefilter else []
    output = Path(output)
    work_dir = output.parent / f".{output.name}.work"
    work_dir.mkdir(parents=True, exist_ok=True)
    sampler = _Sampler(config, prefilter, work_dir)
    id_column = config.input.id_column or "id"

    # Pass 1: stratum sizes and, per stratum, the `size` rows with the smallest keys.
    strata_columns = options.strata
    counts: dict[tuple, int] = {}
    smallest: dict[tuple, list[tuple[int, str]]] = {}  # max-heaps of (-key, id)
    for batch in sampler.batches():
        if strata_columns is None:
            names = batch.schema.names
            strata_columns = [c for c in LANGUAGE_COLUMNS if c in names][:1] + (["source"] if "source" in names else [])
        missing = [c for c in strata_columns if c not in batch.schema.names]
        if missing:
            raise ConfigError(f"strata column(s) {missing} not in the rows (columns: {batch.schema.names})")
        ids = batch.column(id_column).cast(pa.string()).to_pylist()
        for stratum, doc_id in zip(_strata_of(batch, strata_columns), ids, strict=True):
            counts[stratum] = counts.get(stratum, 0) + 1
            heap = smallest.setdefault(stratum, [])
            entry = (-row_key(options.seed, doc_id), doc_id)
            if len(heap) < options.size:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:
                heapq.heapreplace(heap, entry)
    strata_columns = strata_columns or []
    quota = allocate(counts, options.size, options.allocation)
    chosen: set[str] = set()
    for stratum, k in quota.items():
        best = sorted(smallest[stratum], reverse=True)[:k]  # largest -key = smallest key
        chosen.update(doc_id for _, doc_id in best)

    # Pass 2: the chosen rows, scored by the scoring step.
    scorer = _without_selection(steps[scorer_index])
    scorer.open(StepContext(work_dir=work_dir, text_column=config.input.text_column, id_column=id_column))
    wanted = pa.array(sorted(chosen), pa.string())
    parts = []
    for batch in sampler.batches():
        mask = pc.is_in(batch.column(id_column).cast(pa.string()), value_set=wanted)
        rows = batch.filter(mask)
        if not rows.num_rows:
            continue
        text = rows.column(config.input.text_column)
        signals = scorer.compute_signals(text, rows)
        for name, column in zip(signals.schema.names, signals.columns, strict=True):
            rows = rows.append_column(scorer.signal_column(name), column)
        labels = ["/".join(s) for s in _strata_of(rows, strata_columns)]
        parts.append(rows.append_column("stratum", pa.array(labels, pa.string())))
    scorer.close()
    if not parts:
        raise ConfigError("no document reached the scoring step; nothing to annotate")
    table = pa.Table.from_batches(parts).combine_chunks()
    order = np.argsort(np.asarray(table.column(id_column).to_pylist(), dtype=object), kind="stable")
    table = table.take(pa.array(order))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(output)
    return {
        "rows": table.num_rows,
        "columns": [scorer.signal_column(f.name) for f in scorer.signal_fields()],
        "strata_columns": strata_columns,
        "skipped_global_steps": skipped_global,
        "strata": {"/".join(k) or "(all)": {"available": counts[k], "sampled": quota[k]} for k in sorted(counts)},
    }
