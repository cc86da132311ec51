"""Family C figures: gradient flow and initialization (seed 001 "Gradient Exploding/Vanishing",
seed 004 §6.5). The "init" run's tables feed C-explode-vanish, the top of C-fixes,
C-init-variance and C-tanh-regime; the "clipping" runs (one per clipping setting and seed) the
bottom of C-fixes.

Each figure is three functions: a pure claim function of its tables (``*_claim``), a drawing
function of the same tables and the claim (``draw_*``), and the ``@figure`` function that selects
the task's tables and calls both. A claim's test wording and threshold are the catalogue's
(``FIGURE_INFO[id]``)."""
from __future__ import annotations

import math
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nnrepro.catalogue import FIGURE_INFO
from nnrepro.claims import Claim, both, greater, less, proportion_interval, reference
from nnrepro.plotting import FRACTION, figure, runs_table
from nnrepro.plotting import loss_ratio  # noqa: F401 (read here by tests/test_family_c.py)
from nnrepro.plotting import mark_diverged
from nnrepro.results import NoData, Results, Status

SLOPE_TOLERANCE = FIGURE_INFO["C-explode-vanish"].threshold  # slope within 10 % of log g
BAND = 10.0              # "within 10×": max / min per-layer value (C-fixes, C-init-variance)
# C-init-variance's "~constant" is this band: no exponential change over depth (the naive init,
# Var w = 1/(3 fan_in), shrinks it ≈ 3× a layer). Not seed 004's "maintains outputs of mean 0 and
# variance 1 through every layer", which assumes "Var[tanh(y_i)] ≈ 1": tanh shrinks it.
CAP = 1e3                # a diverged run's unit in a claim: capped, so that it stays finite
CHANCE = math.log(10)    # cross-entropy of the uniform prediction over 10 classes
WELL_BELOW = CHANCE / 2  # "well below chance", fixed before any run: half of ln 10 (≈ 1.15 nats)
MIN_UNITS = 5            # inits or seeds behind every claim
SETTING_NAMES = {"plain": "LeCun normal at gain g", "xavier": "Xavier (gain 1)",
                 "bn": "LeCun at gain g + BatchNorm"}
INIT_NAMES = {"default": "naive (torch default, Var w = 1/(3 fan_in))",
              "lecun": "LeCun (Var w = 1/fan_in)", "xavier": "Xavier (Var w = 2/(fan_in + fan_out))"}


# ---------------------------------------------------------------- claim values (pure functions)
def slope_errors(norms: pd.DataFrame) -> pd.DataFrame:
    """Per (repeat, gain, depth) of the plain nets: the least-squares slope of log‖δ_t‖ against
    k (Jacobians to the logits), the linear theory's log g, and |slope − log g| / |log g|.
    Fewer than 3 layers: NaN (a slope needs at least 3 points to be tested)."""
    rows = []
    for (rep, gain, depth), g in norms[norms["setting"] == "plain"].groupby(["repeat", "gain", "depth"]):
        slope = np.polyfit(g["k"], np.log(g["norm"]), 1)[0] if g["k"].nunique() >= 3 else math.nan
        theory = math.log(gain)
        err = abs(slope - theory) / abs(theory) if theory != 0 else math.nan
        rows.append(dict(repeat=rep, gain=gain, depth=depth, slope=slope, theory=theory,
                         rel_err=err))
    return pd.DataFrame(rows, columns=["repeat", "gain", "depth", "slope", "theory", "rel_err"])


def norm_spreads(norms: pd.DataFrame, settings=("xavier", "bn")) -> pd.DataFrame:
    """max / min over layers of ‖δ_t‖ per (setting, gain, depth, repeat)."""
    d = norms[norms["setting"].isin(settings)]
    s = d.groupby(["setting", "gain", "depth", "repeat"])["norm"].agg(lambda v: v.max() / v.min())
    return s.rename("spread").reset_index()


def fails_and_trains(fail_ratio: float, train_ratio: float, fraction: float = FRACTION) -> float:
    """< 1 exactly when the run that should train ends below ``fraction`` of its start and the
    one that should fail does not (or diverged): max(train_ratio / f, f / fail_ratio), capped."""
    return min(max(train_ratio / fraction, fraction / fail_ratio), CAP)


def final_loss(losses, status: str = Status.OK) -> float:
    """Mean minibatch loss of the last 10 % of steps; inf for a run that diverged or has a
    non-finite loss."""
    losses = np.asarray(losses, float)
    if status != Status.OK or len(losses) == 0 or not np.isfinite(losses).all():
        return math.inf
    return float(losses[-max(1, len(losses) // 10):].mean())


def clipping_seeds(steps: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the clipped run's final loss (``final_loss``) and whether the plain run
    (max_norm 0) diverged. ``runs``: one row per run with run, status, seed, max_norm."""
    rows = []
    for seed, g in runs.groupby("seed"):
        row = dict(seed=seed, clipped_loss=math.nan, plain_diverged=math.nan)
        for r in g.itertuples():
            losses = steps.loc[steps["run"] == r.run].sort_values("step")["loss"]
            if r.max_norm > 0:
                row["clipped_loss"] = final_loss(losses, r.status)
            else:
                row["plain_diverged"] = float(r.status == Status.DIVERGED)
        rows.append(row)
    return pd.DataFrame(rows, columns=["seed", "clipped_loss", "plain_diverged"])


def clipping_claims(seeds: pd.DataFrame) -> tuple[Claim, Claim]:
    """C-fixes, clipping (seed 001, Pascanu et al. 2013): the clipped runs end well below chance,
    mean final loss < ln 10 / 2 (t-interval over seeds; a diverged clipped run counts as CAP
    nats), and plain SGD diverges in most seeds: the fraction of plain runs that diverged > 1/2
    (Clopper–Pearson interval)."""
    clipped = seeds["clipped_loss"].dropna().clip(upper=CAP)
    plain = seeds["plain_diverged"].dropna()
    trains = less("C-fixes", f"clipped SGD's final loss < ln 10 / 2 = {WELL_BELOW:.3f} nats "
                  "(mean of the last 10 % of steps, per seed)", math.nan, WELL_BELOW,
                  units=clipped.tolist(), min_n=MIN_UNITS)
    diverges = greater("C-fixes", "fraction of seeds where plain SGD diverges > 1/2", math.nan, 0.5,
                       interval=proportion_interval(int(plain.sum()), len(plain)), min_n=MIN_UNITS)
    return trains, diverges


def variance_units(var: pd.DataFrame) -> pd.DataFrame:
    """Per repeat, over the hidden layers t = 1 … L: LeCun's forward band max_t v_t / min_t v_t
    (v_t = Var y_t), and for each init the mean |log| of the per-layer variance ratios, forward
    v_{t+1}/v_t and backward u_t/u_{t+1} (u_t = Var ∂ℓ/∂y_t): 0 when every ratio is 1.
    ``value``: max(LeCun band / 10, Xavier's larger deviation / LeCun's backward deviation) —
    below 1 when both parts of the claim hold. Fewer than 3 hidden layers: NaN."""
    rows = []
    for rep, g in var[var["hidden"]].groupby("repeat"):
        dev = {}
        for init, h in g.groupby("init"):
            h = h.sort_values("layer")
            v, u = h["forward"].to_numpy(), h["backward"].to_numpy()
            if len(h) < 3:
                dev[init] = (math.nan, math.nan, math.nan)
                continue
            dev[init] = (np.abs(np.log(v[1:] / v[:-1])).mean(),
                         np.abs(np.log(u[:-1] / u[1:])).mean(), v.max() / v.min())
        nan3 = (math.nan,) * 3
        lf, lb, band = dev.get("lecun", nan3)
        xf, xb, _ = dev.get("xavier", nan3)
        rows.append(dict(repeat=rep, lecun_band=band, lecun_fwd=lf, lecun_bwd=lb, xavier_fwd=xf,
                         xavier_bwd=xb, value=max(band / BAND, max(xf, xb) / lb)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- helpers
def _runs(res: Results, task: str) -> pd.DataFrame:
    runs = runs_table(res, task="task", seed="seed", max_norm="clipping.max_norm")
    return runs[runs["task"] == task].drop(columns="task").reset_index(drop=True)


def _init_table(res: Results, name: str) -> pd.DataFrame:
    """The init run's rows of a table; NoData when no init run is configured."""
    init = set(_runs(res, "init")["run"])
    df = res.table(name)
    df = df[df["run"].isin(init)]
    if df.empty:
        raise NoData(f"no run of task init has a {name!r} table (task init not in the grid)")
    return df


def _part(c) -> str:
    """One condition of a two-part claim: its value, interval and verdict."""
    interval = f" [{c.low:.3g}, {c.high:.3g}]" if math.isfinite(c.low) else ""
    return f"{c.value:.3g}{interval} vs {c.threshold:g}, n = {c.n}: {c.verdict}"


def _geo_mean(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Geometric mean of ``norm`` over repeats (the mean of log-norms, as the theory predicts)."""
    return df.groupby(by)["norm"].agg(lambda v: float(np.exp(np.log(v).mean()))).reset_index()


# ---------------------------------------------------------------- figures
def explode_vanish_claim(norms: pd.DataFrame, note: str) -> Claim:
    """C-explode-vanish: per init, the largest |slope − log g| / |log g| over the plain nets'
    gains and depths < 0.1."""
    info = FIGURE_INFO["C-explode-vanish"]
    errs = slope_errors(norms)
    units = errs.groupby("repeat")["rel_err"].max()
    fits = errs.groupby(["gain", "depth"])["slope"].mean()
    finding = "fitted slopes (mean over inits): " + ", ".join(
        f"g = {g:g}, D = {d}: {s:.3f} (log g = {math.log(g):.3f})" for (g, d), s in fits.items())
    return less("C-explode-vanish", info.test, math.nan, info.threshold, note, units=units.tolist(),
                min_n=MIN_UNITS, finding=finding)


def draw_explode_vanish(norms: pd.DataFrame, claim: Claim, spec: dict):
    """Draws C-explode-vanish from the tables its claim reads.

    ``spec``: the init run's ``gradients`` settings (for the title)."""
    plain = _geo_mean(norms[norms["setting"] == "plain"], ["gain", "depth", "k"])
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    palette = dict(zip(sorted(plain["gain"].unique()), sns.color_palette("colorblind", 8)))
    styles = dict(zip(sorted(plain["depth"].unique()), ["-", "--", ":", "-."] * 3))
    for (gain, depth), g in plain.groupby(["gain", "depth"]):
        ax.plot(g["k"], g["norm"], color=palette[gain], ls=styles[depth], lw=1.8,
                label=f"gain g = {gain:g}, {depth} hidden layers")
    for gain, g in plain.groupby("gain"):                 # the linear theory: ‖δ_{D+1}‖ g^k
        k = np.arange(g["k"].max() + 1)
        anchor = g[g["k"] == 0]["norm"].mean()
        ax.plot(k, anchor * gain ** k, color="black", lw=3, alpha=0.25, zorder=0)
        ax.annotate(f"{gain:g}^k", (k[-1], anchor * gain ** k[-1]), fontsize=9,
                    xytext=(4, 0), textcoords="offset points", va="center")
    ax.plot([], [], color="black", lw=3, alpha=0.25, label="linear theory ‖δ_logits‖·g^k")
    ax.set(yscale="log", xlabel="k = Jacobians between layer t and the logits (D + 1 − t)",
           ylabel="‖∂ℓ/∂y_t‖ at init (geometric mean over inits)",
           title=f"Exploding and vanishing gradients: deep {spec['activation']} MLPs, width "
                 f"{spec['width']}, W ~ N(0, g²/fan_in)\n(seed 001: 1.5¹⁰⁰ ≈ 4·10¹⁷, "
                 f"0.8¹⁰⁰ ≈ 2·10⁻¹⁰)")
    ax.legend(fontsize=8, loc="upper left")
    return fig


@figure("C-explode-vanish")
def c_explode_vanish(res: Results):
    norms = _init_table(res, "grad_norms")
    spec = res.runs[0]["spec"]["gradients"]
    claim = explode_vanish_claim(norms, f"{spec['repeats']} inits per net")
    return draw_explode_vanish(norms, claim, spec), claim


def fixes_claim(norms: pd.DataFrame, steps: pd.DataFrame, runs: pd.DataFrame) -> Claim:
    """C-fixes: per init, the largest max/min over layers of the Xavier and BN nets' gradient
    norms < 10, AND the clipped runs end well below chance where plain SGD diverges
    (``clipping_claims``). ``runs``: one row per clipping run (run, status, seed, max_norm);
    ``steps``: their steps."""
    info = FIGURE_INFO["C-fixes"]
    diverged = runs[runs["status"] != Status.OK]["run"].tolist()
    spreads = norm_spreads(norms)
    spread_units = spreads.groupby("repeat")["spread"].max()
    first = less("C-fixes", "largest max/min over layers of ‖∂ℓ/∂y_t‖ of the Xavier and BN nets "
                 "< 10 (per initialization)", math.nan, info.threshold, units=spread_units.tolist(),
                 min_n=MIN_UNITS)
    seeds = clipping_seeds(steps, runs)
    trains, diverges = clipping_claims(seeds)
    worst = spreads.loc[spreads["spread"].idxmax()] if len(spreads) else None
    finding = (f"largest spread {worst['spread']:.2f}× ({worst['setting']}, g = {worst['gain']:g}, "
               f"D = {worst['depth']}); " if worst is not None else "") + clipping_finding(steps, runs, seeds)
    claim = both(both(first, trains), diverges,
                 note=f"spread: {_part(first)}; clipped final loss: {_part(trains)}; plain SGD "
                      f"diverged in {_part(diverges)}; {len(diverged)} of {len(runs)} training runs "
                      "diverged (plain SGD diverging is the claim)")
    return replace(claim, test=info.test, finding=finding, diverged=len(diverged))


def draw_fixes(norms: pd.DataFrame, steps: pd.DataFrame, runs: pd.DataFrame, claim: Claim,
               spec: dict | None):
    """Draws C-fixes from the tables its claim reads.

    ``spec``: a clipping run's ``clipping`` settings (for the title; None: no clipping run)."""
    fixes = _geo_mean(norms[norms["setting"].isin(["xavier", "bn"])], ["setting", "gain", "depth", "k"])
    fig, (ax, lx) = plt.subplots(1, 2, figsize=(13, 5))
    names = [(s, g) for s, g in fixes.groupby(["setting", "gain"]).groups]
    palette = dict(zip(names, sns.color_palette("colorblind", len(names))))
    styles = dict(zip(sorted(fixes["depth"].unique()), ["-", "--", ":", "-."] * 3))
    for (setting, gain, depth), g in fixes.groupby(["setting", "gain", "depth"]):
        label = SETTING_NAMES[setting].replace("gain g", f"gain {gain:g}")
        ax.plot(g["k"], g["norm"], color=palette[(setting, gain)], ls=styles[depth], lw=1.6,
                label=f"{label}, D = {depth}")
    ax.set(yscale="log", xlabel="k = Jacobians between layer t and the logits",
           ylabel="‖∂ℓ/∂y_t‖ at initialization",
           title="Fixes at init: Xavier, BatchNorm (norms stay within a decade)")
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    lo, hi = ax.get_ylim()
    mid = math.sqrt(lo * hi)
    ax.set_ylim(min(lo, mid / 100), max(hi, mid * 100))

    lows = []
    for r in runs.itertuples():
        g = steps[steps["run"] == r.run].sort_values("step")
        clipped = r.max_norm > 0
        color = "tab:blue" if clipped else "tab:red"
        smooth = g["loss"].rolling(10, min_periods=1).mean()
        lx.plot(g["step"], smooth, color=color, lw=1.0, alpha=0.8)
        lows.append(smooth[np.isfinite(smooth)].min())
        if r.status != Status.OK and len(g):                   # at the top edge: it left the plot
            last = g[np.isfinite(g["loss"])].tail(1)
            lx.scatter(last["step"], [10 * g["loss"].iloc[0]] * len(last), marker="x", color=color,
                       s=60, zorder=3, clip_on=False)
    lx.axhline(CHANCE, color="grey", lw=0.8, ls="--", label="chance: ln 10 (10 classes)")
    lx.axhline(WELL_BELOW, color="black", lw=0.8, ls=":", label="well below chance: ln 10 / 2")
    lx.plot([], [], color="tab:red", label="plain SGD (×: where a diverged run left the plot)")
    lx.plot([], [], color="tab:blue", label=f"SGD, gradient norm clipped to {runs['max_norm'].max():g}")
    title = "Training the exploding net"
    if spec:
        title += (f" ({spec['depth']} hidden layers, g = {spec['gain']:g}, lr {spec['optimizer']['lr']:g}),\n"
                  f"one line per seed; {spec['epochs']} epoch(s) of batches of {spec['batch_size']}")
    lx.set(yscale="log", xlabel="step (minibatch)", ylabel="training loss (10-step moving average)",
           title=title)
    if len(steps):                  # a diverged run's last losses (~1e16) would squash the rest
        lx.set_ylim(0.5 * min(np.nanmin(lows), WELL_BELOW), 10 * steps[steps["step"] == 0]["loss"].max())
    lx.title.set_fontsize(10)
    lx.legend(fontsize=8, loc="center right")
    mark_diverged(lx, [f"{claim.diverged} run(s)"] if claim.diverged else [])
    return fig


@figure("C-fixes")
def c_fixes(res: Results):
    norms = _init_table(res, "grad_norms")
    runs = _runs(res, "clipping")
    steps = res.table("steps") if res.has_table("steps") else pd.DataFrame(columns=["run", "step", "loss"])
    steps = steps[steps["run"].isin(runs["run"])]
    spec = next((r["spec"]["clipping"] for r in res.runs if r["spec"]["task"] == "clipping"), None)
    claim = fixes_claim(norms, steps, runs)
    return draw_fixes(norms, steps, runs, claim, spec), claim


def clipping_finding(steps: pd.DataFrame, runs: pd.DataFrame, seeds: pd.DataFrame) -> str:
    """Per seed the clipped final loss, and for those not below ln 10 / 2 whether the loss was
    still falling at the end (last 10 % of steps below the 10 % before): then more steps decide."""
    falling = 0
    above = seeds[~(seeds["clipped_loss"] < WELL_BELOW)]
    for seed in above["seed"]:
        run = runs[(runs["seed"] == seed) & (runs["max_norm"] > 0)]["run"]
        loss = steps[steps["run"].isin(run)].sort_values("step")["loss"].to_numpy()
        k = max(1, len(loss) // 10)
        falling += bool(len(loss) >= 2 * k and loss[-k:].mean() < loss[-2 * k:-k].mean())
    text = ("clipped final loss per seed: " + ", ".join(f"{v:.3g}" for v in seeds["clipped_loss"])
            + f" (chance {CHANCE:.3f}); plain SGD diverged in {int(seeds['plain_diverged'].sum())} "
            f"of {int(seeds['plain_diverged'].notna().sum())} seeds")
    if len(above):
        text += (f"; {len(above)} clipped seed(s) not below ln 10 / 2, {falling} of them still "
                 "falling at the end (more steps would decide them)")
    clipped = runs[runs["max_norm"] > 0]
    if "grad_norm" in steps and len(clipped):     # every step clipped: steps of length lr · c
        tail = [steps[steps["run"] == r.run].sort_values("step").pipe(
                    lambda g: (g["grad_norm"].iloc[-max(1, len(g) // 10):] > r.max_norm).mean())
                for r in clipped.itertuples()]
        text += (f"; over the last 10 % of steps {100 * np.nanmean(tail):.0f} % of the clipped "
                 "runs' gradients were above the clipping norm")
    return text


def init_variance_claim(var: pd.DataFrame) -> Claim:
    """C-init-variance: per init, max(LeCun's forward band / 10, Xavier's larger deviation /
    LeCun's backward one) < 1 (``variance_units``)."""
    info = FIGURE_INFO["C-init-variance"]
    units = variance_units(var)
    m = units.mean(numeric_only=True)
    finding = (f"LeCun forward band {m['lecun_band']:.2f}×; mean |log ratio| per layer: LeCun "
               f"forward {m['lecun_fwd']:.2f}, backward {m['lecun_bwd']:.2f}; Xavier forward "
               f"{m['xavier_fwd']:.2f}, backward {m['xavier_bwd']:.2f}") if len(units) else ""
    return less("C-init-variance", info.test, math.nan, info.threshold,
                units=units["value"].tolist() if len(units) else [], min_n=MIN_UNITS,
                finding=finding)


def draw_init_variance(var: pd.DataFrame, claim: Claim, spec: dict):
    """Draws C-init-variance from the tables its claim reads.

    ``spec``: the init run's ``variance`` settings (for the title)."""
    hidden = var[var["hidden"]].assign(init_name=lambda d: d["init"].map(INIT_NAMES))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharex=True)
    for ax, col, what in ((axes[0], "forward", "forward: Var y_t (pre-activation)"),
                          (axes[1], "backward", "backward: Var ∂ℓ/∂y_t")):
        sns.lineplot(hidden, x="layer", y=col, hue="init_name", style="init_name", markers=True,
                     dashes=False, errorbar=("pi", 100), ax=ax,
                     hue_order=list(INIT_NAMES.values()), style_order=list(INIT_NAMES.values()))
        ax.set(yscale="log", xlabel="hidden layer t (fan_in → fan_out)", ylabel=what.split(": ")[1],
               title=what)
        ax.legend(title=None, fontsize=8)
    w = hidden.drop_duplicates("layer").sort_values("layer")
    for ax in axes:
        ax.set_xticks(w["layer"], [f"{t}\n({a}→{b})" for t, a, b in
                                   zip(w["layer"], w["fan_in"], w["fan_out"])], fontsize=9)
    fig.suptitle(f"Variances per layer of a {spec['activation']} net at initialization, hidden "
                 f"widths {spec['hidden']} (band: range over {spec['repeats']} inits)", fontsize=11)
    return fig


@figure("C-init-variance")
def c_init_variance(res: Results):
    var = _init_table(res, "variance")
    claim = init_variance_claim(var)
    return draw_init_variance(var, claim, res.runs[0]["spec"]["variance"]), claim


def tanh_regime_claim(t: pd.DataFrame) -> Claim:
    """C-tanh-regime: a reference; its value, the linear regime's half-width x*."""
    return reference("C-tanh-regime", "reference curve (no claim): tanh, tanh′ and the linear "
                     "regime; value: its half-width x* (tanh(x*) = 0.95 x*)", float(t["x_lin"].iloc[0]))


def draw_tanh_regime(t: pd.DataFrame, var: pd.DataFrame, claim: Claim):
    """Draws C-tanh-regime from the tables its claim reads.

    ``t``: one run's tanh curve; ``var``: the init run's variance table."""
    x_lin = claim.value
    fig, (ax, fx) = plt.subplots(1, 2, figsize=(12.5, 4.6), gridspec_kw={"width_ratios": [1.3, 1]})
    ax.plot(t["x"], t["tanh"], lw=2, label="tanh(x)")
    ax.plot(t["x"], t["dtanh"], lw=2, label="tanh′(x) = 1 − tanh²(x)")
    ax.plot(t["x"], t["linear"], color="grey", lw=1, ls="--", label="x (linear approximation)")
    ax.axvspan(-x_lin, x_lin, color="tab:green", alpha=0.15,
               label=f"linear regime |x| ≤ {x_lin:.2f} (tanh within 5 % of x)")
    ax.axvspan(-1, 1, color="grey", alpha=0.07, label="±1: one std of a unit-variance pre-activation")
    ax.set(xlim=(t["x"].min(), t["x"].max()), ylim=(-1.3, 1.3), xlabel="pre-activation x",
           ylabel="value", title="tanh and its linear regime (seed 004 §6.5, Figure 6.1)")
    ax.legend(fontsize=8, loc="lower right")
    hidden = var[var["hidden"]].assign(init_name=lambda d: d["init"].map(INIT_NAMES))
    sns.lineplot(hidden, x="layer", y="linear_regime", hue="init_name", marker="o",
                 errorbar=("pi", 100), ax=fx, hue_order=list(INIT_NAMES.values()))
    fx.set_xticks(sorted(hidden["layer"].unique()))
    fx.set(ylim=(0, 1.02), xlabel="hidden layer t", ylabel="fraction of pre-activations with |y| ≤ x*",
           title="Units in the linear regime at initialization")
    fx.legend(title=None, fontsize=8)
    return fig


@figure("C-tanh-regime")
def c_tanh_regime(res: Results):
    t = _init_table(res, "tanh")
    t = t[t["run"] == t["run"].iloc[0]]
    claim = tanh_regime_claim(t)
    return draw_tanh_regime(t, _init_table(res, "variance"), claim), claim
