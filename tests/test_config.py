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
    # a grid's dotted keys and values are checked as the settings they become
    "misspelt grid key": (lambda c: c["families"]["B"].update(grid={"optimizer.lrr": [0.1]}),
                          ("families.B.grid -> optimizer", "'lrr' was unexpected")),
    "wrong type in grid": (lambda c: c["families"]["B"].update(grid={"optimizer.lr": ["fast"]}),
                           ("families.B.grid -> optimizer.lr", "'fast'")),
}


@pytest.mark.parametrize("case", BAD)
def test_schema_rejects(case):
    mutate, keys = BAD[case]
    with pytest.raises(ValueError) as err:
        validate(_bad(mutate))
    for key in (keys,) if isinstance(keys, str) else keys:  # named in the message
        assert key in str(err.value), str(err.value)


def test_shipped_configs_are_valid():
    validate(load(REPO / "config.yaml"))
    for path in (REPO / "configs").glob("*.yaml"):
        validate(load(path))


@pytest.mark.parametrize("case,words", [("unknown optimizer", ("lbfgs", "optimizer")),
                                        ("misspelt grid key", ("lrr", "families.B.grid"))])
def test_snakemake_rejects_before_any_job(tmp_path, write_config, case, words):
    write_config(_bad(BAD[case][0]))
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    assert all(w in proc.stderr for w in words), proc.stderr[-2000:]
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
