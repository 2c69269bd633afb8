"""The mix manifest: `<name>.json` and a readable `<name>.md` table beside the output."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from thresher.mixing.allocation import Allocation
from thresher.mixing.counting import write_json


def manifest_rows(
    allocation: Allocation, counts: dict[str, dict[str, float]], selected: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    rows = []
    for language in sorted(allocation.sizes, key=lambda g: (-allocation.sizes[g], g)):
        c, s = counts[language], selected[language]
        budget = allocation.budgets[language]
        rows.append(
            {
                "language": language,
                "docs_available": int(c["docs"]),
                "chars_available": int(c["chars"]),
                "tokens_available": c["tokens"],
                "size_available": allocation.sizes[language],
                "share": allocation.shares[language],
                "budget": budget,
                "epochs": allocation.epochs[language],
                "docs_selected": int(s["docs"]),
                "unique_docs_selected": int(s["unique_docs"]),
                "chars_selected": int(s["chars"]),
                "tokens_selected": s["tokens"],
                "size_selected": s["size"],
                "budget_error": s["size"] - budget,
            }
        )
    return rows


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [
        "docs_available",
        "chars_available",
        "tokens_available",
        "size_available",
        "budget",
        "docs_selected",
        "unique_docs_selected",
        "chars_selected",
        "tokens_selected",
        "size_selected",
    ]
    out: dict[str, Any] = {k: math.fsum(r[k] for r in rows) for k in keys}
    for k in ("docs_available", "chars_available", "docs_selected", "unique_docs_selected", "chars_selected"):
        out[k] = int(out[k])
    out["epochs"] = out["budget"] / out["size_available"] if out["size_available"] else 0.0
    out["share"] = 1.0 if out["budget"] else 0.0
    out["budget_error"] = out["size_selected"] - out["budget"]
    return out


def write_manifest(directory: Path, stem: str, doc: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / f"{stem}.json", doc)
    tmp = directory / f"{stem}.md.tmp"
    tmp.write_text(render_table(doc))
    tmp.replace(directory / f"{stem}.md")


def _num(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _param(value: Any) -> str:
    return _num(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def render_table(doc: dict[str, Any]) -> str:
    unit = doc["unit"]
    lines = [
        f"# Mix: {doc['method']}",
        "",
        f"- unit: {unit} ({doc['tokenizer']}); seed {doc['seed']}; output as {doc['output']}",
        f"- parameters: {', '.join(f'{k} = {_param(v)}' for k, v in doc['params'].items())}",
        f"- languages: {len(doc['languages'])}; budget {_num(doc['total']['budget'])} {unit}, "
        f"selected {_num(doc['total']['size_selected'])} {unit}",
        *[f"- **warning**: {w}" for w in doc.get("warnings", [])],
        "",
        f"| language | docs available | {unit} available | share | budget ({unit}) | epochs "
        f"| docs selected | unique docs | tokens selected | chars selected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [*doc["languages"], {"language": "**total**", **doc["total"]}]:
        lines.append(
            f"| {r['language']} | {_num(r['docs_available'])} | {_num(r['size_available'])} | {100 * r['share']:.2f}% "
            f"| {_num(r['budget'])} | {r['epochs']:.3g} | {_num(r['docs_selected'])} "
            f"| {_num(r['unique_docs_selected'])} | {_num(r['tokens_selected'])} | {_num(r['chars_selected'])} |"
        )
    return "\n".join(lines) + "\n"
