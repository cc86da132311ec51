"""The schema rejects an invalid config before any job runs, naming the offending key."""
import copy

import pytest

from nnrepro.config import expand_runs, load, run_id, validate

from conftest import REPO, TINY_B, snakemake, tiny_config


def _bad(mutate):
    cfg = copy.deepcopy(tiny_config(B=TINY_B))
    mutate(cfg)
    return cfg


BAD = {
    "unknown key": (lambda c: c["families"]["B"].update(epohcs=3), "epohcs"),
    "wrong type": (lambda c: c["families"]["B"].update(epochs="ten"), "families.B.epochs"),
    "unknown dataset": (lambda c: c["families"]["B"].update(dataset="imagenet"), "families.B.dataset"),
    "unknown optimizer": (lambda c: c["families"]["B"]["optimizer"].update(name="lbfgs"),
                          "families.B.optimizer.name"),
    "negative lr": (lambda c: c["families"]["B"]["optimizer"].update(lr=-1), "families.B.optimizer.lr"),
    "unknown top-level key": (lambda c: c.update(epochs=3), "epochs"),
}


@pytest.mark.parametrize("case", BAD)
def test_schema_rejects(case):
    mutate, key = BAD[case]
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        validate(_bad(mutate))


def test_shipped_configs_are_valid():
    validate(load(REPO / "config.yaml"))
    for path in (REPO / "configs").glob("*.yaml"):
        validate(load(path))


def test_snakemake_rejects_before_any_job(tmp_path, write_config):
    write_config(_bad(BAD["unknown optimizer"][0]))
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    assert "lbfgs" in proc.stderr and "optimizer" in proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()


def test_grid_expansion():
    runs = expand_runs({"lr": 0.1, "sampler": {"temperature": 1.0, "gamma": 1},
                        "grid": [{"sampler.temperature": [1.0, 0.1], "seed": [0, 1]},
                                 {"sampler.gamma": [0.1]}]})
    assert list(runs) == ["temperature~1_seed~0", "temperature~1_seed~1", "temperature~0.1_seed~0",
                          "temperature~0.1_seed~1", "gamma~0.1"]
    assert runs["temperature~0.1_seed~1"]["sampler"] == {"temperature": 0.1, "gamma": 1}
    assert runs["temperature~0.1_seed~1"]["point"] == {"temperature": 0.1, "seed": 1}
    assert runs["gamma~0.1"]["sampler"]["gamma"] == 0.1 and runs["gamma~0.1"]["lr"] == 0.1
    assert expand_runs({"lr": 1}) == {"default": {"lr": 1, "point": {}}}
    assert run_id({"resample": True, "alpha": 1e-3}) == "resample~true_alpha~0.001"
