"""The Slurm test layer: runs against a cluster that is already up (scripts/slurm-ci.sh starts
one); every test here is skipped when none answers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))


def _cluster_answers() -> str | None:
    """None when sinfo works, else why not."""
    if not shutil.which("sinfo"):
        return "no Slurm client installed"
    if not os.environ.get("SLURM_CONF") and not Path("/etc/slurm/slurm.conf").exists():
        return "SLURM_CONF is not set"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%a %T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"sinfo failed: {err}"
    if out.returncode != 0 or "up" not in out.stdout:
        return f"sinfo found no usable partition: {out.stderr.strip() or out.stdout.strip()}"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    why = _cluster_answers()
    if why is not None:
        if os.environ.get("THRESHER_REQUIRE_SLURM") == "1":  # set by scripts/slurm-ci.sh
            pytest.fail(f"no Slurm cluster answers: {why}")
        pytest.skip(f"no Slurm cluster running ({why}); scripts/slurm-ci.sh starts one")


def pytest_collection_modifyitems(items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.slurm)
