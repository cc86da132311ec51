"""Family E against references computed another way, and end to end (experiment → figures)."""
import numpy as np
import pytest
import torch
from sklearn.svm import SVC

from nnrepro import synthetic
from nnrepro.catalogue import FIGURES
from nnrepro.runner import Env, run
from nnrepro.families.e import experiment as e
from nnrepro.render import render
from nnrepro.results import Results

from conftest import tiny

# tests/test_resume.py: this family trains nothing, there is nothing to resume
RESUME_POINT = None


def test_gd_reaches_pseudoinverse_plus_null_part():
    X, Y = synthetic.least_squares(12, 30, 2)
    W0 = np.random.default_rng(1).standard_normal((2, 30))
    W, _ = e.gd_square(W0, X, Y, 0.3, 2000)
    pinv = Y @ np.linalg.pinv(X)
    Q = np.linalg.svd(X)[0][:, 12:]  # basis of the null space of Xᵀ
    assert np.abs(W - (pinv + W0 @ Q @ Q.T)).max() < 1e-9
    assert np.abs(e.gd_square(0 * W0, X, Y, 0.3, 2000)[0] - pinv).max() < 1e-9


def test_ridge_closed_form_and_hessian():
    X, Y = synthetic.least_squares(12, 30, 1)
    path, eig = e.ridge(X, Y, dict(lambda_min=1e-8, lambda_max=1.0, num=3, hessian_lambdas=[0.0, 0.5]))
    for lam, rel in zip(path.lam, path.rel_dist):  # push-through form Y (XᵀX + λI)⁻¹ Xᵀ
        ref = Y @ np.linalg.inv(X.T @ X + lam * np.eye(12)) @ X.T
        pinv = Y @ np.linalg.pinv(X)
        assert rel == pytest.approx(np.linalg.norm(ref - pinv) / np.linalg.norm(pinv), rel=1e-4, abs=1e-8)
    for lam in (0.0, 0.5):
        ref = np.linalg.eigvalsh(X @ X.T + lam * np.eye(30))
        assert np.allclose(np.sort(eig[eig.lam == lam].eigenvalue), ref, atol=1e-12)


def test_svm_matches_libsvm_and_construction():
    X, y, w_known = synthetic.separable(20, 0.5, seed=3)
    w, alpha = e.hard_margin_svm(X, y)
    # no intercept: mirrored points (−x, −y) make the optimal libsvm intercept 0
    svc = SVC(kernel="linear", C=1e8, tol=1e-10).fit(np.r_[X, -X], np.r_[y, -y])
    assert np.allclose(w, svc.coef_[0], atol=1e-5) and abs(svc.intercept_[0]) < 1e-5
    assert np.allclose(w, w_known, atol=1e-10)
    m = y * (X @ w)  # KKT: feasible, α ≥ 0, complementary slackness, w = Σ α y x
    assert m.min() > 1 - 1e-10 and alpha.min() >= 0 and np.abs(alpha * (m - 1)).max() < 1e-10
    assert np.allclose(w, (alpha * y) @ X, atol=1e-10)


def test_relu_homogeneity_per_layer():
    torch.manual_seed(0)
    net, x = e.relu_net(3, 4, 8), torch.randn(5, 4, dtype=torch.float64)
    for c in (0.5, 2.0):  # f(cW_k) = c f(W): scaling one layer scales f
        scaled = e.relu_net(3, 4, 8)
        scaled.load_state_dict({k: v * (c if k == "2.weight" else 1) for k, v in net.state_dict().items()})
        assert torch.allclose(scaled(x), c * net(x), atol=1e-14)
    df = e.homogeneity(dict(depths=[2, 4], width=8, d=4, points=4), 0)
    assert (df.w_grad - df.f).abs().max() < 1e-12


def test_end_to_end(tmp_path):
    out = tmp_path / "runs/E/default"
    run("E", "default", tiny("E"), out, Env(device="cpu"))
    claims = render("E", Results([out / "run.json"]), tmp_path / "fig", "quick")
    assert list(claims.figure_id) == FIGURES["E"]
    assert all((tmp_path / "fig" / f"{f}.png").exists() for f in FIGURES["E"])
    failed = claims[claims.passed != True]  # noqa: E712
    assert failed.empty, failed[["figure_id", "value", "threshold"]].to_string()


# ---------------------------------------------------------------- the claims' pure functions
import pandas as pd  # noqa: E402

from nnrepro.catalogue import FIGURE_INFO  # noqa: E402
from nnrepro.families.e import figures as fig_e  # noqa: E402
from nnrepro.results import NoData  # noqa: E402


def test_min_norm_claim_is_exact_on_the_last_step():
    df = pd.DataFrame({"step": [1, 10, 1, 10], "init_scale": [0.0, 0.0, 1.0, 1.0],
                       "err": [1.0, 1e-9, 1.0, 1e-8], "gap": [1.0, 1e-9, 2.0, 0.5]})
    ok = fig_e.min_norm_claim(df)
    assert ok.verdict == "pass" and ok.value == 1e-8 and ok.n == 0 and "gap at zero init 1.0e-09" in ok.note
    assert ok.threshold == FIGURE_INFO["E-min-norm"].threshold and ok.test == FIGURE_INFO["E-min-norm"].test
    assert fig_e.min_norm_claim(df.assign(err=[1.0, 1e-9, 1.0, 1e-3])).verdict == "fail"
    assert fig_e.min_norm_claim(df.assign(err=[1.0, float("nan")] * 2)).verdict == "inconclusive"


def test_ridge_claim_says_the_smallest_lambda_in_its_note():
    path = pd.DataFrame({"lam": [1e-8, 1.0], "rel_dist": [1e-9, 0.5]})
    eig = pd.DataFrame({"n": 2, "d": 3, "outputs": 1, "lam": [0.0] * 3 + [0.1] * 3,
                        "eigenvalue": [0.0, 1.0, 2.0, 0.1, 1.1, 2.1]})
    ok = fig_e.ridge_claim(path, eig)
    assert ok.verdict == "pass" and ok.note.endswith("at the smallest λ = 1e-08")
    two_zeros = eig.assign(eigenvalue=[0.0, 0.0, 2.0, 0.1, 1.1, 2.1])
    assert fig_e.ridge_claim(path, two_zeros).verdict == "fail"


def test_homogeneity_claim_from_the_euler_sums():
    df = pd.DataFrame({"depth": [2, 2], "point": [0, 0], "layer": [1, 2], "f": [1.5, 1.5],
                       "w_grad": [1.5, 1.5]})
    s, err = fig_e.euler_sums(df)
    assert list(s["Kf"]) == [3.0] and fig_e.homogeneity_claim(s, err).verdict == "pass"
    s, err = fig_e.euler_sums(df.assign(w_grad=[1.5, 1.6]))
    assert fig_e.homogeneity_claim(s, err).verdict == "fail"


def test_deep_hessian_and_reg_norm_es_without_their_parts_are_no_data():
    only0 = fig_e.hessian_ranks(pd.DataFrame({"lam": [0.0, 0.0], "eigenvalue": [1e-9, 1.0],
                                              "params": 2, "n": 1}))
    with pytest.raises(NoData, match="λ > 0"):
        fig_e.deep_hessian_claim(only0)
    with pytest.raises(NoData, match="early-stopped"):
        fig_e.reg_norm_es_claim(pd.DataFrame({"method": ["regularized"], "param": [0.1], "off_line": [0.0],
                                              "norm": [1.0], "angle": [0.1]}))
    ok = fig_e.hessian_ranks(pd.DataFrame({"lam": [0.0, 0.0, 0.1, 0.1], "eigenvalue": [1e-9, 1.0, 0.1, 1.1],
                                           "params": 2, "n": 1}))
    assert fig_e.deep_hessian_claim(ok).verdict == "pass"
    assert fig_e.deep_hessian_claim(ok.assign(abs_eig=[1e-2, 1.0, 0.1, 1.1])).verdict == "fail"
