"""Config as plain data: load, validate, and expand a family's run grid.

A family's config holds its base settings and an optional ``grid``: a mapping of
setting -> list of values, or a list of such mappings (several sub-sweeps). Each point of the
cartesian product(s) is one run; dotted keys (``sampler.temperature``) reach nested settings.
Kept free of heavy imports: the Snakefile uses it to build the DAG.
"""
from __future__ import annotations

import copy
import itertools
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def load(path: str | Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def _errors(schema: dict, instance, prefix: str = "") -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"  at '{prefix + '.'.join(map(str, e.absolute_path)) or '<top>'}': {e.message}"
            for e in errors]


def validate(config: dict, schema_path: str | Path = SCHEMA) -> dict:
    """Validate a config, then every run its grids expand to; raise ValueError naming the
    offending key (a grid's dotted keys and values are checked as the settings they become)."""
    schema = load(schema_path)
    lines = _errors(schema, config) or grid_errors(config, schema)
    if lines:
        raise ValueError("invalid config:\n" + "\n".join(lines))
    return config


def grid_errors(config: dict, schema: dict) -> list[str]:
    """Errors of the runs a family's grid expands to, each validated against the family's schema
    (``$defs/family_<X>``): a misspelt dotted key or a value of the wrong type in a grid."""
    for family, cfg in config.get("families", {}).items():
        family_schema = {"$ref": f"#/$defs/family_{family}", "$defs": schema["$defs"]}
        for rid, spec in expand_runs(cfg).items():
            spec = {k: v for k, v in spec.items() if k != "point"}
            errors = _errors(family_schema, spec, f"families.{family}.grid -> ")
            if errors:  # the first bad point says it; the others would repeat it
                return [f"{e} (grid point {rid})" for e in errors]
    return []


def format_value(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def run_id(point: dict) -> str:
    """``{'sampler.temperature': 0.1, 'seed': 0}`` -> ``temperature~0.1_seed~0``."""
    if not point:
        return "default"
    return "_".join(f"{k.split('.')[-1]}~{format_value(v)}" for k, v in point.items())


def set_dotted(d: dict, key: str, value) -> None:
    *parents, leaf = key.split(".")
    for p in parents:
        d = d.setdefault(p, {})
    d[leaf] = value


def expand_runs(family_cfg: dict) -> dict[str, dict]:
    """All runs of one family: run id -> full settings (with the grid point under ``point``)."""
    base = {k: v for k, v in family_cfg.items() if k != "grid"}
    grid = family_cfg.get("grid") or {}
    sweeps = grid if isinstance(grid, list) else [grid]
    runs: dict[str, dict] = {}
    for sweep in sweeps:
        keys = list(sweep)
        for values in itertools.product(*(sweep[k] for k in keys)):
            point = dict(zip(keys, values))
            spec = copy.deepcopy(base)
            for k, v in point.items():
                set_dotted(spec, k, v)
            spec["point"] = {k.split(".")[-1]: v for k, v in point.items()}
            runs.setdefault(run_id(point), spec)
    return runs
