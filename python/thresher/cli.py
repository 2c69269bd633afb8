"""`filter`: the command line.

filter run PIPELINE [--output DIR] [--set key.path=value]... [--workers N] [--force] [--quiet]
filter run PIPELINE --executor slurm [--dry-run] [--wait]   (also ray; see docs/executors.md)
filter status OUT        done/running/failed tasks of an output directory
filter validate PIPELINE [--set ...]
filter train-classifier [CONFIG] [--input ...] [--label-column ...] [--set ...]
filter annotate PIPELINE --output FILE [--size N] [--strata COL...]
filter schema            JSON Schema of pipeline files
filter report OUT        HTML report of an output directory (charts, drop reasons, samples)
filter inspect OUT --reason STEP:REASON [-n 5]
filter steps             the registered step types and their parameters
filter contamination-report OUT [--json] [--output FILE]   decontaminate / line_dedup reports of a run
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from thresher import dedup_report
from thresher.classify.commands import add_annotate_parser, add_train_parser
from thresher.config import ConfigError, load_pipeline, pipeline_json_schema
from thresher.io.readers import InputError
from thresher.logs import LOG_FORMATS, configure_logging, emit_event
from thresher.report.commands import add_report_commands, run_report_command

log = logging.getLogger("thresher")


def _add_pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("pipeline", help="pipeline YAML file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a key of the pipeline file (repeatable), e.g. --set steps.0.min_words=20",
    )
    p.add_argument("--output", "-o", help="output directory (overrides output.path)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="filter", description="Thresher: pretraining data-quality filtering")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline")
    _add_pipeline_args(run)
    run.add_argument("--workers", type=int, help="worker processes (overrides executor.workers)")
    run.add_argument("--force", action="store_true", help="redo everything, discarding earlier output")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bars (batch logs)")
    run.add_argument("--log-format", choices=LOG_FORMATS, default="text", help="json: one JSON object per line")
    run.add_argument("--executor", choices=["local", "slurm", "ray"], help="executor type (overrides executor.type)")
    run.add_argument("--dry-run", action="store_true", help="print stages, task counts and sbatch scripts; run nothing")
    run.add_argument("--wait", action="store_true", help="slurm: wait for the jobs and print the status")

    status = sub.add_parser("status", help="which stages and tasks of an output are done, running, failed")
    status.add_argument("output_dir", help="output directory of a run")
    status.add_argument("--lines", type=int, default=10, help="last lines shown of each failed task's logs")
    status.add_argument("--json", action="store_true", help="machine-readable")

    validate = sub.add_parser("validate", help="check a pipeline file without running it")
    _add_pipeline_args(validate)

    add_train_parser(sub)
    add_annotate_parser(sub)
    sub.add_parser("schema", help="print the JSON Schema of pipeline files")
    sub.add_parser("steps", help="list step types and their parameters")
    add_report_commands(sub)
    contamination = sub.add_parser("contamination-report", help="eval items found and lines removed in a finished run")
    contamination.add_argument("out", help="output directory of a run")
    contamination.add_argument("--json", action="store_true", help="JSON instead of Markdown")
    contamination.add_argument("--output", help="write to this file instead of stdout")
    dedup_report.add_parser(sub)
    return parser


def _load(args: argparse.Namespace):
    executor = getattr(args, "executor", None)
    return load_pipeline(args.pipeline, overrides=args.overrides, output=args.output, executor=executor)


def cmd_validate(args: argparse.Namespace) -> int:
    from thresher.stages import Plan

    config = _load(args)
    plan = Plan.create(config)
    print(f"{args.pipeline}: valid; {len(config.specs)} steps, {len(plan.shards)} input shards")
    for stage in plan.stages:
        print(f"  stage {stage.name}: {stage.kind}, {stage.num_tasks} tasks")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from thresher.executors import dispatch
    from thresher.executors.local import LocalExecutor
    from thresher.stages import Plan

    config = _load(args)
    plan = Plan.create(config)
    if args.dry_run:
        print(dispatch.dry_run(plan))
        return 0
    if config.executor.type == "slurm":
        return dispatch.run_slurm(args, config, plan)
    try:
        if config.executor.type == "ray":
            summary = dispatch.run_ray(args, config, plan)
        else:
            workers = args.workers or config.executor.workers
            executor = LocalExecutor(workers=workers, quiet=args.quiet, log_format=args.log_format)
            summary = executor.run(plan, force=args.force)
    except KeyboardInterrupt:
        print("\ninterrupted: finished shards are kept, no partial file was left; rerun to resume", file=sys.stderr)
        return 130
    if args.log_format == "json":
        emit_event(
            "run_end",
            ok=summary.ok,
            seconds=round(summary.seconds, 3),
            errors=[err.__dict__ for err in summary.errors],
            stats=summary.stats,
        )
    for stage in summary.stages:
        if stage.get("skipped"):
            print(f"{stage['name']}: {stage['skipped']} of {stage['tasks']} tasks already done, skipped")
    if not summary.ok:
        print(
            f"\nFAILED: {len(summary.errors)} task(s) failed; finished tasks are kept, rerun to retry:", file=sys.stderr
        )
        for err in summary.errors:
            print(f"  [{err.stage} #{err.task}] {err.where}\n    {err.message}", file=sys.stderr)
        return 1
    stats = summary.stats or {}
    _print_summary(stats, config.output.path, summary.seconds)
    return 0


def _print_summary(stats: dict, out: str, seconds: float) -> None:
    n_in, n_out = stats.get("input_rows", 0), stats.get("output_rows", 0)
    share = f" ({100 * n_out / n_in:.1f}%)" if n_in else ""
    repeats = f", {stats['added_rows']:,} of them repeats" if stats.get("added_rows") else ""
    print(f"\n{n_in:,} documents in, {n_out:,} kept{share}{repeats}, in {seconds:.1f}s -> {out}")
    validation = stats.get("input_validation", {})
    for reason, n in validation.get("rows_dropped", {}).items():
        print(f"  input:{reason}: {n:,} dropped")
    width = max((len(s["name"]) for s in stats.get("steps", [])), default=4)
    for step in stats.get("steps", []):
        dropped = sum(step["rows_dropped"].values())
        print(
            f"  {step['name']:<{width}}  {step['rows_in']:>9,} in  {step['rows_kept']:>9,} kept  {dropped:>9,} dropped"
        )
        for reason, n in sorted(step["rows_dropped"].items(), key=lambda kv: -kv[1]):
            print(f"  {'':<{width}}    {reason}: {n:,}")
        if step.get("rows_added"):
            print(f"  {'':<{width}}    + {step['rows_added']:,} rows added by repetition")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "log_format", "text"), getattr(args, "quiet", False))
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command in ("report", "inspect"):
            return run_report_command(args)
        if args.command == "validate":
            return cmd_validate(args)
        if args.command in ("train-classifier", "annotate"):
            from thresher.classify import commands

            return commands.run(args)
        if args.command == "status":
            from thresher.executors.dispatch import cmd_status

            return cmd_status(args)
        if args.command == "contamination-report":
            from thresher.contamination_report import cmd_contamination_report

            return cmd_contamination_report(args.out, args.json, args.output)
        if args.command == "dedup-report":
            return dedup_report.cmd_dedup_report(args)
        if args.command == "schema":
            print(json.dumps(pipeline_json_schema(), indent=2))
            return 0
        if args.command == "steps":
            from thresher.steps.registry import all_step_classes

            for name, cls in sorted(all_step_classes().items()):
                doc = (cls.__doc__ or "").strip().split("\n")[0]
                print(f"{name}: {doc}")
                for key, f in cls.Params.model_fields.items():
                    default = "(required)" if f.is_required() else repr(f.get_default(call_default_factory=True))
                    print(f"    {key} = {default}" + (f"  # {f.description}" if f.description else ""))
            return 0
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        if type(err).__name__ in ("PipelineChanged", "SlurmError"):
            print(f"error: {err}", file=sys.stderr)
            return 2
        raise
    return 2
