"""SWAG: a Gaussian over weights fitted to the SWA trajectory [Maddox et al. 2019].

Moments over the collected iterates θ₁…θ_n (flattened weights):
    θ̄ = (1/n) Σ θᵢ,   \\overline{θ²} = (1/n) Σ θᵢ²,   Σ_diag = diag(\\overline{θ²} − θ̄²)
and the deviation matrix D̂ of the last K iterates, columns θᵢ − θ̄ᵢ (θ̄ at the time of collection).
A sample (K = rank, ``scale`` = 0.5 in the paper):
    θ̃ = θ̄ + √scale · ( Σ_diag^{1/2} z₁ + D̂ z₂ / √(K−1) ),   z₁ ~ N(0, I_d), z₂ ~ N(0, I_K)
(diagonal SWAG drops the D̂ term). Seed 001, "SWAG", steps 3–4.
"""
from __future__ import annotations

import torch
from torch import nn

from nnrepro.models import flat_params, set_flat_params


class SWAG:
    def __init__(self, n_params: int, rank: int = 20, device: torch.device | str = "cpu"):
        self.rank = rank
        self.n = 0
        self.mean = torch.zeros(n_params, dtype=torch.float64, device=device)
        self.sq_mean = torch.zeros_like(self.mean)
        self.deviations: list[torch.Tensor] = []   # last K columns of D̂

    def collect(self, model: nn.Module) -> None:
        theta = flat_params(model).double()
        self.n += 1
        self.mean += (theta - self.mean) / self.n                   # running θ̄
        self.sq_mean += (theta ** 2 - self.sq_mean) / self.n        # running mean of θ²
        self.deviations.append((theta - self.mean).float())         # D̂ column θᵢ − θ̄ᵢ
        self.deviations = self.deviations[-self.rank:]

    @property
    def variance(self) -> torch.Tensor:
        return (self.sq_mean - self.mean ** 2).clamp_min(1e-30)    # Σ_diag

    def sample(self, gen: torch.Generator, scale: float = 0.5, diagonal: bool = False) -> torch.Tensor:
        z1 = torch.randn(self.mean.shape, generator=gen, device=self.mean.device, dtype=torch.float64)
        noise = self.variance.sqrt() * z1                           # Σ_diag^{1/2} z₁
        k = len(self.deviations)
        if not diagonal and k > 1:
            D = torch.stack(self.deviations, 1).double()            # d × K
            z2 = torch.randn(k, generator=gen, device=D.device, dtype=torch.float64)
            noise = noise + D @ z2 / (k - 1) ** 0.5                 # + D̂ z₂ / √(K−1)
        return (self.mean + scale ** 0.5 * noise).float()

    def sample_model(self, model: nn.Module, gen: torch.Generator, scale: float = 0.5,
                     diagonal: bool = False, bn_inputs: list[torch.Tensor] | None = None) -> nn.Module:
        """Load a sample into ``model``; recompute BatchNorm statistics for it if it has any."""
        set_flat_params(model, self.sample(gen, scale, diagonal))
        if bn_inputs is not None and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                         for m in model.modules()):
            torch.optim.swa_utils.update_bn(bn_inputs, model)
        return model

    def state_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "sq_mean": self.sq_mean,
                "deviations": self.deviations, "rank": self.rank}

    def load_state_dict(self, s: dict) -> None:
        dev = self.mean.device
        self.n, self.rank = s["n"], s["rank"]
        self.mean, self.sq_mean = s["mean"].to(dev), s["sq_mean"].to(dev)
        self.deviations = [d.to(dev) for d in s["deviations"]]
