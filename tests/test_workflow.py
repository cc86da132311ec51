"""Real Snakemake and DVC runs of the pipeline on blocks of tests/tiny.yaml in a temporary directory."""
import contextlib
import copy
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from nnrepro.catalogue import FAMILIES, FIGURES
from nnrepro.claims import COLUMNS

from nnrepro.config import validate

from conftest import REPO, snakemake, tiny, tiny_config

pytestmark = pytest.mark.slow


def test_the_tiny_config_is_valid():
    """tests/tiny.yaml passes the checks `snakemake` runs before any job, every family's block."""
    cfg = tiny()
    assert "run" not in cfg and list(cfg["families"]) == list(FAMILIES)   # a block per family
    assert validate(cfg)["run"] == list(FAMILIES)          # run defaults to every family with a block


def test_snakemake_all_families_end_to_end(tmp_path, write_config):
    # H with one seed, lr first: its six runs go in two jobs (one per lr), as checked below
    h = {**tiny("H"), "grid": {"runs": {"optimizer.lr": [0.1, 0.5],
                                        "variant": ["standard", "bn", "noisy_bn"]}}}
    cfg = tiny_config(runs_per_job=4, **{f: tiny(f) for f in "ABCDE"}, H=h)
    write_config(cfg)
    snakemake(tmp_path)
    ids = [fid for fam in "ABCDEH" for fid in FIGURES[fam]]
    for fid in ids:
        png = tmp_path / "results" / "figures" / f"{fid}.png"
        assert png.exists() and png.stat().st_size > 10_000, fid
    claims = pd.read_csv(tmp_path / "results" / "claims.csv")
    assert list(claims.columns) == COLUMNS
    assert list(claims["figure_id"]) == ids
    assert set(claims["profile"]) == {"test"}
    # D and E are mathematical facts: at the tiny settings (D's: the quick profile's) every claim holds
    de = claims[claims["figure_id"].str[0].isin(["D", "E"]) & claims["passed"].notna()]
    assert len(de) == 15 and de["passed"].all(), de
    report = (tmp_path / "results" / "report.md").read_text()
    assert all(f"figures/{fid}.png" in report for fid in ids)
    # runs_per_job = 4: family A's 10 runs in 6 jobs (one per value of each sweep's first key:
    # 2 temperatures, 2 γ, 2 γ), each run with its own folder
    assert len(list((tmp_path / "results" / "runs" / "A" / "jobs").glob("*.json"))) == 6
    assert len(list((tmp_path / "results" / "runs" / "A").glob("*/run.json"))) == 10
    # C: an init job and a clipping job (plain SGD diverges: recorded, not fatal); H: one job per lr
    assert len(list((tmp_path / "results" / "runs" / "C" / "jobs").glob("*.json"))) == 2
    plain = tmp_path / "results" / "runs" / "C" / "task~clipping_clipping.max_norm~0_seed~0"
    assert '"status": "diverged"' in (plain / "run.json").read_text()
    assert len(list((tmp_path / "results" / "runs" / "H" / "jobs").glob("*.json"))) == 2
    h = pd.read_parquet(tmp_path / "results" / "tables" / "H" / "activation_stats.parquet")
    assert set(h["variant"]) == {"standard", "bn", "noisy_bn"}
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
    assert {"figures_A", "report"} <= set(re.findall(r"^rule (\w+):", out, re.M))  # and redraws
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


def test_dvc_as_users_use_it(tmp_path, write_config):
    """A fresh clone (the repo's own .dvc/): `dvc repro`, params and metrics in `dvc exp show`
    after a `-S` change, and a push / pull round trip through a local remote that gives a
    second clone the results without retraining."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for item in ("Snakefile", "workflow", "profiles", "dvc.yaml", ".dvc/config", ".dvcignore",
                 ".gitignore"):
        src, dst = REPO / item, repo / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    shutil.copytree(REPO / "src" / "nnrepro", repo / "src" / "nnrepro",
                    ignore=shutil.ignore_patterns("__pycache__"))
    cfg = tiny_config(B={**tiny("B"), "grid": {"seeds": {"seed": [0]}}})
    (repo / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))

    def sh(*cmd, cwd=repo):
        env = {**os.environ, "PYTHONPATH": str(cwd / "src")}
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
        assert proc.returncode == 0, f"{cmd}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout + proc.stderr

    dvc = (sys.executable, "-m", "dvc")
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@t")
    sh("git", "init", "-q")
    sh(*dvc, "repro")
    assert (repo / "results" / "claims.csv").exists() and (repo / "data" / "processed" / "digits.pt").exists()
    assert "up to date" in sh(*dvc, "status").lower()
    # issue 28: the default views are readable: `dvc metrics show` prints the verdict counts
    # (not one 300-column line), every claim's numbers are one command away
    metrics = sh(*dvc, "metrics", "show")
    assert "verdicts.pass" in metrics and "B-swa" not in metrics, metrics
    assert max(map(len, metrics.splitlines())) <= 120, metrics
    assert "B-swa" in sh(*dvc, "metrics", "show", "results/claims.json")
    # DVC's cache holds the data and results: a checkout after deletion restores them
    shutil.rmtree(repo / "results" / "figures")
    sh(*dvc, "checkout")
    assert (repo / "results" / "figures" / "B-swa.png").exists()

    sh(*dvc, "remote", "add", "-d", "store", str(tmp_path / "remote"))
    sh(*git, "add", "-A")
    sh(*git, "commit", "-qm", "results")
    sh(*dvc, "push")

    # an experiment: the changed parameter and the claims appear in `dvc exp show`
    sh(*dvc, "exp", "run", "-S", "config.yaml:families.B.epochs=5")
    assert "epochs: 5" in (repo / "config.yaml").read_text()
    # issue 28: `dvc exp show` has a column per verdict count, top-level setting and dependency
    # (518 columns before: every setting of config.yaml, every number of every claim)
    header = sh(*dvc, "exp", "show", "--no-pager", "--csv").splitlines()[0].split(",")
    assert "verdicts.pass" in header and "runs_per_job" in header and "config.yaml" in header
    assert len(header) <= 24, header  # 21: Experiment, rev, typ, Created, parent, 5 metrics, 5 params, 6 deps
    # what changed fits an 80-column terminal
    os.environ["COLUMNS"] = "80"
    try:
        narrow = sh(*dvc, "exp", "show", "--no-pager", "--only-changed")
    finally:
        del os.environ["COLUMNS"]
    assert "config.yaml" in narrow and max(len(line) for line in narrow.splitlines()) <= 80, narrow

    # a second clone pulls data and results: nothing to retrain
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(repo), str(clone), cwd=tmp_path)
    sh(*dvc, "pull", cwd=clone)
    assert (clone / "results" / "figures" / "B-swa.png").exists()
    assert "up to date" in sh(*dvc, "status", cwd=clone).lower()
    dry = sh(sys.executable, "-m", "snakemake", "--cores", "1", "--dry-run", cwd=clone)
    assert "Nothing to be done" in dry, dry[-2000:]               # a finished workflow
    assert list((clone / "results" / "benchmarks").rglob("*.tsv"))  # the report's job times
    plots = sh(*dvc, "plots", "show", cwd=clone)
    assert "failed to load" not in plots.lower(), plots
    # figures are byte-reproducible: redrawn in the clone, they equal the pulled ones
    pulled = {p.name: p.read_bytes() for p in (clone / "results" / "figures").glob("*.png")}
    sh(sys.executable, "-m", "snakemake", "--cores", "1", "--forcerun", "figures_B", cwd=clone)
    assert {p.name: p.read_bytes() for p in (clone / "results" / "figures").glob("*.png")} == pulled
    # issue 28: so are the report, claims, metrics and provenance (the date and job times are in
    # results/timings.json, which DVC does not track) of a redraw at the same commit: after the
    # redrawn results are recorded (`dvc commit`; the report names the clone's commit, not the
    # first repo's), `dvc status` flags only Snakemake's job times and its metadata (each job's
    # start and end time), which every job rewrites
    sh(*dvc, "commit", "-f", cwd=clone)
    tracked = {p: p.read_bytes() for p in (clone / "results").iterdir()
               if p.name in ("claims.csv", "claims.json", "metrics.json", "provenance.json",
                             "report.md", "report.html", "timings.json")}
    shutil.rmtree(clone / "results" / "figures")
    sh(sys.executable, "-m", "snakemake", "--cores", "1", cwd=clone)
    changed = [p.name for p, data in tracked.items() if p.read_bytes() != data]
    assert changed == ["timings.json"], changed
    assert json_load((clone / "results" / "timings.json"))["date"]
    out = sh(*dvc, "status", "--json", cwd=clone)
    status = json_load_text(out[out.index("{"):out.rindex("}") + 1])
    outs = {path for stage in status.values() for entry in stage if "changed outs" in entry
            for path in entry["changed outs"]}
    assert outs <= {"results/benchmarks", ".snakemake/metadata"}, status


def test_dvc_exp_run_set_changes_one_line_of_config_yaml(tmp_path):
    """Issue 28: `dvc exp run -S 'config.yaml:families.I.epochs=20'` rewrites config.yaml with
    DVC's own dumper (every list it writes back is a block list); config.yaml is kept in that
    form, so the experiment changes that one line and every comment stays. The stage is trivial
    (its params are the whole config.yaml, as dvc.yaml's): what is tested is DVC's rewrite."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO / "config.yaml", repo / "config.yaml")
    (repo / "dvc.yaml").write_text("stages:\n  noop:\n    cmd: python -c pass\n"
                                   "    params:\n      - config.yaml:\n")

    def sh(*cmd):
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{cmd}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    git = ("git", "-c", "user.name=t", "-c", "user.email=t@t")
    sh("git", "init", "-q")
    sh(sys.executable, "-m", "dvc", "init", "-q")
    sh(*git, "add", "-A")
    sh(*git, "commit", "-qm", "init")
    before = (repo / "config.yaml").read_text().splitlines()
    sh(sys.executable, "-m", "dvc", "exp", "run", "-S", "config.yaml:families.I.epochs=20")
    after = (repo / "config.yaml").read_text().splitlines()
    assert yaml.safe_load("\n".join(after))["families"]["I"]["epochs"] == 20
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == 1, sh("git", "diff", "--stat")
    assert changed[0][1].strip().startswith("epochs: 20")


def test_spaces_and_list_values_reach_the_shell_quoted(tmp_path, write_config):
    """A space in data.root and a grid over model.hidden (one run per job) used to break the
    rules' shell commands (`unrecognized arguments: 32].log`)."""
    b = tiny("B")
    fam = {**b, "epochs": 1, "swa": {**b["swa"], "epochs": 3}, "swag": {**b["swag"], "rank": 2},
           "grid": {"width": {"model.hidden": [[8], [16, 8]]}}}
    cfg = tiny_config(runs_per_job=1, B=fam)
    cfg["data"]["root"] = "my data"
    write_config(cfg)
    snakemake(tmp_path)
    runs = sorted(p.name for p in (tmp_path / "results" / "runs" / "B").glob("*/run.json")
                  for p in [p.parent])
    assert runs == ["model.hidden~16-8", "model.hidden~8"]
    assert (tmp_path / "my data" / "processed" / "digits.pt").exists()
    assert not [p for p in tmp_path.rglob("*") if "]" in p.name or p.name.endswith(".tmp")]


def test_plain_snakemake_resumes_after_kill_9(tmp_path, write_config):
    """The default profile (profiles/default, beside the root Snakefile) is loaded by a plain
    `snakemake`, so after a `kill -9` of the whole workflow the next plain run resumes the
    interrupted training from its checkpoint instead of stopping on incomplete files or on the
    killed run's lock, and keeps the runs the killed job had finished (Snakemake deletes the
    unfinished job's run folders). While the first workflow lives, a second one is refused."""
    import signal
    import time

    lr = tiny("B")["optimizer"]["lr"]        # a first key with one value: both seeds in one job
    fam = {**tiny("B"), "epochs": 60, "grid": {"seeds": {"optimizer.lr": [lr], "seed": [0, 1]}}}
    write_config(tiny_config(runs_per_job=2, B=fam))
    run0, run1 = (f"optimizer.lr~{lr:g}_seed~{k}" for k in (0, 1))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--cores", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:                                         # a failed assertion leaves no process behind
        runs = tmp_path / "results" / "runs" / "B"
        checkpoint = runs / f"{run1}.checkpoint.pt"              # the first run is finished then
        deadline = time.monotonic() + 300
        while not checkpoint.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert checkpoint.exists(), "no checkpoint was written"
        finished = (runs / run0 / "run.json").read_text()
        os.killpg(proc.pid, signal.SIGSTOP)          # frozen mid-training, still alive
        # a second workflow in the same folder, even after `--unlock` (Snakemake's advice), stops
        # with one line naming the first one's PID, before any job, and deletes nothing
        snakemake(tmp_path, "--unlock")
        second = snakemake(tmp_path, check=False)
        assert second.returncode != 0 and proc.poll() is None
        assert f"nnrepro: another workflow (PID {proc.pid}) is running" in second.stderr.splitlines()[-1]
        assert checkpoint.exists() and (runs / run1).is_dir()
    finally:
        with contextlib.suppress(ProcessLookupError):       # gone already: nothing to kill
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = snakemake(tmp_path, timeout=900)
    assert "Using workflow specific profile profiles/default" in done.stdout + done.stderr
    log = next((tmp_path / "logs" / "train" / "B").glob("*.log")).read_text()
    assert "resuming from" in log and f"run {run0}: restored from the killed job" in log, log[:1500]
    assert (runs / run0 / "run.json").read_text() == finished   # not retrained (same wall time)
    assert '"status": "ok"' in (runs / run1 / "run.json").read_text()
    assert not list(runs.glob("*.finished*"))                  # the kept copies are gone
    # `clean` acts on the config that made the results (recorded in results/), so it keeps them
    (tmp_path / "config.yaml").rename(tmp_path / "mine.yaml")
    clean = subprocess.run([sys.executable, "-m", "nnrepro", "clean", "--dry-run"], cwd=tmp_path,
                           capture_output=True, text=True, env=env)
    assert "0 stale path(s) under results for results/config.yaml" in clean.stdout, clean


def test_the_report_completes_when_every_run_of_a_family_diverges(tmp_path, write_config):
    """Issue 28: B's only run at Adam lr 1e4 diverges; its figures say so (claims
    inconclusive) and the report, claims.csv and the dvc plots are written (the B-test-error
    curve used to raise KeyError on the empty table)."""
    fam = {**tiny("B"), "optimizer": {"name": "adam", "lr": 1.0e4}, "grid": {"seeds": {"seed": [0]}}}
    write_config(tiny_config(B=fam))
    snakemake(tmp_path)
    results = tmp_path / "results"
    claims = pd.read_csv(results / "claims.csv")
    assert set(claims["verdict"]) == {"inconclusive"} and claims["diverged"].max() == 1, claims
    assert (results / "report.html").exists() and "B-swa" in (results / "report.md").read_text()
    assert (results / "plots" / "B-test-error.csv").read_text() == "epoch,base_test_error,swa_test_error\n"


def test_a_deleted_run_folder_is_rebuilt_and_its_figures_redrawn(tmp_path, write_config):
    """Issue 28: `rm -rf results/runs/J/seed~0` under up-to-date figures used to leave "Nothing
    to be done". Rule all lists every run folder and job marker, so a plain `snakemake` retrains
    the missing run and redraws J's figures; so after a forced rerun (`-R`) that failed on a
    corrupt data file, whose run folder and marker Snakemake had deleted, once the file is fixed."""
    write_config(tiny_config(J={**tiny("J"), "grid": {"seeds": {"seed": [0]}}}))
    snakemake(tmp_path)
    runs, png = tmp_path / "results" / "runs" / "J", tmp_path / "results" / "figures" / "J-lottery.png"
    first = (runs / "seed~0" / "run.json").read_text()
    drawn = png.stat().st_mtime_ns

    shutil.rmtree(runs / "seed~0")
    assert "Nothing to be done" not in snakemake(tmp_path, "--dry-run").stdout
    snakemake(tmp_path)
    assert json_load(runs / "seed~0" / "run.json")["status"] == "ok"
    assert json_load(runs / "seed~0" / "run.json")["spec"] == json_load_text(first)["spec"]
    assert png.stat().st_mtime_ns > drawn                         # the figures were redrawn
    assert "Nothing to be done" in snakemake(tmp_path, "--dry-run").stdout

    data = tmp_path / "data" / "processed" / "digits.pt"
    data.write_bytes(data.read_bytes()[:1000])                     # a corrupt data file
    (marker,) = runs.glob("jobs/*.json")
    train = f"train_J_{marker.stem}".replace("-", "_")           # the job's rule (train.smk)
    assert snakemake(tmp_path, "-R", train, check=False).returncode != 0
    assert not (runs / "seed~0").exists() and not list(runs.glob("jobs/*.json"))
    data.unlink()                                                  # fixed as the error says
    snakemake(tmp_path)
    assert json_load(runs / "seed~0" / "run.json")["status"] == "ok" and list(runs.glob("jobs/*.json"))
    assert "Nothing to be done" in snakemake(tmp_path, "--dry-run").stdout


def test_code_change_retrains_exactly_that_family(tmp_path, write_config):
    """Code is part of a result's identity: after an edit to family D's experiment module, a
    dry run schedules D's training (and its figures and the report) and nothing of E; an edit
    to E's figure module only redraws E; run.json records the code version."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "Snakefile", repo / "Snakefile")
    for item in ("workflow", "profiles"):
        shutil.copytree(REPO / item, repo / item)
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(tiny_config(D=tiny("D"), E=tiny("E"))))

    def smk(*args):
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "Snakefile"),
               "--directory", str(work), "--cores", "2", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "PYTHONPATH": str(repo / "src")})
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    smk()
    from nnrepro.codeversion import code_version
    spec = json_load(next((work / "results" / "runs" / "D").glob("*/run.json")))["spec"]
    assert spec["code"] == code_version("families.d.experiment")

    d = repo / "src" / "nnrepro" / "families" / "d" / "experiment.py"
    original = d.read_text()
    d.write_text(original + "\nA_NEW_CONSTANT = 1\n")
    rules = set(re.findall(r"^rule (\w+):", smk("--dry-run"), re.M))
    assert {"_".join(r.split("_")[:2]) for r in rules if r.startswith("train")} == {"train_D"}
    assert "figures_D" in rules and "figures_E" not in rules, rules

    d.write_text(original)                       # the code the results were made with: nothing to do
    assert "Nothing to be done" in smk("--dry-run")
    e = repo / "src" / "nnrepro" / "families" / "e" / "figures.py"
    e.write_text(e.read_text() + "\n# a comment is a change too\n")
    rules = set(re.findall(r"^rule (\w+):", smk("--dry-run"), re.M))
    assert not [r for r in rules if r.startswith("train")] and "figures_E" in rules, rules

    # D retrained by an invocation of its own: the next plain run still redraws D (its job
    # marker's content changed), though the markers' mtimes are ignored after a `dvc pull`
    d.write_text(original + "\nA_NEW_CONSTANT = 1\n")
    train_d = sorted(r for r in re.findall(r"^rule (\w+):", smk("--dry-run"), re.M) if r.startswith("train_D"))
    smk("--until", *train_d)
    rules = set(re.findall(r"^rule (\w+):", smk("--dry-run"), re.M))
    assert {"figures_D", "report"} <= rules and not [r for r in rules if r.startswith("train")], rules


def trainers_in(workdir):
    """PIDs of `nnrepro train` processes whose working directory is ``workdir`` (Linux /proc)."""
    pids = []
    for proc in os.scandir("/proc"):
        try:
            if proc.name.isdigit() and os.readlink(f"/proc/{proc.name}/cwd") == str(workdir) \
                    and b"nnrepro\0train" in open(f"/proc/{proc.name}/cmdline", "rb").read():
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


def json_load(path):
    import json
    return json.loads(path.read_text())


def json_load_text(text):
    import json
    return json.loads(text)


def test_sigterm_stops_training_at_once_and_the_rerun_resumes(tmp_path, write_config):
    """SIGTERM to Snakemake alone (a cluster's or container's preemption) used to let the
    training finish first; now the trainer stops within seconds, keeping its last epoch's
    checkpoint, Snakemake exits, and the rerun resumes from the checkpoint."""
    import signal
    import time

    write_config(tiny_config(B={**tiny("B"), "epochs": 5000, "grid": {"seeds": {"seed": [0]}}}))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--cores", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    checkpoint = tmp_path / "results" / "runs" / "B" / "seed~0.checkpoint.pt"
    log = tmp_path / "logs" / "train" / "B"

    def start_then_sigterm(ready):
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while not ready() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert ready(), "the training did not get going"
        assert trainers_in(tmp_path)                           # the check below can fail
        proc.send_signal(signal.SIGTERM)                       # to Snakemake only
        t0 = time.monotonic()
        proc.wait(timeout=60)
        waited = time.monotonic() - t0
        return waited, trainers_in(tmp_path)

    waited, trainers = start_then_sigterm(checkpoint.exists)
    assert waited < 30 and not trainers, (waited, trainers)
    text = next(log.glob("*.log")).read_text()
    assert "the workflow was asked to stop (SIGTERM" in text and checkpoint.exists()
    resumed = lambda: any("resuming from" in p.read_text() for p in log.glob("*.log"))  # noqa: E731
    waited, trainers = start_then_sigterm(resumed)
    assert waited < 30 and not trainers and checkpoint.exists()
