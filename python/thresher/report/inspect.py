"""`filter inspect OUT --reason step:reason -n 5`: sampled documents of one reason, in the terminal."""

from __future__ import annotations

import shutil
import textwrap
from typing import TextIO

from thresher.report.collect import KEPT, OutputDir, ReportError, scan_output
from thresher.report.html import cut_text


def _known_labels(out: OutputDir) -> list[str]:
    labels = [KEPT]
    validation = out.stats.get("input_validation", {})
    labels += [f"input:{r}" for r in validation.get("rows_dropped", {})]
    for step in out.stats.get("steps", []):
        labels += [f"{step['name']}:{r}" for r in step.get("rows_dropped", {})]
    return labels


def inspect_reason(
    output: str,
    reason: str,
    n: int = 5,
    seed: int = 0,
    width: int | None = None,
    max_chars: int = 1200,
    stream: TextIO | None = None,
) -> int:
    """Prints up to `n` sampled documents dropped for `reason` (`step:reason`, a bare `step` for all of a
    step's reasons, or `kept`). Returns how many were printed."""
    import sys

    stream = stream or sys.stdout
    out = OutputDir.open(output)
    known = _known_labels(out)
    wanted = {reason} if ":" in reason or reason == KEPT else {k for k in known if k.startswith(reason + ":")}
    if not wanted or not wanted & set(known):
        raise ReportError(
            f"{output}: no document was dropped for {reason!r}; reasons with drops: " + (", ".join(known[1:]) or "none")
        )
    if reason != KEPT and not out.rejected_files:
        raise ReportError(f"{output}: no rejected/ files (the run had output.rejected: false)")
    data = scan_output(out, samples_per_label=n, seed=seed, only_labels=wanted, count_text=False)
    samples = sorted((s for label in wanted for s in data.samples.get(label, [])), key=lambda s: s.label)[:n]
    width = width or min(shutil.get_terminal_size((100, 20)).columns, 120)
    total = sum(data.rows.get(label, 0) for label in wanted)
    print(f"{reason}: {total:,} documents; showing {len(samples)} (seed {seed})", file=stream)
    for i, sample in enumerate(samples, 1):
        print("\n" + "─" * width, file=stream)
        print(f"[{i}] {sample.label}  id={sample.id}  {sample.text_chars:,} characters", file=stream)
        for name, value in sorted(sample.signals.items()):
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            print(f"    {name} = {shown}", file=stream)
        body = cut_text(sample.text, max_chars)
        for paragraph in body.splitlines() or [""]:
            print(textwrap.fill(paragraph, width=width, replace_whitespace=False) if paragraph else "", file=stream)
    return len(samples)
