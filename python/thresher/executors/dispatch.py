"""`filter run` for the executors other than the local pool, and `--dry-run` for all of them."""

from __future__ import annotations

import argparse
import sys

from thresher.config import PipelineConfig
from thresher.stages import Plan


def dry_run(plan: Plan) -> str:
    """Stages and task counts (and, for Slurm, the sbatch scripts) without running anything."""
    executor = plan.config.executor
    if executor.type == "slurm":
        from thresher.executors.slurm import SlurmExecutor

        return SlurmExecutor(executor).dry_run(plan)
    lines = [f"executor: {executor.type}; {len(plan.shards)} input shards"]
    for stage in plan.stages:
        pending = len(plan.pending_tasks(stage))
        lines.append(f"stage {stage.name}: {stage.kind}, {stage.num_tasks} tasks, {pending} to run")
    return "\n".join(lines)


def run_slurm(args: argparse.Namespace, config: PipelineConfig, plan: Plan) -> int:
    from thresher.executors.slurm import SlurmExecutor
    from thresher.status import collect_status, format_status

    executor = SlurmExecutor(config.executor, quiet=args.quiet)
    submission = executor.submit(plan, force=args.force)
    out = config.output.path
    if not submission.stages:
        print(f"{out}: every task is done and stats.json is written; nothing to submit")
        return 0
    for stage in submission.stages:
        print(f"stage {stage.stage}: {len(stage.ranks)} task(s) submitted as job(s) {', '.join(stage.job_ids)}")
    print(f"logs: {executor.log_dir(plan)}")
    if not (args.wait or config.executor.wait):
        print(f"follow with: filter status {out}")
        return 0
    executor.wait(submission)
    status = collect_status(out)
    print(format_status(status))
    return 0 if status.complete else 1


def run_ray(args: argparse.Namespace, config: PipelineConfig, plan: Plan):
    from thresher.executors.ray import RayExecutor

    return RayExecutor(config.executor, quiet=args.quiet).run(plan, force=args.force)


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from thresher.status import StatusError, collect_status, format_status

    try:
        status = collect_status(args.output_dir)
    except StatusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        print(format_status(status, tail_lines=args.lines))
    return 0 if status.complete else 1
