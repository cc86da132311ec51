"""Synthetic data sets (seeded, float64 numpy) for the families that need no download.

``least_squares``: an overparameterized regression Y = W X with fewer points than inputs (N < d).
``separable``: labelled points whose hard-margin SVM direction is known by construction.
"""
from __future__ import annotations

import numpy as np


def least_squares(n: int, d: int, outputs: int = 1, seed: int = 0):
    """X (d×N) with columns x_n ~ N(0, I/d) (so ‖x_n‖ ≈ 1), targets Y (outputs×N) ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((d, n)) / np.sqrt(d), rng.standard_normal((outputs, n))


def separable(n: int, gamma: float = 0.5, gap: float = 1.5, seed: int = 0):
    """N points in the plane, labels ±1, separable through the origin with SVM direction u.

    Two support vectors lie on the margin, z = y x = γu ± a v (v ⊥ u, unequal a's so that the
    GD trajectory is not trivially along u); every other point has y uᵀx ≥ gap·γ. Since u is a
    positive combination of the two support vectors, ŵ = u/γ is the hard-margin SVM (KKT).
    Returns X (N×2), y (N,), ŵ.
    """
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, 2 * np.pi)
    u, v = np.array([np.cos(theta), np.sin(theta)]), np.array([-np.sin(theta), np.cos(theta)])
    z = [gamma * u + 0.6 * v, gamma * u - 1.4 * v]           # support vectors (y x)
    while len(z) < n:
        c = rng.standard_normal(2)
        if c[0] >= gap * gamma:                               # margin well above the SVM's
            z.append(c[0] * u + c[1] * v)
    z = np.array(z)
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    y[:2] = [1.0, -1.0]
    return z * y[:, None], y, u / gamma
