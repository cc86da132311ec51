"""Two training recipes the documents share, written once: an SG-MCMC chain (seed 000; families A
and L) and the SWA phase (seed 001; families B and L).

Each is an object with a state dict, so a ``training.RunState`` checkpoints it whole; an epoch is
one call, and the cycle logic is named. A family keeps what it records (tables, samples).

    chain = SGHMCChain(model, cfg, gen, steps_per_epoch)     # cfg: family A's ``sampler`` keys
    U, nll = chain.epoch(x, y, batch_size, gen)
    if chain.is_sample(epoch): samples.append(flat_params(chain.model).clone())
    chain.end_cycle(epoch)                                     # resample: cycle: r ~ N(0, MαT/γ)

    swa = SWA(model, cfg, steps_per_epoch, swag_rank, device)  # cfg: family B's ``swa`` keys
    swa.start(model)                                           # at the phase's epoch k = 1: ŵ
    losses = swa.epoch(x, y, batch_size, gen)
    if swa.cycle_end(k): swa.collect()                         # ŵ_SWA = (1/k) Σ ŵᵢ, and SWAG
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.functional import cross_entropy
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import SWALR, AveragedModel

from nnrepro import optimizers, samplers
from nnrepro.models import flat_params
from nnrepro.samplers import cosine_schedule
from nnrepro.swag import SWAG
from nnrepro.training import train_epoch


class SGHMCChain:
    """A minibatch SG-MCMC chain (nnrepro.samplers: SGHMC or SGLD) on the potential
    Ũ(θ) = (N/|B|) Σ_{i∈B} NLLᵢ + ‖θ‖²/(2σ²) (seed 000; ``samplers.potential``), from ``model``'s
    current weights with r = 0. The step size ε follows cSG-MCMC's cosine within each cycle of
    ``cycle_epochs`` (``schedule: cosine``; Zhang et al. 2020, eq. 1) or stays constant. The
    epoch that ends a cycle after ``burnin_cycles`` gives a sample; with ``resample: cycle`` the
    momentum is redrawn from its stationary law at every cycle's end."""

    def __init__(self, model: nn.Module, cfg: dict, gen: torch.Generator, steps_per_epoch: int):
        self.model, self.cfg = model, cfg
        self.sampler = samplers.build(model.parameters(), cfg, gen)
        cycle_steps = cfg["cycle_epochs"] * steps_per_epoch
        self.schedule = LambdaLR(self.sampler, cosine_schedule(cycle_steps)
                                 if cfg["schedule"] == "cosine" else (lambda k: 1.0))

    def epoch(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, gen: torch.Generator,
              record=None) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass over (x, y): per minibatch, Ũ, ∇Ũ, a sampler step, a schedule step. Returns
        Ũ and the minibatch's mean NLL per step. ``record(i, out, y, U)`` as in ``train_epoch``
        (it runs before the schedule moves on, so the sampler's lr is the ε of that step)."""
        n, sigma, nll = len(x), self.cfg["prior_scale"], []

        def potential(out, target):    # Ũ(θ) = N·NLL + ‖θ‖²/(2σ²), as samplers.potential
            nll.append(cross_entropy(out, target))
            prior = sum(p.pow(2).sum() for p in self.model.parameters()) / (2 * sigma ** 2)
            return n * nll[-1] + prior

        U = train_epoch(self.model, self.sampler, x, y, batch_size, gen, loss_fn=potential,
                        record=record, after_step=self.schedule.step)
        return U, torch.stack(nll).detach()

    def is_sample(self, epoch: int) -> bool:
        """Whether ``epoch`` (1-based) ends a cycle after the burn-in: θ is then a sample."""
        cycle, rest = divmod(epoch, self.cfg["cycle_epochs"])
        return rest == 0 and cycle > self.cfg["burnin_cycles"]

    def end_cycle(self, epoch: int) -> None:
        """With ``resample: cycle``, at a cycle's end: r ~ N(0, MαT/γ)."""
        if epoch % self.cfg["cycle_epochs"] == 0 and self.cfg["resample"] == "cycle":
            self.sampler.resample_momentum()

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "sampler": self.sampler.state_dict(),
                "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.sampler.load_state_dict(state["sampler"])
        self.schedule.load_state_dict(state["schedule"])


class SWA:
    """The SWA phase (Izmailov et al. 2018; seed 001, "SWA"): from a trained net's solution ŵ,
    more epochs of ``cfg["optimizer"]`` at a constant lr (SWALR, one epoch of annealing) or a
    cyclic one (α₁ → α₂ linearly within each cycle of ``cycle_epochs``, ``optimizers.cyclic_lr``).
    The iterate ŵᵢ at each cycle's end is averaged, ŵ_SWA = (1/k) Σ ŵᵢ (``averaged``, an
    ``AveragedModel``), and collected into a Gaussian (``swag``, nnrepro.swag)."""

    PARTS = ("net", "opt", "schedule", "averaged", "swag")     # what a checkpoint holds

    def __init__(self, model: nn.Module, cfg: dict, steps_per_epoch: int, swag_rank: int,
                 device: torch.device | str):
        self.cfg, self.cyclic = cfg, cfg["schedule"] == "cyclic"
        self.net = copy.deepcopy(model)                  # takes ŵ when the phase starts
        self.opt = optimizers.build(self.net.parameters(), cfg["optimizer"])
        if self.cyclic:                                  # α₁ → α₂ within each cycle, per step
            cycle_steps = cfg["cycle_epochs"] * steps_per_epoch
            self.schedule = LambdaLR(self.opt, optimizers.cyclic_lr(cycle_steps, cfg["min_lr_ratio"]))
        else:                                            # constant, after one epoch of annealing
            self.schedule = SWALR(self.opt, swa_lr=cfg["optimizer"]["lr"], anneal_epochs=1)
        self.averaged = AveragedModel(self.net)
        self.swag = SWAG(flat_params(self.net).numel(), swag_rank, device)

    def start(self, model: nn.Module) -> None:
        """Begin the phase from ``model``'s solution ŵ."""
        self.net.load_state_dict(model.state_dict())

    def epoch(self, x: torch.Tensor, y: torch.Tensor, batch_size: int,
              gen: torch.Generator) -> torch.Tensor:
        """One epoch at the SWA lr (the cyclic one moves every step, SWALR every epoch); returns
        the per-step losses."""
        losses = train_epoch(self.net, self.opt, x, y, batch_size, gen,
                             after_step=self.schedule.step if self.cyclic else None)
        if not self.cyclic:
            self.schedule.step()
        return losses

    def cycle_end(self, k: int) -> bool:
        """Whether epoch k (1-based) of the phase ends a cycle: its iterate ŵᵢ is collected."""
        return k % self.cfg["cycle_epochs"] == 0

    def collect(self) -> None:
        """Collect the iterate ŵᵢ: into the running average ŵ_SWA and into SWAG's moments."""
        self.averaged.update_parameters(self.net)
        self.swag.collect(self.net)

    def state_dict(self) -> dict:
        return {k: getattr(self, k).state_dict() for k in self.PARTS}

    def load_state_dict(self, state: dict) -> None:
        for k in self.PARTS:
            getattr(self, k).load_state_dict(state[k])
