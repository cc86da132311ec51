"""Config as plain data: load (with ``extend``), validate (filling the schema's defaults), and
expand a family's named sweeps into runs and training jobs.

A family's config holds its base settings and an optional ``grid``: a mapping from a sweep name
(``temperature``, ``gamma``, ``seeds``...) to a sweep, itself a mapping of setting -> list of
values. Each point of a sweep's cartesian product is one run; dotted keys
(``sampler.temperature``) reach nested settings. A run's id is its grid point in Snakemake's
``key~value`` style with full dotted keys (``sampler.temperature~0.1_seed~0``); two runs with
one id are an error. The schema (``nnrepro/config.schema.yaml``, package data, so ``nnrepro
validate`` works wherever the package is installed), with each family's block in its folder
(``nnrepro/families/<x>/settings.yaml``), is the one place that holds defaults: validation
writes them into the config and into every run. Its shared ``$defs`` (mlp, cnn, optimizer, swa,
swag, sampler) are the vocabulary the family blocks use; what one field's schema cannot see is
checked in ``cross_field_errors`` (the shared rules, then the family's ``rules.py``) before any
job.

Kept free of heavy imports: the Snakefile uses it to build the DAG.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

SCHEMA = Path(str(resources.files("nnrepro") / "config.schema.yaml"))
RESERVED = ("sweep", "point", "code")   # a run's metadata beside its settings in run.json's spec
                                         # (Run.spec), never a setting


# ---------------------------------------------------------------- loading, `extend`
class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key written twice in one mapping is an error (PyYAML would
    keep the last one without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """Read a YAML config; ``extend: other.yaml`` (relative to this file) is resolved first.
    A missing or malformed file, or an ``extend`` cycle, is a one-line ValueError naming it."""
    path = Path(path)
    if path.resolve() in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path.resolve()))
        raise ValueError(f"{path}: 'extend' cycle: {chain}")
    try:
        with open(path) as f:
            cfg = yaml.load(f, Loader=_UniqueKeyLoader) or {}
    except OSError as e:
        raise ValueError(f"{path}: cannot read the config file ({e.strerror})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{path}: YAML syntax error{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: a config file is a YAML mapping (key: value), not {type(cfg).__name__}")
    return resolve_extend(cfg, path.parent, (*_seen, path.resolve()))


def load_all(paths, overrides: dict | None = None) -> dict:
    """Several config files laid over each other in order (each resolving its own ``extend``
    relative to itself), then ``overrides`` (Snakemake's ``--config``)."""
    cfg: dict = {}
    for p in paths:
        cfg = merge(cfg, load(p))
    return merge(cfg, dict(overrides or {}))


def resolve_extend(cfg: dict, base_dir: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """``cfg`` laid over the config its ``extend`` key names: mappings merge key by key, any
    other value (lists included) replaces the base's."""
    if "extend" not in cfg:
        return cfg
    cfg = dict(cfg)
    if not isinstance(cfg["extend"], str):
        raise ValueError(f"{_seen[-1] if _seen else base_dir}: 'extend' names one config file "
                         f"(a string), not {cfg['extend']!r}")
    base = load(Path(base_dir) / cfg.pop("extend"), _seen)
    return merge(base, cfg)


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


# ---------------------------------------------------------------- validation with defaults
@lru_cache(maxsize=None)
def schema() -> dict:
    """The config schema: ``config.schema.yaml`` (the top level and the shared ``$defs``) with
    every catalogue family's ``settings.yaml`` as ``$defs/family_<X>``; the ``run`` enum and the
    ``families`` and ``resources.families`` keys are the catalogue's letters."""
    from nnrepro.catalogue import FAMILIES
    from nnrepro.families import settings_schema

    with open(SCHEMA) as f:
        out = yaml.safe_load(f)
    letters = list(FAMILIES)
    out["properties"]["run"]["items"] = {"enum": letters}
    out["properties"]["families"]["properties"] = {x: {"$ref": f"#/$defs/family_{x}"} for x in letters}
    out["properties"]["resources"]["properties"]["families"]["propertyNames"] = {"enum": letters}
    out["$defs"].update({f"family_{x}": settings_schema(x) for x in letters})
    return out


def _validator(schema: dict):
    """A Draft 2020-12 validator that writes each property's ``default`` into the instance
    (the jsonschema FAQ's recipe, as ``snakemake.utils.validate(set_default=True)`` does)."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]
    # an integer is an int: JSON Schema would take 3.0 for `epochs`, and range() would not
    strict_int = base.TYPE_CHECKER.redefine(
        "integer", lambda checker, v: isinstance(v, int) and not isinstance(v, bool))

    check_type = base.VALIDATORS["type"]

    def properties(validator, props, instance, sch):
        if validator.is_type(instance, "object"):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, sch)

    # a number is finite unless its schema says `finite: false`: NaN passes every bound
    # (`exclusiveMinimum: 0` compares false), and .inf trains to nonsense
    def type_(validator, types, instance, sch):
        errors = list(check_type(validator, types, instance, sch))
        yield from errors
        if not errors and isinstance(instance, float) and not math.isfinite(instance) \
                and sch.get("finite", True):
            yield jsonschema.ValidationError(f"{instance} is not a finite number")

    return jsonschema.validators.extend(base, {"properties": properties, "type": type_},
                                        type_checker=strict_int)(schema)


def _errors(schema: dict, instance, prefix: str = "") -> list[str]:
    errors = sorted(_validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"  at '{prefix + '.'.join(map(str, e.absolute_path)) or '<top>'}': {e.message}"
            for e in errors]


def validate(config: dict, machine: bool = False) -> dict:
    """Fill in the schema's defaults and validate the config, then every run its sweeps expand
    to; raise ValueError naming the offending key (a grid's dotted keys and values are checked
    as the settings they become). ``run`` defaults to every family with a block under
    ``families``, in catalogue order; with ``machine``, what it asks of this machine too
    (``machine_errors``: data.mirror), in the same message. Returns the config, defaults filled in."""
    from nnrepro.catalogue import FAMILIES

    if "run" not in config and isinstance(config.get("families"), dict):
        config["run"] = [x for x in FAMILIES if x in config["families"]]
    lines = _errors(schema(), config)
    lines += [f"  at 'run': family {f} is listed but 'families' has no '{f}' block"
              for f in config.get("run", []) if f in FAMILIES and f not in config.get("families", {})]
    run = config.get("run") if isinstance(config.get("run"), list) else []
    for family in run:                 # grid points too, beside the schema's errors
        if not isinstance(config.get("families"), dict) or family not in config["families"] \
                or any(f"'families.{family}" in line for line in lines):
            continue                   # its block is missing or already wrong as a whole
        try:
            runs_of: dict[str, list[str]] = {}               # one line per error, with its runs
            for rid, run in family_runs(config, family).items():
                for e in cross_field_errors(family, run.settings):
                    runs_of.setdefault(e, []).append(rid)
            lines += [f"  at 'families.{family}': {e} (runs: {', '.join(rids)})"
                      for e, rids in runs_of.items()]
        except ValueError as e:
            lines += str(e).splitlines()
    if machine:
        lines += machine_errors(config)
    if lines:
        raise ValueError("invalid config:\n" + "\n".join(dict.fromkeys(lines)))
    return config


# ---------------------------------------------------------------- rules across fields
def machine_errors(config: dict, device: bool = False) -> list[str]:
    """What a valid config asks of this machine, checked before any job: ``data.mirror`` a
    directory (relative to the working directory); with ``device``, that ``device: cuda`` finds
    a CUDA device (torch is imported only then: the Snakefile checks it where jobs run locally)."""
    lines = []
    data = config.get("data")
    mirror = data.get("mirror") if isinstance(data, dict) else None
    if isinstance(mirror, str) and not Path(mirror).is_dir():
        lines.append(f"  at 'data.mirror': {mirror} is not a directory (from {Path.cwd()}): "
                     "a local folder laid out as torchvision's root, or null to download")
    if device and config.get("device") == "cuda":
        import torch

        if not torch.cuda.is_available():
            lines.append("  at 'device': cuda, but torch finds no CUDA device on this machine: "
                         "use device: auto (CUDA when present, else CPU) or cpu")
    return lines


def cross_field_errors(family: str, s: dict) -> list[str]:
    """What one field's schema cannot see: settings that pass alone but leave a figure with
    nothing to draw, or a job that would stop. Checked for every run before any job starts: the
    shared rules (``nnrepro.rules``), then the family's own (``nnrepro/families/<x>/rules.py``)."""
    from nnrepro import families, rules

    return rules.batch_fits(s) + families.module(family, "rules").errors(s)


def fill(definition: str, settings: dict) -> dict:
    """A copy of ``settings`` checked against the schema's ``$defs/<definition>`` (e.g.
    ``family_A``, ``mlp``) with its defaults filled in; ValueError names any bad key."""
    settings = thaw(settings)
    lines = _errors({"$ref": f"#/$defs/{definition}", "$defs": schema()["$defs"]}, settings)
    if lines:
        raise ValueError(f"invalid {definition} settings:\n" + "\n".join(lines))
    return settings


# ---------------------------------------------------------------- a run: frozen settings, metadata
def _read_only(self, *args, **kwargs):
    raise TypeError("a run's settings are read-only (filled and validated once): build a changed "
                    "copy, e.g. {**s, 'seed': 1}")


class FrozenDict(dict):
    """A read-only dict (a ``dict`` still: JSON, ``**``, ``==`` and ``isinstance`` work)."""
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self):                       # pickle (torch.save) and copy: frozen again
        return freeze, (thaw(self),)


class FrozenList(list):
    """A read-only list (a ``list`` still, so tables and ``str`` see the same values)."""
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = remove = pop = clear = sort = reverse = _read_only

    def __reduce__(self):
        return freeze, (thaw(self),)


def freeze(value):
    """``value`` with every dict and list in it made read-only (FrozenDict, FrozenList)."""
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FrozenList(freeze(v) for v in value)
    return value


def thaw(value):
    """A plain, mutable deep copy of (frozen) settings."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    return copy.deepcopy(value)


@dataclass(frozen=True)
class Run:
    """One run: its settings (the family's block with the grid point applied, the schema's
    defaults filled in and checked once, read-only) and, kept apart from them, its metadata: the
    sweep it belongs to, its grid point (full dotted keys) and the version of its family's code
    (set by the workflow; None when run by hand)."""
    family: str
    id: str
    settings: FrozenDict
    sweep: str = "default"
    point: FrozenDict = field(default_factory=FrozenDict)
    code: str | None = None

    @classmethod
    def make(cls, family: str, run_id: str, settings: dict, sweep: str = "default",
             point: dict | None = None, code: str | None = None) -> Run:
        """The run, its settings filled in and validated against ``$defs/family_<family>``
        (ValueError names any bad key)."""
        return cls(family, run_id, freeze(fill(f"family_{family}", settings)), sweep,
                   freeze(point or {}), code)

    @classmethod
    def from_spec(cls, family: str, run_id: str, spec: dict) -> Run:
        """The run of a spec as ``expand_runs`` or run.json hold it (settings with ``sweep``,
        ``point`` and ``code`` beside them): the inverse of ``spec``."""
        settings = {k: v for k, v in spec.items() if k not in RESERVED}
        return cls.make(family, run_id, settings, spec.get("sweep", "default"), spec.get("point"),
                        spec.get("code"))

    @property
    def spec(self) -> dict:
        """run.json's ``spec``: every setting, with the sweep, grid point and code version beside
        them (a plain copy). Also the key of the run's checkpoint: a checkpoint left by other
        settings or other code is not resumed."""
        meta = {"sweep": self.sweep, "point": thaw(self.point)}
        return {**thaw(self.settings), **meta, **({} if self.code is None else {"code": self.code})}


def job_content(runs: list[Run]) -> dict:
    """A training job's params file: its family, the version of the family's code, and each run's
    sweep, grid point and settings (what ``nnrepro train --job`` reads; ``read_job``)."""
    families, codes = {r.family for r in runs}, {r.code for r in runs}
    if len(families) != 1 or len(codes) != 1:
        raise ValueError(f"a job holds runs of one family and one code version, not {families}, {codes}")
    return {"family": runs[0].family, "code": runs[0].code,
            "runs": {r.id: {"sweep": r.sweep, "point": r.point, "settings": r.settings} for r in runs}}


def write_job(path: str | Path, runs: list[Run]) -> Path:
    """Write the job's params file (``job_content``) at ``path``, atomically; a file that holds
    the same already is left alone (its mtime too)."""
    path = Path(path)
    text = json.dumps(job_content(runs), indent=1, sort_keys=True) + "\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


def read_job(path: str | Path) -> list[Run]:
    """The runs of a job's params file, each one's settings checked and filled (``Run.make``)."""
    job = json.loads(Path(path).read_text())
    return [Run.make(job["family"], rid, r["settings"], r["sweep"], r["point"], job["code"])
            for rid, r in job["runs"].items()]


def train_resources(config: dict, family: str) -> dict:
    """A family's training jobs' resources: ``resources.train``, then its ``resources.families``
    entry; no GPU for a family the catalogue marks CPU-only (analytic or tiny problems)."""
    from nnrepro.catalogue import FAMILIES

    res = {**config["resources"]["train"], **config["resources"]["families"].get(family, {})}
    return res if FAMILIES[family].gpu else {**res, "gpu": 0}


# ---------------------------------------------------------------- sweeps -> runs -> jobs
def format_value(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "-".join(map(format_value, v))
    return str(v)


def run_id(point: dict) -> str:
    """``{'sampler.temperature': 0.1, 'seed': 0}`` -> ``sampler.temperature~0.1_seed~0``."""
    if not point:
        return "default"
    rid = "_".join(f"{k}~{format_value(v)}" for k, v in point.items())
    if not re.fullmatch(r"[A-Za-z0-9._~+-]+", rid):
        raise ValueError(f"grid point {point} gives run id {rid!r}: values must be numbers, "
                         "booleans, lists of numbers or words of letters, digits, '.', '-', '+'")
    return rid


def set_dotted(d: dict, key: str, value) -> None:
    *parents, leaf = key.split(".")
    for i, p in enumerate(parents):
        d = d.setdefault(p, {})
        if not isinstance(d, dict):      # a grid key that goes into a number (seed.x)
            raise ValueError(f"{key}: {'.'.join(parents[:i + 1])} is {d!r}, not a mapping of settings")
    d[leaf] = value


def get_dotted(d: dict, key: str):
    for part in key.split("."):
        d = d[part]
    return d


def grid_points(family_cfg: dict) -> dict[str, tuple[str, dict, dict]]:
    """All runs of one family: run id -> (sweep name, grid point with full dotted keys, settings
    with the point applied). A family without a grid is one run, ``default``."""
    base = {k: v for k, v in family_cfg.items() if k != "grid"}
    sweeps = family_cfg.get("grid") or {"default": {}}
    runs: dict[str, tuple[str, dict, dict]] = {}
    for name, sweep in sweeps.items():
        if isinstance(sweep, dict) and not sweep and family_cfg.get("grid"):
            raise ValueError(f"sweep '{name}' sets nothing: give it a setting and its values "
                             "({seed: [0, 1]}), or remove it")
        keys = list(sweep)
        for values in itertools.product(*(sweep[k] for k in keys)):
            point = dict(zip(keys, values))
            rid = run_id(point)
            if rid in runs:
                raise ValueError(_same_run_id(rid, {"sweep": runs[rid][0], "point": runs[rid][1]},
                                              name, point))
            spec = copy.deepcopy(base)
            for k, v in point.items():
                set_dotted(spec, k, v)
            runs[rid] = (name, point, spec)
    return runs


def expand_runs(family_cfg: dict) -> dict[str, dict]:
    """``grid_points`` as run id -> settings with the run's ``sweep`` name and grid ``point``
    beside them (the shape of run.json's spec; ``Run.from_spec`` reads it)."""
    return {rid: {**spec, "sweep": name, "point": point}
            for rid, (name, point, spec) in grid_points(family_cfg).items()}


def _same_run_id(rid: str, first: dict, sweep: str, point: dict) -> str:
    """Why two grid points give one run id: a value repeated, two values that print alike
    (ids keep 6 significant digits), or one point in two sweeps."""
    alike = [f"{k}: {first['point'][k]!r} and {v!r}" for k, v in point.items()
             if k in first["point"] and first["point"][k] != v]
    if alike:
        return (f"run {rid}: values that differ print alike in run ids (6 significant digits): "
                f"{'; '.join(alike)} in sweep '{sweep}': make them differ in their first 6 digits")
    if first["sweep"] == sweep:
        return f"run {rid} appears twice in sweep '{sweep}': a value is repeated"
    return f"run {rid} appears twice: in sweep '{first['sweep']}' and in sweep '{sweep}'"


def family_runs(config: dict, family: str, code: str | None = None) -> dict[str, Run]:
    """The family's runs (``Run``: settings validated against the family's schema with its
    defaults filled in, sweep, point, and ``code``, the version of the family's code); all bad
    grid points are reported, each with its key path. A family block is validated once per
    process (``validate`` and the Snakefile share the frozen runs)."""
    block = config["families"][family]
    key = (family, json.dumps(block, sort_keys=True, default=repr))
    if key not in _RUNS:
        _RUNS[key] = _family_runs(family, block)
    return {rid: Run(family, rid, r.settings, r.sweep, r.point, code) for rid, r in _RUNS[key].items()}


_RUNS: dict[tuple[str, str], dict[str, Run]] = {}     # (family, its block) -> its runs, frozen


def _family_runs(family: str, block: dict) -> dict[str, Run]:
    family_schema = {"$ref": f"#/$defs/family_{family}", "$defs": schema()["$defs"]}
    try:
        points = grid_points(block)
    except ValueError as e:
        raise ValueError(f"  at 'families.{family}.grid': {e}") from None
    points_of: dict[str, list[str]] = {}                         # one line per distinct error
    runs: dict[str, Run] = {}
    for rid, (sweep, point, settings) in points.items():
        errors = _errors(family_schema, settings, f"families.{family}.grid.{sweep} -> ")  # fills defaults
        for e in errors:
            points_of.setdefault(e, []).append(rid)
        if not errors:
            runs[rid] = Run(family, rid, freeze(settings), sweep, freeze(point))
    if points_of:
        raise ValueError("\n".join(f"{e} (grid point{'s' if len(r) > 1 else ''} {', '.join(r[:3])}"
                                   f"{f' and {len(r) - 3} more' if len(r) > 3 else ''})"
                                   for e, r in points_of.items()))
    return runs


def stack_key_of(family: str):
    """The family's ``stack_key(settings)`` (its ``rules.py``: the shape its stacked runs share,
    None for a run that cannot stack), or None: the family does not stack (issue 25)."""
    from nnrepro import families

    return getattr(families.module(family, "rules"), "stack_key", None)


def settings_key(run: Run) -> str:
    """A run's filled settings as one string: two runs with the same key are the same training
    (A's T = 1 run and its γ = 1, resample: none run), trained once (``nnrepro train``)."""
    return json.dumps(run.settings, sort_keys=True, default=str)


def _job_id(name: str, runs: dict[str, Run], ids: list[str]) -> str:
    """``<name>-<hash of the runs' settings, sweep and point>`` (not the code)."""
    digest = hashlib.sha1(json.dumps({r: {**runs[r].settings, "sweep": runs[r].sweep,
                                          "point": runs[r].point} for r in ids},
                                     sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def stacked_jobs(runs: dict[str, Run], max_stack: int,
                 stack_key) -> tuple[dict[str, list[str]], dict[str, Run]]:
    """Stacked training jobs (issue 25): the runs ``stack_key`` gives one shape, across sweeps,
    in as few jobs of at most ``max_stack`` distinct trainings (``settings_key``) as it takes,
    split evenly; runs with identical settings go in one job, where they are trained once. Job
    id ``stack-<hash of its runs>``. Returns the jobs and the runs that cannot stack."""
    shapes: dict[str, dict[str, list[str]]] = {}        # shape -> settings -> run ids
    rest = {}
    for rid, run in runs.items():
        shape = stack_key(run.settings)
        if shape is None:
            rest[rid] = run
        else:
            shapes.setdefault(shape, {}).setdefault(settings_key(run), []).append(rid)
    out = {}
    for trainings in shapes.values():
        trainings = list(trainings.values())
        n = -(-len(trainings) // max_stack)             # jobs for this shape
        for i in range(n):
            part = trainings[i * len(trainings) // n:(i + 1) * len(trainings) // n]
            ids = [r for same in part for r in same]
            out[_job_id("stack", runs, ids)] = ids
    return out, rest


def jobs(runs: dict[str, Run], sweeps: dict, runs_per_job: int, max_stack: int = 1,
         stack_key=None) -> dict[str, list[str]]:
    """Training jobs: job id -> run ids. With ``max_stack`` > 1 and the family's ``stack_key``
    (``stack_key_of``), its runs of one shape are stacked (``stacked_jobs``); the others, and
    every run when ``max_stack`` is 1, go in jobs as follows. A job holds the runs of one sweep
    that share the value
    of its first key, and of as many next keys as it takes to keep at most ``runs_per_job`` runs
    together (the T sweep {T: 6 values, seed: 3} with 8 runs per job: one job of 3 runs per T).
    Adding a value to a sweep's first key adds a job and changes none. A job's id is its sweep
    and a hash of its runs' settings, so a job whose runs changed gets a new id: Snakemake
    reruns exactly those jobs, and a dry run lists them."""
    out: dict[str, list[str]] = {}
    if max_stack > 1 and stack_key is not None:
        out, runs = stacked_jobs(runs, max_stack, stack_key)
    for name, sweep in (sweeps or {"default": {}}).items():
        keys = list(sweep)
        sizes = [len(sweep[k]) for k in keys]
        fixed = next(p for p in range(min(1, len(keys)), len(keys) + 1)
                     if math.prod(sizes[p:]) <= runs_per_job)
        groups: dict[tuple, list[str]] = {}
        for rid, run in runs.items():
            if run.sweep == name:
                key = tuple(format_value(run.point[k]) for k in keys[:fixed])
                groups.setdefault(key, []).append(rid)
        for ids in groups.values():                 # the settings, sweep and point (not the code)
            out[_job_id(name, runs, ids)] = ids
    return out


def family_jobs(config: dict, family: str, runs: dict[str, Run] | None = None) -> dict[str, list[str]]:
    """The family's training jobs under ``config`` (its ``runs_per_job`` and ``max_stack``)."""
    runs = family_runs(config, family) if runs is None else runs
    return jobs(runs, config["families"][family].get("grid"), config["runs_per_job"],
                config.get("max_stack", 1), stack_key_of(family))
