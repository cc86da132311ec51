"""Family F figures: dropout (seed 003). Each claim's value is a pure function of the table its
figure draws."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nnrepro.claims import greater, less, reference
from nnrepro.figures import figure
from nnrepro.results import Results

ON_DATA, AWAY = 0.1, 1.0      # grid points within 0.1 of a datum are "on the data", ≥ 1.0 "away"
FILTERS_SHOWN = 64            # encoder filters drawn per autoencoder (an 8 × 8 mosaic)


# --- F-mc-regression --------------------------------------------------------------------------

def spread_ratio(reg: pd.DataFrame, on: float = ON_DATA, away: float = AWAY) -> float:
    """Mean MC standard deviation at grid points ≥ ``away`` from every datum / at points within
    ``on`` of one (NaN when either set is empty)."""
    near = reg[reg["distance_to_data"] <= on]["mc_std"]
    far = reg[reg["distance_to_data"] >= away]["mc_std"]
    if near.empty or far.empty or near.mean() <= 0:
        return math.nan
    return float(far.mean() / near.mean())


@figure("F-mc-regression")
def f_mc_regression(res: Results):
    regs, members, data = res.table("regression"), res.table("regression_members"), res.table("regression_data")
    spec = res.runs[0]["spec"]["regression"]
    reg = regs[regs["net"] == 0]
    fig, ax = plt.subplots(figsize=(8, 4.6))
    for m, d in members.groupby("member"):
        ax.plot(d["x"], d["y"], color="C0", lw=0.5, alpha=0.25,
                label="scatter of the ensemble (members, one mask each)" if m == 0 else None)
    ax.fill_between(reg["x"], reg["mc_mean"] - 2 * reg["mc_std"], reg["mc_mean"] + 2 * reg["mc_std"],
                    color="C0", alpha=0.15, label="MC mean ± 2 std")
    ax.plot(reg["x"], reg["mc_mean"], color="C0", lw=2, label=f"mean of the ensemble ({spec['samples']} masks)")
    ax.plot(reg["x"], reg["weight_scaling"], color="C1", ls="--", lw=1.6, label="weight scaling")
    ax.plot(reg["x"], reg["truth"], color="black", lw=1.2, label="true function x sin x")
    ax.scatter(data["x"], data["y"], color="black", s=12, zorder=3, label="training data")
    far = reg["distance_to_data"] >= AWAY
    ax.fill_between(reg["x"], 0, 1, where=far, transform=ax.get_xaxis_transform(), color="grey",
                    alpha=0.08, lw=0, label=f"away from the data (≥ {AWAY:g})")
    lo = min(reg["truth"].min(), data["y"].min())
    hi = max(reg["truth"].max(), data["y"].max())
    ax.set_ylim(lo - 0.6 * (hi - lo), hi + 0.6 * (hi - lo))
    ax.set(xlabel="x", ylabel="y",
           title=f"MC dropout (p = {spec['dropout']:g}, {spec['dropout_kind']}) on 1-D regression with a gap "
                 f"(net 1 of {regs['net'].nunique()})")
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    ok = regs[~regs["diverged"]]
    units = [spread_ratio(g) for _, g in ok.groupby("net")]
    n_div = regs.groupby("net")["diverged"].first().sum()
    return fig, greater("F-mc-regression", f"mean MC std away from the data (≥ {AWAY:g}) / on the data "
                        f"(≤ {ON_DATA:g}) > 2 (per net from its own init)", math.nan, 2.0,
                        f"{regs['net'].nunique()} nets", units=units, diverged=int(n_div),
                        finding="ratio per net: " + ", ".join(f"{u:.2f}" for u in units))


# --- F-mc-vs-scaling ---------------------------------------------------------------------------

def mc_minus_scaling(mc: pd.DataFrame) -> list[float]:
    """Per independent draw of the masks (``repeat``): the worst over dropout kinds of
    NLL(MC average of the largest M) − NLL(weight scaling). Empty without both methods."""
    mc = mc[~mc["diverged"]]
    ws = mc[mc["method"] == "weight scaling"].groupby("kind")["nll"].first()
    m = mc[mc["method"] == "MC dropout"]
    last = m[m["M"] == m["M"].max()].set_index(["repeat", "kind"])["nll"]
    if ws.empty or last.empty:
        return []
    return (last - ws.reindex(last.index.get_level_values("kind")).to_numpy()).groupby("repeat").max().tolist()


def first_match(mc: pd.DataFrame, col: str = "nll") -> dict:
    """Per dropout kind, the smallest M whose MC ``col`` (mean over mask draws) ≤ weight
    scaling's (None: never up to the largest M)."""
    mc = mc[~mc["diverged"]]
    first = {}
    for kind, d in mc.groupby("kind"):
        ws = d[d["method"] == "weight scaling"][col]
        curve = d[d["method"] == "MC dropout"].groupby("M")[col].mean()
        if ws.empty or curve.empty:
            continue
        matched = curve[curve <= ws.iloc[0]]
        first[kind] = int(matched.index[0]) if len(matched) else None
    return first


@figure("F-mc-vs-scaling")
def f_mc_vs_scaling(res: Results):
    mc = res.table("mc")
    ok = mc[~mc["diverged"]]
    m = ok[ok["method"] == "MC dropout"].assign(error=lambda d: 100 * (1 - d["acc"]))
    ws = ok[ok["method"] == "weight scaling"].assign(error=lambda d: 100 * (1 - d["acc"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    for ax, col, label in ((axes[0], "nll", "test NLL (nats)"), (axes[1], "error", "test error (%)")):
        sns.lineplot(m, x="M", y=col, hue="kind", errorbar=("pi", 100), ax=ax)
        for i, (kind, d) in enumerate(ws.groupby("kind")):
            ax.axhline(d[col].iloc[0], color=f"C{i}", ls="--", lw=1.2, label=f"{kind}: weight scaling")
        ax.set(xscale="log", xlabel="M (dropout masks averaged)", ylabel=label)
        ax.legend(fontsize=8, title=None)
    p = mc["p"].iloc[0]
    axes[0].set_title(f"Test NLL on {res.runs[0]['spec']['dataset']}: MC average of M masks vs weight "
                      f"scaling (p = {p:g})", fontsize=10)
    axes[1].set_title("Test error (band: range over mask draws)")
    never = f"never up to {int(m['M'].max())}"
    finding = "; ".join(f"first M at which MC matches weight scaling in {what}: " + ", ".join(
        f"{k} {never if v is None else v}" for k, v in first_match(mc.assign(err=1 - mc["acc"]), col).items())
        for what, col in (("NLL", "nll"), ("test error", "err")))
    n_div = int(mc.groupby("kind")["diverged"].first().sum())
    return fig, less("F-mc-vs-scaling", f"worst over kinds of test NLL(MC, M = {int(m['M'].max())}) − "
                     "NLL(weight scaling) ≤ 0 (per draw of the masks, one trained net per kind)", math.nan, 0.0,
                     f"{mc['repeat'].nunique()} mask draws", inclusive=True, units=mc_minus_scaling(mc),
                     finding=finding, diverged=n_div)


# --- F-ae-features -------------------------------------------------------------------------------

def mean_sparsity(features: pd.DataFrame) -> dict[float, float]:
    """Mean Hoyer sparsity of the encoder filters, per dropout rate p."""
    return features.groupby("p")["hoyer"].mean().to_dict()


def mosaic(filters: pd.DataFrame, n: int) -> np.ndarray:
    """The first n filters as square images (each scaled to its own max |w|), tiled in a grid."""
    W = filters.pivot(index="unit", columns="pixel", values="weight").to_numpy()[:n]
    side, cols = int(round(math.sqrt(W.shape[1]))), int(math.ceil(math.sqrt(len(W))))
    rows = int(math.ceil(len(W) / cols))
    out = np.full((rows * (side + 1) + 1, cols * (side + 1) + 1), np.nan)
    for i, w in enumerate(W):
        r, c = divmod(i, cols)
        img = w.reshape(side, side) / max(np.abs(w).max(), 1e-12)
        out[1 + r * (side + 1):(r + 1) * (side + 1), 1 + c * (side + 1):(c + 1) * (side + 1)] = img
    return out


@figure("F-ae-features")
def f_ae_features(res: Results):
    filters, features = res.table("filters"), res.table("features")
    spec = res.runs[0]["spec"]
    sparsity = mean_sparsity(features)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    for ax, (p, f) in zip(axes, filters.groupby("p")):
        ax.imshow(mosaic(f, FILTERS_SHOWN), cmap="gray", vmin=-1, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        what = "without dropout" if p == 0 else f"dropout p = {p:g}"
        ax.set_title(f"({'ab'[int(p > 0)]}) {what}: Hoyer sparsity {sparsity[p]:.3f}")
    fig.suptitle(f"Encoder filters of a one-hidden-layer autoencoder ({spec['autoencoder']['hidden']} ReLU units) "
                 f"on {spec['dataset']}: first {FILTERS_SHOWN} of each")
    active = features.groupby("p")["active_fraction"].mean()
    what = ("visual (no claim): mean Hoyer sparsity of the encoder filters, "
            + ", ".join(f"p = {p:g}: {v:.3f}" for p, v in sparsity.items()))
    claim = reference("F-ae-features", what, sparsity.get(max(sparsity), math.nan))
    claim.note = "mean fraction of active hidden units on test images: " + ", ".join(
        f"p = {p:g}: {v:.2f}" for p, v in active.items())
    return fig, claim
