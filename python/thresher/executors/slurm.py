"""The Slurm executor: every stage of a plan becomes a job array, chained with `afterok`.

Submission goes through datatrove's `SlurmPipelineExecutor` (it writes the sbatch script,
activates the environment, submits with `sbatch`, maps `SLURM_ARRAY_TASK_ID` to a rank, and
logs each rank to `logs/task_NNNNN.log`). Thresher wraps it so that one datatrove rank is one
Thresher task (`Plan.run_task`), and replaces three of its behaviours:

- which ranks to run: the tasks without a Thresher completion marker (not datatrove's own
  completion files), so a rerun resubmits only failed or missing tasks, whoever ran the rest;
- array splitting: an array larger than the cluster's MaxArraySize is submitted as several
  arrays at once, and the next stage waits for all of them (`afterok:A:B:...`);
- no per-stage stats job: one final job merges Thresher's stats after the last stage.

Layout under the log directory (default OUT/_thresher/slurm): one folder per stage holding
datatrove's files (launch_script.slurm, executor.pik, ranks_to_run.json, logs/, slurm_logs/).
`OUT/_thresher/slurm_submission.json` records the job ids of the latest submission; `filter
status` reads it.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow.fs as pafs

from thresher.config import SlurmExecutorConfig
from thresher.executors.tasks import PlanSpec, Preempted, limit_rayon_threads, run_guarded
from thresher.io.writers import read_json, write_json_atomic
from thresher.stages import Plan, Stage

SUBMISSION_FILE = "slurm_submission.json"
MERGE_STAGE = "merge_stats"
DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's default MaxArraySize


class SlurmError(RuntimeError):
    """Submitting to Slurm failed, or an earlier submission is still running."""


# -- what runs inside an array task ----------------------------------------------------------------
class StageTask:
    """The datatrove pipeline of one stage: `(data, rank, world_size)` runs Thresher task `rank`."""

    def __init__(self, spec: PlanSpec, stage_name: str, requeue: bool) -> None:
        self.spec = spec
        self.stage_name = stage_name
        self.requeue = requeue
        self._plan: Plan | None = None

    def __repr__(self) -> str:
        return f"thresher stage {self.stage_name} of {self.spec.config['output']['path']} (from {self.spec.workdir})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_plan": None}

    @property
    def plan(self) -> Plan:
        if self._plan is None:
            self._plan = self.spec.build()
        return self._plan

    def stage(self) -> Stage:
        return next(s for s in self.plan.stages if s.name == self.stage_name)

    def is_done(self, rank: int) -> bool:
        return self.plan.is_done(self.stage(), rank)

    def __call__(self, data: Any = None, rank: int = 0, world_size: int = 1):
        from loguru import logger

        limit_rayon_threads(os.environ.get("SLURM_CPUS_PER_TASK"))
        stage = self.stage()
        if self.plan.is_done(stage, rank):
            logger.info(f"{stage.name} task {rank} is already done")
            return iter(())
        try:
            result = run_guarded(self.plan, stage, rank)
        except Preempted as stop:
            name = signal.Signals(stop.signum).name
            logger.warning(f"{stage.name} task {rank}: {name} received, stopped at a batch boundary; nothing kept")
            _requeue_or_exit(stop.signum, self.requeue)
            raise
        rows = ""
        if "rows_read" in result:
            rows = f", {result['rows_read']} rows in, {result['rows_written']} kept"
        logger.info(f"{stage.name} task {rank} done in {result.get('seconds')} s{rows}")
        return iter(())


class MergeStatsTask(StageTask):
    """The final job: sums the tasks' counts into OUT/stats.json."""

    def __init__(self, spec: PlanSpec) -> None:
        super().__init__(spec, MERGE_STAGE, requeue=False)

    def is_done(self, rank: int) -> bool:
        return False

    def __call__(self, data: Any = None, rank: int = 0, world_size: int = 1):
        from loguru import logger

        stats = self.plan.merge_stats()
        where = self.plan.path("stats.json")
        logger.info(f"stats: {stats['input_rows']} rows in, {stats['output_rows']} kept -> {where}")
        return iter(())


def _requeue_or_exit(signum: int, requeue: bool) -> None:
    """After a clean stop on SIGUSR1 (time limit near), put this array task back in the queue."""
    job = os.environ.get("SLURM_JOB_ID")
    if signum == signal.SIGUSR1 and requeue and job:
        # Slurm ends this process while requeueing; default handlers make that immediate.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        subprocess.run(["scontrol", "requeue", job], check=False)
    raise SystemExit(128 + signum)


# -- submission side ------------------------------------------------------------------------------
@dataclass
class StageSubmission:
    stage: str
    ranks: list[int]  # Thresher task indices, in array order (array element i of chunk c runs ranks[c*size+i])
    array_size: int  # elements per array (the last array may be smaller)
    tasks_per_job: int
    logging_dir: str
    job_ids: list[str] = field(default_factory=list)  # one per array

    def locate(self, rank: int) -> tuple[str, int] | None:
        """(array job id, array index) running `rank`, if it was submitted."""
        if rank not in self.ranks or not self.job_ids:
            return None
        position = self.ranks.index(rank) // self.tasks_per_job
        chunk, index = divmod(position, self.array_size)
        return self.job_ids[chunk], index

    def task_log(self, rank: int) -> str:
        return os.path.join(self.logging_dir, "logs", f"task_{rank:05d}.log")

    def slurm_log(self, rank: int) -> str | None:
        where = self.locate(rank)
        if where is None:
            return None
        return os.path.join(self.logging_dir, "slurm_logs", f"{where[0]}_{where[1]}.out")


def cluster_max_array_size() -> int:
    """MaxArraySize from `scontrol show config` (the largest array index is one less)."""
    try:
        out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return DEFAULT_MAX_ARRAY_SIZE
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and value.strip().isdigit():
            return int(value.strip())
    return DEFAULT_MAX_ARRAY_SIZE


def queued_tasks(job_ids: set[str]) -> dict[tuple[str, int], str] | None:
    """State (PENDING, RUNNING, ...) of each queued array element of the given array jobs; None
    when squeue cannot be asked (no Slurm client, controller down)."""
    if not job_ids:
        return {}
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%F|%K|%T"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    states = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3 and parts[0] in job_ids and parts[1].isdigit():
            states[(parts[0], int(parts[1]))] = parts[2]
    return states


@dataclass
class Submission:
    stages: list[StageSubmission] = field(default_factory=list)
    submitted_at: float = 0.0
    scripts: dict[str, str] = field(default_factory=dict)  # stage -> sbatch script (not saved)

    def job_ids(self) -> set[str]:
        return {j for s in self.stages for j in s.job_ids}

    def to_json(self) -> dict[str, Any]:
        return {"submitted_at": self.submitted_at, "stages": [asdict(s) for s in self.stages]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Submission:
        return cls([StageSubmission(**s) for s in doc.get("stages", [])], doc.get("submitted_at", 0.0))


def submission_path(plan: Plan) -> str:
    return plan.path("_thresher", SUBMISSION_FILE)


def read_submission(plan_fs: pafs.FileSystem, path: str) -> Submission | None:
    if plan_fs.get_file_info(path).type != pafs.FileType.File:
        return None
    return Submission.from_json(read_json(plan_fs, path))


class SlurmExecutor:
    """Submits a plan's pending tasks as job arrays; `wait()` follows them to the end."""

    def __init__(self, options: SlurmExecutorConfig, quiet: bool = False) -> None:
        self.options = options
        self.quiet = quiet

    def log_dir(self, plan: Plan) -> str:
        if self.options.log_dir:
            return os.path.abspath(self.options.log_dir)
        if not isinstance(plan.fs, pafs.LocalFileSystem):
            raise SlurmError("the output is not on a local filesystem: set executor.log_dir to a shared directory")
        return plan.path("_thresher", "slurm")

    def build_jobs(self, plan: Plan, max_array_size: int | None = None) -> list[Any]:
        """One datatrove job per stage with pending tasks, plus the stats merge; nothing submitted."""
        try:
            from thresher.executors.slurm_job import ThresherStageJob as job_class
        except ImportError as err:  # datatrove is an optional dependency
            raise SlurmError(f"the Slurm executor needs datatrove ({err}): pip install 'thresher[slurm]'") from None
        if max_array_size is None:
            max_array_size = (
                cluster_max_array_size() if self.options.max_array_size == "auto" else self.options.max_array_size
            )
        spec = PlanSpec.of(plan)
        root = self.log_dir(plan)
        jobs = []
        for stage in plan.stages:
            pending = plan.pending_tasks(stage)
            if not pending:
                continue
            task = StageTask(spec, stage.name, self.options.requeue)
            job = job_class(
                task, stage.num_tasks, pending, self.options, os.path.join(root, stage.name), max_array_size, []
            )
            jobs.append(job)
        if jobs or plan.fs.get_file_info(plan.path("stats.json")).type != pafs.FileType.File:
            merge = job_class(
                MergeStatsTask(spec), 1, [0], self.options, os.path.join(root, MERGE_STAGE), max_array_size, []
            )
            jobs.append(merge)
        return jobs

    def dry_run(self, plan: Plan) -> str:
        """The stages, their pending task counts and the sbatch scripts, without submitting."""
        jobs = {job.pipeline[0].stage_name: job for job in self.build_jobs(plan)}
        lines = []
        previous: str | None = None
        for stage in [*plan.stages, Stage(MERGE_STAGE, "merge", 1)]:
            job = jobs.get(stage.name)
            if job is None:
                lines.append(f"stage {stage.name}: {stage.kind}, {stage.num_tasks} tasks, all done: not submitted")
                continue
            arrays = math.ceil(job.num_jobs / job.array_size)
            lines.append(
                f"stage {stage.name}: {stage.kind}, {stage.num_tasks} tasks, {len(job.ranks)} to run"
                f" as {arrays} job array(s) of up to {job.array_size}"
            )
            script_path = f"{job.logging_dir.path}/launch_script.slurm"
            job.depends_on = [f"<job ids of {previous}>"] if previous else []
            for chunk in range(arrays):
                lines.append(f"  sbatch {' '.join(job.sbatch_extra_args(chunk))} {script_path}")
            lines.append(f"--- {script_path} ---")
            lines.append(job.script().rstrip())
            lines.append("---")
            previous = stage.name
        return "\n".join(lines)

    def submit(self, plan: Plan, force: bool = False) -> Submission:
        path = submission_path(plan)
        previous = read_submission(plan.fs, path)
        if previous is not None:  # with --force too: those jobs would write into the new run
            queued = queued_tasks(previous.job_ids())
            if queued:
                raise SlurmError(
                    f"jobs of the previous submission are still queued or running "
                    f"({', '.join(sorted(previous.job_ids()))}); wait for them (filter status "
                    f"{plan.config.output.path}) or scancel them first"
                )
        plan.prepare_output(force=force)
        submission = Submission(submitted_at=time.time())
        depends: list[str] = []
        for job in self.build_jobs(plan):
            job.depends_on = list(depends)
            job.launch_job()
            depends = list(job.job_ids)
            submission.stages.append(
                StageSubmission(
                    job.pipeline[0].stage_name,
                    job.ranks,
                    job.array_size,
                    job.tasks_per_job,
                    job.logging_dir.path,
                    list(job.job_ids),
                )
            )
            submission.scripts[job.pipeline[0].stage_name] = job.script()
        write_json_atomic(plan.fs, path, plan.tmp_dir, submission.to_json())
        return submission

    def wait(self, submission: Submission, poll_s: float = 1.0, timeout_s: float | None = None) -> bool:
        """Blocks until no job of the submission is queued; False on timeout."""
        deadline = None if timeout_s is None else time.time() + timeout_s
        ids = submission.job_ids()
        failures = 0
        while True:
            queued = queued_tasks(ids)
            failures = failures + 1 if queued is None else 0
            if queued == {} or failures > 30:  # squeue failing for half a minute: give up
                return queued == {}
            if deadline is not None and time.time() > deadline:
                return False
            time.sleep(poll_s)
