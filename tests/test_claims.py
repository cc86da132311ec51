"""Claims: verdicts from 95 % intervals over seeds; the pure functions behind A and B's claims;
a report whose Markdown table parses and that says where its numbers come from."""
import math
import re

import pandas as pd
import pytest

from nnrepro.claims import COLUMNS, both, greater, less, mean_interval, reference
from nnrepro.families.a import figures as fig_a
from nnrepro.families.b import figures as fig_b
from nnrepro.report import provenance, write_report

from conftest import REPO


def test_mean_interval_is_the_student_t_interval():
    mean, low, high, n = mean_interval([1.0, 2.0, 3.0])
    # mean 2, s = 1, t_{0.975, 2} = 4.3027: half-width 4.3027 / √3
    assert (mean, n) == (2.0, 3) and high - mean == pytest.approx(4.302653 / 3 ** 0.5, rel=1e-6)
    assert mean - low == pytest.approx(high - mean)
    one = mean_interval([5.0])
    assert one[0] == 5.0 and one[3] == 1 and math.isnan(one[1]) and math.isnan(one[2])
    assert mean_interval([float("nan"), 1.0, 1.0]) == (1.0, 1.0, 1.0, 2)   # non-finite dropped


@pytest.mark.parametrize("units,verdict", [
    ([0.90, 0.92, 0.91], "pass"),           # interval [0.885, 0.935] above 0.8
    ([0.50, 0.52, 0.51], "fail"),           # interval below 0.8
    ([0.70, 0.95, 0.85], "inconclusive"),   # interval straddles 0.8
    ([0.95], "inconclusive"),               # one seed: no interval
    ([], "inconclusive"),                   # no data
])
def test_verdict_from_the_interval_over_seeds(units, verdict):
    c = greater("X-test", "ρ > 0.8", math.nan, 0.8, units=units)
    assert c.verdict == verdict and c.passed == {"pass": True, "fail": False}.get(verdict)
    assert c.n == len(units)
    if len(units) > 1:
        assert c.low < c.value < c.high and c.value == pytest.approx(sum(units) / len(units))


def test_exact_claims_compare_the_value_and_both_needs_both():
    assert less("D-x", "err < 1e-6", 1e-9, 1e-6).verdict == "pass"
    assert less("D-x", "err < 1e-6", 1e-3, 1e-6).verdict == "fail"
    assert less("D-x", "err < 1e-6", math.nan, 1e-6).verdict == "inconclusive"
    assert reference("D-s", "surface").verdict == "reference"
    ok, bad, unsure = (greater("X", "", 0, 0.5, units=u) for u in ([1, 1.1, 0.9], [0, 0.1, 0.05], [0, 1, 2]))
    assert both(ok, ok).verdict == "pass" and both(ok, bad).verdict == "fail"
    assert both(ok, unsure).verdict == "inconclusive"


def test_per_seed_spearman_needs_three_points():
    fin = pd.DataFrame({"seed": [0] * 3 + [1] * 2, "T": [1, 0.1, 0.01, 1, 0.1],
                        "norm": [30, 20, 10, 10, 20]})
    assert fig_a.per_seed_spearman(fin, "T", "norm") == [1.0]   # seed 1 has two T: no ρ


def test_a_claim_functions_on_hand_made_tables():
    ep = pd.DataFrame({"run": ["r"] * 3, "status": "ok", "epoch": [1, 2, 3], "norm": [2.0, 4.0, 8.0],
                       "ens_acc": [0.90, 0.95, 0.94], "test_acc": [0.9, 0.8, 0.7]})
    st = pd.DataFrame({"run": ["r"] * 2, "step": [0, 1], "norm2": [4.0, 9.0]})
    growth, drop, single = fig_a.burst_per_run(ep, st)
    assert growth == [4.0] and drop == [pytest.approx(0.01)] and single == [pytest.approx(0.2)]
    fin = pd.DataFrame({"seed": [0, 0, 0, 0], "gamma": [0.01] * 4, "alpha": [1.0, 10.0, 1.0, 10.0],
                        "ens_nll": [1.0, 0.5, 1.0, 0.5]})[:2]
    samp = pd.DataFrame({"seed": [0, 0], "status": "ok", "gamma": [0.01, 0.01], "alpha": [1.0, 10.0],
                         "distance": [1.0, 3.0]})
    parts, units = fig_a.alpha_restores_mixing(fin, samp)
    assert units == [1.0] and "γ=0.01 α=10" in parts[0]


def test_b_claim_functions_on_hand_made_tables():
    steps = pd.DataFrame({"step": range(20), "loss": [2.0] * 2 + [1.0] * 16 + [0.5] * 2})
    assert fig_b.last_to_first_tenth(steps) == 0.25
    ep = pd.DataFrame({"epoch": [1, 2, 1, 2], "model": ["base run (Adam, lr 0.001)"] * 2 + ["SWA average (SGD, lr 0.05)"] * 2,
                       "test_error": [5.0, 4.0, 4.5, 3.5]})
    assert fig_b.swa_minus_base(ep) == -0.5
    widths = pd.DataFrame({"correct": [True, True, False], "width": [0.1, 0.3, 0.6]})
    assert fig_b.width_ratio(widths) == pytest.approx(3.0)
    pts = pd.DataFrame({"point": ["iterate 1", "iterate 2", "iterate 3", "average of the 3"],
                        "test_err": [0.03, 0.04, 0.05, 0.02]})
    assert fig_b.average_minus_iterates(pts) == pytest.approx(-2.0)
    flat = pd.DataFrame({"solution": ["base"] * 3 + ["SWA"] * 3, "distance": [-1, 1e-8, 1] * 2,
                         "test_loss": [3.0, 1.0, 3.0, 2.0, 1.0, 2.0]})
    assert fig_b.rise_ratio(flat) == 0.5


def test_report_markdown_table_parses_and_has_provenance(tmp_path):
    rows = [greater("A-norm-vs-T", "ρ(T, |θ|) > 0.8 | per seed", math.nan, 0.8, units=[0.9, 0.95, 0.92]).row("quick"),
            less("B-swa", "SWA − base ≤ 0", math.nan, 0.0, units=[-0.1, 0.2, 0.05], inclusive=True,
                 finding="errors: 2 % | 2.1 %").row("quick"),
            reference("D-saddle-surface", "surface").row("quick")]
    claims = tmp_path / "claims" / "A.csv"
    claims.parent.mkdir()
    pd.DataFrame(rows).to_csv(claims, index=False)
    prov = provenance(tmp_path, {"profile": "quick"}, "config.yaml", REPO)
    df = write_report([claims], tmp_path / "claims.csv", tmp_path / "report.md", tmp_path, prov)
    assert list(pd.read_csv(tmp_path / "claims.csv").columns) == COLUMNS
    assert list(df["verdict"]) == ["pass", "inconclusive", "reference"]
    md = (tmp_path / "report.md").read_text()
    table = [l for l in md.splitlines() if l.startswith("|")]
    cells = [len(re.split(r"(?<!\\)\|", l)) for l in table]
    assert len(table) == 5 and len(set(cells)) == 1, table
    for field in ("git commit", "config file", "differences from the default profile",
                  "package versions", "torch", "snakemake", "dvc", "numpy", "device", "date"):
        assert field in md, field
    html = (tmp_path / "report.html").read_text()
    assert "#1a7f37" in html and "#9a6700" in html     # pass and inconclusive cells coloured
    # families A, B, D have rows; the others were not configured: "not run", never "not implemented"
    assert "## Not run" in md and "C (Gradient flow and initialization)" in md
    assert "implemented" not in md.lower() and "implemented" not in html.lower()


def test_status_is_a_str_enum_and_one_verdict_list_serves_report_and_figures():
    import json

    from nnrepro import claims, report
    from nnrepro import plotting as style
    from nnrepro.results import Status

    assert Status.OK == "ok" and Status("diverged") is Status.DIVERGED and f"{Status.OK}" == "ok"
    assert json.dumps({"status": Status.DIVERGED}) == '{"status": "diverged"}'
    assert claims.VERDICTS == ("pass", "fail", "inconclusive", "reference")
    assert set(claims.VERDICT_COLOR) == set(claims.VERDICTS)
    assert report.VERDICT_COLOR is claims.VERDICT_COLOR and style.VERDICT_COLOR is claims.VERDICT_COLOR


def test_runs_table_and_note_are_shared_by_the_figures():
    from nnrepro.plotting import runs_note, runs_table

    class Res:
        runs = [{"run": "seed~0", "status": "ok", "spec": {"seed": 0, "optimizer": {"lr": 0.1}}},
                {"run": "seed~1", "status": "diverged", "spec": {"seed": 1, "optimizer": {"lr": 0.5}}}]

    t = runs_table(Res(), seed="seed", lr="optimizer.lr")
    assert list(t.columns) == ["run", "status", "seed", "lr"] and list(t["lr"]) == [0.1, 0.5]
    assert runs_note(t) == "2 runs; 1 diverged (excluded): seed~1"
    assert runs_note(t, unit="seed(s)", excluded=False) == "2 seed(s); 1 diverged: seed~1"
    assert runs_note(t.iloc[:1]) == "1 runs"


def test_dvc_plots_come_from_the_families_hooks(tmp_path):
    from nnrepro.plotting import PLOTS
    from nnrepro.report import write_plots

    assert write_plots(tmp_path, tmp_path / "plots") == []              # nothing run: headers
    assert {"A-norm-burst.csv", "B-test-error.csv"} <= set(PLOTS)
    assert (tmp_path / "plots" / "B-test-error.csv").read_text() == "epoch,base_test_error,swa_test_error\n"
    (tmp_path / "tables" / "B").mkdir(parents=True)
    pd.DataFrame({"epoch": [1, 1, 1, 2, 2], "model": ["base", "swa", "base", "base", "swa"],
                  "err": [0.5, 0.4, 0.3, 0.2, 0.1], "status": ["ok"] * 4 + ["diverged"]}) \
        .to_parquet(tmp_path / "tables" / "B" / "epochs.parquet")
    written = write_plots(tmp_path, tmp_path / "plots")
    assert [p.name for p in written] == ["B-test-error.csv"]
    curve = pd.read_csv(written[0])
    assert list(curve.columns) == ["epoch", "base_test_error", "swa_test_error"]
    assert curve["base_test_error"].tolist() == pytest.approx([40.0, 20.0])   # mean of ok seeds, %
    assert curve["swa_test_error"].iloc[0] == pytest.approx(40.0) and math.isnan(curve["swa_test_error"].iloc[1])


def test_dvc_plots_and_report_tables_of_a_family_whose_runs_all_diverged(tmp_path):
    """Issue 28: B's only run diverged, so its epochs table has no ok row: the plot keeps its
    header (no KeyError) and the report's ensemble table is skipped; so is a hook raising NoData."""
    from nnrepro.plotting import PLOTS, plot
    from nnrepro.report import ensemble_means, write_plots
    from nnrepro.results import NoData

    (tmp_path / "tables" / "B").mkdir(parents=True)
    pd.DataFrame({"epoch": [1, 1], "model": ["base", "swa"], "err": [float("nan")] * 2,
                  "status": ["diverged"] * 2}).to_parquet(tmp_path / "tables" / "B" / "epochs.parquet")

    @plot("Z-no-data.csv", ["x", "y"])
    def _raises(tables):
        raise NoData("nothing")
    try:
        assert write_plots(tmp_path, tmp_path / "plots") == []
    finally:
        del PLOTS["Z-no-data.csv"]
    assert (tmp_path / "plots" / "B-test-error.csv").read_text() == "epoch,base_test_error,swa_test_error\n"
    assert (tmp_path / "plots" / "Z-no-data.csv").read_text() == "x,y\n"
    assert ensemble_means(pd.DataFrame()).empty


def test_fisher_interval_stays_within_minus_one_and_one():
    from nnrepro.claims import fisher_interval, mean_interval
    rhos = [0.99, 0.6, 0.95]
    _, _, t_high, _ = mean_interval(rhos)
    value, low, high, n = fisher_interval(rhos)
    assert t_high > 1                    # the plain t-interval of a mean of ρs passes 1
    assert -1 < low < value < high < 1 and n == 3


def test_proportion_interval_is_clopper_pearson():
    from nnrepro.claims import proportion_interval
    p, low, high, n = proportion_interval(5, 5)
    assert p == 1 and high == 1 and n == 5
    assert abs(low - 0.025 ** (1 / 5)) < 1e-12          # the exact lower bound for 5 of 5
    p, low, high, _ = proportion_interval(0, 8)
    assert low == 0 and abs(high - (1 - 0.025 ** (1 / 8))) < 1e-12


def test_bootstrap_interval_is_reproducible_and_brackets_the_statistic():
    from nnrepro.claims import bootstrap_interval
    units = [[1.0, 2.0], [1.5, 2.5], [0.5, 3.0], [1.2, 2.2], [0.9, 2.8]]
    stat = lambda us: sum(u[1] - u[0] for u in us) / len(us)
    a = bootstrap_interval(units, stat)
    assert a == bootstrap_interval(units, stat)
    assert a[1] <= a[0] <= a[2] and a[3] == 5


def test_within_band_passes_fails_and_is_inconclusive():
    from nnrepro.claims import within
    assert within("K-x", "slope ≈ −½", -0.5, 0.15, units=[-0.52, -0.49, -0.5, -0.47, -0.51]).verdict == "pass"
    assert within("K-x", "slope ≈ −½", -0.5, 0.15, units=[-0.2, -0.22, -0.19, -0.21, -0.2]).verdict == "fail"
    assert within("K-x", "slope ≈ −½", -0.5, 0.15, units=[-0.3, -0.4, -0.35, -0.5, -0.3]).verdict == "inconclusive"
    # any negative slope passed "slope < 0"; the band does not accept −0.2
    assert less("K-x", "slope < 0", 0, 0, units=[-0.2, -0.22, -0.19, -0.21, -0.2]).verdict == "pass"


@pytest.mark.parametrize("family", ["B", "G"])
def test_a_family_whose_every_run_diverged_still_renders_every_figure(tmp_path, family):
    """Absent data (here: every run diverged before writing a table) gives a "no data" panel
    and an inconclusive row saying why for each figure that cannot be drawn, never a crash or
    a pass, so claims.csv and the report complete."""
    import json
    from nnrepro.catalogue import FIGURES
    from nnrepro.render import render
    from nnrepro.results import Results
    runs = []
    for seed in range(2):
        d = tmp_path / "runs" / f"seed~{seed}"
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps({"run": d.name, "status": "diverged", "sweep": "seeds",
                                                "point": {"seed": seed}, "spec": {"seed": seed}}))
        runs.append(d / "run.json")
    claims = render(family, Results(runs), tmp_path / "fig", "test")
    assert list(claims["figure_id"]) == FIGURES[family]
    assert set(claims["verdict"]) <= {"inconclusive", "reference"}
    assert all((tmp_path / "fig" / f"{fid}.png").exists() for fid in FIGURES[family])
    no_data = claims[claims["finding"].str.startswith("no data", na=False)]
    assert len(no_data) and all("2 diverged" in f for f in no_data["finding"])


def test_an_inconclusive_claim_says_why_and_what_would_decide_it():
    from nnrepro.claims import why_inconclusive
    straddles = less("G-x", "ratio < 0.1", 0, 0.1, units=[0.01, 0.2, 0.05, 0.15, 0.17])
    assert straddles.verdict == "inconclusive"
    assert "contains the threshold 0.1" in why_inconclusive(straddles)
    few = less("G-x", "ratio < 0.1", 0, 0.1, units=[0.01, 0.02], min_n=5)
    assert "fewer than the claim needs" in why_inconclusive(few)
    assert why_inconclusive(less("G-x", "ratio < 0.1", 0, 0.1, units=[0.01] * 5)) == ""   # a pass
