"""The schema rejects an invalid config before any job runs, naming the offending key."""
import copy
import re
import os
from pathlib import Path

import pytest

from nnrepro.config import expand_runs, family_runs, jobs, load, merge, run_id, validate

from conftest import REPO, TINY_A, TINY_B, snakemake, tiny, tiny_config


def torch_has_cuda() -> bool:
    import torch
    return torch.cuda.is_available()


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
    "misspelt grid key": (lambda c: c["families"]["B"].update(grid={"lr": {"optimizer.lrr": [0.1]}}),
                          ("families.B.grid.lr -> optimizer", "'lrr' was unexpected")),
    "wrong type in grid": (lambda c: c["families"]["B"].update(grid={"lr": {"optimizer.lr": ["fast"]}}),
                           ("families.B.grid.lr -> optimizer.lr", "'fast'")),
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
                        "grid": {"temperature": {"sampler.temperature": [1.0, 0.1], "seed": [0, 1]},
                                 "gamma": {"sampler.gamma": [0.1]}}})
    assert list(runs) == ["sampler.temperature~1_seed~0", "sampler.temperature~1_seed~1",
                          "sampler.temperature~0.1_seed~0", "sampler.temperature~0.1_seed~1",
                          "sampler.gamma~0.1"]
    r = runs["sampler.temperature~0.1_seed~1"]
    assert r["sampler"] == {"temperature": 0.1, "gamma": 1}
    assert r["point"] == {"sampler.temperature": 0.1, "seed": 1} and r["sweep"] == "temperature"
    assert runs["sampler.gamma~0.1"]["sampler"]["gamma"] == 0.1 and runs["sampler.gamma~0.1"]["lr"] == 0.1
    assert expand_runs({"lr": 1}) == {"default": {"lr": 1, "sweep": "default", "point": {}}}
    assert run_id({"resample": True, "alpha": 1e-3}) == "resample~true_alpha~0.001"
    assert run_id({"model.hidden": [32, 16]}) == "model.hidden~32-16"   # no space, no bracket


def test_sweeps_sharing_a_last_key_part_stay_two_runs():
    """Defect: run ids kept only a key's last part, so these two sweeps collapsed into one run."""
    runs = expand_runs({"optimizer": {"lr": 1.0}, "swa": {"optimizer": {"lr": 1.0}},
                        "grid": {"base_lr": {"optimizer.lr": [0.1]},
                                 "swa_lr": {"swa.optimizer.lr": [0.1]}}})
    assert list(runs) == ["optimizer.lr~0.1", "swa.optimizer.lr~0.1"]
    assert runs["optimizer.lr~0.1"]["swa"]["optimizer"]["lr"] == 1.0
    assert runs["swa.optimizer.lr~0.1"]["optimizer"]["lr"] == 1.0


def test_a_duplicate_run_is_an_error_naming_it():
    cfg = tiny_config(B={**TINY_B, "grid": {"a": {"seed": [0, 1]}, "b": {"seed": [1, 2]}}})
    with pytest.raises(ValueError, match=r"run seed~1 appears twice: in sweep 'a' and in sweep 'b'"):
        validate(cfg)


def test_validation_fills_the_schema_defaults_into_config_and_runs():
    cfg = tiny_config(B={k: v for k, v in TINY_B.items() if k not in ("landscape", "model")})
    validate(cfg)
    b = cfg["families"]["B"]
    assert b["seed"] == 0 and b["model"] == {"hidden": [256, 128], "activation": "relu",
                                              "batchnorm": False, "dropout": 0.0,
                                              "dropout_kind": "bernoulli", "init": "default",
                                              "gain": 1.0, "bias": True}
    assert b["landscape"]["max_distance"] == 1.0 and b["swa"]["min_lr_ratio"] == 0.05
    assert cfg["runs_per_job"] == 1 and cfg["resources"]["train"]["gpu"] == 0
    run = family_runs(cfg, "B")["seed~1"]
    assert run.settings["seed"] == 1 and run.settings["swag"]["rank"] == 3 and run.sweep == "seeds"
    assert run.point == {"seed": 1} and "sweep" not in run.settings      # metadata beside settings
    assert run.spec == {**run.settings, "sweep": "seeds", "point": {"seed": 1}}   # run.json's spec
    with pytest.raises(TypeError, match="read-only"):
        run.settings["swag"]["rank"] = 4                     # filled and checked once: frozen


def test_paper_configs_extend_the_quick_profile():
    quick, paper, mnist = (load(REPO / p) for p in ("config.yaml", "configs/paper.yaml",
                                                    "configs/paper-mnist.yaml"))
    assert "extend" not in paper and paper["profile"] == "paper"
    assert paper["families"]["A"]["sampler"]["lr"] == 0.0005                  # changed
    assert paper["families"]["A"]["sampler"]["mass"] == quick["families"]["A"]["sampler"]["mass"]
    assert paper["families"]["A"]["grid"]["temperature"] == {                  # merged key by key
        "sampler.temperature": quick["families"]["A"]["grid"]["temperature"]["sampler.temperature"],
        "seed": [0, 1, 2, 3, 4]}
    assert mnist["families"]["B"]["dataset"] == "mnist" and mnist["families"]["B"]["epochs"] == 50
    assert merge({"a": {"b": 1, "c": [1]}}, {"a": {"c": [2]}}) == {"a": {"b": 1, "c": [2]}}


def test_jobs_are_keyed_by_content():
    """Adding a value to a sweep adds a job and leaves every other job's id (and runs) alone."""
    def job_map(temps):
        fam = {**TINY_A, "grid": {**TINY_A["grid"], "temperature": {"sampler.temperature": temps,
                                                                    "seed": [0, 1, 2]}}}
        cfg = tiny_config(A=fam)
        validate(cfg)
        return jobs(family_runs(cfg, "A"), fam["grid"], runs_per_job=4)

    before, after = job_map([1.0, 0.1]), job_map([1.0, 0.3, 0.1])
    new = {j: r for j, r in after.items() if j not in before}
    assert set(before) < set(after) and len(new) == 1
    assert list(new.values())[0] == [f"sampler.temperature~0.3_seed~{s}" for s in range(3)]
    assert all(after[j] == before[j] for j in before)
    # one run per job when runs_per_job is 1; all of a small sweep in one job otherwise
    assert all(len(r) == 1 for r in jobs(family_runs(tiny_config(A=TINY_A), "A"), TINY_A["grid"], 1).values())
    # with 4 runs per job: one job per T (3 seeds), per γ (2 modes; 2 α), never two values of
    # a sweep's first key in one job
    assert sorted(map(len, job_map([1.0]).values())) == [2, 2, 2, 2, 3]


@pytest.mark.parametrize("mutate,words", [
    (lambda c: c["families"]["B"].update(epochs=3.0), ("families.B.epochs", "3.0 is not of type 'integer'")),
    (lambda c: c["families"]["B"]["swa"].update(epochs=3, cycle_epochs=10),
     ("swa.epochs 3 // swa.cycle_epochs 10 = 0 SWA iterates",)),
    (lambda c: c.update(run=[]), ("at 'run'", "should be non-empty")),
    (lambda c: c.update(run=["B", "A"]), ("family A is listed but 'families' has no 'A' block",)),
    (lambda c: c["families"]["B"].update(batch_size=5000), ("batch_size 5000 is larger than digits",)),
    (lambda c: c["families"]["B"].update(grid={"seeds": {"seed": []}}),
     ("families.B.grid.seeds.seed", "should be non-empty")),
])
def test_configs_that_would_crash_after_the_compute_are_rejected_first(mutate, words):
    with pytest.raises(ValueError) as err:
        validate(_bad(mutate))
    for w in words:
        assert w in str(err.value), str(err.value)


def test_every_error_of_a_config_is_listed_at_once():
    def two_errors(c):
        c["families"]["B"].update(epochs="ten", batch_size=0)
    with pytest.raises(ValueError) as err:
        validate(_bad(two_errors))
    assert "families.B.epochs" in str(err.value) and "families.B.batch_size" in str(err.value)


def test_stale_results_are_found_and_current_ones_kept(tmp_path):
    """After `seeds: [0, 1]` -> `[0]` and `run: [A, B]` -> `[B]`, the old run folders, job
    markers, figures and tables are stale; the current ones and data/ are not touched."""
    from nnrepro.results import stale

    cfg = validate(tiny_config(B={**TINY_B, "grid": {"seeds": {"seed": [0]}}}))
    job = next(iter(jobs(family_runs(cfg, "B"), cfg["families"]["B"]["grid"], 1)))
    r = tmp_path / "results"
    current = [r / "runs/B/seed~0/run.json", r / f"runs/B/jobs/{job}.json", r / "figures/B-swa.png",
               r / "tables/B/epochs.parquet", r / "claims/B.csv", r / f"params/B/{job}.json"]
    old = [r / "runs/B/seed~1/run.json", r / "runs/B/jobs/seeds-00000000.json",
           r / "figures/A-gamma.png", r / "tables/A/epochs.parquet", r / "runs/A/x~1/run.json",
           r / "params/B/seeds-00000000.json", r / "params/A/gamma-00000000.json"]
    for p in current + old:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    found = stale(cfg, r)
    assert set(found) == {r / "runs/B/seed~1", r / "runs/B/jobs/seeds-00000000.json",
                          r / "figures/A-gamma.png", r / "tables/A", r / "runs/A/x~1",
                          r / "params/B/seeds-00000000.json", r / "params/A/gamma-00000000.json"}


@pytest.mark.parametrize("files, message", [
    ({"c.yaml": "run: [A, B\n"}, "c.yaml: YAML syntax error at line 2, column 1: expected ',' or ']'"),
    ({}, "c.yaml: cannot read the config file (No such file or directory)"),
    ({"c.yaml": "- A\n"}, "c.yaml: a config file is a YAML mapping (key: value), not list"),
    ({"c.yaml": "extend: d.yaml\n", "d.yaml": "extend: c.yaml\n"}, "'extend' cycle: "),
])
def test_a_bad_config_file_is_one_line(tmp_path, capsys, files, message):
    from nnrepro.cli import main
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SystemExit) as e:
        main(["validate", str(tmp_path / "c.yaml")])
    assert message in str(e.value) and "\n" not in str(e.value), e.value


def test_each_configfile_resolves_extend_against_its_own_folder(tmp_path):
    """Two --configfile files: `extend` is relative to the file that says it (it used to be
    resolved against the last file's folder), files apply in order, then --config."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.yaml").write_text(f"extend: {os.path.relpath(REPO / 'config.yaml', tmp_path / 'sub')}\nrun: [D]\n")
    (tmp_path / "y.yaml").write_text("runs_per_job: 2\n")
    from nnrepro.config import load_all
    cfg = load_all([tmp_path / "sub" / "x.yaml", tmp_path / "y.yaml"], {"profile": "mine"})
    assert cfg["run"] == ["D"] and cfg["runs_per_job"] == 2 and cfg["profile"] == "mine"
    assert cfg["families"]["A"]["epochs"] == load(REPO / "config.yaml")["families"]["A"]["epochs"]
    dry = snakemake(tmp_path, "--dry-run", "--configfile", str(tmp_path / "sub" / "x.yaml"),
                    str(tmp_path / "y.yaml"))
    assert "train_D" in dry.stdout and "train_A" not in dry.stdout


def test_per_family_resources_override_train_and_are_checked():
    from nnrepro.catalogue import FAMILIES
    from nnrepro.config import train_resources

    cfg = load(REPO / "configs" / "paper.yaml")
    validate(cfg)
    train, fams = cfg["resources"]["train"], cfg["resources"]["families"]
    assert train["gpu"] == 1 and "threads" not in fams["A"]   # no defaults: unset comes from train
    assert train_resources(cfg, "A") == {**train, "runtime": fams["A"]["runtime"]}
    for letter, fam in FAMILIES.items():      # the catalogue alone says which families need no GPU
        assert train_resources(cfg, letter)["gpu"] == (1 if fam.gpu else 0), letter
    assert train_resources(cfg, "I")["gpu"] == 1 and train_resources(cfg, "C")["gpu"] == 0
    bad = load(REPO / "config.yaml")
    bad["resources"] = {"families": {"Z": {"gpu": 1}}}
    with pytest.raises(ValueError, match="resources"):
        validate(bad)


@pytest.mark.parametrize("keys, value", [(("families", "B", "epochs"), 40), (("runs_per_job",), 2),
                                         (("families", "A", "sampler", "lr"), 0.001)])
def test_one_dvc_set_value_changes_one_line_of_config_yaml(tmp_path, keys, value):
    """`dvc exp run -S config.yaml:<key>=<value>` rewrites config.yaml through DVC's
    ``apply_overrides`` (Hydra overrides, then DVC's YAML dumper, which writes every list back
    as a block list): the file is kept in that form, so exactly one line changes (the real
    `dvc exp run -S` is tests/test_workflow.py's)."""
    import shutil
    from dvc.utils.hydra import apply_overrides
    copy = tmp_path / "config.yaml"
    shutil.copy(REPO / "config.yaml", copy)
    apply_overrides(copy, [f"{'.'.join(keys)}={value}"])
    before, after = (REPO / "config.yaml").read_text().splitlines(), copy.read_text().splitlines()
    assert len(before) == len(after)
    assert [i for i, (a, b) in enumerate(zip(before, after)) if a != b] != []
    assert len([1 for a, b in zip(before, after) if a != b]) == 1


HOSTILE = [  # (family, change as dotted key -> value, what the one-line message names)
    ("L", {"swa.epochs": 1}, "swa.epochs 1 // swa.cycle_epochs 1 = 1 SWA iterates"),
    ("L", {"swag.rank": 50}, "swag.rank 50 is larger than the 20 SWA iterates"),
    ("L", {"sghmc.epochs": 6}, "sghmc.epochs 6 // sghmc.sampler.cycle_epochs 3"),
    ("I", {"model.bias": True}, "model.bias must be false"),
    ("I", {"model.hidden": []}, "hidden"),
    ("K", {"interval": [1.0, 1.0]}, "interval [1.0, 1.0] must have low < high"),
    ("F", {"regression.intervals": [[2.0, 2.0]]}, "regression.intervals: [2.0, 2.0] must have low < high"),
    ("J", {"prune.rounds": 100000000}, "prune.rounds 100000000"),
    ("B", {"swa.epochs": 1}, "swa.epochs 1 // swa.cycle_epochs 1 = 1 SWA iterates"),
    ("A", {"epochs": 5}, "collected samples"),
    ("L", {"sghmc.sampler.temperature": 0.5}, "'temperature' was unexpected"),   # L ignored it
    ("A", {"sampler.temprature": 0.5}, "'temprature' was unexpected"),
    ("B", {"swag.rnk": 5}, "'rnk' was unexpected"),
    ("H", {"model.chanels": [8, "M"]}, "'chanels' was unexpected"),
    ("B", {"optimizer.lr": float("nan")}, "at 'families.B.optimizer.lr': nan is not a finite number"),
    ("J", {"optimizer.lr": float("inf")}, "at 'families.J.optimizer.lr': inf is not a finite number"),
    ("A", {"sampler.temperature": float("-inf")}, "sampler.temperature': -inf is not a finite number"),
    ("B", {"grid": {"s": {"optimizer.lr": [0.1, float("nan")]}}}, "nan is not a finite number"),
    ("H", {"model.arch": "cnn"}, "model.channels has 5 max-pools ('M'); digits's 8×8 images allow at most 3"),
    ("H", {"model.arch": "cnn", "dataset": "mnist", "model.channels": [8, "M"] * 5},
     "model.channels has 5 max-pools ('M'); mnist's 28×28 images allow at most 4"),
    ("G", {"width.widths": [4, 100000000]}, "width.widths: width 100000000 × "),
    ("F", {"mc.model.dropout": 0.0}, "mc.model.dropout must be > 0"),
    ("G", {"paths.bezier.optimizer": {"name": "rmsprop", "lr": 0.01}}, "paths.bezier.optimizer.name: 'rmsprop'"),
    ("I", {"optimizers.sgd.name": "adam"}, "optimizers.sgd.name is 'adam'"),
    ("B", {"train_subset": 0}, "0 is less than the minimum of 1"),     # null, not 0, is "all"
]


@pytest.mark.parametrize("family, change, message", HOSTILE, ids=[f"{h[0]}-{next(iter(h[1]))}" for h in HOSTILE])
def test_hostile_settings_are_rejected_before_compute_with_one_line_naming_the_keys(family, change, message):
    from nnrepro.config import set_dotted
    cfg = load(REPO / "config.yaml")
    cfg["run"] = [family]
    for key, value in change.items():
        set_dotted(cfg["families"][family], key, value)
    with pytest.raises(ValueError) as e:
        validate(cfg)
    lines = str(e.value).splitlines()[1:]               # after "invalid config:"
    assert any(message in line for line in lines), lines
    assert all(line.startswith("  at ") for line in lines), lines   # one line each, with its key path


def test_a_hostile_config_starts_no_job(tmp_path, write_config):
    family = copy.deepcopy(load(REPO / "config.yaml")["families"]["L"])
    family["swa"]["epochs"] = 1                 # 0 SWA iterates used to give uniform "results"
    cfg = tiny_config(L=family)
    write_config(cfg)
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0 and "swa.epochs 1 // swa.cycle_epochs 1" in proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_what_a_config_asks_of_this_machine(tmp_path, monkeypatch):
    """Issue 28: data.mirror must be a directory; device: cuda needs a CUDA device."""
    import torch
    from nnrepro.config import machine_errors

    assert machine_errors({"data": {"mirror": str(tmp_path)}, "device": "cuda"}) == []
    (line,) = machine_errors({"data": {"mirror": "/nonexistent"}})
    assert line.startswith("  at 'data.mirror': /nonexistent is not a directory"), line
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert machine_errors({"device": "cuda"}) == []                   # only where asked
    (line,) = machine_errors({"device": "cuda"}, device=True)
    assert line.startswith("  at 'device': cuda, but torch finds no CUDA device"), line
    assert machine_errors({"device": "auto"}, device=True) == []
    assert machine_errors({"data": ["not", "a", "mapping"]}) == []      # the schema's error
    cfg = load(REPO / "config.yaml")
    cfg["runs_per_job"], cfg["data"]["mirror"] = 0, "/nonexistent"
    with pytest.raises(ValueError) as e:                   # every error at once, the machine's too
        validate(copy.deepcopy(cfg), machine=True)
    lines = str(e.value).splitlines()[1:]
    assert any("runs_per_job" in line for line in lines) and any("data.mirror" in line for line in lines)
    cfg["runs_per_job"] = 1
    validate(cfg)                                          # alone, a config is not checked here


@pytest.mark.parametrize("change, message", [
    ({"data": {"root": "data", "mirror": "/nonexistent"}}, "at 'data.mirror': /nonexistent is not a directory"),
    pytest.param({"device": "cuda"}, "at 'device': cuda, but torch finds no CUDA device",
                 marks=pytest.mark.skipif(torch_has_cuda(), reason="this machine has CUDA")),
])
def test_a_config_this_machine_cannot_run_starts_no_job(tmp_path, write_config, change, message):
    write_config({**tiny_config(J=tiny("J")), **change})
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "results" / "runs").exists() and not (tmp_path / "data").exists()
    assert not (tmp_path / "logs").exists()


def test_schema_and_grid_errors_come_together_one_line_per_distinct_error():
    cfg = load(REPO / "config.yaml")
    cfg["runs_per_job"] = 0                                      # a schema error...
    cfg["families"]["B"]["grid"] = {"seeds": {"seed": [0, 1, 2, 3, 4], "optimizer.lr": [-1.0]}}
    with pytest.raises(ValueError) as e:                         # ...and one grid error, 5 points
        validate(cfg)
    lines = str(e.value).splitlines()[1:]
    assert any("runs_per_job" in line for line in lines)
    grid = [line for line in lines if "families.B.grid.seeds" in line]
    assert len(grid) == 1 and "grid points" in grid[0] and "and 2 more" in grid[0], lines


@pytest.mark.parametrize("grid, message", [
    ({"s": {"optimizer.lr": [0.0010000001, 0.001]}},
     "values that differ print alike in run ids (6 significant digits): optimizer.lr: "
     "0.0010000001 and 0.001 in sweep 's'"),
    ({"s": {"seed": [3, 3]}}, "run seed~3 appears twice in sweep 's': a value is repeated"),
])
def test_a_run_id_collision_says_why(grid, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        validate(tiny_config(B={**TINY_B, "grid": grid}))


# ---------------------------------------------------------------- the schema, inside the package
def test_schema_is_package_data_with_shared_defs_and_one_block_per_catalogue_family():
    from importlib import resources

    import yaml

    from nnrepro import config
    from nnrepro.catalogue import FAMILIES

    shipped = resources.files("nnrepro") / "config.schema.yaml"
    assert shipped.is_file() and config.SCHEMA == Path(str(shipped))
    assert not any(k.startswith("family_") for k in yaml.safe_load(shipped.read_text())["$defs"])
    for letter in FAMILIES:                  # each family's block ships inside its folder
        assert (resources.files("nnrepro") / "families" / letter.lower() / "settings.yaml").is_file()
    schema = config.schema()
    defs = schema["$defs"]
    blocks = [k for k in defs if k.startswith("family_")]
    assert blocks == [f"family_{f}" for f in FAMILIES]
    assert list(schema["properties"]["families"]["properties"]) == list(FAMILIES)
    assert schema["properties"]["run"]["items"] == {"enum": list(FAMILIES)}

    def refs(node):
        if isinstance(node, dict):
            yield from ([node["$ref"]] if "$ref" in node else [])
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    used = {f: set(refs(defs[f"family_{f}"])) for f in FAMILIES}
    assert "#/$defs/sampler" in used["A"] & used["L"]
    assert {"#/$defs/swa", "#/$defs/swag"} <= used["B"] & used["L"]
    assert "#/$defs/cnn" in used["H"] and "#/$defs/mlp" in used["B"]
    assert "#/$defs/optimizer" in used["B"] & used["F"] & used["G"] & used["L"]
    assert not any("sampler_A" in r for rs in used.values() for r in rs)


def test_shared_defs_keep_each_familys_defaults():
    from nnrepro.config import fill

    a = fill("family_A", {"dataset": "digits", "epochs": 4, "batch_size": 8, "sampler": {"lr": 0.1}})
    assert a["sampler"]["temperature"] == 1.0 and a["sampler"]["gamma"] == 1.0
    cfg = validate(load(REPO / "config.yaml"))
    b, l = (next(iter(family_runs(cfg, f).values())).settings for f in "BL")
    assert "temperature" not in l["sghmc"]["sampler"]               # L's chains set their own T
    assert l["sghmc"]["sampler"]["gamma"] == 1.0                   # the shared sampler's defaults
    assert b["swag"]["ci_images"] == 6 and "ci_images" not in l["swag"]
    h = next(iter(family_runs(tiny_config(H={}), "H").values())).settings
    assert h["model"]["channels"][:2] == [64, "M"] and h["model"]["init"] == "lecun"


def test_validate_works_from_a_non_editable_install(tmp_path):
    """`nnrepro validate` reads the schema from the installed package: build the wheel, unpack
    it and validate the quick profile with only the wheel's files on the path."""
    import shutil
    import subprocess
    import sys
    import zipfile

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("nnrepro-*.whl"))
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    assert (tmp_path / "site" / "nnrepro" / "config.schema.yaml").is_file()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run([sys.executable, "-m", "nnrepro", "validate", str(REPO / "config.yaml")],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip().endswith(": valid"), proc.stderr
    code = "import nnrepro.config as c; print(c.SCHEMA)"
    where = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert where.startswith(str(tmp_path / "site"))
