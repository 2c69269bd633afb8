"""Heuristic filters: decision agreement with datatrove 0.10.1 and speed of the FineWeb chain.

    python benchmarks/heuristics.py                    # agreement and speed on all ~3,800 docs (~10 minutes)
    python benchmarks/heuristics.py --skip-agreement   # speed only
    python benchmarks/heuristics.py --datatrove-sample 480 --skip-agreement   # a quick look (noisier)
    python benchmarks/heuristics.py --limit 500

Agreement: each of GopherQuality, GopherRepetition, C4Quality (defaults) and FineWebQuality is run
by datatrove (with spaCy) and by Thresher (`profile: datatrove`) on the real web text in
../shared/data (web_html_boilerplate raw_text, cc_misc_samples text, dclm_human_quality text).
Printed: identical keep/drop decisions, same reason among documents both drop, and every
disagreement with its id and signals.

Speed: the FineWeb chain (gopher_repetition, gopher_quality, c4_quality without the terminal
punctuation rule, fineweb_quality) on one core (RAYON_NUM_THREADS=1), documents/s and MB/s of text,
against datatrove's same chain in the same process, on the same documents (timed in interleaved
parts, the median ratio printed); then the wall-clock speed with every core of the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from thresher.api import Pipeline  # noqa: E402

SOURCES = [
    ("web_html_boilerplate/web_html_boilerplate.parquet", "raw_text"),
    ("cc_misc_samples/cc_misc_samples.parquet", "text"),
    ("dclm_human_quality/dclm_human_quality.parquet", "text"),
]


def shared_data() -> Path:
    return Path(os.environ.get("THRESHER_SHARED_DATA", ROOT.parent / "shared" / "data"))


def load_corpus(limit: int | None) -> pa.Table:
    parts = []
    for rel, column in SOURCES:
        table = pq.read_table(shared_data() / rel, columns=["id", column])
        parts.append(pa.table({"id": table["id"].cast(pa.string()), "text": table[column].cast(pa.large_string())}))
    table = pa.concat_tables(parts)
    table = table.filter(table["text"].is_valid())
    if limit and limit < table.num_rows:  # evenly spaced, so every source is represented
        step = table.num_rows / limit
        table = table.take([int(i * step) for i in range(limit)])
    return table


def datatrove_filters():
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return {
        "gopher_quality": GopherQualityFilter,
        "gopher_repetition": GopherRepetitionFilter,
        "c4_quality": C4QualityFilter,
        "fineweb_quality": FineWebQualityFilter,
    }


def datatrove_decide(filter_obj, text: str) -> tuple[bool, str | None, str]:
    from datatrove.data import Document

    doc = Document(text=text, id="x")
    try:
        result = filter_obj.filter(doc)
    except Exception as err:  # datatrove divides by zero on some inputs; report it as its own reason
        return False, f"error:{type(err).__name__}", doc.text
    if isinstance(result, tuple):
        return bool(result[0]), result[1], doc.text
    return bool(result), None, doc.text


def agreement(table: pa.Table, show: int) -> dict[str, dict]:
    filters = datatrove_filters()
    texts = table["text"].to_pylist()
    ids = table["id"].to_pylist()
    report = {}
    for step_type, cls in filters.items():
        ours = Pipeline.from_steps([{"type": step_type, "name": "t"}]).run_table(table)
        reasons = dict(zip(ours.rejected["id"].to_pylist(), ours.rejected["drop_reason"].to_pylist(), strict=True))
        signal_columns = [c for c in ours.kept.column_names if c.startswith("t.")]
        signals = {}
        for side in (ours.kept, ours.rejected):
            cols = side.select(["id", *signal_columns]).to_pylist()
            signals.update({row["id"]: row for row in cols})
        kept_text = dict(zip(ours.kept["id"].to_pylist(), ours.kept["text"].to_pylist(), strict=True))
        filter_obj = cls()
        same = same_reason = both_drop = same_text = 0
        disagreements = []
        t0 = time.perf_counter()
        for doc_id, text in zip(ids, texts, strict=True):
            keep, reason, new_text = datatrove_decide(filter_obj, text)
            our_reason = reasons.get(doc_id)
            our_keep = our_reason is None
            our_reason = our_reason.split(":", 1)[1] if our_reason else None
            if keep == our_keep:
                same += 1
                if not keep:
                    both_drop += 1
                    same_reason += reason == our_reason
                elif kept_text.get(doc_id) == new_text:
                    same_text += 1
            else:
                disagreements.append((doc_id, keep, reason, our_reason, signals.get(doc_id)))
        elapsed = time.perf_counter() - t0
        n = len(ids)
        kept_both = same - both_drop
        report[step_type] = {
            "docs": n,
            "identical_pct": 100.0 * same / n,
            "same_reason_pct": 100.0 * same_reason / both_drop if both_drop else 100.0,
            "same_text_pct": 100.0 * same_text / kept_both if kept_both else 100.0,
            "datatrove_keep_rate": sum(1 for d in ids if d not in reasons) / n,
            "disagreements": disagreements,
            "datatrove_seconds": elapsed,
        }
        print(
            f"{step_type:18s} identical decisions {report[step_type]['identical_pct']:6.2f}%  "
            f"same reason on shared drops {report[step_type]['same_reason_pct']:6.2f}%  "
            f"({len(disagreements)} disagreements of {n})",
            flush=True,
        )
        if step_type == "c4_quality":
            print(f"{'':18s} identical rewritten text on shared keeps {report[step_type]['same_text_pct']:6.2f}%")
        for doc_id, keep, reason, our_reason, sig in disagreements[:show]:
            sig = {k[2:]: (round(v, 4) if isinstance(v, float) else v) for k, v in (sig or {}).items() if k != "id"}
            print(
                f"    {doc_id}: datatrove {'keep' if keep else 'drop:' + str(reason)}, "
                f"thresher {'keep' if our_reason is None else 'drop:' + our_reason}  {sig}"
            )
    return report


FINEWEB_CHAIN = [
    {"type": "gopher_repetition"},
    {"type": "gopher_quality"},
    {"type": "c4_quality", "filter_no_terminal_punct": False},
    {"type": "fineweb_quality"},
]


# CPU seconds of this process: with one rayon thread that is one core's work, and unlike wall time
# it does not count the time other processes on a shared machine take from us.
clock = time.process_time


def time_thresher(
    table: pa.Table, repeats: int, steps: list[dict] | None = None, fuse: bool = True, clock_fn=None
) -> float:
    """Median CPU seconds of the chain's step-chain over `table` in batches (what a task does per
    shard, without the file reading and writing)."""
    from thresher.chain import StepChain
    from thresher.stages import build_steps

    pipeline = Pipeline.from_steps(steps or FINEWEB_CHAIN)
    chain = StepChain(build_steps(pipeline.config), "text", validate_input=True, fuse_heuristics=fuse)
    batches = table.to_batches(max_chunksize=pipeline.config.input.batch_rows)
    chain.run(batches[0].slice(0, 64))  # warm-up: tables and patterns built, code paged in
    clock_fn = clock_fn or clock
    times = []
    for _ in range(repeats):
        t0 = clock_fn()
        for batch in batches:
            chain.run(batch)
        times.append(clock_fn() - t0)
    return statistics.median(times)


def scaling(mb: float, limit: int | None) -> None:
    """Wall-clock speed of the heuristic run with 1 and with every core (rayon threads over each
    batch's documents), each in a fresh process."""
    cores = os.cpu_count() or 1
    walls = {}
    for threads in sorted({1, cores}):
        env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
        cmd = [sys.executable, __file__, "--wall-seconds", *(["--limit", str(limit)] if limit else [])]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        walls[threads] = float(out.stdout.strip().splitlines()[-1])
        print(f"  {threads} thread(s): {mb / walls[threads]:7.1f} MB/s wall clock")
    if cores > 1:
        print(f"  speed-up with {cores} threads: {walls[1] / walls[cores]:.2f}x (linear: {cores}x)")


def time_datatrove(table: pa.Table) -> float:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    chain = [
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
    ]
    datatrove_decide(chain[1], "warm up the tokenizer with a short text.")
    texts = table["text"].to_pylist()
    t0 = clock()
    for text in texts:
        doc = Document(text=text, id="x")
        for f in chain:
            try:
                result = f.filter(doc)
            except Exception:
                break
            if result is not True and not (isinstance(result, tuple) and result[0]):
                break
    return clock() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="use N evenly spaced documents")
    parser.add_argument(
        "--datatrove-sample",
        type=int,
        default=None,
        help="time the side-by-side run on about N evenly spaced documents (default: all; parts of a few dozen "
        "documents are noisy)",
    )
    parser.add_argument("--show", type=int, default=20, help="disagreements printed per filter")
    parser.add_argument("--skip-agreement", action="store_true")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved datatrove/Thresher parts of the sample")
    parser.add_argument("--skip-scaling", action="store_true", help="skip the wall-clock run with every core")
    parser.add_argument("--wall-seconds", action="store_true", help=argparse.SUPPRESS)  # child of the scaling run
    parser.add_argument(
        "--dump-corpus",
        metavar="FILE",
        help="write the corpus as NUL-separated UTF-8 (input of the Rust example heuristics_speed) and exit",
    )
    args = parser.parse_args()

    table = load_corpus(args.limit)
    if args.wall_seconds:
        print(time_thresher(table, repeats=5, clock_fn=time.perf_counter))
        return
    if args.dump_corpus:
        texts = table["text"].to_pylist()
        if any("\0" in t for t in texts):
            raise SystemExit("a document contains a NUL byte: cannot write the NUL-separated file")
        Path(args.dump_corpus).write_bytes("\0".join(texts).encode())
        print(f"wrote {len(texts)} documents to {args.dump_corpus}")
        return
    mb = sum(len(t.encode()) for t in table["text"].to_pylist()) / 1e6
    print(f"corpus: {table.num_rows} documents, {mb:.1f} MB of text from {shared_data()}")

    if not args.skip_agreement:
        print("\n== agreement with datatrove 0.10.1 (profile: datatrove) ==")
        agreement(table, args.show)

    print("\n== FineWeb chain speed, one core (RAYON_NUM_THREADS=1, CPU time of this process) ==")
    ours = time_thresher(table, repeats=5)
    print(f"thresher:  {table.num_rows / ours:10.0f} docs/s  {mb / ours:7.1f} MB/s  (median of 5, all documents)")
    for step in FINEWEB_CHAIN:
        alone = time_thresher(table, repeats=3, steps=[step])
        print(f"  {step['type']:<18} alone on all documents: {alone:6.2f} s  {mb / alone:7.1f} MB/s")
    unfused = time_thresher(table, repeats=3, fuse=False)
    print(f"  the chain step by step (no fused run): {table.num_rows / unfused:8.0f} docs/s  {mb / unfused:7.1f} MB/s")
    if not args.skip_scaling:
        print("scaling over the cores of this machine (wall clock, whole corpus):")
        scaling(mb, args.limit)
    if not args.datatrove_sample or args.datatrove_sample >= table.num_rows:
        sample = table
        note = "all documents"
    else:
        step = max(1, table.num_rows // args.datatrove_sample)
        sample = table.take(list(range(0, table.num_rows, step)))
        note = f"every {step}th document ({sample.num_rows})"
    # The machine's speed drifts over minutes: datatrove and Thresher are timed on the same part of
    # the sample in turn, round after round, and the ratio of each round is taken.
    rounds = max(1, args.rounds)
    ratios, dt_rates, dt_total, th_total = [], [], [], []
    print(f"side by side on {note}, in {rounds} interleaved parts:")
    for r in range(rounds):
        part = sample.take(list(range(r, sample.num_rows, rounds)))
        # Thresher just before and just after datatrove, so a drift in speed hits both alike.
        before = time_thresher(part, repeats=5)
        theirs = time_datatrove(part)
        ours_part = (before + time_thresher(part, repeats=5)) / 2
        ratios.append(theirs / ours_part)
        dt_rates.append(part.num_rows / theirs)
        dt_total.append(theirs)
        th_total.append(ours_part)
        print(
            f"  part {r + 1}: {part.num_rows} docs, datatrove {part.num_rows / theirs:6.1f} docs/s, "
            f"thresher {part.num_rows / ours_part:7.0f} docs/s: {theirs / ours_part:5.0f}x"
        )
    print(
        f"datatrove: {statistics.median(dt_rates):10.1f} docs/s (median of parts); "
        f"ratio (docs/s, same documents): median {statistics.median(ratios):.0f}x "
        f"(parts: {', '.join(f'{x:.0f}x' for x in ratios)}); all parts together {sum(dt_total) / sum(th_total):.0f}x"
    )


if __name__ == "__main__":
    main()
