"""Family K (seed 001, "Network Motivation: Gaussian Process"): the neural tangent kernel.

A two-layer net in the NTK parameterisation,
    f(x; θ) = (1/√m) Σ_j a_j σ(w_j x + b_j),   θ = (w, b, a), every entry ~ N(0, 1),
is trained by full-batch GD on L(θ) = ½ Σ_μ (f(x^μ; θ) − y^μ)² with step η. Seed 001:
    df(x)/dt = −Σ_μ K_NTK(x, x^μ; θ₀) (f(x^μ) − y^μ),   K_NTK(x, x') = ∇_θ f(x; θ₀) · ∇_θ f(x'; θ₀),
and gradient flow to zero error gives f(x) = yᵀK⁻¹k(x). For GD with step η the linearised net
has residual r_t = (I − ηK)^t r₀ on the data, hence at every x
    f_lin(x, t) = f₀(x) + k(x)ᵀ K⁻¹ (I − (I − ηK)^t) (y − f₀(X))   →   yᵀK⁻¹k(x)   (t → ∞, f₀ ≡ 0).
f₀ ≡ 0 exactly: hidden units come in pairs (w, b, a), (w, b, −a) (the doubling trick of Chizat &
Bach 2019), so the document's predictor needs no f₀ term. As m grows the trained net approaches
its linearisation (Lee et al. 2019: ‖θ_t − θ₀‖/‖θ₀‖ = O(m^{-1/2})); the runs measure the gap.

Everything in float64 on the CPU (1-D data: a few thousand GD steps of a small matrix product).
Tables: gap (one row per width and trial), curves (the predictors on a grid), data. Each net is
a stage (``training.Stages``): a killed run retrains only the net it was in.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from nnrepro import synthetic
from nnrepro.models import ACTIVATIONS, flat_params
from nnrepro.results import Status
from nnrepro.training import stream

F64 = torch.float64


class TwoLayer(nn.Module):
    """f(x) = (1/√m) Σ_j a_j σ(w_j x + b_j) on scalar inputs x (N,) -> (N,); m even, the second
    half of the units copies the first with a → −a, so f ≡ 0 at init."""

    def __init__(self, width: int, activation: str = "relu", generator: torch.Generator | None = None):
        super().__init__()
        if width % 2:
            raise ValueError(f"width must be even (units come in ± pairs), got {width}")
        w, b, a = (torch.randn(width // 2, generator=generator, dtype=F64) for _ in range(3))
        self.w, self.b = nn.Parameter(torch.cat([w, w])), nn.Parameter(torch.cat([b, b]))
        self.a = nn.Parameter(torch.cat([a, -a]))
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x[:, None] * self.w + self.b) @ self.a / math.sqrt(self.a.numel())


def empirical_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """K(x, x') = ∇_θ f(x; θ)·∇_θ f(x'; θ) for every pair of rows of x1, x2 (a scalar-output
    model); per-example Jacobians by torch.func (jacrev, vmapped over the examples)."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, x):                                     # one example -> scalar
        return functional_call(model, p, (x.unsqueeze(0),)).reshape(())

    j1, j2 = (vmap(jacrev(f), in_dims=(None, 0))(params, x) for x in (x1, x2))
    return sum(j1[k].flatten(1) @ j2[k].flatten(1).T for k in params)


def kernel_predictor(K: torch.Tensor, k_x: torch.Tensor, r0: torch.Tensor, eta: float,
                     steps: int | None) -> torch.Tensor:
    """k(x)ᵀ K⁻¹ (I − (I − ηK)^t) r₀ for each row k(x) of k_x (G, N); t = ``steps``, or the
    t → ∞ limit k(x)ᵀK⁻¹r₀ when None. In K's eigenbasis K = U diag(λ) Uᵀ the matrix is
    U diag((1 − (1 − ηλ)^t)/λ) Uᵀ (→ ηt as λ → 0)."""
    lam, U = torch.linalg.eigh(K)
    if steps is None:
        d = 1 / lam
    else:
        small = lam.abs() < 1e-12 * lam.abs().max()
        d = torch.where(small, eta * steps * torch.ones_like(lam),
                        (1 - (1 - eta * lam) ** steps) / torch.where(small, torch.ones_like(lam), lam))
    return k_x @ (U @ (d * (U.T @ r0)))


def train_gd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eta: float, steps: int) -> float:
    """Full-batch GD θ ← θ − η∇L, L = ½Σ(f − y)²; returns the final training RMSE."""
    opt = torch.optim.SGD(model.parameters(), lr=eta)
    for _ in range(steps):
        loss = 0.5 * ((model(x) - y) ** 2).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return ((model(x) - y) ** 2).mean().sqrt().item()


def one_width(width: int, trial: int, x, y, grid, s: dict):
    """Train one net of ``width`` and compare it with its kernel predictors on ``grid``."""
    g = stream(s["seed"], "net", width, trial)
    net = TwoLayer(width, s["activation"], g)
    theta0 = flat_params(net).clone()
    K, k_grid = empirical_ntk(net, x, x), empirical_ntk(net, grid, x)
    lam = torch.linalg.eigvalsh(K)
    eta = s["lr_scale"] / lam.max().item()           # GD on the linear model is stable for η < 2/λ_max
    rmse = train_gd(net, x, y, eta, s["steps"])
    with torch.no_grad():
        f_net = net(grid)
    f_lin = kernel_predictor(K, k_grid, y, eta, s["steps"])       # f₀ ≡ 0: r₀ = y
    f_inf = kernel_predictor(K, k_grid, y, eta, None)             # yᵀK⁻¹k(x)
    rms = lambda v: v.pow(2).mean().sqrt().item()
    row = {"width": width, "trial": trial, "eta": eta, "steps": s["steps"],
           "lambda_min": lam.min().item(), "lambda_max": lam.max().item(),
           "gap": rms(f_net - f_lin), "gap_inf": rms(f_net - f_inf),
           "rel_change": ((flat_params(net) - theta0).norm() / theta0.norm()).item(),
           "train_rmse": rmse}
    curve = pd.DataFrame({"width": width, "trial": trial, "x": grid.numpy(), "net": f_net.numpy(),
                          "kernel": f_lin.numpy(), "kernel_inf": f_inf.numpy()})
    return row, curve


def run(ctx) -> Status:
    s = ctx.settings
    x, y = synthetic.regression_1d(s["n"], [s["interval"]], s["noise"], s["seed"])
    lo, hi = s["interval"]
    grid_np = np.linspace(lo - 0.5, hi + 0.5, s["grid_points"])
    x, y, grid = (torch.from_numpy(v).to(F64) for v in (x, y, grid_np))
    stages = ctx.stages()                                # a killed run keeps its finished nets
    rows, curves = zip(*[stages(f"width {width} trial {trial}",
                                lambda _: one_width(width, trial, x, y, grid, s))
                         for width in s["widths"] for trial in range(s["repeats"])])
    ctx.save_table("gap", pd.DataFrame(list(rows)))
    ctx.save_table("curves", pd.concat(curves, ignore_index=True))
    ctx.save_table("data", pd.DataFrame({"x": x.numpy(), "y": y.numpy()}))
    ctx.save_table("truth", pd.DataFrame({"x": grid_np, "f": synthetic.true_function(grid_np)}))
    return Status.OK
