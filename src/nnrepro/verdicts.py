"""Published verdict tables, and what differs between two verdict tables (issue 26).

A verdict table is a results folder's ``claims.csv`` or a published table,
``docs/verdicts/<profile>.csv``: the columns of ``COLUMNS``, headed by ``# key: value`` lines
(profile, commit, date of the run that made it). ``nnrepro verdicts --publish`` writes one,
``nnrepro verdicts --compare`` lists the claims that differ and exits 1 when a verdict flips.
"""
from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import pandas as pd

COLUMNS = ["figure_id", "verdict", "value", "low", "high", "n", "threshold"]
PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "verdicts"   # in a checkout
TOLERANCE = 0.05        # a value that moved by more than 5 % (relative) is reported


def published(name: str) -> Path:
    """``quick`` -> docs/verdicts/quick.csv; a path is returned as it is."""
    return PUBLISHED / f"{name}.csv" if "/" not in name and not name.endswith(".csv") else Path(name)


def read(source: str | Path) -> tuple[pd.DataFrame, dict]:
    """(table, header) of a results folder (its claims.csv, provenance.json, timings.json), a
    published table or any claims CSV; header: profile, commit, date where known."""
    path = Path(source)
    if not path.exists():
        raise ValueError(f"{path}: no such results folder or verdict table"
                         + (" (not published yet)" if path.parent == PUBLISHED else ""))
    if path.is_dir():
        df, head = pd.read_csv(path / "claims.csv"), {}
        for name in ("provenance.json", "timings.json"):    # the date is in timings.json
            if (path / name).exists():
                head.update({k: v for k, v in json.loads((path / name).read_text()).items()
                             if k in ("git commit", "date") and v})
        head = {"commit": head.get("git commit", "?"), "date": head.get("date", "?")}
    else:
        lines = path.read_text().splitlines()
        top = [l for l in lines[:3] if l.startswith("#")]       # the header publish() writes
        head = dict(l[1:].strip().split(": ", 1) for l in top)
        df = pd.read_csv(path, skiprows=len(top))     # not comment="#": a claim's text may hold "#"
    if "profile" in df and "profile" not in head:
        head["profile"] = ", ".join(sorted(df["profile"].dropna().astype(str).unique()))   # a figure with no data set: empty
    missing = set(COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"{path}: not a verdict table (no column {', '.join(sorted(missing))})")
    return df[COLUMNS].set_index("figure_id"), head


def publish(results: str | Path, out: str | Path, commit: str | None = None) -> Path:
    """Write the verdict table of ``results`` to ``out``, headed by its profile and the commit
    and date of the run that made it (``commit`` where the results do not say)."""
    df, head = read(results)
    if "," in head.get("profile", ""):
        raise ValueError(f"{results}: claims of several profiles ({head['profile']}): publish one run")
    out = Path(out)
    if out.parent == PUBLISHED and out.stem != head.get("profile"):
        raise ValueError(f"{results}: profile {head.get('profile')}, not {out.stem}: it does not "
                         f"belong in {out}")
    if head["commit"] == "?" and commit:
        head["commit"] = commit
    if head["date"] == "?":
        head["date"] = datetime.date.today().isoformat()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        f.writelines(f"# {k}: {head.get(k, '?')}\n" for k in ("profile", "commit", "date"))
        df.reset_index().to_csv(f, index=False)
    return out


def side(r) -> str:
    """Where the claim's interval (its value when the claim is exact, n = 0) lies against the
    threshold: ``above``, ``below``, ``straddles``, or ``none`` (no threshold or no interval)."""
    if not math.isfinite(r.threshold):
        return "none"
    low, high = (r.value, r.value) if r.n == 0 else (r.low, r.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return "none"
    return "above" if low > r.threshold else "below" if high < r.threshold else "straddles"


def _fmt(v) -> str:
    return "" if pd.isna(v) else f"{v:.3g}"


def _state(r) -> str:
    interval = f" [{_fmt(r.low)}, {_fmt(r.high)}]" if pd.notna(r.low) else ""
    return f"{r.verdict} {_fmt(r.value)}{interval} n={int(r.n) if pd.notna(r.n) else ''}"


def differences(a: pd.DataFrame, b: pd.DataFrame, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """One row per claim that differs between tables ``a`` and ``b`` (indexed by figure_id):
    ``what`` lists how (verdict, side, threshold, n, value, only in one) and ``flip`` says
    whether its verdict changed. A value counts as moved beyond ``tolerance`` relative to the
    larger of the two."""
    rows = []
    for fid in list(a.index) + [f for f in b.index if f not in a.index]:
        if fid not in b.index or fid not in a.index:
            only = "a" if fid in a.index else "b"
            r = (a if only == "a" else b).loc[fid]
            rows.append({"figure_id": fid, "what": f"only in {only}", "flip": False,
                         "a": _state(r) if only == "a" else "", "b": _state(r) if only == "b" else ""})
            continue
        ra, rb = a.loc[fid], b.loc[fid]
        what = []
        if ra.verdict != rb.verdict:
            what.append("verdict")
        if side(ra) != side(rb):
            what.append(f"side ({side(ra)} -> {side(rb)})")
        if not _same(ra.threshold, rb.threshold, 0):
            what.append("threshold")
        if not _same(ra.n, rb.n, 0):
            what.append("n")
        if not _same(ra.value, rb.value, tolerance):
            what.append("value")
        if what:
            rows.append({"figure_id": fid, "what": ", ".join(what), "flip": ra.verdict != rb.verdict,
                         "a": _state(ra), "b": _state(rb)})
    return pd.DataFrame(rows, columns=["figure_id", "what", "flip", "a", "b"])


def _same(x, y, tolerance: float) -> bool:
    if pd.isna(x) or pd.isna(y):
        return pd.isna(x) and pd.isna(y)
    return abs(x - y) <= tolerance * max(abs(x), abs(y))


def compare_markdown(a: str | Path, b: str | Path, tolerance: float = TOLERANCE) -> tuple[str, int]:
    """(Markdown of the claims that differ between verdict tables ``a`` and ``b``, the number
    of verdicts that flipped)."""
    (ta, ha), (tb, hb) = read(a), read(b)
    diff = differences(ta, tb, tolerance)
    flips = int(diff["flip"].sum())
    head = lambda src, h: f"`{src}` (profile {h.get('profile', '?')}, commit `{h.get('commit', '?')}`, {h.get('date', '?')})"
    lines = [f"a: {head(a, ha)}", f"b: {head(b, hb)}", ""]
    if ha.get("profile") != hb.get("profile"):
        lines += ["Different profiles: verdicts need not agree.", ""]
    lines.append(f"{len(diff)} of {len(ta.index.union(tb.index))} claims differ, {flips} verdict(s) "
                 f"flipped (value tolerance {tolerance:.0%})")
    if len(diff):
        lines += ["", "| figure | differs in | a | b |", "|---|---|---|---|"]
        lines += [f"| {r.figure_id} | {r.what} | {r.a} | {r.b} |" for r in diff.itertuples()]
    return "\n".join(lines), flips
