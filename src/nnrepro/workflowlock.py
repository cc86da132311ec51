"""One workflow per results directory.

The Snakefile holds ``results/.workflow.lock`` (an flock: the kernel frees it when its holder
dies, even by SIGKILL) for as long as a Snakemake that executes jobs is alive. A second one
stops before running any job, with one line naming the PID, also after ``snakemake --unlock``.
And because a free flock proves that no workflow is alive, a Snakemake lock left in
``.snakemake/locks`` by a killed run is stale and removed: a plain rerun resumes.

SIGTERM (what a cluster or a container sends to preempt) and SIGINT make Snakemake wait for its
running jobs; here they first write ``results/.workflow.stop``, which every trainer of this
workflow watches: it stops within seconds, keeping its last epoch's checkpoint, and the rerun
resumes from it.
"""
from __future__ import annotations

import fcntl
import os
import signal
import sys
from pathlib import Path


class WorkflowLock:
    def __init__(self, path: str | Path = "results/.workflow.lock"):
        self.path = Path(path)
        self._held = None

    def holder(self) -> int | None:
        """None when no live process holds the lock; else the PID written by its holder (0 if
        unreadable)."""
        if self._held is not None or not self.path.exists():
            return None
        with open(self.path) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return None
            except BlockingIOError:
                text = f.read().strip()
                return int(text) if text.isdigit() else 0

    def clear_stale_snakemake_locks(self, locks: str | Path = ".snakemake/locks") -> list[Path]:
        """Remove Snakemake's own lock files when no workflow holds ours (a killed run's)."""
        if self.holder() is not None:
            return []
        stale = sorted(Path(locks).glob("*.lock"))
        for p in stale:
            p.unlink(missing_ok=True)
        if stale:
            print(f"nnrepro: removed {len(stale)} stale Snakemake lock(s) left by a killed run",
                  file=sys.stderr)
        return stale

    def acquire_or_exit(self) -> None:
        """Hold the lock until this process ends; exit with one line if another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            f.close()
            sys.exit(f"nnrepro: another workflow (PID {pid}) is running in {self.path.parent}/ "
                     f"(lock {self.path}): wait for it to finish or stop it; nothing was run")
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        self._held = f

    @property
    def stop_file(self) -> Path:
        return self.path.with_name(".workflow.stop")

    def stop_trainers_on_signals(self) -> None:
        """On SIGTERM or SIGINT, ask this workflow's trainers to stop (they watch
        ``stop_file``), then do what Snakemake does with the signal."""
        self.stop_file.unlink(missing_ok=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)

            def handler(signum, frame, previous=previous):
                self.stop_file.write_text(f"{signal.Signals(signum).name} to PID {os.getpid()}\n")
                if callable(previous):
                    previous(signum, frame)
                elif signum == signal.SIGINT:
                    raise KeyboardInterrupt
            signal.signal(sig, handler)
