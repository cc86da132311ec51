"""Real Snakemake and DVC runs of the pipeline on tiny configs in a temporary directory."""
import os
import shutil
import subprocess

import pandas as pd
import pytest

from nnrepro.catalogue import FIGURES
from nnrepro.claims import COLUMNS

from conftest import REPO, TINY_B, snakemake, tiny_config

pytestmark = pytest.mark.slow


def test_snakemake_family_b_end_to_end(tmp_path, write_config):
    write_config(tiny_config(B=TINY_B))
    snakemake(tmp_path)
    for fid in FIGURES["B"]:
        png = tmp_path / "results" / "figures" / f"{fid}.png"
        assert png.exists() and png.stat().st_size > 10_000, fid
    claims = pd.read_csv(tmp_path / "results" / "claims.csv")
    assert list(claims.columns) == COLUMNS
    assert list(claims["figure_id"]) == FIGURES["B"]
    assert claims["value"].notna().all() and set(claims["profile"]) == {"test"}
    report = (tmp_path / "results" / "report.md").read_text()
    assert all(f"figures/{fid}.png" in report for fid in FIGURES["B"])
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

    # snakemake --report works
    snakemake(tmp_path, "--report", str(tmp_path / "snakemake-report.html"))
    assert (tmp_path / "snakemake-report.html").stat().st_size > 10_000


def test_dvc_repro(tmp_path, write_config):
    for item in ("Snakefile", "workflow", "dvc.yaml"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    shutil.copytree(REPO / "src" / "nnrepro", tmp_path / "src" / "nnrepro",
                    ignore=shutil.ignore_patterns("__pycache__"))
    cfg = tiny_config(B={**TINY_B, "grid": {"seed": [0]}})
    write_config(cfg)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}

    def sh(*cmd):
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900)
        assert proc.returncode == 0, f"{cmd}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout + proc.stderr

    sh("git", "init", "-q")
    sh("dvc", "init", "-q")
    sh("dvc", "repro")
    assert (tmp_path / "dvc.lock").exists()
    assert (tmp_path / "results" / "claims.csv").exists()
    assert (tmp_path / "data" / "processed" / "digits.pt").exists()
    out = sh("dvc", "status")
    assert "up to date" in out.lower()
    # DVC's cache holds the data and results: a checkout after deletion restores them
    shutil.rmtree(tmp_path / "results" / "figures")
    sh("dvc", "checkout")
    assert (tmp_path / "results" / "figures" / "B-swa.png").exists()
