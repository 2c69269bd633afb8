"""Dedup: quality on planted near duplicates, Reuters, agreement with datatrove, speed, memory.

    python benchmarks/dedup.py            # every section, small sizes (a few minutes on 2 cores)
    python benchmarks/dedup.py --full     # larger corpora
    python benchmarks/dedup.py --only quality,speed
    python benchmarks/dedup.py --only quality,rensa --sketch one_permutation
    python benchmarks/dedup.py --only bloom

Sections (peers measured in the same run, one core: RAYON_NUM_THREADS=1 unless --threads):
  quality   real documents from ../shared/data plus copies edited to known Jaccard levels (exact
            Jaccard of 5-gram shingle sets); recall for pairs with J >= 0.8 and pair precision,
            with and without verification. Targets: recall >= 0.95, precision >= 0.99 (verified).
            --sketch one_permutation measures the one-permutation sketch instead of exact MinHash.
  reuters   natural exact and near duplicates in Reuters-21578.
  agreement datatrove 0.10.1's four MinHash stages vs minhash_dedup with datatrove_compatible: true
            on the same input: identical signatures and identical duplicate clusters.
  speed     the four stages end to end (docs/s, MB/s per stage) vs datatrove's four stages (target
            >= 50x), and signatures from the same shingle hashes vs rensa (target >= 1x), both
            exact MinHash and the one-permutation sketch.
  rensa     only the signature comparison with rensa (part of speed).
  memory    peak RSS of the cluster stage for two corpus sizes and two duplicate counts.
  bloom     bloom_dedup on real web text in 8 shards with lines and documents planted into later
            shards: how many are found with one filter per shard, per group and for the corpus, and
            docs/s of the map, groups and apply stages (not in the default set: --only bloom).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if "--threads" not in sys.argv:
    # Assigned, not defaulted: an inherited RAYON_NUM_THREADS would silently un-pin both tools.
    os.environ["RAYON_NUM_THREADS"] = "1"

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "python"))
SHARED = Path(os.environ.get("THRESHER_SHARED_DATA", REPO.parent / "shared" / "data"))

from thresher import _core  # noqa: E402
from thresher.api import Pipeline  # noqa: E402
from thresher.config import parse_pipeline  # noqa: E402
from thresher.executors.local import LocalExecutor  # noqa: E402
from thresher.stages import Plan  # noqa: E402

NGRAM = 5
LEVELS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0]


# -- corpora -------------------------------------------------------------------------------------
def web_texts(limit: int | None = None) -> list[str]:
    """The web text of measured.md: raw HTML text, CC samples, DCLM human-labelled docs."""
    texts = pq.read_table(SHARED / "web_html_boilerplate" / "web_html_boilerplate.parquet", columns=["raw_text"])
    out = texts.column(0).to_pylist()
    out += pq.read_table(SHARED / "cc_misc_samples" / "cc_misc_samples.parquet", columns=["text"]).column(0).to_pylist()
    out += (
        pq.read_table(SHARED / "dclm_human_quality" / "dclm_human_quality.parquet", columns=["text"])
        .column(0)
        .to_pylist()
    )
    out = [t for t in out if t and t.strip()]
    return out[:limit] if limit else out


def shingle_sets(texts: list[str]) -> list[frozenset[int]]:
    m = _core.Minhasher(ngram=NGRAM)
    return [frozenset(s) for s in m.shingles(pa.array(texts, pa.large_string())).to_pylist()]


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def edited_copy(text: str, target: float, rng: random.Random, vocabulary: list[str]) -> tuple[str, float]:
    """A copy with words replaced until its shingle Jaccard with `text` is close to `target`."""
    words = text.split()
    original = shingle_sets([text])[0]
    positions = list(range(len(words)))
    rng.shuffle(positions)
    lo, hi, best = 0, len(words), (text, 1.0)
    for _ in range(12):
        k = (lo + hi) // 2
        copy = list(words)
        for p in positions[:k]:
            copy[p] = rng.choice(vocabulary)
        candidate = " ".join(copy)
        j = jaccard(original, shingle_sets([candidate])[0])
        if abs(j - target) < abs(best[1] - target):
            best = (candidate, j)
        if j > target:
            lo = k + 1
        else:
            hi = k
        if lo >= hi:
            break
    return best


def run_minhash(texts: list[str], **params) -> dict[int, int | None]:
    """Row -> cluster id (None when the row has no duplicate) from a real minhash_dedup run."""
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.large_string())})
    result = Pipeline.from_steps([{"type": "minhash_dedup", **params}]).run_table(table)
    clusters: dict[int, int | None] = {}
    for part in (result.kept, result.rejected):
        if part.num_rows and "minhash_dedup.cluster_id" in part.schema.names:
            for doc_id, cluster in zip(
                part["id"].to_pylist(), part["minhash_dedup.cluster_id"].to_pylist(), strict=True
            ):
                clusters[int(doc_id)] = cluster
    return clusters


def cluster_pairs_of(clusters: dict[int, int | None]) -> set[tuple[int, int]]:
    members: dict[int, list[int]] = {}
    for row, c in clusters.items():
        if c is not None:
            members.setdefault(c, []).append(row)
    pairs = set()
    for rows in members.values():
        rows.sort()
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                pairs.add((a, b))
    return pairs


# -- sections ------------------------------------------------------------------------------------
def section_quality(args) -> dict:
    print(f"\n## Quality: planted near duplicates in real text (5-gram shingles, 14 x 8, sketch: {args.sketch})")
    rng = random.Random(7)
    originals = [t for t in web_texts() if len(t.split()) >= 120]
    # Drop natural exact repeats among the originals so that planted pairs are the ground truth.
    seen, unique = set(), []
    for t in originals:
        key = " ".join(t.split())
        if key not in seen:
            seen.add(key)
            unique.append(t)
    originals = unique[: (1500 if args.full else 600)]
    vocabulary = sorted({w for t in originals[:200] for w in t.split()})
    copies, targets = [], []
    for i, text in enumerate(originals[: len(originals) // 2 if not args.full else 900]):
        target = LEVELS[i % len(LEVELS)]
        copy, j = edited_copy(text, target, rng, vocabulary)
        copies.append((i, copy, j))
        targets.append(target)
    texts = originals + [c for _, c, _ in copies]
    sets = shingle_sets(texts)
    planted = {(i, len(originals) + k): j for k, (i, _, j) in enumerate(copies)}
    results = {}
    for verify in (False, True):
        started = time.perf_counter()
        clusters = run_minhash(texts, verify=verify, sketch=args.sketch)
        seconds = time.perf_counter() - started
        predicted = cluster_pairs_of(clusters)
        true_j = {p: jaccard(sets[p[0]], sets[p[1]]) for p in predicted}
        pair_precision = sum(j >= 0.8 for j in true_j.values()) / len(true_j) if true_j else 1.0
        # A removal is right when the removed document's exact Jaccard with the copy kept for
        # its cluster (the cluster id is the kept document's key; one shard, so key = row) is >= 0.8.
        removals = [(row, c & 0xFFFFFFFF) for row, c in clusters.items() if c is not None and row != c & 0xFFFFFFFF]
        removal_j = [jaccard(sets[row], sets[kept]) for row, kept in removals]
        precision = sum(j >= 0.8 for j in removal_j) / len(removal_j) if removal_j else 1.0
        precision_07 = sum(j >= 0.7 for j in removal_j) / len(removal_j) if removal_j else 1.0
        found = {p: (p in predicted) for p in planted}
        high = [found[p] for p, j in planted.items() if j >= 0.8]
        recall = sum(high) / len(high) if high else 0.0
        by_level = {}
        for level_lo, level_hi in [
            (0.45, 0.55),
            (0.55, 0.65),
            (0.65, 0.72),
            (0.72, 0.78),
            (0.78, 0.83),
            (0.83, 0.88),
            (0.88, 0.93),
            (0.93, 0.99),
            (0.99, 1.01),
        ]:
            hits = [found[p] for p, j in planted.items() if level_lo <= j < level_hi]
            if hits:
                by_level[f"{level_lo:.2f}-{min(level_hi, 1.0):.2f}"] = (sum(hits) / len(hits), len(hits))
        name = "verified" if verify else "lsh only"
        results[name] = {
            "recall_j_ge_0.8": recall,
            "pairs_j_ge_0.8": len(high),
            "removal_precision_j_ge_0.8": precision,
            "removal_precision_j_ge_0.7": precision_07,
            "removed": len(removals),
            "pair_precision_j_ge_0.8": pair_precision,
            "predicted_pairs": len(predicted),
            "seconds": seconds,
            "recall_by_jaccard": by_level,
        }
        print(
            f"  {name:9s}: recall(J>=0.8) {recall:.3f} over {len(high)} planted pairs; removal precision "
            f"(J>=0.8 with the kept copy) {precision:.4f} over {len(removals)} removed (J>=0.7: {precision_07:.4f}); "
            f"all same-cluster pairs with J>=0.8: {pair_precision:.4f} of {len(predicted)}"
        )
        print(
            "             found by measured J: " + ", ".join(f"{k}: {v[0]:.2f} (n={v[1]})" for k, v in by_level.items())
        )
    print(f"  corpus: {len(originals)} originals + {len(copies)} edited copies")
    ok = results["verified"]["recall_j_ge_0.8"] >= 0.95 and results["verified"]["removal_precision_j_ge_0.8"] >= 0.99
    print(f"  target (recall >= 0.95, precision >= 0.99 verified): {'MET' if ok else 'NOT MET'}")
    return results


def run_plan(texts: list[str], workdir: Path, steps: list[dict], shards: int = 1) -> tuple[Plan, object]:
    src = workdir / "in"
    src.mkdir(parents=True, exist_ok=True)
    per = (len(texts) + shards - 1) // shards
    for s in range(shards):
        chunk = texts[s * per : (s + 1) * per]
        pq.write_table(
            pa.table({"id": [f"{s}-{i}" for i in range(len(chunk))], "text": pa.array(chunk, pa.large_string())}),
            src / f"part{s:03d}.parquet",
        )
    raw = {
        "input": {"paths": [f"{src}/*.parquet"]},
        "steps": steps,
        "output": {"path": str(workdir / "out"), "rejected": True, "keep_signals": True},
    }
    plan = Plan.create(parse_pipeline(raw, "<bench>"))
    summary = LocalExecutor(workers=1, quiet=True).run(plan, force=True)
    if not summary.ok:
        raise RuntimeError("; ".join(e.message for e in summary.errors))
    return plan, summary


def section_reuters(args) -> dict:
    print("\n## Reuters-21578: natural duplicates")
    table = pq.read_table(SHARED / "news_reuters21578" / "reuters21578.parquet", columns=["text"])
    texts = [t or "" for t in table.column(0).to_pylist()]
    with tempfile.TemporaryDirectory() as tmp:
        _, summary = run_plan(
            texts,
            Path(tmp),
            [
                {"type": "exact_dedup", "normalization": "whitespace"},
                {"type": "minhash_dedup", "verify": True, "sketch": args.sketch},
            ],
        )
    exact, minhash = summary.stats["steps"]
    e, m = exact["summary"], minhash["summary"]
    print(
        f"  {len(texts):,} documents: exact duplicates {e['removed']:,} removed in {e['duplicate_groups']:,} groups "
        f"({e['documents_empty_after_normalization']:,} empty, never removed)"
    )
    print(
        f"  then near duplicates (verified J >= 0.8): {m['removed']:,} removed in {m['clusters']:,} clusters "
        f"(largest {m['largest_cluster']}); {m['documents_without_signature']:,} under 5 words have no signature; "
        f"{m['candidate_pairs']:,} candidate pairs, {m['rejected_pairs']:,} rejected by verification"
    )
    print(f"  near-duplicate cluster sizes: {m['cluster_size_histogram']}")
    return {"exact": e, "minhash": m}


def datatrove_four_stages(texts_path: Path, workdir: Path) -> tuple[dict[str, float], dict[int, int]]:
    """Runs datatrove's MinHash stages on one core; returns seconds per stage and doc -> cluster."""
    from loguru import logger

    logger.remove()
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    cfg = MinhashConfig()
    w = str(workdir)
    folder = str(texts_path.parent)
    stages = {
        "signatures": ([ParquetReader(folder), MinhashDedupSignature(f"{w}/sigs", config=cfg, language="en")], 1),
        "buckets": ([MinhashDedupBuckets(f"{w}/sigs", f"{w}/buckets", config=cfg)], cfg.num_buckets),
        "clusters": ([MinhashDedupCluster(f"{w}/buckets", f"{w}/remove", config=cfg, save_cluster_id=True)], 1),
        "filter": (
            [
                ParquetReader(folder),
                MinhashDedupFilter(f"{w}/remove", load_cluster_ids=True),
                ParquetWriter(f"{w}/out"),
            ],
            1,
        ),
    }
    seconds = {}
    for name, (pipeline, tasks) in stages.items():
        started = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=f"{w}/logs_{name}").run()
        seconds[name] = time.perf_counter() - started
    clusters = {}
    path = workdir / "remove" / "000000.clusters"
    if path.exists():
        raw = path.read_bytes()
        import struct

        for doc, cluster in struct.iter_unpack("<2I", raw):
            clusters[doc] = cluster
    return seconds, clusters


def partition(clusters: dict[int, int]) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for doc, c in clusters.items():
        groups.setdefault(c, set()).add(doc)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


def agreement_corpus(args) -> list[str]:
    texts = web_texts(None if args.full else 1200)
    rng = random.Random(3)
    vocabulary = sorted({w for t in texts[:100] for w in t.split()})
    extra = []
    for i, t in enumerate(texts[:200]):
        if len(t.split()) > 60:
            extra.append(edited_copy(t, LEVELS[i % len(LEVELS)], rng, vocabulary)[0])
    return texts + extra


def thresher_clusters(workdir: Path, step: str = "minhash_dedup") -> dict[int, int]:
    import numpy as np

    from thresher.dedup_report import VERDICT

    records = np.fromfile(workdir / "out" / "_thresher" / "work" / "steps" / step / "clusters.bin", dtype=VERDICT)
    return {int(r["doc"]) & 0xFFFFFFFF: int(r["cluster"]) for r in records}


def section_agreement_and_speed(args, sections: set[str]) -> dict:
    results: dict = {}
    texts = agreement_corpus(args)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # datatrove needs a Parquet folder of its own (its reader takes a folder).
        dt_in = tmp / "dt_in"
        dt_in.mkdir()
        pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), dt_in / "part.parquet")
        print(f"\n## datatrove 0.10.1 four MinHash stages on one core ({len(texts):,} docs, {mb:.1f} MB)")
        dt_seconds, dt_clusters = datatrove_four_stages(dt_in / "part.parquet", tmp / "dt")
        for name, s in dt_seconds.items():
            print(f"  datatrove {name:10s} {s:8.2f} s  {len(texts) / s:10,.0f} docs/s  {mb / s:8.2f} MB/s")
        dt_total = sum(dt_seconds.values())

        if "agreement" in sections:
            print("\n## Agreement: datatrove_compatible: true")
            started = time.perf_counter()
            _, summary = run_plan(texts, tmp / "compat", [{"type": "minhash_dedup", "datatrove_compatible": True}])
            compat_seconds = time.perf_counter() - started
            ours = partition(thresher_clusters(tmp / "compat"))
            theirs = partition(dt_clusters)
            same = ours == theirs
            removed_ours = summary.stats["steps"][0]["summary"]["removed"]
            removed_theirs = sum(len(g) - 1 for g in theirs)
            print(
                f"  clusters: thresher {len(ours)}, datatrove {len(theirs)}; identical partition: {same}; "
                f"removed: {removed_ours} vs {removed_theirs} "
                f"(compatible run {compat_seconds:.1f} s incl. spaCy import)"
            )
            if not same:
                print(f"  only thresher: {len(ours - theirs)}, only datatrove: {len(theirs - ours)}")
            sig_check = compare_signatures(texts[:300])
            print(f"  signatures equal to datatrove's on {sig_check[0]} of {sig_check[1]} documents")
            results["agreement"] = {
                "identical_clusters": same,
                "clusters": len(ours),
                "removed": [removed_ours, removed_theirs],
                "signatures_equal": sig_check,
            }

        if "speed" in sections:
            print(
                "\n## Speed: Thresher's four stages on one core "
                f"(RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS')})"
            )
            runs = []
            for _ in range(args.repeats):
                _, summary = run_plan(texts, tmp / "speed", [{"type": "minhash_dedup"}])
                runs.append({s["name"]: s["seconds"] for s in summary.stages})
            stage_seconds = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
            labels = {
                "segment0": "signatures",
                "minhash_dedup.buckets": "buckets",
                "minhash_dedup.clusters": "clusters",
                "segment1": "filter",
            }
            for name, s in stage_seconds.items():
                print(
                    f"  thresher  {labels.get(name, name):10s} {s:8.3f} s  {len(texts) / s:10,.0f} docs/s  "
                    f"{mb / s:8.1f} MB/s   vs datatrove {dt_seconds[labels[name]] / s:8.1f}x"
                )
            total = sum(stage_seconds.values())
            ratio = dt_total / total
            print(
                f"  end to end: thresher {total:.2f} s, datatrove {dt_total:.2f} s: {ratio:.1f}x "
                f"(target >= 50x: {'MET' if ratio >= 50 else 'NOT MET'})"
            )
            results["speed"] = {
                "docs": len(texts),
                "mb": mb,
                "datatrove_seconds": dt_seconds,
                "thresher_seconds": {labels[k]: v for k, v in stage_seconds.items()},
                "ratio": ratio,
            }
            results["signatures_vs_rensa"] = signatures_vs_rensa(texts, args)
    return results


def compare_signatures(texts: list[str]) -> tuple[int, int]:
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    from thresher.steps.dedup import MinhashDedup, MinhashDedupParams

    reference = MinhashDedupSignature(output_folder=tempfile.mkdtemp(), config=MinhashConfig())
    ours = MinhashDedup("m", MinhashDedupParams(datatrove_compatible=True)).signatures(pa.array(texts)).to_pylist()
    equal = 0
    for text, sig in zip(texts, ours, strict=True):
        shingles = reference.get_shingles(text)
        expected = None if shingles.size == 0 else [v for band in reference.get_signature(shingles) for v in band]
        equal += sig == expected
    return equal, len(texts)


def signatures_vs_rensa(texts: list[str], args) -> dict:
    """Thresher's kernel vs rensa's RMinHash on the same shingle hashes, both producing a full
    documents x 112 matrix on one core (both read RAYON_NUM_THREADS, set above).

    The work differs: Thresher evaluates all 112 universal hash functions mod 2^61 - 1 on every
    shingle (datatrove's signatures, bit for bit). rensa 0.5's RMinHash digest is a bucketed
    one-permutation sketch (a few mixed hashes per token scattered over the 112 slots, per-slot
    hashing only for slots left empty), so its cost hardly depends on the number of
    permutations; the 16-permutation line shows it.
    """
    import numpy as np
    import rensa

    print(
        "\n## Signatures from the same shingle hashes (112 permutations, one core: "
        f"RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS')})"
    )
    m = _core.Minhasher(ngram=NGRAM)
    oph = _core.Minhasher(ngram=NGRAM, sketch="one_permutation")
    shingles = m.shingles(pa.array(texts, pa.large_string()))
    shingles = shingles.filter(pa.compute.greater(pa.compute.list_value_length(shingles), 0))
    flat = np.asarray(shingles.flatten().to_numpy(zero_copy_only=False), dtype=np.uint64)
    offsets = np.asarray(shingles.offsets.to_numpy(), dtype=np.uint64)
    n_docs, n_shingles = len(shingles), len(flat)

    def time_it(fn) -> float:
        fn()
        samples = []
        for _ in range(args.repeats + 2):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    def rensa_matrix(num_perm: int):
        return rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, num_perm, 42)

    assert len(m.signatures_from_shingles(shingles)) == rensa_matrix(112).len() == n_docs
    assert len(oph.signatures_from_shingles(shingles)) == n_docs
    # Interleaved rounds, so that load from other work on the machine falls on all sides.
    ours_runs, oph_runs, theirs_runs = [], [], []
    for _ in range(3):
        ours_runs.append(time_it(lambda: m.signatures_from_shingles(shingles)))
        oph_runs.append(time_it(lambda: oph.signatures_from_shingles(shingles)))
        theirs_runs.append(time_it(lambda: rensa_matrix(112)))
    ours, theirs = statistics.median(ours_runs), statistics.median(theirs_runs)
    ours_oph = statistics.median(oph_runs)
    theirs_16 = time_it(lambda: rensa_matrix(16))
    print(f"  {n_docs:,} documents, {n_shingles:,} shingles (medians of 3 rounds of {args.repeats + 2} runs)")
    print(
        f"  thresher, exact 112-permutation MinHash (sketch: minhash): {ours * 1e3:8.1f} ms  "
        f"{n_docs / ours:12,.0f} docs/s  {n_shingles / ours / 1e6:8.1f} M shingles/s  "
        f"({112 * n_shingles / ours / 1e9:.1f} G hash evaluations/s)"
    )
    print(
        f"  thresher, one-permutation sketch (sketch: one_permutation): {ours_oph * 1e3:8.1f} ms  "
        f"{n_docs / ours_oph:12,.0f} docs/s  {n_shingles / ours_oph / 1e6:8.1f} M shingles/s"
    )
    print(
        f"  rensa 0.5      : {theirs * 1e3:8.1f} ms  {n_docs / theirs:12,.0f} docs/s  "
        f"{n_shingles / theirs / 1e6:8.1f} M shingles/s"
    )
    print(
        f"  rensa 0.5, 16 permutations: {theirs_16 * 1e3:.1f} ms ({theirs / theirs_16:.1f}x the time for 7x the "
        "permutations: a bucketed sketch, not one hash function per permutation and token)"
    )
    ratio, ratio_oph = theirs / ours, theirs / ours_oph
    print(
        f"  thresher / rensa speed: exact 112-permutation MinHash {ratio:.2f}x; one-permutation sketch "
        f"{ratio_oph:.2f}x (target >= 1x: {'MET' if ratio_oph >= 1 else 'NOT MET'} with sketch: one_permutation, "
        f"{'met' if ratio >= 1 else 'not met'} by exact MinHash)"
    )
    full = time_it(lambda: m.signatures(pa.array(texts, pa.large_string())))
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(
        "  thresher from raw text (normalise + shingle + hash + kernel): "
        f"{len(texts) / full:,.0f} docs/s, {mb / full:.1f} MB/s"
    )
    return {
        "thresher_s": ours,
        "thresher_one_permutation_s": ours_oph,
        "rensa_s": theirs,
        "rensa_16_permutations_s": theirs_16,
        "ratio": ratio,
        "ratio_one_permutation": ratio_oph,
        "from_text_docs_per_s": len(texts) / full,
    }


# -- memory of the cluster stage -------------------------------------------------------------------
def synthetic(n: int, duplicates: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    # Letters only: digits would all normalise to "0".
    vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) for _ in range(20000)]
    texts = [" ".join(rng.choice(vocabulary) for _ in range(30)) for _ in range(n - duplicates)]
    for i in range(duplicates):
        texts.append(texts[rng.randrange(n - duplicates)] if i % 2 == 0 else texts[-1])
    return texts


CLUSTER_CHILD = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from thresher import _core
from pathlib import Path
work = Path(sys.argv[2])
files = sorted(str(f) for f in (work / "pairs").glob("band_*.bin"))
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
before = rss("VmHWM:")
stats = _core.cluster_pairs(files if sys.argv[3] == "1" else [], "first", str(work / "clusters_rss.bin"))
after = rss("VmHWM:")
print(json.dumps({"before_kb": before, "after_kb": after, "clustered": stats["documents_in_clusters"]}))
"""


def section_memory(args) -> dict:
    print("\n## Memory: peak RSS of the cluster stage")
    sizes = (
        [(100_000, 5_000), (400_000, 5_000), (400_000, 100_000)]
        if args.full
        else [(40_000, 2_000), (160_000, 2_000), (160_000, 40_000)]
    )
    results = []
    for n, d in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            run_plan(synthetic(n, d, seed=n + d), tmp, [{"type": "minhash_dedup"}], shards=4)
            work = tmp / "out" / "_thresher" / "work" / "steps" / "minhash_dedup"
            pair_bytes = sum(f.stat().st_size for f in (work / "pairs").glob("*.bin"))
            peaks = {}
            for with_pairs in ("0", "1"):
                out = subprocess.run(
                    [sys.executable, "-c", CLUSTER_CHILD, str(REPO / "python"), str(work), with_pairs],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                peaks[with_pairs] = json.loads(out.stdout.strip().splitlines()[-1])
            extra_mb = (peaks["1"]["after_kb"] - peaks["1"]["before_kb"]) / 1024
            results.append(
                {
                    "N": n,
                    "d": d,
                    "clustered": peaks["1"]["clustered"],
                    "peak_mb": peaks["1"]["after_kb"] / 1024,
                    "above_baseline_mb": extra_mb,
                    "pair_file_mb": pair_bytes / 1e6,
                }
            )
            print(
                f"  N={n:>9,}  duplicates={d:>7,}  documents in clusters={peaks['1']['clustered']:>7,}  "
                f"cluster-stage peak RSS {peaks['1']['after_kb'] / 1024:7.1f} MB, "
                f"{extra_mb:+.1f} MB while clustering (no pairs: "
                f"{(peaks['0']['after_kb'] - peaks['0']['before_kb']) / 1024:+.1f} MB); "
                f"pair files {pair_bytes / 1e6:.1f} MB"
            )
    return {"cluster_stage": results}


# -- bloom_dedup across shards -------------------------------------------------------------------
def run_shards(shards: list[list[str]], workdir: Path, steps: list[dict]) -> tuple[Plan, object]:
    """`run_plan` with the rows of every shard given (ids are `shard-row`)."""
    src = workdir / "in"
    src.mkdir(parents=True, exist_ok=True)
    for s, chunk in enumerate(shards):
        ids = [f"{s}-{i}" for i in range(len(chunk))]
        pq.write_table(pa.table({"id": ids, "text": pa.array(chunk, pa.large_string())}), src / f"part{s:03d}.parquet")
    raw = {
        "input": {"paths": [f"{src}/*.parquet"]},
        "steps": steps,
        "output": {"path": str(workdir / "out"), "rejected": True, "keep_signals": True},
    }
    plan = Plan.create(parse_pipeline(raw, "<bench>"))
    summary = LocalExecutor(workers=1, quiet=True).run(plan, force=True)
    if not summary.ok:
        raise RuntimeError("; ".join(e.message for e in summary.errors))
    return plan, summary


def section_bloom(args) -> dict:
    """Lines and documents of real web text planted into later shards: found per shard vs corpus."""
    from collections import Counter

    print("\n## bloom_dedup: lines and documents planted across shards (13-grams, 0.8, old_both, unit: line)")
    rng = random.Random(13)
    texts = web_texts(None if args.full else 1600)
    n_shards = 16 if args.full else 8
    per = (len(texts) + n_shards - 1) // n_shards
    shards = [list(texts[s * per : (s + 1) * per]) for s in range(n_shards)]
    counts = Counter(ln.strip() for t in texts for ln in t.split("\n"))
    # Lines of 20+ words that occur once in the corpus, each copied into a document of a later shard.
    candidates = [
        (s, ln)
        for s, shard in enumerate(shards[:-1])
        for t in shard
        for ln in t.split("\n")
        if len(ln.split()) >= 20 and counts[ln.strip()] == 1
    ]
    planted_lines = []
    for s, ln in rng.sample(candidates, min(300, len(candidates))):
        target = rng.randrange(s + 1, n_shards)
        row = rng.randrange(len(shards[target]))
        lines = shards[target][row].split("\n")
        lines.insert(rng.randrange(len(lines) + 1), ln)
        shards[target][row] = "\n".join(lines)
        planted_lines.append((s, target, row, ln))
    # Whole documents with a line of 20+ words, copied to the end of a later shard.
    sources = [
        (s, i)
        for s in range(n_shards - 1)
        for i, t in enumerate(shards[s])
        if any(len(ln.split()) >= 20 for ln in t.split("\n"))
    ]
    planted_docs = []
    for s, i in rng.sample(sources, min(100, len(sources))):
        target = rng.randrange(s + 1, n_shards)
        shards[target].append(shards[s][i])
        planted_docs.append((s, target, len(shards[target]) - 1))
    n_docs = sum(len(x) for x in shards)
    n_bytes = sum(len(t.encode()) for x in shards for t in x)
    scopes = [("per shard", 1), (f"groups of {n_shards // 2}", n_shards // 2), ("corpus", 0)]
    results: dict = {"shards": n_shards, "documents": n_docs, "text_mb": n_bytes / 1e6}
    print(
        f"  {n_shards} shards, {n_docs:,} documents ({n_bytes / 1e6:.1f} MB of real web text); planted "
        f"{len(planted_lines)} unique lines of 20+ words and {len(planted_docs)} documents, each copied from its "
        "shard into a later one"
    )
    print(
        f"  {'scope':<14} {'lines removed':>14} {'copies dropped':>15} {'copies cut':>11} {'rows dropped':>13} "
        f"{'units removed':>14}"
    )
    for label, scope in scopes:
        step = {"type": "bloom_dedup", "expected_ngrams": 20_000_000, "fp_rate": 0.01, "shards_per_filter": scope}
        with tempfile.TemporaryDirectory() as tmp:
            _, summary = run_shards(shards, Path(tmp), [step])
            kept, removed_units = {}, 0
            for folder in ("data", "rejected"):
                for f in sorted((Path(tmp) / "out" / folder).glob("*.parquet")):
                    t = pq.read_table(f, columns=["id", "text", "bloom_dedup.removed_units"])
                    removed_units += sum(t.column(2).to_pylist())
                    if folder == "data":
                        kept.update(zip(t.column("id").to_pylist(), t.column("text").to_pylist(), strict=True))
        group = scope or n_shards
        in_reach = [p for p in planted_lines if p[0] // group == p[1] // group]
        removed = sum(1 for _, t, r, ln in planted_lines if ln not in kept.get(f"{t}-{r}", "").split("\n"))
        dropped = [(t, r) for _, t, r in planted_docs if f"{t}-{r}" not in kept]
        # A copy is cut when none of its lines of 13+ words is left (short lines are never removed).
        cut = 0
        for _, t, r in planted_docs:
            if f"{t}-{r}" in kept:
                left = set(kept[f"{t}-{r}"].split("\n"))
                cut += not any(len(ln.split()) >= 13 and ln in left for ln in shards[t][r].split("\n"))
        stats = summary.stats["steps"][0]
        seconds = {s["name"]: s["seconds"] for s in summary.stages}
        entry = {
            "lines_removed": removed,
            "lines_in_reach": len(in_reach),
            "copies_dropped": len(dropped),
            "copies_cut_to_short_lines": cut,
            "rows_dropped": sum(stats["rows_dropped"].values()),
            "removed_units": removed_units,
            "stage_seconds": seconds,
            "summary": stats.get("summary"),
        }
        results[label] = entry
        print(
            f"  {label:<14} {removed:>6}/{len(planted_lines):<7} {len(dropped):>7}/{len(planted_docs):<7} "
            f"{cut:>7}/{len(planted_docs):<3} {entry['rows_dropped']:>13,} {removed_units:>14,}"
            + (
                f"   ({len(in_reach)} planted lines have their source in the same group)"
                if 1 < group < n_shards
                else ""
            )
        )
    per_shard, corpus = results["per shard"]["stage_seconds"], results["corpus"]["stage_seconds"]
    cs = results["corpus"]["summary"]

    def rate(sec: float) -> str:
        return f"{n_docs / sec:,.0f} docs/s, {n_bytes / 1e6 / sec:.1f} MB/s" if sec else "-"

    print(f"  per-shard step (reading, dedup, writing; {n_shards} tasks): {rate(per_shard['segment0'])}")
    print(
        f"  corpus scope: map ({n_shards} tasks) {rate(corpus['segment0'])}; groups (1 task) "
        f"{rate(corpus['bloom_dedup.groups'])}; apply ({n_shards} tasks) {rate(corpus['segment1'])}"
    )
    print(
        f"  map output {cs['map_bytes'] / 1e6:.1f} MB for {cs['tokens']:,} tokens: "
        f"{cs['map_bytes_per_token']:.2f} bytes a token ({cs['map_bytes'] / cs['text_bytes']:.2f}x the text); "
        f"filter {cs['filter_bytes_per_group'] / 2**20:.1f} MiB, false-positive rate at the end "
        f"{cs['largest_false_positive_rate']:.2g}; verdicts {cs['verdict_bytes'] / n_docs:.1f} bytes a row"
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="larger corpora")
    parser.add_argument("--only", default="quality,reuters,agreement,speed,memory")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", action="store_true", help="let rayon use every core (default: one)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--sketch",
        choices=["minhash", "one_permutation"],
        default="minhash",
        help="signature scheme of the quality and reuters sections (default: exact MinHash)",
    )
    args = parser.parse_args()
    sections = set(args.only.split(","))
    if not SHARED.exists():
        print(f"no shared data at {SHARED} (set THRESHER_SHARED_DATA)")
        return 2
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} (timings of a loaded machine are noisy)")
    results = {}
    if "quality" in sections:
        results["quality"] = section_quality(args)
    if "reuters" in sections:
        results["reuters"] = section_reuters(args)
    if sections & {"agreement", "speed"}:
        results.update(section_agreement_and_speed(args, sections))
    if "rensa" in sections and "speed" not in sections:
        results["signatures_vs_rensa"] = signatures_vs_rensa(agreement_corpus(args), args)
    if "memory" in sections:
        results["memory"] = section_memory(args)
    if "bloom" in sections:
        results["bloom"] = section_bloom(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nbenchmark process peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
