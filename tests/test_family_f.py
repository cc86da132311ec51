"""Family F: MC outputs of a regression net, resumable dropout training, the claims as pure
functions, and the family end to end. (MC dropout at p = 0 equals the deterministic net:
test_methods.py; Gaussian dropout's variance: test_models.py.)"""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from nnrepro import synthetic
from nnrepro.experiments import Env, f, run
from nnrepro.families import FIGURES
from nnrepro.figures import f as ff
from nnrepro.figures import render
from nnrepro.models import MLP, flat_params
from nnrepro.results import Results
from nnrepro.training import Checkpoint, generator


def test_regression_data_has_the_gap():
    x, y = synthetic.regression_1d(200, [[-4, -1.5], [1.5, 4]], 0.0, seed=3)
    assert np.all(np.abs(x) >= 1.5) and np.all(np.abs(x) <= 4) and np.all(np.diff(x) >= 0)
    assert np.allclose(y, x * np.sin(x)) and (x < 0).any() and (x > 0).any()


def test_mc_outputs_members_differ_reproduce_and_leave_the_model_in_eval():
    torch.manual_seed(0)
    net = MLP(1, (32,), 1, dropout=0.3)
    x = torch.linspace(-1, 1, 7)[:, None]
    a, b = f.mc_outputs(net, x, 5, seed=1), f.mc_outputs(net, x, 5, seed=1)
    assert a.shape == (5, 7) and torch.equal(a, b)
    assert (a.std(0) > 0).any() and not net.training
    plain = MLP(1, (32,), 1)                                   # p = 0: every member is the net
    assert torch.allclose(f.mc_outputs(plain, x, 3, seed=1), plain(x).squeeze(-1).expand(3, 7).detach())


def test_dropout_training_resumes_with_the_same_masks(tmp_path, monkeypatch):
    """The global RNG that draws dropout masks is part of the checkpointed state."""
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    env = Env(device="cpu")

    def train(epochs, ckpt):
        gen = generator(0)
        net = MLP(4, (16,), 3, dropout=0.5)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        f.train(net, opt, x, y, epochs, 16, gen, nn.functional.cross_entropy, ckpt, env, "t")
        return flat_params(net)

    straight = train(4, Checkpoint(tmp_path / "a.pt", {"k": 1}))
    monkeypatch.setattr(Checkpoint, "remove", lambda self: None)   # keep it, as a killed run would
    train(2, Checkpoint(tmp_path / "b.pt", {"k": 1}))
    torch.manual_seed(123)                                    # the global RNG moved on meanwhile
    resumed = train(4, Checkpoint(tmp_path / "b.pt", {"k": 1}))
    assert torch.equal(straight, resumed)


def test_unit_range_maps_each_pixel_to_0_1():
    x_train = torch.tensor([[0.0, -1.0, 5.0], [2.0, 3.0, 5.0], [1.0, 1.0, 5.0]])
    x_test = torch.tensor([[4.0, -3.0, 5.0]])
    tr, te = f.unit_range(x_train, x_test)
    assert torch.allclose(tr, torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.0]]))
    assert torch.equal(te, torch.tensor([[1.0, 0.0, 0.0]]))           # clipped; a constant pixel stays 0


def test_hoyer_sparsity():
    w = np.array([[1.0, 0, 0, 0], [1, 1, 1, 1], [-1, 1, -1, 1], [2, 1, 0, 0]])
    s = f.hoyer_sparsity(w)
    assert s[0] == pytest.approx(1) and s[1] == pytest.approx(0) and s[2] == pytest.approx(0)
    assert 0 < s[3] < 1


# --- claims as pure functions, on small hand-made tables -------------------------------------------

def test_spread_ratio():
    reg = pd.DataFrame({"distance_to_data": [0.0, 0.05, 0.5, 1.0, 2.0], "mc_std": [0.1, 0.3, 5.0, 0.6, 1.0]})
    assert ff.spread_ratio(reg) == pytest.approx(0.8 / 0.2)              # 0.5 is neither
    assert math.isnan(ff.spread_ratio(reg[reg.distance_to_data < 1]))   # nothing away from the data


def _mc_table():
    rows = [dict(kind=k, method="weight scaling", M=np.nan, repeat=0, nll=ws, diverged=False)
            for k, ws in (("bernoulli", 0.30), ("gaussian", 0.20))]
    for r in range(2):
        for k, curve in (("bernoulli", [0.5, 0.31, 0.29]), ("gaussian", [0.4, 0.25, 0.22 + 0.01 * r])):
            rows += [dict(kind=k, method="MC dropout", M=m, repeat=r, nll=v, diverged=False)
                     for m, v in zip((1, 2, 3), curve)]
    return pd.DataFrame(rows)


def test_mc_vs_scaling_claim():
    mc = _mc_table()
    # per draw, the worse kind at M = 3: gaussian 0.22 − 0.20 and 0.23 − 0.20
    assert ff.mc_minus_scaling(mc) == pytest.approx([0.02, 0.03])
    assert ff.first_match(mc) == {"bernoulli": 3, "gaussian": None}
    assert ff.mc_minus_scaling(mc[mc.method == "MC dropout"]) == []


def test_mean_sparsity_and_mosaic():
    feats = pd.DataFrame({"p": [0.0, 0.0, 0.5, 0.5], "hoyer": [0.1, 0.3, 0.4, 0.6]})
    assert ff.mean_sparsity(feats) == pytest.approx({0.0: 0.2, 0.5: 0.5})
    filt = pd.DataFrame({"unit": np.repeat([0, 1, 2], 4), "pixel": np.tile(range(4), 3),
                         "weight": [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, -4]})
    m = ff.mosaic(filt, 3)                   # 2 × 2 images on a 2 × 2 grid, 1-pixel borders
    assert m.shape == (7, 7) and np.nanmax(m) == 1 and np.nanmin(m) == -1
    assert m[1, 1] == 1 and m[1, 5] == 1 and m[5, 2] == -1 and np.isnan(m[4:, 4:]).all()


def test_end_to_end(tmp_path, env):
    spec = dict(dataset="digits",
                regression=dict(n=20, hidden=[16], epochs=30, samples=10, nets=2, grid_points=41),
                mc=dict(hidden=[32], epochs=2, samples=5, repeats=2),
                autoencoder=dict(hidden=16, epochs=2))
    out = tmp_path / "runs/F/default"
    run("F", "default", spec, out, env)
    claims = render("F", Results([out / "run.json"]), tmp_path / "fig", "quick")
    assert list(claims.figure_id) == FIGURES["F"]
    assert all((tmp_path / "fig" / f"{i}.png").exists() for i in FIGURES["F"])
    assert list(claims["verdict"])[-1] == "reference"
    assert set(claims["n"][:2]) == {2}
    assert not list(tmp_path.glob("runs/F/*.pt"))              # per-net checkpoints removed
