"""What every family's figure module uses: the decorators that register its figures, tables and
plots; the shared look (seaborn theme, the claim stamped under the plot, diverged runs marked);
a table of its runs, the note on diverged runs, an empty panel, the loss ratio that says
whether a run trained (families C and H), and the rows of ok runs, their last rows and a value
per run (families A and B)."""
from __future__ import annotations

import math
import textwrap
from typing import Callable

import numpy as np
import pandas as pd
import seaborn as sns

from nnrepro.claims import VERDICT_COLOR
from nnrepro.config import get_dotted
from nnrepro.results import NoData, Results, Status

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


def finished_table(res: Results, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``res.table(name)`` and its rows of the runs that finished (status ok); NoData when no
    run finished (every run diverged, before or after saving the table)."""
    if res.has_table(name) or not res.diverged():
        df = res.table(name)                      # NoData when no run saved it at all
        if not (ok := ok_rows(df)).empty:
            return df, ok
    raise NoData(f"no run finished: every run diverged ({', '.join(res.diverged())})")


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


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the runs that finished ok: a diverged run's rows left out."""
    return df[df["status"] == Status.OK]


def final_rows(df: pd.DataFrame, by=("run",), order: str = "epoch") -> pd.DataFrame:
    """The last row (by ``order``) of each ok run (of each group of ``by``)."""
    return ok_rows(df).sort_values(order).groupby(list(by)).tail(1)


def per_run(df: pd.DataFrame, fn) -> list[float]:
    """``fn(group)`` for each ok run: a claim's value per run (per seed)."""
    return [float(fn(g)) for _, g in ok_rows(df).groupby("run")]


def apply_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")


def stamp_claim(fig, claim, profile: str) -> None:
    """Write the claim, how it is tested, the value and verdict under the axes, coloured by outcome."""
    text = f"[{profile}] Claim: {claim.claim}. {claim.summary()}"
    if claim.note:
        text += f" — {claim.note}"
    width = max(60, int(fig.get_figwidth() * 13))
    text = "\n".join(textwrap.wrap(text, width))
    nlines = text.count("\n") + 1
    fig.tight_layout(rect=(0, 0.035 * nlines + 0.02, 1, 1))
    fig.text(0.01, 0.01, text, ha="left", va="bottom", fontsize=9,
             color=VERDICT_COLOR[claim.verdict])


def mark_diverged(ax, runs: list[str]) -> None:
    """Say on the axes which runs diverged (NaN/inf loss), so a reader sees it at a glance."""
    if runs:
        ax.text(0.99, 0.98, "diverged: " + ", ".join(runs), transform=ax.transAxes, ha="right",
                va="top", fontsize=8, color=VERDICT_COLOR["fail"],
                bbox=dict(facecolor="white", alpha=0.8, edgecolor=VERDICT_COLOR["fail"]))
