"""Family K figure: the wide net against its neural-tangent-kernel predictor (seed 001)."""
from __future__ import annotations

import math
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nnrepro.catalogue import FIGURE_INFO
from nnrepro.claims import Claim, both, less, within
from nnrepro.plotting import figure
from nnrepro.results import Results

INFO = FIGURE_INFO["K-ntk"]          # the test's wording and threshold: the catalogue's
RATE = -0.5                          # Lee et al. 2019: ‖θ_t − θ₀‖/‖θ₀‖ = O(m^−½)
RATE_TOLERANCE = INFO.threshold      # the band around it: ± 0.15
MIN_TRIALS = 5


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


def ntk_claim(gap: pd.DataFrame):
    """Both conditions of K-ntk, per trial (an independent init at every width):
    (1) the RMS gap net − NTK predictor shrinks with width: log-log slope < 0;
    (2) the relative weight change ‖θ_t − θ₀‖/‖θ₀‖ falls as m^−½ (Lee et al. 2019, Thm 2.1):
        its log-log slope within −½ ± 0.15 (``within``: the whole 95 % interval inside)."""
    shrinks = less("K-ntk", "log-log slope of the RMS gap net − NTK predictor against width < 0",
                   math.nan, 0.0, units=slopes_per_trial(gap), min_n=MIN_TRIALS)
    rate = within("K-ntk", f"log-log slope of ‖θ_t − θ₀‖/‖θ₀‖ against width in {RATE:g} ± {RATE_TOLERANCE:g}",
                  RATE, RATE_TOLERANCE, units=slopes_per_trial(gap, "rel_change"), min_n=MIN_TRIALS)
    return shrinks, rate


def ntk_figure_claim(gap: pd.DataFrame, parts=None) -> Claim:
    """K-ntk's row: both conditions of ``ntk_claim`` (``parts``, computed from ``gap`` if not
    given), the rate's value and interval; the finding gives both slopes and the widths."""
    shrinks, rate = parts or ntk_claim(gap)
    widths = sorted(gap["width"].unique())
    claim = both(rate, shrinks, note=f"{gap['trial'].nunique()} trials per width")
    return replace(claim, test=INFO.test, finding=(
        f"relative-change slope {rate.value:.2f} [{rate.low:.2f}, {rate.high:.2f}]: {rate.verdict}; "
        f"gap slope {shrinks.value:.2f} [{shrinks.low:.2f}, {shrinks.high:.2f}]: {shrinks.verdict}; "
        f"widths {widths[0]}–{widths[-1]}"))


def draw_ntk(gap: pd.DataFrame, curves: pd.DataFrame, data: pd.DataFrame, truth: pd.DataFrame,
             claim: Claim, parts, activation: str):
    """Three widths' fits (trial 0 of the first run: net, NTK predictors, data, truth) and the
    gap and relative weight change against width with the claim's slopes (``parts``)."""
    shrinks, rate = parts
    run0 = gap["run"].iloc[0]
    widths = sorted(gap["width"].unique())
    shown = sorted({widths[0], widths[len(widths) // 2], widths[-1]})
    fig, grid = plt.subplots(2, 2, figsize=(11, 8.6))
    axes = grid.ravel()
    steps = int(gap["steps"].iloc[0])
    for ax, w in zip(axes, shown):
        c = curves[(curves["run"] == run0) & (curves["width"] == w) & (curves["trial"] == 0)]
        t = truth[truth["run"] == run0]
        ax.plot(t["x"], t["f"], color="grey", lw=1, label="true function x sin x")
        ax.plot(c["x"], c["net"], color="C0", lw=2, label=f"net after {steps} GD steps")
        ax.plot(c["x"], c["kernel"], color="C3", ls="--", lw=1.6, label="NTK predictor, same step")
        ax.plot(c["x"], c["kernel_inf"], color="C2", ls=":", lw=1.4, label="NTK predictor yᵀK⁻¹k(x)")
        d = data[data["run"] == run0]
        ax.scatter(d["x"], d["y"], color="black", s=18, zorder=3, label="training data")
        ax.set(xlabel="x", ylabel="f(x)", title=f"width m = {w} (trial 0)")
    axes[0].legend(fontsize=9, loc="best")
    ax = axes[-1]
    ax.scatter(gap["width"], gap["gap"], color="C3", s=14, alpha=0.5)
    ax.scatter(gap["width"], gap["rel_change"], color="C0", s=14, alpha=0.5, marker="s")
    mean = gap.groupby("width")[["gap", "rel_change"]].mean()
    ax.plot(mean.index, mean["gap"], "o-", color="C3",
            label=f"RMS gap net − NTK predictor: slope {shrinks.value:.2f} [{shrinks.low:.2f}, {shrinks.high:.2f}]")
    ax.plot(mean.index, mean["rel_change"], "s-", color="C0",
            label=f"‖θ_t − θ₀‖/‖θ₀‖: slope {rate.value:.2f} [{rate.low:.2f}, {rate.high:.2f}]")
    ref = mean["rel_change"].iloc[0] * (mean.index / mean.index[0]) ** RATE
    ax.plot(mean.index, ref, color="grey", ls=":", label="∝ m^(−1/2) (Lee et al. 2019)")
    ax.set(xscale="log", yscale="log", xlabel="hidden units m", ylabel="RMS gap on the grid; relative change",
           title=f"Against width ({shrinks.n} trials; slopes with 95 % intervals)")
    ax.legend(fontsize=9, loc="lower left")
    fig.suptitle(f"Wide two-layer {activation} net trained by GD vs the NTK predictor (empirical NTK at init)")
    return fig


@figure("K-ntk")
def k_ntk(res: Results):
    gap, curves = res.table("gap"), res.table("curves")
    data, truth = res.table("data"), res.table("truth")
    parts = ntk_claim(gap)
    claim = ntk_figure_claim(gap, parts)
    return draw_ntk(gap, curves, data, truth, claim, parts, res.runs[0]["spec"]["activation"]), claim
