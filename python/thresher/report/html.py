"""`filter report OUT`: one HTML page (inline CSS, no scripts, nothing fetched from the network) with its
PNG charts beside it in `OUT/report/`, or inside it as data URIs with `embed_images`.

Sections appear when their data exists, so the report grows with the pipeline: signal histograms for every
numeric `<step>.<signal>` column, language and skill shares when such columns exist, cluster sizes when a
dedup step writes them, and any JSON manifest a step leaves at the top of the output.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
from pathlib import Path
from typing import Any

from thresher.report.collect import KEPT, OutputDir, ReportData, Sample, scan_output

TEXT_CUT = 700  # characters of each sampled document shown

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1d1d1d; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2.2rem; }
.muted { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.4rem 0.8rem 0.8rem 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.8rem; color: #555; max-width: 38rem; }
details { margin: 0.5rem 0; } summary { cursor: pointer; font-weight: 600; }
.doc { border-left: 3px solid #3b7dd8; padding: 0.3rem 0.8rem; margin: 0.6rem 0; background: #f8f9fb; }
.doc.dropped { border-left-color: #d8573b; }
.doc pre { white-space: pre-wrap; word-break: break-word; font-size: 0.82rem; margin: 0.3rem 0; }
.sig { font-size: 0.75rem; color: #444; }
pre.json { font-size: 0.8rem; background: #f6f6f6; padding: 0.6rem; overflow-x: auto; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def cut_text(text: str | None, limit: int = TEXT_CUT) -> str:
    if text is None:
        return "(null text)"
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … [{len(text) - limit:,} more characters]"


class _Page:
    def __init__(self, directory: Path, embed: bool) -> None:
        self.directory = directory
        self.embed = embed
        self.parts: list[str] = []

    def add(self, fragment: str) -> None:
        self.parts.append(fragment)

    def figure(self, file_name: str | None, caption: str) -> None:
        if file_name is None:
            return
        src = file_name
        if self.embed:
            path = self.directory / file_name
            src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
            path.unlink()
        self.add(
            f'<figure><img src="{_esc(src)}" alt="{_esc(caption)}"><figcaption>{_esc(caption)}</figcaption></figure>'
        )


def _funnel_stages(out: OutputDir, data: ReportData) -> tuple[list[tuple[str, int, float | None]], bool]:
    stats = out.stats
    total_rows = stats.get("input_rows", 0)
    tokens_known = sum(data.rows.values()) == total_rows and total_rows > 0 and bool(data.chars)
    total_chars = float(sum(data.chars.values()))

    def chars_dropped_by(step: str) -> float:
        return float(sum(n for label, n in data.chars.items() if label.startswith(step + ":")))

    remaining = total_chars
    stages: list[tuple[str, int, float | None]] = [("input", total_rows, total_chars / 4 if tokens_known else None)]
    validation = stats.get("input_validation", {})
    if validation.get("rows_dropped"):
        remaining -= chars_dropped_by("input")
        stages.append(("input checks", validation["rows_kept"], remaining / 4 if tokens_known else None))
    for step in stats.get("steps", []):
        remaining -= chars_dropped_by(step["name"])
        stages.append((step["name"], step["rows_kept"], remaining / 4 if tokens_known else None))
    return stages, tokens_known


def _summary_table(out: OutputDir, data: ReportData) -> str:
    s = out.stats
    rows = [
        ("documents in", _fmt(s.get("input_rows", 0))),
        ("documents kept", _fmt(s.get("output_rows", 0))),
        ("documents dropped", _fmt(s.get("dropped_rows", s.get("input_rows", 0) - s.get("output_rows", 0)))),
        ("shards", _fmt(len(s.get("shards", {})))),
    ]
    if data.chars:
        rows.append(("characters kept", _fmt(int(data.chars.get(KEPT, 0)))))
    if s.get("fingerprint"):
        rows.append(("pipeline fingerprint", s["fingerprint"]))
    body = "".join(f"<tr><th>{_esc(k)}</th><td class='n'>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _steps_table(out: OutputDir) -> str:
    head = "<tr><th>step</th><th>type</th><th>in</th><th>kept</th><th>dropped</th><th>reasons</th></tr>"
    body = []
    validation = out.stats.get("input_validation", {})
    rows = [{"name": "input", "type": "(input checks)", **validation}] if validation else []
    rows += out.stats.get("steps", [])
    for step in rows:
        dropped = step.get("rows_dropped", {})
        reasons = ", ".join(f"{_esc(r)}: {n:,}" for r, n in sorted(dropped.items(), key=lambda kv: -kv[1]))
        body.append(
            f"<tr><td>{_esc(step['name'])}</td><td>{_esc(step.get('type', ''))}</td>"
            f"<td class='n'>{step.get('rows_in', 0):,}</td><td class='n'>{step.get('rows_kept', 0):,}</td>"
            f"<td class='n'>{sum(dropped.values()):,}</td><td>{reasons or '-'}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _sample_block(sample: Sample, dropped: bool) -> str:
    signals = ", ".join(f"{_esc(k)}={_esc(_fmt(v))}" for k, v in sorted(sample.signals.items()))
    return (
        f"<div class='doc{' dropped' if dropped else ''}'><div class='muted'>id {_esc(sample.id)} · "
        f"{sample.text_chars:,} characters</div><pre>{_esc(cut_text(sample.text))}</pre>"
        + (f"<div class='sig'>{signals}</div>" if signals else "")
        + "</div>"
    )


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in label)


def write_report(
    output: str | Path,
    report_dir: str | Path | None = None,
    samples_per_reason: int = 3,
    seed: int = 0,
    max_signal_rows: int = 200_000,
    embed_images: bool = False,
    progress: bool = False,
) -> Path:
    """Writes the report of an output directory and returns the path of its HTML file."""
    # matplotlib (the `report` extra) is imported here, not with the module: `filter inspect` uses this
    # module's text helpers on a core install.
    from thresher.report import plots

    out = OutputDir.open(output)
    directory = Path(report_dir) if report_dir is not None else out.root / "report"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    data = scan_output(
        out, samples_per_label=samples_per_reason, max_signal_rows=max_signal_rows, seed=seed, progress=progress
    )
    page = _Page(directory, embed_images)
    stats = out.stats
    title = f"Thresher report: {out.root.name}"
    page.add(f"<h1>{_esc(title)}</h1><p class='muted'>{_esc(out.root.resolve())}</p>")
    page.add("<h2>Summary</h2>" + _summary_table(out, data) + _steps_table(out))

    stages, tokens_known = _funnel_stages(out, data)
    page.add("<h2>Funnel</h2>")
    note = (
        "Tokens are estimated as characters / 4 over the text of kept and rejected rows."
        if tokens_known
        else "Tokens are not shown: the rejected rows are not all stored (output.rejected: false) or the files"
        " do not match stats.json."
    )
    page.add(f"<p class='muted'>{_esc(note)}</p>")
    page.figure(plots.funnel(stages, directory), "Documents (and tokens) left after each step")

    page.add("<h2>Drop reasons</h2>")
    reasons_png = plots.drop_reasons(stats.get("steps", []), stats.get("input_validation", {}), directory)
    if reasons_png is None:
        page.add("<p>No document was dropped.</p>")
    page.figure(reasons_png, "Dropped documents per reason, by step")

    page.add("<h2>Signals</h2>")
    if not data.signals:
        page.add("<p>No signal columns were found in data/ or rejected/.</p>")
    else:
        strides = ", ".join(f"{side}: 1 in {n:,}" for side, n in data.signal_strides.items() if n > 1)
        page.add(
            "<p class='muted'>Histograms of every numeric signal; dashed lines are the thresholds of the step's"
            " rules. Rows dropped by an earlier step have no value for later signals."
            + (f" Sampled rows ({_esc(strides)})." if strides else "")
            + "</p>"
        )
        if not data.kept_signals_stored:
            page.add(
                "<p class='muted'>The kept rows' signals are not stored (output.keep_signals: false), so the"
                " histograms show dropped rows only; rerun with keep_signals: true to see both.</p>"
            )
        order = {name: i for i, name in enumerate(out.step_names)}
        for column in sorted(data.signals, key=lambda c: (order.get(data.signals[c].step, 1 << 30), c)):
            png, counts = plots.signal_histogram(
                data.signals[column],
                data.thresholds.get(column, []),
                directory,
                f"signal_{_slug(column)}.png",
                data.kept_signals_stored,
            )
            caption = f"{column}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v)
            page.figure(png, caption)

    titles = {"language": "Language shares", "skill": "Skill shares"}
    for role, title_text in titles.items():
        for column, by_side in sorted(data.categories.get(role, {}).items()):
            page.add(f"<h2>{_esc(title_text)}: {_esc(column)}</h2>")
            page.figure(
                plots.shares(f"{column}: input vs kept", by_side, directory, f"shares_{_slug(column)}.png"),
                f"Share of documents per value of {column}, among input rows and kept rows",
            )
    if data.phase_skills:
        page.add("<h2>Skill shares per phase</h2>")
        page.figure(plots.phase_skills(data.phase_skills, directory), "Skill shares of the kept rows of each phase")
    for column, sizes in sorted(data.cluster_sizes.items()):
        page.add(f"<h2>Duplicate clusters: {_esc(column)}</h2>")
        clusters = sum(n / size for size, n in sizes.items() if size > 0)
        page.add(f"<p class='muted'>{int(round(clusters)):,} clusters over {sum(sizes.values()):,} documents.</p>")
        page.figure(
            plots.cluster_sizes(column, sizes, directory, f"clusters_{_slug(column)}.png"), "Documents per cluster size"
        )

    if out.manifests:
        page.add("<h2>Manifests</h2>")
        for name, doc in out.manifests.items():
            page.add(
                f"<details><summary>{_esc(name)}</summary><pre class='json'>"
                f"{_esc(json.dumps(doc, indent=2)[:200_000])}</pre></details>"
            )

    page.add("<h2>Sampled documents</h2>")
    page.add(
        f"<p class='muted'>Up to {samples_per_reason} seeded random documents per reason (seed {seed}); "
        f"text cut to {TEXT_CUT} characters.</p>"
    )
    labels = sorted(data.samples, key=lambda label: (label != KEPT, label))
    for label in labels:
        items = data.samples[label]
        total = data.rows.get(label, 0)
        heading = "kept" if label == KEPT else f"dropped: {label}"
        page.add(f"<details{' open' if label == KEPT else ''}><summary>{_esc(heading)} ({total:,} documents)</summary>")
        for sample in items:
            page.add(_sample_block(sample, dropped=label != KEPT))
        page.add("</details>")

    if out.pipeline:
        page.add("<h2>Pipeline</h2><pre class='json'>" + _esc(json.dumps(out.pipeline, indent=2)) + "</pre>")

    document = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<link rel='icon' href='data:,'>"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(page.parts)
        + "\n</body></html>\n"
    )
    index = directory / "index.html"
    index.write_text(document, encoding="utf-8")
    return index
