"""Metrics of a predictive distribution: accuracy, NLL, ECE, Brier score.

Every family evaluates single models and ensembles with these, so numbers are comparable.
ECE is computed here as torchmetrics' ``MulticlassCalibrationError`` (15 equal-width bins of the
top-class confidence, L1) does; importing torchmetrics costs ~3 s per process, and jobs here are
short, so tests check this against torchmetrics instead.
"""
from __future__ import annotations

import torch


def ece(probs: torch.Tensor, y: torch.Tensor, n_bins: int = 15) -> float:
    """Σ_b (|B_b|/N) · |acc(B_b) − conf(B_b)| over equal-width bins of the top-class confidence."""
    conf, pred = probs.max(1)
    correct = (pred == y).double()
    bins = torch.clamp((conf * n_bins).ceil().long() - 1, 0, n_bins - 1)  # (k/n, (k+1)/n]
    count = torch.zeros(n_bins, dtype=torch.float64, device=probs.device)
    count.index_add_(0, bins, torch.ones_like(correct))
    gap = torch.zeros_like(count).index_add_(0, bins, conf.double() - correct)
    return (gap.abs().sum() / len(y)).item()


def evaluate(probs: torch.Tensor, y: torch.Tensor, n_bins: int = 15) -> dict[str, float]:
    """``probs``: (N, K) predictive probabilities; ``y``: (N,) labels."""
    probs = probs.double()
    acc = (probs.argmax(1) == y).double().mean().item()
    nll = -probs.gather(1, y[:, None]).clamp_min(1e-300).log().mean().item()  # mean NLL
    onehot = torch.nn.functional.one_hot(y, probs.shape[1]).double()
    brier = (probs - onehot).pow(2).sum(1).mean().item()
    return {"acc": acc, "err": 1 - acc, "nll": nll, "ece": ece(probs, y, n_bins), "brier": brier}
