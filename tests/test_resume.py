"""Every family that trains resumes after a kill with nothing lost but the epoch (part, round)
it was in, and ends with the tables of a run that never stopped (issue 20: "resume with at most
one epoch lost"; issue 18: one resume test for all training families).

The kill is simulated right after a checkpoint is written, half-way through the run's
checkpoints: the rerun must write exactly the checkpoints the killed run had not written yet
(nothing retrained: not a finished net, stage or epoch) and give byte-identical tables."""
import importlib

import pandas as pd
import pytest

from conftest import tiny
from nnrepro import runner
from nnrepro.catalogue import FAMILIES
from nnrepro.config import set_dotted
from nnrepro.training import Checkpoint


def resume_point(family: str) -> dict | None:
    """The run a family resumes: its block of tests/tiny.yaml (the one tiny config of the tests),
    without the grid, at the point its test file names as ``RESUME_POINT`` (a setting whose
    resume has its own code: resampling, clipping, noisy BN); None: it trains nothing."""
    module = importlib.import_module(f"test_family_{family.lower()}")
    assert hasattr(module, "RESUME_POINT"), f"tests/test_family_{family.lower()}.py: say RESUME_POINT"
    return module.RESUME_POINT


POINTS = {x: p for x in FAMILIES if (p := resume_point(x)) is not None}


def one_run(family: str) -> dict:
    spec = {k: v for k, v in tiny(family).items() if k != "grid"}
    for key, value in POINTS[family].items():
        set_dotted(spec, key, value)
    return spec


class Killed(Exception):
    """Stands for SIGKILL right after a checkpoint reached the disk."""


def _run(family, path, env, monkeypatch, kill_after=None) -> int:
    """One run of the family in ``path``; the number of checkpoints it wrote (it is killed
    after its ``kill_after``-th)."""
    save, saves = Checkpoint.save, []

    def counted(self, state):
        save(self, state)
        saves.append(1)
        if len(saves) == kill_after:
            raise Killed

    monkeypatch.setattr(Checkpoint, "save", counted)
    runner.run(family, "r", one_run(family), path, env)
    return len(saves)


@pytest.mark.parametrize("family", sorted(POINTS))
def test_a_killed_run_resumes_losing_nothing_and_gives_the_same_tables(family, tmp_path, env, monkeypatch):
    total = _run(family, tmp_path / "straight", env, monkeypatch)
    assert total >= 2, "the run must checkpoint at least twice to be killed half-way"
    kill_after = total // 2
    with pytest.raises(Killed):
        _run(family, tmp_path / "killed", env, monkeypatch, kill_after)
    assert list(tmp_path.glob("killed.checkpoint*.pt"))
    assert not (tmp_path / "killed" / "run.json").exists()
    assert _run(family, tmp_path / "killed", env, monkeypatch) == total - kill_after   # nothing redone
    assert not list(tmp_path.glob("killed.checkpoint*.pt"))
    tables = sorted(p.name for p in (tmp_path / "straight").glob("*.parquet"))
    assert tables and tables == sorted(p.name for p in (tmp_path / "killed").glob("*.parquet"))
    for name in tables:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "straight" / name),
                                      pd.read_parquet(tmp_path / "killed" / name), check_exact=True)
