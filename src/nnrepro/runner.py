"""The runner: one run of a family, from its settings to its run folder.

``nnrepro/families/<x>/experiment.py`` defines ``run(ctx) -> Status``; ``ctx`` (a
``RunContext``) holds what the runner owns, so the experiment states only what differs::

    def run(ctx):
        s = ctx.settings                       # every setting, defaults filled in, read-only
        ds = ctx.dataset(s["dataset"])         # on ctx.device
        state = RunState(model=..., opt=..., gen=generator(s["seed"], ctx.device), rows=[])
        status = ctx.fit(state, s["epochs"], epoch_fn)     # checkpoint, resume, divergence, progress
        ctx.save_table("epochs", pd.DataFrame(state.rows))
        return status

``ctx.fit`` is ``training.fit`` with the run's checkpoint, device, progress label and divergence
bound; ``ctx.stages()`` the run's ``training.Stages`` (several trainings in one run), whose
``train(checkpoint)`` functions hand their checkpoint to ``ctx.fit(..., checkpoint=...)``.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

from nnrepro import determinism, families
from nnrepro.config import Run
from nnrepro.results import RunDir, Status

log = logging.getLogger("nnrepro")


@dataclass
class Env:
    device: str = "auto"
    processed_dir: Path = Path("data/processed")
    max_loss_ratio: float | None = None   # a loss above this × the run's first loss: diverged

    @property
    def torch_device(self):
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def dataset(self, name: str):
        """The processed data set ``name`` as standardized tensors on the device."""
        from nnrepro.data import load_processed

        return load_processed(Path(self.processed_dir) / f"{name}.pt", self.torch_device)


def experiment_module(family: str):
    """``nnrepro.families.<x>.experiment``, whose ``run(ctx)`` makes one run. Only the family
    asked for is imported: a broken K leaves A's jobs alone."""
    return families.module(family, "experiment")


class RunContext:
    """One run as its experiment sees it: the run's settings, its folder, device, data sets,
    progress label, divergence bound and checkpoint, and ``fit`` / ``stages`` bound to them."""

    def __init__(self, run: Run, out: RunDir, env: Env):
        self.run, self.out, self.env = run, out, env

    @property
    def settings(self):
        """Every setting of the run (the grid point applied, defaults filled in), read-only."""
        return self.run.settings

    @cached_property
    def device(self):
        return self.env.torch_device

    @property
    def label(self) -> str:
        """Names the run in progress lines: ``"<family> <run id>"``."""
        return f"{self.run.family} {self.run.id}"

    @property
    def max_loss_ratio(self) -> float | None:
        """A loss above this × the run's first loss: diverged (None: only a non-finite loss)."""
        return self.env.max_loss_ratio

    @cached_property
    def checkpoint(self):
        """The run's one checkpoint file (beside its folder), keyed by its settings, code and
        device type: a checkpoint written on a GPU is ignored by a run on the CPU (and back)."""
        from nnrepro.training import Checkpoint

        return Checkpoint(self.out.checkpoint, {**self.run.spec, "device_type": self.device.type})

    def dataset(self, name: str):
        """The processed data set ``name`` as standardized tensors on the device."""
        return self.env.dataset(name)

    def save_table(self, name: str, df) -> None:
        """Save a tidy table ``<name>.parquet`` in the run folder."""
        self.out.save_table(name, df)

    @staticmethod
    def steps_per_epoch(n: int, batch_size: int) -> int:
        """Minibatches in one pass over ``n`` examples (the last one may be short)."""
        return -(-n // batch_size)

    def fit(self, state, epochs: int, epoch_fn: Callable, checkpoint=None, what: str = "epoch",
            desc: str | None = None, until: Callable | None = None) -> Status:
        """``training.fit`` with the run's checkpoint (or a stage's ``checkpoint``), device,
        divergence bound and progress label (``"<family> <run id> <what>"``, or ``desc``)."""
        from nnrepro.training import fit

        return Status(fit(state, epochs, self.checkpoint if checkpoint is None else checkpoint,
                          epoch_fn, self.device, desc=desc or f"{self.label} {what}",
                          max_loss_ratio=self.max_loss_ratio, until=until))

    def stages(self):
        """The run's ``training.Stages``, under its checkpoint."""
        from nnrepro.training import Stages

        return Stages(self.checkpoint)


def context(family: str, run_id: str, spec: dict, out_dir: str | Path, env: Env) -> RunContext:
    """The context of a run given as a spec (``expand_runs``' shape), its folder created: for
    calling parts of an experiment directly (tests)."""
    run = Run.from_spec(family, run_id, spec)
    return RunContext(run, RunDir(Path(out_dir), family, run_id, run.spec), env)


class RunLocked(RuntimeError):
    """Another live process is training the same run folder."""


@contextmanager
def exclusive(run_dir: Path, wait_s: float = 30.0):
    """Hold ``<run dir>.lock`` (an flock: the kernel frees it when its holder dies, even by
    SIGKILL) while a run trains. A second trainer of the same run waits up to ``wait_s`` (an
    orphan notices its parent is gone within seconds), then stops naming the PID that holds it."""
    path = run_dir.with_name(run_dir.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    f.seek(0)
                    raise RunLocked(f"run folder {run_dir} is being trained by PID {f.read().strip() or '?'} "
                                    f"(lock {path}): stop that process or wait for it") from None
                time.sleep(0.5)
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)


def run(family: str, run_id: str, spec: dict, out_dir: str | Path, env: Env) -> None:
    """One run of a family given as a spec (settings, with ``sweep``, ``point``, ``code`` beside
    them as ``expand_runs`` and run.json hold them): ``run_one`` of its ``Run``."""
    run_one(Run.from_spec(family, run_id, spec), out_dir, env)


def run_one(run: Run, out_dir: str | Path, env: Env) -> None:
    """One run: the family's experiment computes its tables, run.json is written last. The run
    folder is locked while it trains."""
    with exclusive(Path(out_dir)):
        _run(run, out_dir, env)


def _run(run: Run, out_dir: str | Path, env: Env) -> None:
    out = RunDir(Path(out_dir), run.family, run.id, run.spec)
    ctx = RunContext(run, out, env)
    t0 = time.perf_counter()
    pinned = determinism.pin(ctx.device, run.settings.get("tf32", False))   # kernels, precision (H: tf32)
    log.info("family %s run %s on %s", run.family, run.id, ctx.device)
    status = Status(experiment_module(run.family).run(ctx) or Status.OK)
    from nnrepro.training import stages_file

    for ckpt in (ctx.checkpoint.path, stages_file(ctx.checkpoint).path):
        ckpt.unlink(missing_ok=True)        # finished: nothing left to resume
    out.finish(status=status, wall_s=round(time.perf_counter() - t0, 3), device=str(ctx.device),
               determinism=pinned)
    log.info("family %s run %s: %s in %.1f s", run.family, run.id, status, time.perf_counter() - t0)


def can_stack(runs: list[Run]) -> bool:
    """Whether ``runs`` (two or more, of one family) train as one stack (issue 25): the family's
    experiment has ``run_stack`` and its ``rules.stack_key`` gives them all one shape."""
    from nnrepro.config import stack_key_of

    key = stack_key_of(runs[0].family) if len(runs) > 1 else None
    if key is None or not hasattr(experiment_module(runs[0].family), "run_stack"):
        return False
    shapes = {key(r.settings) for r in runs}
    return len(shapes) == 1 and None not in shapes


def run_stack(runs: list[Run], out_dirs: list[str | Path], env: Env,
              checkpoint: str | Path | None = None) -> None:
    """The runs (``can_stack``) trained together by their family's ``run_stack(ctxs,
    checkpoint)``, each into its own folder with its own run.json (``stack``: how many were
    trained together; ``wall_s``: the stack's time). One checkpoint for the stack, keyed by every
    run's spec: ``checkpoint``, by default beside the first run's folder. Every run folder is
    locked while it trains."""
    from nnrepro.training import Checkpoint

    outs = [RunDir(Path(d), r.family, r.id, r.spec) for r, d in zip(runs, out_dirs)]
    ctxs = [RunContext(r, o, env) for r, o in zip(runs, outs)]
    first = outs[0].path
    path = Path(checkpoint) if checkpoint else first.with_name(first.name + ".stack.checkpoint.pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = Checkpoint(path, {"runs": [r.spec for r in runs], "device_type": ctxs[0].device.type})
    with ExitStack() as locks:
        for d in out_dirs:
            locks.enter_context(exclusive(Path(d)))
        t0 = time.perf_counter()
        pinned = determinism.pin(ctxs[0].device, runs[0].settings.get("tf32", False))  # one shape: one precision
        log.info("family %s: %d runs as one stack on %s", runs[0].family, len(runs), ctxs[0].device)
        statuses = experiment_module(runs[0].family).run_stack(ctxs, ckpt)
        wall = round(time.perf_counter() - t0, 3)
        for out, status in zip(outs, statuses):
            out.finish(status=Status(status), wall_s=wall, device=str(ctxs[0].device), stack=len(runs),
                       determinism=pinned)
        ckpt.path.unlink(missing_ok=True)           # finished: nothing left to resume
    log.info("family %s stack of %d: ok in %.1f s (%d diverged)", runs[0].family, len(runs), wall,
             sum(s == Status.DIVERGED for s in statuses))     # `nnrepro progress` reads ": ok in"


def copy_run(src: str | Path, run: Run, out_dir: str | Path) -> None:
    """``run`` trained as the finished run in ``src`` (identical settings): ``src``'s tables in
    its folder and its own run.json (its id, sweep, point; ``same_as``: the run it copies)."""
    src, info = Path(src), json.loads((Path(src) / "run.json").read_text())
    with exclusive(Path(out_dir)):
        out = RunDir(Path(out_dir), run.family, run.id, run.spec)
        for f in src.iterdir():
            if f.is_file() and f.name != "run.json":
                shutil.copy2(f, out.path / f.name)
        out.finish(status=Status(info["status"]), wall_s=0.0, device=info.get("device"),
                   same_as=info["run"])
