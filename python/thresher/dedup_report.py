"""`filter dedup-report OUT`: what the dedup steps of a finished run found.

For each dedup step: documents seen and removed, the duplicate rate, documents that could not
be hashed, the cluster size histogram, and a few clusters shown side by side (the kept copy next
to removed ones), read back from the step's verdict files and the rows that fed it.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from thresher.steps.registry import get_step_class

DEDUP_TYPES = ("exact_dedup", "minhash_dedup", "bloom_dedup")
VERDICT = np.dtype([("doc", "<u8"), ("cluster", "<u8"), ("size", "<u4"), ("flags", "<u4")])


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dedup-report", help="duplicate rate, cluster sizes and example clusters of a finished run")
    p.add_argument("output", help="output directory of a run (holds stats.json)")
    p.add_argument("--step", help="only this step (by name)")
    p.add_argument("--examples", type=int, default=3, help="example clusters to show per step")
    p.add_argument("--width", type=int, default=58, help="characters per column of the examples")
    p.add_argument("--lines", type=int, default=8, help="lines shown per document")
    p.add_argument("--json", action="store_true", help="print the figures as JSON, no examples")


def _global_flags(manifest: dict[str, Any]) -> dict[str, bool]:
    """Which steps of the run were global, by name: an instance can differ from its class (e.g.
    `bloom_dedup` with `shards_per_filter` other than 1), and global steps start new segments."""
    from thresher.config import parse_pipeline
    from thresher.stages import build_steps

    try:
        steps = build_steps(parse_pipeline(manifest["pipeline"]))
    except Exception:  # an output written by another version: fall back to the step classes
        return {}
    return {s.name: s.is_global for s in steps}


def _verdicts(work: Path, step_type: str) -> np.ndarray:
    files = [work / "clusters.bin"] if step_type == "minhash_dedup" else sorted((work / "verdicts").glob("*.bin"))
    arrays = [np.fromfile(f, dtype=VERDICT) for f in files if f.exists()]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=VERDICT)


class _Rows:
    """Texts of documents by (shard, row) from the segment output that fed a step."""

    def __init__(self, out: Path, segment: int, work: Path, text_column: str) -> None:
        self.segment_dir = out / "_thresher" / "work" / f"segment{segment}"
        self.names = {}
        for f in (work / "map").glob("shard_*.json"):
            self.names[int(f.stem.split("_")[1])] = json.loads(f.read_text()).get("shard_name")
        self.text_column = text_column
        self.cache: dict[int, list[str] | None] = {}

    def text(self, doc: int) -> str | None:
        shard, row = doc >> 32, doc & 0xFFFFFFFF
        if shard not in self.cache:
            name = self.names.get(shard)
            path = self.segment_dir / f"{name}.parquet"
            self.cache[shard] = (
                pq.read_table(path, columns=[self.text_column]).column(0).to_pylist() if path.exists() else None
            )
        rows = self.cache[shard]
        return rows[row] if rows is not None and row < len(rows) else None

    def label(self, doc: int) -> str:
        return f"{self.names.get(doc >> 32, doc >> 32)}#{doc & 0xFFFFFFFF}"


def _histogram_lines(histogram: list[list[int]], bar_width: int = 40) -> list[str]:
    if not histogram:
        return ["  (no clusters)"]
    lines = ["  cluster size   clusters   documents"]
    peak = max(count for _, count in histogram)
    for size, count in histogram:
        bar = "#" * max(1, round(bar_width * count / peak))
        lines.append(f"  {size:>12,}  {count:>9,}  {size * count:>10,}  {bar}")
    return lines


def _side_by_side(columns: list[tuple[str, str]], width: int, max_lines: int) -> list[str]:
    blocks = []
    for header, text in columns:
        wrapped = textwrap.wrap(" ".join(text.split()), width) or [""]
        if len(wrapped) > max_lines:
            wrapped = wrapped[:max_lines] + ["..."]
        blocks.append([header[:width], "-" * min(width, len(header))] + wrapped)
    height = max(len(b) for b in blocks)
    lines = []
    for i in range(height):
        lines.append("  " + " | ".join((b[i] if i < len(b) else "").ljust(width) for b in blocks))
    return lines


def _examples(verdicts: np.ndarray, rows: _Rows, count: int, width: int, max_lines: int) -> list[str]:
    if len(verdicts) == 0 or count <= 0:
        return []
    # The largest clusters first, then the most common (size 2) kind.
    order = np.lexsort((verdicts["cluster"], -verdicts["size"].astype(np.int64)))
    clusters: list[int] = []
    for c in verdicts["cluster"][order]:
        if int(c) not in clusters:
            clusters.append(int(c))
        if len(clusters) >= max(1, count - 1):
            break
    pairs = verdicts["cluster"][verdicts["size"] == 2]
    if len(pairs) and int(pairs[0]) not in clusters:
        clusters.append(int(pairs[0]))
    lines = []
    for cluster in clusters[:count]:
        members = verdicts[verdicts["cluster"] == cluster]
        removed = [int(d) for d in members["doc"][(members["flags"] & 1) == 1]][:2]
        size = int(members["size"][0])
        lines.append(f"\n  cluster of {size} (kept {rows.label(cluster)}):")
        columns = [(f"KEPT {rows.label(cluster)}", rows.text(cluster) or "(text not available)")]
        columns += [(f"REMOVED {rows.label(d)}", rows.text(d) or "(text not available)") for d in removed]
        lines += _side_by_side(columns, width, max_lines)
    return lines


def report(out: Path, step_name: str | None, examples: int, width: int, max_lines: int) -> dict[str, Any]:
    stats = json.loads((out / "stats.json").read_text())
    manifest = json.loads((out / "_thresher" / "pipeline.json").read_text())
    text_column = manifest["pipeline"]["input"].get("text_column", "text")
    figures: dict[str, Any] = {}
    global_before = 0
    instances = _global_flags(manifest)
    for step in stats["steps"]:
        is_global = instances.get(step["name"])
        if is_global is None:
            try:
                is_global = get_step_class(step["type"]).is_global
            except KeyError:
                is_global = False
        segment = global_before
        if is_global:
            global_before += 1
        if step["type"] not in DEDUP_TYPES or (step_name and step["name"] != step_name):
            continue
        removed = sum(step["rows_dropped"].values())
        summary = step.get("summary", {})
        entry: dict[str, Any] = {
            "type": step["type"],
            "documents": step["rows_in"],
            "removed": removed,
            "duplicate_rate": removed / step["rows_in"] if step["rows_in"] else 0.0,
            "rows_dropped": step["rows_dropped"],
            **summary,
        }
        work = out / "_thresher" / "work" / "steps" / step["name"]
        lines = [f"== {step['name']} ({step['type']})"]
        lines.append(
            f"  {entry['documents']:,} documents, {removed:,} removed: "
            f"duplicate rate {100 * entry['duplicate_rate']:.2f}%"
        )
        for key, label in [
            ("documents_without_signature", "too short to shingle (no signature, never removed)"),
            ("documents_empty_after_normalization", "empty after normalisation (never removed)"),
            ("candidate_pairs", "LSH candidate pairs"),
            ("verified_pairs", "pairs confirmed by exact Jaccard"),
            ("rejected_pairs", "candidates rejected by exact Jaccard"),
            ("clusters", "clusters"),
            ("duplicate_groups", "groups of identical documents"),
            ("largest_cluster", "largest cluster"),
        ]:
            if summary.get(key) is not None:
                lines.append(f"  {label}: {summary[key]:,}")
        if step["type"] == "bloom_dedup":
            lines.append(f"  drop reasons: {step['rows_dropped'] or 'none'} (lines/paragraphs cut: see removed_units)")
            if summary:
                lines.append(
                    f"  {summary['groups']:,} filter(s) over {summary['shards']:,} shards, "
                    f"{summary['filter_bytes_per_group'] / 2**20:.1f} MiB each; highest false-positive rate "
                    f"at the end {summary['largest_false_positive_rate']:.2g}"
                )
                lines.append(
                    f"  units removed: {summary['removed_units']:,} ({summary['removed_chars']:,} characters); "
                    f"documents rewritten: {summary['rewritten']:,}"
                )
        else:
            histogram = summary.get("cluster_size_histogram") or summary.get("group_size_histogram") or []
            lines += _histogram_lines(histogram)
            rows = _Rows(out, segment, work, text_column)
            lines += _examples(_verdicts(work, step["type"]), rows, examples, width, max_lines)
        entry["text"] = "\n".join(lines)
        figures[step["name"]] = entry
    return figures


def cmd_dedup_report(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if not (out / "stats.json").exists():
        print(f"error: {out} has no stats.json (not a finished run)")
        return 2
    figures = report(out, args.step, args.examples, args.width, args.lines)
    if args.json:
        print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "text"} for k, v in figures.items()}, indent=2))
        return 0
    if not figures:
        print(f"{out}: no dedup step in this run")
        return 0
    for entry in figures.values():
        print(entry["text"])
        print()
    return 0
