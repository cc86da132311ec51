"""The documentation: generated pages equal what `nnrepro docs` writes now (they cannot go
stale), they link code that exists, and the README stays short."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from nnrepro import docs
from nnrepro.cli import main
from nnrepro.catalogue import FAMILIES

REPO = Path(__file__).resolve().parents[1]


def test_committed_docs_equal_a_fresh_generation(tmp_path):
    written = docs.write(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == (
        {"catalogue.md", "families/index.md"} | {f"families/{x}.md" for x in FAMILIES})
    for p in written:
        rel = p.relative_to(tmp_path)
        committed = REPO / "docs" / rel
        assert committed.exists() and committed.read_text() == p.read_text(), (
            f"docs/{rel.as_posix()} is stale: run `nnrepro docs`")
    committed_pages = {p.name for p in (REPO / "docs" / "families").glob("*.md")}
    assert committed_pages == {p.name for p in (tmp_path / "families").glob("*.md")}


def test_family_pages_link_every_figure_function_and_existing_files():
    for letter, fam in FAMILIES.items():
        page = (REPO / "docs" / "families" / f"{letter}.md").read_text()
        fig_src = (REPO / "src" / "nnrepro" / "families" / letter.lower() / "figures.py").read_text()
        for g in fam.figures:
            assert f"### {g.id}" in page and g.claim in page          # the registry's wording
            section = page.split(f"### {g.id}")[1].split("\n### ")[0]
            name = re.search(r"\*\*Figure function:\*\* \[`(\w+)`\]", section).group(1)
            assert re.search(rf'@figure\("{re.escape(g.id)}"\)\s*\ndef {name}\(', fig_src), name
        for target in re.findall(r"\]\((\.\./\.\./[^)#]+)\)", page):
            assert (REPO / "docs" / "families" / target).resolve().exists(), (letter, target)


def test_tables_found_in_code_are_the_ones_the_experiment_saves():
    tree = ast.parse("def run(out):\n"
                     "    out.save_table('steps', df)\n"
                     "    for name in ('epochs', 'masks'):\n"
                     "        out.save_table(name, df)\n"
                     "    out.save_table('steps', df)\n")
    assert docs.saved_tables(tree) == ["steps", "epochs", "masks"]
    for letter in FAMILIES:                      # every family's page names the tables it writes
        page = (REPO / "docs" / "families" / f"{letter}.md").read_text()
        tables = page.split("## Tables")[1].split("## Configuration")[0]
        assert re.findall(r"^- `(\w+)`", tables, re.M), f"{letter}: no table found in its code"


def test_config_block_is_the_family_block_verbatim(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("run: [A, B]\nfamilies:\n  A:  # first\n    epochs: 3\n\n    grid:\n"
                   "      seeds: {seed: [0, 1]}\n  B:\n    epochs: 4\nresources: {}\n")
    assert docs.config_block("A", cfg) == "  A:  # first\n    epochs: 3\n\n    grid:\n      seeds: {seed: [0, 1]}"
    assert docs.config_block("B", cfg) == "  B:\n    epochs: 4"
    assert docs.config_block("C", cfg) == ""


def test_schema_rows_flatten_shared_definitions():
    defs = yaml.safe_load("opt: {type: object, required: [lr], properties: {lr: {type: number, description: step}}}\n"
                          "family_Z:\n"
                          "  type: object\n"
                          "  properties:\n"
                          "    epochs: {type: integer, default: 3}\n"
                          "    optimizer: {$ref: '#/$defs/opt', default: {lr: 0.1}}\n")
    assert docs.schema_rows("Z", defs) == [
        ("epochs", "integer", "3", ""), ("optimizer", "mapping (opt)", '{"lr": 0.1}', ""),
        ("optimizer.lr", "number", "required", "step")]


def test_cli_docs_check(tmp_path, capsys):
    def check(out) -> str:
        """``nnrepro docs --check --out out``: "" when up to date, else its error message."""
        try:
            main(["docs", "--check", "--out", str(out)])
        except SystemExit as e:
            return str(e.code)
        return ""

    assert check(REPO / "docs") == ""
    out = tmp_path / "docs"
    assert "families/A.md" in check(out)                         # nothing there yet
    main(["docs", "--out", str(out)])
    assert check(out) == "" and "up to date" in capsys.readouterr().out
    (out / "families" / "A.md").write_text("edited by hand\n")
    assert "families/A.md" in check(out)
    main(["docs", "--out", str(out)])
    (out / "families" / "Z.md").write_text("a family that is gone\n")
    assert "families/Z.md" in check(out)
    main(["docs", "--out", str(out)])
    assert not (out / "families" / "Z.md").exists() and check(out) == ""


def test_readme_is_short_and_links_pages_that_exist():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    # the two commands tests/test_workflow.py and .ci/run rely on, exactly
    assert "    pip install -e . && snakemake --cores all\n" in readme
    assert '    pip install -e ".[test]" && python -m pytest -q\n' in readme
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)\)", readme):
        assert (REPO / target).exists(), target
    for page in (REPO / "docs").rglob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), (page, target)
