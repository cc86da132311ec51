"""Family A figures (seed 000, "L2 norm burst during BNN training"): one function per id.

Runs are selected by the name of their sweep in the config: ``temperature`` (T), ``gamma`` (γ,
with and without momentum resampling) and ``gamma_alpha`` (the γ × α grid). Settings are read
from each run's spec, so every figure knows T, γ, α, M of a run.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
import numpy as np
import pandas as pd
import seaborn as sns
from scipy import stats

from nnrepro.claims import Claim, greater
from nnrepro.figures import figure
from nnrepro.figures.style import mark_diverged
from nnrepro.results import Results


def _meta(res: Results) -> pd.DataFrame:
    """One row per run: its sweep and the settings the figures read."""
    rows = []
    for r in res.runs:
        sc = r["spec"]["sampler"]
        rows.append({"run": r["run"], "status": r["status"], "sweep": r["sweep"],
                     "T": sc["temperature"], "gamma": sc["gamma"], "alpha": sc["alpha"],
                     "mass": sc["mass"], "resample": str(sc["resample"]), "seed": r["spec"]["seed"]})
    return pd.DataFrame(rows)


def _table(res: Results, name: str, sweep: str | None = None) -> pd.DataFrame:
    meta = _meta(res)
    df = res.table(name).drop(columns=["status", "sweep", *res.swept()], errors="ignore")
    df = df.merge(meta, on="run")
    return df if sweep is None else df[df["sweep"] == sweep]


def _diverged(res: Results, sweep: str) -> list[str]:
    m = _meta(res)
    return m[(m["sweep"] == sweep) & (m["status"] == "diverged")]["run"].tolist()


def _note(res: Results, sweep: str) -> str:
    m = _meta(res)
    m = m[m["sweep"] == sweep]
    div = m[m["status"] == "diverged"]["run"].tolist()
    return f"{len(m)} runs" + (f"; {len(div)} diverged (excluded): {', '.join(div)}" if div else "")


def _final(df: pd.DataFrame, by=("run",)) -> pd.DataFrame:
    """Last epoch row of each ok run."""
    return df[df["status"] == "ok"].sort_values("epoch").groupby(list(by)).tail(1)


def _empty(ax, what: str):
    ax.text(0.5, 0.5, f"no {what} runs in this sweep", ha="center", va="center",
            transform=ax.transAxes)


def _spearman(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.unique(x[ok]).size < 2:
        return math.nan
    return float(stats.spearmanr(x[ok], y[ok]).statistic)


def _t_palette(values):
    values = sorted(set(values))
    return dict(zip(values, sns.color_palette("viridis", len(values))))


@figure("A-norm-burst")
def a_norm_burst(res: Results):
    ep = _table(res, "epochs", "temperature")
    st = _table(res, "steps", "temperature")
    hot = ep["T"].max() if len(ep) else math.nan
    ep, st = ep[ep["T"] == hot], st[st["T"] == hot]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    growth, drop, drop_single = [], [], []
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
        mark_diverged(ax, _diverged(res, "temperature"))
    for run, g in _final(ep).groupby("run"):
        full = ep[ep["run"] == run].sort_values("epoch")
        n0 = math.sqrt(st[st["run"] == run].sort_values("step")["norm2"].iloc[0])  # after step 1
        growth.append(full["norm"].iloc[-1] / n0)
        drop.append(full["ens_acc"].max() - full["ens_acc"].iloc[-1])
        drop_single.append(full["test_acc"].max() - full["test_acc"].iloc[-1])
    value = float(np.mean(growth)) if growth else math.nan
    acc_drop = float(np.mean(drop)) if drop else math.nan
    passed = bool(math.isfinite(value) and value > 3 and math.isfinite(acc_drop) and acc_drop <= 0.03)
    note = (f"{_note(res, 'temperature')}; ensemble accuracy {100 * acc_drop:.1f} pts below its best at the "
            f"end (must be ≤ 3); current sample {100 * float(np.mean(drop_single or [math.nan])):.1f} pts")
    fig.suptitle("Weight-norm burst: ‖θ‖₂ grows while the test accuracy stays high")
    return fig, Claim("A-norm-burst", f"final/initial ‖θ‖₂ at T = {hot:g} > 3 while the ensemble's "
                      "final test accuracy stays within 3 points of its best", value, 3.0, passed, note)


@figure("A-norm-vs-T")
def a_norm_vs_t(res: Results):
    ep = _table(res, "epochs", "temperature")
    fin = _final(ep)
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
    mark_diverged(axes[0], _diverged(res, "temperature"))
    rho = _spearman(fin["T"], fin["norm"])
    fig.suptitle("Colder posteriors keep the weights smaller")
    return fig, greater("A-norm-vs-T", "Spearman ρ between T and final ‖θ‖₂ > 0.8", rho, 0.8,
                        _note(res, "temperature"))


@figure("A-dnorm-thetar")
def a_dnorm_thetar(res: Results):
    st = _table(res, "steps", "temperature")
    ok = st[(st["status"] == "ok")]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.6, 1]})
    rs = {run: float(np.corrcoef(g["dnorm2_dt"], g["thetar_rate"])[0, 1])
          for run, g in ok.groupby("run") if len(g) > 2}
    if ok.empty:
        for ax in axes:
            _empty(ax, "T-sweep")
    else:
        hot = ok[ok["T"] == ok["T"].max()]
        run0 = sorted(hot["run"].unique())[0]
        g = hot[hot["run"] == run0]
        axes[0].plot(g["step"], g["dnorm2_dt"], lw=0.6, color="tab:blue", alpha=0.8,
                     label="d‖θ‖²/dt: (‖θ_{k+1}‖² − ‖θ_k‖²)/ε")
        axes[0].plot(g["step"], g["thetar_rate"], lw=0.6, color="tab:orange", alpha=0.8, ls="--",
                     label="2γM⁻¹θᵀr")
        axes[0].set(xlabel="iteration (minibatch step)", ylabel="rate of change of ‖θ‖² (per unit time)",
                    title=f"d‖θ‖²/dt and 2γM⁻¹θᵀr over iterations ({run0}; r = {rs.get(run0, math.nan):.3f})")
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
    mark_diverged(axes[0], _diverged(res, "temperature"))
    vals = list(rs.values())
    value = float(np.median(vals)) if vals else math.nan
    note = _note(res, "temperature") + (f"; per-run r from {min(vals):.3f} to {max(vals):.3f}" if vals else "")
    fig.suptitle("d‖θ‖²/dt = 2γM⁻¹θᵀr: the momentum's projection on θ drives the norm")
    return fig, greater("A-dnorm-thetar", "median over runs of Pearson r(finite-difference d‖θ‖²/dt, "
                        "2γM⁻¹θᵀr) > 0.9", value, 0.9, note)


@figure("A-momentum-energy")
def a_momentum_energy(res: Results):
    st = _table(res, "steps", "temperature")
    ok = st[st["status"] == "ok"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    means = pd.Series(dtype=float)
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
        late = ok[ok["step"] >= ok.groupby("run")["step"].transform("max") / 2]
        means = late.groupby(["T", "run"])["r_norm2"].mean().groupby("T").mean()
    mark_diverged(axes[0], _diverged(res, "temperature"))
    rho = _spearman(means.index, means.values) if len(means) else math.nan
    rho = round(rho, 9) if math.isfinite(rho) else rho
    detail = ", ".join(f"T={t:g}: {v:.3g}" for t, v in means.items())
    fig.suptitle("Colder temperatures give less momentum energy")
    return fig, greater("A-momentum-energy", "mean ‖r‖² (second half of each run) is monotone in T: "
                        "Spearman ρ(T, mean ‖r‖²) = 1", rho, 1.0,
                        f"{_note(res, 'temperature')}; mean ‖r‖²: {detail}", inclusive=True)


@figure("A-gamma")
def a_gamma(res: Results):
    ep = _table(res, "epochs", "gamma")
    modes = sorted(ep["resample"].unique(), key=lambda m: (m != "none", m)) if len(ep) else ["none"]
    fig, axes = plt.subplots(1, len(modes), figsize=(6.5 * len(modes), 4.6), squeeze=False)
    rhos = {}
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
        fin = _final(g)
        rhos[mode] = _spearman(fin["gamma"], fin["norm"])
    mark_diverged(axes[0][0], _diverged(res, "gamma"))
    value = min(rhos.values()) if rhos and all(math.isfinite(v) for v in rhos.values()) else math.nan
    T = ep["T"].iloc[0] if len(ep) else math.nan
    fig.suptitle(f"Adjusting factor γ (C' = Cγ, M' = M/γ) at T = {T:g}")
    return fig, greater("A-gamma", "lower γ gives lower final ‖θ‖₂: Spearman ρ(γ, final ‖θ‖₂) > 0.8 "
                        "with and without resampling (value: the smaller ρ)", value, 0.8,
                        _note(res, "gamma") + "; ρ per resampling mode: "
                        + ", ".join(f"{k}: {v:.3f}" for k, v in rhos.items()))


@figure("A-gamma-alpha")
def a_gamma_alpha(res: Results):
    ep = _table(res, "epochs", "gamma_alpha")
    meta = _meta(res)
    meta = meta[meta["sweep"] == "gamma_alpha"]
    fin = _final(ep)
    samp = _table(res, "samples", "gamma_alpha") if res.has_table("samples") else pd.DataFrame()
    dist = (samp[samp["status"] == "ok"].groupby(["gamma", "alpha", "run"])["distance"].mean()
            .groupby(["gamma", "alpha"]).mean()) if len(samp) else pd.Series(dtype=float)
    panels = [("norm", "final ‖θ‖₂ (log colour scale)", "mako"),
              ("test_acc", "final test accuracy of the current sample (%)", "crest"),
              ("ens_nll", "test NLL of the ensemble of samples (nats, log colour)", "rocket_r"),
              ("distance", "mean ‖θ_k − θ_{k−1}‖ between collected samples (log colour)", "viridis")]
    fig, axes = plt.subplots(2, 2, figsize=(12.5, 9.5))
    axes = axes.flatten()
    gammas, alphas = sorted(meta["gamma"].unique()), sorted(meta["alpha"].unique())
    ndiv = meta.groupby(["gamma", "alpha"])["status"].apply(lambda s: (s == "diverged").sum())
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
        log = col != "test_acc" and bool((grid > 0).any().any())
        sns.heatmap(grid.astype(float), annot=annot, fmt="", cmap=cmap, ax=ax, linewidths=0.5,
                    linecolor="white", norm=LogNorm() if log else None)
        ax.set(xlabel="boosting factor α", ylabel="adjusting factor γ", title=label)
        ax.title.set_fontsize(10)
        ax.invert_yaxis()
    mark_diverged(axes[0], _diverged(res, "gamma_alpha"))
    # claim: at low γ (≤ 0.01), every α > 1 beats α = 1 on distance and on ensemble NLL
    ens = fin.groupby(["gamma", "alpha"])["ens_nll"].mean()
    checks, parts = [], []
    for gm in [g for g in gammas if g <= 0.01]:
        for al in [a for a in alphas if a > 1]:
            d1, d = dist.get((gm, 1.0), math.nan), dist.get((gm, al), math.nan)
            n1, n = ens.get((gm, 1.0), math.nan), ens.get((gm, al), math.nan)
            checks.append(bool(d > d1 and n < n1))
            parts.append(f"γ={gm:g} α={al:g}: dist {d:.3g} vs {d1:.3g}, ens NLL {n:.3g} vs {n1:.3g}")
    value = float(np.mean(checks)) if checks else math.nan
    T = meta["T"].iloc[0] if len(meta) else math.nan
    fig.suptitle(f"γ × α grid at T = {T:g} (mean over seeds; 'div.' = diverged runs)\n"
                 "cells on one diagonal share γα, which sets the drift's step ε²γα/M "
                 "(friction scales as γ², noise as γ³α)", fontsize=11)
    return fig, greater("A-gamma-alpha", "fraction of (γ ≤ 0.01, α > 1) cells with larger distance between "
                        "collected samples AND lower ensemble NLL than α = 1 at the same γ; must be 1",
                        value, 1.0, _note(res, "gamma_alpha") + "; " + "; ".join(parts), inclusive=True)
