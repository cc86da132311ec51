"""The SLURM path on a real one-node cluster (tests/cluster/slurm_test.sh): installs and starts
slurmctld, slurmd and munge, runs the README's profile on a tiny config, checks sbatch, --gpus,
a cancelled job's resume and claims.csv against a local run. Needs root and apt-get, and runs
only where asked (NNREPRO_SLURM_TEST=1, which .ci/run sets on CI's disposable machine): a plain
pytest on a workstation or cluster host never installs or starts daemons. The script itself
skips on a host that already runs or configures Slurm."""
import os
import shutil
import subprocess

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.mark.skipif(os.environ.get("NNREPRO_SLURM_TEST") != "1",
                    reason="the SLURM test installs and starts daemons: set NNREPRO_SLURM_TEST=1 to run it")
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("apt-get"),
                    reason="the SLURM test installs and starts daemons: it needs root and apt-get")
def test_slurm_profile_on_a_one_node_cluster():
    proc = subprocess.run(["timeout", "-k", "10", "1200", "bash", str(REPO / "tests" / "cluster" / "slurm_test.sh")],
                          capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if "SKIP:" in out and proc.returncode == 0:
        pytest.skip(out.strip().splitlines()[-1])
    assert proc.returncode == 0 and "PASS:" in out, out[-4000:]
