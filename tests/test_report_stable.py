"""Issue 28: the files DVC tracks are byte-stable across a redraw of the same results. The date
and the job times change with every run: they go to results/timings.json (no DVC output), not
into report.md, report.html or provenance.json."""
import json
import time

import pandas as pd

from nnrepro.claims import greater, reference
from nnrepro.report import provenance, verdict_table, write_report

from conftest import REPO


def _report(results, jobs_s):
    rows = [greater("A-norm-vs-T", "ρ(T, |θ|) > 0.8", 0.9, 0.8, units=[0.9, 0.95, 0.92]).row("quick"),
            reference("D-saddle-surface", "surface").row("quick")]
    (results / "claims").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(results / "claims" / "A.csv", index=False)
    marker = results / "runs" / "A" / "jobs" / "j.json"
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"runs": {"seed~0": "ok"}}))
    bench = results / "benchmarks" / "train" / "A" / "j.tsv"
    bench.parent.mkdir(parents=True)
    bench.write_text(f"s\th:m:s\n{jobs_s}\t0:00:01\n")
    prov = provenance(results, {"profile": "quick"}, "config.yaml", REPO, [marker])
    write_report([results / "claims" / "A.csv"], results / "claims.csv", results / "report.md",
                 results / "figures", prov)


def test_a_redraw_leaves_the_report_and_provenance_byte_identical(tmp_path):
    _report(tmp_path / "one", 12.5)
    time.sleep(1.1)                                  # another second, another job time
    _report(tmp_path / "two", 31.0)
    for name in ("report.md", "report.html", "provenance.json", "claims.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    one, two = (json.loads((tmp_path / d / "timings.json").read_text()) for d in ("one", "two"))
    assert one["job_s"] == {"A": 12.5} and two["job_s"] == {"A": 31.0} and one["date"] != two["date"]
    md = (tmp_path / "one" / "report.md").read_text()
    assert "timings.json" in md and "family A: 1 runs" in md
    assert one["date"] in verdict_table(tmp_path / "one")       # `nnrepro verdicts` still dates it
