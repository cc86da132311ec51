"""The SLURM path on a real one-node cluster (tests/cluster/slurm_test.sh): installs and starts
slurmctld, slurmd and munge, runs the README's profile on a tiny config, checks sbatch, --gpus,
a cancelled job's resume and claims.csv against a local run. Needs root and apt-get."""
import os
import shutil
import subprocess

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("apt-get"),
                    reason="the SLURM test installs and starts daemons: it needs root and apt-get")
def test_slurm_profile_on_a_one_node_cluster():
    proc = subprocess.run(["timeout", "-k", "10", "1200", "bash", str(REPO / "tests" / "cluster" / "slurm_test.sh")],
                          capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "PASS:" in out, out[-4000:]
