import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # works before `pip install -e .` too

from nnrepro.catalogue import FIGURES
from nnrepro.config import expand_runs

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
    run="[^/]+",
    dataset="|".join(DATASETS) or "none",


def run_jsons(family):
    return [f"results/runs/{family}/{run}/run.json" for run in RUNS[family]]


def run_data(wildcards):
    """A run's processed data set; ancient(): `dvc checkout` rewrites mtimes, which must not retrain."""
    spec = RUNS[wildcards.family][wildcards.run]
    return [ancient(f"{DATA}/processed/{spec['dataset']}.pt")] if "dataset" in spec else []


def all_figures():
    return [f"results/figures/{fid}.png" for f in FAMILIES for fid in FIGURES[f]]


def res(rule, key, default):
    """Resource of a rule from the config's `resources` block (cluster and GPU settings)."""
    return RES.get(rule, {}).get(key, default)
