"""The Ray executor on a local Ray. Opt-in (THRESHER_TEST_RAY=1): Ray is a heavy optional extra
and a local Ray advertises the machine's external address, so CI leaves it out."""

from __future__ import annotations

import os
from pathlib import Path

import multistage
import pytest

from thresher.executors.local import LocalExecutor

if os.environ.get("THRESHER_TEST_RAY") != "1":
    pytest.skip("Ray tests are opt-in: THRESHER_TEST_RAY=1", allow_module_level=True)
pytest.importorskip("ray")

from thresher.config import RayExecutorConfig  # noqa: E402
from thresher.executors.ray import RayExecutor  # noqa: E402


def test_ray_executor_output_equals_local(make_plan, monkeypatch):
    # Ray workers import the test steps by path
    monkeypatch.setenv("PYTHONPATH", multistage.with_support_on_path(dict(os.environ))["PYTHONPATH"])
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    local = make_plan("local")
    assert LocalExecutor(quiet=True).run(local).ok
    options = RayExecutorConfig(type="ray", num_cpus=2, node_ip_address="127.0.0.1")
    plan = make_plan("ray", {"type": "ray"})
    summary = RayExecutor(options, quiet=True).run(plan)
    assert summary.ok, summary.errors
    ray_out = multistage.read_output(Path(plan.root))
    local_tables = multistage.read_output(Path(local.root))
    assert sorted(ray_out) == sorted(local_tables)
    for name, table in local_tables.items():
        assert ray_out[name].equals(table), name

    # a rerun skips every task
    again = RayExecutor(options, quiet=True).run(make_plan("ray", {"type": "ray"}))
    assert again.ok and all(s["skipped"] == s["tasks"] for s in again.stages)
