"""The reproduction report: every figure beside its claim and outcome.

Writes ``results/claims.csv`` (one row per figure: figure_id, claim, value, threshold, passed,
profile), ``results/report.md`` and a self-contained ``results/report.html``.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import pandas as pd

from nnrepro.families import FIGURES, TITLES
from nnrepro.claims import COLUMNS


def merge_claims(paths: list[str | Path]) -> pd.DataFrame:
    df = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    order = {fid: i for i, fid in enumerate(f for ids in FIGURES.values() for f in ids)}
    return df.sort_values("figure_id", key=lambda s: s.map(order)).reset_index(drop=True)


def _verdict(passed) -> str:
    if isinstance(passed, float) and math.isnan(passed) or passed is None or passed == "":
        return "reference"
    return "PASS" if str(passed) == "True" else "FAIL"


def _fmt(x) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "—" if math.isnan(x) else f"{x:.4g}"


def write_report(claim_files, claims_out: Path, report_md: Path, figures_dir: Path) -> pd.DataFrame:
    df = merge_claims(claim_files)
    claims_out.parent.mkdir(parents=True, exist_ok=True)
    df[COLUMNS].to_csv(claims_out, index=False)
    verdicts = df["passed"].map(_verdict)
    profile = ", ".join(sorted(df["profile"].astype(str).unique()))
    counts = verdicts.value_counts()
    head = (f"Profile: **{profile}**. {len(df)} figures: {counts.get('PASS', 0)} claims pass, "
            f"{counts.get('FAIL', 0)} fail, {counts.get('reference', 0)} reference figures. "
            "A failing claim is a finding, reported as measured.")
    families = [f for f in FIGURES if df["figure_id"].str.startswith(f + "-").any()]
    missing = [f for f in FIGURES if f not in families]

    md = ["# nnrepro reproduction report", "", head, "",
          "| figure | claim | value | threshold | outcome |", "|---|---|---|---|---|"]
    md += [f"| [{r.figure_id}](#{r.figure_id.lower()}) | {r.claim} | {_fmt(r.value)} | "
           f"{_fmt(r.threshold)} | {v} |" for r, v in zip(df.itertuples(), verdicts)]
    body = []
    for fam in families:
        md += ["", f"## {fam}. {TITLES[fam]}"]
        body.append(f"<h2>{fam}. {html.escape(TITLES[fam])}</h2>")
        for r, v in zip(df.itertuples(), verdicts):
            if not r.figure_id.startswith(fam + "-"):
                continue
            note = f" ({r.note})" if "note" in df.columns and isinstance(r.note, str) and r.note else ""
            line = f"**{v}**: {r.claim}; value {_fmt(r.value)}, threshold {_fmt(r.threshold)}{note}"
            md += ["", f"### {r.figure_id}", "", f"![{r.figure_id}](figures/{r.figure_id}.png)", "", line]
            png = figures_dir / f"{r.figure_id}.png"
            img = (f'<img src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}" '
                   f'alt="{r.figure_id}" style="max-width:100%">' if png.exists() else "<p>(missing)</p>")
            color = {"PASS": "#1a7f37", "FAIL": "#cf222e"}.get(v, "#57606a")
            body.append(f'<h3 id="{r.figure_id.lower()}">{r.figure_id}</h3>{img}'
                        f'<p style="color:{color}"><b>{v}</b>: {html.escape(line.split(": ", 1)[1])}</p>')
    if missing:
        md += ["", "## Not yet implemented", "", ", ".join(f"{f} ({TITLES[f]})" for f in missing)]
        body.append("<h2>Not yet implemented</h2><p>" + html.escape(", ".join(missing)) + "</p>")
    report_md.write_text("\n".join(md) + "\n")
    rows = "".join(f'<tr><td><a href="#{r.figure_id.lower()}">{r.figure_id}</a></td>'
                   f"<td>{html.escape(str(r.claim))}</td><td>{_fmt(r.value)}</td>"
                   f"<td>{_fmt(r.threshold)}</td><td>{v}</td></tr>"
                   for r, v in zip(df.itertuples(), verdicts))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>nnrepro report</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
            "td,th{border:1px solid #ccc;padding:3px 6px}table{border-collapse:collapse}</style>"
            f"</head><body><h1>nnrepro reproduction report</h1><p>{html.escape(head).replace('**', '')}</p>"
            f"<table><tr><th>figure</th><th>claim</th><th>value</th><th>threshold</th><th>outcome</th></tr>"
            f"{rows}</table>{''.join(body)}</body></html>")
    report_md.with_suffix(".html").write_text(page)
    return df
