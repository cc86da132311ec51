"""Family J figure (seed 004 §6.6.2): the lottery ticket hypothesis (Frankle & Carbin 2019)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import numpy as np
import pandas as pd
import seaborn as sns

from nnrepro.claims import both, greater
from nnrepro.figures import figure
from nnrepro.figures.style import mark_diverged
from nnrepro.results import Results

TARGET = 0.2     # "at about 20 % of the weights"
WITHIN = 1.0     # percentage points below the dense net


def near_target(rounds: pd.DataFrame, target: float = TARGET) -> int:
    """The pruning round whose fraction of weights left is closest to ``target``."""
    fr = rounds.groupby("round")["frac_weights"].mean()
    return int((fr - target).abs().idxmin())


def ticket_margins(rounds: pd.DataFrame, r: int) -> pd.DataFrame:
    """Per run, in percentage points at round r: ticket − (dense − 1) and ticket − random reinit
    (dense: the ticket's round 0, the unpruned net)."""
    acc = 100 * rounds.pivot_table(index=["run", "round"], columns="kind", values="test_acc")
    dense = acc["ticket"].xs(0, level="round")
    at = acc.xs(r, level="round")
    return pd.DataFrame({"dense": dense, "ticket": at["ticket"], "reinit": at["random reinit"],
                         "vs_dense": at["ticket"] - (dense - WITHIN),
                         "vs_reinit": at["ticket"] - at["random reinit"]}).dropna()


@figure("J-lottery")
def j_lottery(res: Results):
    rounds, masks = res.table("rounds"), res.table("masks")
    ok = rounds[rounds["status"] == "ok"]
    spec = res.runs[0]["spec"]
    fig, (ax, mx) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [2, 1]})
    d = rounds.assign(percent=100 * rounds["frac_weights"], acc=100 * rounds["test_acc"])
    sns.lineplot(d, x="percent", y="acc", hue="kind", style="kind", markers=True, dashes=False,
                 errorbar=("pi", 100), ax=ax, hue_order=["ticket", "random reinit"])
    r = near_target(ok) if len(ok) else 0
    m = ticket_margins(ok, r) if len(ok) else pd.DataFrame(columns=["dense", "ticket", "reinit",
                                                                     "vs_dense", "vs_reinit"])
    dense = m["dense"].mean()
    ax.axhline(dense, color="grey", lw=1, label=f"dense net (mean {dense:.2f} %)")
    ax.axhline(dense - WITHIN, color="grey", ls=":", lw=1, label=f"dense − {WITHIN:g} point")
    at = 100 * ok[ok["round"] == r]["frac_weights"].mean() if len(ok) else math.nan
    ax.axvline(at, color="black", ls="--", lw=0.8)
    ax.text(at, ax.get_ylim()[0], f" round {r}: {at:.1f} % left", fontsize=8, va="bottom")
    ticks = [t for t in (100, 50, 20, 10, 5, 2, 1) if t >= d["percent"].min() * 0.9]
    net = "-".join(map(str, spec["model"]["hidden"]))
    ax.set(xscale="log", xticks=ticks, xticklabels=[f"{t:g}" for t in ticks],
           xlabel="weights left (%, log scale)", ylabel="test accuracy (%)",
           title=f"Iterative magnitude pruning ({spec['dataset']}, MLP {net}; "
                 "band: range over seeds)")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.invert_xaxis()
    ax.legend(fontsize=8, loc="lower left")
    mark_diverged(ax, res.diverged())

    layers = masks.groupby(["round", "layer"])[["left", "total"]].mean().reset_index()
    n_layers = layers["layer"].nunique()
    for layer, g in layers.groupby("layer"):
        kind = "output" if layer == n_layers - 1 else "hidden"
        mx.plot(g["round"], 100 * g["left"] / g["total"], marker="o", ms=3,
                label=f"Linear {layer} ({kind}, {int(g['total'].iloc[0])} weights)")
    p = spec["prune"]
    rr = np.arange(layers["round"].max() + 1)
    mx.plot(rr, 100 * (1 - p["hidden_rate"]) ** rr, color="grey", ls=":", lw=1,
            label=f"(1 − {p['hidden_rate']:g})^r, (1 − {p['output_rate']:g})^r")
    mx.plot(rr, 100 * (1 - p["output_rate"]) ** rr, color="grey", ls=":", lw=1)
    low = 100 * (layers["left"] / layers["total"]).min()
    yt = [t for t in (100, 50, 20, 10, 5, 2, 1) if t >= low * 0.9]
    mx.set(yscale="log", yticks=yt, yticklabels=[f"{t:g}" for t in yt], xlabel="pruning round r",
           ylabel="weights left in the layer (%, log scale)", title="Per-layer masks")
    mx.yaxis.set_minor_formatter(NullFormatter())
    mx.legend(fontsize=8)
    fig.suptitle("Lottery tickets: pruned nets rewound to their initial weights θ₀ vs the same "
                 "masks on a fresh random initialization")
    note = (f"round {r} ({at:.1f} % of weights left), mean test accuracy: dense {dense:.2f} %, "
            f"ticket {m['ticket'].mean():.2f} %, random reinit {m['reinit'].mean():.2f} % "
            f"({len(m)} seed(s)); per seed, ticket − (dense − {WITHIN:g}): "
            f"{', '.join(f'{v:+.2f}' for v in m['vs_dense'])}; ticket − reinit: "
            f"{', '.join(f'{v:+.2f}' for v in m['vs_reinit'])} points")
    if res.diverged():
        note += f"; {len(res.diverged())} diverged (excluded)"
    claim = both(greater("J-lottery", f"at about {100 * TARGET:g} % of the weights (the closest round): "
                         f"ticket accuracy − (dense − {WITHIN:g} point) > 0 and ticket − random "
                         "reinit > 0 (percentage points, per seed)", math.nan, 0.0,
                         units=list(m["vs_dense"]), diverged=len(res.diverged())),
                 greater("J-lottery", "", math.nan, 0.0, units=list(m["vs_reinit"])), note=note)
    return fig, claim
