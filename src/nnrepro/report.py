"""The reproduction report: every figure beside its claim, its verdict and why, and where the
numbers come from.

Writes ``results/claims.csv`` (one row per figure: value, 95 % interval, n, threshold, verdict,
diverged runs excluded, the source's number and whether our scale can test it), ``results/report.md``
and a self-contained ``results/report.html``. Each figure appears once; its PNG carries the claim
stamped under the plot, the report adds the finding and the provenance of the run.
"""
from __future__ import annotations

import base64
import datetime
import html
import json
import math
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd

from nnrepro.claims import COLUMNS, VERDICT_COLOR, VERDICTS
from nnrepro.catalogue import FIGURES, TITLES
from nnrepro.results import NoData


def merge_claims(paths: list[str | Path]) -> pd.DataFrame:
    df = pd.concat([pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in paths],
                   ignore_index=True)
    order = {fid: i for i, fid in enumerate(f for ids in FIGURES.values() for f in ids)}
    return df.sort_values("figure_id", key=lambda s: s.map(order)).reset_index(drop=True)


def _fmt(x) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "" if x is None else str(x)
    return "—" if math.isnan(x) else f"{x:.4g}"


def _cell(x) -> str:
    """A Markdown table cell: no line breaks, `|` escaped."""
    text = "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)
    return text.replace("\n", " ").replace("|", "\\|")


def _interval(r) -> str:
    if not (math.isfinite(float(r.low)) and math.isfinite(float(r.high))):
        return "exact" if int(r.n or 0) == 0 else "—"
    return f"[{_fmt(r.low)}, {_fmt(r.high)}]"


# ---------------------------------------------------------------- provenance
def _git(repo: Path) -> str:
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        # dvc.lock records the results' hashes, not code or config: a `dvc commit` of the
        # results leaves the checkout clean, and a redraw after it an identical report
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no",
                                "--", ":(top)", ":(top,exclude)dvc.lock"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return commit + (" (uncommitted changes)" if dirty else " (clean)")


def _device() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    out = f"CPU {cpu} ({os.cpu_count()} cores)"
    try:
        import torch

        if torch.cuda.is_available():
            out += f"; GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return out


def _config_diff(config: dict, default: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose value differs from the default profile's."""
    out = []
    for k in sorted(set(config) | set(default)):
        a, b = config.get(k), default.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {json.dumps(b)} → {json.dumps(a)}")
    return out


def _family_runs(results_dir: Path, family: str, markers: list[Path]) -> dict:
    """Runs, seeds, diverged runs and job time of a family, from the current config's job
    markers (results/runs/<family>/jobs/<job>.json), run.json files and Snakemake's benchmarks."""
    runs = {}
    for marker in markers:
        runs.update(json.loads(marker.read_text())["runs"])
    seeds = set()
    for run in runs:
        info = results_dir / "runs" / family / run / "run.json"
        if info.exists():
            seeds.add(json.loads(info.read_text())["spec"].get("seed"))
    wall = 0.0
    for tsv in [*(results_dir / "benchmarks" / "train" / family / f"{m.stem}.tsv" for m in markers),
                results_dir / "benchmarks" / f"figures_{family}.tsv"]:
        if tsv.exists():
            wall += float(pd.read_csv(tsv, sep="\t")["s"].sum())
    return {"runs": len(runs), "seeds": len(seeds - {None}),
            "diverged": sorted(r for r, s in runs.items() if s == "diverged"), "job_s": round(wall, 1)}


def provenance(results_dir: Path, config: dict | None, config_file: str, repo: Path,
               markers: list[str | Path] = ()) -> dict:
    from nnrepro.config import load, validate

    versions = {p: _version(p) for p in ("nnrepro", "torch", "snakemake", "dvc", "numpy", "pandas")}
    diff = []
    if config is not None:
        try:
            diff = _config_diff(config, validate(load(repo / "config.yaml")))
        except (OSError, ValueError) as e:
            diff = [f"(default profile unreadable: {e})"]
    by_family: dict[str, list[Path]] = {}
    for m in map(Path, markers):                 # results/runs/<family>/jobs/<job>.json
        by_family.setdefault(m.parents[1].name, []).append(m)
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "git commit": _git(repo), "config file": config_file,
            "differences from the default profile (config.yaml)": diff or ["none"],
            "package versions": versions, "device": _device(),
            "families": {f: _family_runs(results_dir, f, ms) for f, ms in sorted(by_family.items())}}


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


# What changes with every run of the same results (the date, Snakemake's job times) is kept out
# of the files DVC tracks (report.md, report.html, provenance.json), so that a redraw of the same
# results leaves them byte-identical: it goes to results/timings.json, which no stage declares.
TIMINGS = "timings.json"


def split_timings(prov: dict) -> tuple[dict, dict]:
    """``prov`` without its date and job times, and those: {"date": ..., "job_s": {family: s}}."""
    prov = json.loads(json.dumps(prov, default=str))            # a copy
    timings = {"date": prov.pop("date", None), "job_s": {}}
    for family, info in prov.get("families", {}).items():
        if "job_s" in info:
            timings["job_s"][family] = info.pop("job_s")
    if prov:
        prov["date and job times"] = (f"{TIMINGS} beside this report (not tracked by DVC: they "
                                      "change with every run)")
    return prov, timings


# ---------------------------------------------------------------- writing
def write_report(claim_files, claims_out: Path, report_md: Path, figures_dir: Path,
                 prov: dict | None = None) -> pd.DataFrame:
    df = merge_claims(claim_files)
    claims_out.parent.mkdir(parents=True, exist_ok=True)
    df[COLUMNS].to_csv(claims_out, index=False)
    prov, timings = split_timings(prov or {})
    (claims_out.parent / "provenance.json").write_text(json.dumps(prov, indent=1, default=str))
    (claims_out.parent / TIMINGS).write_text(json.dumps(timings, indent=1, default=str))
    profile = ", ".join(sorted(df["profile"].astype(str).unique()))
    counts = df["verdict"].value_counts()
    passed, failed, undecided, references = (counts.get(v, 0) for v in VERDICTS)
    head = (f"Profile: **{profile}**. {len(df)} figures: {passed} claims pass, "
            f"{failed} fail, {undecided} inconclusive, "
            f"{references} reference figures. A claim passes when the 95 % interval "
            "of its value (over seeds or runs, n units) lies on the right side of the threshold, "
            "fails when it lies on the wrong side, and is inconclusive when it straddles the "
            "threshold or there is too little data; mathematical claims (exact) compare the value "
            "itself. A failing claim is a finding, reported as measured.")
    families = [f for f in FIGURES if df["figure_id"].str.startswith(f + "-").any()]
    missing = [f for f in FIGURES if f not in families]

    md = ["# nnrepro reproduction report", "", head, "",
          "| figure | claim | value | 95 % interval | n | threshold | verdict | diverged | the source's number | comparable |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| [{r.figure_id}](#{r.figure_id.lower()}) | {_cell(r.claim)} | {_fmt(r.value)} | "
           f"{_interval(r)} | {int(r.n or 0)} | {_fmt(r.threshold)} | **{r.verdict}** | "
           f"{int(r.diverged or 0)} | {_cell(r.document)} | {_cell(r.comparable)} |"
           for r in df.itertuples()]
    md += ["", "## Provenance", ""] + _provenance_md(prov)
    body = []
    for fam in families:
        md += ["", f"## {fam}. {TITLES[fam]}", f"Tables: [tables/{fam}/](tables/{fam}/)"]
        body.append(f"<h2>{fam}. {html.escape(TITLES[fam])}</h2>"
                    f'<p>Tables: <a href="tables/{fam}/">tables/{fam}/</a></p>')
        ens = figures_dir.parent / "tables" / fam / "ensembles.parquet"
        mean = ensemble_means(pd.read_parquet(ens)) if ens.exists() else None
        if mean is not None and len(mean):
            md += ["", f"Ensembles (mean over runs; `tables/{fam}/ensembles.parquet`):", "",
                   _markdown_table(mean)]
            body.append(f"<p>Ensembles (mean over runs):</p>{mean.to_html(float_format='%.4g')}")
        for r in df[df["figure_id"].str.startswith(fam + "-")].itertuples():
            why = " ".join(t for t in (_cell(r.finding), _cell(r.note)) if t)
            md += ["", f"### {r.figure_id}", "", f"![{r.figure_id}](figures/{r.figure_id}.png)", "",
                   f"Claim: {_cell(r.claim)}. Test: {_cell(r.test)}.", "",
                   f"**{r.verdict}**" + (f": {why}" if why else "")]
            png = figures_dir / f"{r.figure_id}.png"
            img = (f'<img src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}" '
                   f'alt="{r.figure_id}" style="max-width:100%">' if png.exists() else "<p>(missing)</p>")
            body.append(f'<h3 id="{r.figure_id.lower()}">{r.figure_id}</h3>{img}'
                        f"<p>Claim: {html.escape(str(r.claim))}. Test: {html.escape(str(r.test))}.</p>"
                        f'<p><b style="color:{VERDICT_COLOR.get(r.verdict, "#000")}">{r.verdict}</b>'
                        f'{": " + html.escape(why) if why else ""}</p>')
    if missing:                                  # families the config does not run
        md += ["", "## Not run", "", ", ".join(f"{f} ({TITLES[f]})" for f in missing)]
        body.append("<h2>Not run</h2><p>" + html.escape(", ".join(missing)) + "</p>")
    report_md.write_text("\n".join(md) + "\n")

    rows = "".join(
        f'<tr><td><a href="#{r.figure_id.lower()}">{r.figure_id}</a></td>'
        f"<td>{html.escape(str(r.claim))}</td><td>{_fmt(r.value)}</td><td>{_interval(r)}</td>"
        f"<td>{int(r.n or 0)}</td><td>{_fmt(r.threshold)}</td>"
        f'<td style="background:{VERDICT_COLOR.get(r.verdict, "#fff")};color:white"><b>{r.verdict}</b></td>'
        f"<td>{int(r.diverged or 0)}</td><td>{html.escape(_cell(r.document))}</td>"
        f"<td>{html.escape(_cell(r.comparable))}</td></tr>"
        for r in df.itertuples())
    prov_html = "".join(f"<li>{html.escape(line.lstrip('- '))}</li>" for line in _provenance_md(prov))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>nnrepro report</title>"
            "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}"
            "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}"
            "table{border-collapse:collapse;font-size:90%}</style>"
            f"</head><body><h1>nnrepro reproduction report</h1><p>{html.escape(head).replace('**', '')}</p>"
            "<table><tr><th>figure</th><th>claim</th><th>value</th><th>95 % interval</th><th>n</th>"
            "<th>threshold</th><th>verdict</th><th>diverged</th><th>the source's number</th>"
            f"<th>comparable</th></tr>{rows}</table><h2>Provenance</h2><ul>{prov_html}</ul>"
            f"{''.join(body)}</body></html>")
    report_md.with_suffix(".html").write_text(page)
    return df


def write_metrics(df: pd.DataFrame, results_dir: Path, out: Path) -> dict:
    """``results/metrics.json``, the one file dvc.yaml declares under ``metrics:`` (what `dvc
    metrics show` and `dvc exp show` print by default): the verdict counts and the number of
    figures. Every claim's value, interval and verdict, and every family's ensemble table
    (method -> accuracy, NLL, ECE, Brier; mean over runs) go to ``claims.json`` beside it, a DVC
    output that is not a metric (`dvc metrics show results/claims.json` prints it)."""
    def num(x):
        return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

    metrics = {"verdicts": {v: int((df["verdict"] == v).sum()) for v in VERDICTS},
               "claims": {r.figure_id: {"value": num(r.value), "low": num(r.low), "high": num(r.high),
                                        "n": int(r.n or 0), "verdict": r.verdict}
                          for r in df.itertuples()}}
    for table in sorted(results_dir.glob("tables/*/ensembles.parquet")):
        ens = pd.read_parquet(table)
        cols = [c for c in ("acc", "nll", "ece", "brier") if c in ens]
        if "method" in ens and cols:
            metrics.setdefault("ensembles", {})[table.parent.name] = {
                m: {c: num(v) for c, v in row.items()}
                for m, row in ens.groupby("method")[cols].mean().iterrows()}
    (out.parent / "claims.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    compact = {"verdicts": metrics["verdicts"], "figures": len(df)}
    out.write_text(json.dumps(compact, indent=1, sort_keys=True))
    return compact


def write_plots(results_dir: Path, out_dir: Path) -> list[Path]:
    """Curves for `dvc plots` (CSV, one x column, one column per series), each declared by its
    family's figures module with ``@plot``. A family not run gets the header alone, so that every
    plot dvc.yaml lists exists and `dvc plots show` loads cleanly; so does a family whose runs all
    diverged (a hook that finds no rows, or raises ``NoData``): the report always completes."""
    from nnrepro.plotting import PLOTS
    from nnrepro.render import figures_module

    for family in FIGURES:
        figures_module(family)                   # registers the family's plots
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (columns, curve) in PLOTS.items():
        try:
            df = curve(results_dir / "tables")
        except NoData:
            df = None
        if df is None or df.empty:               # not run, or no run left to draw (all diverged)
            (out_dir / name).write_text(",".join(columns) + "\n")
        else:                                    # a series no run has (no SWA model) stays empty
            written.append(out_dir / name)
            df.reindex(columns=columns).to_csv(written[-1], index=False)
    return written


def verdict_table(results_dir: Path) -> str:
    """claims.csv of ``results_dir`` as a Markdown table (figure, verdict, value, 95 % interval,
    n), headed by the profile, git commit and date of the run that made it."""
    df = pd.read_csv(results_dir / "claims.csv")
    prov = {}
    for name in ("provenance.json", TIMINGS):    # the date is in timings.json (older: provenance)
        if (results_dir / name).exists():
            prov.update({k: v for k, v in json.loads((results_dir / name).read_text()).items() if v})
    counts = df["verdict"].value_counts()
    fmt = lambda v: "" if pd.isna(v) else f"{v:.3g}"
    lines = [f"Profile **{', '.join(sorted(df['profile'].astype(str).unique()))}**, commit "
             f"`{prov.get('git commit', '?')}`, {prov.get('date', '?')}: "
             + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS),
             "", "| figure | verdict | value | 95 % interval | n |", "|---|---|---|---|---|"]
    for r in df.itertuples():
        interval = f"[{fmt(r.low)}, {fmt(r.high)}]" if pd.notna(r.low) else ""
        lines.append(f"| {r.figure_id} | {r.verdict} | {fmt(r.value)} | {interval} | {int(r.n) if pd.notna(r.n) else ''} |")
    return "\n".join(lines)


def ensemble_means(ens: pd.DataFrame) -> pd.DataFrame:
    """A family's ensembles table, mean over runs, one row per method in the order written."""
    cols = [c for c in ("acc", "nll", "ece", "brier") if c in ens]
    if "method" not in ens or not cols:          # no run wrote one (every run diverged)
        return pd.DataFrame(columns=cols, index=pd.Index([], name="method"))
    return ens.groupby("method")[cols].mean().reindex(list(dict.fromkeys(ens["method"])))


def _markdown_table(df: pd.DataFrame) -> str:
    lines = [f"| {df.index.name} | " + " | ".join(df.columns) + " |", "|---" * (len(df.columns) + 1) + "|"]
    lines += [f"| {_cell(i)} | " + " | ".join(f"{v:.4g}" for v in row) + " |" for i, row in df.iterrows()]
    return "\n".join(lines)


def _provenance_md(prov: dict) -> list[str]:
    lines = []
    for key, value in prov.items():
        if key == "families":
            for f, info in value.items():
                div = ", ".join(info["diverged"]) or "none"
                lines.append(f"- family {f}: {info['runs']} runs, {info['seeds']} seeds, "
                             f"diverged: {div}" + (f"; job time {info['job_s']:.0f} s (Snakemake "
                                                    "benchmarks)" if "job_s" in info else ""))
        elif isinstance(value, dict):
            lines.append(f"- {key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
        elif isinstance(value, list):
            lines.append(f"- {key}: " + "; ".join(value))
        else:
            lines.append(f"- {key}: {value}")
    return lines
