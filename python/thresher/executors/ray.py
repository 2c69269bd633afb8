"""The Ray executor: each stage's pending tasks become Ray tasks; stages run in order.

`executor: {type: ray}` starts a local Ray (`num_cpus`, and `node_ip_address: 127.0.0.1` keeps
its node address on the loopback interface); `address: ray://host:10001` or `auto` joins an
existing cluster, whose workers must see the input and output paths and have Thresher
installed. Each Ray task rebuilds the plan from a `PlanSpec` and runs one Thresher task, so
the outputs, markers and stats are those of the local executor; a rerun skips finished tasks.
"""

from __future__ import annotations

import time
from typing import Any

from thresher.config import RayExecutorConfig
from thresher.executors.local import RunSummary, TaskError, _describe_error, _task_where
from thresher.executors.tasks import PlanSpec, limit_rayon_threads
from thresher.stages import Plan

_WORKER_PLANS: dict[str, Plan] = {}  # per worker process: plans already built, by fingerprint


def _run_remote(spec: PlanSpec, stage_index: int, task: int, cpus: float) -> tuple[int, str | None]:
    limit_rayon_threads(max(1, int(cpus)))
    key = f"{spec.config['output']['path']}|{stage_index}"
    plan = _WORKER_PLANS.get(key)
    if plan is None:
        plan = _WORKER_PLANS[key] = spec.build()
    stage = plan.stages[stage_index]
    try:
        if not plan.is_done(stage, task):
            plan.run_task(stage, task)
        return task, None
    except Exception as err:  # noqa: BLE001 - reported to the driver, which decides
        return task, _describe_error(err)


class RayExecutor:
    def __init__(self, options: RayExecutorConfig, quiet: bool = False) -> None:
        self.options = options
        self.quiet = quiet

    def _init(self) -> bool:
        """Connects to (or starts) Ray; returns True when this call started it."""
        try:
            import ray
        except ImportError as err:
            raise RuntimeError("the Ray executor needs ray: pip install 'thresher[ray]'") from err
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": not self.quiet}
        if self.options.address:
            kwargs["address"] = self.options.address
        else:
            if self.options.num_cpus:
                kwargs["num_cpus"] = self.options.num_cpus
            if self.options.node_ip_address:
                kwargs["_node_ip_address"] = self.options.node_ip_address
        ray.init(**kwargs)
        return True

    def run(self, plan: Plan, force: bool = False) -> RunSummary:
        import ray

        started = time.time()
        plan.prepare_output(force=force)
        summary = RunSummary()
        spec = PlanSpec.of(plan)
        started_ray = self._init()
        try:
            remote = ray.remote(num_cpus=self.options.cpus_per_task, max_retries=0)(_run_remote)
            spec_ref = ray.put(spec)
            for index, stage in enumerate(plan.stages):
                pending = plan.pending_tasks(stage)
                info: dict[str, Any] = {
                    "name": stage.name,
                    "kind": stage.kind,
                    "tasks": stage.num_tasks,
                    "skipped": stage.num_tasks - len(pending),
                }
                summary.stages.append(info)
                if not pending:
                    continue
                stage_started = time.time()
                refs = [remote.remote(spec_ref, index, t, self.options.cpus_per_task) for t in pending]
                for ref, task in zip(refs, pending, strict=True):
                    try:
                        _, error = ray.get(ref)
                    except Exception as err:  # noqa: BLE001 - a worker died
                        error = f"Ray task failed: {type(err).__name__}: {err}"
                    if error is not None:
                        summary.errors.append(TaskError(stage.name, task, _task_where(plan, stage, task), error))
                info["seconds"] = round(time.time() - stage_started, 3)
                if summary.errors:
                    break  # later stages depend on this one
        finally:
            if started_ray:
                ray.shutdown()
        if summary.ok:
            summary.stats = plan.merge_stats()
        summary.seconds = time.time() - started
        return summary
