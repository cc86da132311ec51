"""Family D, optimizer geometry: small analytic problems, no data (docs/catalogue.md, family D).

Every experiment is one short function that runs optimizers of ``nnrepro.optimizers`` on a torch
function of a 2-D (or 1-D) point in float64 and returns tidy tables; ``run`` saves them. Seeded and
deterministic; the quick defaults take a few seconds on one CPU core.

Tables (long format): ``trajectories`` (problem, method, step, x, y, loss), ``surfaces`` (contour
grids), ``adaptive_steps``, ``reparam``, ``pnorm_check``, ``pnorm_paths``, ``trust_region``,
``lr_schedule``, ``lr_schedule_paths``, ``adam_counterexample``, ``saddle``, ``stationary_1d``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.optimize
import torch

from nnrepro import optimizers as optim
from nnrepro.results import Status

DTYPE = torch.float64

# the optimizers compared in D-trajectories, torch defaults otherwise
METHODS = {
    "GD": lambda p, lr: optim.SGD(p, lr=lr),
    "momentum": lambda p, lr: optim.SGD(p, lr=lr, momentum=0.9),
    "Adagrad": lambda p, lr: optim.Adagrad(p, lr=lr),
    "RMSprop": lambda p, lr: optim.RMSprop(p, lr=lr),
    "Adam": lambda p, lr: optim.Adam(p, lr=lr),
}


# ---------------------------------------------------------------- problems: f(x), x[..., i] coords
def quadratic(x, condition):          # ill-conditioned bowl ½(x² + κy²), minimum at 0
    return 0.5 * (x[..., 0] ** 2 + condition * x[..., 1] ** 2)


def rosenbrock(x):                    # (1 − x)² + 100(y − x²)², minimum at (1, 1)
    return (1 - x[..., 0]) ** 2 + 100 * (x[..., 1] - x[..., 0] ** 2) ** 2


def plateau_cliff(x, k=5.0, lam=0.01, x_star=1.0):
    """A nearly flat plateau (x < 0), a cliff of height 1 at 0, a shallow bowl at x* = 1."""
    return torch.sigmoid(-k * x[..., 0]) + 0.5 * lam * (x[..., 0] - x_star) ** 2


SADDLE_A = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=DTYPE)  # eigenvalues 1, −1


def saddle(x):                        # ½xᵀAx = ½(x² − y²), saddle value 0 at the origin
    return 0.5 * torch.einsum("...i,ij,...j->...", x, SADDLE_A, x)


# ---------------------------------------------------------------- shared loop
def descend(fn, x0, make_opt, steps, noise=0.0, gen=None, scheduler=None):
    """Iterates of ``make_opt([x])`` on ``fn(x).sum()`` from x0; noise: std of N(0, σ²) added to
    the gradient (SGD). A leading batch dimension in x0 runs independent paths. Returns
    (steps+1, *x0.shape) and the optimizer."""
    x = torch.tensor(x0, dtype=DTYPE).requires_grad_()
    opt = make_opt([x])
    sched = scheduler(opt) if scheduler else None
    hist = [x.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        fn(x).sum().backward()
        if noise:
            x.grad.add_(torch.randn(x.shape, generator=gen, dtype=DTYPE), alpha=noise)
        opt.step()
        if sched:
            sched.step()
        hist.append(x.detach().clone())
    return torch.stack(hist), opt


def path_frame(hist, fn, **cols):
    """Iterates of one 2-D (or 1-D) path as rows step, x, y, loss."""
    h = hist.reshape(len(hist), -1)
    df = pd.DataFrame({"step": np.arange(len(h)), "x": h[:, 0].numpy(),
                       "y": h[:, 1].numpy() if h.shape[1] > 1 else 0.0,
                       "loss": fn(hist).reshape(len(h)).numpy()})
    return df.assign(**cols)


def grid(fn, problem, xlim, ylim, n=80):
    """f on an n×n grid, for contour plots."""
    xs, ys = torch.linspace(*xlim, n, dtype=DTYPE), torch.linspace(*ylim, n, dtype=DTYPE)
    X, Y = torch.meshgrid(xs, ys, indexing="xy")
    Z = fn(torch.stack([X, Y], -1))
    return pd.DataFrame({"problem": problem, "x": X.flatten().numpy(), "y": Y.flatten().numpy(),
                         "f": Z.flatten().numpy()})


# ---------------------------------------------------------------- experiments
def trajectories(cfg):
    """GD, momentum, Adagrad, RMSprop, Adam at one lr on the quadratic and on Rosenbrock."""
    quad = lambda x: quadratic(x, cfg["quadratic"]["condition"])  # noqa: E731
    q, r = cfg["quadratic"], cfg["rosenbrock"]
    setups = [("quadratic", quad, [-4.0, 1.0], q["lr"], q["steps"]),
              ("rosenbrock", rosenbrock, [-1.5, 2.0], r["lr"], r["steps"])]
    rows = []
    for problem, fn, x0, lr, steps in setups:
        for name, make in METHODS.items():
            hist, _ = descend(fn, x0, lambda ps: make(ps, lr), steps)
            rows.append(path_frame(hist, fn, problem=problem, method=name, lr=lr))
    surf = pd.concat([grid(quad, "quadratic", (-4.5, 1.5), (-1.6, 1.6)),
                      grid(rosenbrock, "rosenbrock", (-2.0, 2.0), (-1.0, 3.0))])
    return pd.concat(rows, ignore_index=True), surf


def adaptive_steps(cfg, cond, gen):
    """Per-coordinate effective step α/(√S + ε) of Adagrad (S = Σg²) and RMSprop (S = EWA g²)
    with stochastic gradients ∇f + N(0, σ²) from the minimum, the regime SGD ends in: gradients
    stay O(σ), so Adagrad's S grows like σ²t and its step like t^{−1/2} (seed 001: "S_dw → ∞")."""
    rows = []
    x0 = [[0.0, 0.0]] * cfg["paths"]
    for name, cls, key in (("Adagrad", optim.Adagrad, "sum"),
                           ("RMSprop", optim.RMSprop, "square_avg")):
        eff = []

        def make(ps, cls=cls, key=key):
            opt = cls(ps, lr=cfg["lr"])

            def record(o, *_):  # α/(√S + ε) per coordinate, mean over paths
                eff.append((cfg["lr"] / (o.state[ps[0]][key].sqrt() + o.defaults["eps"])).mean(0))
            opt.register_step_post_hook(record)
            return opt

        descend(lambda x: quadratic(x, cond), x0, make, cfg["steps"], cfg["noise"], gen)
        eff = torch.stack(eff).numpy()
        for i, coord in enumerate(("x (shallow)", "y (steep)")):
            rows.append(pd.DataFrame({"method": name, "coordinate": coord,
                                      "step": np.arange(1, len(eff) + 1), "effective_lr": eff[:, i]}))
    return pd.concat(rows, ignore_index=True)


def reparam(cfg):
    """Seed 003: GD on g(y) = f(y/2) from y₀ = 2x₀, mapped back x = y/2, is GD on f with lr/4;
    in 2-D, GD on f(Ay) mapped back x = Ay is the Mahalanobis step with M⁻¹ = AAᵀ."""
    f = lambda x: (x[..., 0] ** 2 - 1) ** 2 / 4 + 0.3 * x[..., 0]  # noqa: E731  tilted double well
    lr, steps, x0 = cfg["lr"], cfg["steps"], 2.0
    sgd = lambda lr: lambda ps: optim.SGD(ps, lr=lr)  # noqa: E731
    runs = {"GD on f, lr α": descend(f, [x0], sgd(lr), steps)[0],
            "GD on f, lr α/4": descend(f, [x0], sgd(lr / 4), steps)[0],
            "GD on g(y)=f(y/2), x=y/2": descend(lambda y: f(y / 2), [2 * x0], sgd(lr), steps)[0] / 2}
    A = torch.tensor([[2.0, 0.5], [0.0, 0.5]], dtype=DTYPE)
    f2 = lambda x: quadratic(x, 4.0) + 0.5 * x[..., 0] * x[..., 1]  # noqa: E731
    x2 = torch.tensor([-1.5, 1.0], dtype=DTYPE)
    yrun = descend(lambda y: f2(y @ A.T), torch.linalg.solve(A, x2).tolist(), sgd(lr), steps)[0]
    metric = torch.linalg.inv(A @ A.T)
    runs2 = {"Mahalanobis on f, M⁻¹ = AAᵀ": descend(
                 f2, x2.tolist(), lambda ps: optim.Mahalanobis(ps, lr=lr, metric=metric), steps)[0],
             "GD on f(Ay), x = Ay": yrun @ A.T,
             "GD on f": descend(f2, x2.tolist(), sgd(lr), steps)[0]}
    rows = [path_frame(h, f, problem="1-D: y = 2x", method=m) for m, h in runs.items()]
    rows += [path_frame(h, f2, problem="2-D: x = Ay", method=m) for m, h in runs2.items()]
    return pd.concat(rows, ignore_index=True), grid(f2, "reparam_2d", (-1.8, 0.6), (-0.6, 1.2))


def _numeric_step(J, p, lr, form):
    """Independent reference: the argmin of the seed's step problems by scipy.optimize."""
    if form == "prox":   # min_Δ J·Δ + ‖Δ‖_p^p/(pα)
        obj = lambda d: (J @ d + np.sum(np.abs(d) ** p) / (p * lr),  # noqa: E731
                         J + np.sign(d) * np.abs(d) ** (p - 1) / lr)
        return scipy.optimize.minimize(obj, np.zeros_like(J), jac=True, method="BFGS",
                                       options=dict(gtol=1e-13)).x
    if form == "trust":  # min_{‖Δ‖_p ≤ ε} J·Δ
        cons = dict(type="ineq", fun=lambda d: lr ** p - np.sum(np.abs(d) ** p),
                    jac=lambda d: -p * np.sign(d) * np.abs(d) ** (p - 1))
        return scipy.optimize.minimize(lambda d: (J @ d, J), -0.5 * lr * J / np.linalg.norm(J),
                                       jac=True, method="SLSQP", constraints=[cons],
                                       options=dict(ftol=1e-15, maxiter=500)).x
    M = p                # Mahalanobis: min_Δ J·Δ + ΔᵀMΔ/(2α)
    obj = lambda d: (J @ d + d @ M @ d / (2 * lr), J + M @ d / lr)  # noqa: E731
    return scipy.optimize.minimize(obj, np.zeros_like(J), jac=True, method="BFGS",
                                   options=dict(gtol=1e-13)).x


def _one_step(opt_fn, J):
    """The step Δ an optimizer takes for gradient J from 0."""
    x = torch.zeros(len(J), dtype=DTYPE, requires_grad=True)
    x.grad = torch.tensor(J, dtype=DTYPE)
    opt_fn([x]).step()
    return x.detach().numpy()


def pnorm_steps(cfg, gen):
    """Steps of ``PNorm`` (both forms) and ``Mahalanobis`` against scipy's argmin for random
    gradients J, and trust-region paths on a rotated 2-D quadratic."""
    lr = cfg["lr"]
    rot = torch.tensor([[math.cos(0.5), -math.sin(0.5)], [math.sin(0.5), math.cos(0.5)]], dtype=DTYPE)
    H = rot @ torch.diag(torch.tensor([1.0, 8.0], dtype=DTYPE)) @ rot.T
    f = lambda x: 0.5 * torch.einsum("...i,ij,...j->...", x, H, x)  # noqa: E731
    rows = []
    for i in range(cfg["checks"]):
        J = torch.randn(4, generator=gen, dtype=DTYPE).numpy()
        Mq = torch.randn(4, 4, generator=gen, dtype=DTYPE)
        M = (Mq @ Mq.T + torch.eye(4, dtype=DTYPE)).numpy()
        cases = [(f"p={p:g}", form, p, lambda ps, p=p, form=form: optim.PNorm(
                     ps, lr=lr, p=p, normalize=form == "trust"))
                 for p in (1.1, 1.5, 2.0, 3.0, 10.0) for form in ("prox", "trust")]
        cases.append(("Mahalanobis", "prox", M, lambda ps: optim.Mahalanobis(ps, lr=lr, metric=M)))
        for name, form, p, make in cases:
            ref = _numeric_step(J, p, lr, "M" if name == "Mahalanobis" else form)
            ours = _one_step(make, J)
            rows.append(dict(check=i, metric=name, form=form,
                             rel_error=np.linalg.norm(ours - ref) / np.linalg.norm(ref),
                             step_norm=np.linalg.norm(ours)))
    x0 = [-2.0, 1.5]
    paths = [path_frame(descend(f, x0, lambda ps, p=p: optim.PNorm(ps, lr=lr, p=p), cfg["steps"])[0],
                        f, method=f"p={p:g}", p=p) for p in cfg["p"]]
    paths.append(path_frame(descend(f, x0, lambda ps: optim.Mahalanobis(ps, lr=lr, metric=H),
                                    cfg["steps"])[0], f, method="Mahalanobis M=H", p=np.nan))
    surf = grid(f, "pnorm_quadratic", (-2.6, 1.0), (-1.2, 2.4))
    return pd.DataFrame(rows), pd.concat(paths, ignore_index=True), surf


def trust_region(cfg):
    """GD vs normalized steps (seed 003 "Trust Region Problem") on a convex bowl and on a
    plateau-plus-cliff function."""
    bowl = lambda x: 0.5 * (x[..., 0] ** 2 + 3 * x[..., 1] ** 2)  # noqa: E731
    methods = {"GD": lambda ps: optim.SGD(ps, lr=cfg["gd"]["lr"]),
               "normalized": lambda ps: optim.Normalized(ps, lr=cfg["normalized"]["lr"]),
               "sign (per-coordinate)": lambda ps: optim.Normalized(ps, lr=cfg["normalized"]["lr"],
                                                                    coordinatewise=True)}
    rows = []
    for problem, fn, x0 in (("convex bowl", bowl, [3.0, 2.0]),
                            ("plateau + cliff", plateau_cliff, [-5.0])):
        for name, make in methods.items():
            if len(x0) == 1 and name.startswith("sign"):
                continue  # in 1-D the sign step is the normalized step
            hist, _ = descend(fn, x0, make, cfg["steps"])
            rows.append(path_frame(hist, fn, problem=problem, method=name))
    xs = torch.linspace(-6, 3, 400, dtype=DTYPE)[:, None]
    curve = pd.DataFrame({"problem": "plateau_cliff", "x": xs[:, 0].numpy(), "y": 0.0,
                          "f": plateau_cliff(xs).numpy()})
    surf = pd.concat([grid(bowl, "bowl", (-1, 3.5), (-1.5, 2.5)), curve])
    return pd.concat(rows, ignore_index=True), surf


SCHEDULES = {  # γ(t) and Γ(t) = ∫γ dt in closed form
    "γ = 1": (lambda t: torch.ones_like(t), lambda t: t),
    "γ = 1/t": (lambda t: 1 / t, torch.log),
    "γ = 1/t²": (lambda t: t ** -2, lambda t: -1 / t),
}


def lr_schedule(cfg, gen, n_show=5):
    """Seed 002: ẋ + γ(t)(x + u(t)) = 0, x(1) = 1, noise u(t) = σ ξ_⌊t⌋ held on unit intervals.
    Solved exactly on each interval: x(t+1) + u = (x(t) + u) e^{−(Γ(t+1) − Γ(t))}."""
    T, paths = cfg["horizon"], cfg["paths"]
    u = cfg["noise"] * torch.randn(T - 1, paths, generator=gen, dtype=DTYPE)
    t = torch.arange(1, T + 1, dtype=DTYPE)
    stats, shown = [], []
    for name, (gamma, Gamma) in SCHEDULES.items():
        decay = torch.exp(-(Gamma(t[1:]) - Gamma(t[:-1])))
        x = [torch.ones(paths, dtype=DTYPE)]
        for k in range(T - 1):
            x.append(-u[k] + (x[-1] + u[k]) * decay[k])
        x = torch.stack(x)                                               # (T, paths)
        q = torch.quantile(x, torch.tensor([0.05, 0.95], dtype=DTYPE), dim=1)
        stats.append(pd.DataFrame({"schedule": name, "noise": cfg["noise"], "t": t.numpy(),
                                   "gamma": gamma(t).numpy(),
                                   "mean": x.mean(1).numpy(), "std": x.std(1).numpy(),
                                   "q05": q[0].numpy(), "q95": q[1].numpy()}))
        for i in range(n_show):
            shown.append(pd.DataFrame({"schedule": name, "path": i, "t": t.numpy(),
                                       "x": x[:, i].numpy()}))
    return pd.concat(stats, ignore_index=True), pd.concat(shown, ignore_index=True)


def adam_counterexample(cfg):
    """Reddi, Kale & Kumar (2018): f_t(x) = 1010x if t mod 101 = 1 else −10x on [−1, 1]; the
    average loss is (10/101)x, minimised at x* = −1. Adam and AMSGrad with α_t = α/√t,
    β = (0.9, 0.99), x₀ = 0, projected back onto [−1, 1] after each step."""
    x = {m: torch.zeros(1, dtype=DTYPE) for m in ("Adam", "AMSGrad")}
    opt = optim.Adam([{"params": [x["Adam"]], "amsgrad": False},
                      {"params": [x["AMSGrad"]], "amsgrad": True}],
                     lr=cfg["lr"], betas=tuple(cfg["betas"]))
    grad = {True: torch.tensor([1010.0], dtype=DTYPE), False: torch.tensor([-10.0], dtype=DTYPE)}
    hist = []
    for t in range(1, cfg["steps"] + 1):
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] / math.sqrt(t)                   # α_t = α/√t
        for p in x.values():
            p.grad = grad[t % 101 == 1]                              # ∇f_t(x) = 1010 or −10
        opt.step()
        for p in x.values():
            p.clamp_(-1.0, 1.0)                                      # projection onto [−1, 1]
        hist.append([p.item() for p in x.values()])
    h = np.array(hist)
    t = np.arange(1, len(h) + 1)
    c = np.where(t % 101 == 1, 1010.0, -10.0)
    rows = []
    for i, m in enumerate(x):
        regret = np.cumsum(c * np.r_[0.0, h[:-1, i]] - c * -1.0)          # Σ f_t(x_t) − f_t(x*)
        rows.append(pd.DataFrame({"method": m, "step": t, "x": h[:, i], "avg_regret": regret / t}))
    return pd.concat(rows, ignore_index=True)


def saddle_escape(cfg, gen):
    """Seed 004 §6.2.3: from x₀ = (1, 0) on the stable manifold of the saddle of ½xᵀAx, GD
    contracts the λ = 1 component and never creates the λ = −1 one; SGD's noise does, and it
    grows like (1 + η)^t."""
    x0 = [1.0, 0.0]
    gd, _ = descend(saddle, x0, lambda ps: optim.SGD(ps, lr=cfg["lr"]), cfg["steps"])
    sgd, _ = descend(saddle, [x0] * cfg["paths"], lambda ps: optim.SGD(ps, lr=cfg["lr"]),
                     cfg["steps"], cfg["noise"], gen)
    rows = [path_frame(gd, saddle, method="GD", path=0)]
    rows += [path_frame(sgd[:, i], saddle, method="SGD", path=i) for i in range(cfg["paths"])]
    return pd.concat(rows, ignore_index=True)


def stationary_points():
    """The surface x² − y² and 1-D stationary points (seed 003 "Stationary Points"), with the
    index (fraction of negative Hessian eigenvalues) at each stationary point."""
    surf = grid(lambda x: x[..., 0] ** 2 - x[..., 1] ** 2, "x² − y²", (-1.5, 1.5), (-1.5, 1.5), 50)
    xs = torch.linspace(-1.5, 1.5, 200, dtype=DTYPE)
    curves = {"x² (minimum)": xs ** 2, "−x² (maximum)": -xs ** 2, "x³ (saddle)": xs ** 3}
    one_d = pd.concat([pd.DataFrame({"function": k, "x": xs.numpy(), "f": v.numpy()})
                       for k, v in curves.items()], ignore_index=True)
    hess = torch.autograd.functional.hessian(
        lambda z: z[0] ** 2 - z[1] ** 2, torch.zeros(2, dtype=DTYPE))
    index = (torch.linalg.eigvalsh(hess) < 0).double().mean().item()
    return surf, one_d.assign(saddle_index=index)


# ---------------------------------------------------------------- entry point
def run(ctx) -> Status:
    cfg = ctx.settings
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    cond = cfg["trajectories"]["quadratic"]["condition"]

    traj, surf = trajectories(cfg["trajectories"])
    ctx.save_table("trajectories", traj)
    ctx.save_table("adaptive_steps", adaptive_steps(cfg["adaptive"], cond, gen))
    rep, rsurf = reparam(cfg["reparam"])
    ctx.save_table("reparam", rep)
    check, paths, psurf = pnorm_steps(cfg["pnorm"], gen)
    ctx.save_table("pnorm_check", check)
    ctx.save_table("pnorm_paths", paths)
    tr, tsurf = trust_region(cfg["trust_region"])
    ctx.save_table("trust_region", tr)
    stats, shown = lr_schedule(cfg["lr_schedule"], gen)
    ctx.save_table("lr_schedule", stats)
    ctx.save_table("lr_schedule_paths", shown)
    ctx.save_table("adam_counterexample", adam_counterexample(cfg["adam"]))
    ctx.save_table("saddle", saddle_escape(cfg["saddle"], gen))
    ssurf, one_d = stationary_points()
    ctx.save_table("stationary_1d", one_d)
    ctx.save_table("surfaces", pd.concat([surf, rsurf, psurf, tsurf, ssurf], ignore_index=True))
    return Status.OK
