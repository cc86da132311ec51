"""Family G figures: the loss landscape (seeds 003, 004). Each claim's value is a pure function
of the table its figure draws."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy import optimize, stats

from nnrepro.claims import VERDICT_COLOR, bootstrap_interval, fisher_interval, greater, less
from nnrepro.plotting import empty, figure
from nnrepro.landscape import barrier
from nnrepro.results import Results

MIN_POINTS = 5          # fewer critical points: no correlation is claimed
MIN_UNITS = 5           # problems, SGD runs, pairs of nets: each costs seconds at quick scale


# --- G-index-energy ------------------------------------------------------------------------------

def random_field_curve(eps, alpha0: float, eps_c: float):
    """α(ε) = α₀ ((ε − ε_c)/ε_c)^{3/2} above ε_c, 0 below: the small-index law that Pennington &
    Bahri (2017) derive for network Hessians, as for Gaussian random fields (Bray & Dean 2007)."""
    eps = np.asarray(eps, dtype=float)
    return alpha0 * np.clip((eps - eps_c) / eps_c, 0, None) ** 1.5


def fit_random_field(loss, idx) -> tuple[float, float]:
    """Least-squares (α₀, ε_c) of ``random_field_curve`` to critical points (fitted as
    a·(ε − ε_c)^{3/2}, a = α₀/ε_c^{3/2}, which stays well conditioned as ε_c → 0); NaN with fewer
    than MIN_POINTS points or if the fit fails."""
    loss, idx = np.asarray(loss, float), np.asarray(idx, float)
    if len(loss) < MIN_POINTS or idx.max() <= 0:
        return math.nan, math.nan
    law = lambda e, a, ec: a * np.clip(e - ec, 0, None) ** 1.5
    try:
        (a, ec), _ = optimize.curve_fit(law, loss, idx, p0=(idx.max() / np.ptp(loss) ** 1.5, loss.min()),
                                        bounds=([0, 0], [np.inf, loss.max()]), maxfev=20000)
    except (RuntimeError, ValueError):
        return math.nan, math.nan
    return (float(a * ec ** 1.5), float(ec)) if ec > 0 else (math.nan, math.nan)


def index_loss_spearman(cp: pd.DataFrame) -> float:
    """Spearman ρ(loss, index) over the converged critical points (NaN below MIN_POINTS or when
    every index is equal)."""
    c = cp[cp["converged"]]
    if len(c) < MIN_POINTS or c["index"].nunique() < 2:
        return math.nan
    return float(stats.spearmanr(c["loss"], c["index"]).statistic)


def spearman_per_problem(cp: pd.DataFrame) -> list[float]:
    """``index_loss_spearman`` of each independent problem (random data set): the units."""
    return [index_loss_spearman(g) for _, g in cp.groupby("problem")]


@figure("G-index-energy")
def g_index_energy(res: Results):
    cp = res.table("critical_points")
    c = cp[cp["converged"]]
    spec = res.runs[0]["spec"]["index_energy"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for k, d in c.groupby("problem"):
        ax.scatter(d["loss"], d["index"], color=f"C{k}", s=36, edgecolor="black", lw=0.4,
                   label=f"problem {k + 1}: {len(d)} critical points")
        a0, ec = fit_random_field(d["loss"], d["index"])
        if np.isfinite(a0):
            e = np.linspace(ec, d["loss"].max(), 200)
            ax.plot(e, random_field_curve(e, a0, ec), color=f"C{k}", lw=1.2,
                    label=f"  fitted α₀((ε − ε_c)/ε_c)^(3/2): α₀ = {a0:.2g}, ε_c = {ec:.2f}")
    n = spec["n"]
    ax.set(xlabel=f"energy ε = loss + (λ/2)‖θ‖² at the critical point (λ = {spec['weight_decay']:g})",
           ylabel="index α (fraction of negative\nHessian eigenvalues)",
           title=f"Index against energy: critical points of a {n}-{n}-{n} tanh net ({int(cp['n_params'].iloc[0])} "
                 f"parameters)\non random data, Newton's method from {len(cp)} starts along GD runs")
    ax.title.set_fontsize(10)
    ax.legend(fontsize=7, loc="upper left")
    return fig, index_energy_claim(cp, spec["grad_tol"])


def index_energy_claim(cp: pd.DataFrame, grad_tol: float):
    """Spearman ρ(loss, index) > 0.5 per independent problem; the mean over problems and its
    interval via Fisher's z (ρ is bounded: its interval stays in [−1, 1])."""
    units = spearman_per_problem(cp)
    c = cp[cp["converged"]]
    counts = c.groupby("problem").size().reindex(sorted(cp["problem"].unique()), fill_value=0)
    note = (f"{len(c)} of {len(cp)} starts converged to ‖∇L‖ < {grad_tol:g}; critical points per "
            f"problem: {', '.join(map(str, counts))} (a problem with fewer than {MIN_POINTS} gives no ρ)")
    finding = f"ρ per problem: {', '.join(f'{r:.2f}' for r in units)}; pooled ρ {index_loss_spearman(cp):.2f}"
    return greater("G-index-energy", "Spearman ρ(loss, index) over the critical points > 0.5 (per "
                   "independent problem; mean via Fisher z)", math.nan, 0.5, note,
                   interval=fisher_interval(units), min_n=MIN_UNITS, finding=finding)


# --- G-width-error and G-loss-histogram ----------------------------------------------------------

def curves(df: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The widths that did not diverge and, per column, a (trial × width) array: trial t at
    every width, runs from independent inits (one row: the unit of the width claims)."""
    ok = df[~df["diverged"]]
    wide = {c: ok.pivot(index="trial", columns="width", values=c)
            for c in ("train_err", "test_err", "test_loss")}
    return wide["test_loss"].columns.to_numpy(), {c: w.to_numpy(float) for c, w in wide.items()}


def width_error_excess(widths, train_err, test_err, **_) -> float:
    """On the error curves averaged over the runs (rows) of each width (columns): the worst of
    (train error at the largest width, test error at the largest width minus the lowest test
    error over widths), in percentage points; NaN with fewer than 3 widths. Small: train error
    reaches 0 and test error keeps falling or flattens."""
    if len(widths) < 3:
        return math.nan
    train, test = 100 * train_err.mean(0), 100 * test_err.mean(0)
    widest = np.argmax(widths)
    return float(max(train[widest], test[widest] - test.min()))


def relative_spread(df: pd.DataFrame, col: str = "test_loss") -> pd.Series:
    """Per width: the standard deviation of log ``col`` over its SGD runs, a spread relative to
    the loss's scale (the mean loss itself falls several-fold with width)."""
    return np.log(df[col]).groupby(df["width"]).std(ddof=1)


def spread_trend(widths, test_loss, **_) -> float:
    """Spearman ρ(width, std over runs of log test loss); NaN with fewer than 3 widths or a
    constant spread. < 0: the histograms of log loss narrow as width grows."""
    sd = np.log(test_loss).std(0, ddof=1)
    if len(widths) < 3 or np.unique(sd).size < 2:
        return math.nan
    return float(stats.spearmanr(widths, sd).statistic)


def over_trials(df: pd.DataFrame, statistic) -> tuple[float, float, float, int]:
    """``statistic``(widths, train_err=, test_err=, test_loss=) of the runs that did not diverge,
    with a percentile-bootstrap interval over the runs (rows of ``curves``)."""
    widths, arrays = curves(df)
    rows = list(range(len(arrays["test_loss"])))
    return bootstrap_interval(rows, lambda idx: statistic(widths, **{c: a[idx] for c, a in arrays.items()}))


def _n_diverged(df) -> int:
    return int(df.groupby("width")["diverged"].first().sum())


def _width_note(df) -> str:
    n_div = _n_diverged(df)
    return f"{df['trial'].nunique()} SGD runs per width" + (f"; {n_div} width(s) diverged (excluded)" if n_div else "")


@figure("G-width-error")
def g_width_error(res: Results):
    df = res.table("width")
    long = df[~df["diverged"]].melt(id_vars=["width", "trial"], value_vars=["train_err", "test_err"],
                                    var_name="set", value_name="error")
    long["error"] *= 100
    long["set"] = long["set"].map({"train_err": "train error", "test_err": "test error"})
    fig, ax = plt.subplots(figsize=(7, 4.4))
    sns.lineplot(long, x="width", y="error", hue="set", style="set", markers=True, errorbar=("pi", 100), ax=ax)
    widths = sorted(long["width"].unique())
    ax.set(xscale="log", xlabel="hidden units H (one hidden layer)", ylabel="error (%)",
           title=f"Train and test error against width on {res.runs[0]['spec']['dataset']}\n"
                 f"(line: mean over {df['trial'].nunique()} SGD runs, the claim's curve; band: their range)")
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.minorticks_off()
    ax.set_ylim(bottom=0)
    ax.legend(title=None)
    return fig, width_error_claim(df)


def width_error_claim(df: pd.DataFrame):
    """``width_error_excess`` of the curves averaged over runs ≤ 0.5 points, with a bootstrap
    interval over the runs (a single noisy run's best width is not the curve's)."""
    m = df[~df["diverged"]].groupby("width")[["train_err", "test_err"]].mean() * 100
    finding = "mean train / test error (%) per width: " + ", ".join(
        f"{w}: {r.train_err:.2f} / {r.test_err:.2f}" for w, r in m.iterrows())
    return less("G-width-error", "on the error curves averaged over SGD runs: worst of train error at the "
                "largest width and its test error minus the best width's ≤ 0.5 percentage points "
                "(train error reaches 0, test error flattens; bootstrap over runs)", math.nan, 0.5,
                _width_note(df), inclusive=True, interval=over_trials(df, width_error_excess),
                min_n=MIN_UNITS, finding=finding, diverged=_n_diverged(df))


@figure("G-loss-histogram")
def g_loss_histogram(res: Results):
    df = res.table("width")
    ok = df[~df["diverged"]]
    widths = sorted(ok["width"].unique())
    fig, axes = plt.subplots(len(widths), 1, figsize=(7.5, 1.0 * len(widths) + 1.8), sharex=True)
    axes = np.atleast_1d(axes)
    bins = np.geomspace(ok["test_loss"].min(), ok["test_loss"].max(), 40)
    sd = relative_spread(ok)
    for ax, w, color in zip(axes, widths, sns.color_palette("viridis", len(widths))):
        ax.hist(ok[ok["width"] == w]["test_loss"], bins=bins, color=color, alpha=0.85)
        ax.set_ylabel(f"H = {w}\nstd of ln loss\n{sd.get(w, math.nan):.3f}", rotation=0, ha="right",
                      va="center", fontsize=8)
        ax.yaxis.set_major_locator(plt.MaxNLocator(2, integer=True))
        ax.yaxis.tick_right()                                    # counts right, width labels left
        ax.tick_params(axis="y", labelsize=7)
    axes[-1].set_xscale("log")
    axes[-1].set_xlabel("final test loss (cross-entropy, nats; log scale) of one SGD run")
    axes[0].set_title(f"Final test losses of {ok['trial'].nunique()} SGD runs per width H, one histogram per width\n"
                      f"(one hidden layer, {res.runs[0]['spec']['dataset']}; Choromanska et al. 2015; "
                      "right axis: number of runs)", fontsize=10)
    return fig, loss_histogram_claim(df)


def loss_histogram_claim(df: pd.DataFrame):
    """Spearman ρ(width, std of log test loss over runs) < 0, bootstrap over runs: the relative
    spread, not the absolute one, which shrinks merely because the loss itself falls with width."""
    ok = df[~df["diverged"]]
    sd = relative_spread(ok)
    finding = ("std of the log final test loss per width: " + ", ".join(f"{w}: {v:.3g}" for w, v in sd.items())
               + "; mean test loss per width: "
               + ", ".join(f"{w}: {v:.3g}" for w, v in ok.groupby("width")["test_loss"].mean().items()))
    return less("G-loss-histogram", "Spearman ρ(width, std over SGD runs of the log final test loss) < 0 "
                "(the relative spread shrinks as width grows; bootstrap over runs)", math.nan, 0.0,
                _width_note(df), interval=over_trials(df, spread_trend), min_n=MIN_UNITS,
                finding=finding, diverged=_n_diverged(df))


# --- G-permutation and G-mode-connectivity ---------------------------------------------------------

def permutation_barrier(path: pd.DataFrame, rel_tol: float = 1e-5) -> float:
    """Barrier max_t L − (L(0) + L(1))/2 of the training loss along A → πA; NaN unless the two
    ends have the same loss to float precision (|L(1) − L(0)| ≤ rel_tol·L(0))."""
    L = path.sort_values("t")["train_loss"].to_numpy()
    if len(L) < 3 or abs(L[-1] - L[0]) > rel_tol * abs(L[0]):
        return math.nan
    return barrier(L)


def barrier_ratio(paths: pd.DataFrame, curve: str, line: str, key: str = "path") -> float:
    """Training-loss barrier along the curve / along the segment (NaN if the segment has none);
    ``curve`` and ``line`` are values of the column ``key``."""
    b = {p: barrier(d.sort_values("t")["train_loss"]) for p, d in paths.groupby(key)}
    if line not in b or curve not in b or b[line] <= 0:
        return math.nan
    return b[curve] / b[line]


def _per_pair(paths: pd.DataFrame, fn) -> list[float]:
    return [fn(g) for _, g in paths.groupby("pair")]


@figure("G-permutation")
def g_permutation(res: Results):
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    claim = ("training-loss barrier along A → πA (max − mean of the ends) > 0.1 nats, with the ends "
             "equal to float precision (|ΔL| ≤ 1e-5·L; per pair of nets)")
    if not res.has_table("paths"):
        empty(ax, "the nets diverged: no path", color=VERDICT_COLOR["fail"])
        return fig, greater("G-permutation", claim, math.nan, 0.1, "diverged", units=[])
    paths, perm = res.table("paths"), res.table("permutation")
    p = paths[paths["end"] == "piA"]
    long = p.melt(id_vars=["pair", "t"], value_vars=["train_loss", "test_loss"], var_name="set", value_name="loss")
    long["set"] = long["set"].str.replace("_loss", " loss")
    sns.lineplot(long, x="t", y="loss", hue="set", style="set", units="pair", estimator=None, markers=True,
                 ms=4, ax=ax)
    ax.set(xlabel="t on (1 − t)·θ_A + t·θ_πA", ylabel="loss (cross-entropy, nats)",
           title=f"Between a net (hidden {perm['hidden_units'].iloc[0]}) and its hidden-unit-permuted copy\n"
                 f"(one line per net: {p['pair'].nunique()} nets)")
    ax.title.set_fontsize(10)
    ax.legend(title=None)
    ends = p.sort_values("t").groupby("pair")["train_loss"].agg(["first", "last"])
    finding = ("train loss at the ends: " + ", ".join(f"{a:.6g} / {b:.6g}" for a, b in ends.itertuples(index=False))
               + f"; max |output difference| on the test set {perm['max_abs_output_diff'].max():.1e}")
    return fig, greater("G-permutation", claim, math.nan, 0.1, f"{len(ends)} pair(s)",
                        units=_per_pair(p, permutation_barrier), min_n=MIN_UNITS, finding=finding)


@figure("G-mode-connectivity")
def g_mode_connectivity(res: Results):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    claim = ("training-loss barrier along the Bézier curve / along the segment < 0.1 (per pair of "
             "nets; Garipov et al. 2018)")
    if not res.has_table("paths"):
        for ax in axes:
            empty(ax, "the nets diverged: no path", color=VERDICT_COLOR["fail"])
        return fig, less("G-mode-connectivity", claim, math.nan, 0.1, "diverged", units=[])
    paths = res.table("paths")
    p = paths[paths["end"] == "B"].assign(test_error=lambda d: 100 * d["test_err"])
    for ax, col, label in ((axes[0], "train_loss", "train loss (cross-entropy, nats)"),
                           (axes[1], "test_error", "test error (%)")):
        sns.lineplot(p, x="t", y=col, hue="path", style="path", markers=True, errorbar=("pi", 100), ax=ax)
        ax.set(xlabel="t along the path from A (t = 0) to B (t = 1)", ylabel=label)
        ax.legend(title=None, fontsize=8)
    axes[0].set_title("Training loss between two independently trained nets")
    axes[1].set_title(f"Test error (band: range over {p['pair'].nunique()} pairs)")
    return fig, mode_connectivity_claim(p, claim)


def mode_connectivity_claim(p: pd.DataFrame, claim: str):
    """Barrier along the Bézier curve / along the segment < 0.1, per pair of nets (≥ 5 pairs)."""
    b = p.groupby(["path", "pair"]).apply(lambda d: barrier(d.sort_values("t")["train_loss"]),
                                          include_groups=False).groupby("path").mean()
    finding = "mean training-loss barrier: " + ", ".join(f"{k}: {v:.3g} nats" for k, v in b.items())
    ratio = lambda g: barrier_ratio(g, "bezier", "segment", key="shape")
    return less("G-mode-connectivity", claim, math.nan, 0.1, f"{p['pair'].nunique()} pair(s)",
                units=_per_pair(p, ratio), min_n=MIN_UNITS, finding=finding)
