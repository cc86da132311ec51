"""Issue 26: `nnrepro verdicts --publish` writes a verdict table with its profile, commit and
date; `--compare` lists the claims that differ and exits 1 when a verdict flips."""
import json

import pandas as pd
import pytest

from nnrepro import verdicts
from nnrepro.cli import main
from nnrepro.claims import greater, reference


def _results(folder, units_a, units_h=(0.3, 0.35, 0.4, 0.32, 0.38), extra=True):
    """A results folder with claims.csv (a claim on units_a, one on units_h, a reference)."""
    rows = [greater("A-norm-vs-T", "ρ > 0.8", 0, 0.8, units=list(units_a)).row("quick"),
            greater("H-width", "gap > 0.2", 0, 0.2, units=list(units_h)).row("quick")]
    if extra:
        rows.append(reference("D-saddle-surface", "surface").row("quick"))
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "claims.csv", index=False)
    (folder / "provenance.json").write_text(json.dumps({"git commit": "abc1234"}))
    (folder / "timings.json").write_text(json.dumps({"date": "2026-12-07T10:00:00+00:00"}))
    return folder


PASS = (0.9, 0.95, 0.92, 0.93, 0.91)




def test_identical_tables_differ_in_nothing(tmp_path):
    a, h = verdicts.read(_results(tmp_path / "a", PASS))
    assert h == {"commit": "abc1234", "date": "2026-12-07T10:00:00+00:00", "profile": "quick"}
    assert verdicts.differences(a, a).empty


def test_a_flip_a_moved_value_and_a_missing_claim(tmp_path):
    a, _ = verdicts.read(_results(tmp_path / "a", PASS))
    b, _ = verdicts.read(_results(tmp_path / "b", (0.5, 0.6, 0.55, 0.52, 0.58),         # fails
                                  units_h=(0.36, 0.41, 0.46, 0.38, 0.44), extra=False))   # +15 %
    d = verdicts.differences(a, b).set_index("figure_id")
    assert d.loc["A-norm-vs-T", "flip"] and d.loc["A-norm-vs-T", "what"].startswith(
        "verdict, side (above -> below)")
    assert not d.loc["H-width", "flip"] and d.loc["H-width", "what"] == "value"
    assert d.loc["D-saddle-surface", "what"] == "only in a" and not d.loc["D-saddle-surface", "flip"]
    assert verdicts.differences(a, b, tolerance=0.2).index.size == 2     # H within 20 %


def test_side_of_the_threshold(tmp_path):
    a, _ = verdicts.read(_results(tmp_path / "a", (0.7, 0.9, 0.85, 0.75, 0.95)))   # straddles 0.8
    assert a.loc["A-norm-vs-T", "verdict"] == "inconclusive"
    assert verdicts.side(a.loc["A-norm-vs-T"]) == "straddles"
    assert verdicts.side(a.loc["H-width"]) == "above"
    assert verdicts.side(a.loc["D-saddle-surface"]) == "none"
    exact = pd.Series({"value": 1.0, "low": float("nan"), "high": float("nan"), "n": 0, "threshold": 2.0})
    assert verdicts.side(exact) == "below"


def test_publish_round_trips_and_names_its_run(tmp_path):
    results = _results(tmp_path / "a", PASS)
    out = verdicts.publish(results, tmp_path / "quick.csv")
    assert out.read_text().startswith("# profile: quick\n# commit: abc1234\n# date: 2026-12-07")
    table, head = verdicts.read(out)
    assert head["profile"] == "quick" and verdicts.differences(table, verdicts.read(results)[0]).empty
    with pytest.raises(ValueError, match="not mnist"):
        verdicts.publish(results, verdicts.published("mnist"))


def test_cli_compare_exits_1_on_a_flip_only(tmp_path, capsys):
    a = _results(tmp_path / "a", PASS)
    main(["verdicts", "--results", str(a), "--publish", str(tmp_path / "pub.csv")])
    main(["verdicts", "--results", str(a), "--compare", str(tmp_path / "pub.csv")])   # exit 0
    assert "0 of 3 claims differ, 0 verdict(s) flipped" in capsys.readouterr().out
    b = _results(tmp_path / "b", (0.5, 0.6, 0.55, 0.52, 0.58))
    with pytest.raises(SystemExit) as e:
        main(["verdicts", "--results", str(b), "--compare", str(tmp_path / "pub.csv")])
    assert e.value.code == 1
    out = capsys.readouterr().out
    assert "| A-norm-vs-T | verdict, side (below -> above), value |" in out and "1 verdict(s) flipped" in out


def test_a_claims_csv_with_a_hash_in_its_text_and_no_profile_in_a_row(tmp_path):
    """A family's claims CSV read directly: a '#' inside a quoted text is data, not a comment,
    and a row without a data set (an analytic figure) leaves the profile to the others."""
    rows = [greater("E-ridge", "#{|μ| < 1e-9} = outputs·(d − n)", 0, 0.8, units=list(PASS)).row("mnist"),
            {**reference("D-saddle-surface", "surface").row("mnist"), "profile": None}]
    path = tmp_path / "claims.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    df, head = verdicts.read(path)
    assert df.loc["E-ridge", "verdict"] == "pass" and head["profile"] == "mnist"
    assert verdicts.differences(df, df).empty
