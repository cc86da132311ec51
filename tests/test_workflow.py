"""Real Snakemake and DVC runs of the pipeline on tiny configs in a temporary directory."""
import copy
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from nnrepro.families import FIGURES
from nnrepro.claims import COLUMNS

from nnrepro.config import load

from conftest import REPO, TINY_A, TINY_B, snakemake, tiny_config

pytestmark = pytest.mark.slow
QUICK = load(REPO / "config.yaml")["families"]   # D and E are fast at quick scale: used as shipped


def test_snakemake_all_families_end_to_end(tmp_path, write_config):
    cfg = tiny_config(runs_per_job=4, A=TINY_A, B=TINY_B, D=QUICK["D"], E=QUICK["E"])
    write_config(cfg)
    snakemake(tmp_path)
    ids = [fid for fam in "ABDE" for fid in FIGURES[fam]]
    for fid in ids:
        png = tmp_path / "results" / "figures" / f"{fid}.png"
        assert png.exists() and png.stat().st_size > 10_000, fid
    claims = pd.read_csv(tmp_path / "results" / "claims.csv")
    assert list(claims.columns) == COLUMNS
    assert list(claims["figure_id"]) == ids
    assert set(claims["profile"]) == {"test"}
    # D and E are mathematical facts: at the shipped quick settings every claim holds
    de = claims[claims["figure_id"].str[0].isin(["D", "E"]) & claims["passed"].notna()]
    assert len(de) == 15 and de["passed"].all(), de
    report = (tmp_path / "results" / "report.md").read_text()
    assert all(f"figures/{fid}.png" in report for fid in ids)
    # runs_per_job = 4: family A's 10 runs in 6 jobs (one per value of each sweep's first key:
    # 2 temperatures, 2 γ, 2 γ), each run with its own folder
    assert len(list((tmp_path / "results" / "runs" / "A" / "jobs").glob("*.json"))) == 6
    assert len(list((tmp_path / "results" / "runs" / "A").glob("*/run.json"))) == 10
    assert (tmp_path / "results" / "report.html").stat().st_size > 50_000  # figures embedded
    # tidy tables a user loads with pandas: per run, and merged per family
    steps = pd.read_parquet(tmp_path / "results" / "runs" / "B" / "seed~0" / "steps.parquet")
    assert {"step", "epoch", "loss"} <= set(steps.columns) and len(steps) > 0
    epochs = pd.read_parquet(tmp_path / "results" / "tables" / "B" / "epochs.parquet")
    assert set(epochs["run"]) == {"seed~0", "seed~1"}

    # nothing left to do; and `dvc checkout`-style mtime changes of data do not retrain
    os.utime(tmp_path / "data" / "processed" / "digits.pt")
    dry = snakemake(tmp_path, "--dry-run")
    assert "Nothing to be done" in dry.stdout + dry.stderr

    # one more temperature: the dry run schedules one training job, holding only the new run
    plus = copy.deepcopy(cfg)
    plus["families"]["A"]["grid"]["temperature"]["sampler.temperature"].append(0.1)
    write_config(plus)
    dry = snakemake(tmp_path, "--dry-run")
    out = dry.stdout + dry.stderr
    trained = re.findall(r"^rule (train_\S+):\n.*?^\s+output: (.*?)$", out, re.M | re.S)
    assert [t[0].split("_")[1:3] for t in trained] == [["A", "temperature"]], out[-3000:]
    assert trained[0][1].split(", ")[1:] == ["results/runs/A/sampler.temperature~0.1_seed~0"]
    write_config(cfg)

    # every run folder and merged table is a declared output: Snakemake can rebuild and clean it
    dry = snakemake(tmp_path, "--delete-all-output", "--dry-run")
    out = dry.stdout + dry.stderr
    for path in ("results/runs/B/seed~0", "results/runs/A/sampler.gamma~0.01_sampler.alpha~10_"
                 "sampler.resample~cycle_seed~0", "results/tables/A", "results/tables/B"):
        assert f"Would delete {path}\n" in out, path

    # snakemake --report works
    snakemake(tmp_path, "--report", str(tmp_path / "snakemake-report.html"))
    assert (tmp_path / "snakemake-report.html").stat().st_size > 10_000


def test_dvc_repro(tmp_path, write_config):
    for item in ("Snakefile", "workflow", "dvc.yaml"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    shutil.copytree(REPO / "src" / "nnrepro", tmp_path / "src" / "nnrepro",
                    ignore=shutil.ignore_patterns("__pycache__"))
    cfg = tiny_config(B={**TINY_B, "grid": {"seeds": {"seed": [0]}}})
    write_config(cfg)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}

    def sh(*cmd):
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900)
        assert proc.returncode == 0, f"{cmd}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout + proc.stderr

    sh("git", "init", "-q")
    dvc = (sys.executable, "-m", "dvc")
    sh(*dvc, "init", "-q")
    sh(*dvc, "repro")
    assert (tmp_path / "dvc.lock").exists()
    assert (tmp_path / "results" / "claims.csv").exists()
    assert (tmp_path / "data" / "processed" / "digits.pt").exists()
    out = sh(*dvc, "status")
    assert "up to date" in out.lower()
    # DVC's cache holds the data and results: a checkout after deletion restores them
    shutil.rmtree(tmp_path / "results" / "figures")
    sh(*dvc, "checkout")
    assert (tmp_path / "results" / "figures" / "B-swa.png").exists()
