"""The power of family H's BatchNorm noise, arithmetic only (no torch): the experiment sets the
noise scale with it and the figures report it.

The depth rule (issue 26, fixed before any accuracy was looked at). Each noisy BN layer adds noise
of power P (mean square) to a signal of unit variance; the next Linear and BN rescale the sum to
unit variance again, so the signal keeps the fraction 1/(1 + P) of the power at each of the L
noisy layers in series and 1/(1 + P)^L at the end. ``end_to_end``: the configured noise (power P₀
= ``noise_power(mean, std_min, std_max)``) is the power *end to end*, (1 + P)^L = 1 + P₀; with the
defaults (P₀ = 1) (1 + P)^L = 2, an end-to-end signal-to-noise ratio of 1. ``per_layer``: P = P₀ at
every layer (the old rule: SNR 1 in each of 10 layers left 1/1024 of the signal).
"""
from __future__ import annotations

import math


def noise_power(mean: float, std_min: float, std_max: float) -> float:
    """E[μ²] + E[σ²] of ``BatchNoise``: the mean square of the noise added to an activation,
    for μ ~ U(−mean, mean), σ ~ U(std_min, std_max)."""
    e_sigma2 = (std_max ** 3 - std_min ** 3) / (3 * (std_max - std_min)) if std_max > std_min \
        else std_min ** 2
    return mean ** 2 / 3 + e_sigma2


def per_layer_power(total: float, layers: int) -> float:
    """P with (1 + P)^layers = 1 + total: the per-layer noise power that leaves the signal the
    fraction 1/(1 + total) of the power after ``layers`` noisy layers in series."""
    return (1 + total) ** (1 / layers) - 1


def layer_noise(mean: float, std_min: float, std_max: float, layers: int,
                scale: str = "end_to_end") -> tuple[float, float, float]:
    """The (mean, std_min, std_max) each noisy layer uses: as configured (``per_layer``), or all
    three multiplied by c so that the power per layer is ``per_layer_power(P₀, layers)`` (the power
    is quadratic in them: c = √(P / P₀))."""
    if scale == "per_layer" or layers <= 1:
        return mean, std_min, std_max
    p0 = noise_power(mean, std_min, std_max)
    c = math.sqrt(per_layer_power(p0, layers) / p0) if p0 > 0 else 0.0
    return mean * c, std_min * c, std_max * c
