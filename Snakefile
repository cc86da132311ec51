# nnrepro: recreate the figures of five documents on optimization and Bayesian sampling of deep
# networks. Data -> training runs (jobs of runs) -> figures and claims per family -> claims
# table and report. All logic lives in src/nnrepro; the rules only wire files to it.
import sys
from pathlib import Path

import yaml

from snakemake.utils import min_version

min_version("9.0")
sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # works before `pip install -e .` too

from nnrepro.config import load_all, machine_errors, validate
from nnrepro.workflowlock import WorkflowLock


# config.yaml is the quick profile; --configfile files replace it whole (no silent merging of two
# profiles' settings) unless one says `extend: <file>`: each file's `extend` is resolved relative
# to that file, files are laid over each other in order, then --config values.
CONFIG_FILES = [str(f) for f in workflow.overwrite_configfiles] or ["config.yaml"]
try:
    # machine: data.mirror must be a directory here, reported with the config's other errors
    _resolved = validate(load_all(CONFIG_FILES, workflow.config_settings.config), machine=True)
except ValueError as e:  # one clear message naming the file or key, before any job
    sys.exit(f"nnrepro: {e}")
config.clear()
config.update(_resolved)  # schema defaults filled in; every grid point checked too


# One workflow per results directory (a kernel lock held while jobs run); a Snakemake lock
# left by a killed run is removed, so a plain rerun resumes from the checkpoints.
WORKFLOW_LOCK = WorkflowLock("results/.workflow.lock")
if workflow.is_main_process:
    WORKFLOW_LOCK.clear_stale_snakemake_locks()


onstart:
    # device: cuda needs a CUDA device where jobs run: here, unless an executor sends them away
    if workflow.local_exec and (_lines := machine_errors(config, device=True)):
        sys.exit("nnrepro: invalid config:\n" + "\n".join(_lines))
    WORKFLOW_LOCK.acquire_or_exit()
    WORKFLOW_LOCK.stop_trainers_on_signals()  # SIGTERM/SIGINT: trainers stop at once, resumable
    # the resolved config these results are made with: `nnrepro list` / `clean` act on it
    Path("results").mkdir(exist_ok=True)
    Path("results/config.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=False))


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/claims.csv",
        "results/report.md",
        "results/report.html",
        all_figures(),
        all_runs(),  # a run folder or job marker deleted under up-to-date figures is rebuilt
    default_target: True
