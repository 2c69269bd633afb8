"""Deduplication steps: `exact_dedup`, `minhash_dedup` (global, map/reduce) and `bloom_dedup` (per
shard, or global with `shards_per_filter` other than 1).

The global steps identify a document by (shard index, row among the rows reaching the step).
Their map stage sees those rows in order; the apply stage reads the same rows in the same order,
so a verdict written for (shard, row) lands on the right document without any id lookup.

Work directory of a global step (`context.work_dir`, shared by its tasks):

    minhash_dedup                                   exact_dedup
      bands/band_BBB/shard_SSSSSS.runRRR.bin          hashes/bucket_KKKKK/shard_SSSSSS.bin
      shingles/ (verify)  priority/ (keep policy)     priority is inside the hash records
      map/shard_SSSSSS.json                           map/shard_SSSSSS.json
      pairs/band_BBB_part_PPPPP.bin + .json           verdicts/bucket_KKKKK.bin + .json
      clusters.bin, summary.json                      summary.json (written by the apply's first task)

    bloom_dedup (shards_per_filter other than 1; one reduce task per group of shards)
      tokens/shard_SSSSSS.bin + map/shard_SSSSSS.json     verdicts/shard_SSSSSS.bin + .json
      groups/group_GGGGG.json

Every file is written to a temporary name and renamed, so a rerun after a crash never reads a
partial file; a finished task is skipped by the stage markers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from thresher import _core
from thresher.steps.base import Decision, GlobalStep, StepContext, StepParams
from thresher.steps.registry import register_step

log = logging.getLogger("thresher.dedup")

KeepPolicy = Literal["first", "longest", "signal"]


# -- small helpers -------------------------------------------------------------------------------
def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _shard_index(context: StepContext) -> int:
    if context.shard_index is None:
        raise RuntimeError("a dedup map or apply task needs a shard index")
    return context.shard_index


class _RuntimeStateMixin:
    """Steps travel to worker processes by pickle: only name and params go, runtime state stays."""

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"], state["params"])


def _merge_histograms(histograms: list[list[list[int]]]) -> list[list[int]]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        for size, count in histogram:
            merged[size] = merged.get(size, 0) + count
    return [[size, merged[size]] for size in sorted(merged)]


class _KeepParams(StepParams):
    keep: KeepPolicy = Field(
        "first",
        description="Which copy survives: first (by shard, row), longest (bytes), or highest keep_signal",
    )
    keep_signal: str | None = Field(
        None, description="Column (e.g. 'quality.score') whose highest value survives, with keep: signal"
    )

    @model_validator(mode="after")
    def _signal_needs_a_name(self):
        if self.keep == "signal" and not self.keep_signal:
            raise ValueError("keep: signal needs keep_signal (the column to maximise)")
        return self


def _priorities(params: _KeepParams, text: pa.Array, batch: pa.RecordBatch) -> pa.Array | None:
    if params.keep == "first":
        return None
    if params.keep == "longest":
        values = pc.binary_length(text)
    else:
        index = batch.schema.get_field_index(params.keep_signal)
        if index < 0:
            raise KeyError(
                f"keep_signal {params.keep_signal!r} is not a column of the rows reaching this step "
                f"(columns: {batch.schema.names})"
            )
        values = batch.column(index)
    return pc.fill_null(values.cast(pa.float64()), float("-inf"))


class _VerdictApplier:
    """Per-shard verdicts by row, consumed batch by batch in row order."""

    def __init__(self, verdicts: pa.RecordBatch, expected_rows: int | None) -> None:
        self.rows = verdicts.column("row").to_numpy()
        self.clusters = verdicts.column("cluster").to_numpy()
        self.sizes = verdicts.column("size").to_numpy()
        self.removed = verdicts.column("removed").to_numpy(zero_copy_only=False)
        self.expected_rows = expected_rows
        self.offset = 0
        self.cursor = 0

    def next_batch(self, num_rows: int) -> tuple[pa.Array, pa.Array, pa.Array]:
        """(cluster id or null, cluster size, removed) for the next `num_rows` rows."""
        import numpy as np

        start, end = self.offset, self.offset + num_rows
        lo = self.cursor
        hi = int(np.searchsorted(self.rows, end, side="left"))
        local = self.rows[lo:hi] - start
        cluster = np.full(num_rows, -1, dtype=np.int64)
        size = np.ones(num_rows, dtype=np.uint32)
        removed = np.zeros(num_rows, dtype=bool)
        cluster[local] = self.clusters[lo:hi]
        size[local] = self.sizes[lo:hi]
        removed[local] = self.removed[lo:hi]
        has_cluster = np.zeros(num_rows, dtype=bool)
        has_cluster[local] = True
        self.cursor, self.offset = hi, end
        cluster_array = pa.array(cluster, mask=~has_cluster)
        return cluster_array, pa.array(size), pa.array(removed)

    def check_complete(self, where: str) -> None:
        if self.expected_rows is not None and self.offset != self.expected_rows:
            raise AssertionError(
                f"{where}: the map saw {self.expected_rows} rows but the apply saw {self.offset}; "
                "the shard changed between stages"
            )
        if self.cursor != len(self.rows):
            raise AssertionError(f"{where}: verdicts for rows past the end of the shard")


def _verdict_decision(removed: pa.Array, reason: str) -> Decision:
    n = len(removed)
    reasons = pc.if_else(removed, pa.scalar(reason), pa.nulls(n, pa.string()))
    return Decision(keep=pc.invert(removed), reason=reasons)


# -- exact dedup ---------------------------------------------------------------------------------
class _VerdictApplyMixin:
    """The apply phase shared by exact and MinHash dedup: read this shard's verdicts (written by the
    reduce), hand out cluster signals batch by batch, drop the removed rows with `duplicate_reason`,
    and check at close that every verdict was consumed."""

    duplicate_reason: str

    def verdict_files(self, context: StepContext) -> list[str]:
        raise NotImplementedError

    def open(self, context: StepContext) -> None:
        shard = _shard_index(context)
        map_stats = context.work_dir / "map" / f"shard_{shard:06d}.json"
        expected = read_json(map_stats)["documents"] if map_stats.exists() else None
        verdicts = _core.shard_dup_verdicts(self.verdict_files(context), shard)
        self._applier = _VerdictApplier(verdicts, expected)
        self._where = f"{self.name} shard {context.shard_name}"

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        cluster, size, removed = self._applier.next_batch(len(text))
        self._removed = removed
        return pa.RecordBatch.from_arrays([cluster, size], names=["cluster_id", "cluster_size"])

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        return _verdict_decision(self._removed, self.duplicate_reason)

    def close(self) -> None:
        if getattr(self, "_applier", None) is not None:
            self._applier.check_complete(self._where)
            self._applier = None


class ExactDedupParams(_KeepParams):
    normalization: Literal["none", "whitespace", "minhash"] = Field(
        "whitespace",
        description="Text identity: as is, whitespace collapsed, or the MinHash normalisation",
    )
    buckets: int = Field(16, ge=1, le=65536, description="Reduce tasks; each holds 32 bytes x docs/buckets")


@register_step
class ExactDedup(_VerdictApplyMixin, _RuntimeStateMixin, GlobalStep):
    """Exact duplicates across all shards by a 128-bit hash of the normalised text; keeps one per group."""

    type = "exact_dedup"
    duplicate_reason = "duplicate"
    Params = ExactDedupParams
    params: ExactDedupParams

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("cluster_id", pa.int64()), pa.field("cluster_size", pa.uint32())]

    def reasons(self) -> list[str]:
        return [self.duplicate_reason]

    def reduce_phases(self) -> list[tuple[str, int]]:
        return [("buckets", self.params.buckets)]

    # map
    def map_start(self, context: StepContext) -> None:
        self._writer = _core.ExactShardWriter(
            str(context.work_dir / "hashes"),
            _shard_index(context),
            self.params.buckets,
            self.params.normalization,
        )

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        self._writer.add_batch(text, _priorities(self.params, text, batch))

    def map_finish(self, context: StepContext) -> None:
        stats = self._writer.finish()
        stats["shard_name"] = context.shard_name
        write_json_atomic(context.work_dir / "map" / f"shard_{_shard_index(context):06d}.json", stats)

    # reduce
    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        bucket_dir = context.work_dir / "hashes" / f"bucket_{task:05d}"
        files = sorted(str(p) for p in bucket_dir.glob("shard_*.bin")) if bucket_dir.exists() else []
        policy = "first" if self.params.keep == "first" else "highest"
        out = context.work_dir / "verdicts" / f"bucket_{task:05d}.bin"
        stats = _core.exact_reduce_bucket(files, policy, str(out))
        write_json_atomic(out.with_suffix(".json"), stats)

    # apply
    def verdict_files(self, context: StepContext) -> list[str]:
        verdict_dir = context.work_dir / "verdicts"
        return [str(verdict_dir / f"bucket_{b:05d}.bin") for b in range(self.params.buckets)]

    def summary(self, context: StepContext) -> dict[str, Any] | None:
        maps = [read_json(p) for p in sorted((context.work_dir / "map").glob("shard_*.json"))]
        reduces = [read_json(p) for p in sorted((context.work_dir / "verdicts").glob("bucket_*.json"))]
        if not maps:
            return None
        return {
            "documents": sum(m["documents"] for m in maps),
            "documents_empty_after_normalization": sum(m["skipped"] for m in maps),
            "text_bytes": sum(m["text_bytes"] for m in maps),
            "duplicate_groups": sum(r["groups"] for r in reduces),
            "documents_in_groups": sum(r["documents_in_groups"] for r in reduces),
            "removed": sum(r["removed"] for r in reduces),
            "group_size_histogram": _merge_histograms([r["size_histogram"] for r in reduces]),
        }


# -- MinHash dedup -------------------------------------------------------------------------------
class MinhashDedupParams(_KeepParams):
    ngram: int = Field(5, ge=1, description="Words per shingle")
    bands: int = Field(14, ge=1, description="LSH bands (buckets)")
    rows: int = Field(8, ge=1, description="Hashes per band")
    seed: int = Field(1, ge=0, lt=2**32, description="Seed of the hash functions (numpy RandomState)")
    datatrove_compatible: bool = Field(
        False,
        description="Reproduce datatrove's signatures bit for bit (its normalisation, spaCy words, xxhash); "
        "needs spaCy",
    )
    language: str = Field("en", description="spaCy language of the compatible mode's word splits")
    shingle_hash: Literal["xxh3", "xxhash", "sha1"] | None = Field(
        None, description="Shingle hash; default xxh3, or xxhash (datatrove's default) in compatible mode"
    )
    sketch: Literal["minhash", "one_permutation"] = Field(
        "minhash",
        description="minhash: bands x rows hash functions per shingle (exact MinHash, datatrove's); "
        "one_permutation: one hash per shingle over bands x rows slots, densified (same per-slot "
        "collision probability, several times faster; not datatrove-compatible)",
    )
    verify: bool = Field(
        False,
        description="Confirm candidate pairs by exact Jaccard of shingle sets, and remove a document only when it "
        "reaches the threshold against a kept one",
    )
    verify_threshold: float = Field(0.8, gt=0.0, le=1.0, description="Jaccard a verified pair must reach")
    lsh_partitions: int = Field(1, ge=1, le=4096, description="Tasks per band in the buckets stage (key ranges)")
    merge_fan_in: int = Field(512, ge=2, description="Sorted runs merged at once before an extra merge round")
    map_memory_mb: int = Field(1024, ge=16, description="Band records a map task holds before writing a run")

    @model_validator(mode="after")
    def _one_permutation_is_not_datatrove(self):
        if self.sketch == "one_permutation" and self.datatrove_compatible:
            raise ValueError(
                "sketch: one_permutation cannot be combined with datatrove_compatible: true (datatrove computes "
                "exact MinHash signatures); use sketch: minhash, or drop datatrove_compatible"
            )
        return self

    @property
    def effective_shingle_hash(self) -> str:
        if self.shingle_hash is not None:
            return self.shingle_hash
        return "xxhash" if self.datatrove_compatible else "xxh3"


class SpacyWordSplits:
    """Feeds spaCy's word splits to a compatible-mode `Minhasher`, one unique word at a time.

    spaCy tokenizes each whitespace-separated chunk on its own, so splitting the unique non-plain
    words of a batch gives exactly what spaCy gives on the whole text, at a fraction of the cost.
    """

    def __init__(self, minhasher: Any, language: str) -> None:
        try:
            import spacy
        except ImportError as err:
            raise ImportError("minhash_dedup with datatrove_compatible: true needs spaCy (pip install spacy)") from err
        self.minhasher = minhasher
        self.nlp = spacy.blank(language)
        self.tokenizer = self.nlp.tokenizer
        keys = [k for k in self.tokenizer.rules if k and " " not in k]
        if keys:
            normalized = _core.normalize_text(pa.array(keys, pa.large_string()), "datatrove").to_pylist()
            special = [k for k, n in zip(keys, normalized, strict=True) if k == n]
            self._learn(special)

    def _learn(self, words: list[str]) -> None:
        if not words:
            return
        tokens = [[t.text.strip() for t in self.tokenizer(w) if t.text.strip()] for w in words]
        self.minhasher.add_word_splits(words, tokens)

    def prepare(self, text: pa.Array) -> None:
        self._learn(self.minhasher.unknown_words(text))


@register_step
class MinhashDedup(_VerdictApplyMixin, _RuntimeStateMixin, GlobalStep):
    """Near duplicates by MinHash-LSH over word shingles, across all shards; keeps one per cluster."""

    type = "minhash_dedup"
    duplicate_reason = "near_duplicate"
    Params = MinhashDedupParams
    params: MinhashDedupParams

    def __init__(self, name: str, params: StepParams) -> None:
        super().__init__(name, params)
        self._minhasher = None
        self._splits = None

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field("cluster_id", pa.int64()), pa.field("cluster_size", pa.uint32())]

    def reasons(self) -> list[str]:
        return [self.duplicate_reason]

    def reduce_phases(self) -> list[tuple[str, int]]:
        return [("buckets", self.params.bands * self.params.lsh_partitions), ("clusters", 1)]

    def minhasher(self) -> Any:
        if self._minhasher is None:
            p = self.params
            self._minhasher = _core.Minhasher(
                ngram=p.ngram,
                bands=p.bands,
                rows=p.rows,
                seed=p.seed,
                datatrove_compatible=p.datatrove_compatible,
                shingle_hash=p.effective_shingle_hash,
                sketch=p.sketch,
            )
            if p.datatrove_compatible:
                self._splits = SpacyWordSplits(self._minhasher, p.language)
        return self._minhasher

    def signatures(self, text: pa.Array) -> pa.Array:
        """Signatures of a text column (null where a document has fewer words than `ngram`)."""
        minhasher = self.minhasher()
        if self._splits is not None:
            self._splits.prepare(text)
        return minhasher.signatures(text)

    # map
    def map_start(self, context: StepContext) -> None:
        p = self.params
        work = context.work_dir
        self._writer = _core.MinhashShardWriter(
            str(work / "bands"),
            _shard_index(context),
            p.bands,
            p.map_memory_mb * 1024 * 1024,
            str(work / "shingles") if p.verify else None,
            str(work / "priority") if p.keep != "first" else None,
        )
        for sub in ("shingles", "priority"):
            (work / sub).mkdir(parents=True, exist_ok=True)

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        minhasher = self.minhasher()
        if self._splits is not None:
            self._splits.prepare(text)
        self._writer.add_batch(minhasher, text, _priorities(self.params, text, batch))

    def map_finish(self, context: StepContext) -> None:
        stats = self._writer.finish()
        stats["shard_name"] = context.shard_name
        write_json_atomic(context.work_dir / "map" / f"shard_{_shard_index(context):06d}.json", stats)

    # reduce
    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        work = context.work_dir
        p = self.params
        if phase == "buckets":
            band, part = divmod(task, p.lsh_partitions)
            band_dir = work / "bands" / f"band_{band:03d}"
            files = sorted(str(f) for f in band_dir.glob("shard_*.bin")) if band_dir.exists() else []
            tmp = work / "tmp" / f"band_{band:03d}_part_{part:05d}"  # merge rounds of this task only
            tmp.mkdir(parents=True, exist_ok=True)
            out = work / "pairs" / f"band_{band:03d}_part_{part:05d}.bin"
            stats = _core.minhash_find_pairs(
                files,
                part,
                p.lsh_partitions,
                p.merge_fan_in,
                str(tmp),
                str(out),
                str(work / "shingles") if p.verify else None,
                p.verify_threshold,
            )
            write_json_atomic(out.with_suffix(".json"), stats)
        elif phase == "clusters":
            pair_files = sorted(str(f) for f in (work / "pairs").glob("band_*.bin"))
            stats = _core.cluster_pairs(
                pair_files,
                "first" if p.keep == "first" else "highest",
                str(work / "clusters.bin"),
                str(work / "priority") if p.keep != "first" else None,
                str(work / "shingles") if p.verify else None,
                p.verify_threshold,
            )
            write_json_atomic(work / "clusters.json", stats)
        else:
            raise ValueError(f"unknown phase {phase!r}")

    # apply
    def verdict_files(self, context: StepContext) -> list[str]:
        return [str(context.work_dir / "clusters.bin")]

    def summary(self, context: StepContext) -> dict[str, Any] | None:
        work = context.work_dir
        maps = [read_json(p) for p in sorted((work / "map").glob("shard_*.json"))]
        if not maps:
            return None
        buckets = [read_json(p) for p in sorted((work / "pairs").glob("band_*.json"))]
        clusters = read_json(work / "clusters.json") if (work / "clusters.json").exists() else {}
        return {
            "documents": sum(m["documents"] for m in maps),
            "documents_without_signature": sum(m["skipped"] for m in maps),
            "text_bytes": sum(m["text_bytes"] for m in maps),
            "candidate_pairs": sum(b["candidate_pairs"] for b in buckets),
            "verified_pairs": sum(b["verified_pairs"] for b in buckets) if self.params.verify else None,
            "rejected_pairs": sum(b["rejected_pairs"] for b in buckets) if self.params.verify else None,
            "largest_band_group": max((b["largest_group"] for b in buckets), default=0),
            "kept_apart_by_verification": clusters.get("refined_out") if self.params.verify else None,
            "clusters": clusters.get("clusters", 0),
            "documents_in_clusters": clusters.get("documents_in_clusters", 0),
            "removed": clusters.get("removed", 0),
            "largest_cluster": clusters.get("largest_cluster", 0),
            "cluster_size_histogram": clusters.get("size_histogram", []),
        }


# -- Bloom-filter dedup --------------------------------------------------------------------------
class BloomDedupParams(StepParams):
    expected_ngrams: int = Field(
        100_000_000,
        gt=0,
        description="Distinct n-grams one filter will insert (sizes it): one shard's, or one group's "
        "with shards_per_filter other than 1",
    )
    fp_rate: float = Field(0.01, gt=0.0, lt=1.0, description="Target false-positive rate at expected_ngrams")
    ngram: int = Field(13, ge=1, description="Tokens per n-gram")
    min_ngram: int | None = Field(
        None, ge=1, description="Units with fewer tokens than ngram but at least this many count as one n-gram"
    )
    threshold: float = Field(0.8, ge=0.0, le=1.0, description="A unit is a duplicate above this share of seen n-grams")
    unit: Literal["line", "paragraph"] = Field("line", description="line: split at \\n (DCLM); paragraph: blank lines")
    mode: Literal["old_both", "units", "document"] = Field(
        "old_both", description="old_both: document check, then units (DCLM); units only; document only"
    )
    warn_over_fp_rate: float = Field(0.05, gt=0.0, lt=1.0, description="Warn when the filter's rate passes this")
    shards_per_filter: int | None = Field(
        1,
        ge=0,
        description="Shards sharing one filter, in shard order: 1 = one filter per shard (a per-batch step, "
        "copies in different shards are not compared); N = consecutive groups of N shards; 0 or null = the "
        "whole corpus. Above 1 the step is global: a map writes token hashes (8 bytes a token), one reduce "
        "task per group streams its shards through the filter, an apply rewrites each shard",
    )


_BLOOM_TOTALS = (
    "documents",
    "tokens",
    "duplicate_documents",
    "all_units_duplicate",
    "rewritten",
    "units",
    "removed_units",
    "removed_chars",
)


@register_step
class BloomDedup(_RuntimeStateMixin, GlobalStep):
    """Bloom-filter n-gram dedup of lines and documents (DCLM BFF old-both), per shard or across shards.

    The filter is updated as documents stream past in (shard index, row) order, so the first copy
    survives. With `shards_per_filter: 1` (the default) each task (shard) has its own filter and
    the step runs per batch like any other step: copies in different shards are not compared.
    With `shards_per_filter: N` (or 0/null for the whole corpus) the step is global: the map
    writes each row's units and token hashes, one reduce task per group streams the group's
    shards in shard order through one filter and writes a verdict per row, and the apply rewrites
    or drops each shard's rows from its verdicts. The result is exactly that of the per-shard
    code run over the group's shards one after the other, with any number of workers.

    Work directory (global only):

        tokens/shard_SSSSSS.bin     map: per row, units (token and char counts) and xxh3-64 token hashes
        map/shard_SSSSSS.json       map counts (documents, tokens, units, bytes)
        verdicts/shard_SSSSSS.bin   reduce: per row, the document verdict and the removed units
        verdicts/shard_SSSSSS.json  per-shard counts
        groups/group_GGGGG.json     per group: its shards, filter size, n-grams inserted, final rate
    """

    type = "bloom_dedup"
    Params = BloomDedupParams
    params: BloomDedupParams
    #: Per shard by default; an instance with `shards_per_filter` other than 1 is global.
    is_global = False

    def __init__(self, name: str, params: StepParams) -> None:
        super().__init__(name, params)
        self.is_global = self.params.shards_per_filter != 1
        self._filter = None
        self._verdicts = None
        self._writer = None

    def signal_fields(self) -> list[pa.Field]:
        return [
            pa.field("duplicate_ngram_fraction", pa.float64()),
            pa.field("removed_units", pa.uint32()),
            pa.field("removed_chars", pa.uint64()),
        ]

    def reasons(self) -> list[str]:
        return ["duplicate_document", "all_units_duplicate"]

    def _new_filter(self) -> Any:
        p = self.params
        return _core.BloomDedup(
            p.expected_ngrams,
            p.fp_rate,
            ngram=p.ngram,
            min_ngram=p.min_ngram or p.ngram,
            threshold=p.threshold,
            unit=p.unit,
            mode=p.mode,
        )

    def _log_filter(self, where: str, extra: str = "") -> None:
        log.info(
            "%s [%s]: Bloom filter of %.1f MiB, %d hashes; expected false-positive rate %.2g at %s n-grams%s",
            self.name,
            where,
            self._filter.memory_bytes / 2**20,
            self._filter.num_hashes,
            self._filter.false_positive_rate(self.params.expected_ngrams),
            f"{self.params.expected_ngrams:,}",
            extra,
        )

    def _warn_over_full(self, where: str) -> None:
        log.warning(
            "%s [%s]: Bloom filter over-full: %s n-grams inserted (expected %s), false-positive rate now "
            "%.3f; raise expected_ngrams or lower fp_rate",
            self.name,
            where,
            f"{self._filter.inserted:,}",
            f"{self.params.expected_ngrams:,}",
            self._filter.false_positive_rate(self._filter.inserted),
        )

    # -- groups of shards ---------------------------------------------------------------------
    def groups(self, num_shards: int) -> list[range]:
        """The shards of each filter, in order: consecutive runs of `shards_per_filter` shards."""
        size = self.params.shards_per_filter or num_shards
        if num_shards == 0:
            return [range(0)]
        return [range(first, min(first + size, num_shards)) for first in range(0, num_shards, size)]

    def reduce_phases_for(self, num_shards: int) -> list[tuple[str, int]]:
        return [("groups", len(self.groups(num_shards)))]

    def reduce_phases(self) -> list[tuple[str, int]]:
        if not self.params.shards_per_filter:
            return [("groups", 1)]
        raise ValueError(
            f"{self.name}: with shards_per_filter: {self.params.shards_per_filter} the number of reduce tasks "
            "depends on the number of shards (use reduce_phases_for)"
        )

    @staticmethod
    def _tokens_path(work: Path, shard: int) -> Path:
        return work / "tokens" / f"shard_{shard:06d}.bin"

    @staticmethod
    def _map_path(work: Path, shard: int) -> Path:
        return work / "map" / f"shard_{shard:06d}.json"

    @staticmethod
    def _verdicts_path(work: Path, shard: int) -> Path:
        return work / "verdicts" / f"shard_{shard:06d}.bin"

    # -- map (global) ---------------------------------------------------------------------------
    def map_start(self, context: StepContext) -> None:
        path = self._tokens_path(context.work_dir, _shard_index(context))
        self._writer = _core.BloomShardWriter(str(path), unit=self.params.unit, mode=self.params.mode)

    def map_batch(self, context: StepContext, text: pa.Array, batch: pa.RecordBatch) -> None:
        self._writer.add_batch(text)

    def map_finish(self, context: StepContext) -> None:
        stats = self._writer.finish()
        self._writer = None
        stats["shard_name"] = context.shard_name
        write_json_atomic(self._map_path(context.work_dir, _shard_index(context)), stats)

    # -- reduce (global): one task per group, shards in order through one filter ----------------
    def reduce(self, context: StepContext, phase: str, task: int) -> None:
        if phase != "groups":
            raise ValueError(f"unknown phase {phase!r}")
        work = context.work_dir
        shards = self.groups(context.num_shards)[task]
        maps = {}
        for shard in shards:
            path = self._map_path(work, shard)
            if not path.exists():
                raise RuntimeError(f"{self.name}: no map output for shard {shard} ({path}); rerun the map stage first")
            maps[shard] = read_json(path)
        where = f"group {task}: shards {shards.start}-{shards.stop - 1}" if shards else f"group {task}: no shards"
        self._filter = self._new_filter()
        tokens = sum(m["tokens"] for m in maps.values())
        self._log_filter(where, f"; {tokens:,} tokens from the map")
        p = self.params
        totals = dict.fromkeys(_BLOOM_TOTALS, 0)
        over_full = None
        for shard in shards:
            out = self._verdicts_path(work, shard)
            stats = self._filter.reduce_shard(str(self._tokens_path(work, shard)), str(out), p.warn_over_fp_rate)
            if stats["documents"] != maps[shard]["documents"]:
                raise AssertionError(
                    f"{self.name} shard {shard}: the map counted {maps[shard]['documents']} rows but its token "
                    f"file holds {stats['documents']}"
                )
            if over_full is None and stats["over_full_at_row"] is not None:
                over_full = {"shard": shard, "row": stats["over_full_at_row"]}
                self._warn_over_full(f"{where}, from shard {shard} row {stats['over_full_at_row']}")
            stats.update(shard_name=maps[shard]["shard_name"], group=task, bytes=out.stat().st_size)
            write_json_atomic(out.with_suffix(".json"), stats)
            for key in _BLOOM_TOTALS:
                totals[key] += stats[key]
        write_json_atomic(
            work / "groups" / f"group_{task:05d}.json",
            {
                "group": task,
                "shards": [shards.start, shards.stop],
                "filter_bytes": self._filter.memory_bytes,
                "num_hashes": self._filter.num_hashes,
                "expected_ngrams": p.expected_ngrams,
                "inserted_ngrams": self._filter.inserted,
                "false_positive_rate_at_end": self._filter.false_positive_rate(self._filter.inserted),
                "over_full_from": over_full,
                **totals,
            },
        )
        self._filter = None

    # -- per batch: the filter itself (per shard) or the verdicts (global) -------------------
    def open(self, context: StepContext) -> None:
        self._where = context.shard_name or "table"
        if self.is_global:
            self._open_verdicts(context)
            return
        self._filter = self._new_filter()
        self._warned = False
        self._log_filter(self._where)

    def _open_verdicts(self, context: StepContext) -> None:
        if context.shard_index is None:
            raise RuntimeError(
                f"{self.name}: bloom_dedup with shards_per_filter: {self.params.shards_per_filter} is a global step "
                "(map, reduce, apply) and needs the pipeline's stages (filter run, Pipeline.run_table); "
                "use shards_per_filter: 1 to run it on its own"
            )
        work, shard = context.work_dir, context.shard_index
        self._where = f"{self.name} shard {context.shard_name}"
        map_path, verdicts = self._map_path(work, shard), self._verdicts_path(work, shard)
        if not map_path.exists() or not verdicts.exists() or not verdicts.with_suffix(".json").exists():
            raise RuntimeError(
                f"{self._where}: no verdicts at {verdicts}; the map and groups stages must run before the apply"
            )
        expected = read_json(map_path)["documents"]
        written = read_json(verdicts.with_suffix(".json"))["documents"]
        if written != expected:
            raise AssertionError(f"{self._where}: the map saw {expected} rows but the reduce wrote {written} verdicts")
        self._expected_rows = expected
        self._verdicts = _core.BloomVerdictReader(str(verdicts), unit=self.params.unit, mode=self.params.mode)

    def _check_fill(self) -> None:
        rate = self._filter.false_positive_rate(self._filter.inserted)
        if not self._warned and rate > self.params.warn_over_fp_rate:
            self._warned = True
            self._warn_over_full(self._where)

    def compute_signals(self, text: pa.Array, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.is_global:
            if self._verdicts is None:
                raise RuntimeError(f"{self.name}: open() the step before its first batch")
            outcome = self._verdicts.next_batch(text)
        else:
            if self._filter is None:
                self.open(StepContext(work_dir=Path(".")))
            outcome = self._filter.process(text)
            self._check_fill()
        self._outcome = outcome
        self._text = text
        return pa.RecordBatch.from_arrays(
            [
                outcome.column("duplicate_ngram_fraction"),
                outcome.column("removed_units"),
                outcome.column("removed_chars"),
            ],
            names=["duplicate_ngram_fraction", "removed_units", "removed_chars"],
        )

    def decide(self, signals: pa.RecordBatch, batch: pa.RecordBatch) -> Decision:
        o = self._outcome
        n = o.num_rows
        all_units = pc.and_(pc.greater(o.column("units"), 0), pc.equal(o.column("removed_units"), o.column("units")))
        reason = pc.if_else(o.column("document_duplicate"), pa.scalar("duplicate_document"), pa.nulls(n, pa.string()))
        reason = pc.if_else(pc.and_(all_units, pc.is_null(reason)), pa.scalar("all_units_duplicate"), reason)
        original = self._text
        new_text = o.column("text")
        text = None
        if new_text.null_count < n:
            text = pc.if_else(pc.is_null(new_text), original.cast(pa.large_string()), new_text).cast(original.type)
        return Decision(keep=pc.is_null(reason), reason=reason, text=text)

    def close(self) -> None:
        if self._verdicts is not None:
            reader, self._verdicts = self._verdicts, None
            rows = reader.finish()  # an error when verdicts are left over
            if rows != self._expected_rows:
                raise AssertionError(
                    f"{self._where}: the map saw {self._expected_rows} rows but the apply saw {rows}; "
                    "the shard changed between stages"
                )
        if self._filter is not None:
            if not self.is_global:
                self._check_fill()
            self._filter = None

    def summary(self, context: StepContext) -> dict[str, Any] | None:
        if not self.is_global:
            return None
        work = context.work_dir
        maps = [read_json(f) for f in sorted((work / "map").glob("shard_*.json"))]
        if not maps:
            return None
        groups = [read_json(f) for f in sorted((work / "groups").glob("group_*.json"))]
        tokens = sum(m["tokens"] for m in maps)
        map_bytes = sum(m["bytes"] for m in maps)
        return {
            "groups": len(groups),
            "shards": len(maps),
            "documents": sum(m["documents"] for m in maps),
            "tokens": tokens,
            "text_bytes": sum(m["text_bytes"] for m in maps),
            "map_bytes": map_bytes,
            "map_bytes_per_token": round(map_bytes / tokens, 3) if tokens else None,
            "verdict_bytes": sum(read_json(f)["bytes"] for f in sorted((work / "verdicts").glob("shard_*.json"))),
            **{key: sum(g[key] for g in groups) for key in _BLOOM_TOTALS if key not in ("documents", "tokens")},
            "filter_bytes_per_group": max((g["filter_bytes"] for g in groups), default=0),
            "inserted_ngrams": sum(g["inserted_ngrams"] for g in groups),
            "largest_false_positive_rate": max((g["false_positive_rate_at_end"] for g in groups), default=0.0),
            "over_full_groups": sum(1 for g in groups if g["over_full_from"] is not None),
        }
