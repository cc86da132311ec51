"""The import graph of src/nnrepro has no cycle: every module sits on a floor above the modules it
imports (read with ast, imports inside functions included; nothing is imported)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "nnrepro"


def _module(path: Path, package: Path) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the nnrepro modules its import statements name (``from nnrepro import models``
    names ``nnrepro.models``; ``from nnrepro.figures import figure`` names ``nnrepro.figures``).
    A package's ``__init__``, run before each of its submodules, is not an edge of theirs."""
    paths = {_module(p, package): p for p in package.rglob("*.py")}
    graph = {}
    for module, path in paths.items():
        here = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in paths}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for a in node.names:
                    name = f"{base}.{a.name}"
                    edges.add(name if name in paths else base)
        graph[module] = {m for m in edges if m in paths and m != module}
    return graph


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Floor 0: imports nothing of nnrepro; floor k: imports modules of floors below k. A module
    on a cycle gets no floor."""
    floor: dict[str, int] = {}
    while len(floor) < len(graph):
        ready = {m: max((floor[d] + 1 for d in deps), default=0) for m, deps in graph.items()
                 if m not in floor and deps <= set(floor)}
        if not ready:
            break
        floor.update(ready)
    return floor


def test_import_graph_is_built_from_the_sources():
    graph = import_graph()
    assert "nnrepro.catalogue" in graph and graph["nnrepro.catalogue"] == set()
    assert "nnrepro.models" in graph["nnrepro.families.a.experiment"]   # `from nnrepro import models`
    assert graph["nnrepro.families"] == {"nnrepro.catalogue"}           # dispatch by name, importlib


def test_floors_find_a_cycle():
    cyclic = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set(), "e": {"d", "a"}}
    assert floors(cyclic) == {"d": 0}
    assert floors({"a": {"b"}, "b": set()}) == {"b": 0, "a": 1}


def test_no_import_cycle_in_src():
    graph = import_graph()
    floor = floors(graph)
    for k in range(max(floor.values()) + 1):
        print(f"floor {k}: {', '.join(sorted(m.removeprefix('nnrepro.') for m, f in floor.items() if f == k))}")
    on_cycle = sorted(set(graph) - set(floor))
    assert not on_cycle, ("import cycle among: " + ", ".join(on_cycle) + "; their imports: "
                          + "; ".join(f"{m} -> {sorted(graph[m] & set(on_cycle))}" for m in on_cycle))
    assert floor["nnrepro.catalogue"] == 0                 # the catalogue is on the ground floor


def test_no_family_module_imports_another_family():
    """What two families share lives in a shared module (plotting, recipes, data...), never in
    one of them: no module of nnrepro/families/<x>/ imports another family's."""
    from nnrepro.catalogue import FAMILIES

    graph = import_graph()
    for letter in FAMILIES:
        own = f"nnrepro.families.{letter.lower()}"
        others = {m for m in graph if m.startswith("nnrepro.families.") and not m.startswith(own)
                  and m.count(".") >= 2}
        for module in (m for m in graph if m.startswith(own + ".")):
            assert not graph[module] & others, (module, graph[module] & others)
