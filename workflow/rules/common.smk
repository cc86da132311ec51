import json
import os

from nnrepro.catalogue import FIGURES
from nnrepro.codeversion import code_version
from nnrepro.config import family_jobs, family_runs, job_content, write_job
from nnrepro.config import train_resources as config_train_resources

FAMILIES = config["run"]

# family -> version (hash) of the code that computes its runs / draws its figures: part of a
# result's identity, so a code change reruns exactly what that code computes
CODE = {f: code_version(f"families.{f.lower()}.experiment") for f in FAMILIES}
FIGURE_CODE = {f: code_version(f"families.{f.lower()}.figures") for f in FAMILIES}
# family -> run id -> Run (settings with the schema's defaults filled in, sweep, point, code)
RUNS = {f: family_runs(config, f, code=CODE[f]) for f in FAMILIES}
# family -> job id (sweep and hash of its runs) -> run ids: a changed run changes only its job
# (max_stack > 1: a family that stacks, A or J, has its runs of one shape stacked in few jobs)
JOBS = {f: family_jobs(config, f, RUNS[f]) for f in FAMILIES}
DATA = config["data"]["root"]
DATASETS = sorted({r.settings["dataset"] for f in FAMILIES for r in RUNS[f].values()
                   if "dataset" in r.settings})
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
    settings = [RUNS[family][r].settings for r in runs]
    return sorted({ancient(f"{DATA}/processed/{s['dataset']}.pt") for s in settings if "dataset" in s})


def job_params(family, job):
    """The training job's settings and code version (config.job_content) as one string: the
    rule's params, so Snakemake reruns the job when they change."""
    return json.dumps(job_content([RUNS[family][r] for r in JOBS[family][job]]), sort_keys=True)


def job_file(family, job):
    """The job's params file, which `nnrepro train --job` reads: written here, when the DAG is
    built (by the main Snakemake process; a file that holds the same is left alone), with the
    content of the rule's params, so the file and the rerun trigger never disagree."""
    path = f"results/params/{family}/{job}.json"
    if workflow.is_main_process:
        write_job(path, [RUNS[family][r] for r in JOBS[family][job]])
    return path


def train_resources(family):
    """The family's training jobs' resources (no GPU where the catalogue says CPU-only)."""
    return config_train_resources(config, family)


def all_runs():
    """Every job marker and run folder: inputs of rule all, so that one deleted under
    up-to-date figures is rebuilt (Snakemake checks a missing file only where a job needs it)."""
    return [f for family in FAMILIES for f in job_markers(family) + run_folders(family)]


def all_figures():
    return [f"results/figures/{fid}.png" for f in FAMILIES for fid in FIGURES[f]]
