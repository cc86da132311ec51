"""Optimizers written from scratch (seed 001, "Dimension Varied Oscillation" and "Stationary Point").

Each is a ``torch.optim.Optimizer`` whose ``step`` is the update of the document, written next
to its equation; defaults follow ``torch.optim`` so that the two give the same parameters
(tests/test_optimizers.py checks 100 steps on an MLP to 1e-6).
"""
from __future__ import annotations

import torch
from torch.optim import Optimizer


class _FromScratch(Optimizer):
    """Shared loop: calls ``self.update(p, grad, state, group)`` for every parameter with a grad."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group.get("weight_decay", 0.0):
                    g = g.add(p, alpha=group["weight_decay"])  # ∇(f + wd/2‖w‖²)
                state = self.state[p]
                state["step"] = state.get("step", 0) + 1
                self.update(p, g, state, group)
        return loss

    def update(self, p, g, state, group):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(_FromScratch):
    """Gradient descent with (heavy-ball) momentum: v ← μ v + g, w ← w − α v."""

    def __init__(self, params, lr=1e-2, momentum=0.0, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def update(self, p, g, state, group):
        if group["momentum"]:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.clone()
            else:
                state["momentum_buffer"].mul_(group["momentum"]).add_(g)
            g = state["momentum_buffer"]
        p.add_(g, alpha=-group["lr"])


class Adagrad(_FromScratch):
    """Adagrad [Duchi 2011]: S ← S + g⊙g,  w ← w − α g / (√S + ε).

    S only grows, so the effective step α/√S → 0 ("w is not updated anymore").
    """

    def __init__(self, params, lr=1e-2, eps=1e-10, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay))

    def update(self, p, g, state, group):
        if "sum" not in state:
            state["sum"] = torch.zeros_like(p)
        state["sum"].addcmul_(g, g)                                   # S_dw += g ⊙ g
        p.addcdiv_(g, state["sum"].sqrt().add_(group["eps"]), value=-group["lr"])


class RMSprop(_FromScratch):
    """RMSprop [Tieleman 2012]: S ← β S + (1−β) g⊙g,  w ← w − α g / (√S + ε).

    ``alpha`` is torch's name for the document's β₁ (the decay of the running average).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    def update(self, p, g, state, group):
        if "square_avg" not in state:
            state["square_avg"] = torch.zeros_like(p)
        s = state["square_avg"].mul_(group["alpha"]).addcmul_(g, g, value=1 - group["alpha"])
        p.addcdiv_(g, s.sqrt().add_(group["eps"]), value=-group["lr"])


class Adam(_FromScratch):
    """Adam [Kingma 2015], eq. (3) of seed 001 with bias correction.

    The document writes S for the second moment (decay β₁ = 0.999 in its naming) and V for the
    first (β₂ = 0.9); here, as in the paper and torch, β₁ = 0.9 is the first moment's decay:
        m ← β₁ m + (1−β₁) g,   v ← β₂ v + (1−β₂) g⊙g,
        w ← w − α m̂ / (√v̂ + ε),  m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ).
    ``amsgrad=True`` keeps v̂ non-decreasing, v_max ← max(v_max, v) [Reddi et al. 2018].
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p)
        t = state["step"]
        m = state["exp_avg"].lerp_(g, 1 - beta1)                        # m ← β₁m + (1−β₁)g
        v = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v ← β₂v + (1−β₂)g²
        if group["amsgrad"]:
            v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
        denom = (v.sqrt() / bc2 ** 0.5).add_(group["eps"])                 # √v̂ + ε
        p.addcdiv_(m, denom, value=-group["lr"] / bc1)                     # w ← w − α m̂/(√v̂+ε)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam}


def build(params, cfg: dict) -> Optimizer:
    """``{"name": "adam", "lr": 1e-3, ...}`` -> an optimizer of this module."""
    cfg = dict(cfg)
    name = cfg.pop("name")
    if name == "amsgrad":
        name, cfg["amsgrad"] = "adam", True
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, **cfg)


def cyclic_lr(cycle_steps: int, min_ratio: float):
    """SWA's cyclic schedule (Izmailov et al. 2018) as a LambdaLR factor: within each cycle the
    lr falls linearly from α₁ to α₂ = min_ratio·α₁."""
    return lambda step: 1 - (1 - min_ratio) * (step % cycle_steps) / max(cycle_steps - 1, 1)


# --- Family D: steepest descent in other geometries (seed 003 "Proximal Problem", "Trust Region
# Problem"; seed 001 eq. (2)). Each step solves min_Δ J·Δ + (distance term) in closed form, per
# parameter tensor ("normalizing per layer / tensor of parameters", seed 003 conclusions).


class Normalized(_FromScratch):
    """Trust-region step, seed 003: min_{‖Δ‖ ≤ ε} J·Δ  ⇒  Δ = −ε J/‖J‖₂  (ε is ``lr``).

    ``coordinatewise=True`` is the per-coordinate trust region min_{|Δᵢ| ≤ ε} J·Δ, whose step is
    Δᵢ = −ε Jᵢ/|Jᵢ| = −ε sign(Jᵢ). The step length is ε whatever the gradient's magnitude; a zero
    gradient gives no step.
    """

    def __init__(self, params, lr=1e-2, coordinatewise=False, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, coordinatewise=coordinatewise,
                                      weight_decay=weight_decay))

    def update(self, p, g, state, group):
        if group["coordinatewise"]:
            p.add_(g.sign(), alpha=-group["lr"])                           # Δᵢ = −ε sign(Jᵢ)
        else:
            norm = g.norm()
            if norm > 0:
                p.add_(g / norm, alpha=-group["lr"])                       # Δ = −ε J/‖J‖₂


class PNorm(_FromScratch):
    """Steepest descent in the p-norm, 1 < p < ∞ (seed 003 "p-norm SGD").

    The seed's step direction is Δᵢ ∝ −sign(Jᵢ)|Jᵢ|^{1/(p−1)}. Its length depends on the problem
    solved; both are exact here:

    * ``normalize=True`` (trust region): min_{‖Δ‖_p ≤ ε} J·Δ gives
      Δ = −ε s/‖s‖_p, s = sign(J)|J|^{1/(p−1)}, so ‖Δ‖_p = ε (p=2: ``Normalized``; p→∞: sign step;
      p→1: a step along the largest |Jᵢ| only).
    * ``normalize=False`` (proximal): min_Δ J·Δ + ‖Δ‖_p^p/(pα) gives Δᵢ = −sign(Jᵢ)(α|Jᵢ|)^{1/(p−1)}.
      The seed writes α outside the power, which is this minimiser only for p = 2 or α = 1.
    """

    def __init__(self, params, lr=1e-2, p=2.0, normalize=True, weight_decay=0.0):
        if not 1 < p < float("inf"):
            raise ValueError(f"p must be in (1, inf), got {p}")
        super().__init__(params, dict(lr=lr, p=float(p), normalize=normalize,
                                      weight_decay=weight_decay))

    def update(self, p, g, state, group):
        q1 = 1.0 / (group["p"] - 1.0)                                      # 1/(p−1) = q−1, q dual
        if group["normalize"]:
            scale = g.abs().max()
            if scale == 0:
                return
            s = g.sign() * (g.abs() / scale).pow(q1)                       # s ∝ sign(J)|J|^{1/(p−1)}
            p.add_(s / s.norm(p=group["p"]), alpha=-group["lr"])           # Δ = −ε s/‖s‖_p
        else:
            step = g.sign() * (g.abs() * group["lr"]).pow(q1)              # sign(Jᵢ)(α|Jᵢ|)^{1/(p−1)}
            p.sub_(step)                                                   # Δ = −step


class Mahalanobis(_FromScratch):
    """Steepest descent in the metric ‖Δ‖_M² = ΔᵀMΔ, M symmetric positive definite (seed 003):
    min_Δ J·Δ + ΔᵀMΔ/(2α)  ⇒  Δ = −α M⁻¹Jᵀ. (The seed writes ‖Δ‖_M unsquared; its stated step is
    the minimiser of the squared form.) Adagrad is the case M = diag(√Σg²) (seed 001 eq. (2)).

    ``metric`` is an n×n matrix applied to each parameter flattened to n entries.
    """

    def __init__(self, params, lr=1e-2, metric=None, weight_decay=0.0):
        if metric is None:
            raise ValueError("Mahalanobis needs a metric matrix M")
        metric = torch.as_tensor(metric)
        super().__init__(params, dict(lr=lr, metric=metric, weight_decay=weight_decay))

    def update(self, p, g, state, group):
        if "chol" not in state:
            m = group["metric"].to(device=p.device, dtype=p.dtype)
            if m.shape != (p.numel(), p.numel()):
                raise ValueError(f"metric {tuple(m.shape)} does not match a parameter of "
                                 f"{p.numel()} entries")
            state["chol"] = torch.linalg.cholesky(m)                       # M = LLᵀ, M must be SPD
        step = torch.cholesky_solve(g.reshape(-1, 1), state["chol"])       # M⁻¹Jᵀ
        p.add_(step.view_as(p), alpha=-group["lr"])                        # Δ = −α M⁻¹Jᵀ


OPTIMIZERS.update(normalized=Normalized, pnorm=PNorm, mahalanobis=Mahalanobis)
