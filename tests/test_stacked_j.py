"""Family J's runs stacked into one job (issue 25): each seed's tables as when it trains alone
(E1-E5 of the issue on J's tiny config), and the stacked Adam step equal to ``optimizers.Adam``."""
import json

import pandas as pd
import pytest
import torch

from nnrepro import config, optimizers, runner
from nnrepro.config import Run
from nnrepro.models import MLP
from nnrepro.stacked import StackedAdam, StackedMLP

from conftest import runs_alone as _alone, stack_runs as _stack, tiny

TABLES = ["evals.parquet", "masks.parquet", "rounds.parquet"]


def _runs(seeds=(0, 1, 2), **over) -> list[Run]:
    block = tiny("J")
    block["grid"] = {"seeds": {"seed": list(seeds)}}
    block.update(over)
    return [Run.from_spec("J", rid, spec) for rid, spec in config.expand_runs(block).items()]


def _same_tables(a, b, exact=False):
    assert sorted(p.name for p in a.glob("*.parquet")) == TABLES
    assert sorted(p.name for p in b.glob("*.parquet")) == TABLES
    for name in TABLES:
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        pd.testing.assert_frame_equal(x, y, check_exact=exact, rtol=1e-5, atol=1e-6,
                                      obj=f"{a.name}/{name}")


@pytest.mark.parametrize("amsgrad,wd,lrs", [(False, 0.0, [1e-3] * 3), (True, 1e-4, [1e-3, 3e-3, 1e-2])])
def test_stacked_adam_equals_the_per_run_adam(amsgrad, wd, lrs):
    """30 steps on the same gradients (member k's loss on its own batch): every member's
    parameters equal those of ``optimizers.Adam`` on a plain MLP."""
    torch.manual_seed(0)
    nets = [MLP(12, (8, 6), 4) for _ in lrs]
    stack = StackedMLP.from_mlps(nets)
    opt = StackedAdam(stack, lr=lrs, amsgrad=amsgrad, weight_decay=wd)
    opts = [optimizers.Adam(n.parameters(), lr=lr, amsgrad=amsgrad, weight_decay=wd)
            for n, lr in zip(nets, lrs)]
    g = torch.Generator().manual_seed(1)
    for _ in range(30):
        x, y = torch.randn(len(lrs), 16, 12, generator=g), torch.randint(0, 4, (len(lrs), 16), generator=g)
        for k, (n, o) in enumerate(zip(nets, opts)):
            o.zero_grad()
            torch.nn.functional.cross_entropy(n(x[k]), y[k]).backward()
            o.step()
        stack.grad.zero_()
        torch.nn.functional.cross_entropy(stack(x).flatten(0, 1), y.flatten(),
                                          reduction="none").view(len(lrs), -1).mean(1).sum().backward()
        opt.step()
    for k, n in enumerate(nets):
        torch.testing.assert_close(stack.theta[k], torch.nn.utils.parameters_to_vector(n.parameters()),
                                   rtol=1e-5, atol=1e-6)


def test_e1_each_seed_of_a_stack_has_the_tables_of_its_run_alone(env, tmp_path):
    runs = _runs()
    assert runner.can_stack(runs)
    alone, stacked = _alone(runs, tmp_path / "alone", env), _stack(runs, tmp_path / "stack", env)
    for r in runs:
        _same_tables(alone / r.id, stacked / r.id)
        info = json.loads((stacked / r.id / "run.json").read_text())
        assert (info["run"], info["status"], info["stack"]) == (r.id, "ok", 3)
    masks = [pd.read_parquet(stacked / r.id / "masks.parquet") for r in runs]
    assert all(m.equals(masks[0]) for m in masks)                  # one shape, the same counts
    assert not list(tmp_path.glob("stack/*.checkpoint.pt"))          # finished: removed


def test_e3_a_seeds_tables_do_not_depend_on_its_stack(env, tmp_path):
    runs = _runs((0, 1, 2, 3))
    _stack(runs[:2], tmp_path / "a", env)
    _stack([runs[3], runs[1], runs[2]], tmp_path / "b", env)
    _same_tables(tmp_path / "a" / runs[1].id, tmp_path / "b" / runs[1].id)


def test_e4_a_member_that_diverges_leaves_the_others_as_without_it(env, tmp_path):
    runs = _runs()
    spec = runs[1].spec
    spec["optimizer"]["lr"] = 1e4                    # Adam at lr 1e4: losses past max_loss_ratio
    bad = Run.from_spec("J", runs[1].id, spec)
    key = config.stack_key_of("J")
    assert key(bad.settings) == key(runs[0].settings)              # the lr is per member
    _stack([runs[0], bad, runs[2]], tmp_path / "with", env)
    _stack([runs[0], runs[2]], tmp_path / "without", env)
    for r in (runs[0], runs[2]):
        _same_tables(tmp_path / "with" / r.id, tmp_path / "without" / r.id, exact=True)
        assert json.loads((tmp_path / "with" / r.id / "run.json").read_text())["status"] == "ok"
    assert json.loads((tmp_path / "with" / bad.id / "run.json").read_text())["status"] == "diverged"
    _alone([bad], tmp_path / "alone", env)                            # as the run alone stops
    _same_tables(tmp_path / "alone" / bad.id, tmp_path / "with" / bad.id)
    rounds = pd.read_parquet(tmp_path / "with" / bad.id / "rounds.parquet")
    assert set(rounds["round"]) == {0}                               # stopped after its first round



def test_e1_and_e4_on_cuda(cuda_env, tmp_path):
    """E1 and E4 with every run on CUDA (its own CUDA generators): skipped without a GPU."""
    test_e1_each_seed_of_a_stack_has_the_tables_of_its_run_alone(cuda_env, tmp_path / "e1")
    test_e4_a_member_that_diverges_leaves_the_others_as_without_it(cuda_env, tmp_path / "e4")

def test_e5_a_killed_and_resumed_stack_equals_an_uninterrupted_one(env, tmp_path, monkeypatch):
    runs = _runs((0, 1))
    _stack(runs, tmp_path / "whole", env)
    from nnrepro.families.j import experiment as j
    real, calls = j.train_stack, []

    def killed(*a, **kw):                     # the job dies in its third training (round 1)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(j, "train_stack", killed)
    with pytest.raises(KeyboardInterrupt):
        _stack(runs, tmp_path / "resumed", env)
    monkeypatch.setattr(j, "train_stack", real)
    _stack(runs, tmp_path / "resumed", env)
    for r in runs:
        _same_tables(tmp_path / "whole" / r.id, tmp_path / "resumed" / r.id, exact=True)
