"""Family C: gradient flow and initialization (seed 001 "Gradient Exploding/Vanishing"; seed 004
§6.5 "Initialization").

Seed 001: for h^t = f_t(h^{t−1}), the gradient at layer t is a product of d − t Jacobians,
∂ℓ/∂h^t = ∂ℓ/∂h^d ∂h^d/∂h^{d−1} ⋯ ∂h^{t+1}/∂h^t, so it grows like 1.5^100 ≈ 4·10¹⁷ or shrinks
like 0.8^100 ≈ 2·10⁻¹⁰. We measure δ_t = ∂ℓ/∂y_t at the output y_t = W_t h_{t−1} + b_t of every
Linear layer t = 1 … D+1 of a deep MLP at initialization, W ~ N(0, g²/fan_in) ("gain" g). In
a linear net E‖W_tᵀv‖² = g²‖v‖² at every layer, so log‖δ_t‖ is linear in k = D + 1 − t (the
number of Jacobians between y_t and the logits) with slope log g: the linear theory. (The weight
gradient ∂ℓ/∂W_t = δ_t h_{t−1}ᵀ also carries the forward factor ‖h_{t−1}‖ ∝ g^{t−1}; we show
δ_t, the product the seed writes.) The seed's fixes: Xavier init, BatchNorm, gradient clipping.

Seed 004 §6.5: LeCun, Var w = 1/fan_in, keeps Var y_t through the layers (forward); Xavier,
Var w = 2/(fan_in + fan_out), compromises between the forward (1/fan_in) and the backward
(1/fan_out) condition. Measured on a tanh net whose widths halve, so that fan_in ≠ fan_out.

A run's ``task``: "init" writes the tables ``grad_norms``, ``variance`` and ``tanh``;
"clipping" trains the exploding net (table ``steps``; a non-finite loss: status diverged).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from scipy.optimize import brentq
from torch import nn
from torch.nn.functional import cross_entropy
from torch.nn.utils import clip_grad_norm_

from nnrepro.models import MLP
from nnrepro import optimizers
from nnrepro.results import Status
from nnrepro.training import NONFINITE_CHECK_EVERY, RunState, generator, train_epoch

LINEAR_TOLERANCE = 0.05   # the linear regime of tanh: |tanh(x) − x| ≤ 5 % of |x|


def run(ctx) -> Status:
    spec = ctx.settings
    ds = ctx.dataset(spec["dataset"])
    if spec["task"] == "clipping":
        return train_clipping(ctx, ds)
    gen = generator(spec["seed"], ctx.device)          # also seeds the initialisations
    g, v = spec["gradients"], spec["variance"]
    ctx.save_table("grad_norms", gradient_norms(g, *input_batch(ds, g["batch_size"], gen)))
    ctx.save_table("variance", init_variances(v, *input_batch(ds, v["batch_size"], gen)))
    ctx.save_table("tanh", tanh_regime())
    return Status.OK


def input_batch(ds, size: int, gen: torch.Generator):
    """``size`` training points (all of them if there are fewer), drawn without replacement."""
    idx = torch.randperm(len(ds.x_train), generator=gen, device=gen.device)[:size]
    return ds.x_train[idx], ds.y_train[idx], ds.n_classes


def outputs_and_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Outputs y_t of every Linear layer (input to output) and δ_t = ∂ℓ/∂y_t, ℓ the mean
    cross-entropy of the batch; the model in train mode (BatchNorm uses batch statistics)."""
    outs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: outs.append(o))
             for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        loss = cross_entropy(model.train()(x), y)
    finally:
        for h in hooks:
            h.remove()
    grads = torch.autograd.grad(loss, outs)
    return [o.detach() for o in outs], list(grads)


def gradient_norms(cfg: dict, x, y, n_classes: int) -> pd.DataFrame:
    """‖δ_t‖ (Frobenius over batch and units) per Linear layer t of deep MLPs at init: "plain"
    (LeCun normal at each gain), "xavier" (gain 1) and "bn" (BatchNorm after each hidden Linear,
    LeCun at each gain). k = D + 1 − t: Jacobians between y_t and the logits."""
    nets = ([("plain", g, dict(init="lecun", gain=g)) for g in cfg["gains"]]
            + [("xavier", 1.0, dict(init="xavier"))]
            + [("bn", g, dict(init="lecun", gain=g, batchnorm=True)) for g in cfg["gains"]])
    rows = []
    for depth in cfg["depths"]:
        for setting, gain, kw in nets:
            for r in range(cfg["repeats"]):
                model = MLP(x.shape[1], [cfg["width"]] * depth, n_classes, cfg["activation"],
                            **kw).to(x.device)
                _, grads = outputs_and_grads(model, x, y)
                n = len(grads)
                rows += [dict(setting=setting, gain=gain, depth=depth, repeat=r, layer=t + 1,
                              k=n - 1 - t, norm=d.norm().item()) for t, d in enumerate(grads)]
    return pd.DataFrame(rows)


def init_variances(cfg: dict, x, y, n_classes: int) -> pd.DataFrame:
    """Var y_t (forward) and Var δ_t (backward) per Linear layer, over batch and units, for the
    naive (torch's default: U(±1/√fan_in), Var w = 1/(3 fan_in)), LeCun and Xavier inits.
    ``linear_regime``: the fraction of pre-activations where tanh(y) ≈ y within 5 %."""
    x_lin = linear_regime_edge()
    widths = [x.shape[1], *cfg["hidden"], n_classes]
    rows = []
    for init in ("default", "lecun", "xavier"):
        for r in range(cfg["repeats"]):
            model = MLP(x.shape[1], cfg["hidden"], n_classes, cfg["activation"],
                        init=init).to(x.device)
            outs, grads = outputs_and_grads(model, x, y)
            for t, (o, d) in enumerate(zip(outs, grads)):
                rows.append(dict(init=init, repeat=r, layer=t + 1, hidden=t < len(cfg["hidden"]),
                                 fan_in=widths[t], fan_out=widths[t + 1],
                                 forward=o.var().item(), backward=d.var().item(),
                                 linear_regime=(o.abs() <= x_lin).float().mean().item()))
    return pd.DataFrame(rows)


def linear_regime_edge(tol: float = LINEAR_TOLERANCE) -> float:
    """x* with tanh(x*) = (1 − tol)·x*: for |x| ≤ x*, tanh(x) ≈ x within tol (tanh(x)/x falls
    monotonically from 1 at x = 0)."""
    return brentq(lambda s: math.tanh(s) - (1 - tol) * s, 1e-6, 3.0)


def tanh_regime(limit: float = 4.0, points: int = 401) -> pd.DataFrame:
    """tanh, its derivative 1 − tanh² and the linear approximation tanh(x) ≈ x."""
    xs = np.linspace(-limit, limit, points)
    x_lin = linear_regime_edge()
    return pd.DataFrame({"x": xs, "tanh": np.tanh(xs), "dtanh": 1 - np.tanh(xs) ** 2,
                         "linear": xs, "in_linear_regime": np.abs(xs) <= x_lin,
                         "x_lin": x_lin})


def train_clipping(ctx, ds) -> Status:
    """SGD on the exploding net (LeCun normal at gain g > 1), the gradient clipped to norm c
    before each step (Pascanu et al. 2013: g ← c·g/‖g‖ when ‖g‖ > c; c = 0: no clipping).
    Table ``steps``: minibatch loss and the gradient norm before clipping."""
    s, dev = ctx.settings, ctx.device
    c = s["clipping"]
    gen = generator(s["seed"], dev)
    model = MLP(ds.n_features, [c["width"]] * c["depth"], ds.n_classes, c["activation"],
                init="lecun", gain=c["gain"]).to(dev)
    opt = optimizers.build(model.parameters(), c["optimizer"])
    max_norm = c["max_norm"] if c["max_norm"] > 0 else math.inf      # inf: clip_grad_norm_ is a no-op
    st = RunState(model=model, opt=opt, gen=gen, steps=[])

    def epoch_fn(epoch: int) -> torch.Tensor:
        norms = []

        def clip():                                      # g ← c·g/‖g‖ when ‖g‖ > c
            norms.append(clip_grad_norm_(model.parameters(), max_norm))   # ‖g‖ before clipping

        losses = train_epoch(model, opt, ds.x_train, ds.y_train, c["batch_size"], gen,
                             before_step=clip, stop_if_nonfinite=True,
                             check_every=NONFINITE_CHECK_EVERY)
        start = len(st.steps)                            # losses end at the first non-finite one;
        norms = norms[:len(losses)]                      # steps past it (a sync every 32) are dropped
        st.steps += [dict(step=start + i, epoch=epoch, loss=l, grad_norm=n) for i, (l, n) in
                     enumerate(zip(losses.tolist(), torch.stack(norms).tolist()))]
        return losses

    status = ctx.fit(st, c["epochs"], epoch_fn)
    ctx.save_table("steps", pd.DataFrame(st.steps))
    return status
