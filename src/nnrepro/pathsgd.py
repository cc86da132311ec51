"""Path-SGD (Neyshabur, Salakhutdinov & Srebro 2015, "Path-SGD: Path-Normalized Optimization in
Deep Neural Networks"; seed 003, "Gradient Descent under Reparameterization").

A bias-free ReLU net is a chain of weight matrices W_1 … W_L (``models.MLP(bias=False)``). ReLU is
1-homogeneous, so multiplying the weights into a hidden unit by c > 0 and dividing the weights out
of it by c leaves the function unchanged (``rescale``), but changes SGD's gradient (seed 003:
f(Aw) = f(w), ∂f(Aw)/∂w ≠ ∂f(w)/∂w). Path-SGD is steepest descent in the path norm

    γ₂²(w) = Σ_{paths v_in[i] → e₁ → … → e_L → v_out[j]} Π_k w_{e_k}²,

which every such rescaling leaves unchanged. Its approximate steepest-descent step (the paper's
update for p = 2):

    w_e ← w_e − η / κ_e(w) · ∂L/∂w_e,   κ_e(w) = Σ_{paths through e} Π_{e' ≠ e on the path} w_{e'}²

and for the edge e = (unit i of layer l−1 → unit j of layer l), κ_e = γ_in(i) · γ_out(j), where
γ_in and γ_out are the squared-weight path sums from the inputs and to the outputs: one forward
and one backward pass of the linear net with weights W ⊙ W on a vector of ones.
Under the rescaling of unit j, ∂L/∂w_e → ∂L/∂w_e / c and κ_e → κ_e / c² for e into j, so the
step Δw_e → c·Δw_e: exactly the step of the original net, rescaled.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.optim import Optimizer


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


@torch.no_grad()
def path_scaling(weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """κ for every weight of the chain W_1 … W_L (W_l of shape out × in): κ_l = γ_out,l ⊗ γ_in,l−1."""
    sq = [w * w for w in weights]
    gamma_in = [torch.ones(sq[0].shape[1], dtype=sq[0].dtype, device=sq[0].device)]
    for s in sq[:-1]:
        gamma_in.append(s @ gamma_in[-1])                 # γ_in(j) = Σ_i w_ij² γ_in(i)
    gamma_out = [torch.ones(sq[-1].shape[0], dtype=sq[-1].dtype, device=sq[-1].device)]
    for s in reversed(sq[1:]):
        gamma_out.insert(0, s.T @ gamma_out[0])           # γ_out(i) = Σ_j w_ij² γ_out(j)
    return [torch.outer(g_out, g_in) for g_out, g_in in zip(gamma_out, gamma_in)]


def path_norm(weights: list[torch.Tensor]) -> torch.Tensor:
    """γ₂(w) = (Σ_paths Π w_e²)^{1/2} = (1ᵀ (W_L⊙W_L) … (W_1⊙W_1) 1)^{1/2}."""
    v = torch.ones(weights[0].shape[1], dtype=weights[0].dtype, device=weights[0].device)
    for w in weights:
        v = (w * w) @ v
    return v.sum().sqrt()


class PathSGD(Optimizer):
    """Path-SGD for a chain of bias-free Linear weights, given in order from input to output
    (``[m.weight for m in linear_layers(model)]``): w ← w − η ∇L / κ (module docstring)."""

    def __init__(self, weights, lr: float):
        weights = list(weights)
        if any(w.dim() != 2 for w in weights) or any(
                a.shape[0] != b.shape[1] for a, b in zip(weights[:-1], weights[1:])):
            raise ValueError("PathSGD needs the weight matrices of a bias-free chain, input to output")
        super().__init__(weights, dict(lr=lr))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            ws = group["params"]
            for w, kappa in zip(ws, path_scaling(ws)):
                if w.grad is not None:
                    w.addcdiv_(w.grad, kappa, value=-group["lr"])     # w_e −= η/κ_e ∂L/∂w_e
        return loss


@torch.no_grad()
def rescale(model: nn.Module, layer: int, c: float) -> nn.Module:
    """A copy computing the same function: Linear ``layer``'s weights × c, the next one's ÷ c
    (ReLU(c·z) = c·ReLU(z) for c > 0). Needs a bias-free net (a bias would have to scale too)."""
    if c <= 0:
        raise ValueError(f"rescaling needs c > 0, got {c}")
    out = copy.deepcopy(model)
    lin = linear_layers(out)
    if any(m.bias is not None for m in lin):
        raise ValueError("rescale needs a bias-free network (MLP(bias=False))")
    lin[layer].weight.mul_(c)
    lin[layer + 1].weight.div_(c)
    return out


@torch.no_grad()
def rescale_units(model: nn.Module, factors: list[torch.Tensor]) -> nn.Module:
    """A copy computing the same function: the rescaling ρ_{d,v} (Neyshabur et al. 2015 §2) of
    every hidden unit v at once: the weights into unit j of hidden layer l × factors[l][j], the
    weights out of it ÷ factors[l][j]. ``factors``: one positive vector per hidden layer."""
    out = copy.deepcopy(model)
    lin = linear_layers(out)
    if any(m.bias is not None for m in lin):
        raise ValueError("rescale needs a bias-free network (MLP(bias=False))")
    if len(factors) != len(lin) - 1 or any((d <= 0).any() for d in factors):
        raise ValueError("one positive factor per hidden unit of every hidden layer")
    for l, d in enumerate(factors):
        d = d.to(lin[l].weight)
        lin[l].weight.mul_(d[:, None])
        lin[l + 1].weight.div_(d[None, :])
    return out


def unbalancing_factors(model: nn.Module, c: float, gen: torch.Generator) -> list[torch.Tensor]:
    """An unbalanced rescaling: one factor d = c^u, u ~ U(−1, 1), per hidden unit, so that the
    norms of the weights into the units of a layer spread over a factor up to c² (Neyshabur et
    al. 2015 call a net balanced when these norms lie within a small range; their fig. 1 unbalances
    a balanced init "by a sequence of rescaling functions")."""
    lin = linear_layers(model)
    return [c ** (torch.rand(m.out_features, generator=gen, dtype=torch.float64) * 2 - 1)
            for m in lin[:-1]]
