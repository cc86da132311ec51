"""Render a family's figures: one function per catalogue id, registered with ``@figure("<id>")``.

A figure function takes the family's ``Results`` and returns ``(matplotlib Figure, Claim)``;
``render`` saves ``results/figures/<id>.png`` and collects the claims. Each family's figure
functions live in ``nnrepro/families/<x>/figures.py``; there, too, ``@tables(family)``
registers the tables its claims compute and ``@plot(name, columns)`` the curves it gives
`dvc plots`. What several families share is in ``nnrepro/plotting.py``.
"""
from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path

import numpy as np
import pandas as pd

from nnrepro import families
from nnrepro.claims import COLUMNS, Claim, why_inconclusive
from nnrepro.catalogue import FIGURE_INFO, FIGURES
from nnrepro.plotting import REGISTRY, TABLES, apply_style, stamp_claim
from nnrepro.results import NoData, Results

log = logging.getLogger("nnrepro")


def figures_module(family: str):
    """``nnrepro.families.<x>.figures``: importing it registers the family's figure functions.
    Only the family asked for is imported: a broken K leaves A's figures alone."""
    return families.module(family, "figures")


def derived_tables(family: str, results: Results) -> dict[str, pd.DataFrame]:
    """The tables registered with ``@tables(family)``; none for most families."""
    figures_module(family)
    return TABLES[family](results) if family in TABLES else {}


def beside_document(claim: Claim, results: Results, profile: str) -> Claim:
    """The source's number for this figure, and whether our runs can test it: only on the same
    data set at paper scale (a digits run cannot test a CIFAR-10 number)."""
    doc = FIGURE_INFO[claim.figure_id]
    if not doc.document:
        return claim
    ours = sorted({r["spec"].get("dataset", "synthetic") for r in results.runs})
    if not doc.document_data:
        comparable = "yes: synthetic problem, any scale"
    elif ours == [doc.document_data] and profile.startswith("paper"):
        comparable = f"yes: {doc.document_data} at paper scale"
    else:
        comparable = f"no: ours {'/'.join(ours)} at {profile} scale, the source's {doc.document_data}"
    return dataclasses.replace(claim, document=doc.document, comparable=comparable)


def no_data(fig_id: str, why: str, results: Results):
    """A figure whose data is absent: an explicit "no data" panel and an inconclusive claim
    saying why, so the other figures, claims.csv and the report still complete."""
    import matplotlib.pyplot as plt

    statuses = pd.Series([r.get("status", "?") for r in results.runs]).value_counts().to_dict()
    runs = ", ".join(f"{n} {s}" for s, n in statuses.items()) or "no runs"
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.axis("off")
    ax.text(0.5, 0.5, f"no data: {why}\n(runs: {runs})", ha="center", va="center", wrap=True,
            fontsize=10, transform=ax.transAxes)
    claim = Claim(fig_id, "not tested: no data", float("nan"), float("nan"), None,
                  note=f"no data ({runs})", verdict="inconclusive",
                  finding=f"no data: {why} (runs: {runs}); the claim is not tested")
    return fig, claim


def with_catalogue_words(claim: Claim) -> Claim:
    """The claim with the catalogue's wording of what the source claims and, where the catalogue
    says it, of how we test it; a figure that compares with another threshold than the
    catalogue's is a bug (the words and the number must not drift apart)."""
    info = FIGURE_INFO[claim.figure_id]
    if info.threshold is not None and not claim.threshold == info.threshold:
        raise ValueError(f"{claim.figure_id}: the claim compares with {claim.threshold}, "
                         f"the catalogue says {info.threshold}")
    return dataclasses.replace(claim, claim=info.claim, test=info.test or claim.test)


def render(family: str, results: Results, out_dir: str | Path, profile: str) -> pd.DataFrame:
    """Draw every figure of a family; return its claims as a table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures_module(family)  # registers the family's figure functions
    apply_style()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for fig_id in FIGURES[family]:
        np.random.seed(0)            # random visuals (seaborn's strip-plot jitter) are byte-stable
        random.seed(0)
        try:
            fig, claim = REGISTRY[fig_id](results)
        except NoData as e:         # absent data (a part not configured, every run diverged);
            log.warning("%s: no figure drawn: %s", fig_id, e)  # any other error is a bug: raised
            fig, claim = no_data(fig_id, str(e), results)   # not tested: no threshold, its own test words
            claim = dataclasses.replace(claim, claim=FIGURE_INFO[fig_id].claim)
        else:
            assert isinstance(claim, Claim) and claim.figure_id == fig_id, fig_id
            claim = with_catalogue_words(claim)
        claim = beside_document(claim, results, profile)
        if why := why_inconclusive(claim):
            claim = dataclasses.replace(claim, finding="; ".join(p for p in (claim.finding, why) if p))
        stamp_claim(fig, claim, profile)
        fig.savefig(out_dir / f"{fig_id}.png", dpi=110)
        plt.close(fig)
        rows.append(claim.row(profile))
    return pd.DataFrame(rows, columns=COLUMNS + ["note", "finding"])
