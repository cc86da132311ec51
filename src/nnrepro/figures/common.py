"""What every family's figure module uses: the decorators that register its figures, tables and
plots; a table of its runs, the note on diverged runs, an empty panel, and the loss ratio that
says whether a run trained (families C and H)."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from nnrepro.config import get_dotted
from nnrepro.results import Results, Status

FRACTION = 0.1           # "trains": the loss ends below 1/10 of its start (families C, H)

REGISTRY: dict[str, Callable] = {}                       # figure id -> figure function
TABLES: dict[str, Callable] = {}                         # family -> its derived tables
PLOTS: dict[str, tuple[list[str], Callable]] = {}        # dvc plot file -> columns, curve


def figure(fig_id: str):
    """Register ``fn(Results) -> (matplotlib Figure, Claim)`` as the figure ``fig_id``."""
    def register(fn):
        REGISTRY[fig_id] = fn
        return fn
    return register


def tables(family: str):
    """Register ``fn(Results) -> {name: DataFrame}``: tables a family's claims compute (e.g.
    per-method verdicts), written beside its run tables by ``derived_tables``."""
    def register(fn):
        TABLES[family] = fn
        return fn
    return register


def plot(name: str, columns: list[str]):
    """Register ``fn(tables_dir) -> DataFrame | None``: a curve for `dvc plots`
    (``results/plots/<name>``, these columns, the first the x axis), drawn from the family's
    merged tables; None (the family was not run) leaves the header alone."""
    def register(fn):
        PLOTS[name] = (columns, fn)
        return fn
    return register


def runs_table(res: Results, **settings: str) -> pd.DataFrame:
    """One row per run: ``run``, ``status`` and a column per keyword, the setting at its dotted
    key (``runs_table(res, seed="seed", lr="optimizer.lr")``; ``sweep="sweep"`` its sweep)."""
    rows = [{"run": r["run"], "status": r["status"],
             **{col: get_dotted(r["spec"], key) for col, key in settings.items()}}
            for r in res.runs]
    return pd.DataFrame(rows, columns=["run", "status", *settings])


def runs_note(runs: pd.DataFrame, unit: str = "runs", excluded: bool = True) -> str:
    """"6 runs; 2 diverged (excluded): <ids>": how many runs a claim reads, which diverged."""
    div = runs[runs["status"] != Status.OK]["run"].tolist()
    return f"{len(runs)} {unit}" + (f"; {len(div)} diverged{' (excluded)' if excluded else ''}: "
                                    f"{', '.join(div)}" if div else "")


def empty(ax, text: str, **style) -> None:
    """A panel with nothing to draw says so in its middle."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", **{"va": "center", **style})


def loss_ratio(losses, status: str = Status.OK) -> float:
    """Mean loss of the last 10 % of steps over the first step's (the loss at init); inf for a
    run that diverged or has a non-finite loss: it did not train."""
    losses = np.asarray(losses, float)
    if status != Status.OK or len(losses) == 0 or not np.isfinite(losses).all():
        return math.inf
    k = max(1, len(losses) // 10)
    return float(losses[-k:].mean() / losses[0])
