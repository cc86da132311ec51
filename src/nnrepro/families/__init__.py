"""One folder per family: ``nnrepro/families/<x>/`` holds everything family X is.

    experiment.py   run(settings, out, env) -> Status: what one run computes and saves
    figures.py      one function per figure id (``@figure``), each claim beside its drawing
    settings.yaml   the family's block of the config schema (its settings and their defaults)
    rules.py        errors(settings) -> list[str]: what one field's schema cannot see (no torch)

The catalogue (``nnrepro.catalogue``) is the one list of families; a family is found here by
its folder name, the letter in lower case. Only the family asked for is imported (by name,
with importlib), so a broken K leaves A's jobs alone, and one family's code version does not
include another's.
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import yaml

from nnrepro.catalogue import FAMILIES

HERE = Path(__file__).resolve().parent
PARTS = ("experiment", "figures", "rules")


def folder(family: str) -> Path:
    """The family's folder, ``nnrepro/families/<x>/``; KeyError for a letter the catalogue lacks."""
    if family not in FAMILIES:
        raise KeyError(f"no family {family!r}: the families are {', '.join(FAMILIES)}")
    return HERE / family.lower()


def module_name(family: str, part: str) -> str:
    """``nnrepro.families.<x>.<part>`` (part: experiment, figures or rules)."""
    assert part in PARTS, part
    folder(family)
    return f"{__name__}.{family.lower()}.{part}"


def module(family: str, part: str) -> ModuleType:
    """The family's ``experiment``, ``figures`` or ``rules`` module, imported on first use."""
    return importlib.import_module(module_name(family, part))


@lru_cache(maxsize=None)
def settings_schema(family: str) -> dict:
    """The family's ``settings.yaml``: its block of the config schema."""
    with open(folder(family) / "settings.yaml") as f:
        return yaml.safe_load(f)
