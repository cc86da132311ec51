"""Stochastic-gradient MCMC samplers (seed 000, "L2 norm burst during BNN training").

Both are ``torch.optim.Optimizer`` subclasses: the caller computes the potential U(θ) of a
minibatch (``potential``), calls ``backward()`` and ``step()``; ``p.grad`` is ∇U. Randomness
comes only from the ``torch.Generator`` passed in, and the momentum r lives in the optimizer
state, so ``state_dict()`` plus the generator's state resume a chain exactly.

Potential: U(θ) = −Σᵢ log p(yᵢ|xᵢ,θ) − log p(θ), estimated on a minibatch B as
    Ũ(θ) = (N/|B|) Σ_{i∈B} NLLᵢ + ‖θ‖²/(2σ²)            (Gaussian prior N(0, σ²I)).

Temperature. Here p_T(θ|D) ∝ exp(−U(θ)/T) and the injected noise *variance* is scaled by T
(as in Wenzel et al. 2020 and google-research/cold_posterior_bnn): T = 1 is the posterior,
T = 0 is SGD with momentum. The document writes the cold SDE with noise T·N(0, 2C dt), i.e.
variance 2CT²dt, and target exp(−U/T²): its T is √T here (document T² = T here). Its
d/dt E‖r‖² = … + 2T²·tr(C) reads … + 2T·tr(C) in this module's units.

SGHMC (Chen et al. 2014, eq. 4; the document's "combined" rule with adjusting factor γ and
boosting factor α; γ = α = 1 is plain SGHMC):
    dθ = γ M⁻¹ r dt
    dr = (−α ∇U(θ) − γ² C M⁻¹ r) dt + N(0, 2 γ α C T dt)
In Ma et al.'s (2015) framework this is D = diag(0, γ²C/(γ/αT)), Q = αT[[0,−1],[1,0]] with
H(θ, r) = U(θ)/T + γ rᵀM⁻¹r/(2αT): the θ-marginal is exp(−U/T) for every γ, α > 0, and the
momentum's stationary law is r ~ N(0, M α T/γ). So γ (C' = Cγ, M' = M/γ) and α do not change
the target, only the dynamics: with r = √(α/γ)·s and τ = √(γα)·t the rule is plain SGHMC in
time τ with friction C·γ^{3/2}/√α. Lower γ slows the chain's clock by √γ; higher α speeds it
up by √α. ``scale_lr=True`` uses the document's optional ε' = ε/γ.

Discretization (step ε, Chen et al.'s SGHMC without the B̂ correction), symplectic Euler:
    r ← r − ε α ∇Ũ(θ) − ε γ² C M⁻¹ r + N(0, 2 ε γ α C T)
    θ ← θ + ε γ M⁻¹ r
With r₀ = 0 and T = 0 this is torch.optim.SGD with momentum μ = 1 − εγ²C/M and lr = ε²γα/M
(substitute v = −r/(εα)).

Kinetic temperature γ rᵀM⁻¹r/(α d) ≈ T at equilibrium: a built-in check of the sampler.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer


def potential(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_data: int,
              prior_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimate of U(θ) = N·mean NLL + ‖θ‖²/(2σ²), and the mean NLL itself."""
    nll = F.cross_entropy(model(x), y)
    prior = sum(p.pow(2).sum() for p in model.parameters()) / (2 * prior_scale ** 2)
    return n_data * nll + prior, nll


def cosine_schedule(steps_per_cycle: int):
    """cSG-MCMC's cyclical step size (Zhang et al. 2020, eq. 1) as a LambdaLR factor:
    ε_k = ε₀/2 · (cos(π · (k mod L)/L) + 1), L steps per cycle."""
    return lambda k: 0.5 * (math.cos(math.pi * (k % steps_per_cycle) / steps_per_cycle) + 1)


class _SGMCMC(Optimizer):
    """Shared bookkeeping: per-step diagnostics in ``self.diagnostics`` (0-d tensors)."""

    def __init__(self, params, defaults, generator: torch.Generator | None):
        super().__init__(params, defaults)
        self.generator = generator
        self.diagnostics: dict[str, torch.Tensor] = {}

    def _noise(self, p: torch.Tensor, std: float) -> torch.Tensor:
        return torch.randn(p.shape, generator=self.generator, device=p.device, dtype=p.dtype) * std

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield group, p

    def _sq_norm(self) -> torch.Tensor:
        return sum(p.detach().pow(2).sum() for _, p in self._params())


class SGLD(_SGMCMC):
    """SGLD (Welling & Teh 2011) at temperature T: dθ = −∇U dt + N(0, 2T dt),
    discretized θ ← θ − ε ∇Ũ(θ) + N(0, 2εT). No momentum: θᵀr and ‖r‖² are NaN."""

    def __init__(self, params, lr: float, temperature: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__(params, dict(lr=lr, temperature=temperature), generator)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        before = self._sq_norm()
        eps = self.param_groups[0]["lr"]
        for group, p in self._params():
            eps, T = group["lr"], group["temperature"]
            p.add_(p.grad, alpha=-eps)                                    # −ε∇Ũ
            if T > 0:
                p.add_(self._noise(p, math.sqrt(2 * eps * T)))            # + N(0, 2εT)
        after = self._sq_norm()
        nan = torch.full_like(after, float("nan"))
        self.diagnostics = dict(norm2=after, dnorm2_dt=(after - before) / eps, theta_r=nan,
                                thetar_rate=nan, r_norm2=nan, kinetic_temperature=nan,
                                step_length=nan)
        return loss


class SGHMC(_SGMCMC):
    """SGHMC with mass M, friction C, step size ε (``lr``), temperature T, adjusting factor γ
    and boosting factor α (module docstring). ``resample_every=K`` draws r ~ N(0, MαT/γ), the
    momentum's stationary law, every K steps (0: never; ``resample_momentum()`` does it on
    demand, e.g. once per cycle)."""

    def __init__(self, params, lr: float, friction: float = 1.0, mass: float = 1.0,
                 temperature: float = 1.0, gamma: float = 1.0, alpha: float = 1.0,
                 scale_lr: bool = False, resample_every: int = 0,
                 generator: torch.Generator | None = None):
        if min(lr, mass, gamma, alpha) <= 0 or friction < 0 or temperature < 0:
            raise ValueError("need lr, mass, gamma, alpha > 0 and friction, temperature >= 0")
        super().__init__(params, dict(lr=lr, friction=friction, mass=mass,
                                      temperature=temperature, gamma=gamma, alpha=alpha,
                                      scale_lr=scale_lr, resample_every=resample_every),
                         generator)
        self.diagnostics = StepDiagnostics()

    @staticmethod
    def _eps(group) -> float:
        return group["lr"] / group["gamma"] if group["scale_lr"] else group["lr"]  # ε' = ε/γ

    def _momentum(self, p) -> torch.Tensor:
        state = self.state[p]
        if "momentum" not in state:
            state["momentum"] = torch.zeros_like(p)
            state["step"] = 0
        return state["momentum"]

    @torch.no_grad()
    def resample_momentum(self) -> None:
        """r ~ N(0, M α T/γ): the stationary law of r under the combined rule (T = 0: r = 0)."""
        self.diagnostics.expire()                                         # r moves on
        for group in self.param_groups:
            M, T, g, a = group["mass"], group["temperature"], group["gamma"], group["alpha"]
            for p in group["params"]:
                self._momentum(p).copy_(self._noise(p, math.sqrt(M * a * T / g)))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.diagnostics.expire()                                         # the last step's
        before = self._sq_norm()              # ‖θ‖² before the step: only now (dnorm2_dt)
        moved = []
        for group, p in self._params():
            eps, C, M = self._eps(group), group["friction"], group["mass"]
            T, g, a = group["temperature"], group["gamma"], group["alpha"]
            r = self._momentum(p)
            state = self.state[p]
            state["step"] += 1
            if group["resample_every"] and state["step"] % group["resample_every"] == 0:
                r.copy_(self._noise(p, math.sqrt(M * a * T / g)))         # r ~ N(0, MαT/γ)
            # dr = (−α∇U − γ²CM⁻¹r) dt + N(0, 2γαCT dt)
            r.mul_(1 - eps * g * g * C / M).add_(p.grad, alpha=-eps * a)
            if T > 0 and C > 0:
                r.add_(self._noise(p, math.sqrt(2 * eps * g * a * C * T)))
            # dθ = γM⁻¹r dt
            p.add_(r, alpha=eps * g / M)
            moved.append((p, r, eps, g, M, a))
        self.diagnostics = StepDiagnostics(before, moved)
        return loss


class StepDiagnostics(Mapping):
    """SGHMC's diagnostics of the step just taken (0-d tensors), each computed when first read
    (issue 25: a family that records every k-th step pays for the diagnostics of those steps
    only), from θ and r as the step left them, with the ops of the every-step version, so the
    values are the same bits: norm2 = ‖θ‖², dnorm2_dt = (‖θ‖² − ‖θ_prev‖²)/ε, theta_r = θᵀr,
    thetar_rate = 2γM⁻¹θᵀr, r_norm2 = ‖r‖², kinetic_temperature = γ rᵀM⁻¹r/(α d), step_length =
    ‖Δθ‖ (read every step for the path length: only its ‖r‖² sums are computed then). Readable
    until the next step or momentum resampling changes θ or r (a value first read later raises)."""

    KEYS = ("norm2", "dnorm2_dt", "theta_r", "thetar_rate", "r_norm2", "kinetic_temperature",
            "step_length")

    def __init__(self, before=None, moved=()):
        self.before, self.moved, self.values, self.live = before, list(moved), {}, before is not None
        self.rr: list[torch.Tensor] | None = None                      # ‖r‖² per parameter

    def expire(self) -> None:
        self.live = False

    def __iter__(self):
        return iter(self.KEYS if self.before is not None else ())

    def __len__(self) -> int:
        return len(self.KEYS) if self.before is not None else 0

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self.values:
            if key not in self.KEYS or self.before is None:
                raise KeyError(key)
            if not self.live:
                raise RuntimeError(f"diagnostic {key!r} first read after θ or r moved on")
            with torch.no_grad():
                self.values.update(self._lengths() if key == "step_length" else self._all())
        return self.values[key]

    def _rr(self) -> list[torch.Tensor]:
        if self.rr is None:
            self.rr = [r.pow(2).sum() for _, r, *_ in self.moved]
        return self.rr

    def _lengths(self) -> dict:
        length2 = 0.0
        for (p, r, eps, g, M, a), rr in zip(self.moved, self._rr()):
            length2 = length2 + (eps * g / M) ** 2 * rr                    # ‖Δθ‖²
        return {"step_length": torch.as_tensor(length2).sqrt()}

    def _all(self) -> dict:
        theta_r = rate = r_norm2 = kinetic = dt = 0.0
        dims = 0
        for (p, r, eps, g, M, a), rr in zip(self.moved, self._rr()):
            tr = (p * r).sum()
            theta_r, rate = theta_r + tr, rate + 2 * g / M * tr           # θᵀr, 2γM⁻¹θᵀr
            r_norm2 = r_norm2 + rr
            kinetic = kinetic + g * rr / (a * M)                           # γ rᵀM⁻¹r/α
            dims += p.numel()
            dt = eps
        after = sum(p.detach().pow(2).sum() for p, *_ in self.moved)
        out = dict(norm2=after, dnorm2_dt=(after - self.before) / dt, theta_r=theta_r,
                   thetar_rate=rate, r_norm2=r_norm2, kinetic_temperature=kinetic / dims)
        if "step_length" not in self.values:
            out.update(self._lengths())
        return out


SAMPLERS = {"sghmc": SGHMC, "sgld": SGLD}


def build(params, cfg: dict, generator: torch.Generator):
    """A sampler from a config's ``sampler`` section (family A's keys; the schedule, prior and
    cycle keys belong to the experiment, not to the update)."""
    cfg = dict(cfg)
    name, resample = cfg.pop("name"), cfg.pop("resample")
    for k in ("prior_scale", "schedule", "cycle_epochs", "burnin_cycles"):
        cfg.pop(k)
    if name == "sgld":
        return SGLD(params, lr=cfg["lr"], temperature=cfg["temperature"], generator=generator)
    every = resample if isinstance(resample, int) and not isinstance(resample, bool) else 0
    return SAMPLERS[name](params, resample_every=every, generator=generator, **cfg)
