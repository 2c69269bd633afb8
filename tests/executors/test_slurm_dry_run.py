"""`--dry-run` and the sbatch scripts, without a cluster."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from thresher.config import SlurmExecutorConfig
from thresher.executors.local import LocalExecutor

pytest.importorskip("datatrove")

from thresher.executors.slurm import SlurmExecutor  # noqa: E402


def options(**extra) -> SlurmExecutorConfig:
    return SlurmExecutorConfig(type="slurm", max_array_size=3, **extra)


def test_dry_run_lists_stages_arrays_and_scripts(make_plan):
    plan = make_plan()
    opts = options(
        partition="cpu",
        account="proj1",
        qos="low",
        time="02:00:00",
        cpus_per_task=4,
        mem_per_cpu_gb=1.5,
        sbatch_args={"constraint": "avx2", "exclusive": None},
        env_command="module load python/3.11",
        max_running=2,
    )
    text = SlurmExecutor(opts).dry_run(plan)

    for line in [
        "stage segment0: map, 4 tasks, 4 to run as 2 job array(s) of up to 3",
        "stage median.partial: reduce, 2 tasks, 2 to run as 1 job array(s) of up to 2",
        "stage median.median: reduce, 1 tasks, 1 to run as 1 job array(s) of up to 1",
        "stage segment1: map, 4 tasks, 4 to run as 2 job array(s) of up to 3",
        "stage merge_stats: merge, 1 tasks, 1 to run as 1 job array(s) of up to 1",
    ]:
        assert line in text
    # the second array of a split stage runs the one remaining task; later stages wait for all arrays
    assert re.search(r"sbatch --export=ALL,RUN_OFFSET=1 --array=0-0%2 \S+segment0/launch_script.slurm", text)
    assert "--dependency=afterok:<job ids of segment0>" in text
    assert "--dependency=afterok:<job ids of median.median>" in text
    for directive in [
        "#SBATCH --array=0-2%2",
        "#SBATCH --partition=cpu",
        "#SBATCH --account=proj1",
        "#SBATCH --qos=low",
        "#SBATCH --time=02:00:00",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem-per-cpu=1536M",
        "#SBATCH --constraint=avx2",
        "#SBATCH --exclusive\n",
        "#SBATCH --requeue",
        "#SBATCH --signal=USR1@120",
    ]:
        assert directive in text
    assert "module load python/3.11" in text
    assert "srun -l -n 1 python -m datatrove.tools.launch_pickled_pipeline" in text
    assert not Path(plan.root).exists(), "a dry run writes nothing"


def test_dry_run_skips_finished_stages(make_plan):
    plan = make_plan()
    assert LocalExecutor(quiet=True).run(plan).ok
    text = SlurmExecutor(options()).dry_run(plan)
    assert "stage segment0: map, 4 tasks, all done: not submitted" in text
    assert "stage merge_stats: merge, 1 tasks, all done: not submitted" in text
    assert "sbatch" not in text

    # one missing task: only it, and everything after its stage, is planned again
    Path(plan.marker_path(plan.stages[3], 2)).unlink()
    text = SlurmExecutor(options()).dry_run(plan)
    assert "stage segment1: map, 4 tasks, 1 to run as 1 job array(s) of up to 1" in text
    assert "stage merge_stats: merge, 1 tasks, 1 to run" in text
    assert "stage median.median: reduce, 1 tasks, all done: not submitted" in text


def test_no_partition_line_when_the_cluster_default_is_used(make_plan):
    text = SlurmExecutor(options(requeue=False, signal_before_timeout_s=None)).dry_run(make_plan())
    assert "--partition" not in text and "--requeue" not in text and "--signal" not in text
    assert "--qos" not in text and "--account" not in text
