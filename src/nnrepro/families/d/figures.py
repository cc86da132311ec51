"""Family D figures: optimizer geometry on analytic problems (docs/catalogue.md, family D).

Each figure is three functions: a pure claim function of the tables of
``nnrepro.families.d.experiment`` (``*_claim``; exact claims, compared with the threshold), a
drawing function of the same tables and the claim, and the ``@figure`` function that reads the
tables and calls both. A claim's test wording and threshold are the catalogue's
(``FIGURE_INFO[id]``).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nnrepro.catalogue import FIGURE_INFO
from nnrepro.claims import Claim, both, greater, holds, less, reference
from nnrepro.plotting import figure

PALETTE = dict(zip(["GD", "momentum", "Adagrad", "RMSprop", "Adam"], sns.color_palette("colorblind")))


def _table(res, name: str) -> pd.DataFrame:
    """One run's table: family D is deterministic analytic work, a grid would only repeat it."""
    df = res.table(name)
    return df[df.run == df.run.iloc[0]]


def _words(fig_id: str) -> tuple[str, float]:
    """The catalogue's test wording and threshold of a figure's claim."""
    info = FIGURE_INFO[fig_id]
    return info.test, info.threshold


def _contour(ax, surfaces: pd.DataFrame, problem: str, levels=20, log=False, scale=1.0):
    g = surfaces[surfaces.problem == problem].pivot(index="y", columns="x", values="f") * scale
    z = np.log10(g.values - g.values.min() + 1e-2) if log else g.values
    ax.contour(g.columns, g.index, z, levels=levels, colors="0.6", linewidths=0.7)
    ax.set(xlabel="x", ylabel="y", xlim=(g.columns.min(), g.columns.max()),
           ylim=(g.index.min(), g.index.max()))


def _paths(ax, df: pd.DataFrame, colors=None, every=1):
    """Iterates joined by lines, a dot on every ``every``-th one, a black dot at the start."""
    for i, (m, g) in enumerate(df.groupby("method", sort=False)):
        c = (colors or {}).get(m, f"C{i}")
        ax.plot(g.x, g.y, marker=".", markevery=every, ms=4, lw=1.2, color=c, label=m)
        ax.plot(g.x.values[:1], g.y.values[:1], "ko", ms=5)


def _oscillation(y: np.ndarray) -> float:
    """Total variation of a coordinate minus its net change: 0 for a monotone approach."""
    return float(np.abs(np.diff(y)).sum() - abs(y[-1] - y[0]))


def trajectories_claim(t: pd.DataFrame) -> Claim:
    """D-trajectories: the largest oscillation of y of the adaptive methods over GD's, on the
    quadratic."""
    q = t[t.problem == "quadratic"]
    osc = {m: _oscillation(g.y.values) for m, g in q.groupby("method")}
    ratio = max(osc[m] for m in ("Adagrad", "RMSprop", "Adam")) / osc["GD"]
    test, threshold = _words("D-trajectories")
    return less("D-trajectories", test, ratio, threshold,
                note=", ".join(f"{m} {v:.3g}" for m, v in osc.items()))


def draw_trajectories(t: pd.DataFrame, surf: pd.DataFrame, claim: Claim):
    """Draws D-trajectories from the tables its claim reads; returns the matplotlib figure."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 10))
    for ax, problem in zip(axes[0], ("quadratic", "rosenbrock")):
        d = t[t.problem == problem]
        _contour(ax, surf, problem, levels=25, log=problem == "rosenbrock")
        _paths(ax, d, PALETTE, every=1 if problem == "quadratic" else 10)
        ax.set_title(f"{problem}: {d.step.max()} steps, lr = {d.lr.iloc[0]:g} for every method")
    axes[0, 1].plot(1, 1, marker="*", ms=16, color="gold", mec="black", zorder=5, ls="none",
                    label="minimum (1, 1)")
    axes[0, 0].legend(loc="lower right", fontsize=8)
    axes[0, 1].legend(loc="lower right", fontsize=8)
    q = t[t.problem == "quadratic"]
    sns.lineplot(q, x="step", y="y", hue="method", palette=PALETTE, ax=axes[1, 0], lw=1.2)
    axes[1, 0].set(ylabel="y (steep coordinate)", title="quadratic: the steep coordinate over steps")
    r = t[t.problem == "rosenbrock"]
    sns.lineplot(r, x="step", y="loss", hue="method", palette=PALETTE, ax=axes[1, 1], lw=1.2,
                 legend=False)
    axes[1, 1].set(yscale="log", ylabel="f(x_t) (log scale)",
                   title="Rosenbrock: the loss along each path (minimum f = 0)")
    return fig


@figure("D-trajectories")
def trajectories(res):
    t, surf = _table(res, "trajectories"), _table(res, "surfaces")
    claim = trajectories_claim(t)
    return draw_trajectories(t, surf, claim), claim


RMSPROP_SLOPE = -0.1     # D-adagrad-decay's second part: RMSprop's slope > −0.1, bounded


def adagrad_decay_claim(a: pd.DataFrame) -> Claim:
    """D-adagrad-decay: the log-log slope of the effective step over the last half of steps,
    Adagrad's (max over coordinates) < −0.4 and RMSprop's (min) > −0.1."""
    late = a[a.step >= a.step.max() / 2]
    slope = {k: np.polyfit(np.log(g.step), np.log(g.effective_lr), 1)[0]
             for k, g in late.groupby(["method", "coordinate"])}
    ada = max(v for (m, _), v in slope.items() if m == "Adagrad")
    rms = min(v for (m, _), v in slope.items() if m == "RMSprop")
    test, threshold = _words("D-adagrad-decay")
    return both(less("D-adagrad-decay", test, ada, threshold),
                holds("D-adagrad-decay", rms > RMSPROP_SLOPE),
                note=f"RMSprop slope {rms:.3g} (must be > −0.1)")


def draw_adagrad_decay(a: pd.DataFrame, claim: Claim):
    """Draws D-adagrad-decay from the tables its claim reads; returns the matplotlib figure."""
    fig, ax = plt.subplots(figsize=(8, 5.2))
    sns.lineplot(a, x="step", y="effective_lr", hue="method", style="coordinate",
                 palette=[PALETTE["Adagrad"], PALETTE["RMSprop"]], ax=ax)
    T = a.step.max()
    ref = a[(a.method == "Adagrad")].groupby("step").effective_lr.mean()
    ax.plot(ref.index, ref.loc[T // 10] * np.sqrt(T / 10 / ref.index), "k:", lw=1, label="∝ t^(−1/2)")
    ax.axvspan(T / 2, T, color="0.9", zorder=0, label="slope fitted here")
    ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="effective step α/(√S + ε)",
           title="Adagrad's per-coordinate step decays, RMSprop's does not\n"
                 "(noisy gradients ∇f + N(0, σ²) from the minimum)")
    ax.legend(fontsize=8)
    return fig


@figure("D-adagrad-decay")
def adagrad_decay(res):
    a = _table(res, "adaptive_steps")
    claim = adagrad_decay_claim(a)
    return draw_adagrad_decay(a, claim), claim


def _gap(d: pd.DataFrame, a: str, b: str, col: str = "x") -> float:
    """max over steps |method a's ``col`` − method b's|."""
    return float(np.abs(d[d.method == a][col].values - d[d.method == b][col].values).max())


def reparam_claim(r: pd.DataFrame) -> Claim:
    """D-reparam: the larger of the 1-D gap (GD on g(y) = f(y/2) vs GD on f at lr/4) and the 2-D
    gap (GD on f(Ay) vs the step −αAAᵀ∇f)."""
    one, two = r[r.problem == "1-D: y = 2x"], r[r.problem == "2-D: x = Ay"]
    dev1 = _gap(one, "GD on g(y)=f(y/2), x=y/2", "GD on f, lr α/4")
    dev2 = max(_gap(two, "GD on f(Ay), x = Ay", "Mahalanobis on f, M⁻¹ = AAᵀ", col)
               for col in ("x", "y"))
    test, threshold = _words("D-reparam")
    return less("D-reparam", test, max(dev1, dev2), threshold,
                note=f"1-D {dev1:.2g}, 2-D {dev2:.2g}; "
                     f"GD at lr α differs by {_gap(one, 'GD on f, lr α', 'GD on f, lr α/4'):.2g}")


def draw_reparam(r: pd.DataFrame, surf: pd.DataFrame, claim: Claim):
    """Draws D-reparam from the tables its claim reads; returns the matplotlib figure."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    one = r[r.problem == "1-D: y = 2x"]
    styles = {"GD on f, lr α": dict(lw=2), "GD on f, lr α/4": dict(lw=4, alpha=0.5),
              "GD on g(y)=f(y/2), x=y/2": dict(ls="none", marker="o", ms=4)}
    for m, g in one.groupby("method", sort=False):
        axes[0].plot(g.step, g.x, label=m, **styles[m])
    axes[0].set(xlabel="step", ylabel="x", title="f(x) = (x² − 1)²/4 + 0.3x: substituting y = 2x\n"
                "divides GD's step by 4")
    axes[0].legend()
    two = r[r.problem == "2-D: x = Ay"]
    _contour(axes[1], surf, "reparam_2d", levels=20)
    for m, g in two.groupby("method", sort=False):
        dots = m.startswith("GD on f(Ay)")
        kw = dict(ls="none", marker="o", ms=4) if dots else dict(lw=2.5, alpha=0.7)
        axes[1].plot(g.x, g.y, label=m, **kw)
    axes[1].set_title("2-D: GD on f(Ay), mapped back, is the step −α AAᵀ∇f")
    axes[1].legend(fontsize=8)
    return fig


@figure("D-reparam")
def reparam(res):
    r, surf = _table(res, "reparam"), _table(res, "surfaces")
    claim = reparam_claim(r)
    return draw_reparam(r, surf, claim), claim


def _pball(p, r, n=400):
    th = np.linspace(0, 2 * np.pi, n)
    d = np.stack([np.cos(th), np.sin(th)], 1)
    return r * d / (np.abs(d) ** p).sum(1, keepdims=True) ** (1 / p)


def pnorm_steps_claim(check: pd.DataFrame) -> Claim:
    """D-pnorm-steps: the largest relative error of the closed-form steps against scipy's."""
    test, threshold = _words("D-pnorm-steps")
    return less("D-pnorm-steps", test, float(check.rel_error.max()), threshold,
                note=f"{len(check)} steps checked")


def draw_pnorm_steps(paths: pd.DataFrame, check: pd.DataFrame, surf: pd.DataFrame, claim: Claim):
    """Draws D-pnorm-steps from the tables its claim reads; returns the matplotlib figure."""
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.4))
    methods = list(paths.method.unique())
    colors = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    first = paths[paths.step <= 1]
    x0 = first[first.step == 0][["x", "y"]].values[0]
    ax = axes[0]
    for m, g in first.groupby("method", sort=False):
        d = g[["x", "y"]].values[1] - x0
        p = g.p.iloc[0]
        if np.isfinite(p):  # the ball through the step: ‖Δ‖_p = α
            ball = _pball(p, (np.abs(d) ** p).sum() ** (1 / p))
            ax.plot(x0[0] + ball[:, 0], x0[1] + ball[:, 1], color=colors[m], lw=1, ls="--")
        ax.annotate("", x0 + d, x0, arrowprops=dict(arrowstyle="->", color=colors[m], lw=2))
        ax.plot([], [], color=colors[m], lw=2, label=f"{m} step")
    _contour(ax, surf, "pnorm_quadratic", levels=30)
    r = np.abs(first[first.step == 1][["x", "y"]].values - x0).max() * 1.6
    ax.set(xlim=(x0[0] - r, x0[0] + r), ylim=(x0[1] - r, x0[1] + r), aspect="equal",
           title="first step from x₀ and the ball ‖Δ‖_p = α (dashed)")
    ax.legend(fontsize=8, loc="lower left")
    _contour(axes[1], surf, "pnorm_quadratic", levels=30)
    _paths(axes[1], paths, colors)
    axes[1].set(aspect="equal", title="trust-region steps ‖Δ‖_p = α on ½xᵀHx, and M = H")
    axes[1].legend(fontsize=8)
    c = check.assign(label=check.metric + " (" + check.form + ")")
    sns.stripplot(c, x="rel_error", y="label", hue="metric", ax=axes[2], legend=False, log_scale=True)
    axes[2].axvline(claim.threshold, color="k", ls=":", label="threshold")
    axes[2].set(xlabel="‖Δ_formula − Δ_scipy‖ / ‖Δ_scipy‖", ylabel="",
                title="closed-form step vs scipy.optimize argmin\n(random J ∈ ℝ⁴)")
    axes[2].legend()
    return fig


@figure("D-pnorm-steps")
def pnorm_steps(res):
    paths, check, surf = _table(res, "pnorm_paths"), _table(res, "pnorm_check"), _table(res, "surfaces")
    claim = pnorm_steps_claim(check)
    return draw_pnorm_steps(paths, check, surf, claim), claim


def cliff_crossings(t: pd.DataFrame) -> dict:
    """Per method, the first step whose iterate is past the cliff (x > 0) of the plateau-plus-
    cliff function; None: never within the budget."""
    cross = {}
    for m, g in t[t.problem == "plateau + cliff"].groupby("method", sort=False):
        past = g[g.x > 0].step
        cross[m] = int(past.min()) if len(past) else None
    return cross


def trust_region_claim(t: pd.DataFrame) -> Claim:
    """D-trust-region: the normalized steps' crossing step < GD's (GD never crossing counts as
    the budget + 1). The threshold is GD's crossing: data, not the catalogue's."""
    cross = cliff_crossings(t)
    budget = int(t[t.problem == "plateau + cliff"].step.max())
    bowl = t[t.problem == "convex bowl"]
    gd = cross["GD"] if cross["GD"] is not None else budget + 1
    nz = cross["normalized"] if cross["normalized"] is not None else np.inf
    return less(
        "D-trust-region", FIGURE_INFO["D-trust-region"].test, nz, gd,
        note=("" if cross["GD"] is not None else f"GD had not crossed after {budget} steps; ")
        + "final f on the bowl: "
        + ", ".join(f"{m} {g.loss.iloc[-1]:.2g}" for m, g in bowl.groupby("method")))


def draw_trust_region(t: pd.DataFrame, surf: pd.DataFrame, claim: Claim):
    """Draws D-trust-region from the tables its claim reads; returns the matplotlib figure."""
    colors = {"GD": PALETTE["GD"], "normalized": "C3", "sign (per-coordinate)": "C4"}
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.2))
    bowl = t[t.problem == "convex bowl"]
    _contour(axes[0], surf, "bowl", levels=20)
    _paths(axes[0], bowl[bowl.step <= 40], colors)
    axes[0].set(aspect="equal", title="convex bowl ½(x² + 3y²), first 40 steps")
    axes[0].legend(fontsize=8)
    plat = t[t.problem == "plateau + cliff"]
    curve = surf[surf.problem == "plateau_cliff"]
    axes[1].plot(curve.x, curve.f, color="0.5", lw=2, label="f(x)")
    cross = cliff_crossings(t)
    for m, g in plat.groupby("method", sort=False):
        gd = m == "GD"  # hollow and larger, so that both show where they overlap
        axes[1].plot(g.x[::5], g.loss[::5], "o", ms=7 if gd else 3, mfc="none" if gd else None,
                     color=colors[m], label=f"{m} (every 5th iterate)")
        axes[2].plot(g.step[1:], g.loss[1:], color=colors[m], label=m)
        if cross[m] is not None:
            axes[2].axvline(cross[m], color=colors[m], ls=":")
    axes[1].axvline(0, color="k", ls=":", lw=1)
    axes[1].set(xlabel="x", ylabel="f(x)", title="plateau + cliff: σ(−5x) + 0.005(x − 1)²")
    axes[1].legend(fontsize=8)
    axes[2].set(xscale="log", xlabel="step", ylabel="f",
                title="plateau + cliff: loss (dotted: step that crosses the cliff x > 0)")
    axes[2].legend()
    return fig


@figure("D-trust-region")
def trust_region(res):
    t, surf = _table(res, "trust_region"), _table(res, "surfaces")
    claim = trust_region_claim(t)
    return draw_trust_region(t, surf, claim), claim


GOOD_SCHEDULE = "γ = 1/t"   # D-lr-schedule: the one schedule that converges and suppresses noise


def schedule_errors(s: pd.DataFrame) -> dict[str, float]:
    """Per schedule, the error at T: max(|mean x(T)| / mean x(1), std x(T) / σ)."""
    err = {}
    for name, g in s.groupby("schedule", sort=False):
        end = g.iloc[-1]
        err[name] = max(abs(end["mean"]) / g["mean"].iloc[0], end["std"] / end["noise"])
    return err


def lr_schedule_claim(s: pd.DataFrame) -> Claim:
    """D-lr-schedule: γ = 1/t's error at T < 0.1 and every other schedule's ≥ 0.1."""
    err = schedule_errors(s)
    others = {k: v for k, v in err.items() if k != GOOD_SCHEDULE}
    test, threshold = _words("D-lr-schedule")
    return both(less("D-lr-schedule", test, err[GOOD_SCHEDULE], threshold),
                holds("D-lr-schedule", all(v >= threshold for v in others.values())),
                note=", ".join(f"{k}: {v:.3g}" for k, v in others.items()) + " (must be ≥ 0.1)")


def draw_lr_schedule(s: pd.DataFrame, paths: pd.DataFrame, claim: Claim):
    """Draws D-lr-schedule from the tables its claim reads; returns the matplotlib figure."""
    names = list(s.schedule.unique())
    fig, axes = plt.subplots(1, len(names), figsize=(17, 5), sharey=True)
    for ax, (name, g) in zip(axes, s.groupby("schedule", sort=False)):
        ax.fill_between(g.t, g.q05, g.q95, alpha=0.25, label="5–95 % of paths")
        ax.plot(g.t, g["mean"], lw=2, label="mean")
        for _, p in paths[paths.schedule == name].groupby("path"):
            ax.plot(p.t, p.x, lw=0.5, color="0.4", alpha=0.6)
        ax.axhline(0, color="k", lw=0.8)
        end = g.iloc[-1]
        ax.set(xscale="log", xlabel="t",
               title=f"{name}: x(T) mean {end['mean']:.3f}, std {end['std']:.3f}")
    axes[0].set_ylabel("x(t)")
    axes[0].legend(loc="lower left")
    fig.suptitle("ẋ + γ(t)(x + u(t)) = 0, x(1) = 1, noise u held on unit intervals (thin: sample paths)")
    return fig


@figure("D-lr-schedule")
def lr_schedule(res):
    s, paths = _table(res, "lr_schedule"), _table(res, "lr_schedule_paths")
    claim = lr_schedule_claim(s)
    return draw_lr_schedule(s, paths, claim), claim


def cycle_means(g: pd.DataFrame) -> pd.DataFrame:
    """One method's iterates per 101-step cycle: last step, mean, min and max of x."""
    return g.groupby((g.step - 1) // 101).agg(step=("step", "max"), x=("x", "mean"),
                                              lo=("x", "min"), hi=("x", "max"))


def adam_counterexample_claim(a: pd.DataFrame) -> Claim:
    """D-adam-counterexample: the larger of Adam's distance to +1 and AMSGrad's to −1 (mean x
    over the last cycle)."""
    last = {m: cycle_means(g).x.iloc[-1] for m, g in a.groupby("method", sort=False)}
    dev = max(abs(last["Adam"] - 1), abs(last["AMSGrad"] + 1))
    test, threshold = _words("D-adam-counterexample")
    return less("D-adam-counterexample", test, dev, threshold,
                note=f"Adam {last['Adam']:.3f}, AMSGrad {last['AMSGrad']:.3f}")


def draw_adam_counterexample(a: pd.DataFrame, claim: Claim):
    """Draws D-adam-counterexample from the tables its claim reads; returns the matplotlib figure."""
    colors = {"Adam": PALETTE["Adam"], "AMSGrad": "C3"}
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.2))
    for m, g in a.groupby("method", sort=False):
        cyc = cycle_means(g)
        axes[0].fill_between(cyc.step, cyc.lo, cyc.hi, color=colors[m], alpha=0.2, lw=0)
        axes[0].plot(cyc.step, cyc.x, lw=2, color=colors[m],
                     label=f"{m}: mean (band: range) per 101-step cycle")
        axes[1].plot(g.step, g.avg_regret, color=colors[m], label=m)
    axes[0].axhline(-1, color="k", ls=":", label="optimum x* = −1")
    axes[0].set(xscale="log", xlabel="t", ylabel="$x_t$", ylim=(-1.1, 1.1),
                title="$f_t(x)$ = 1010x if t mod 101 = 1 else −10x, x ∈ [−1, 1]\n"
                      "$\\alpha_t = \\alpha/\\sqrt{t}$, β = (0.9, 0.99)")
    axes[0].legend(fontsize=8)
    axes[1].axhline(20 / 101, color="k", ls=":", label="20/101: regret per step of x ≡ +1")
    axes[1].set(xscale="log", yscale="log", xlabel="t", ylabel="average regret $R_t/t$",
                title="$R_t = \\sum_{s \\leq t} f_s(x_s) - f_s(x^*)$ per step")
    axes[1].legend()
    return fig


@figure("D-adam-counterexample")
def adam_counterexample(res):
    a = _table(res, "adam_counterexample")
    claim = adam_counterexample_claim(a)
    return draw_adam_counterexample(a, claim), claim


def saddle_escape_claim(s: pd.DataFrame) -> Claim:
    """D-saddle-escape: the fraction of SGD paths ending with f < −1 ≥ 0.95, and GD keeps
    y ≡ 0, f ≥ 0 and ends within 1e-3 of the saddle."""
    gd = s[s.method == "GD"]
    end = s.groupby(["method", "path"]).tail(1)
    sgd_end = end[end.method == "SGD"].loss
    escaped = float((sgd_end < -1).mean())
    g_end = gd.iloc[-1]
    gd_stays = bool((gd.y == 0).all() and (gd.loss >= 0).all() and np.hypot(g_end.x, g_end.y) < 1e-3)
    test, threshold = _words("D-saddle-escape")
    return both(greater("D-saddle-escape", test, escaped, threshold, inclusive=True),
                holds("D-saddle-escape", gd_stays),
                note=f"GD ends at ‖x‖ = {np.hypot(g_end.x, g_end.y):.2g}, f = {g_end.loss:.2g}; "
                     f"{int((sgd_end < -1).sum())}/{len(sgd_end)} SGD paths escaped, "
                     f"median final f {sgd_end.median():.3g}")


def draw_saddle_escape(s: pd.DataFrame, surf: pd.DataFrame, claim: Claim):
    """Draws D-saddle-escape from the tables its claim reads; returns the matplotlib figure."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.4))
    _contour(axes[0], surf, "x² − y²", levels=np.linspace(-1, 1, 21), scale=0.5)
    gd = s[s.method == "GD"]
    sgd = s[s.method == "SGD"]
    for i, (_, g) in enumerate(sgd.groupby("path")):
        axes[0].plot(g.x, g.y, lw=0.8, color="C1", alpha=0.7,
                     label="SGD (noisy gradients)" if i == 0 else None)
        axes[1].plot(g.step, g.loss, lw=0.8, color="C1", alpha=0.5,
                     label="SGD paths" if i == 0 else None)
    axes[0].plot(gd.x, gd.y, "o-", ms=3, color="C0", label="GD")
    axes[0].plot([1], [0], "ko", label="x₀ = (1, 0) on the stable manifold")
    axes[0].set(aspect="equal", title="f = ½xᵀAx, A = diag(1, −1)")
    axes[0].legend(fontsize=8, loc="lower left")
    axes[1].plot(gd.step, gd.loss, lw=2.5, color="C0", label="GD")
    axes[1].axhline(0, color="k", ls=":", label="saddle value f = 0")
    axes[1].axhline(-1, color="C3", ls="--", lw=1, label="escaped: f < −1")
    axes[1].set(yscale="symlog", ylim=(None, 10), xlabel="step", ylabel="$f(x_t)$",
                title="loss: GD stays at the saddle, SGD escapes")
    axes[1].legend()
    return fig


@figure("D-saddle-escape")
def saddle_escape(res):
    s, surf = _table(res, "saddle"), _table(res, "surfaces")
    claim = saddle_escape_claim(s)
    return draw_saddle_escape(s, surf, claim), claim


def saddle_surface_claim(one: pd.DataFrame) -> Claim:
    """D-saddle-surface: a reference; its value, the index at the 2-D saddle."""
    return reference("D-saddle-surface",
                     "surface x² − y² and 1-D stationary points; value: index (fraction of "
                     "negative Hessian eigenvalues) at the 2-D saddle", float(one.saddle_index.iloc[0]))


def draw_saddle_surface(surf: pd.DataFrame, one: pd.DataFrame, claim: Claim):
    """Draws D-saddle-surface from the tables its claim reads; returns the matplotlib figure."""
    g = surf[surf.problem == "x² − y²"].pivot(index="y", columns="x", values="f")
    fig = plt.figure(figsize=(13, 5.2))
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    X, Y = np.meshgrid(g.columns, g.index)
    ax.plot_surface(X, Y, g.values, cmap="coolwarm", alpha=0.85, linewidth=0)
    ax.scatter([0], [0], [0], color="k", s=30)
    ax.set(xlabel="x", ylabel="y", zlabel="f", title="f(x, y) = x² − y²: saddle at 0 (∇f = 0)")
    ax2 = fig.add_subplot(1, 2, 2)
    sns.lineplot(one, x="x", y="f", hue="function", ax=ax2)
    ax2.plot([0], [0], "ko", label="stationary point x = 0")
    ax2.set(xlabel="x", ylabel="f(x)", title="1-D stationary points: minimum, maximum, saddle")
    ax2.legend()
    return fig


@figure("D-saddle-surface")
def saddle_surface(res):
    surf, one = _table(res, "surfaces"), _table(res, "stationary_1d")
    claim = saddle_surface_claim(one)
    return draw_saddle_surface(surf, one, claim), claim
