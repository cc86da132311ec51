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
