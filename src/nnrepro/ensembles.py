"""Ensembles: predictive distributions of one model or of a set of weight samples.

p(y|x, D) ≈ (1/S) Σ_s p(y|x, w_s),  w_s ~ p(w|D)   (seed 001, eq. 4: Bayes marginalization)
"""
from __future__ import annotations

import torch
from torch import nn

from nnrepro.metrics import evaluate


@torch.no_grad()
def predict_probs(model: nn.Module, x: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i:i + batch_size]).softmax(-1) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def ensemble_probs(member_probs: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """Mean predictive distribution over members (S, N, K) -> (N, K)."""
    if isinstance(member_probs, list):
        member_probs = torch.stack(member_probs)
    return member_probs.mean(0)


class RunningEnsemble:
    """Running mean of members' predictive probabilities, e.g. samples collected by a sampler."""

    def __init__(self):
        self.sum, self.count = None, 0

    def add(self, probs: torch.Tensor) -> None:
        self.sum = probs.double().clone() if self.sum is None else self.sum + probs
        self.count += 1

    @property
    def probs(self) -> torch.Tensor:
        return self.sum / self.count

    def evaluate(self, y: torch.Tensor) -> dict[str, float]:
        return evaluate(self.probs, y)

    def state_dict(self) -> dict:
        return {"sum": self.sum, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.sum, self.count = state["sum"], state["count"]
