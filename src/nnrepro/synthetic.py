"""Synthetic data sets (seeded, float64 numpy) for the families that need no download.

``least_squares``: an overparameterized regression Y = W X with fewer points than inputs (N < d).
``separable``: labelled points whose hard-margin SVM direction is known by construction.
``regression_1d``: y = x sin x + noise on a union of intervals (families F and K).
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


def true_function(x: np.ndarray) -> np.ndarray:
    """The 1-D regression target of families F and K: f(x) = x sin x."""
    return x * np.sin(x)


def regression_1d(n: int, intervals, noise: float = 0.0, seed: int = 0):
    """N points x uniform on a union of intervals [[a, b], ...] (a gap between them is a region
    without data), sorted; y = x sin x + N(0, noise²). Returns x (N,), y (N,)."""
    rng = np.random.default_rng(seed)
    iv = np.asarray(intervals, dtype=float).reshape(-1, 2)
    lengths = iv[:, 1] - iv[:, 0]
    which = rng.choice(len(iv), size=n, p=lengths / lengths.sum())
    x = np.sort(iv[which, 0] + rng.random(n) * lengths[which])
    return x, true_function(x) + noise * rng.standard_normal(n)
