"""datatrove's `SlurmPipelineExecutor` adapted to run one Thresher stage (see executors/slurm.py).

A module of its own so that dill pickles the class by reference, and so that importing the
executor (for `filter status`) does not need datatrove.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
from typing import Any

from datatrove.executor.slurm import SlurmPipelineExecutor, launch_slurm_job

from thresher.config import SlurmExecutorConfig
from thresher.executors.slurm import SlurmError, StageTask


class ThresherStageJob(SlurmPipelineExecutor):
    """datatrove's Slurm executor for one Thresher stage (see the module docstring)."""

    def __init__(
        self,
        task: StageTask,
        num_tasks: int,
        ranks: list[int],
        options: SlurmExecutorConfig,
        logging_dir: str,
        array_size: int,
        depends_on: list[str],
    ) -> None:
        super().__init__(
            pipeline=[task],
            tasks=num_tasks,
            time=options.time,
            partition=options.partition or "",
            cpus_per_task=options.cpus_per_task,
            job_name=f"{options.job_name}.{task.stage_name}",
            qos=options.qos or "",
            env_command=options.env_command,
            venv_path=options.venv_path,
            max_array_size=array_size,
            logging_dir=logging_dir,
            slurm_logs_folder=os.path.join(logging_dir, "slurm_logs"),
            max_array_launch_parallel=True,
            requeue_signals=None,  # StageTask stops cleanly itself, then requeues
            requeue=options.requeue,
            tasks_per_job=options.tasks_per_job,
            workers=options.max_running or -1,
        )
        self.options = options
        self.ranks = list(ranks)
        self.depends_on = list(depends_on)
        self.job_ids: list[str] = []

    # Thresher markers decide what is done, not datatrove's completion files.
    def is_rank_completed(self, rank: int) -> bool:
        return self.pipeline[0].is_done(rank)

    def get_incomplete_ranks(self, ranks=None, skip_completed=None) -> list[int]:
        return list(self.ranks)

    @property
    def num_jobs(self) -> int:
        return math.ceil(len(self.ranks) / self.tasks_per_job)

    @property
    def array_size(self) -> int:
        return min(self.num_jobs, self.max_array_size)

    def get_sbatch_args(self, max_array: int = 1) -> dict:
        o = self.options
        log = os.path.join(self.slurm_logs_folder, "%A_%a.out")
        args: dict[str, Any] = {
            "job-name": self.job_name,
            "time": o.time,
            "cpus-per-task": o.cpus_per_task,
            "mem-per-cpu": f"{max(1, round(o.mem_per_cpu_gb * 1024))}M",
            "nodes": 1,
            "output": log,
            "error": log,
            "array": f"0-{max_array - 1}" + (f"%{o.max_running}" if o.max_running else ""),
        }
        if o.partition:
            args["partition"] = o.partition
        if o.qos:
            args["qos"] = o.qos
        if o.account:
            args["account"] = o.account
        if o.requeue:
            args["requeue"] = ""
        if o.signal_before_timeout_s:
            args["signal"] = f"USR1@{o.signal_before_timeout_s}"
        for key, value in o.sbatch_args.items():
            args[key.lstrip("-")] = "" if value is None else value
        return args

    def command(self) -> str:
        python = "python" if (self.env_command or self.venv_path) else shlex.quote(sys.executable)
        pik = shlex.quote(os.path.join(self.logging_dir.path, "executor.pik"))
        return f"srun -l -n 1 {python} -m datatrove.tools.launch_pickled_pipeline {pik}"

    def script(self) -> str:
        return self.get_launch_file_contents(self.get_sbatch_args(self.array_size), self.command())

    def sbatch_extra_args(self, chunk: int) -> list[str]:
        args = [f"--export=ALL,RUN_OFFSET={chunk}"]
        remaining = self.num_jobs - chunk * self.array_size
        if remaining < self.array_size:
            args.append(f"--array=0-{remaining - 1}" + (f"%{self.workers}" if self.workers != -1 else ""))
        if self.depends_on:
            args.append("--dependency=afterok:" + ":".join(self.depends_on))
        return args

    def launch_job(self) -> None:
        import dill
        from dill import CONTENTS_FMODE

        os.makedirs(self.slurm_logs_folder, exist_ok=True)
        with self.logging_dir.open("executor.pik", "wb") as f:
            dill.dump(self, f, fmode=CONTENTS_FMODE)
        with self.logging_dir.open("ranks_to_run.json", "w") as f:
            json.dump(self.ranks, f)
        script = self.script()
        with self.logging_dir.open("launch_script.slurm", "w") as f:
            f.write(script)
        chunks = math.ceil(self.num_jobs / self.array_size)
        for chunk in range(chunks):
            try:
                self.job_ids.append(launch_slurm_job(script, self.job_id_retriever, *self.sbatch_extra_args(chunk)))
            except (subprocess.CalledProcessError, FileNotFoundError) as err:
                raise SlurmError(f"sbatch failed for stage {self.pipeline[0].stage_name}: {err}") from err
        self.job_id = ":".join(self.job_ids)
