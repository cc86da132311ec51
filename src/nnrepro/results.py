"""Where results live and how they are read back.

One run = one folder ``results/runs/<family>/<run id>/`` holding ``run.json`` (its settings,
grid point, status: ok / diverged, wall time, device) and tidy parquet tables (``steps``,
``epochs`` and family-specific ones). ``Results`` concatenates a family's runs into one tidy
table per name, with the run id and grid point as columns, for figures and for users::

    import pandas as pd
    pd.read_parquet("results/runs/B/seed~0/epochs.parquet")
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import pandas as pd

from nnrepro.config import format_value, get_dotted
from nnrepro.catalogue import FAMILIES, FIGURES


class Status(str, Enum):
    """How a run (or a training inside it) ended; a ``str``, so ``"ok" == Status.OK`` and
    run.json holds the plain word."""
    OK = "ok"
    DIVERGED = "diverged"   # a loss went non-finite or above max_loss_ratio × the first loss

    def __str__(self) -> str:
        return self.value


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` to a temporary file of this process, then rename it to ``path``: readers
    see the old file or the new one, two writers never share a temp file, and a failed write
    (a full disk) leaves no temp file behind."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: Path, obj: dict) -> None:
    atomic_write_bytes(Path(path), json.dumps(obj, indent=2, default=_jsonable).encode())


def _jsonable(o):
    try:
        return o.item()  # numpy / torch scalars
    except AttributeError:
        return str(o)


@dataclass
class RunDir:
    """Writes one run's outputs."""
    path: Path
    family: str
    run_id: str
    spec: dict
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.path = Path(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def save_table(self, name: str, df: pd.DataFrame) -> None:
        atomic_write(self.path / f"{name}.parquet", lambda tmp: df.to_parquet(tmp, index=False))

    @property
    def checkpoint(self) -> Path:
        """Where the run's checkpoint lives: beside its folder, not in it, so that Snakemake,
        which deletes an unfinished job's output folders, leaves it for the resume."""
        return self.path.with_name(self.path.name + ".checkpoint.pt")

    def finish(self, status: Status = Status.OK, **info) -> None:
        """Write run.json last: it says the run is complete."""
        self.info.update(info)
        write_json(self.path / "run.json", {
            "family": self.family, "run": self.run_id, "status": status,
            "sweep": self.spec.get("sweep", "default"), "point": self.spec.get("point", {}),
            "spec": self.spec, **self.info})


class NoData(FileNotFoundError):
    """The data a figure reads is absent (a part not configured, every run diverged): the figure
    says "no data" and its claim is inconclusive. Any other error in figure code is a bug and
    fails the figures job."""


class Results:
    """A family's runs, read back for figures and claims."""

    def __init__(self, run_jsons: list[str | Path]):
        self.runs = []
        for p in run_jsons:
            info = json.loads(Path(p).read_text())
            info["dir"] = Path(p).parent
            self.runs.append(info)
        if not self.runs:
            raise ValueError("no runs to read")

    def swept(self) -> dict[str, str]:
        """Column name -> dotted key of every setting a sweep of this family varies; the column
        is the key's last part (``gamma``) unless two swept keys share it."""
        keys = sorted({k for info in self.runs for k in info.get("point", {})})
        last = [k.split(".")[-1] for k in keys]
        return {(k.split(".")[-1] if last.count(k.split(".")[-1]) == 1 else k): k for k in keys}

    def table(self, name: str) -> pd.DataFrame:
        """Concatenate ``<name>.parquet`` over runs, adding run id, status, sweep name and the
        effective value of every swept setting (also in runs whose sweep left it alone)."""
        frames = []
        swept = self.swept()
        for info in self.runs:
            f = info["dir"] / f"{name}.parquet"
            if not f.exists():
                continue
            df = pd.read_parquet(f)
            df.insert(0, "run", info["run"])
            df.insert(1, "status", info["status"])
            df.insert(2, "sweep", info.get("sweep", "default"))
            for col, key in swept.items():
                if col not in df.columns:
                    value = get_dotted(info["spec"], key)      # a list (model.hidden) as "16-8"
                    df[col] = format_value(value) if isinstance(value, list) else value
            frames.append(df)
        if not frames:
            raise NoData(f"no run has a table named {name!r}")
        return pd.concat(frames, ignore_index=True)

    def has_table(self, name: str) -> bool:
        return any((info["dir"] / f"{name}.parquet").exists() for info in self.runs)

    def export(self, out_dir: str | Path) -> None:
        """Write each table concatenated over runs: ``<out_dir>/<name>.parquet``."""
        names = sorted({f.name.removesuffix(".parquet") for info in self.runs
                        for f in info["dir"].glob("*.parquet")})
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            self.table(name).to_parquet(out / f"{name}.parquet", index=False)

    def diverged(self) -> list[str]:
        return [r["run"] for r in self.runs if r["status"] == Status.DIVERGED]


def finished_copy(run_dir: Path) -> Path:
    """Where a finished run's files are kept (hard links, no copy) beside its folder until its
    job ends: Snakemake deletes an unfinished job's output folders, finished runs' included."""
    return run_dir.with_name(run_dir.name + ".finished")


def keep_finished(run_dir: Path) -> None:
    """Hard-link a finished run's files into ``finished_copy(run_dir)`` (written whole, then renamed)."""
    keep, tmp = finished_copy(run_dir), run_dir.with_name(run_dir.name + ".finished.tmp")
    for old in (keep, tmp):
        shutil.rmtree(old, ignore_errors=True)
    _link_tree(run_dir, tmp)
    tmp.rename(keep)


def restore_finished(run_dir: Path) -> bool:
    """Put back a run that finished in a job killed later (its folder deleted by Snakemake's
    rerun); True if there was one. The run's settings are checked by the caller (run.json)."""
    keep = finished_copy(run_dir)
    if not (keep / "run.json").exists() or (run_dir / "run.json").exists():
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    _link_tree(keep, run_dir)
    return True


def _link_tree(src: Path, dst: Path) -> None:
    """Every file under ``src`` hard-linked at the same place under ``dst`` (copied where the
    file system has no hard links)."""
    for f in src.rglob("*"):
        if f.is_file():
            (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, dst / f.relative_to(src))
            except OSError:
                shutil.copy2(f, dst / f.relative_to(src))


def stale(config: dict, results: str | Path = "results") -> list[Path]:
    """Files and folders under ``results`` that ``config`` (validated) no longer makes: the run
    folders, job markers and params files, checkpoints and timings of runs no longer in a sweep,
    and the figures, claims and tables of families no longer run. Downloads and processed data
    are not here."""
    from nnrepro.config import family_jobs, family_runs

    results = Path(results)
    keep: set[Path] = set()
    for f in config["run"]:
        runs = family_runs(config, f)
        job_ids = family_jobs(config, f, runs)
        fam = results / "runs" / f
        keep |= {fam / r for r in runs}
        keep |= {p for p in fam.glob("*.*") if p.name.split(".checkpoint")[0] in runs
                 or p.name.removesuffix(".lock") in runs
                 or p.name.removesuffix(".finished") in runs}     # checkpoints, locks, kept runs
        keep |= {fam / "jobs" / f"{j}{ext}" for j in job_ids for ext in (".json", ".checkpoint.pt")}
        keep |= {results / "params" / f / f"{j}.json" for j in job_ids}       # their params files
        keep |= {results / "benchmarks" / "train" / f / f"{j}.tsv" for j in job_ids}
        keep |= {results / "tables" / f, results / "claims" / f"{f}.csv",
                 results / "benchmarks" / f"figures_{f}.tsv"}
        keep |= {results / "figures" / f"{fid}.png" for fid in FIGURES[f]}
    found = [*results.glob("runs/*/*"), *results.glob("runs/*/jobs/*"), *results.glob("tables/*"),
             *results.glob("params/*/*"), *results.glob("claims/*"), *results.glob("figures/*"),
             *results.glob("benchmarks/train/*/*"), *results.glob("benchmarks/figures_*.tsv")]
    return sorted(p for p in found if p not in keep and p.name != "jobs")


def figure_status(results_dir: str | Path = "results") -> pd.DataFrame:
    """One row per figure id: family, figure_id, present (``figures/<id>.png`` exists in
    ``results_dir``) and verdict (PASS / FAIL / INCONCLUSIVE / REFERENCE from ``claims.csv``, ""
    when the figure has no row there or there is no claims.csv)."""
    results_dir = Path(results_dir)
    verdicts = {}
    claims = results_dir / "claims.csv"
    if claims.exists():
        df = pd.read_csv(claims, dtype=str, keep_default_na=False)
        verdicts = dict(zip(df["figure_id"], df["verdict"].str.upper()))
    rows = [{"family": f.letter, "figure_id": g.id,
             "present": (results_dir / "figures" / f"{g.id}.png").exists(),
             "verdict": verdicts.get(g.id, "")}
            for f in FAMILIES.values() for g in f.figures]
    return pd.DataFrame(rows, columns=["family", "figure_id", "present", "verdict"])
