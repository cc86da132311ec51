"""The version of the code that computes a result: a hash of the source files a module runs.

A run's identity is its settings *and* the code that computes it.
``code_version("families.i.experiment")`` hashes ``families/i/experiment.py``, its packages'
``__init__`` files and every nnrepro module it imports (anywhere), transitively
(read with ``ast``, nothing is imported). The Snakefile passes it into each run's settings and
the figure rules' params, so editing family I's experiment retrains exactly family I's runs, and
editing a figure module only redraws. Two modules are left out on purpose: ``catalogue`` (the
families: wording, not computation) and ``config`` (settings enter a run's identity themselves,
with every default filled in). ``nnrepro.families`` finds a family's modules by name
(importlib), so one family's code is never part of another's.
"""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
NOT_CODE = {"nnrepro.catalogue", "nnrepro.config"}


def _file(module: str) -> Path | None:
    rel = Path(*module.split(".")[1:])
    if module == "nnrepro":
        return PACKAGE / "__init__.py"
    for path in (PACKAGE / rel.with_suffix(".py"), PACKAGE / rel / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(module: str, path: Path) -> set[str]:
    """nnrepro modules imported anywhere in ``path`` (inside functions too)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:                                   # from . import x / from .x import y
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}   # `from nnrepro import models`
    return {m for m in found if m.startswith("nnrepro") and _file(m)}


@lru_cache(maxsize=None)
def closure(module: str) -> tuple[Path, ...]:
    """The source files of ``module`` (``"families.i.experiment"``) and of what it imports, sorted."""
    todo, seen = [f"nnrepro.{module}"], {}
    while todo:
        m = todo.pop()
        if m in seen or m in NOT_CODE:
            continue
        seen[m] = _file(m)
        parent = m.rsplit(".", 1)[0]
        if parent != "nnrepro" and parent not in seen:
            todo.append(parent)                            # a submodule runs its package first
        todo += sorted(_imports(m, seen[m]))
    return tuple(sorted(p for p in seen.values() if p is not None))


def code_version(module: str) -> str:
    """12 hex digits of the SHA-1 of the files in ``closure(module)`` (paths and contents)."""
    h = hashlib.sha1()
    for path in closure(module):
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]
