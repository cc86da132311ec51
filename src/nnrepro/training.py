"""The training core every family uses.

The whole data set sits on the device and is shuffled by index (no DataLoader: for these
sizes its overhead is larger than the step). One ``torch.Generator`` drives shuffling (and any
sampler noise), so a run is a function of its seed; its state goes into each checkpoint, so a
run killed mid-way and resumed gives the same numbers as one that never stopped.

``fit`` is the one epoch loop: a family writes the body of an epoch, and ``fit`` restores,
checkpoints, stops a diverged run and shows progress::

    state = RunState(model=model, opt=opt, gen=gen, steps=[])
    def epoch(k):
        state.steps += train_epoch(state.model, state.opt, x, y, 128, state.gen).tolist()
        return torch.tensor(state.steps[-1])           # a non-finite loss: diverged
    status = fit(state, epochs, Checkpoint(path, spec), epoch, desc="B seed~0")
    # an experiment calls it through its run context: ctx.fit(state, epochs, epoch)

Each checkpoint also carries torch's global RNG state (dropout draws from it). A run that trains
several things one after another (parts, nets) names each a stage (``Stages``): a finished
stage's result is kept in the checkpoint and never recomputed after a kill.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterable, Iterator, TypeVar

import torch
from torch import nn

from nnrepro.results import Status, atomic_write_bytes

log = logging.getLogger("nnrepro")


def stream_seed(seed: int, name: str, *ints: int) -> int:
    """The 63-bit seed of the run's random stream ``name`` (with indices ``ints``: a net, a
    trial, a width): a hash of (seed, name, ints), so distinct streams never share a seed (no
    arithmetic like seed + 10 000 that two families or two indices can collide on) and a stream
    is the same in every process."""
    key = json.dumps([int(seed), name, [int(i) for i in ints]])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") >> 1


def stream(seed: int, name: str, *ints: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The run's random stream ``name``: a generator of its own (``stream_seed``)."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, name, *ints))


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Seed torch globally (for initialisations) and return the run's own generator."""
    torch.manual_seed(seed)             # deterministic kernels: nnrepro.determinism (the runner)
    return torch.Generator(device=device).manual_seed(seed)


NONFINITE_CHECK_EVERY = 32
"""Steps between ``train_epoch``'s finiteness checks where a family asks for fewer host syncs
(``check_every``; families C and H, issue 25): one sync per 32 steps instead of one a step."""


def minibatches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Index tensors of one epoch: a fresh permutation cut into batches (last one may be short)."""
    perm = torch.randperm(n, generator=gen, device=gen.device)
    yield from perm.split(batch_size)


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                batch_size: int, gen: torch.Generator,
                loss_fn: Callable = nn.functional.cross_entropy,
                before_step: Callable[[], None] | None = None,
                after_step: Callable[[], None] | None = None,
                record: Callable | None = None,
                drop_last: bool = False, stop_if_nonfinite: bool = False,
                batches: Iterable[torch.Tensor] | None = None,
                check_every: int = 1) -> torch.Tensor:
    """One pass over (x, y); returns the per-step minibatch losses (kept on the device).

    Each step: ``loss = loss_fn(model(x_B), y_B)``, backward, ``before_step()`` (e.g. gradient
    clipping), ``opt.step()``, ``record(i, out, y_B, loss)`` (i: the step in the epoch; out and
    loss detached; the lr is still the one the step used), ``after_step()`` (e.g. a scheduler).
    ``drop_last`` skips the last batch if it is short; ``stop_if_nonfinite`` ends the epoch after
    the first step with a non-finite loss: the losses are checked every ``check_every`` steps
    and at the epoch's end (one device sync per check, none in the other steps), and the losses
    returned end at the first non-finite one, as with a check every step; up to
    ``check_every - 1`` steps past it have then been taken (the model, the optimizer and what
    ``record`` saw have moved on; a family truncates its own records). ``batches``: the epoch's
    index tensors, drawn by the caller (family G: one permutation per member, (T, B) indices);
    by default a fresh permutation from ``gen`` cut into ``batch_size``."""
    model.train()
    losses, checked = [], 0                     # losses[:checked] are known to be finite
    batches = minibatches(len(x), batch_size, gen) if batches is None else batches
    for i, idx in enumerate(batches):
        if drop_last and idx.shape[-1] < batch_size:
            continue
        out, target = model(x[idx]), y[idx]
        loss = loss_fn(out, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if before_step is not None:
            before_step()
        opt.step()
        losses.append(loss.detach())
        if record is not None:
            record(i, out.detach(), target, losses[-1])
        if after_step is not None:
            after_step()
        if stop_if_nonfinite and len(losses) - checked >= check_every:
            checked, stop = _first_nonfinite(losses, checked)
            if stop:
                break
    if stop_if_nonfinite and checked < len(losses):          # the epoch's last window
        checked, _ = _first_nonfinite(losses, checked)
    return torch.stack(losses)


def _first_nonfinite(losses: list[torch.Tensor], checked: int) -> tuple[int, bool]:
    """Check the losses after ``checked`` (one host sync): when one is non-finite, cut
    ``losses`` after the first such and return (its length, True); else (len(losses), False)."""
    if len(losses) - checked == 1:                          # check_every = 1: the last loss
        return len(losses), not finite(losses[-1])
    window = torch.stack(losses[checked:])
    if finite(window):
        return len(losses), False
    del losses[checked + int((~torch.isfinite(window)).nonzero()[0, 0]) + 1:]
    return len(losses), True


def finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all())


class Checkpoint:
    """One checkpoint file per run, written atomically (temp file + rename) every epoch.

    ``spec`` (the run's settings) is stored with it: a checkpoint left by a run with other
    settings is ignored, so a changed config never resumes from a stale state.
    """

    def __init__(self, path: str | Path, spec: dict | None = None):
        self.path = Path(path)
        self.key = json.dumps(spec, sort_keys=True, default=str)

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("_spec") != self.key:
            log.info("ignoring %s: written by a run with other settings", self.path)
            return None
        if "epoch" in state:
            log.info("resuming from %s (epoch %s)", self.path, state["epoch"])
        return state

    def save(self, state: dict) -> None:
        buf = io.BytesIO()
        torch.save({**state, "_spec": self.key}, buf)
        atomic_write_bytes(self.path, buf.getvalue())


def progress(iterable, total: int | None = None, desc: str = ""):
    """A tqdm bar on an interactive terminal; otherwise log lines (about ten per loop)."""
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        yield from tqdm(iterable, total=total, desc=desc, leave=False)
        return
    total = total if total is not None else len(iterable)
    every = max(1, total // 10)
    for i, item in enumerate(iterable):
        if i % every == 0 or i == total - 1:
            log.info("%s %d/%d", desc, i + 1, total)
        yield item


class EpochLog:
    """A log line now and then (every 10 % of the epochs, at most every 30 s) with the epoch, its
    mean loss and the time left: `nnrepro progress` shows the last one of every running job."""

    def __init__(self, desc: str, start: int, epochs: int, every_s: float = 30.0):
        self.desc, self.start, self.epochs, self.every_s = desc, start, epochs, every_s
        self.t0 = self.last = time.monotonic()
        self.step = max(1, (epochs - start) // 10)

    def __call__(self, epoch: int, losses: torch.Tensor) -> None:
        now, done = time.monotonic(), epoch - self.start
        if done % self.step and epoch != self.epochs and now - self.last < self.every_s:
            return
        self.last = now
        eta = (now - self.t0) / done * (self.epochs - epoch)
        log.info("%s %d/%d loss %.4g eta %.0f s", self.desc, epoch, self.epochs,  # desc names the unit
                 losses.mean().item(), eta)


def to_cpu(obj):
    """State dicts (nested) moved to CPU, for device-independent checkpoints."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def to_device(obj, device):
    """Inverse of ``to_cpu`` for a restored checkpoint: tensors (nested) onto ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def rng_state() -> dict:
    """torch's global RNG state (CPU, and every CUDA device's when present): dropout and
    ``torch.randn`` without a generator draw from it."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"cpu": torch.get_rng_state(), "cuda": [s.cpu() for s in cuda]}


def set_rng_state(saved: dict) -> None:
    torch.set_rng_state(saved["cpu"])
    if saved["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda"])


def _stateful(v) -> bool:
    """An object with a state to checkpoint, or a non-empty list / dict of such objects."""
    if isinstance(v, (list, tuple)):
        return len(v) > 0 and all(_stateful(x) for x in v)
    if isinstance(v, dict):
        return len(v) > 0 and all(_stateful(x) for x in v.values())
    return isinstance(v, torch.Generator) or hasattr(v, "state_dict")


def _state(v):
    if isinstance(v, torch.Generator):
        return v.get_state()
    if hasattr(v, "state_dict"):
        return v.state_dict()
    if _stateful(v) and isinstance(v, dict):                # a dict or list of them
        return {k: _state(x) for k, x in v.items()}
    if _stateful(v):
        return [_state(x) for x in v]
    return v


def _restore(v, saved, device):
    """``saved`` loaded into the stateful ``v`` in place (returned); a plain value is replaced."""
    if isinstance(v, torch.Generator):
        v.set_state(saved)
    elif hasattr(v, "state_dict"):
        v.load_state_dict(to_device(saved, device))
    elif _stateful(v):
        for k in (range(len(v)) if isinstance(v, (list, tuple)) else v):
            _restore(v[k], saved[k], device)
    else:
        return to_device(saved, device)
    return v


class RunState(SimpleNamespace):
    """Everything of a run that changes while it trains, by name: objects with a state dict
    (model, optimizer or sampler, scheduler, ensembles, SWAG), ``torch.Generator``s, lists and
    dicts of those (an ensemble's members, one optimizer per net), and plain values (rows of the
    tables gathered so far, running sums, the previous sample). A checkpoint is ``state_dict()``;
    the epoch body reads and writes the attributes."""

    def state_dict(self) -> dict:
        return to_cpu({k: _state(v) for k, v in vars(self).items()})

    def load_state_dict(self, saved: dict, device) -> None:
        for k, v in vars(self).items():
            setattr(self, k, _restore(v, saved[k], device))


def fit(state: RunState, epochs: int, checkpoint: Checkpoint,
        epoch_fn: Callable[[int], torch.Tensor], device="cpu", desc: str = "",
        max_loss_ratio: float | None = None, until: Callable[[], bool] | None = None) -> Status:
    """Run ``epoch_fn(epoch)`` for epochs 1..``epochs``, resuming after the last epoch of a
    checkpoint left by the same settings and checkpointing ``state`` after every epoch.
    ``epoch_fn`` returns the epoch's losses (per step, in order). The run stops with status
    ``diverged`` (that epoch's rows kept, no checkpoint written) when a loss is non-finite or,
    with ``max_loss_ratio``, exceeds that multiple of the run's first loss (Adam at lr 1e4
    reaches 1e14 while staying finite); ``until``: a stopping rule read after each epoch (its
    checkpoint written): when it returns True, the run ends there with status ok. Returns the
    status (``Status``, a ``str``)."""
    saved, start, initial = checkpoint.load(), 0, None
    if saved is not None:
        start, initial = saved.pop("epoch"), saved.pop("_initial_loss")
        set_rng_state(saved.pop("_rng"))                  # dropout masks go on as if never stopped
        state.load_state_dict(saved, device)
        if until is not None and until():              # stopped by the rule before the kill
            return Status.OK
    report = EpochLog(desc, start, epochs)
    todo = range(start + 1, epochs + 1)
    for epoch in progress(todo, desc=desc) if sys.stderr.isatty() else todo:  # a bar, or log lines
        losses = epoch_fn(epoch).detach().double().cpu()
        report(epoch, losses)
        if not finite(losses):
            log.info("%s: non-finite loss at epoch %d: diverged", desc, epoch)
            return Status.DIVERGED
        initial = losses.flatten()[0].abs().item() if initial is None else initial
        if max_loss_ratio is not None and losses.max().item() > max_loss_ratio * initial:
            log.info("%s: loss %.3g at epoch %d is over %g × its initial %.3g: diverged", desc,
                     losses.max().item(), epoch, max_loss_ratio, initial)
            return Status.DIVERGED
        checkpoint.save({"epoch": epoch, "_initial_loss": initial, "_rng": rng_state(),
                         **state.state_dict()})
        if until is not None and until():
            break
    return Status.OK


T = TypeVar("T")


class Stages:
    """Several trainings in one run (a family's parts, its nets, one after another), under the
    run's one checkpoint file. ``stages(name, train)`` returns ``train(checkpoint)``, where
    ``train`` hands ``checkpoint`` to ``fit``. When a stage ends, its result (rows, a trained
    net: whatever ``torch.save`` keeps) and torch's global RNG state after it go into the file:
    after a kill, finished stages return their kept results without training, and the stage that
    was running resumes from its last epoch. Names must be unique within the run::

        stages = Stages(Checkpoint(out.checkpoint, spec))      # an experiment: ctx.stages()
        rows = [stages(f"net {k}", lambda ckpt: train_net(k, ckpt)) for k in range(nets)]
    """

    def __init__(self, checkpoint: Checkpoint):
        self.checkpoint = checkpoint                  # the running stage's epochs
        self.finished = stages_file(checkpoint)       # the finished stages: written once each
        self.done = (self.finished.load() or {}).get("_stages", {})   # name -> (result, RNG after it)
        if self.done:
            log.info("resuming from %s: stages %s done", self.finished.path, ", ".join(self.done))

    def __call__(self, name: str, train: Callable[[Checkpoint], T]) -> T:
        if name in self.done:
            result, rng = self.done[name]
            set_rng_state(rng)                                # as if it had just been trained
            return result
        result = train(StageCheckpoint(self, name))
        self.done[name] = (result, rng_state())
        self.finished.save({"_stages": self.done})
        return result


def stages_file(checkpoint: Checkpoint) -> Checkpoint:
    """Beside the run's checkpoint, the file of its finished stages (same settings key): an
    epoch's checkpoint then holds the running stage alone, not every finished stage's result."""
    finished = Checkpoint(checkpoint.path.with_name(checkpoint.path.stem + ".stages.pt"))
    finished.key = checkpoint.key
    return finished


class StageCheckpoint:
    """The running stage's view of the run's checkpoint (``load`` and ``save`` as ``Checkpoint``):
    its epochs, tagged with its name."""

    def __init__(self, stages: Stages, name: str):
        self.stages, self.name = stages, name

    def load(self) -> dict | None:
        saved = self.stages.checkpoint.load()
        return saved if saved is not None and saved.get("_stage") == self.name else None

    def save(self, state: dict) -> None:
        self.stages.checkpoint.save({**state, "_stage": self.name})
