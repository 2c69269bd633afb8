"""The `report` and `inspect` subcommands (their parsers and what they run)."""

from __future__ import annotations

import argparse
import sys


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="write an HTML report (charts, drop reasons, samples) of an output")
    report.add_argument("output", help="output directory of a finished run")
    report.add_argument("--dir", dest="report_dir", help="where to write the report (default: OUTPUT/report)")
    report.add_argument("--samples", type=int, default=3, help="documents shown per reason (default 3)")
    report.add_argument("--seed", type=int, default=0, help="seed of the document samples")
    report.add_argument(
        "--max-signal-rows", type=int, default=200_000, help="rows per side used for histograms (default 200000)"
    )
    report.add_argument("--embed", action="store_true", help="put the charts inside the HTML (one file to share)")
    report.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    inspect = sub.add_parser("inspect", help="print sampled documents of one drop reason, with their signals")
    inspect.add_argument("output", help="output directory of a finished run")
    inspect.add_argument(
        "--reason", "-r", required=True, help="step:reason (e.g. text_length:too_few_words), a step name, or 'kept'"
    )
    inspect.add_argument("-n", type=int, default=5, help="documents to show (default 5)")
    inspect.add_argument("--seed", type=int, default=0, help="seed of the sample")
    inspect.add_argument("--chars", type=int, default=1200, help="characters of text shown per document")


def run_report_command(args: argparse.Namespace) -> int:
    from thresher.report.collect import ReportError

    try:
        if args.command == "report":
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                print(
                    "error: the report draws its charts with matplotlib: pip install 'thresher[report]'",
                    file=sys.stderr,
                )
                return 2
            from thresher.report.html import write_report

            index = write_report(
                args.output,
                report_dir=args.report_dir,
                samples_per_reason=args.samples,
                seed=args.seed,
                max_signal_rows=args.max_signal_rows,
                embed_images=args.embed,
                progress=not args.quiet and sys.stderr.isatty(),
            )
            print(f"report written: {index}\nopen it with: xdg-open {index}   (or any browser)")
            return 0
        from thresher.report.inspect import inspect_reason

        inspect_reason(args.output, args.reason, n=args.n, seed=args.seed, max_chars=args.chars)
        return 0
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
