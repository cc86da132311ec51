"""Metrics against independent implementations (torchmetrics, sklearn)."""
import math

import pytest
import torch
from sklearn.metrics import log_loss
from torchmetrics.functional.classification import multiclass_calibration_error

from nnrepro.ensembles import RunningEnsemble, ensemble_probs
from nnrepro.metrics import evaluate


@pytest.fixture
def preds():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(500, 7, generator=g), 1)
    y = torch.randint(0, 7, (500,), generator=g)
    return probs, y


def test_ece_matches_torchmetrics(preds):
    probs, y = preds
    ref = multiclass_calibration_error(probs, y, num_classes=7, n_bins=15, norm="l1").item()
    assert evaluate(probs, y)["ece"] == pytest.approx(ref, abs=1e-6)


def test_nll_accuracy_brier(preds):
    probs, y = preds
    m = evaluate(probs, y)
    assert m["nll"] == pytest.approx(log_loss(y.numpy(), probs.double().numpy(), labels=range(7)), rel=1e-6)
    assert m["acc"] == pytest.approx((probs.argmax(1) == y).float().mean().item())
    assert m["err"] == pytest.approx(1 - m["acc"])
    onehot = torch.eye(7)[y]
    assert m["brier"] == pytest.approx(((probs - onehot) ** 2).sum(1).mean().item(), rel=1e-5)


def test_perfect_and_uniform_predictions():
    y = torch.arange(4)
    perfect = evaluate(torch.eye(4), y)
    assert perfect["acc"] == 1 and perfect["nll"] < 1e-12 and perfect["brier"] == 0 and perfect["ece"] == 0
    uniform = evaluate(torch.full((4, 4), 0.25), y)
    assert uniform["nll"] == pytest.approx(math.log(4))


def test_running_ensemble_equals_mean(preds):
    probs, y = preds
    members = [probs, probs.roll(1, 0), probs.flip(1)]
    run = RunningEnsemble()
    for p in members:
        run.add(p)
    assert torch.allclose(run.probs.float(), ensemble_probs(members), atol=1e-6)
    # averaging members never has worse NLL than the mean of the members' NLLs (Jensen)
    assert run.evaluate(y)["nll"] <= sum(evaluate(p, y)["nll"] for p in members) / 3 + 1e-9
