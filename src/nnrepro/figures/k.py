"""Family K figure: the wide net against its neural-tangent-kernel predictor (seed 001)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nnrepro.claims import less
from nnrepro.figures import figure
from nnrepro.results import Results


def loglog_slope(df: pd.DataFrame, x: str = "width", y: str = "gap") -> float:
    """Least-squares slope of log(mean y) against log x over the distinct x (≥ 3 needed, else
    NaN): the exponent a of y ∝ x^a."""
    m = df.groupby(x)[y].mean()
    m = m[(m > 0) & np.isfinite(m)]
    if len(m) < 3:
        return math.nan
    return float(np.polyfit(np.log(m.index.to_numpy(float)), np.log(m.to_numpy(float)), 1)[0])


def slopes_per_trial(df: pd.DataFrame, y: str = "gap") -> list[float]:
    """``loglog_slope`` of each trial (its nets at every width are independent of the other
    trials'): the claim's units."""
    return [loglog_slope(g, y=y) for _, g in df.groupby("trial")]


@figure("K-ntk")
def k_ntk(res: Results):
    gap, curves = res.table("gap"), res.table("curves")
    data, truth = res.table("data"), res.table("truth")
    run0 = gap["run"].iloc[0]
    widths = sorted(gap["width"].unique())
    shown = sorted({widths[0], widths[len(widths) // 2], widths[-1]})
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(4.2 * (len(shown) + 1), 4.3))
    steps = int(gap["steps"].iloc[0])
    for ax, w in zip(axes, shown):
        c = curves[(curves["run"] == run0) & (curves["width"] == w) & (curves["trial"] == 0)]
        t = truth[truth["run"] == run0]
        ax.plot(t["x"], t["f"], color="grey", lw=1, label="true function x sin x")
        ax.plot(c["x"], c["net"], color="C0", lw=2, label=f"net after {steps} GD steps")
        ax.plot(c["x"], c["kernel"], color="C3", ls="--", lw=1.6,
                label="NTK predictor, same step")
        ax.plot(c["x"], c["kernel_inf"], color="C2", ls=":", lw=1.4, label="NTK predictor yᵀK⁻¹k(x)")
        d = data[data["run"] == run0]
        ax.scatter(d["x"], d["y"], color="black", s=18, zorder=3, label="training data")
        lo, hi = ax.get_ylim()
        ax.set(xlabel="x", ylabel="f(x)", title=f"width m = {w}", ylim=(lo, hi + 0.45 * (hi - lo)))
    axes[0].legend(fontsize=7, loc="upper center", ncol=2)
    ax = axes[-1]
    ax.scatter(gap["width"], gap["gap"], color="C3", s=14, alpha=0.5)
    ax.scatter(gap["width"], gap["rel_change"], color="C0", s=14, alpha=0.5, marker="s")
    mean = gap.groupby("width")[["gap", "rel_change"]].mean()
    ax.plot(mean.index, mean["gap"], "o-", color="C3", label="RMS gap net − NTK predictor")
    ax.plot(mean.index, mean["rel_change"], "s-", color="C0", label="‖θ_t − θ₀‖ / ‖θ₀‖")
    ref = mean["rel_change"].iloc[0] * (mean.index / mean.index[0]) ** -0.5
    ax.plot(mean.index, ref, color="grey", ls=":", label="∝ m^(−1/2) (Lee et al. 2019)")
    ax.set(xscale="log", yscale="log", xlabel="hidden units m", ylabel="RMS gap on the grid; relative change",
           title="Net vs NTK predictor against width")
    ax.legend(fontsize=7)
    act = res.runs[0]["spec"]["activation"]
    fig.suptitle(f"Wide two-layer {act} net trained by GD vs the NTK predictor (empirical NTK at init)")
    finding = (f"slope of the mean gap {loglog_slope(gap):.2f}, of the relative weight change "
               f"{loglog_slope(gap, y='rel_change'):.2f} (theory −0.5); widths {widths[0]}–{widths[-1]}")
    return fig, less("K-ntk", "log-log slope of the RMS gap between the net and its NTK predictor against "
                     "width < 0 (per trial; Lee et al. 2019: about −1/2)", math.nan, 0.0,
                     f"{gap['trial'].nunique()} trial(s) per width", units=slopes_per_trial(gap),
                     finding=finding)
