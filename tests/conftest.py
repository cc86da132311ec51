"""Shared fixtures: the repository, small configs, and a Snakemake runner."""
from __future__ import annotations

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

# A family-A sweep small enough for a test: 10 runs of 3 epochs on digits.
TINY_A = {
    "dataset": "digits",
    "model": {"hidden": [32, 16], "activation": "relu"},
    "epochs": 3,
    "batch_size": 128,
    "sampler": {"name": "sghmc", "lr": 0.003, "friction": 30.0, "mass": 1.0, "temperature": 1.0,
                "gamma": 1.0, "alpha": 1.0, "prior_scale": 1.0, "schedule": "constant",
                "cycle_epochs": 1, "burnin_cycles": 0, "resample": "none"},
    "seed": 0,
    "grid": {
        "temperature": {"sampler.temperature": [1.0, 0.01], "seed": [0]},
        "gamma": {"sampler.gamma": [1.0, 0.01], "sampler.resample": ["none", "cycle"], "seed": [0]},
        "gamma_alpha": {"sampler.gamma": [1.0, 0.01], "sampler.alpha": [1.0, 10.0],
                        "sampler.resample": ["cycle"], "seed": [0]},
    },
}

# A family-B config small enough for a test: 2 seeds, a few epochs each, on digits.
TINY_B = {
    "dataset": "digits",
    "model": {"hidden": [32, 16], "activation": "relu"},
    "optimizer": {"name": "adam", "lr": 0.003},
    "epochs": 4,
    "batch_size": 128,
    "swa": {"epochs": 4, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
            "schedule": "cyclic", "cycle_epochs": 1},
    "swag": {"rank": 3, "scale": 0.5, "samples": 5, "ci_images": 4},
    "landscape": {"plane_points": 5, "directions": 2, "distances": 5, "max_distance": 5.0},
    "grid": {"seeds": {"seed": [0, 1]}},
}


def tiny_config(runs_per_job: int = 1, **families) -> dict:
    return {"profile": "test", "device": "cpu", "data": {"root": "data", "mirror": None},
            "runs_per_job": runs_per_job, "run": list(families), "families": families}


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
    from nnrepro.experiments import Env

    return Env(device="cpu", processed_dir=processed, max_loss_ratio=1000.0)


def run_sweep(family: str, family_cfg: dict, out: Path, env):
    """Train every grid point of a (tiny) family config in ``out/<run id>``; its Results."""
    from nnrepro.config import expand_runs
    from nnrepro.experiments import run
    from nnrepro.results import Results

    for rid, spec in expand_runs(family_cfg).items():
        run(family, rid, spec, out / rid, env)
    return Results([out / rid / "run.json" for rid in expand_runs(family_cfg)])
