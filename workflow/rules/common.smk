import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # works before `pip install -e .` too

from nnrepro.catalogue import FIGURES
from nnrepro.config import expand_runs, validate

validate(config)  # again with defaults filled in, and each grid point against its family's schema

FAMILIES = config["run"]
for _family in FAMILIES:
    if _family not in config["families"]:
        raise ValueError(f"config: 'run' lists family {_family} but 'families' has no '{_family}' block")

# family -> run id -> settings: the run grid declared in the config, expanded by code
RUNS = {f: expand_runs(config["families"][f]) for f in FAMILIES}
DATA = config["data"]["root"]
DATASETS = sorted({s["dataset"] for f in FAMILIES for s in RUNS[f].values() if "dataset" in s})
RES = config.get("resources", {})


wildcard_constraints:
    family="[A-L]",
    job="[^/]+",
    dataset="|".join(DATASETS) or "none",


def jobs(family):
    """Training jobs of a family: job id -> run ids. One run per job, or `runs_per_job` runs
    trained one after another (a job's Python start-up, ~5 s, dwarfs a quick run)."""
    ids, k = list(RUNS[family]), config.get("runs_per_job", 1)
    if k == 1:
        return {run: [run] for run in ids}
    return {f"batch{i // k:02d}": ids[i : i + k] for i in range(0, len(ids), k)}


JOBS = {f: jobs(f) for f in FAMILIES}


def job_markers(family):
    return [f"results/runs/{family}/jobs/{job}.json" for job in JOBS[family]]


def run_jsons(family):
    return [f"results/runs/{family}/{run}/run.json" for run in RUNS[family]]


def job_specs(wildcards):
    return json.dumps({r: RUNS[wildcards.family][r] for r in JOBS[wildcards.family][wildcards.job]},
                      sort_keys=True)


def job_data(wildcards):
    """The job's processed data sets; ancient(): `dvc checkout` rewrites mtimes, which must not retrain."""
    specs = [RUNS[wildcards.family][r] for r in JOBS[wildcards.family][wildcards.job]]
    return sorted({ancient(f"{DATA}/processed/{s['dataset']}.pt") for s in specs if "dataset" in s})


def all_figures():
    return [f"results/figures/{fid}.png" for f in FAMILIES for fid in FIGURES[f]]


def res(rule, key, default):
    """Resource of a rule from the config's `resources` block (cluster and GPU settings)."""
    return RES.get(rule, {}).get(key, default)
