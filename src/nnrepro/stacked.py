"""K runs of family A trained as one stacked model (issue 25): SGHMC on K MLPs of one shape.

On a GPU a step of the documents' small MLPs is launch-bound: one run per process keeps the
device nearly idle. Here K chains of the same shape (data set, widths, batch size) share every
kernel: the weights of layer l are one ``(K, out, in)`` tensor, the forward is one
``torch.baddbmm`` per layer over a ``(K, B, in)`` batch (each member its own minibatch), and the
SGHMC update is written once over ``(K, D)`` tensors with every hyper-parameter a ``(K,)``
column. Nothing is shared between members but the kernels:

- each member has its OWN ``torch.Generator``: its shuffles, its momentum resamplings and its
  injected noise are drawn from it, in the order a separate run draws them (``samplers.SGHMC``
  on a plain ``models.MLP`` with ``recipes.SGHMCChain``), so member k is the run it would be
  alone, whatever its neighbours and K;
- a member whose potential Ũ becomes non-finite is frozen (its step masked to zero from then
  on) and reported in ``diverged``; the others go on unchanged.

Layout. Member k's row of ``StackedMLP.theta`` (K, D) is ``parameters_to_vector`` of its
``models.MLP``: the weights keep nn.Linear's (out, in) order and the forward uses the
``(K, in, out)`` view ``W.mT``. The per-layer parameters are views of that one row-major
buffer, their gradients views of ``StackedMLP.grad``: the sampler steps the whole stack with a
handful of ops, and noise drawn into a member's slice of a flat buffer has exactly the numbers
``torch.randn(p.shape)`` gives a separate run.

    mlps = [MLP(64, (32, 16), 10) for each seed]          # each built after its own manual_seed
    chain = StackedSGHMCChain.from_mlps(mlps, cfgs, generators, steps_per_epoch)
    U, nll, rec = chain.epoch(x, y, batch_size, record_every=10)  # (steps, K), (steps, K), dict
    chain.end_cycle(epoch); chain.model.member(k, MLP(...))       # member k as a plain MLP
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn.functional import cross_entropy

from nnrepro.models import ACTIVATIONS, MLP
from nnrepro.samplers import cosine_schedule

# the layer parameters are views of one (K, D) buffer and so are their gradients: autograd
# accumulates into them in place and warns (once) that they are not dense; that is the point
warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout")

DIAGNOSTICS = ("norm2", "theta_r", "thetar_rate", "dnorm2_dt", "r_norm2", "kinetic_temperature",
               "step_length")                     # as samplers.SGHMC.diagnostics, per member


class StackedMLP(nn.Module):
    """K MLPs ``n_features → hidden… → n_classes`` of one shape (models.MLP without batchnorm,
    dropout or a bias-free option): weights ``(K, out, in)``, biases ``(K, 1, out)``, all views
    of ``theta`` (K, D); their gradients views of ``grad`` (K, D): zero ``grad`` in place,
    never set a ``.grad`` to None (``zero_grad(set_to_none=True)`` would cut the view)."""

    def __init__(self, k: int, n_features: int, hidden=(256, 128), n_classes: int = 10,
                 activation: str = "relu", device=None, dtype=torch.float32):
        super().__init__()
        self.k, self.activation = k, activation
        self.act = ACTIVATIONS[activation]()
        widths = [n_features, *hidden, n_classes]
        self.shapes = [s for w_in, w_out in zip(widths[:-1], widths[1:])
                       for s in ((w_out, w_in), (w_out,))]              # as nn.Linear's
        sizes = [math.prod(s) for s in self.shapes]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.segments = list(zip(self.offsets, sizes))          # member row = [W₀, b₀, W₁, b₁, …]
        self.dim = sum(sizes)
        self.theta = torch.zeros(k, self.dim, device=device, dtype=dtype)
        self.grad = torch.zeros_like(self.theta)
        self.params = nn.ParameterList()
        for (o, n), s in zip(self.segments, self.shapes):
            view = (k, *s) if len(s) == 2 else (k, 1, *s)          # biases (K, 1, out)
            p = nn.Parameter(self.theta[:, o:o + n].view(view))
            p.grad = self.grad[:, o:o + n].view(view)             # backward accumulates here
            self.params.append(p)
        self.masks: list[torch.Tensor] | None = None

    def set_masks(self, masks: Sequence[torch.Tensor] | None) -> None:
        """Per layer a (K, out, in) 0/1 mask on the weights (family J's pruning), or None."""
        self.masks = None if masks is None else [m.to(self.theta) for m in masks]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(K, B, in) → (K, B, n_classes) logits: h ← h (m_l ⊙ W_l)ᵀ + b_l per member (m_l: the
        pruning mask, ``set_masks``; none by default), then ReLU/tanh."""
        h, last = x, len(self.params) // 2 - 1
        for l in range(last + 1):
            W, b = self.params[2 * l], self.params[2 * l + 1]
            if self.masks is not None:
                W = W * self.masks[l]                    # as torch.nn.utils.prune: weight_orig ⊙ mask
            h = torch.baddbmm(b, h, W.mT)
            if l < last:
                h = self.act(h)
        return h

    @classmethod
    def from_mlps(cls, mlps: Sequence[MLP], device=None) -> "StackedMLP":
        """The stack of ``mlps`` (plain models.MLP of one shape), member k = ``mlps[k]``."""
        linears = [m for m in mlps[0] if isinstance(m, nn.Linear)]
        acts = {type(m) for m in mlps[0] if not isinstance(m, nn.Linear)}
        names = [n for n, a in ACTIVATIONS.items() if {a} == acts or (not acts and n == "linear")]
        if not names or any(m.bias is None for m in linears):
            raise ValueError("stacking needs plain MLPs: Linear (with bias) and one activation")
        p0 = next(mlps[0].parameters())
        model = cls(len(mlps), linears[0].in_features, [m.out_features for m in linears[:-1]],
                    linears[-1].out_features, names[0], device or p0.device, p0.dtype)
        for k, mlp in enumerate(mlps):
            model.load_member(k, mlp)
        return model

    @torch.no_grad()
    def load_member(self, k: int, mlp: MLP) -> None:
        """θ_k ← ``mlp``'s parameters (same values, same order)."""
        shapes = [tuple(p.shape) for p in mlp.parameters()]
        if shapes != [tuple(s) for s in self.shapes]:
            raise ValueError(f"member shapes {self.shapes}, got {shapes}")
        self.theta[k].copy_(nn.utils.parameters_to_vector(mlp.parameters()))

    @torch.no_grad()
    def member(self, k: int, mlp: MLP | None = None) -> MLP:
        """Member k written into ``mlp`` (a new plain MLP of the stack's shape by default)."""
        if mlp is None:
            widths = [s[1] for s in self.shapes[0::2]] + [self.shapes[-1][0]]
            mlp = MLP(widths[0], tuple(widths[1:-1]), widths[-1], self.activation)
            mlp = mlp.to(device=self.theta.device, dtype=self.theta.dtype)
        nn.utils.vector_to_parameters(self.theta[k].clone(), mlp.parameters())
        return mlp


def _per_member(value, k: int) -> list:
    """A scalar for every member, or one value per member."""
    if isinstance(value, (list, tuple)):
        if len(value) != k:
            raise ValueError(f"need {k} values, got {len(value)}")
        return list(value)
    return [value] * k


class StackedSGHMC:
    """``samplers.SGHMC`` for K members at once (module docstring of nnrepro.samplers: Chen et
    al. 2014 eq. 4 with adjusting factor γ and boosting factor α). Every hyper-parameter is a
    scalar or one value per member; ``lr_factors[k](step)`` is member k's LambdaLR factor
    (``cosine_schedule`` or constant). ``step(U, record)`` takes ∇(N·NLL) in ``model.grad``
    and adds the prior's gradient θ/σ² itself."""

    def __init__(self, model: StackedMLP, generators: Sequence[torch.Generator], lr,
                 friction=1.0, mass=1.0, temperature=1.0, gamma=1.0, alpha=1.0,
                 scale_lr=False, resample_every=0, prior_scale=1.0,
                 lr_factors: Sequence[Callable[[int], float]] | None = None, chunk: int = 1024):
        K = model.k
        if len(generators) != K:
            raise ValueError(f"one generator per member: {K} members, {len(generators)} generators")
        self.model, self.generators, self.chunk = model, list(generators), chunk
        h = dict(lr=lr, friction=friction, mass=mass, temperature=temperature, gamma=gamma,
                 alpha=alpha, scale_lr=scale_lr, resample_every=resample_every,
                 prior_scale=prior_scale)
        self.h = {name: _per_member(v, K) for name, v in h.items()}      # host values, per member
        names = ("lr", "friction", "mass", "temperature", "gamma", "alpha")
        for eps, C, M, T, g, a in zip(*(self.h[n] for n in names)):
            if min(eps, M, g, a) <= 0 or C < 0 or T < 0:
                raise ValueError("need lr, mass, gamma, alpha > 0 and friction, temperature >= 0")
        self.lr_factors = list(lr_factors) if lr_factors is not None else [lambda s: 1.0] * K
        self.noisy = [T > 0 and C > 0 for T, C in zip(self.h["temperature"], self.h["friction"])]
        theta = model.theta
        self.r = torch.zeros_like(theta)                 # momentum, r₀ = 0
        self.xi = torch.zeros_like(theta)                # this step's noise ξ ~ N(0, I)
        self.alive = torch.ones(K, 1, dtype=torch.bool, device=theta.device)
        self.path = torch.zeros(K, device=theta.device, dtype=theta.dtype)   # Σ ‖Δθ‖ since reset
        self.steps = 0                                   # steps taken (LambdaLR's last_epoch)

        def col(v):                                      # (K, 1) on the device, from float64
            return torch.tensor(v, dtype=torch.float64).to(theta.dtype).to(theta.device)[:, None]

        g, a, M = (self.h[n] for n in ("gamma", "alpha", "mass"))
        # ∇ of ‖θ‖²/(2σ²) is θ·2·(1/(2σ²)), the product autograd forms for a separate run
        half_prec = [torch.tensor(1.0) / torch.tensor(2 * s ** 2) for s in self.h["prior_scale"]]
        self.half_prec = col([float(p) for p in half_prec])             # 1/(2σ²)
        self.prec = col([2 * float(p) for p in half_prec])              # 1/σ²
        self.rate = col([2 * gi / Mi for gi, Mi in zip(g, M)])          # 2γM⁻¹
        self.g, self.aM = col(g), col([ai * Mi for ai, Mi in zip(a, M)])  # γ, αM
        self.resample_std = [math.sqrt(Mi * ai * T / gi) for Mi, ai, T, gi in
                             zip(M, a, self.h["temperature"], g)]          # r ~ N(0, MαT/γ)
        self.frozen = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0], dtype=theta.dtype,
                                   device=theta.device)[:, None, None]     # Δθ = Δr = 0
        self._table, self._table_start = None, 0
        groups = _draw_plan(model.segments, theta, self.generators[0])
        self._xgroups = [[self.xi[k, o:o + n] for o, n in groups] for k in range(K)]
        self._rviews = [[self.r[k, o:o + n] for o, n in model.segments] for k in range(K)]
        self._xviews = [[self.xi[k, o:o + n] for o, n in model.segments] for k in range(K)]

    # -- per-step coefficients: host float64, as samplers.SGHMC forms them, cast once -------
    def _coefficients(self, start: int, n: int) -> torch.Tensor:
        """(n, 6, K, 1) for steps start…start+n−1: ε', 1−ε'γ²C/M, −ε'α, √(2ε'γαCT), ε'γ/M,
        (ε'γ/M)²."""
        rows = []
        names = ("lr", "friction", "mass", "temperature", "gamma", "alpha")
        for s in range(start, start + n):
            row = []
            for k, f in enumerate(self.lr_factors):
                lr, C, M, T, g, a = (self.h[name][k] for name in names)
                eps = lr * f(s)                                   # LambdaLR: ε₀·factor(step)
                eps = eps / g if self.h["scale_lr"][k] else eps    # ε' = ε/γ
                row.append([eps, 1 - eps * g * g * C / M, -eps * a,
                            math.sqrt(2 * eps * g * a * C * T) if self.noisy[k] else 0.0,
                            eps * g / M, (eps * g / M) ** 2])
            rows.append(row)
        t = torch.tensor(rows, dtype=torch.float64).to(self.model.theta.dtype)   # (n, K, 6)
        return t.permute(0, 2, 1).unsqueeze(-1).contiguous().to(self.model.theta.device)

    def _coefficient_row(self) -> torch.Tensor:
        """This step's (6, K, 1) coefficients (the table is made ``chunk`` steps at a time)."""
        i = self.steps - self._table_start
        if self._table is None or not 0 <= i < len(self._table):
            self._table, self._table_start = self._coefficients(self.steps, self.chunk), self.steps
            i = 0
        return self._table[i]

    def lr(self) -> list[float]:
        """Each member's ε of the next step (as ``param_groups[0]["lr"]`` of a separate run)."""
        return [lr * f(self.steps) for lr, f in zip(self.h["lr"], self.lr_factors)]

    # -- noise: each member from its own generator, in a separate run's order --------------
    def _draw(self, resample: list[bool]) -> None:
        """ξ_k ~ N(0, I) for every noisy member (and r_k ~ N(0, I) before it where member k
        resamples now), parameter by parameter in a separate run's order, from generator k."""
        for k, gen in enumerate(self.generators):
            if resample[k]:
                for rv, xv in zip(self._rviews[k], self._xviews[k]):
                    rv.normal_(generator=gen)
                    if self.noisy[k]:
                        xv.normal_(generator=gen)
                self.r[k].mul_(self.resample_std[k])              # r ~ N(0, MαT/γ)
            elif self.noisy[k]:
                for view in self._xgroups[k]:
                    view.normal_(generator=gen)

    @torch.no_grad()
    def resample_momentum(self, members: Sequence[int]) -> None:
        """r_k ~ N(0, MαT/γ) for the given members (``resample: cycle`` at a cycle's end)."""
        for k in members:
            for rv in self._rviews[k]:
                rv.normal_(generator=self.generators[k])
            self.r[k].mul_(self.resample_std[k])

    # -- the update ------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, U: torch.Tensor, record: bool = False) -> dict | None:
        """One SGHMC step of every member; ``U``: (K,) potentials at θ.
        ``model.grad`` holds ∇(N·NLL). Returns the diagnostics (``record``) or None."""
        theta, r, grad, xi = self.model.theta, self.r, self.model.grad, self.xi
        before = self._dot(theta, theta) if record else None   # ‖θ_k‖², in a separate run's order
        row = self._coefficient_row()
        self.steps += 1
        every = self.h["resample_every"]
        self._draw([bool(e) and self.steps % e == 0 for e in every])   # before the update, as SGHMC
        self.alive &= torch.isfinite(U)[:, None]                # non-finite Ũ: frozen from now on
        c = torch.where(self.alive, row, self.frozen)
        eps, decay, kick, std, move, move2 = c.unbind()          # (K, 1) each
        grad.masked_fill_(~self.alive, 0.0)
        grad.add_(theta * self.prec)                             # ∇Ũ = N∇NLL + θ/σ²
        # dr = (−α∇U − γ²CM⁻¹r) dt + N(0, 2γαCT dt)
        r.mul_(decay).addcmul_(grad, kick)                       # r ← (1 − ε'γ²C/M) r − ε'α∇Ũ
        r.add_(xi.mul_(std))                                     #     + N(0, 2ε'γαCT)
        # dθ = γM⁻¹r dt
        theta.addcmul_(r, move)                                  # θ ← θ + ε'γ/M r
        rr = r.pow(2).sum(1, keepdim=True)                       # ‖r‖²
        step_length = (move2 * rr).sqrt()                        # ‖Δθ‖ = ε'γ/M ‖r‖
        self.path.add_(step_length[:, 0])
        if not record:
            return None
        return self._diagnostics(before, eps, move2)

    def _diagnostics(self, before: torch.Tensor, eps: torch.Tensor, move2: torch.Tensor) -> dict:
        """samplers.SGHMC's diagnostics of the step just taken, (K,) each, summed parameter by
        parameter in its order so that they match a separate run's to the last bits (this
        matters for (‖θ_{k+1}‖² − ‖θ_k‖²)/ε', a difference of two close numbers over ε')."""
        theta_r = rate = r_norm2 = kinetic = length2 = 0.0
        for o, n in self.model.segments:
            p, r = self.model.theta[:, o:o + n], self.r[:, o:o + n]
            tr, rr = (p * r).sum(1, keepdim=True), r.pow(2).sum(1, keepdim=True)
            theta_r, rate = theta_r + tr, rate + self.rate * tr          # θᵀr, 2γM⁻¹θᵀr
            r_norm2 = r_norm2 + rr
            kinetic = kinetic + self.g * rr / self.aM                    # γ rᵀM⁻¹r/α
            length2 = length2 + move2 * rr                               # ‖Δθ‖²
        after = self._dot(self.model.theta, self.model.theta)
        d = dict(norm2=after, dnorm2_dt=(after - before) / eps, theta_r=theta_r,
                 thetar_rate=rate, r_norm2=r_norm2, kinetic_temperature=kinetic / self.model.dim,
                 step_length=length2.sqrt())
        return {name: d[name][:, 0] for name in DIAGNOSTICS}

    def _dot(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(K, 1) Σ_p a_pᵀb_p, summed parameter by parameter as samplers.SGHMC sums."""
        total = 0.0
        for o, n in self.model.segments:
            total = total + (a[:, o:o + n] * b[:, o:o + n]).sum(1, keepdim=True)
        return total

    @property
    def diverged(self) -> torch.Tensor:
        """(K,) bool: members frozen after a non-finite potential."""
        return ~self.alive[:, 0]

    def state_dict(self) -> dict:
        return {"theta": self.model.theta.clone(), "r": self.r.clone(), "alive": self.alive.clone(),
                "path": self.path.clone(), "steps": self.steps,
                "generators": [g.get_state() for g in self.generators]}

    def load_state_dict(self, state: dict) -> None:
        self.model.theta.copy_(state["theta"]); self.r.copy_(state["r"])
        self.alive.copy_(state["alive"]); self.path.copy_(state["path"])
        self.steps, self._table = state["steps"], None
        for g, s in zip(self.generators, state["generators"]):
            g.set_state(s)


def _draw_plan(segments, like: torch.Tensor, gen: torch.Generator) -> list[tuple[int, int]]:
    """How one member draws its noise: consecutive parameters are merged into one ``normal_``
    call where that gives the very numbers of separate ``randn(p.shape)`` calls (on the CPU,
    tensors whose sizes are multiples of 16 are filled in aligned blocks of 16; on CUDA the
    Philox offsets should differ, so that nothing merges). The check is made here, on this
    device, from several generator states, so no kernel detail is assumed. Returns the
    (offset, numel) slices of a member's row to fill, in order."""
    groups = []                                        # [(offset, numel)] merged
    for o, n in segments:
        if groups and _same_numbers(like, groups[-1][1], n, gen):
            groups[-1] = (groups[-1][0], groups[-1][1] + n)
        else:
            groups.append((o, n))
    return groups


def _same_numbers(like: torch.Tensor, n1: int, n2: int, gen: torch.Generator) -> bool:
    """Whether one draw of n1 + n2 normals is a draw of n1 then one of n2 (and leaves the
    generator where they leave it), from a few states of a scratch generator."""
    kw = dict(device=like.device, dtype=like.dtype)
    probe = torch.Generator(device=gen.device)
    for seed, skip in ((0, 0), (1, 1), (2, 17), (3, 5)):
        probe.manual_seed(seed)
        torch.empty(skip, **kw).normal_(generator=probe)
        a = torch.empty(n1, **kw).normal_(generator=probe)
        b = torch.empty(n2, **kw).normal_(generator=probe)
        after = torch.empty(3, **kw).normal_(generator=probe)
        probe.manual_seed(seed)
        torch.empty(skip, **kw).normal_(generator=probe)
        ab = torch.empty(n1 + n2, **kw).normal_(generator=probe)
        after2 = torch.empty(3, **kw).normal_(generator=probe)
        if not (torch.equal(ab, torch.cat([a, b])) and torch.equal(after, after2)):
            return False
    return True


class StackedSGHMCChain:
    """``recipes.SGHMCChain`` for K members of one shape: family A's ``sampler`` config per
    member (SGHMC only), each member's generator used as a separate run uses its one
    generator (the epoch's shuffle, then the sampler's draws)."""

    def __init__(self, model: StackedMLP, cfgs: Sequence[dict],
                 generators: Sequence[torch.Generator], steps_per_epoch: int):
        if any(c["name"] != "sghmc" for c in cfgs):
            raise ValueError("the stacked chain is SGHMC only")
        self.model, self.cfgs, self.generators = model, list(cfgs), list(generators)
        every = [c["resample"] if type(c["resample"]) is int else 0 for c in cfgs]  # every K steps
        factors = [cosine_schedule(c["cycle_epochs"] * steps_per_epoch) if c["schedule"] == "cosine"
                   else (lambda s: 1.0) for c in cfgs]
        keys = ("lr", "friction", "mass", "temperature", "gamma", "alpha", "scale_lr",
                "prior_scale")
        self.sampler = StackedSGHMC(model, generators, resample_every=every, lr_factors=factors,
                                    **{key: [c[key] for c in cfgs] for key in keys})

    @classmethod
    def from_mlps(cls, mlps, cfgs, generators, steps_per_epoch):
        return cls(StackedMLP.from_mlps(mlps), cfgs, generators, steps_per_epoch)

    def epoch(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, record_every: int = 1):
        """One pass over (x, y) per member, each on its own shuffle: Ũ_k, ∇Ũ_k, a step. Returns
        U and NLL (steps, K) and the diagnostics of the steps whose global index is a multiple
        of ``record_every``: {"step": (n,), "lr": (n, K), name: (n, K)}."""
        K, n, model, sampler = self.model.k, len(x), self.model, self.sampler
        perm = torch.stack([torch.randperm(n, generator=g, device=g.device)
                            for g in self.generators])                    # (K, n): own shuffles
        Us, nlls, rec = [], [], {"step": [], "lr": [], **{d: [] for d in DIAGNOSTICS}}
        for idx in perm.split(batch_size, dim=1):                 # (K, B): member k's minibatch
            out = model(x[idx])
            nll = cross_entropy(out.flatten(0, 1), y[idx].flatten(),
                                reduction="none").view(K, -1).mean(1)      # (K,) minibatch NLL
            with torch.no_grad():
                norm2 = model.theta.pow(2).sum(1)                # ‖θ‖²
                U = n * nll.detach() + norm2 * sampler.half_prec[:, 0]   # Ũ = N·NLL + ‖θ‖²/(2σ²)
            model.grad.zero_()
            (n * nll).sum().backward()                            # model.grad: ∇(N·NLL) per member
            if sampler.steps % record_every == 0:                 # a recorded step
                rec["step"].append(sampler.steps)
                rec["lr"].append(sampler.lr())
                d = sampler.step(U, record=True)
                for name in DIAGNOSTICS:
                    rec[name].append(d[name])
            else:
                sampler.step(U)
            Us.append(U)
            nlls.append(nll.detach())
        if rec["step"]:
            rec = {name: torch.tensor(v, dtype=torch.float64) if name in ("step", "lr")
                   else torch.stack(v) for name, v in rec.items()}
        return torch.stack(Us), torch.stack(nlls), rec

    def is_sample(self, epoch: int) -> list[bool]:
        out = []
        for c in self.cfgs:
            cycle, rest = divmod(epoch, c["cycle_epochs"])
            out.append(rest == 0 and cycle > c["burnin_cycles"])
        return out

    def end_cycle(self, epoch: int, members: Sequence[int] | None = None) -> None:
        """Members (all, or those given) with ``resample: cycle`` at their cycle's end:
        r ~ N(0, MαT/γ)."""
        self.sampler.resample_momentum([
            k for k, c in enumerate(self.cfgs) if (members is None or k in members)
            and epoch % c["cycle_epochs"] == 0 and c["resample"] == "cycle"])


class StackedAdam:
    """``optimizers.Adam`` (Kingma & Ba 2015; seed 001 eq. 3 with bias correction) for the K
    members of a ``StackedMLP``, one step for all: the same element-wise ops in the same order
    on the (K, D) buffers, so that member k moves as a separate ``optimizers.Adam`` on its net
    moves for the same gradient. ``lr`` is a scalar or one value per member; betas, eps,
    weight decay and amsgrad are shared (the stack's shape: ``rules.stack_key``). Reads
    ∇ from ``model.grad``."""

    def __init__(self, model: StackedMLP, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, amsgrad=False):
        self.model, self.lr = model, _per_member(lr, model.k)
        self.betas, self.eps, self.weight_decay, self.amsgrad = tuple(betas), eps, weight_decay, amsgrad
        self.m = torch.zeros_like(model.theta)           # first moment
        self.v = torch.zeros_like(model.theta)           # second moment
        self.v_max = torch.zeros_like(model.theta) if amsgrad else None
        self.t = 0
        # mixed lrs: −α per member, float64 on the device (no host-to-device copy in a step)
        self.neg_lr = torch.tensor([-lr for lr in self.lr], dtype=torch.float64,
                                   device=model.theta.device)[:, None]

    @torch.no_grad()
    def step(self) -> None:
        theta, g = self.model.theta, self.model.grad
        beta1, beta2 = self.betas
        if self.weight_decay:
            g = g.add(theta, alpha=self.weight_decay)                # ∇(f + wd/2‖w‖²)
        self.t += 1
        m = self.m.lerp_(g, 1 - beta1)                               # m ← β₁m + (1−β₁)g
        v = self.v.mul_(beta2).addcmul_(g, g, value=1 - beta2)       # v ← β₂v + (1−β₂)g²
        if self.amsgrad:
            v = torch.maximum(self.v_max, v, out=self.v_max)         # v̂ non-decreasing
        bc1, bc2 = 1 - beta1 ** self.t, 1 - beta2 ** self.t
        denom = (v.sqrt() / bc2 ** 0.5).add_(self.eps)               # √v̂ + ε
        if len(set(self.lr)) == 1:
            theta.addcdiv_(m, denom, value=-self.lr[0] / bc1)        # w ← w − α m̂/(√v̂+ε)
        else:                                                        # addcdiv's order: (c·m)/denom
            theta.add_(m.mul((self.neg_lr / bc1).to(theta.dtype)).div_(denom))

    def state_dict(self) -> dict:
        return {"m": self.m.clone(), "v": self.v.clone(), "t": self.t,
                "v_max": None if self.v_max is None else self.v_max.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.m.copy_(state["m"]); self.v.copy_(state["v"]); self.t = state["t"]
        if self.v_max is not None:
            self.v_max.copy_(state["v_max"])
