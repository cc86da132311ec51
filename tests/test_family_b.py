"""Family B (CIFAR-10 MLP: Adam, SWA, SWAG): its rules across fields. Its training, figures
and claims are tested in test_training.py, test_claims.py, test_recipes.py and test_workflow.py."""
from nnrepro.config import fill
from nnrepro.families.b import rules

from conftest import tiny

# tests/test_resume.py resumes this family's tiny run
RESUME_POINT = {}


def settings(**changes) -> dict:
    s = fill("family_B", tiny("B"))
    for key, value in changes.items():
        s[key] = {**s[key], **value}
    return s


def test_swa_needs_two_iterates_and_swag_no_more_rank_than_iterates():
    assert rules.errors(settings()) == []
    one = settings(swa={"epochs": 1, "cycle_epochs": 1})
    assert rules.errors(one) == ["swa.epochs 1 // swa.cycle_epochs 1 = 1 SWA iterates; SWA and "
                                 "SWAG need ≥ 2 (B's plane of three iterates ≥ 3)"]
    wide = settings(swa={"epochs": 3, "cycle_epochs": 1}, swag={"rank": 4})
    assert rules.errors(wide) == ["swag.rank 4 is larger than the 3 SWA iterates it is estimated from"]


# ---------------------------------------------------------------- the claims' pure functions
import math  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nnrepro.catalogue import FIGURE_INFO  # noqa: E402
from nnrepro.families.b import figures as fig_b  # noqa: E402
from nnrepro.results import NoData  # noqa: E402


def _steps(ratios):
    """One run per ratio: 20 steps, loss 1 in the first tenth and ``ratio`` in the last."""
    return pd.DataFrame([{"run": f"r{i}", "status": "ok", "step": s,
                          "loss": 1.0 if s < 2 else (ratio if s >= 18 else 0.8)}
                         for i, ratio in enumerate(ratios) for s in range(20)])


def test_train_loss_claim_passes_fails_and_needs_five_seeds():
    ok = fig_b.train_loss_claim(_steps([0.1, 0.12, 0.09, 0.11, 0.1]), "5 seed(s)", 0)
    assert ok.verdict == "pass" and ok.n == 5 and ok.value == pytest.approx(0.104)
    assert ok.threshold == FIGURE_INFO["B-train-loss"].threshold and ok.test == FIGURE_INFO["B-train-loss"].test
    assert fig_b.train_loss_claim(_steps([0.9, 0.95, 0.92, 0.91, 0.93]), "", 0).verdict == "fail"
    few = fig_b.train_loss_claim(_steps([0.1, 0.12]), "", 0)
    assert few.verdict == "inconclusive" and "fewer than the 5 needed" in few.note


def _epochs(deltas):
    rows = []
    for i, d in enumerate(deltas):
        for model, err in (("base run (Adam, lr 0.003)", 10.0), ("SWA average (SGD, lr 0.05)", 10.0 + d)):
            rows += [{"run": f"r{i}", "status": "ok", "epoch": e, "model": model, "test_error": err}
                     for e in (1, 2)]
    return pd.DataFrame(rows)


def test_swa_claim_passes_fails_and_needs_five_seeds():
    ok = fig_b.swa_claim(_epochs([-1.0, -1.2, -0.9, -1.1, -1.0]), "", 0)
    assert ok.verdict == "pass" and ok.value == pytest.approx(-1.04)
    assert "SWA average (SGD, lr 0.05): 8.96 %" in ok.finding
    assert fig_b.swa_claim(_epochs([1.0, 1.2, 0.9, 1.1, 1.0]), "", 0).verdict == "fail"
    assert fig_b.swa_claim(_epochs([-1.0, -1.2]), "", 0).verdict == "inconclusive"


def _widths(ratios):
    return pd.DataFrame([{"run": f"r{i}", "status": "ok", "correct": c, "width": w}
                         for i, r in enumerate(ratios) for c, w in ((True, 0.1), (False, 0.1 * r))])


def test_swag_ci_claim_passes_fails_and_needs_five_seeds():
    assert fig_b.swag_ci_claim(_widths([3, 2.5, 2.8, 3.1, 2.9]), "", 0).verdict == "pass"
    assert fig_b.swag_ci_claim(_widths([0.5, 0.6, 0.4, 0.5, 0.55]), "", 0).verdict == "fail"
    assert fig_b.swag_ci_claim(_widths([3, 2.5]), "", 0).verdict == "inconclusive"


def _points(deltas):
    return pd.DataFrame([{"run": f"r{i}", "status": "ok", "point": p, "test_err": e}
                         for i, d in enumerate(deltas)
                         for p, e in (("iterate 1", 0.04), ("iterate 2", 0.05), ("iterate 3", 0.06),
                                      ("average of the 3", 0.05 + d / 100))])


def test_swa_plane_claim_passes_fails_and_needs_five_seeds():
    assert fig_b.swa_plane_claim(_points([-1, -1.5, -0.8, -1.2, -1]), "", 0).verdict == "pass"
    assert fig_b.swa_plane_claim(_points([1, 1.5, 0.8, 1.2, 1]), "", 0).verdict == "fail"
    assert fig_b.swa_plane_claim(_points([-1, -1.5]), "", 0).verdict == "inconclusive"


def _flat(ratios):
    return pd.DataFrame([{"run": f"r{i}", "status": "ok", "solution": s, "direction": 0,
                          "distance": t, "test_loss": 1.0 + (r if s == "SWA" else 1.0) * abs(t)}
                         for i, r in enumerate(ratios) for s in ("base", "SWA") for t in (-5, 0, 5)])


def test_flatness_claim_passes_fails_and_says_its_distance():
    ok = fig_b.flatness_claim(_flat([0.5, 0.6, 0.4, 0.5, 0.55]), "5 seed(s)", 0)
    assert ok.verdict == "pass" and ok.value == pytest.approx(0.51)
    assert ok.note.startswith("5 seed(s); |t| = 5")
    assert fig_b.flatness_claim(_flat([1.5, 1.6, 1.4, 1.5, 1.55]), "", 0).verdict == "fail"
    assert fig_b.flatness_claim(_flat([0.5, 0.6]), "", 0).verdict == "inconclusive"


class _AllDiverged:
    """A Results whose every run diverged: its tables have rows, none of an ok run."""
    runs = [{"run": "r0", "status": "diverged", "spec": {"seed": 0}}]

    def table(self, name):
        return pd.DataFrame({"run": ["r0"], "status": ["diverged"], "distance": [math.nan]})

    def diverged(self):
        return ["r0"]


@pytest.mark.parametrize("fn", [fig_b.b_swa_plane, fig_b.b_flatness])
def test_every_run_diverged_is_no_data(fn):
    with pytest.raises(NoData, match="every run diverged"):
        fn(_AllDiverged())
