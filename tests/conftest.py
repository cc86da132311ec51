"""Shared fixtures: the repository, the tiny config (tests/tiny.yaml), and a Snakemake runner."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# one thread per process: several test processes and Snakemake jobs share 2 cores, and torch's
# default (all cores each) oversubscribes them badly
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "datasets"   # real MNIST, byte-identical to the official files

TINY = yaml.safe_load((Path(__file__).parent / "tiny.yaml").read_text())


def tiny(family: str | None = None) -> dict:
    """A fresh copy of tests/tiny.yaml (the whole config), or of one family's block in it."""
    return copy.deepcopy(TINY if family is None else TINY["families"][family])


TINY_A, TINY_B = tiny("A"), tiny("B")   # the blocks older tests import by name


def dnorm2_dt_atol(norm2, lr):
    """How far (‖θ_{k+1}‖² − ‖θ_k‖²)/ε' may move between two summation orders (stacked bmm
    against mm, or another CPU's kernels): a difference of two close float32 numbers, so an ulp
    of ‖θ‖² moves it by ulp/ε'. Bound: 16 ulps over ε (ε' = ε/γ ≥ ε for γ ≤ 1). Works on
    tensors and on pandas columns."""
    return 16 * 1.1920928955078125e-07 * abs(norm2) / abs(lr)   # float32 machine epsilon


def tiny_config(runs_per_job: int = 1, **families) -> dict:
    """tests/tiny.yaml's top level around the given family blocks (``run``: those families)."""
    return {**tiny(), "runs_per_job": runs_per_job, "run": list(families), "families": families}


@pytest.fixture
def write_config(tmp_path):
    def write(cfg: dict, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path
    return write


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900):
    """Run the real Snakemake CLI on this repository's Snakefile in ``workdir``."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--cores", "2", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in (workdir / "logs").rglob("*.log"))
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-5000:]}\n{logs}")
    return proc


def stack_runs(runs, out, env, **kw):
    """``runs`` trained as one stack (``runner.run_stack``), each into ``out/<run id>``."""
    from nnrepro import runner

    runner.run_stack(runs, [out / r.id for r in runs], env, **kw)
    return out


def runs_alone(runs, out, env):
    """``runs`` trained one by one (``runner.run_one``), each into ``out/<run id>``."""
    from nnrepro import runner

    for r in runs:
        runner.run_one(r, out / r.id, env)
    return out


@pytest.fixture(scope="session")
def processed(tmp_path_factory):
    """sklearn's digits, processed once for the whole test session."""
    from nnrepro.data import preprocess

    root = tmp_path_factory.mktemp("data")
    preprocess("digits", root / "raw", root / "processed" / "digits.pt")
    return root / "processed"


@pytest.fixture(scope="session")
def env(processed):
    """A CPU environment on the processed digits, with the schema's divergence bound."""
    from nnrepro.runner import Env

    return Env(device="cpu", processed_dir=processed, max_loss_ratio=1000.0)


@pytest.fixture
def cuda_env(processed):
    """The same on CUDA; the test is skipped without a CUDA GPU."""
    import torch

    from nnrepro.runner import Env

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return Env(device="cuda", processed_dir=processed, max_loss_ratio=1000.0)


def run_sweep(family: str, family_cfg: dict, out: Path, env):
    """Train every grid point of a (tiny) family config in ``out/<run id>``; its Results."""
    from nnrepro.config import expand_runs
    from nnrepro.runner import run
    from nnrepro.results import Results

    for rid, spec in expand_runs(family_cfg).items():
        run(family, rid, spec, out / rid, env)
    return Results([out / rid / "run.json" for rid in expand_runs(family_cfg)])
