"""Family F figures: dropout (seed 003). Each claim's value is a pure function of the table its
figure draws (``spread_claim``, ``scaling_claim``, ``ae_features_claim``), each drawing a function
of the same tables and the claim (``draw_*``), and the ``@figure`` function reads the tables and
calls both. A claim's test wording and threshold are the catalogue's (``FIGURE_INFO[id]``)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nnrepro.catalogue import FIGURE_INFO
from nnrepro.claims import VERDICT_COLOR, Claim, both, greater, less, mean_interval, reference
from nnrepro.plotting import figure
from nnrepro.results import NoData, Results

ON_DATA, AWAY = 0.1, 1.0      # grid points within 0.1 of a datum are "on the data", ≥ 1.0 "away"
FILTERS_SHOWN = 64            # encoder filters drawn per autoencoder (an 8 × 8 mosaic)


# --- F-mc-regression --------------------------------------------------------------------------

SPREAD_FACTOR = FIGURE_INFO["F-mc-regression"].threshold   # "larger away from the data": mean MC
                                                            # std away / on the data > 2 (set before issue 17)


def regions(reg: pd.DataFrame, data_x, on: float = ON_DATA, away: float = AWAY) -> pd.Series:
    """Each grid point's region: "on" the data (within ``on`` of a datum), in the "gap" (≥ ``away``
    from every datum, between the smallest and the largest datum), "outside" the data (≥ ``away``,
    beyond them: extrapolation), or "" (neither)."""
    lo, hi = np.min(data_x), np.max(data_x)
    d, x = reg["distance_to_data"], reg["x"]
    inside = (x > lo) & (x < hi)
    return pd.Series(np.select([d <= on, (d >= away) & inside, d >= away], ["on", "gap", "outside"], ""),
                     index=reg.index)


def spread_ratio(reg: pd.DataFrame, data_x, region: str, max_distance: float = math.inf) -> float:
    """Mean MC standard deviation over the grid points of ``region`` ("gap" or "outside"; only
    those within ``max_distance`` of a datum) / over the points on the data (NaN when either set
    is empty)."""
    where = regions(reg, data_x)
    near = reg["mc_std"][where == "on"]
    far = reg["mc_std"][(where == region) & (reg["distance_to_data"] <= max_distance)]
    if near.empty or far.empty or near.mean() <= 0:
        return math.nan
    return float(far.mean() / near.mean())


def spread_units(regs: pd.DataFrame, data_x) -> dict[str, list[float]]:
    """Per net (an independent init and masks: the claim's units) the spread ratio in the gap,
    outside the data, and outside at no more than the gap's largest distance from the data
    ("matched": a like-for-like check, the gap being narrower than the extrapolation range)."""
    nets = [g for _, g in regs[~regs["diverged"]].groupby("net")]
    reach = regs.loc[regions(regs, data_x) == "gap", "distance_to_data"].max()
    return {"gap": [spread_ratio(g, data_x, "gap") for g in nets],
            "outside": [spread_ratio(g, data_x, "outside") for g in nets],
            "matched": [spread_ratio(g, data_x, "outside", reach) for g in nets] if math.isfinite(reach) else []}


def spread_claim(regs: pd.DataFrame, data_x):
    """F-mc-regression: both conditions, the spread ratio > 2 in the gap between the data
    intervals AND > 2 outside the data; the value and interval are the gap's."""
    u = spread_units(regs, data_x)
    n_div = int(regs.groupby("net")["diverged"].first().sum())
    in_gap, outside = (greater("F-mc-regression", region, math.nan, SPREAD_FACTOR, units=u[region], min_n=5,
                               diverged=n_div) for region in ("gap", "outside"))
    claim = both(in_gap, outside, note=f"{in_gap.n} nets; value: the gap's")
    claim.test = FIGURE_INFO["F-mc-regression"].test
    per = lambda v: ", ".join(f"{x:.2f}" for x in v)
    matched = _mean(u["matched"])
    claim.finding = (f"two results, each > {SPREAD_FACTOR:g} needed: outside the data (extrapolation) "
                     f"{_part(outside)} (per net {per(u['outside'])}); in the gap between the data intervals "
                     f"{_part(in_gap)} (per net {per(u['gap'])}); outside at no more than the gap's distance "
                     f"from the data {matched:.2f}")
    if in_gap.verdict == "fail" and outside.verdict == "pass":
        claim.finding += (". The spread grows beyond the data, already at the gap's distances, but not between "
                          "the intervals: the science, not our grid. MC dropout's known in-between pathology: "
                          "Foong, Burt, Li & Turner 2020 (NeurIPS, 'On the expressiveness of approximate "
                          "inference in Bayesian neural networks') find that 'neither method [mean-field "
                          "Gaussian, MC dropout] can have substantially increased uncertainty in between "
                          "well-separated regions of low uncertainty' (proved for one hidden layer, seen "
                          "empirically in deeper nets; ours has two). Seed 003 only says sampling 'can be "
                          "used to also estimate model uncertainty' (its figure, after Louizos & Welling "
                          "2017, has no gap in its data)" if matched > SPREAD_FACTOR else
                          ". Outside the data at the gap's distances the ratio is small too: the spread grows "
                          "with distance and the gap is too narrow to show it (our setup)")
    return claim, in_gap, outside


def _part(c: Claim) -> str:
    """One condition's value, 95 % interval, n and verdict, for a finding."""
    return f"{c.value:.2f} [95 % {c.low:.2f}, {c.high:.2f}; n = {c.n}]: {c.verdict}"


def _mean(v) -> float:
    v = [u for u in v if math.isfinite(u)]
    return float(np.mean(v)) if v else math.nan


def draw_mc_regression(regs: pd.DataFrame, members: pd.DataFrame, data: pd.DataFrame, claim: Claim,
                       in_gap: Claim, outside: Claim, spec: dict):
    """Draws F-mc-regression from the tables its claim reads.

    ``in_gap``, ``outside``: the claim's two conditions (``spread_claim``); ``spec``: the
    run's ``regression`` settings."""
    reg = regs[regs["net"] == 0]
    fig, (ax, rx) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 1]})
    _ratios(rx, spread_units(regs, data["x"]), in_gap, outside)
    for m, d in members.groupby("member"):
        ax.plot(d["x"], d["y"], color="C0", lw=0.5, alpha=0.25,
                label="scatter of the ensemble (members, one mask each)" if m == 0 else None)
    ax.fill_between(reg["x"], reg["mc_mean"] - 2 * reg["mc_std"], reg["mc_mean"] + 2 * reg["mc_std"],
                    color="C0", alpha=0.15, label="MC mean ± 2 std")
    ax.plot(reg["x"], reg["mc_mean"], color="C0", lw=2, label=f"mean of the ensemble ({spec['samples']} masks)")
    ax.plot(reg["x"], reg["weight_scaling"], color="C1", ls="--", lw=1.6, label="weight scaling")
    ax.plot(reg["x"], reg["truth"], color="black", lw=1.2, label="true function x sin x")
    ax.scatter(data["x"], data["y"], color="black", s=12, zorder=3, label="training data")
    where = regions(reg, data["x"])
    for region, color in (("gap", "C2"), ("outside", "grey")):
        ax.fill_between(reg["x"], 0, 1, where=where == region, transform=ax.get_xaxis_transform(),
                        color=color, alpha=0.12, lw=0, label=f"{region} (≥ {AWAY:g} from the data)")
    lo = min(reg["truth"].min(), data["y"].min())
    hi = max(reg["truth"].max(), data["y"].max())
    ax.set_ylim(lo - 0.6 * (hi - lo), hi + 0.6 * (hi - lo))
    ax.set(xlabel="x", ylabel="y",
           title=f"MC dropout (p = {spec['model']['dropout']:g}, {spec['model']['dropout_kind']}) on 1-D regression with a gap "
                 f"(net 1 of {regs['net'].nunique()})")
    ax.legend(fontsize=8, loc="upper center", ncol=3)
    return fig


def _ratios(ax, units: dict, in_gap: Claim, outside: Claim) -> None:
    """The claim's two results: per net the spread ratio (dots), the mean (◆) and its 95 %
    interval (bar) in the gap and outside, coloured by each one's verdict; the threshold dashed."""
    for i, (name, c) in enumerate((("outside", outside), ("gap", in_gap))):
        color = VERDICT_COLOR[c.verdict]
        v = [x for x in units[name] if math.isfinite(x)]
        ax.scatter(np.full(len(v), i), v, s=16, color=color, alpha=0.5)
        if math.isfinite(c.low):
            ax.plot([i, i], [c.low, c.high], color=color, lw=3, solid_capstyle="butt")
        ax.scatter([i], [c.value], marker="D", s=50, color=color, edgecolor="black", zorder=3)
        ax.annotate(f"{c.value:.2f}\n[{c.low:.2f}, {c.high:.2f}]\n{c.verdict}", (i, c.value),
                    xytext=(12, 0), textcoords="offset points", fontsize=8, va="center", color=color)
    ax.axhline(SPREAD_FACTOR, color="black", ls="--", lw=1, label=f"threshold {SPREAD_FACTOR:g}")
    ax.set_xticks([0, 1], ["outside\n(extrapolation)", "in the gap"])
    ax.set(xlim=(-0.5, 1.9), ylim=(0, None), ylabel="MC std away / on the data (per net)",
           title="The claim's two results\n(dots: nets; ◆ mean, bar 95 % interval)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, loc="upper right")


@figure("F-mc-regression")
def f_mc_regression(res: Results):
    regs, members, data = res.table("regression"), res.table("regression_members"), res.table("regression_data")
    claim, in_gap, outside = spread_claim(regs, data["x"])
    return draw_mc_regression(regs, members, data, claim, in_gap, outside,
                              res.runs[0]["spec"]["regression"]), claim


# --- F-mc-vs-scaling ---------------------------------------------------------------------------

M_LARGE = 50            # Srivastava et al. §7.5, Fig. 11: MC matches weight scaling at k ≈ 50
MATCH_TOLERANCE = FIGURE_INFO["F-mc-vs-scaling"].threshold  # "matches": MC test error ≤ 1.1 × weight
                                                            # scaling's (set before looking)


def per_net(mc: pd.DataFrame, M: int) -> pd.DataFrame:
    """Per trained net and dropout kind: test error and NLL of weight scaling and of the MC
    average of M masks (mean over the mask draws of that net). Diverged nets left out."""
    mc = mc[~mc["diverged"]].assign(err=lambda d: 1 - d["acc"])
    ws = mc[mc["method"] == "weight scaling"].groupby(["net", "kind"])[["err", "nll"]].mean()
    m = mc[(mc["method"] == "MC dropout") & (mc["M"] == M)].groupby(["net", "kind"])[["err", "nll"]].mean()
    return ws.merge(m, left_index=True, right_index=True, suffixes=("_ws", "_mc")).reset_index()


def error_excess(mc: pd.DataFrame, M: int) -> list[float]:
    """The claim's units: per trained net, the worst over dropout kinds of
    error(MC average of M masks) / error(weight scaling) − 1 (NaN where weight scaling makes no error)."""
    t = per_net(mc, M)
    excess = (t["err_mc"] / t["err_ws"] - 1).where(t["err_ws"] > 0)
    return t.assign(excess=excess).groupby("net")["excess"].max().tolist()


def first_match(mc: pd.DataFrame, col: str = "nll") -> dict:
    """Per dropout kind, the smallest M whose MC ``col`` (mean over nets and mask draws) ≤ weight
    scaling's mean (None: never up to the largest M)."""
    mc = mc[~mc["diverged"]]
    first = {}
    for kind, d in mc.groupby("kind"):
        ws = d[d["method"] == "weight scaling"][col]
        curve = d[d["method"] == "MC dropout"].groupby("M")[col].mean()
        if ws.empty or curve.empty:
            continue
        matched = curve[curve <= ws.mean()]
        first[kind] = int(matched.index[0]) if len(matched) else None
    return first


def kind_excess(mc: pd.DataFrame, M: int) -> dict[str, tuple[float, float, float, int]]:
    """Per dropout kind: the mean over nets of error(MC, M)/error(weight scaling) − 1 and its 95 %
    t-interval (mean, low, high, n)."""
    t = per_net(mc, M)
    t = t.assign(excess=(t["err_mc"] / t["err_ws"] - 1).where(t["err_ws"] > 0))
    return {kind: mean_interval(d["excess"]) for kind, d in t.groupby("kind")}


def sign(low: float, high: float) -> str:
    """Where a 95 % interval of error(MC)/error(weight scaling) − 1 lies: MC significantly worse
    (above 0), better (below 0), or neither."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undecided (no interval)"
    return ("MC significantly worse than weight scaling" if low > 0 else
            "MC significantly better than weight scaling" if high < 0 else
            "no significant difference from weight scaling")


def convergence(curves: pd.DataFrame | None) -> str:
    """How far training had settled: per kind, the mean over nets of the relative fall of the
    epoch-mean training loss over the last quarter of the epochs, 1 − loss(E)/loss(q), q = ⌈3E/4⌉
    (at most E − 1). A diagnostic beside the claim, not part of its verdict."""
    if curves is None or curves.empty:
        return ""
    c = curves[~curves["diverged"]]
    parts = []
    for kind, d in c.groupby("kind"):
        E = int(d["epoch"].max())
        if E < 2:
            continue
        q = max(1, min(E - 1, math.ceil(3 * E / 4)))
        w = d.pivot_table(index="net", columns="epoch", values="train_loss")
        fall = 1 - w[E] / w[q]
        parts.append(f"{kind} {100 * fall.mean():.1f} %")
    return (f"training loss fell over the last quarter of the {E} epochs (epoch {q} to {E}, mean over "
            "nets) by " + ", ".join(parts)) if parts else ""


def scaling_claim(mc: pd.DataFrame, M: int, curves: pd.DataFrame | None = None):
    """F-mc-vs-scaling: the mean over independently trained nets of the worst-kind
    error(MC, M)/error(weight scaling) − 1 is below the tolerance (its whole 95 % interval). The
    finding says the sign: is MC significantly worse or better than weight scaling (interval
    above or below 0; seed 003 says sampling 'generalizes slightly better'), per kind too."""
    t = per_net(mc, M)
    never = f"never up to {int(mc['M'].max())}"
    units = error_excess(mc, M)
    n_div = int(mc.groupby(["net", "kind"])["diverged"].first().sum())
    claim = less("F-mc-vs-scaling", FIGURE_INFO["F-mc-vs-scaling"].test, math.nan, MATCH_TOLERANCE,
                 f"{mc['net'].nunique()} nets; M = {M}", units=units, min_n=5, diverged=n_div)
    kinds = kind_excess(mc, M)
    finding = (f"at M = {M} the worst-kind error excess is {100 * claim.value:+.1f} % [95 % "
               f"{100 * claim.low:+.1f}, {100 * claim.high:+.1f}; n = {claim.n}]: "
               f"{sign(claim.low, claim.high)} (seed 003: sampling 'generalizes slightly better', i.e. < 0; "
               f"the claim allows up to +{100 * MATCH_TOLERANCE:g} %); per kind " + ", ".join(
                   f"{kind} {100 * v:+.1f} % [{100 * lo:+.1f}, {100 * hi:+.1f}]: {sign(lo, hi)}"
                   for kind, (v, lo, hi, n) in kinds.items()))
    if len(kinds) > 1 and claim.low > 0 and not any(lo > 0 for _, lo, _, _ in kinds.values()):
        finding += (f" (the worse of {len(kinds)} kinds per net is biased upward: no kind alone is "
                    "significantly worse)")
    finding += "; " + "; ".join(f"first M at which the mean MC {what} ≤ weight scaling's: " + ", ".join(
        f"{k} {never if v is None else v}" for k, v in first_match(mc.assign(err=1 - mc["acc"]), col).items())
        for what, col in (("test error", "err"), ("NLL", "nll")))
    finding += f"; at M = {M}, mean over nets: " + "; ".join(
        f"{kind} error {100 * d['err_mc'].mean():.2f} % vs {100 * d['err_ws'].mean():.2f} %, "
        f"NLL {d['nll_mc'].mean():.4f} vs {d['nll_ws'].mean():.4f}" for kind, d in t.groupby("kind"))
    if conv := convergence(curves):
        finding += "; " + conv
    claim.finding = finding
    return claim


def claim_masks(mc: pd.DataFrame) -> int:
    """The M the claim is judged at: M_LARGE, or the largest M run if fewer (NoData when every
    net diverged)."""
    ok = mc[~mc["diverged"]]
    if ok.empty:
        raise NoData("every net diverged: no MC or weight-scaling test error")
    return int(min(M_LARGE, ok["M"].max()))


def draw_mc_vs_scaling(mc: pd.DataFrame, M: int, claim: Claim, dataset: str,
                       curves: pd.DataFrame | None = None):
    """Draws F-mc-vs-scaling from the tables its claim reads (and each net's training loss per
    epoch, ``curves``, when there is one); returns the matplotlib figure."""
    ok = mc[~mc["diverged"]].assign(error=lambda d: 100 * (1 - d["acc"]))
    # per net: the mean over its mask draws (the draws are not units)
    m = ok[ok["method"] == "MC dropout"].groupby(["net", "kind", "M"], as_index=False)[["error", "nll"]].mean()
    ws = ok[ok["method"] == "weight scaling"].groupby(["net", "kind"])[["error", "nll"]].mean()
    m = m.merge(ws.reset_index(), on=["net", "kind"], suffixes=("", "_ws")).assign(
        excess=lambda d: (100 * (d["error"] / d["error_ws"] - 1)).where(d["error_ws"] > 0))
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6))
    for ax, col, label in ((axes[0], "error", "test error (%)"), (axes[2], "nll", "test NLL (nats)")):
        sns.lineplot(m, x="M", y=col, hue="kind", errorbar=("ci", 95), ax=ax)
        for i, (kind, d) in enumerate(ws.groupby("kind")):
            ax.axhline(d[col].mean(), color=f"C{i}", ls="--", lw=1.2, label=f"{kind}: weight scaling")
        ax.axvline(M, color="grey", ls=":", lw=1)
        ax.set(xscale="log", xlabel="M (dropout masks averaged)", ylabel=label)
        ax.legend(fontsize=8, title=None)
    ax = axes[1]
    sns.lineplot(m, x="M", y="excess", hue="kind", units="net", estimator=None, lw=0.7, alpha=0.6, ax=ax, legend=False)
    ax.axhspan(-100, 100 * MATCH_TOLERANCE, color="C2", alpha=0.08, lw=0,
               label=f"matches or beats (≤ +{100 * MATCH_TOLERANCE:g} %)")
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(M, color="grey", ls=":", lw=1, label=f"M = {M} (the claim)")
    lo = min(-30.0, m["excess"].quantile(0.02)) if m["excess"].notna().any() else -30.0
    ax.set(xscale="log", ylim=(lo, max(60.0, m.loc[m["M"] >= 5, "excess"].max() * 1.1)),
           xlabel="M (dropout masks averaged)", ylabel="error(MC) / error(weight scaling) − 1 (%)",
           title=f"The claim, per trained net (lines); at M = {M}:\n"
                 f"{100 * claim.value:+.1f} % [95 % {100 * claim.low:+.1f}, {100 * claim.high:+.1f}]: "
                 f"{sign(claim.low, claim.high)}")
    ax.title.set_fontsize(9)
    if math.isfinite(claim.low):
        ax.errorbar([M], [100 * claim.value], yerr=[[100 * (claim.value - claim.low)], [100 * (claim.high - claim.value)]],
                    fmt="D", color=VERDICT_COLOR[claim.verdict], mec="black", capsize=4, zorder=4,
                    label="mean over nets, 95 % interval")
    ax.legend(fontsize=8)
    cx = axes[3]
    if curves is not None and not curves.empty:
        sns.lineplot(curves[~curves["diverged"]], x="epoch", y="train_loss", hue="kind", errorbar=("ci", 95), ax=cx)
        cx.set(yscale="log", xlabel="epoch", ylabel="training loss (epoch mean, with dropout)",
               title="Training loss per epoch (band: 95 % CI over nets)")
        cx.title.set_fontsize(10)
    else:
        cx.axis("off")
    p = mc["p"].iloc[0]
    axes[0].set_title(f"Test error on {dataset} (p = {p:g}; band: 95 % CI over nets)", fontsize=10)
    axes[2].set_title("Test NLL (reported beside)", fontsize=10)
    return fig


@figure("F-mc-vs-scaling")
def f_mc_vs_scaling(res: Results):
    mc = res.table("mc")
    curves = res.table("mc_curves") if res.has_table("mc_curves") else None
    M = claim_masks(mc)
    claim = scaling_claim(mc, M, curves)
    return draw_mc_vs_scaling(mc, M, claim, res.runs[0]["spec"]["dataset"], curves), claim


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


def ae_features_claim(features: pd.DataFrame) -> Claim:
    """F-ae-features: a reference; the mean Hoyer sparsity per p (value: at the largest p) and,
    in the note, the mean fraction of active hidden units."""
    sparsity = mean_sparsity(features)
    active = features.groupby("p")["active_fraction"].mean()
    what = ("visual (no claim): mean Hoyer sparsity of the encoder filters, "
            + ", ".join(f"p = {p:g}: {v:.3f}" for p, v in sparsity.items()))
    claim = reference("F-ae-features", what, sparsity.get(max(sparsity), math.nan))
    claim.note = "mean fraction of active hidden units on test images: " + ", ".join(
        f"p = {p:g}: {v:.2f}" for p, v in active.items())
    return claim


def draw_ae_features(filters: pd.DataFrame, features: pd.DataFrame, claim: Claim, spec: dict):
    """Draws F-ae-features from the tables its claim reads.

    ``spec``: the run's settings (autoencoder width, data set)."""
    sparsity = mean_sparsity(features)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    for ax, (p, f) in zip(axes, filters.groupby("p")):
        ax.imshow(mosaic(f, FILTERS_SHOWN), cmap="gray", vmin=-1, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        what = "without dropout" if p == 0 else f"dropout p = {p:g}"
        ax.set_title(f"({'ab'[int(p > 0)]}) {what}: Hoyer sparsity {sparsity[p]:.3f}")
    hidden = spec["autoencoder"]["hidden"]
    fig.suptitle(f"Encoder filters of a one-hidden-layer autoencoder ({hidden} ReLU units) on {spec['dataset']}: "
                 + (f"first {FILTERS_SHOWN} of each" if hidden > FILTERS_SHOWN else "all"))
    return fig


@figure("F-ae-features")
def f_ae_features(res: Results):
    filters, features = res.table("filters"), res.table("features")
    claim = ae_features_claim(features)
    return draw_ae_features(filters, features, claim, res.runs[0]["spec"]), claim
