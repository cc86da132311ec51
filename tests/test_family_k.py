"""Family K: the empirical NTK, the kernel predictor against linearised GD, the claim, end to end."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from nnrepro.runner import Env, run
from nnrepro.families.k import experiment as k
from nnrepro.catalogue import FIGURE_INFO, FIGURES
from nnrepro.render import render
from nnrepro.families.k.figures import k_ntk, loglog_slope, ntk_claim, ntk_figure_claim, slopes_per_trial
from nnrepro.results import NoData, Results

from conftest import tiny

# tests/test_resume.py resumes this family's tiny run
RESUME_POINT = {}

F64 = torch.float64


def test_empirical_ntk_of_a_linear_model_is_the_gram_matrix():
    g = torch.Generator().manual_seed(0)
    X, Z = torch.randn(7, 5, generator=g, dtype=F64), torch.randn(3, 5, generator=g, dtype=F64)
    lin = nn.Linear(5, 1, bias=False).to(F64)
    assert torch.allclose(k.empirical_ntk(lin, X, X), X @ X.T, atol=1e-12)
    assert torch.allclose(k.empirical_ntk(lin, Z, X), Z @ X.T, atol=1e-12)
    with_bias = nn.Linear(5, 1).to(F64)                       # ∂f/∂b = 1 adds 1 to every entry
    assert torch.allclose(k.empirical_ntk(with_bias, X, X), X @ X.T + 1, atol=1e-12)


def test_two_layer_net_is_zero_at_init_and_its_ntk_is_symmetric_psd():
    net = k.TwoLayer(64, "tanh", torch.Generator().manual_seed(1))
    x = torch.linspace(-3, 3, 9, dtype=F64)
    assert net(x).abs().max() < 1e-12                          # ± pairs cancel
    K = k.empirical_ntk(net, x, x)
    assert torch.allclose(K, K.T, atol=1e-12) and torch.linalg.eigvalsh(K).min() > -1e-10
    # against autograd one example at a time
    grads = [torch.cat([gr.flatten() for gr in torch.autograd.grad(net(xi[None])[0], net.parameters())])
             for xi in x]
    J = torch.stack(grads)
    assert torch.allclose(K, J @ J.T, atol=1e-10)
    with pytest.raises(ValueError, match="even"):
        k.TwoLayer(5)


def test_kernel_predictor_is_linearised_gd():
    """f_lin(x, t) = k(x)ᵀK⁻¹(I − (I − ηK)^t)r₀ equals t GD steps on the linear model whose
    features are the NTK's (residual r ← r − ηK r, prediction += η k(x)ᵀ r)."""
    g = torch.Generator().manual_seed(2)
    A = torch.randn(6, 10, generator=g, dtype=F64)
    B = torch.randn(4, 10, generator=g, dtype=F64)
    K, kx, r0 = A @ A.T, B @ A.T, torch.randn(6, generator=g, dtype=F64)
    eta = 1 / torch.linalg.eigvalsh(K).max().item()
    r, f = r0.clone(), torch.zeros(4, dtype=F64)
    for _ in range(50):
        f = f + eta * kx @ r
        r = r - eta * K @ r
    assert torch.allclose(k.kernel_predictor(K, kx, r0, eta, 50), f, atol=1e-10)
    assert torch.allclose(k.kernel_predictor(K, kx, r0, eta, None), kx @ torch.linalg.solve(K, r0), atol=1e-8)


def test_wide_net_follows_its_kernel_predictor():
    x = torch.linspace(-2, 2, 6, dtype=F64)
    y = torch.sin(x)
    grid = torch.linspace(-2.5, 2.5, 21, dtype=F64)
    s = dict(seed=0, activation="tanh", lr_scale=1.0, steps=200)
    narrow, _ = k.one_width(32, 0, x, y, grid, s)
    wide, curve = k.one_width(8192, 0, x, y, grid, s)
    assert wide["gap"] < narrow["gap"] and wide["gap"] < 0.02
    assert wide["rel_change"] < narrow["rel_change"]
    assert list(curve.columns) == ["width", "trial", "x", "net", "kernel", "kernel_inf"]


def test_loglog_slope_claim():
    widths = np.array([10, 100, 1000, 10_000])
    df = pd.DataFrame({"width": np.tile(widths, 2), "trial": np.repeat([0, 1], 4),
                       "gap": np.r_[3 * widths ** -0.5, 5 * widths ** -0.5]})
    assert loglog_slope(df) == pytest.approx(-0.5)
    assert slopes_per_trial(df) == pytest.approx([-0.5, -0.5])
    assert math.isnan(loglog_slope(df[df["width"] < 1000]))          # two widths: no slope


def _gap_table(rate: float, trials: int = 5) -> pd.DataFrame:
    """Per trial: gap ∝ m^−½ and relative change ∝ m^rate, each with its own factor."""
    widths = np.array([64, 256, 1024, 4096])
    c = 1 + 0.1 * np.arange(trials)
    wobble = 1 + 0.02 * np.sin(np.arange(4 * trials))            # slopes differ a little per trial
    return pd.DataFrame({"width": np.tile(widths, trials), "trial": np.repeat(range(trials), 4),
                         "gap": np.repeat(c, 4) * np.tile(widths, trials) ** -0.5 * wobble,
                         "rel_change": np.repeat(c, 4) * np.tile(widths, trials) ** rate * wobble})


def test_ntk_claim_tests_the_rate_not_only_the_sign():
    shrinks, rate = ntk_claim(_gap_table(-0.5))
    assert shrinks.verdict == "pass" and rate.verdict == "pass" and rate.value == pytest.approx(-0.5, abs=0.02)
    # relative change ∝ m^−0.2: falling (the old claim, any negative slope, passes), but not as m^−½
    slow = _gap_table(-0.2)
    assert all(v < 0 for v in slopes_per_trial(slow, "rel_change"))
    shrinks, rate = ntk_claim(slow)
    assert shrinks.verdict == "pass" and rate.verdict == "fail"
    shrinks, rate = ntk_claim(_gap_table(-0.5, trials=3))            # too few trials: undecided
    assert rate.verdict == "inconclusive" and shrinks.verdict == "inconclusive"


def test_figure_claim_combines_both_conditions_with_the_catalogue_words():
    good = ntk_figure_claim(_gap_table(-0.5))
    assert good.verdict == "pass" and good.n == 5 and good.threshold == FIGURE_INFO["K-ntk"].threshold
    assert good.test == FIGURE_INFO["K-ntk"].test and "gap slope" in good.finding
    assert good.value == pytest.approx(-0.5, abs=0.02)
    assert ntk_figure_claim(_gap_table(-0.2)).verdict == "fail"
    few = ntk_figure_claim(_gap_table(-0.5, trials=3))
    assert few.verdict == "inconclusive" and few.n == 3


def test_absent_tables_are_no_data(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.json").write_text('{"run": "r", "status": "ok", "spec": {}}')
    with pytest.raises(NoData):
        k_ntk(Results([tmp_path / "r" / "run.json"]))


def test_end_to_end(tmp_path):
    out = tmp_path / "runs/K/default"
    run("K", "default", tiny("K"), out, Env(device="cpu"))
    claims = render("K", Results([out / "run.json"]), tmp_path / "fig", "quick")
    assert list(claims.figure_id) == FIGURES["K"]
    assert (tmp_path / "fig" / "K-ntk.png").exists()
    assert claims["verdict"].iloc[0] in ("pass", "fail", "inconclusive") and claims["n"].iloc[0] == 5
