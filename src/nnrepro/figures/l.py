"""Family L figure: every predictive method on one model and data set, one table, reliability
diagrams, and the cold-posterior comparison (Wenzel et al. 2020)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nnrepro.claims import less
from nnrepro.figures import figure
from nnrepro.figures.style import mark_diverged
from nnrepro.results import Results

SINGLE = "single run"
METRICS = ("acc", "nll", "ece", "brier")


def nll_margins(ens: pd.DataFrame) -> pd.DataFrame:
    """Per run and ensemble method: NLL(method) − NLL(single run) (< 0: the ensemble is better)."""
    single = ens[ens["method"] == SINGLE].set_index("run")["nll"]
    e = ens[ens["ensemble"]].copy()
    e["margin"] = e["nll"].values - single.reindex(e["run"]).values
    return e[["run", "method", "margin"]]


def worst_margin_per_run(ens: pd.DataFrame) -> list[float]:
    """Per run, the largest NLL(ensemble) − NLL(single run) over the ensemble methods."""
    return list(nll_margins(ens).groupby("run")["margin"].max())


def cold_vs_warm(ens: pd.DataFrame) -> pd.DataFrame:
    """Per run: NLL and accuracy of the SGHMC ensembles at the cold T and at T = 1."""
    sg = ens[ens["method"].str.startswith("SGHMC T = ")].copy()
    sg["T"] = sg["method"].str.removeprefix("SGHMC T = ").astype(float)
    warm, cold = sg[sg["T"] == 1.0], sg[sg["T"] != 1.0]
    return cold.merge(warm, on="run", suffixes=("_cold", "_warm"))[
        ["run", "T_cold", "nll_cold", "nll_warm", "acc_cold", "acc_warm"]]


def _table(ax, mean: pd.DataFrame, sd: pd.DataFrame, n: int) -> None:
    """The tidy table drawn: one row per method, mean over seeds (± sd of the NLL)."""
    cells = [[m, f"{100 * mean.loc[m, 'acc']:.2f}",
              f"{mean.loc[m, 'nll']:.4f}" + (f" ± {sd.loc[m, 'nll']:.4f}" if n > 1 else ""),
              f"{mean.loc[m, 'ece']:.4f}", f"{mean.loc[m, 'brier']:.4f}",
              f"{int(mean.loc[m, 'members'])}"] for m in mean.index]
    tab = ax.table(cellText=cells, bbox=[0, 0, 1, 1], cellLoc="right", colWidths=[2.2, 1, 1.8, 1, 1, 1],
                   colLabels=["method", "accuracy (%)", "NLL" + (" ± sd" if n > 1 else ""), "ECE",
                              "Brier", "members S"])
    tab.auto_set_font_size(False)
    tab.set_fontsize(9)
    best = mean["nll"].idxmin()
    for (row, col), cell in tab.get_celld().items():
        if row > 0 and col == 0:
            cell.set_text_props(ha="left")
        if row > 0 and col == 2 and mean.index[row - 1] == best:
            cell.set_text_props(fontweight="bold")
    ax.axis("off")
    ax.set_title(f"Test metrics, mean over {n} seed(s) (bold: lowest NLL)", fontsize=10)


@figure("L-ensembles")
def l_ensembles(res: Results):
    if not res.has_table("ensembles"):                    # every run diverged
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.axis("off")
        ax.text(0.5, 0.5, f"no run finished: diverged {', '.join(res.diverged())}", ha="center")
        return fig, less("L-ensembles", "every ensemble beats the single run in test NLL", math.nan,
                         0.0, units=[], diverged=len(res.diverged()))
    ens = res.table("ensembles")
    ok = ens[ens["status"] == "ok"]
    rel = res.table("reliability") if res.has_table("reliability") else pd.DataFrame()
    methods = list(dict.fromkeys(ens["method"]))
    spec = res.runs[0]["spec"]
    n = ok["run"].nunique()
    mean = ok.groupby("method")[list(METRICS) + ["members"]].mean().reindex(methods)
    sd = ok.groupby("method")[list(METRICS)].std().reindex(methods)

    fig, grid = plt.subplots(3, 5, figsize=(16, 11.5), gridspec_kw={"height_ratios": [1.35, 1, 1]})
    gs = grid[0, 0].get_gridspec()
    for a in grid[0]:
        a.remove()
    ax, tx = fig.add_subplot(gs[0, :2]), fig.add_subplot(gs[0, 2:])
    y = np.arange(len(methods))
    for i, m in enumerate(methods):
        vals = ok[ok["method"] == m]["nll"]
        color = "tab:blue" if ok[ok["method"] == m]["ensemble"].any() else "tab:grey"
        ax.scatter(vals, np.full(len(vals), i), s=18, color=color, alpha=0.6)
        ax.scatter([vals.mean()], [i], marker="D", s=50, color=color, edgecolor="black", zorder=3)
    ax.axvline(mean.loc[SINGLE, "nll"] if SINGLE in mean.index else math.nan, color="tab:red",
               ls="--", lw=1)
    ax.set_yticks(y, methods)
    ax.invert_yaxis()
    ax.set(xlabel="test NLL (nats; dots: seeds, ◆: mean)",
           title="Test NLL per method (blue: ensembles, grey: one net;\nred dashed: single run's mean)")
    mark_diverged(ax, res.diverged())
    _table(tx, mean, sd, n)

    for k, m in enumerate(methods[:10]):
        rx = grid[1 + k // 5, k % 5]
        r = rel[(rel["method"] == m) & (rel["status"] == "ok")] if len(rel) else rel
        if len(r):
            pooled = r.assign(hits=r["acc"] * r["count"], mass=r["conf"] * r["count"]).groupby("bin")[
                ["hits", "mass", "count"]].sum()
            conf, acc = pooled["mass"] / pooled["count"], pooled["hits"] / pooled["count"]
            rx.bar(conf, acc, width=1 / 15, color="tab:blue", alpha=0.5, edgecolor="tab:blue")
            rx.scatter(conf, acc, s=8 + 60 * pooled["count"] / pooled["count"].sum(), color="tab:blue")
        rx.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
        ece = mean.loc[m, "ece"] if m in mean.index else math.nan
        rx.set(xlim=(0, 1), ylim=(0, 1), title=f"{m}\nECE {ece:.4f}")
        rx.title.set_fontsize(9)
        if k % 5 == 0:
            rx.set_ylabel("accuracy in bin")
        if k // 5 == 1 or k + 5 >= len(methods):
            rx.set_xlabel("confidence (top-class p)")

    for key in grid[1:].flat[len(methods):]:
        key.axis("off")
    if len(methods) < 10:
        key = grid[2, 4]
        key.text(0, 0.5, "Reliability diagrams:\nbars: accuracy of the test images\nin each confidence "
                 "bin, at the\nbin's mean confidence;\ndot area ∝ images in the bin;\n"
                 "dashed: perfect calibration",
                 fontsize=9, va="center")

    margins = nll_margins(ok)
    by_method = margins.groupby("method")["margin"].mean()
    losers = [f"{m} {mean.loc[m, 'nll']:.4f}" for m, v in by_method.items() if v >= 0]
    per_seed = [f"{r.method} in {r.run} ({r.margin:+.4f})" for r in margins.itertuples()
                if r.margin >= 0 and by_method[r.method] < 0]       # the others are listed above
    cw = cold_vs_warm(ok)
    T = cw["T_cold"].iloc[0] if len(cw) else math.nan
    cold = (f"cold posterior: SGHMC at T = {T:g} NLL {cw['nll_cold'].mean():.4f} (acc "
            f"{100 * cw['acc_cold'].mean():.2f} %) vs T = 1 NLL {cw['nll_warm'].mean():.4f} (acc "
            f"{100 * cw['acc_warm'].mean():.2f} %): cold better in NLL in "
            f"{int((cw['nll_cold'] < cw['nll_warm']).sum())} of {len(cw)} seed(s)")
    data = f"{spec['dataset']}, MLP {'-'.join(map(str, spec['model']['hidden']))}"
    fig.suptitle(f"Every method on one model and data set ({data}); reliability diagrams pooled "
                 f"over seeds (15 confidence bins)\n{cold}", fontsize=11)
    note = (f"single run NLL {mean.loc[SINGLE, 'nll'] if SINGLE in mean.index else math.nan:.4f}; "
            + (f"ensembles not beating it (mean NLL): {', '.join(losers)}; " if losers else "")
            + (f"the others not beating it in a seed (NLL difference): {', '.join(per_seed)}"
               if per_seed else "the others beat it in every seed" if losers
               else "every ensemble beats it in every seed")
            + f"; {cold}" + (f"; {len(res.diverged())} diverged (excluded)" if res.diverged() else ""))
    return fig, less("L-ensembles", "every ensemble beats the single run in test NLL: largest "
                     "NLL(ensemble) − NLL(single run) over deep ensemble, SWAG, MC dropout, "
                     "SGHMC at T = 1 and cold < 0 (per seed; SWA and weight scaling are one net)",
                     math.nan, 0.0, note, units=worst_margin_per_run(ok),
                     diverged=len(res.diverged()))
