from __future__ import annotations

import pytest
import yaml

from thresher.config import (
    ConfigError,
    LocalExecutorConfig,
    RayExecutorConfig,
    SlurmExecutorConfig,
    load_pipeline,
    parse_pipeline,
)

BASE = {"input": {"paths": ["in/*.parquet"]}, "output": {"path": "out"}}


def parse_executor(section):
    raw = dict(BASE) if section is None else {**BASE, "executor": section}
    return parse_pipeline(raw).executor


def test_local_executor_forms_stay_valid():
    assert parse_executor(None) == LocalExecutorConfig(workers=1)
    assert parse_executor({"workers": 3}) == LocalExecutorConfig(workers=3)
    assert parse_executor({"type": "local", "workers": 2}) == LocalExecutorConfig(workers=2)


def test_slurm_and_ray_sections():
    slurm = parse_executor(
        {"type": "slurm", "partition": "cpu", "time": "01:00:00", "sbatch_args": {"exclusive": None}}
    )
    assert isinstance(slurm, SlurmExecutorConfig)
    assert (slurm.partition, slurm.time, slurm.max_array_size) == ("cpu", "01:00:00", "auto")
    ray = parse_executor({"type": "ray", "address": "auto"})
    assert isinstance(ray, RayExecutorConfig) and ray.address == "auto"


@pytest.mark.parametrize(
    "section, message",
    [
        ({"type": "slurm", "workers": 4}, "executor.workers: unknown key"),
        ({"type": "slurm", "cpus_per_task": 0}, "executor.cpus_per_task:"),
        ({"type": "sge"}, "executor.type: unknown executor type 'sge'; one of local, slurm, ray"),
        ({"type": "ray", "num_cpus": "many"}, "executor.num_cpus:"),
    ],
)
def test_executor_errors_name_the_key(section, message):
    with pytest.raises(ConfigError) as err:
        parse_executor(section)
    assert message in str(err.value)


def test_executor_flag_replaces_a_section_of_another_type(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({**BASE, "executor": {"type": "local", "workers": 4}}))
    config = load_pipeline(path, executor="slurm", overrides=["executor.partition=debug"])
    assert isinstance(config.executor, SlurmExecutorConfig) and config.executor.partition == "debug"
    assert load_pipeline(path, executor="local").executor.workers == 4  # same type: the file's section stays


def test_executor_does_not_change_the_fingerprint(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert load_pipeline(path).fingerprint() == load_pipeline(path, executor="slurm").fingerprint()
