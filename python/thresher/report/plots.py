"""The report's charts, drawn with matplotlib's object API (no pyplot state, so it is safe in any process).

Each function writes one PNG and returns its file name; the HTML refers to them by name.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from thresher.report.collect import SignalValues, Threshold

KEPT_COLOR = "#3b7dd8"
DROPPED_COLOR = "#d8573b"
LATER_COLOR = "#b0b0b0"
THRESHOLD_COLOR = "#222222"
DPI = 100


def _save(fig: Figure, directory: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(directory / name, dpi=DPI, format="png", metadata={"Software": None})
    return name


def funnel(stages: list[tuple[str, int, float | None]], directory: Path) -> str:
    """Rows (and estimated tokens, when known) remaining after each stage, as centred bars."""
    with_tokens = all(t is not None for _, _, t in stages)
    fig = Figure(figsize=(10 if with_tokens else 6.5, 0.45 * len(stages) + 1.4))
    axes = [fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)] if with_tokens else [fig.add_subplot(1, 1, 1)]
    names = [name for name, _, _ in stages]
    series = [("documents", [float(r) for _, r, _ in stages])]
    if with_tokens:
        series.append(("tokens (characters / 4)", [float(t) for _, _, t in stages]))
    for ax, (title, values) in zip(axes, series, strict=True):
        top = max(values[0], 1.0)
        y = np.arange(len(values))[::-1]
        lefts = [(top - v) / 2 for v in values]
        ax.barh(y, values, left=lefts, color=KEPT_COLOR, height=0.7)
        for yi, v in zip(y, values, strict=True):
            ax.text(
                top / 2,
                yi,
                f"{v:,.0f}  ({100 * v / top:.1f}%)",
                ha="center",
                va="center",
                color="white" if v > 0.35 * top else "black",
                fontsize=8,
            )
        ax.set_yticks(y, names if ax is axes[0] else [""] * len(names))
        ax.set_xticks([])
        ax.set_xlim(0, top)
        ax.set_title(title, fontsize=10)
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
    return _save(fig, directory, "funnel.png")


def drop_reasons(steps: list[dict], validation: dict, directory: Path) -> str | None:
    """Dropped rows per reason, grouped by step (input validation first)."""
    bars: list[tuple[str, int, int]] = []  # (label, count, step index)
    groups = [("input", validation)] + [(s["name"], s) for s in steps]
    for index, (name, counts) in enumerate(groups):
        for reason, n in sorted(counts.get("rows_dropped", {}).items(), key=lambda kv: -kv[1]):
            bars.append((f"{name}:{reason}", n, index))
    if not bars:
        return None
    fig = Figure(figsize=(8, 0.32 * len(bars) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    palette = [
        "#4e79a7",
        "#f28e2b",
        "#e15759",
        "#76b7b2",
        "#59a14f",
        "#edc948",
        "#b07aa1",
        "#ff9da7",
        "#9c755f",
        "#bab0ac",
    ]
    y = np.arange(len(bars))[::-1]
    ax.barh(y, [n for _, n, _ in bars], color=[palette[i % len(palette)] for _, _, i in bars])
    ax.set_yticks(y, [label for label, _, _ in bars], fontsize=8)
    for yi, (_, n, _) in zip(y, bars, strict=True):
        ax.text(n, yi, f" {n:,}", va="center", fontsize=8)
    ax.set_xlabel("documents dropped")
    ax.margins(x=0.12)
    return _save(fig, directory, "drop_reasons.png")


def _value_range(values: list[np.ndarray], thresholds: list[Threshold]) -> tuple[float, float, int]:
    """A range that shows the bulk of the data and every threshold; counts values left outside."""
    everything = np.concatenate([v for v in values if len(v)]) if any(len(v) for v in values) else np.zeros(1)
    lo, hi = float(np.min(everything)), float(np.max(everything))
    p_lo, p_hi = np.percentile(everything, [0.5, 99.5])
    if hi - lo > 20 * max(p_hi - p_lo, 1e-12):  # heavy tail: show the bulk, count the rest
        lo, hi = float(p_lo), float(p_hi)
    for t in thresholds:
        lo, hi = min(lo, t.value), max(hi, t.value)
    if hi <= lo:
        hi = lo + 1.0
    outside = int(sum(((v < lo) | (v > hi)).sum() for v in values if len(v)))
    return lo, hi, outside


def signal_histogram(
    signal: SignalValues, thresholds: list[Threshold], directory: Path, file_name: str, kept_stored: bool
) -> tuple[str, dict[str, int]]:
    """Stacked histogram of one signal (kept / dropped by its step / dropped later) with thresholds drawn."""
    arrays = signal.arrays()
    parts = [
        ("kept", arrays["kept"], KEPT_COLOR),
        (f"dropped by {signal.step}", arrays["dropped here"], DROPPED_COLOR),
        ("dropped by a later step", arrays["dropped later"], LATER_COLOR),
    ]
    parts = [p for p in parts if len(p[1])]
    lo, hi, outside = _value_range([p[1] for p in parts], thresholds)
    integer = all(np.all(np.mod(p[1], 1) == 0) for p in parts) and hi - lo > 10
    bulk = np.concatenate([p[1] for p in parts]) if parts else np.zeros(1)
    # Counts (words, characters, cluster sizes) span decades: log-spaced bins show both ends.
    log_x = integer and lo >= 0 and hi > 100 and hi > 20 * max(float(np.median(bulk)), 1.0)
    if log_x:
        lo = max(lo, 1.0)
        bins = np.geomspace(lo, hi + 1, 41)
    elif integer:
        bins = np.unique(np.linspace(lo, hi + 1, 41).round())
    else:
        bins = np.linspace(lo, hi, 41)
    fig = Figure(figsize=(6.2, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    if log_x:
        ax.set_xscale("log")
    if parts:
        ax.hist(
            [np.clip(p[1], lo, hi) for p in parts],
            bins=bins,
            stacked=True,
            color=[p[2] for p in parts],
            label=[p[0] for p in parts],
        )
    for t in thresholds:
        if log_x and t.value <= 0:
            continue
        ax.axvline(t.value, color=THRESHOLD_COLOR, linestyle="--", linewidth=1.2)
        ax.annotate(
            f"keep {t.keep_when} {t.value:g}",
            xy=(t.value, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
        )
    ax.set_title(signal.column, fontsize=10)
    ax.set_ylabel("documents")
    if parts:
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    counts = {p[0]: len(p[1]) for p in parts}
    counts["outside the shown range (in the end bins)"] = outside
    if not kept_stored:
        ax.text(
            0.01,
            0.98,
            "kept rows' signals not stored (keep_signals: false)",
            transform=ax.transAxes,
            fontsize=7,
            va="top",
            color="#666666",
        )
    return _save(fig, directory, file_name), counts


def shares(title: str, by_side: dict[str, Counter], directory: Path, file_name: str, top: int = 25) -> str:
    """Share of each category among input rows and among kept rows, largest first."""
    before, after = by_side["input"], by_side["kept"]
    total_before, total_after = max(sum(before.values()), 1), max(sum(after.values()), 1)
    names = [name for name, _ in before.most_common(top)]
    rest = len(before) - len(names)
    fig = Figure(figsize=(8, 0.28 * len(names) + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(names))[::-1]
    ax.barh(y + 0.2, [100 * before[n] / total_before for n in names], height=0.4, color=LATER_COLOR, label="input")
    ax.barh(y - 0.2, [100 * after[n] / total_after for n in names], height=0.4, color=KEPT_COLOR, label="kept")
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlabel("share of documents (%)")
    suffix = f" (top {top}; {rest} more)" if rest > 0 else ""
    ax.set_title(title + suffix, fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, directory, file_name)


def phase_skills(by_phase: dict[str, Counter], directory: Path) -> str:
    """Skill shares of the kept rows of each phase, as stacked 100% bars."""
    phases = sorted(by_phase)
    skills = sorted({s for c in by_phase.values() for s in c})
    fig = Figure(figsize=(7, 0.5 * len(phases) + 1.8))
    ax = fig.add_subplot(1, 1, 1)
    left = np.zeros(len(phases))
    palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
    for i, skill in enumerate(skills):
        share = np.array([100 * by_phase[p][skill] / max(sum(by_phase[p].values()), 1) for p in phases])
        ax.barh(phases, share, left=left, color=palette[i % len(palette)], label=skill)
        left += share
    ax.set_xlabel("share of kept documents (%)")
    ax.legend(fontsize=7, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return _save(fig, directory, "phase_skills.png")


def cluster_sizes(column: str, sizes: Counter, directory: Path, file_name: str) -> str:
    """Documents per duplicate-cluster size (log scales: most clusters are small)."""
    xs = np.array(sorted(sizes))
    docs = np.array([sizes[x] for x in xs])
    fig = Figure(figsize=(6.2, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(xs, docs, width=0.8 if len(xs) < 50 else 1.0, color=KEPT_COLOR)
    if len(xs) and xs.max() > 50:
        ax.set_xscale("log")
    if len(docs) and docs.max() > 50 * max(docs.min(), 1):
        ax.set_yscale("log")
    ax.set_xlabel("cluster size (documents)")
    ax.set_ylabel("documents")
    ax.set_title(column, fontsize=10)
    return _save(fig, directory, file_name)
