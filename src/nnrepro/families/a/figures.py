"""Family A figures (seed 000, "L2 norm burst during BNN training"): one function per id.

Runs are selected by the name of their sweep in the config: ``temperature`` (T), ``gamma`` (γ,
with and without momentum resampling) and ``gamma_alpha`` (the γ × α grid). Settings are read
from each run's spec, so every figure knows T, γ, α, M of a run.

Each figure is three functions: a pure claim function of the tables (``*_claim``), a drawing
function of the same tables and the claim (``draw_*``), and the ``@figure`` function that selects
the sweep's tables and calls both. A claim's test wording and threshold are the catalogue's
(``FIGURE_INFO[id]``).
"""
from __future__ import annotations

import math
from pathlib import Path
from dataclasses import replace

import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
import numpy as np
import pandas as pd
import seaborn as sns
from scipy import stats

from nnrepro.catalogue import FIGURE_INFO
from nnrepro.claims import Claim, bootstrap_interval, both, fisher_interval, greater, less
from nnrepro.plotting import empty, figure, final_rows, mark_diverged, ok_rows, plot, runs_note, runs_table
from nnrepro.results import Results, Status

ACC_DROP = 0.03     # A-norm-burst's second part: the ensemble ends within 3 points of its best


def _meta(res: Results) -> pd.DataFrame:
    """One row per run: its sweep and the settings the figures read."""
    meta = runs_table(res, sweep="sweep", T="sampler.temperature", gamma="sampler.gamma",
                      alpha="sampler.alpha", mass="sampler.mass", resample="sampler.resample",
                      seed="seed")
    return meta.astype({"resample": str})


def _table(res: Results, name: str, sweep: str | None = None) -> pd.DataFrame:
    meta = _meta(res)
    df = res.table(name).drop(columns=["status", "sweep", *res.swept()], errors="ignore")
    df = df.merge(meta, on="run")
    return df if sweep is None else df[df["sweep"] == sweep]


def _diverged(res: Results, sweep: str) -> list[str]:
    m = _meta(res)
    return m[(m["sweep"] == sweep) & (m["status"] == Status.DIVERGED)]["run"].tolist()


def _note(res: Results, sweep: str) -> str:
    m = _meta(res)
    return runs_note(m[m["sweep"] == sweep])


def _empty(ax, what: str):
    empty(ax, f"no {what} runs in this sweep")


def _spearman(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.unique(x[ok]).size < 2:
        return math.nan
    return float(stats.spearmanr(x[ok], y[ok]).statistic)


def mean_rho_interval(rhos) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of per-seed Spearman ρs: percentile bootstrap over seeds of their
    mean, so the interval stays in [−1, 1]. Not Fisher's z: a ρ over a handful of settings is
    exactly ±1 with positive probability, where z is infinite (clipped, one such seed dominates
    the mean of z and hides a seed with ρ = 0.2)."""
    return bootstrap_interval(list(rhos), np.mean)


def _t_palette(values):
    values = sorted(set(values))
    return dict(zip(values, sns.color_palette("viridis", len(values))))


def norm_burst_claim(ep: pd.DataFrame, st: pd.DataFrame, hot: float, note: str, diverged: int) -> Claim:
    """A-norm-burst at the hottest T (``ep``, ``st``: its rows): per seed, final / initial ‖θ‖₂
    > 3 AND the ensemble's accuracy ends within 3 points of its best."""
    info = FIGURE_INFO["A-norm-burst"]
    growth, drop, drop_single = burst_per_run(ep, st)
    note = (f"{note}; at T = {hot:g}; ensemble accuracy {100 * np.mean(drop or [math.nan]):.1f} pts "
            f"below its best at the end (must be ≤ 3); current sample "
            f"{100 * np.mean(drop_single or [math.nan]):.1f} pts")
    claim = both(greater("A-norm-burst", info.test, math.nan, info.threshold, units=growth, min_n=5,
                         diverged=diverged),
                 less("A-norm-burst", "", math.nan, ACC_DROP, units=drop, inclusive=True, min_n=5))
    return replace(claim, note=f"{claim.note}; {note}")


def draw_norm_burst(ep: pd.DataFrame, hot: float, claim: Claim, diverged: list[str]):
    """Draws A-norm-burst from the tables its claim reads; returns the matplotlib figure."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    for ax, metric, label in ((axes[0], "acc", "test accuracy (%)"),
                              (axes[1], "nll", "test NLL (nats per example)")):
        if ep.empty:
            _empty(ax, "T-sweep")
            continue
        for i, (run, g) in enumerate(ep.groupby("run")):
            ax.plot(g["epoch"], g["norm"], color="black", lw=1.6, alpha=0.8,
                    label="‖θ‖₂ (one line per seed)" if i == 0 else None)
        ax.set(xlabel="epoch", ylabel="weight norm ‖θ‖₂", title=f"SGHMC at T = {hot:g}: ‖θ‖₂ and test {metric.upper()}")
        tw = ax.twinx()
        tw.grid(False)
        scale = 100 if metric == "acc" else 1
        for col, name, color in ((f"test_{metric}", "current sample", "tab:orange"),
                                 (f"ens_{metric}", "ensemble of collected samples", "tab:blue")):
            for i, (run, g) in enumerate(ep.groupby("run")):
                tw.plot(g["epoch"], scale * g[col], color=color, lw=1.1, alpha=0.7,
                        label=name if i == 0 else None)
        tw.set_ylabel(label)
        if metric == "nll":
            tw.set_yscale("log")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = tw.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="lower right" if metric == "acc" else "upper left",
                  fontsize=8, framealpha=0.9)
        mark_diverged(ax, diverged)
    fig.suptitle("Weight-norm burst: ‖θ‖₂ grows while the test accuracy stays high")
    return fig


@figure("A-norm-burst")
def a_norm_burst(res: Results):
    ep = _table(res, "epochs", "temperature")
    st = _table(res, "steps", "temperature")
    ok = ok_rows(ep)
    hot = ok["T"].max() if len(ok) else math.nan          # the hottest T with a healthy run
    ep, st = ep[ep["T"] == hot], st[st["T"] == hot]
    diverged = _diverged(res, "temperature")
    claim = norm_burst_claim(ep, st, hot, _note(res, "temperature"), len(diverged))
    return draw_norm_burst(ep, hot, claim, diverged), claim


def burst_per_run(ep: pd.DataFrame, st: pd.DataFrame) -> tuple[list, list, list]:
    """Per ok run: ‖θ‖ at the end over ‖θ‖ after the first step, and how far the ensemble's
    and the current sample's test accuracy end below their best."""
    growth, drop, drop_single = [], [], []
    for run, g in final_rows(ep).groupby("run"):
        full = ep[ep["run"] == run].sort_values("epoch")
        n0 = math.sqrt(st[st["run"] == run].sort_values("step")["norm2"].iloc[0])  # after step 1
        growth.append(full["norm"].iloc[-1] / n0)
        drop.append(full["ens_acc"].max() - full["ens_acc"].iloc[-1])
        drop_single.append(full["test_acc"].max() - full["test_acc"].iloc[-1])
    return growth, drop, drop_single


def norm_vs_t_claim(fin: pd.DataFrame, note: str, diverged: int) -> Claim:
    """A-norm-vs-T: the mean over seeds of Spearman ρ(T, final ‖θ‖₂) > 0.8 (bootstrap interval
    over seeds). ``fin``: the last epoch of each ok run of the T sweep."""
    info = FIGURE_INFO["A-norm-vs-T"]
    return greater("A-norm-vs-T", info.test, math.nan, info.threshold, note,
                   interval=mean_rho_interval(per_seed_spearman(fin, "T", "norm")), min_n=5,
                   diverged=diverged)


def draw_norm_vs_t(fin: pd.DataFrame, claim: Claim, diverged: list[str]):
    """Draws A-norm-vs-T from the tables its claim reads; returns the matplotlib figure."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    pal = _t_palette(fin["T"]) if len(fin) else {}
    if fin.empty:
        for ax in axes:
            _empty(ax, "T-sweep")
    else:
        sns.lineplot(fin, x="T", y="norm", marker="o", errorbar=("pi", 100), ax=axes[0], color="black")
        axes[0].scatter(fin["T"], fin["norm"], c=[pal[t] for t in fin["T"]], s=25, zorder=3)
        axes[0].set(xscale="log", xlabel="temperature T (log scale)", ylabel="final ‖θ‖₂",
                    title="Final weight norm against temperature")
        for t, g in fin.groupby("T"):
            axes[1].scatter(g["norm"], g["test_nll"], color=pal[t], label=f"T = {t:g}", s=35)
        axes[1].set(xlabel="final ‖θ‖₂", ylabel="test NLL of the final sample (nats)",
                    title="Test NLL against final weight norm (one point per run)")
        axes[1].legend(fontsize=8, title="temperature")
        sns.lineplot(fin, x="T", y="rademacher_proxy", marker="o", errorbar=("pi", 100), ax=axes[2],
                     color="tab:red")
        axes[2].set(xscale="log", yscale="log", xlabel="temperature T (log scale)",
                    ylabel="Π_l ‖W_l‖_F · max‖x‖ / √n",
                    title="Rademacher-bound proxy against T")
    mark_diverged(axes[0], diverged)
    rhos = per_seed_spearman(fin, "T", "norm")
    if rhos:
        axes[0].text(0.02, 0.98, f"Spearman ρ(T, final ‖θ‖₂) per seed: {', '.join(f'{r:.2f}' for r in rhos)}\n"
                     f"mean {claim.value:.3f} [95 % bootstrap over seeds {claim.low:.3f}, {claim.high:.3f}]",
                     transform=axes[0].transAxes, va="top", fontsize=8,
                     bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"))
    fig.suptitle("Colder posteriors keep the weights smaller")
    return fig


@figure("A-norm-vs-T")
def a_norm_vs_t(res: Results):
    fin = final_rows(_table(res, "epochs", "temperature"))
    diverged = _diverged(res, "temperature")
    claim = norm_vs_t_claim(fin, _note(res, "temperature"), len(diverged))
    return draw_norm_vs_t(fin, claim, diverged), claim


def per_seed_spearman(fin: pd.DataFrame, x: str, y: str, by: str | list = "seed",
                      min_points: int = 3) -> list[float]:
    """Spearman ρ(x, y) within each seed (each group of ``by``), over ≥ ``min_points`` distinct
    x values: a ρ over two points is ±1 whatever the data, so such a group gives none."""
    rhos = []
    for _, g in fin.groupby(by):
        if g[x].nunique() >= min_points:
            rhos.append(_spearman(g[x], g[y]))
    return [r for r in rhos if math.isfinite(r)]


def pearson_per_run(ok: pd.DataFrame) -> dict[str, float]:
    """Per ok run (more than 2 steps): Pearson r(finite-difference d‖θ‖²/dt, 2γM⁻¹θᵀr)."""
    return {run: float(np.corrcoef(g["dnorm2_dt"], g["thetar_rate"])[0, 1])
            for run, g in ok.groupby("run") if len(g) > 2}


def dnorm_thetar_claim(ok: pd.DataFrame, note: str, diverged: int) -> Claim:
    """A-dnorm-thetar, a consistency check of the integrator: the mean over runs of Pearson
    r > 0.9 (Fisher-z interval over runs).
    ``ok``: the ok runs' steps of the T sweep."""
    info = FIGURE_INFO["A-dnorm-thetar"]
    vals = list(pearson_per_run(ok).values())
    note = note + (f"; per-run r from {min(vals):.3f} to {max(vals):.3f}" if vals else "")
    return greater("A-dnorm-thetar", info.test, math.nan, info.threshold, note,
                   interval=fisher_interval(vals), min_n=5, diverged=diverged,
                   finding="a consistency check of the integrator: its update gives ‖θ_{k+1}‖² − "
                           "‖θ_k‖² = 2εγM⁻¹θᵀr − O(ε²‖r‖²), so r ≈ 1 checks the bookkeeping, not "
                           "the Fokker–Planck expectation")


def draw_dnorm_thetar(ok: pd.DataFrame, claim: Claim, diverged: list[str]):
    """Draws A-dnorm-thetar from the tables its claim reads; returns the matplotlib figure."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.6, 1]})
    if ok.empty:
        for ax in axes:
            _empty(ax, "T-sweep")
    else:
        rs = pearson_per_run(ok)
        hot = ok[ok["T"] == ok["T"].max()]
        run0 = sorted(hot["run"].unique())[0]
        g = hot[hot["run"] == run0]
        axes[0].plot(g["step"], g["dnorm2_dt"], lw=0.6, color="tab:blue", alpha=0.8,
                     label="d‖θ‖²/dt: (‖θ_{k+1}‖² − ‖θ_k‖²)/ε")
        axes[0].plot(g["step"], g["thetar_rate"], lw=0.6, color="tab:orange", alpha=0.8, ls="--",
                     label="2γM⁻¹θᵀr")
        axes[0].set(xlabel="iteration (minibatch step)", ylabel="rate of change of ‖θ‖² (per unit time)",
                    title=f"d‖θ‖²/dt and 2γM⁻¹θᵀr over iterations (T = {g['T'].iloc[0]:g}, seed "
                          f"{g['seed'].iloc[0]}; r = {rs.get(run0, math.nan):.3f})")
        axes[0].legend(fontsize=8)
        pal = _t_palette(ok["T"])
        for t, gt in ok.groupby("T"):
            sub = gt.iloc[:: max(1, len(gt) // 3000)]
            axes[1].scatter(sub["thetar_rate"], sub["dnorm2_dt"], s=3, alpha=0.4, color=pal[t],
                            label=f"T = {t:g}")
        lim = [ok["thetar_rate"].min(), ok["thetar_rate"].max()]
        axes[1].plot(lim, lim, color="black", lw=1, label="y = x")
        axes[1].set(xscale="symlog", yscale="symlog", xlabel="2γM⁻¹θᵀr",
                    ylabel="finite-difference d‖θ‖²/dt", title="All steps of all T-sweep runs")
        axes[1].legend(fontsize=7, markerscale=3)
    mark_diverged(axes[0], diverged)
    fig.suptitle("d‖θ‖²/dt = 2γM⁻¹θᵀr: the momentum's projection on θ drives the norm")
    return fig


@figure("A-dnorm-thetar")
def a_dnorm_thetar(res: Results):
    ok = ok_rows(_table(res, "steps", "temperature"))
    diverged = _diverged(res, "temperature")
    claim = dnorm_thetar_claim(ok, _note(res, "temperature"), len(diverged))
    return draw_dnorm_thetar(ok, claim, diverged), claim


def momentum_energy(ok: pd.DataFrame) -> tuple[pd.Series, list[float]]:
    """Mean ‖r‖² over the second half of each ok run: its mean per T, and per seed Spearman
    ρ(T, mean ‖r‖²) (rounded to 1e-9: a ρ of 1 stays 1)."""
    if ok.empty:
        return pd.Series(dtype=float), []
    late = ok[ok["step"] >= ok.groupby("run")["step"].transform("max") / 2]
    per_run = late.groupby(["T", "seed", "run"])["r_norm2"].mean().reset_index()
    means = per_run.groupby("T")["r_norm2"].mean()
    return means, [round(r, 9) for r in per_seed_spearman(per_run, "T", "r_norm2")]


def momentum_energy_claim(ok: pd.DataFrame, note: str, diverged: int) -> Claim:
    """A-momentum-energy: mean ‖r‖² is monotone in T, ρ = 1 for every seed (bootstrap interval
    over seeds of the mean ρ). ``ok``: the ok runs' steps of the T sweep."""
    info = FIGURE_INFO["A-momentum-energy"]
    means, rhos = momentum_energy(ok)
    detail = ", ".join(f"T={t:g}: {v:.3g}" for t, v in means.items())
    return greater("A-momentum-energy", info.test, math.nan, info.threshold,
                   f"{note}; mean ‖r‖²: {detail}", inclusive=True,
                   interval=mean_rho_interval(rhos), min_n=5, diverged=diverged)


def draw_momentum_energy(ok: pd.DataFrame, claim: Claim, diverged: list[str]):
    """Draws A-momentum-energy from the tables its claim reads; returns the matplotlib figure."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    if ok.empty:
        for ax in axes:
            _empty(ax, "T-sweep")
    else:
        pal = _t_palette(ok["T"])
        n_par = {}
        for t, g in ok.groupby("T"):
            curve = g.groupby("step")[["r_norm2", "theta_r"]].mean().rolling(20, min_periods=1).mean()
            axes[0].plot(curve.index, curve["r_norm2"], color=pal[t], label=f"T = {t:g}")
            axes[1].plot(curve.index, curve["theta_r"], color=pal[t], label=f"T = {t:g}")
            n_par[t] = (g["r_norm2"] / g["kinetic_temperature"]).median()  # ≈ d·M·α/γ
            axes[0].axhline(t * n_par[t], color=pal[t], ls=":", lw=1)
        axes[0].set(yscale="log", xlabel="iteration (minibatch step)",
                    ylabel="‖r‖² (20-step moving average, seed mean)",
                    title="Momentum energy ‖r‖² (dotted: equilibrium d·M·T)")
        axes[1].set(yscale="symlog", xlabel="iteration (minibatch step)",
                    ylabel="θᵀr (20-step moving average, seed mean)", title="θᵀr for each temperature")
        axes[0].legend(fontsize=8, ncol=2)
        axes[1].legend(fontsize=8, ncol=2)
    mark_diverged(axes[0], diverged)
    fig.suptitle("Colder temperatures give less momentum energy")
    return fig


@figure("A-momentum-energy")
def a_momentum_energy(res: Results):
    ok = ok_rows(_table(res, "steps", "temperature"))
    diverged = _diverged(res, "temperature")
    claim = momentum_energy_claim(ok, _note(res, "temperature"), len(diverged))
    return draw_momentum_energy(ok, claim, diverged), claim


def _modes(ep: pd.DataFrame) -> list:
    """The resampling modes of the γ sweep, "none" first."""
    return sorted(ep["resample"].unique(), key=lambda m: (m != "none", m)) if len(ep) else ["none"]


def min_rho_per_seed(fin: pd.DataFrame) -> list[float]:
    """Per seed, the smaller over resampling modes of Spearman ρ(γ, final ‖θ‖₂) (seeds with no
    ρ left out). ``fin``: the last epoch of each ok run of the γ sweep."""
    return [] if fin.empty else [min(r) for r in fin.groupby("seed").apply(
        lambda g: per_seed_spearman(g, "gamma", "norm", by="resample"), include_groups=False) if r]


def gamma_claim(ep: pd.DataFrame, note: str, diverged: int) -> Claim:
    """A-gamma: per seed the smaller over modes of ρ(γ, final ‖θ‖₂) > 0.8 (bootstrap interval
    over seeds). ``ep``: the γ sweep's epochs."""
    info = FIGURE_INFO["A-gamma"]
    rhos = {}
    for mode in _modes(ep):
        g = ep[ep["resample"] == mode]
        if len(g):
            fin = final_rows(g)
            rhos[mode] = _spearman(fin["gamma"], fin["norm"])
    return greater("A-gamma", info.test, math.nan, info.threshold,
                   note + "; ρ per resampling mode (all seeds): "
                   + ", ".join(f"{k}: {v:.3f}" for k, v in rhos.items()),
                   interval=mean_rho_interval(min_rho_per_seed(final_rows(ep))), min_n=5,
                   diverged=diverged,
                   finding="γ and α leave the target exp(−U/T) unchanged and change only the "
                           "dynamics: with s = γr the update depends on γα (drift), γ²C (friction) "
                           "and γ³αCT (noise), so a moderate γ loses friction faster than drift and "
                           "its norm can grow faster than at γ = 1")


def draw_gamma(ep: pd.DataFrame, claim: Claim, diverged: list[str]):
    """Draws A-gamma from the tables its claim reads; returns the matplotlib figure."""
    modes = _modes(ep)
    fig, axes = plt.subplots(1, len(modes), figsize=(6.5 * len(modes), 4.6), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        g = ep[ep["resample"] == mode]
        if g.empty:
            _empty(ax, "γ-sweep")
            continue
        pal = dict(zip(sorted(g["gamma"].unique()), sns.color_palette("rocket", g["gamma"].nunique())))
        for (gamma, run), gr in g.groupby(["gamma", "run"]):
            first = gr["run"].iloc[0] == sorted(g[g["gamma"] == gamma]["run"].unique())[0]
            ax.plot(gr["epoch"], gr["norm"], color=pal[gamma], lw=1.3,
                    label=f"γ = {gamma:g}" if first else None)
        ax.set(xlabel="epoch", ylabel="weight norm ‖θ‖₂ (log scale)", yscale="log",
               title=f"‖θ‖₂ per adjusting factor γ; momentum resampling: {mode}")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=8, title="one line per seed")
    mark_diverged(axes[0][0], diverged)
    units = min_rho_per_seed(final_rows(ep))
    if units:
        axes[0][-1].text(0.02, 0.02, "per seed, min over modes of Spearman ρ(γ, final ‖θ‖₂): "
                         + ", ".join(f"{r:.2f}" for r in units), transform=axes[0][-1].transAxes,
                         fontsize=8, va="bottom", bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"))
    T = ep["T"].iloc[0] if len(ep) else math.nan
    fig.suptitle(f"Adjusting factor γ (C' = Cγ, M' = M/γ) at T = {T:g}")
    return fig


@figure("A-gamma")
def a_gamma(res: Results):
    ep = _table(res, "epochs", "gamma")
    diverged = _diverged(res, "gamma")
    claim = gamma_claim(ep, _note(res, "gamma"), len(diverged))
    return draw_gamma(ep, claim, diverged), claim


CHANCE = 15.0       # A-gamma-alpha marks a cell "chance": 10 classes, 1/10 + 5 points


def gamma_alpha_claim(fin: pd.DataFrame, samp: pd.DataFrame, note: str, diverged: int) -> Claim:
    """A-gamma-alpha: per seed, the fraction of (γ ≤ 0.01, α > 1) cells that mix more AND have a
    lower ensemble NLL than α = 1 must be 1 (bootstrap interval over seeds). ``fin``: the last
    epoch of each ok run of the γ × α sweep; ``samp``: its samples table (may be empty)."""
    info = FIGURE_INFO["A-gamma-alpha"]
    parts, units = alpha_restores_mixing(fin, samp)
    return greater("A-gamma-alpha", info.test, math.nan, info.threshold, note, inclusive=True,
                   interval=bootstrap_interval(units, np.mean), min_n=5, diverged=diverged,
                   finding="α raises the effective step γα: it helps while γα stays small; at "
                           "γα ≳ 1 the chain loses accuracy or diverges. Per cell (means over "
                           "seeds): " + "; ".join(parts))


def draw_gamma_alpha(fin: pd.DataFrame, samp: pd.DataFrame, meta: pd.DataFrame, claim: Claim):
    """Draws A-gamma-alpha from the tables its claim reads.

    ``meta``: one row per run of the γ × α sweep (its settings and status)."""
    dist = (ok_rows(samp).groupby(["gamma", "alpha", "run"])["distance"].mean()
            .groupby(["gamma", "alpha"]).mean()) if len(samp) else pd.Series(dtype=float)
    # one colormap; where a panel has a "better" direction, better is yellow
    panels = [("norm", "final ‖θ‖₂ (log colour scale)", "viridis"),
              ("test_acc", "final test accuracy of the current sample (%; yellow = better)", "viridis"),
              ("ens_nll", "test NLL of the ensemble of samples (nats, log; yellow = better)", "viridis_r"),
              ("distance", "mean ‖θ_k − θ_{k−1}‖ between collected samples (log; yellow = mixes more)",
               "viridis")]
    acc = (fin.groupby(["gamma", "alpha"])["test_acc"].mean() * 100) if len(fin) else pd.Series(dtype=float)
    fig, axes = plt.subplots(2, 2, figsize=(12.5, 9.5))
    axes = axes.flatten()
    gammas, alphas = sorted(meta["gamma"].unique()), sorted(meta["alpha"].unique())
    ndiv = meta.groupby(["gamma", "alpha"])["status"].apply(lambda s: (s == Status.DIVERGED).sum())
    for ax, (col, label, cmap) in zip(axes, panels):
        if col == "distance":
            grid = dist.unstack("alpha") if len(dist) else pd.DataFrame()
        else:
            grid = fin.groupby(["gamma", "alpha"])[col].mean().unstack("alpha") if len(fin) else pd.DataFrame()
            if col == "test_acc":
                grid = grid * 100
        grid = grid.reindex(index=gammas, columns=alphas)
        if grid.size == 0 or (grid.isna().all().all() and not ndiv.any()):
            _empty(ax, "γ × α")
            continue
        annot = grid.map(lambda v: "" if pd.isna(v) else f"{v:.3g}")
        for (gm, al), k in ndiv.items():
            if k:
                annot.loc[gm, al] = (annot.loc[gm, al] + "\n" if annot.loc[gm, al] else "") + f"{k} div."
        for (gm, al), a in acc.items():
            if a <= CHANCE and gm in annot.index and al in annot.columns:
                annot.loc[gm, al] += "\nchance"
        log = col != "test_acc" and bool((grid > 0).any().any())
        sns.heatmap(grid.astype(float), annot=annot, fmt="", cmap=cmap, ax=ax, linewidths=0.5,
                    linecolor="white", norm=LogNorm() if log else None)
        # seaborn leaves a NaN cell blank: say why it has no value
        for i, gm in enumerate(grid.index):
            for j, al in enumerate(grid.columns):
                if pd.isna(grid.loc[gm, al]):
                    ax.text(j + 0.5, i + 0.5, "all div." if ndiv.get((gm, al), 0) else "no data",
                            ha="center", va="center", fontsize=9, color="#cf222e")
        ax.grid(False)
        ax.set(xlabel="boosting factor α", ylabel="adjusting factor γ", title=label)
        ax.title.set_fontsize(10)
        ax.invert_yaxis()
    T = meta["T"].iloc[0] if len(meta) else math.nan
    fig.suptitle(f"γ × α grid at T = {T:g} (mean over seeds; 'k div.' = k diverged runs, {claim.diverged} in "
                 f"all; 'chance' = test accuracy ≤ {CHANCE:.0f} %)\n"
                 "cells on one diagonal share γα, which sets the drift's step ε²γα/M "
                 "(friction scales as γ², noise as γ³α)", fontsize=11)
    fig.subplots_adjust(bottom=0.2, top=0.9, hspace=0.35)   # room for the footer if tight_layout gives up
    return fig


@figure("A-gamma-alpha")
def a_gamma_alpha(res: Results):
    fin = final_rows(_table(res, "epochs", "gamma_alpha"))
    meta = _meta(res)
    meta = meta[meta["sweep"] == "gamma_alpha"]
    samp = _table(res, "samples", "gamma_alpha") if res.has_table("samples") else pd.DataFrame()
    claim = gamma_alpha_claim(fin, samp, _note(res, "gamma_alpha"), len(_diverged(res, "gamma_alpha")))
    return draw_gamma_alpha(fin, samp, meta, claim), claim


def alpha_restores_mixing(fin: pd.DataFrame, samp: pd.DataFrame, low_gamma: float = 0.01):
    """Per seed, the fraction of cells (γ ≤ low_gamma, α > 1) whose mean distance between
    collected samples is larger AND whose ensemble NLL is lower than α = 1's at the same γ;
    and a text per cell (means over seeds)."""
    if fin.empty or samp.empty:
        return [], []
    dist = ok_rows(samp).groupby(["seed", "gamma", "alpha"])["distance"].mean()
    ens = fin.groupby(["seed", "gamma", "alpha"])["ens_nll"].mean()
    cells = [(g, a) for g in sorted(fin["gamma"].unique()) if g <= low_gamma
             for a in sorted(fin["alpha"].unique()) if a > 1]
    units = []
    for seed in sorted(fin["seed"].unique()):
        checks = [bool(dist.get((seed, g, a), math.nan) > dist.get((seed, g, 1.0), math.nan)
                       and ens.get((seed, g, a), math.nan) < ens.get((seed, g, 1.0), math.nan))
                  for g, a in cells]
        if checks:
            units.append(float(np.mean(checks)))
    d, e = dist.groupby(["gamma", "alpha"]).mean(), ens.groupby(["gamma", "alpha"]).mean()
    parts = [f"γ={g:g} α={a:g}: dist {d.get((g, a), math.nan):.3g} vs {d.get((g, 1.0), math.nan):.3g}, "
             f"ens NLL {e.get((g, a), math.nan):.3g} vs {e.get((g, 1.0), math.nan):.3g}" for g, a in cells]
    return parts, units


@plot("A-norm-burst.csv", ["epoch", "norm", "ens_acc", "test_acc"])
def a_norm_burst_curve(tables: Path) -> pd.DataFrame | None:
    """‖θ‖₂ and test accuracies per epoch at the hottest T (the weight-norm burst), mean over
    seeds."""
    path = tables / "A" / "epochs.parquet"
    if not path.exists():
        return None
    ep = pd.read_parquet(path)
    ep = ep[(ep["status"] == Status.OK) & (ep["sweep"] == "temperature")]
    hot = ep[ep["temperature"] == ep["temperature"].max()]
    return hot.groupby("epoch")[["norm", "ens_acc", "test_acc"]].mean().reset_index()
