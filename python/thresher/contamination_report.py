"""Reports of `decontaminate` and `line_dedup`: per-task parts merged into one file per step.

Each apply task writes `<step work dir>/report/parts/<shard>.json`; the task that finds every
shard's part present merges them into `report/report.json` (two tasks finishing together both
merge the same parts, and the file is replaced atomically, so either result is the whole one).
`filter contamination-report OUT` renders the reports of every such step of a run as Markdown
(or JSON), merging the parts itself when a run stopped before its last task.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

if TYPE_CHECKING:
    from thresher.steps.base import StepContext
    from thresher.steps.decontaminate import ContaminationCollector, Decontaminate
    from thresher.steps.line_dedup import LineDedup

REPORT_STEP_TYPES = ("decontaminate", "line_dedup")


def _write_json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    os.replace(tmp, path)


def _parts(report_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((report_dir / "parts").glob("*.json"))]


def _write_part_and_maybe_merge(report_dir: Path, context: StepContext, part: dict[str, Any], merge) -> None:
    _write_json(report_dir / "parts" / f"{context.shard_name}.json", part)
    parts = _parts(report_dir)
    if len(parts) >= context.num_shards:
        _write_json(report_dir / "report.json", merge(parts))


# -- decontaminate -------------------------------------------------------------------------------
def write_contamination_part(step: Decontaminate, context: StepContext, collector: ContaminationCollector) -> None:
    part = collector.to_json()
    part.update(shard=context.shard_name, items_path=str(step._items_path), step=step.describe())
    _write_part_and_maybe_merge(Path(context.work_dir) / "report", context, part, merge_contamination)


def merge_contamination(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Per evaluation set: items, items found in the corpus, documents containing them, examples."""
    if not parts:
        return {"documents": 0, "contaminated": 0, "sets": {}}
    items = pq.read_table(parts[0]["items_path"])
    item_set = items.column("eval_set").to_pylist()
    item_id = items.column("item_id").to_pylist()
    item_text = items.column("text").to_pylist()
    item_ngrams = items.column("ngrams").to_pylist()
    step = parts[0]["step"]
    examples_per_set = step["params"].get("report_examples", 5)
    item_documents: dict[int, int] = {}
    set_documents: dict[str, int] = {}
    examples: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for k, v in part["item_documents"].items():
            item_documents[int(k)] = item_documents.get(int(k), 0) + v
        for k, v in part["set_documents"].items():
            set_documents[k] = set_documents.get(k, 0) + v
        for k, found in part["examples"].items():
            examples.setdefault(k, []).extend(found)
    sets: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(item_set):
        sets[name] = {"items": 0, "items_indexed": 0, "items_found": 0, "documents": set_documents.get(name, 0)}
    for i, name in enumerate(item_set):
        sets[name]["items"] += 1
        sets[name]["items_indexed"] += item_ngrams[i] > 0
        sets[name]["items_found"] += i in item_documents
    for name, info in sets.items():
        found = sorted((i for i in item_documents if item_set[i] == name), key=lambda i: (-item_documents[i], i))
        info["top_items"] = [
            {"item_id": item_id[i], "documents": item_documents[i], "text": _clip(item_text[i], 300)}
            for i in found[:10]
        ]
        info["examples"] = [
            {**ex, "item_id": item_id[ex["item"]], "item_text": _clip(item_text[ex["item"]], 1200)}
            for ex in examples.get(name, [])[:examples_per_set]
        ]
    return {
        "step": step["name"],
        "action": step["params"]["action"],
        "n": step["params"]["n"],
        "min_matched_ngrams": step["params"]["min_matched_ngrams"],
        "min_item_fraction": step["params"]["min_item_fraction"],
        "documents": sum(p["documents"] for p in parts),
        "contaminated": sum(p["contaminated"] for p in parts),
        "shards": len(parts),
        "sets": sets,
    }


def _clip(text: str | None, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_contamination(report: dict[str, Any]) -> str:
    verb = "dropped" if report.get("action") == "drop" else "flagged"
    rule = f"at least {report.get('min_matched_ngrams')} shared {report.get('n')}-grams"
    if report.get("min_item_fraction"):
        rule += f" or {report.get('min_item_fraction'):.0%} of an item's n-grams"
    lines = [
        f"## Contamination: step `{report.get('step')}`",
        "",
        f"{report['contaminated']:,} of {report['documents']:,} documents contain an evaluation item ({rule}); {verb}.",
        "",
        "| eval set | items | indexed | found in corpus | documents |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, info in report["sets"].items():
        share = f" ({info['items_found'] / info['items']:.1%})" if info["items"] else ""
        lines.append(
            f"| {name} | {info['items']:,} | {info['items_indexed']:,} | {info['items_found']:,}{share} "
            f"| {info['documents']:,} |"
        )
    for name, info in report["sets"].items():
        if info["items"] > info["items_indexed"]:
            lines += [
                "",
                f"{name}: {info['items'] - info['items_indexed']:,} items are shorter than "
                f"{report.get('n')} words and cannot be matched.",
            ]
        if not info["examples"]:
            continue
        lines += ["", f"### {name}: examples", ""]
        for ex in info["examples"]:
            lines += [
                f"**item `{ex['item_id']}`** in document `{ex['doc_id']}` (shard {ex['shard']}): "
                f"{ex['shared_ngrams']} shared n-grams, {ex['item_fraction']:.0%} of the item",
                "",
                "| evaluation item | document excerpt |",
                "| --- | --- |",
                f"| {_cell(ex['item_text'])} | {_cell(ex['excerpt'])} |",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# -- line_dedup ----------------------------------------------------------------------------------
def write_line_dedup_part(step: LineDedup, context: StepContext, report: dict[str, Any]) -> None:
    part = dict(report, shard=context.shard_name, step=step.describe())
    _write_part_and_maybe_merge(Path(context.work_dir) / "report", context, part, _line_dedup_merger(context))


def _line_dedup_merger(context: StepContext):
    def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
        return merge_line_dedup(parts, json.loads((Path(context.work_dir) / "summary.json").read_text()))

    return merge


def merge_line_dedup(parts: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """Totals over shards plus the most frequent removed lines, with one text each."""
    samples: dict[str, str] = {}
    for part in parts:
        for h, line in part["samples"].items():
            samples.setdefault(h, line)
    totals = {
        k: sum(p[k] for p in parts)
        for k in ("documents", "lines", "removed_lines", "removed_bytes", "documents_changed", "documents_dropped")
    }
    return {
        "step": parts[0]["step"]["name"] if parts else None,
        "threshold": summary["threshold"],
        "corpus_documents": summary["documents"],
        "distinct_lines": summary["distinct_lines"],
        "lines_in_one_document": summary["lines_in_one_document"],
        "removed_distinct_lines": summary["removed_distinct_lines"],
        **totals,
        "shards": len(parts),
        "top_lines": [{"documents": count, "line": samples.get(h)} for h, count in summary["top"]],
    }


def render_line_dedup(report: dict[str, Any]) -> str:
    lines = [
        f"## Line dedup: step `{report.get('step')}`",
        "",
        f"Lines in more than {report['threshold']:g} of {report['corpus_documents']:,} documents are removed: "
        f"{report['removed_distinct_lines']:,} distinct lines of {report['distinct_lines']:,} "
        f"({report['lines_in_one_document']:,} appear in one document only).",
        f"{report['removed_lines']:,} of {report['lines']:,} lines removed ({report['removed_bytes']:,} bytes) "
        f"from {report['documents_changed']:,} documents; {report['documents_dropped']:,} documents left too short "
        "were dropped.",
        "",
        "| documents | most frequent removed lines |",
        "| ---: | --- |",
    ]
    for top in report["top_lines"]:
        lines.append(f"| {top['documents']:,} | {_cell(_clip(top['line'] or '(not met in this run)', 160))} |")
    return "\n".join(lines) + "\n"


# -- the command ---------------------------------------------------------------------------------
def collect_reports(out_dir: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """(step type, merged report) of every decontaminate / line_dedup step of a finished run."""
    out = Path(out_dir)
    manifest_path = out / "_thresher" / "pipeline.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{out}: no pipeline run here (missing _thresher/pipeline.json)")
    manifest = json.loads(manifest_path.read_text())
    found = []
    for raw in manifest["pipeline"]["steps"]:
        step_type = raw.get("type")
        if step_type not in REPORT_STEP_TYPES:
            continue
        name = raw.get("name") or step_type
        report_dir = out / "_thresher" / "work" / "steps" / name / "report"
        merged = report_dir / "report.json"
        if merged.exists():
            report = json.loads(merged.read_text())
        else:
            parts = _parts(report_dir)
            if not parts:
                continue
            if step_type == "decontaminate":
                report = merge_contamination(parts)
            else:
                summary = json.loads((report_dir.parent / "summary.json").read_text())
                report = merge_line_dedup(parts, summary)
            report["partial"] = True
        found.append((step_type, report))
    return found


def render_reports(reports: list[tuple[str, dict[str, Any]]]) -> str:
    if not reports:
        return "No decontaminate or line_dedup step has reported in this run.\n"
    sections = []
    for step_type, report in reports:
        text = render_contamination(report) if step_type == "decontaminate" else render_line_dedup(report)
        if report.get("partial"):
            text += f"\n(partial: {report.get('shards')} shards reported so far)\n"
        sections.append(text)
    return "\n".join(sections)


def cmd_contamination_report(out_dir: str, as_json: bool, output: str | None) -> int:
    try:
        reports = collect_reports(out_dir)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if as_json:
        text = json.dumps([{"type": t, **r} for t, r in reports], indent=1, ensure_ascii=False) + "\n"
    else:
        text = render_reports(reports)
    if output:
        Path(output).write_text(text)
        print(f"wrote {output}")
    else:
        print(text, end="")
    return 0
