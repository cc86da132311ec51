"""The runner: one run of a family, from its settings to its run folder.

``nnrepro/families/<x>/experiment.py`` defines ``run(spec, out, env) -> status``: ``spec`` is
the run's settings (the family config with the grid point applied, every default filled in from
the schema), ``out`` a ``RunDir`` to save tidy tables into (``out.save_table``) and whose
``out.checkpoint`` path ``training.fit`` resumes from, ``env`` gives the device and the
processed data sets.
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nnrepro import families
from nnrepro.config import RESERVED, fill
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
    """``nnrepro.families.<x>.experiment``, whose ``run(spec, out, env)`` makes one run. Only the
    family asked for is imported: a broken K leaves A's jobs alone."""
    return families.module(family, "experiment")


def full_settings(family: str, spec: dict) -> dict:
    """The run's settings with the schema's defaults filled in, its sweep and point kept."""
    return {**fill(f"family_{family}", spec), **{k: spec[k] for k in RESERVED if k in spec}}


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
    """One run of a family: its settings are checked against the family's schema (defaults
    filled in), the family's experiment computes its tables, run.json is written last. The run
    folder is locked while it trains."""
    with exclusive(Path(out_dir)):
        _run(family, run_id, spec, out_dir, env)


def _run(family: str, run_id: str, spec: dict, out_dir: str | Path, env: Env) -> None:
    settings = full_settings(family, spec)
    out = RunDir(Path(out_dir), family, run_id, settings)
    t0 = time.perf_counter()
    log.info("family %s run %s on %s", family, run_id, env.torch_device)
    status = Status(experiment_module(family).run(settings, out, env) or Status.OK)
    from nnrepro.training import Checkpoint, stages_file

    for ckpt in (out.checkpoint, stages_file(Checkpoint(out.checkpoint)).path):
        ckpt.unlink(missing_ok=True)        # finished: nothing left to resume
    out.finish(status=status, wall_s=round(time.perf_counter() - t0, 3),
               device=str(env.torch_device))
    log.info("family %s run %s: %s in %.1f s", family, run_id, status, time.perf_counter() - t0)
