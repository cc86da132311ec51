"""Family E: implicit bias and dynamical systems (seed 002, "Dynamical systems approach").

Square loss on a linear net (Y = W X, N < d): GD from W⁰ ≈ 0 reaches the pseudoinverse solution
Y X⁺, the λ → 0 limit of the ridge solution W = Y Xᵀ(XXᵀ + λI)⁻¹ whose Hessian XXᵀ + λI is
positive definite (hyperbolic) for λ > 0 and degenerate for λ = 0. Exponential-type losses on
separable data: w(t) = ŵ log t + g(t), w/‖w‖ → ŵ/‖ŵ‖ the hard-margin SVM [Soudry et al. 2018].
ReLU nets are homogeneous: W_k ∂f/∂W_k = f for every layer k.

Linear models run in float64 numpy (thousands of tiny steps), nets in float64 torch; everything
is seeded. One function per figure; each returns a tidy table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.optimize import nnls
from torch.func import functional_call, hessian

from nnrepro import synthetic
from nnrepro import optimizers
from nnrepro.results import Status
from nnrepro.training import stream, stream_seed

F64 = torch.float64
ACT = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


def run(ctx) -> Status:
    spec = ctx.settings
    seed = spec["seed"]
    ls, sep = spec["least_squares"], spec["separable"]
    X, Y = synthetic.least_squares(ls["n"], ls["d"], ls["outputs"], seed)
    ctx.save_table("min_norm", min_norm(X, Y, ls["lr"], ls["steps"], ls["init_scales"], seed))
    ridge_path, ridge_eigs = ridge(X, Y, spec["ridge"])
    ctx.save_table("ridge", ridge_path)
    ctx.save_table("ridge_hessian", ridge_eigs)
    ctx.save_table("perturb", perturb(X, Y, ls["lr"], spec["perturb"], seed))
    ctx.save_table("deep_hessian", deep_hessian(spec["mlp"], seed))
    Xs, ys, _ = synthetic.separable(sep["n"], sep["gamma"], seed=seed)
    ctx.save_table("exp_direction", exp_direction(Xs, ys, sep, seed))
    ctx.save_table("reg_norm_es", reg_norm_es(Xs, ys, sep))
    ctx.save_table("homogeneity", homogeneity(spec["homogeneity"], seed))
    return Status.OK


def log_steps(steps: int, num: int = 60) -> np.ndarray:
    """0 and ~num log-spaced steps up to ``steps`` (where tables record a trajectory)."""
    return np.unique(np.r_[0, np.geomspace(1, steps, num).round().astype(int)])


# --- square loss, linear net: L = ½‖WX − Y‖² + λ/2‖W‖², ∇L = (WX − Y)Xᵀ + λW ---------------

def gd_square(W, X, Y, lr, steps, lam=0.0, record=(), perturb_at=None, delta=None):
    """GD on the (regularized) square loss; W is (..., outputs, d), batched over leading dims."""
    traj = {}
    for t in range(steps + 1):
        if t == perturb_at:
            W = W + delta
        if t in record:
            traj[t] = W.copy()
        W = W - lr * ((W @ X - Y) @ X.T + lam * W)  # Ẇ = −∇L (weight decay λW when λ > 0)
    return W, traj


def min_norm(X, Y, lr, steps, init_scales, seed) -> pd.DataFrame:
    """E-min-norm: GD converges to Y X⁺ + W⁰P_null; only span(x_n) components move."""
    W_pinv = Y @ np.linalg.pinv(X)
    P_null = np.eye(X.shape[0]) - X @ np.linalg.pinv(X)  # projector on the null space of Xᵀ
    G = np.random.default_rng(stream_seed(seed, "min norm")).standard_normal(W_pinv.shape) / np.sqrt(X.shape[0])
    W0 = np.array([s * G for s in init_scales])
    rec = log_steps(steps)
    _, traj = gd_square(W0, X, Y, lr, steps, record=set(rec))
    rows = []
    for i, s in enumerate(init_scales):
        null = W0[i] @ P_null
        for t in rec:
            W = traj[t][i]
            rows.append(dict(step=t, init_scale=s, gap=np.linalg.norm(W - W_pinv),
                             null_part=np.linalg.norm(null),
                             err=np.linalg.norm(W - W_pinv - null),
                             loss=0.5 * np.sum((W @ X - Y) ** 2)))
    return pd.DataFrame(rows)


def loss_hessian(X, Y, W, lam) -> np.ndarray:
    """Hessian of L(W) by autodiff (torch.func.hessian); = XXᵀ + λI per output."""
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    L = lambda w: 0.5 * ((w @ Xt - Yt) ** 2).sum() + 0.5 * lam * (w ** 2).sum()
    n = W.size
    return hessian(L)(torch.from_numpy(W)).reshape(n, n).numpy()


def ridge(X, Y, cfg) -> tuple[pd.DataFrame, pd.DataFrame]:
    """E-ridge: W_λ = Y Xᵀ(XXᵀ + λI)⁻¹ → Y X⁺ as λ → 0; eigenvalues of H at W_λ."""
    d = X.shape[0]
    W_pinv = Y @ np.linalg.pinv(X)
    w_lam = lambda lam: np.linalg.solve(X @ X.T + lam * np.eye(d), X @ Y.T).T  # (XXᵀ+λI) sym.
    lams = np.geomspace(cfg["lambda_min"], cfg["lambda_max"], cfg["num"])
    path = pd.DataFrame([dict(lam=lam, dist=np.linalg.norm(w_lam(lam) - W_pinv),
                              rel_dist=np.linalg.norm(w_lam(lam) - W_pinv) / np.linalg.norm(W_pinv),
                              norm=np.linalg.norm(w_lam(lam)), pinv_norm=np.linalg.norm(W_pinv))
                         for lam in lams])
    eigs = []
    for lam in cfg["hessian_lambdas"]:
        W = W_pinv if lam == 0 else w_lam(lam)
        mu = np.linalg.eigvalsh(loss_hessian(X, Y, W, lam))
        eigs += [dict(lam=lam, index=i, eigenvalue=m, n=X.shape[1], d=d, outputs=Y.shape[0])
                 for i, m in enumerate(mu)]
    return path, pd.DataFrame(eigs)


def perturb(X, Y, lr, cfg, seed) -> pd.DataFrame:
    """E-perturb: kick GD midway; the hyperbolic (λ > 0) end point returns, the degenerate moves.

    Rows: ‖W_t(perturbed) − W_t(unperturbed)‖ over t, with null_part = ‖δ P_null‖.
    """
    steps, at, K = cfg["steps"], cfg["at"], cfg["repeats"]
    P_null = np.eye(X.shape[0]) - X @ np.linalg.pinv(X)
    rng = np.random.default_rng(stream_seed(seed, "perturb"))
    delta = cfg["scale"] * rng.standard_normal((K, Y.shape[0], X.shape[0])) / np.sqrt(X.shape[0])
    rec = set(np.linspace(0, steps, 201).round().astype(int))
    rows = []
    for lam in (0.0, cfg["weight_decay"]):
        W0 = np.zeros((K + 1, Y.shape[0], X.shape[0]))  # row 0: unperturbed reference
        _, traj = gd_square(W0, X, Y, lr, steps, lam, rec, at, np.concatenate([0 * delta[:1], delta]))
        for t in sorted(rec):
            for k in range(K):
                rows.append(dict(step=t, weight_decay=lam, trial=k,
                                 shift=np.linalg.norm(traj[t][k + 1] - traj[t][0]),
                                 null_part=np.linalg.norm(delta[k] @ P_null)))
    return pd.DataFrame(rows)


# --- square loss, deep net: H = Σ ∂f∂fᵀ − E_n ∂²f + λI ---------------------------------------

def deep_hessian(cfg, seed) -> pd.DataFrame:
    """E-deep-hessian: spectrum at a minimum of a ReLU MLP with #params ≫ N, λ = 0 and λ > 0.

    GD (from-scratch SGD, full batch) nears an interpolating minimum; from there L-BFGS
    converges to the minimum of each λ (GD's rate ηλ would need ~1/(ηλ) steps). The
    activation is smooth (tanh) by default: H needs a C² loss, and ReLU minima at λ > 0 sit on
    kinks (a pre-activation at 0) where H is undefined.
    """
    g = stream(seed, "deep hessian data")
    x = torch.randn(cfg["n"], cfg["d"], generator=g, dtype=F64)
    y = torch.randn(cfg["n"], 1, generator=g, dtype=F64)
    torch.manual_seed(stream_seed(seed, "deep hessian init"))
    net = torch.nn.Sequential(torch.nn.Linear(cfg["d"], cfg["hidden"]), ACT[cfg["activation"]](),
                              torch.nn.Linear(cfg["hidden"], 1)).to(F64)
    names, shapes = zip(*[(n, p.shape) for n, p in net.named_parameters()])

    def L(th, lam):  # ½Σ_n (f(x_n) − y_n)² + λ/2‖θ‖² as a function of the flat parameters
        ps = {n: v.view(s) for n, s, v in zip(names, shapes, th.split([s.numel() for s in shapes]))}
        return 0.5 * ((functional_call(net, ps, (x,)) - y) ** 2).sum() + 0.5 * lam * (th ** 2).sum()

    theta = torch.cat([p.detach().flatten() for p in net.parameters()]).requires_grad_()
    opt = optimizers.build([theta], cfg["optimizer"])
    for _ in range(cfg["steps"]):  # GD: θ ← θ − η∇L
        opt.zero_grad()
        L(theta, 0.0).backward()
        opt.step()
    theta0, rows = theta.detach().clone(), []
    for lam in [0.0] + list(cfg["lambdas"]):
        th = theta0.clone().requires_grad_()
        if cfg["lbfgs_iters"]:
            lbfgs = torch.optim.LBFGS([th], lr=1, max_iter=cfg["lbfgs_iters"],
                                      tolerance_grad=1e-12, tolerance_change=0,
                                      line_search_fn="strong_wolfe")
            def closure():
                lbfgs.zero_grad()
                loss = L(th, lam)
                loss.backward()
                return loss
            lbfgs.step(closure)
        th = th.detach()
        mu = torch.linalg.eigvalsh(hessian(L)(th, lam))
        grad = torch.func.grad(L)(th, lam).norm().item()
        rows += [dict(lam=lam, index=i, eigenvalue=m.item(), params=th.numel(), n=cfg["n"],
                      grad_norm=grad, loss=L(th, 0.0).item()) for i, m in enumerate(mu)]
    return pd.DataFrame(rows)


# --- exponential-type losses on separable data: w(t) = ŵ log t + g(t) -----------------------

def hard_margin_svm(X, y) -> tuple[np.ndarray, np.ndarray]:
    """ŵ = argmin ‖w‖² s.t. y_n wᵀx_n ≥ 1 (no intercept), exactly, and its duals α ≥ 0.

    Least-distance programming (Lawson & Hanson 1974, ch. 23): with G = rows y_n x_n, solve the
    NNLS problem min_{u ≥ 0} ‖[Gᵀ; 1ᵀ] u − e_{d+1}‖ (active set, exact); the residual r gives
    ŵ = −r_{1..d} / r_{d+1} = Gᵀα with α = u / (1 − 1ᵀu).
    """
    G = y[:, None] * X
    E = np.vstack([G.T, np.ones((1, len(y)))])
    f = np.zeros(E.shape[0])
    f[-1] = 1.0
    u, _ = nnls(E, f)
    r = E @ u - f
    return -r[:-1] / r[-1], u / (1 - u.sum())


def svm_offset(X, y, alpha, lr) -> np.ndarray:
    """w̃ in w(t) = ŵ log t + w̃ + o(1) [Soudry et al. 2018, Thm. 3] for GD on the mean loss:
    (η/N) exp(−y_n x_nᵀw̃) = α_n on the support vectors (min-norm solution)."""
    sv = alpha > 1e-12
    rhs = np.log(lr / (len(y) * alpha[sv]))
    return np.linalg.lstsq(y[sv, None] * X[sv], rhs, rcond=None)[0]


def angle_deg(W, w) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = W @ w / (np.linalg.norm(W, axis=-1) * np.linalg.norm(w))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def exp_direction(X, y, cfg, seed) -> pd.DataFrame:
    """E-exp-direction: GD on (1/N) Σ_n l(y_n wᵀx_n), ẇ = (η/N) Σ_n y_n x_n (−l'(m_n)),
    −l' = e^{−m} (exponential) or σ(−m) (logistic); rows: ‖w‖, angle to ŵ and distance to the
    asymptote ŵ log t + w̃ at log-spaced t, for every init. The theorem needs a step that is stable
    on the initial sublevel set (η < 2/(β σ²_max)); a large init (big e^{−m}) with η = 1 can
    overshoot to a far point whose log-time is much later, so keep init_scale ≲ 0.5."""
    Z = y[:, None] * X
    w_svm, alpha = hard_margin_svm(X, y)
    w_off, lr = svm_offset(X, y, alpha, cfg["lr"]), cfg["lr"]
    rng = np.random.default_rng(stream_seed(seed, "exp direction"))
    W0 = np.r_[np.zeros((1, 2)), cfg["init_scale"] * rng.standard_normal((cfg["repeats"] - 1, 2))]
    W = np.r_[W0, W0]  # rows: exponential loss from each init, then logistic
    is_exp = np.repeat([True, False], len(W0))[:, None]
    rec, rows = set(log_steps(cfg["steps"])), []
    for t in range(cfg["steps"] + 1):
        if t in rec:
            asym = w_svm * np.log(max(t, 1)) + w_off
            for i, (w, a) in enumerate(zip(W, angle_deg(W, w_svm))):
                rows.append(dict(loss="exponential" if is_exp[i, 0] else "logistic",
                                 init=i % len(W0), step=t, norm=np.linalg.norm(w), angle=a,
                                 asym_dist=np.linalg.norm(w - asym) if t else np.nan,
                                 asym_norm=np.linalg.norm(asym), asym_angle=angle_deg(asym, w_svm),
                                 svm_norm=np.linalg.norm(w_svm)))
        m = W @ Z.T
        W = W + lr * np.where(is_exp, np.exp(-m), 0.5 * (1 - np.tanh(m / 2))) @ Z / len(y)
    return pd.DataFrame(rows)


def reg_norm_es(X, y, cfg) -> pd.DataFrame:
    """E-reg-norm-es: three ways to control the norm, each indexed by the ‖w‖ it reaches.

    regularized:   ẇ = (1/N) Σ z_n e^{−wᵀz_n} − λw, run to its (hyperbolic) fixed point;
    early-stopped: plain GD (λ = 0) stopped at step T;
    normalized:    GD on the sphere ‖w‖ = ρ (w̃̇ = S ẇ, S = I − w̃w̃ᵀ), whose fixed point is
                   w̃* = x/‖x‖ with x = Σ_n e^{−ρ w̃*ᵀz_n} z_n (the seed's stationary point).
    off_line: distance from w to the line {ŵ s + w̃} along which GD's w(t) = ŵ log t + w̃ runs;
    residual: ‖∇‖ at the regularized fixed point, ‖w̃ − x/‖x‖‖ for normalized GD.
    """
    Z = y[:, None] * X
    w_svm, alpha = hard_margin_svm(X, y)
    w_off, lr = svm_offset(X, y, alpha, cfg["lr"]), cfg["lr"]
    P = np.eye(2) - np.outer(w_svm, w_svm) / (w_svm @ w_svm)  # projector orthogonal to ŵ
    lams, rhos = np.array(cfg["lambdas"], float), np.array(cfg["radii"], float)
    W = np.zeros((len(lams) + 1, 2))  # last row: λ = 0, the early-stopped path
    V = rhos[:, None] * np.array([[1.0, 0.0]])  # normalized GD, one row per radius
    grid = np.r_[lams, 0.0][:, None]
    rec, rows = set(log_steps(cfg["steps"], 30)[1:]), []

    def row(method, param, w, residual):
        return dict(method=method, param=param, norm=np.linalg.norm(w), angle=angle_deg(w, w_svm),
                    off_line=np.linalg.norm(P @ (w - w_off)), residual=residual)

    for t in range(1, cfg["steps"] + 1):
        W = W + lr * (np.exp(-W @ Z.T) @ Z / len(y) - grid * W)
        V = V + lr * np.exp(-V @ Z.T) @ Z / len(y)
        V *= (rhos / np.linalg.norm(V, axis=1))[:, None]  # back onto the sphere: the S ẇ step
        if t in rec:
            rows.append(row("early-stopped", t, W[-1], np.nan))
    grad = np.exp(-W @ Z.T) @ Z / len(y) - grid * W
    rows += [row("regularized", lam, w, np.linalg.norm(g)) for lam, w, g in zip(lams, W, grad)]
    for rho, v in zip(rhos, V):
        x = np.exp(-v @ Z.T) @ Z  # the seed's x (up to its normalization Z)
        rows.append(row("normalized", rho, v, np.linalg.norm(v / rho - x / np.linalg.norm(x))))
    return pd.DataFrame(rows).assign(svm_norm=np.linalg.norm(w_svm))


# --- ReLU homogeneity: σ(z) = σ'(z) z ⇒ W_k ∂f/∂W_k = f for every layer k ---------------------

def relu_net(depth: int, d: int, width: int) -> torch.nn.Sequential:
    """Bias-free ReLU net with ``depth`` weight matrices (biases would break homogeneity)."""
    dims = [d] + [width] * (depth - 1) + [1]
    layers = []
    for k in range(depth):
        layers += [torch.nn.Linear(dims[k], dims[k + 1], bias=False), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).to(F64)


def homogeneity(cfg, seed) -> pd.DataFrame:
    """E-homogeneity: per layer Σ_ij W_k^ij ∂f/∂W_k^ij and its sum over layers, against K·f."""
    torch.manual_seed(stream_seed(seed, "homogeneity"))
    x = torch.randn(cfg["points"], cfg["d"], dtype=F64)
    rows = []
    for K in cfg["depths"]:
        net = relu_net(K, cfg["d"], cfg["width"])
        for p_i in range(len(x)):
            f = net(x[p_i:p_i + 1]).squeeze()
            grads = torch.autograd.grad(f, list(net.parameters()))
            for k, (W, gW) in enumerate(zip(net.parameters(), grads)):
                rows.append(dict(depth=K, layer=k + 1, point=p_i, f=f.item(),
                                 w_grad=(W * gW).sum().item()))
    return pd.DataFrame(rows)
