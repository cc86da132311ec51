"""Every family that trains resumes after a kill with nothing lost but the epoch (part, round)
it was in, and ends with the tables of a run that never stopped (issue 20: "resume with at most
one epoch lost"; issue 18: one resume test for all training families).

The kill is simulated right after a checkpoint is written, half-way through the run's
checkpoints: the rerun must write exactly the checkpoints the killed run had not written yet
(nothing retrained: not a finished net, stage or epoch) and give byte-identical tables."""
import pandas as pd
import pytest

from conftest import TINY_A, TINY_B
from nnrepro import experiments
from nnrepro.training import Checkpoint

# One small run per family (settings from the family tests; the schema fills in the rest).
TINY = {
    "A": {**{k: v for k, v in TINY_A.items() if k != "grid"}, "epochs": 4,
          "sampler": {**TINY_A["sampler"], "resample": "cycle", "gamma": 0.1, "alpha": 10.0}},
    "B": {**{k: v for k, v in TINY_B.items() if k != "grid"}, "seed": 0},
    "C": {"dataset": "digits", "task": "clipping", "seed": 0,
          "clipping": {"depth": 10, "width": 64, "epochs": 3, "max_norm": 1.0}},
    "F": {"dataset": "digits", "seed": 0,
          "regression": {"n": 20, "hidden": [16], "epochs": 3, "samples": 10, "nets": 2, "grid_points": 41},
          "mc": {"hidden": [32], "epochs": 2, "samples": 5, "nets": 1, "repeats": 2},
          "autoencoder": {"hidden": 16, "epochs": 2}},
    "G": {"dataset": "digits", "seed": 0,
          "index_energy": {"n": 2, "points": 6, "problems": 2, "trajectories": 4, "gd_steps": 100,
                           "snapshots": 4, "newton_steps": 20},
          "width": {"widths": [4, 16], "trials": 2, "epochs": 2},
          "paths": {"model": {"hidden": [16]}, "epochs": 2, "pairs": 2, "points": 5, "bezier": {"epochs": 1}}},
    "H": {"dataset": "digits", "model": {"hidden": [32, 32, 32]}, "epochs": 3, "batch_size": 64,
          "optimizer": {"name": "sgd", "lr": 0.1}, "noise": {"mean": 0.84, "std_min": 0.42, "std_max": 1.26},
          "record": {"units": 3, "values": 32}, "seed": 0, "variant": "noisy_bn"},
    "I": {"dataset": "digits", "model": {"hidden": [16, 16], "activation": "relu", "bias": False},
          "epochs": 3, "batch_size": 32, "sgd_lr": 0.05, "path_lr": 0.01, "rescale": {"c": 10.0}, "seed": 0},
    "J": {"dataset": "digits", "model": {"hidden": [40, 20], "activation": "relu"},
          "optimizer": {"name": "adam", "lr": 0.0012}, "epochs": 2, "batch_size": 128, "eval_every": 4,
          "prune": {"rounds": 3, "hidden_rate": 0.5, "output_rate": 0.25, "controls": "target"}, "seed": 0},
    "K": {"seed": 0, "n": 6, "widths": [16, 64], "trials": 2, "steps": 100, "grid_points": 21},
    "L": {"dataset": "digits", "model": {"hidden": [32, 16], "activation": "relu"},
          "optimizer": {"name": "adam", "lr": 0.003}, "epochs": 3, "batch_size": 128, "ensemble": {"members": 3},
          "swa": {"epochs": 3, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
                  "schedule": "cyclic", "cycle_epochs": 1},
          "swag": {"rank": 3, "samples": 4}, "dropout": {"p": 0.3, "samples": 5},
          "sghmc": {"epochs": 4, "cold_temperature": 0.01,
                    "sampler": {"name": "sghmc", "lr": 0.003, "friction": 30.0, "cycle_epochs": 1,
                                "burnin_cycles": 1}},
          "seed": 0},
}


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
    experiments.run(family, "r", TINY[family], path, env)
    return len(saves)


@pytest.mark.parametrize("family", sorted(TINY))
def test_a_killed_run_resumes_losing_nothing_and_gives_the_same_tables(family, tmp_path, env, monkeypatch):
    total = _run(family, tmp_path / "straight", env, monkeypatch)
    assert total >= 2, "the run must checkpoint at least twice to be killed half-way"
    kill_after = total // 2
    with pytest.raises(Killed):
        _run(family, tmp_path / "killed", env, monkeypatch, kill_after)
    assert (tmp_path / "killed.checkpoint.pt").exists()
    assert not (tmp_path / "killed" / "run.json").exists()
    assert _run(family, tmp_path / "killed", env, monkeypatch) == total - kill_after   # nothing redone
    assert not (tmp_path / "killed.checkpoint.pt").exists()
    tables = sorted(p.name for p in (tmp_path / "straight").glob("*.parquet"))
    assert tables and tables == sorted(p.name for p in (tmp_path / "killed").glob("*.parquet"))
    for name in tables:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "straight" / name),
                                      pd.read_parquet(tmp_path / "killed" / name), check_exact=True)
