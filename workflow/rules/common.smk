import json
import os

from nnrepro.catalogue import FIGURES
from nnrepro.codeversion import code_version
from nnrepro.config import family_runs, jobs
from nnrepro.config import train_resources as config_train_resources

FAMILIES = config["run"]

# family -> run id -> settings (schema defaults filled in), from the family's named sweeps
RUNS = {f: family_runs(config, f) for f in FAMILIES}
# family -> job id (sweep and hash of its runs) -> run ids: a changed run changes only its job
JOBS = {f: jobs(RUNS[f], config["families"][f].get("grid"), config["runs_per_job"]) for f in FAMILIES}
# family -> version (hash) of the code that computes its runs / draws its figures: part of a
# result's identity, so a code change reruns exactly what that code computes
CODE = {f: code_version(f"families.{f.lower()}.experiment") for f in FAMILIES}
FIGURE_CODE = {f: code_version(f"families.{f.lower()}.figures") for f in FAMILIES}
DATA = config["data"]["root"]
DATASETS = sorted({s["dataset"] for f in FAMILIES for s in RUNS[f].values() if "dataset" in s})
RES = config["resources"]


wildcard_constraints:
    dataset="|".join(DATASETS) or "none",


def job_markers(family):
    return [f"results/runs/{family}/jobs/{job}.json" for job in JOBS[family]]


def run_folders(family):
    """Every run folder of the family (each a train job's directory() output)."""
    return [f"results/runs/{family}/{r}" for runs in JOBS[family].values() for r in runs]


def job_data(family, runs):
    """The job's processed data sets; ancient(): `dvc checkout` rewrites mtimes, which must not retrain."""
    specs = [RUNS[family][r] for r in runs]
    return sorted({ancient(f"{DATA}/processed/{s['dataset']}.pt") for s in specs if "dataset" in s})


def train_resources(family):
    """The family's training jobs' resources (no GPU where the catalogue says CPU-only)."""
    return config_train_resources(config, family)


def all_runs():
    """Every job marker and run folder: inputs of rule all, so that one deleted under
    up-to-date figures is rebuilt (Snakemake checks a missing file only where a job needs it)."""
    return [f for family in FAMILIES for f in job_markers(family) + run_folders(family)]


def all_figures():
    return [f"results/figures/{fid}.png" for f in FAMILIES for fid in FIGURES[f]]
