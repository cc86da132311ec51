"""Family G: the loss landscape (seed 003 "Loss Landscape", "Stationary Points in High
Dimensions"; seed 004 §6.1 and §6.6.1 "Mode Connectivity").

Three parts, chosen by ``parts`` (one run may compute all of them, or a sweep may split them):

- ``index_energy``: critical points of a small tanh network (Pennington & Bahri 2017: in = hidden
  = out = n, random inputs and targets; several independent problems), found by Newton's method
  on ∇L(θ) = 0 from many starts along GD trajectories; at each, the index α = fraction of
  negative Hessian eigenvalues (torch.func.hessian) and the energy (loss) ε. Table
  ``critical_points``.
- ``width``: one-hidden-layer ReLU nets of several widths H, ``trials`` SGD runs each from
  independent inits (Neyshabur et al. 2015; Choromanska et al. 2015), all trials of one width
  trained at once as a stacked ensemble, each run at least ``epochs`` epochs, then until its
  train error is 0 or ``max_epochs`` (``train_ensemble``). Tables ``width`` (train / test error
  and loss after ``epochs``) and ``width_stop`` (the same at each run's stopping point, with the
  epochs used and whether it reached train error 0).
- ``paths``: pairs of nets A, B trained from different seeds. Loss along the segment from A to its
  hidden-unit-permuted copy πA (the same function: seed 003 "n! permutations", seed 004 §6.1
  "averaging the parameters ... likely leads to larger loss"), and along the segment and a
  trained quadratic Bézier curve from A to B (Garipov et al. 2018). Tables ``paths``,
  ``permutation``.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import grad, hessian, vmap

from nnrepro import landscape, models, optimizers
from nnrepro.data import train_subset
from nnrepro.models import flat_params
from nnrepro.results import Status
from nnrepro.training import RunState, Stages, generator, stream, stream_seed, train_epoch

F64 = torch.float64


def run(ctx) -> Status:
    s, stages, status = ctx.settings, ctx.stages(), Status.OK    # one stage per part or trained net
    if "index_energy" in s["parts"]:
        points = stages("index energy", lambda _: index_energy(s["index_energy"], s["seed"], ctx.device))
        ctx.save_table("critical_points", points)
    if "width" in s["parts"]:
        rows, stop, status_w = width_sweep(ctx, train_subset(ctx.dataset(s["dataset"]), s["train_subset"]),
                                           s["width"], stages)
        ctx.save_table("width", rows)
        ctx.save_table("width_stop", stop)
        status = status_w if status_w != Status.OK else status
    if "paths" in s["parts"]:
        status_p = paths(ctx, train_subset(ctx.dataset(s["dataset"]), s["train_subset"]), s["paths"],
                         stages)
        status = status_p if status_p != Status.OK else status
    return status


# --- index vs energy of critical points (seed 003 "Stationary Points in High Dimensions") --------

def tanh_net_loss(n: int, weight_decay: float):
    """L(θ; X, Y) = 1/(2N) Σ_μ ‖W₂ tanh(W₁x_μ + b₁) + b₂ − y_μ‖² + (λ/2)‖θ‖² of an n-n-n tanh net,
    a function of the flat θ and the data; returns (L, number of parameters). λ > 0 keeps every
    critical point at finite θ: without it tanh saturates and most Newton runs go to infinity."""
    shapes = [(n, n), (n,), (n, n), (n,)]
    sizes = [math.prod(sh) for sh in shapes]

    def loss(theta, x, y):
        W1, b1, W2, b2 = (t.view(sh) for t, sh in zip(theta.split(sizes), shapes))
        pred = torch.tanh(x @ W1.T + b1) @ W2.T + b2
        return 0.5 * ((pred - y) ** 2).sum(1).mean() + 0.5 * weight_decay * (theta ** 2).sum()

    return loss, sum(sizes)


def index(H: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
    """Index α (seed 003): the fraction of eigenvalues of the symmetric H (or a batch of them)
    below −tol·max|λ|. α = 0 at a minimum, 1 at a maximum, in between at a saddle."""
    lam = torch.linalg.eigvalsh(H)
    scale = lam.abs().amax(-1, keepdim=True)
    return (lam < -tol * scale).double().mean(-1)


def newton_critical_points(loss, starts: torch.Tensor, steps: int, *data):
    """Critical points ∇L(θ) = 0 near each start (rows of ``starts``), of any index; ``data``:
    extra arguments of ``loss``, batched like ``starts`` (one problem per start).

    Newton's method on the equation g(θ) = ∇L(θ) = 0, damped as Levenberg–Marquardt because H
    is singular or nearly so at a network's critical points: δ = −(H² + μI)⁻¹ H g, a
    Gauss–Newton step on ½‖∇L‖², whose zeros are exactly the critical points. μ = c‖g‖²
    (Yamashita & Fukushima 2001: quadratic convergence even to non-isolated zeros); a step is
    kept if it lowers ‖g‖ (c ← c/3), else refused (c ← 3c). Batched over starts.
    Returns (θ, ‖∇L(θ)‖).
    """
    g_fn, H_fn = vmap(grad(loss)), vmap(hessian(loss))
    theta = starts.clone()
    c = torch.ones(len(theta), dtype=theta.dtype, device=theta.device)
    eye = torch.eye(theta.shape[1], dtype=theta.dtype, device=theta.device)
    g = g_fn(theta, *data)
    for _ in range(steps):
        H = H_fn(theta, *data)
        mu = c * (g ** 2).sum(1) + 1e-15                  # + 1e-15: g = 0 exactly leaves H² singular
        # H² + μI is symmetric positive definite: Cholesky, not LU (torch 2.14.1's batched LU
        # solve on a CPU fails for P ≳ 200 after torch.set_num_threads(2), an MKL DLASWP error).
        # A start whose factorization fails (not PD in floating point) has its step refused.
        L, info = torch.linalg.cholesky_ex(H @ H + mu[:, None, None] * eye)
        ok = info == 0
        delta = torch.where(ok[:, None], -torch.cholesky_solve(H @ g[..., None], L)[..., 0], 0.0)
        g_new = g_fn(theta + delta, *data)
        better = ok & (g_new.norm(dim=1) < g.norm(dim=1))
        theta = torch.where(better[:, None], theta + delta, theta)
        g = torch.where(better[:, None], g_new, g)
        c = torch.where(better, c / 3, c * 3).clamp(1e-12, 1e12)
    return theta, g.norm(dim=1)


def gd_snapshots(loss, theta0: torch.Tensor, steps: int, lr: float, snapshots: int, *data):
    """Starts of the critical-point search: θ along GD trajectories θ ← θ − η∇L from each row of
    θ₀, taken at ``snapshots`` log-spaced steps: points of every loss from the init's down to
    near a minimum. Returns (starts (snapshots·R, P), the GD step of each)."""
    take = set(np.unique(np.geomspace(1, steps, snapshots).round().astype(int)) - 1)
    g_fn = vmap(grad(loss))
    theta, starts, when = theta0, [], []
    for t in range(steps):
        if t in take:
            starts.append(theta.clone())
            when += [t] * len(theta)
        theta = theta - lr * g_fn(theta, *data)
    return torch.cat(starts), np.array(when)


def index_energy(cfg: dict, seed: int, device="cpu") -> pd.DataFrame:
    """Critical points of ``repeats`` independent memorisation problems (random x, y ~ N(0, I)),
    ``trajectories`` GD runs each, all batched together, computed on ``device`` (the problems
    and inits are drawn on the host, so every device starts from the same numbers). One row per
    start."""
    gen = stream(seed, "index energy")
    n, N, K, R = cfg["n"], cfg["points"], cfg["repeats"], cfg["trajectories"]
    loss, P = tanh_net_loss(n, cfg["weight_decay"])
    X = torch.randn(K, N, n, generator=gen, dtype=F64)
    Y = torch.randn(K, N, n, generator=gen, dtype=F64)
    problem = torch.arange(K).repeat_interleave(R)                       # problem of each trajectory
    theta0 = torch.randn(K * R, P, generator=gen, dtype=F64) / math.sqrt(n)
    X, Y, theta0 = X.to(device), Y.to(device), theta0.to(device)
    on = problem.to(device)
    starts, when = gd_snapshots(loss, theta0, cfg["gd"]["steps"], cfg["gd"]["lr"], cfg["snapshots"],
                                X[on], Y[on])
    problem = problem.repeat(len(starts) // len(problem))               # snapshots are stacked
    on = problem.to(device)
    data = (X[on], Y[on])
    theta, gnorm = newton_critical_points(loss, starts, cfg["newton_steps"], *data)
    H = vmap(hessian(loss))(theta, *data)
    host = lambda t: t.cpu().numpy()
    return pd.DataFrame({"problem": problem.numpy(), "gd_step": when,
                         "loss": host(vmap(loss)(theta, *data)), "grad_norm": host(gnorm),
                         "index": host(index(H, cfg["eig_tol"])),
                         "converged": host(gnorm < cfg["grad_tol"]), "n_params": P})


# --- width: many SGD runs per number of hidden units -----------------------------------------

class Ensemble(nn.Module):
    """T one-hidden-layer ReLU nets d → H → K stored as stacked weights, evaluated at once:
    member t computes W₂ᵗ relu(W₁ᵗ x + b₁ᵗ) + b₂ᵗ. Each member is initialised as torch's
    ``nn.Linear`` (U(±1/√fan_in)) from its own generator. Input (B, d) shared by all members, or
    (T, B, d) one batch per member; output (T, B, K)."""

    def __init__(self, d: int, hidden: int, k: int, gens: list[torch.Generator]):
        super().__init__()

        def u(shape, fan_in, g):
            return (torch.rand(shape, generator=g) * 2 - 1) / math.sqrt(fan_in)

        self.W1 = nn.Parameter(torch.stack([u((hidden, d), d, g) for g in gens]))
        self.b1 = nn.Parameter(torch.stack([u((hidden,), d, g) for g in gens]))
        self.W2 = nn.Parameter(torch.stack([u((k, hidden), hidden, g) for g in gens]))
        self.b2 = nn.Parameter(torch.stack([u((k,), hidden, g) for g in gens]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.expand(len(self.W1), *x.shape) if x.dim() == 2 else x
        h = torch.relu(torch.einsum("tbd,thd->tbh", x, self.W1) + self.b1[:, None])
        return torch.einsum("tbh,tkh->tbk", h, self.W2) + self.b2[:, None]

    def member(self, t: int) -> nn.Module:
        """Member t as a plain ``models.MLP`` (Linear-ReLU-Linear) with the same weights."""
        net = models.MLP(self.W1.shape[2], (self.W1.shape[1],), self.W2.shape[1])
        with torch.no_grad():
            for layer, W, b in ((net[0], self.W1, self.b1), (net[2], self.W2, self.b2)):
                layer.weight.copy_(W[t])
                layer.bias.copy_(b[t])
        return net


def ensemble_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-member mean cross-entropy (T,) of logits (T, B, K) against labels (T, B) or (B,)."""
    y = y.expand(logits.shape[:2]) if y.dim() == 1 else y
    return nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none") \
        .view(logits.shape[:2]).mean(1)


def train_ensemble(ctx, ens: Ensemble, opt, x, y, cfg: dict, gen, ckpt, what,
                   snapshot=None) -> tuple[Status, dict]:
    """SGD on Σ_t L_t(θ_t): members share nothing, so each follows its own minibatch gradient
    (one shuffle per member). An elementwise optimizer (sgd, adam, ...) keeps them independent.

    Stopping rule (G-width-error; seed 003: "Achieve 0 training error with sufficiently large
    networks", Neyshabur 2015): every member trains ``epochs`` epochs (``snapshot()`` is called
    then: the fixed budget G-loss-histogram reads, as before the rule), then on until an epoch in which it
    misclassified no training example (counted on each minibatch's forward pass, before that
    step's update) or ``max_epochs``. A member that met the rule stops changing: after each step
    its parameters are put back (all members still compute, so the shuffles, the other members'
    steps and their numbers stay as in a run without the rule). The width ends when every
    member has stopped. Returns (status, {"epochs": epochs used per member, "reached": met the
    rule per member})."""
    T, n = len(ens.W1), len(x)
    E, cap = cfg["epochs"], cfg.get("max_epochs") or cfg["epochs"]
    params = list(ens.parameters())
    st = RunState(model=ens, opt=opt, gen=gen, active=torch.ones(T, dtype=torch.bool),
                  used=torch.zeros(T, dtype=torch.long), reached=torch.zeros(T, dtype=torch.bool),
                  frozen=[p.detach().clone() for p in params], snapshot=None)
    errors = torch.zeros(T, dtype=torch.long)

    def count(out, target):                          # training errors of each member's minibatches
        errors.add_((out.detach().argmax(-1) != target).sum(1).cpu())
        return ensemble_loss(out, target).sum()

    @torch.no_grad()
    def keep_stopped():
        if not st.active.all():
            for p, f in zip(params, st.frozen):
                p.copy_(torch.where(st.active.to(p.device).view(-1, *[1] * (p.dim() - 1)), p, f))

    def epoch_fn(epoch):
        errors.zero_()
        perms = torch.stack([torch.randperm(n, generator=gen, device=gen.device) for _ in range(T)])
        loss = train_epoch(ens, opt, x, y, batch_size=cfg["batch_size"], gen=gen,
                           batches=perms.split(cfg["batch_size"], dim=1), loss_fn=count,
                           after_step=keep_stopped)
        st.used = torch.where(st.active, torch.full_like(st.used, epoch), st.used)
        if epoch == E and snapshot is not None:
            st.snapshot = snapshot()                  # checkpointed with the run
        if epoch >= E:
            stop = st.active & (errors == 0)
            if stop.any():
                with torch.no_grad():
                    m = stop.to(params[0].device)
                    st.frozen = [torch.where(m.view(-1, *[1] * (p.dim() - 1)), p.detach(), f)
                                 for p, f in zip(params, st.frozen)]
                st.reached = st.reached | stop
                st.active = st.active & ~stop
        return loss

    status = ctx.fit(st, cap, epoch_fn, checkpoint=ckpt, what=what, until=lambda: not st.active.any())
    return status, {"epochs": st.used.numpy(), "reached": st.reached.numpy(), "snapshot": st.snapshot}


@torch.no_grad()
def ensemble_metrics(ens: Ensemble, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Per-member (mean cross-entropy, error rate) on (x, y)."""
    logits = ens(x)
    err = (logits.argmax(-1) != y).double().mean(1)
    return ensemble_loss(logits, y).cpu().numpy(), err.cpu().numpy()


def width_sweep(ctx, ds, cfg: dict, stages: Stages) -> tuple[pd.DataFrame, pd.DataFrame, Status]:
    """Tables ``width`` (every run after ``epochs`` epochs: G-loss-histogram's fixed budget) and
    ``width_stop`` (every run at its stopping point, ``train_ensemble``: G-width-error), one row
    per width and trial."""
    s, dev = ctx.settings, ctx.device

    def metrics(ens, H):
        tr_loss, tr_err = ensemble_metrics(ens, ds.x_train, ds.y_train)
        te_loss, te_err = ensemble_metrics(ens, ds.x_test, ds.y_test)
        return pd.DataFrame({"width": H, "trial": np.arange(cfg["repeats"]), "train_loss": tr_loss,
                             "train_err": tr_err, "test_loss": te_loss, "test_err": te_err})

    def width(H: int, ckpt) -> tuple[tuple[pd.DataFrame, pd.DataFrame], str]:
        gen = generator(stream_seed(s["seed"], "width", H), dev)
        gens = [stream(s["seed"], "width init", H, t) for t in range(cfg["repeats"])]
        ens = Ensemble(ds.n_features, H, ds.n_classes, gens).to(dev)
        opt = optimizers.build(ens.parameters(), cfg["optimizer"])
        st, stop = train_ensemble(ctx, ens, opt, ds.x_train, ds.y_train, cfg, gen, ckpt,
                                  f"width {H} epoch", snapshot=lambda: metrics(ens, H))
        at_stop = metrics(ens, H).assign(epochs=stop["epochs"], reached=stop["reached"],
                                         max_epochs=cfg.get("max_epochs") or cfg["epochs"],
                                         diverged=st != "ok")
        at_fixed = stop["snapshot"] if stop["snapshot"] is not None else at_stop.iloc[:, :6]  # diverged before
        return (at_fixed.assign(diverged=st != "ok"), at_stop), st

    results = [stages(f"width {H}", lambda ckpt: width(H, ckpt)) for H in cfg["widths"]]
    fixed = pd.concat([r[0][0] for r in results], ignore_index=True)
    stop = pd.concat([r[0][1] for r in results], ignore_index=True)
    statuses = [r[1] for r in results]
    return fixed, stop, Status.DIVERGED if Status.DIVERGED in statuses else Status.OK


# --- paths between solutions: permutation symmetry and mode connectivity --------------------------

def hidden_permutations(model: nn.Sequential, gen: torch.Generator) -> list[torch.Tensor]:
    """One uniformly random permutation of the units of each hidden layer."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    return [torch.randperm(m.out_features, generator=gen, device=gen.device) for m in linears[:-1]]


@torch.no_grad()
def permute_hidden(model: nn.Sequential, perms: list[torch.Tensor]) -> nn.Sequential:
    """A copy of the MLP with the units of hidden layer l reordered by perms[l]: rows of W_l and
    entries of b_l (and of the BatchNorm after it), columns of W_{l+1}. It computes the same
    function: each unit keeps its incoming and outgoing weights (seed 003: n! permutations)."""
    net = copy.deepcopy(model)
    layers = list(net)
    linears = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear)]
    for l, p in enumerate(perms):
        first, nxt = layers[linears[l]], layers[linears[l + 1]]
        first.weight.copy_(first.weight[p])
        if first.bias is not None:
            first.bias.copy_(first.bias[p])
        for m in layers[linears[l] + 1:linears[l + 1]]:
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                for t in (m.weight, m.bias, m.running_mean, m.running_var):
                    t.copy_(t[p])
        nxt.weight.copy_(nxt.weight[:, p])
    return net


def train_net(ctx, ds, cfg: dict, seed: int, ckpt, what: str) -> tuple[nn.Module, Status]:
    dev = ctx.device
    gen = generator(seed, dev)
    model = models.build(cfg["model"], ds.n_features, ds.n_classes).to(dev)
    opt = optimizers.build(model.parameters(), cfg["optimizer"])
    st = RunState(model=model, opt=opt, gen=gen)
    status = ctx.fit(st, cfg["epochs"],
                     lambda e: train_epoch(model, opt, ds.x_train, ds.y_train, cfg["batch_size"], gen),
                     checkpoint=ckpt, what=what)
    return model.eval(), status


def path_table(model, w0, w1, ds, ts, theta=None) -> pd.DataFrame:
    """Train loss / error and test loss / error along the segment (θ None) or the Bézier curve."""
    tr = landscape.curve_table(model, w0, w1, ds.x_train, ds.y_train, ts, theta, bn_inputs=ds.x_train)
    te = landscape.curve_table(model, w0, w1, ds.x_test, ds.y_test, ts, theta, bn_inputs=ds.x_train)
    return pd.DataFrame({"t": tr["t"], "train_loss": tr["loss"], "train_err": tr["err"],
                         "test_loss": te["loss"], "test_err": te["err"]})


def paths(ctx, ds, cfg: dict, stages: Stages) -> Status:
    """For each of ``repeats`` pairs of nets (A, B) trained from their own seeds: the segment from A
    to a hidden-unit-permuted copy πA, and the segment and the trained Bézier curve from A to B."""
    s, dev = ctx.settings, ctx.device
    ts = torch.linspace(0, 1, cfg["points"]).tolist()
    bz = cfg["bezier"]

    def pair(k: int, A: nn.Module, B: nn.Module) -> tuple[list[pd.DataFrame], dict]:
        gen = stream(s["seed"], "pair", k, device=dev)
        piA = permute_hidden(A, hidden_permutations(A, gen))
        with torch.no_grad():
            diff = (A(ds.x_test) - piA(ds.x_test)).abs().max().item()
        wA, wpiA, wB = flat_params(A), flat_params(piA), flat_params(B)
        theta = landscape.fit_bezier(A, wA, wB, ds.x_train, ds.y_train, bz["epochs"], bz["batch_size"],
                                     bz["optimizer"]["lr"], gen, optimizer=bz["optimizer"]["name"],
                                     **{k: v for k, v in bz["optimizer"].items() if k == "momentum"})
        # tidy keys (end: piA or B; shape: segment or bezier) beside the display label `path`
        return ([path_table(A, wA, wpiA, ds, ts).assign(pair=k, path="A → πA (segment)",
                                                        end="piA", shape="segment"),
                 path_table(A, wA, wB, ds, ts).assign(pair=k, path="A → B (segment)",
                                                      end="B", shape="segment"),
                 path_table(A, wA, wB, ds, ts, theta).assign(pair=k, path="A → B (Bézier curve)",
                                                             end="B", shape="bezier")],
                {"pair": k, "max_abs_output_diff": diff, "hidden_units": str(cfg["model"]["hidden"])})

    frames, perm_rows = [], []
    for k in range(cfg["repeats"]):
        nets = []
        for name in "AB":
            seed = stream_seed(s["seed"], f"net {name}", k)
            net, status = stages(f"net {name}{k}",
                                 lambda ckpt: train_net(ctx, ds, cfg, seed, ckpt, f"net {name}{k} epoch"))
            if status != Status.OK:
                return status
            nets.append(net.to(dev))
        tables, row = stages(f"pair {k}", lambda _: pair(k, *nets))
        frames += tables
        perm_rows.append(row)
    ctx.save_table("paths", pd.concat(frames, ignore_index=True))
    ctx.save_table("permutation", pd.DataFrame(perm_rows))
    return Status.OK
