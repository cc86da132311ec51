"""Loss and error of a model at points of weight space: planes, lines and curves through solutions.

Shared by family B (the SWA plane, flatness along random directions) and family G (mode
connectivity). Every point is a flat parameter vector aligned with ``models.flat_params``.

- Plane through three solutions, and curves between two:
  Garipov et al. 2018, "Loss Surfaces, Mode Connectivity, and Fast Ensembling of DNNs".
- Filter-normalized random directions:
  Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", sec. 4.

``loss_err`` writes θ into the model it is given; ``plane``, ``line`` and ``curve_table`` work on
a copy, so the caller's model keeps its parameters (and BatchNorm statistics).
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable, Sequence

import pandas as pd
import torch
from torch import nn
from torch.func import functional_call
from torch.optim.swa_utils import update_bn

from nnrepro.models import set_flat_params
from nnrepro.training import minibatches

Vector = torch.Tensor


# --- one point ---------------------------------------------------------------------------------

@torch.no_grad()
def loss_err(model: nn.Module, x: torch.Tensor, y: torch.Tensor, theta: Vector) -> tuple[float, float]:
    """Mean cross-entropy and error rate of the model with flat parameters θ on (x, y)."""
    set_flat_params(model, theta)
    was_training = model.training
    model.eval()                                  # BatchNorm: use the running statistics
    logits = model(x)
    model.train(was_training)
    loss = nn.functional.cross_entropy(logits, y).item()
    return loss, (logits.argmax(1) != y).float().mean().item()


# --- plane through three solutions (Garipov et al. 2018, sec. 3 / fig. 1) -------------------------

def plane_basis(w1: Vector, w2: Vector, w3: Vector) -> tuple[Vector, Vector]:
    """u = w₂ − w₁,  v = w₃ − w₁ − ⟨w₃ − w₁, û⟩û;  returns the orthonormal basis (û, v̂)."""
    u = w2 - w1
    u_hat = u / u.norm().clamp_min(1e-12)
    v = w3 - w1 - (w3 - w1).dot(u_hat) * u_hat
    v_hat = v / v.norm().clamp_min(1e-12)
    return u_hat, v_hat


def plane_coords(theta: Vector, w1: Vector, u_hat: Vector, v_hat: Vector) -> tuple[float, float]:
    """Coordinates (x, y) of θ in the plane with origin w₁ and basis (û, v̂)."""
    d = theta - w1
    return d.dot(u_hat).item(), d.dot(v_hat).item()


def plane(model: nn.Module, w1: Vector, w2: Vector, w3: Vector, x: torch.Tensor, y: torch.Tensor,
          points: int, margin: float = 0.3,
          extra: dict[str, Vector] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Loss and error on a ``points × points`` grid of the plane through w₁, w₂, w₃.

    Named points: the three, their average, then ``extra`` (e.g. {"SWA": w_swa}), at their
    coordinates in the plane. The grid covers them with ``margin`` × span on each side; the grid
    point (a, b) is w₁ + a·û + b·v̂. A finer picture is just a larger ``points``.
    Returns (grid: x, y, test_loss, test_err;  points: point, x, y, test_loss, test_err).
    """
    model = copy.deepcopy(model)
    u_hat, v_hat = plane_basis(w1, w2, w3)
    named = {"iterate 1": w1, "iterate 2": w2, "iterate 3": w3,
             "average of the 3": sum([w1, w2, w3]) / 3, **(extra or {})}
    pts = []
    for name, theta in named.items():
        a, b = plane_coords(theta, w1, u_hat, v_hat)
        loss, err = loss_err(model, x, y, theta)
        pts.append({"point": name, "x": a, "y": b, "test_loss": loss, "test_err": err})
    xs, ys = [p["x"] for p in pts], [p["y"] for p in pts]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-6)
    grid = []
    for a in torch.linspace(min(xs) - margin * span, max(xs) + margin * span, points).tolist():
        for b in torch.linspace(min(ys) - margin * span, max(ys) + margin * span, points).tolist():
            loss, err = loss_err(model, x, y, w1 + a * u_hat + b * v_hat)
            grid.append({"x": a, "y": b, "test_loss": loss, "test_err": err})
    return pd.DataFrame(grid), pd.DataFrame(pts)


# --- random directions through a solution --------------------------------------------------------

def random_direction(theta: Vector, generator: torch.Generator) -> Vector:
    """d ~ N(0, I), scaled to ‖d‖ = 1."""
    d = torch.randn(theta.shape, generator=generator, device=theta.device)
    return d / d.norm()


@torch.no_grad()
def filter_normalized_direction(model: nn.Module, generator: torch.Generator) -> Vector:
    """Li et al. 2018, eq. 1: d_{i,j} ← d_{i,j} / ‖d_{i,j}‖ · ‖θ_{i,j}‖ for every filter j of layer i.

    A filter is one output unit: a row of a Linear weight, one (in, kh, kw) slab of a Conv
    weight. Biases and BatchNorm parameters (1-d) get d = 0, as Li et al. ignore them.
    Flat, aligned with ``flat_params(model)``.
    """
    parts = []
    for p in model.parameters():
        if p.dim() < 2:
            parts.append(torch.zeros_like(p).flatten())
            continue
        d = torch.randn(p.shape, generator=generator, device=p.device, dtype=p.dtype)
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        theta_norm = p.flatten(1).norm(dim=1)
        scale = (theta_norm / d_norm).view(-1, *[1] * (p.dim() - 1))
        parts.append((d * scale).flatten())
    return torch.cat(parts)


def line(model: nn.Module, theta: Vector, direction: Vector, distances: Iterable[float],
         x: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """Loss and error at θ + t·d for each t in ``distances``: columns distance, loss, err."""
    model = copy.deepcopy(model)
    rows = []
    for t in distances:
        loss, err = loss_err(model, x, y, theta + t * direction)
        rows.append({"distance": t, "loss": loss, "err": err})
    return pd.DataFrame(rows)


# --- curves between two solutions (Garipov et al. 2018, sec. 3) ---------------------------------

def linear(w0: Vector, w1: Vector, t) -> Vector:
    """The segment: φ(t) = (1 − t)·w₀ + t·w₁."""
    return (1 - t) * w0 + t * w1


def bezier(w0: Vector, theta: Vector, w1: Vector, t) -> Vector:
    """Quadratic Bézier curve (Garipov et al. 2018, eq. 3): ends w₀, w₁, control point θ.

    φ_θ(t) = (1 − t)²·w₀ + 2t(1 − t)·θ + t²·w₁,  t ∈ [0, 1].
    """
    return (1 - t) ** 2 * w0 + 2 * t * (1 - t) * theta + t ** 2 * w1


def unflatten(model: nn.Module, vec: Vector) -> dict[str, torch.Tensor]:
    """Flat vector → {parameter name: tensor view}, for ``torch.func.functional_call``."""
    out, i = {}, 0
    for name, p in model.named_parameters():
        out[name] = vec[i:i + p.numel()].view_as(p)
        i += p.numel()
    return out


def garipov_lr_factor(epoch: int, epochs: int) -> float:
    """Factor of the base lr at ``epoch`` (0-based) of ``epochs``: Garipov et al.'s
    dnn-mode-connectivity train.py ``learning_rate_schedule``: alpha = epoch / total_epochs;
    "if alpha <= 0.5: factor = 1.0 / elif alpha <= 0.9: factor = 1.0 - (alpha - 0.5) / 0.4 * 0.99
    / else: factor = 0.01" (constant for half, linear to 1 % by 90 %, then 1 %)."""
    alpha = epoch / epochs
    if alpha <= 0.5:
        return 1.0
    if alpha <= 0.9:
        return 1.0 - (alpha - 0.5) / 0.4 * 0.99
    return 0.01


def fit_bezier(model: nn.Module, w0: Vector, w1: Vector, x: torch.Tensor, y: torch.Tensor,
               epochs: int, batch_size: int, lr: float, generator: torch.Generator,
               loss_fn: Callable = nn.functional.cross_entropy, optimizer: str = "sgd",
               momentum: float = 0.9) -> Vector:
    """Train the control point θ of the Bézier curve between fixed w₀, w₁ (Garipov et al., eq. 4).

    Minimise E_{t ~ U(0,1)} L(φ_θ(t)) stochastically: one t per minibatch, the loss of the
    network at φ_θ(t), gradients to θ through the curve. θ starts at (w₀ + w₁)/2.
    The lr is annealed per epoch by ``garipov_lr_factor`` (the source's schedule).
    ``optimizer``: "sgd" (with ``momentum``) or "adam". The model's own parameters are untouched
    (BatchNorm buffers, if any, are updated by the training-mode forward passes).
    """
    theta = ((w0 + w1) / 2).detach().clone().requires_grad_(True)
    opt = (torch.optim.Adam([theta], lr=lr) if optimizer == "adam"
           else torch.optim.SGD([theta], lr=lr, momentum=momentum))
    was_training = model.training
    model.train()
    for epoch in range(epochs):
        for group in opt.param_groups:                # Garipov et al. train.py: utils.adjust_learning_rate
            group["lr"] = lr * garipov_lr_factor(epoch, epochs)
        for idx in minibatches(len(x), batch_size, generator):
            t = torch.rand((), generator=generator, device=generator.device).to(theta.device)
            params = unflatten(model, bezier(w0, theta, w1, t))
            loss = loss_fn(functional_call(model, params, (x[idx],)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.train(was_training)
    return theta.detach()


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def curve_table(model: nn.Module, w0: Vector, w1: Vector, x: torch.Tensor, y: torch.Tensor,
                ts: Sequence[float], theta: Vector | None = None,
                bn_inputs: Iterable | None = None) -> pd.DataFrame:
    """Loss and error along the segment (θ None) or the Bézier curve φ_θ: columns t, loss, err.

    With BatchNorm and ``bn_inputs`` (x_train, [x_train] or a DataLoader), the statistics are
    recomputed at every φ(t) before evaluating, as Garipov et al. do: ``update_bn`` resets the
    running statistics and averages them cumulatively (momentum None) over one pass.
    """
    model = copy.deepcopy(model)
    if isinstance(bn_inputs, torch.Tensor):
        bn_inputs = [bn_inputs]                   # one batch, not an iterable of rows
    recompute = bn_inputs is not None and has_batchnorm(model)
    rows = []
    for t in ts:
        w = linear(w0, w1, t) if theta is None else bezier(w0, theta, w1, t)
        if recompute:
            set_flat_params(model, w)
            update_bn(bn_inputs, model)
        loss, err = loss_err(model, x, y, w)
        rows.append({"t": t, "loss": loss, "err": err})
    return pd.DataFrame(rows)


def barrier(losses: Iterable[float]) -> float:
    """Height of the loss barrier on a path: max_t L(φ(t)) − (L(φ(0)) + L(φ(1)))/2."""
    losses = [float(v) for v in losses]
    return max(losses) - (losses[0] + losses[-1]) / 2
