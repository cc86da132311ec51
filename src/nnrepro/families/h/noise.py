"""The power of family H's BatchNorm noise, arithmetic only (no torch): the experiment sets the
noise scale with it and the figures report it."""
from __future__ import annotations


def noise_power(mean: float, std_min: float, std_max: float) -> float:
    """E[μ²] + E[σ²] of ``BatchNoise``: the mean square of the noise added to an activation,
    for μ ~ U(−mean, mean), σ ~ U(std_min, std_max)."""
    e_sigma2 = (std_max ** 3 - std_min ** 3) / (3 * (std_max - std_min)) if std_max > std_min \
        else std_min ** 2
    return mean ** 2 / 3 + e_sigma2
