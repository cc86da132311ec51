"""Command line: the thin layer the Snakemake rules call (``python -m nnrepro <command>``)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from hashlib import sha256
from pathlib import Path


def _setup(threads: int | None = None) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    if threads:
        import torch

        torch.set_num_threads(threads)


def cmd_prepare(a) -> None:
    from nnrepro import data

    try:
        data.fetch(a.dataset, Path(a.root) / "raw", a.mirror)
    except data.DataError as e:                  # one line naming the file or data set
        sys.exit(f"nnrepro prepare: {e}")
    data.preprocess(a.dataset, Path(a.root) / "raw", Path(a.out))


def exit_with_parent(pid: int, every_s: float = 2.0, stop_file: str | None = None) -> None:
    """End this process when ``pid`` (the Snakemake that started the job) is gone, or when
    ``stop_file`` appears (the workflow got SIGTERM or SIGINT): a killed or preempted workflow
    must not leave a trainer running. Checkpoints are atomic and written every epoch, so the
    run resumes from its last epoch."""
    import os
    import threading
    import time

    def watch():
        while True:
            time.sleep(every_s)
            if stop_file and os.path.exists(stop_file):
                logging.error("the workflow was asked to stop (%s): stopping this trainer; the "
                              "run resumes from its last checkpoint", Path(stop_file).read_text().strip())
                os._exit(143)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                logging.error("the workflow (PID %d) is gone: stopping this trainer", pid)
                os._exit(3)
            except PermissionError:
                pass                        # alive, owned by another user

    threading.Thread(target=watch, daemon=True).start()


def cmd_train(a) -> None:
    """Run the runs of the job's params file; a run already finished with the same settings
    (and code) is kept, so a job interrupted between runs picks up where it stopped (its
    finished runs' files are hard-linked beside their folders until the job ends: Snakemake
    deletes the folders). Runs with identical settings are trained once, the others get its
    tables (``runner.copy_run``). Two or more runs to train that can stack (``runner.can_stack``:
    family A's or J's jobs with ``max_stack`` > 1) train as one stack, checkpointed beside the marker;
    otherwise one after another."""
    import shutil

    from nnrepro import determinism

    determinism.environment()        # before anything creates a CUDA context (cuBLAS reads it then)
    from nnrepro import runner
    from nnrepro.config import read_job, settings_key
    from nnrepro.results import finished_copy, keep_finished, restore_finished, write_json

    if a.parent_pid:
        exit_with_parent(a.parent_pid, stop_file=a.stop_file)
    env = runner.Env(device=a.device, processed_dir=Path(a.processed_dir),
                     max_loss_ratio=a.max_loss_ratio)
    runs = read_job(a.job)
    folder = {run.id: Path(a.runs_dir) / run.id for run in runs}

    def done(run) -> bool:
        path = folder[run.id] / "run.json"
        return path.exists() and json.loads(path.read_text()).get("spec") == run.spec

    same: dict[str, list] = {}                         # identical settings: one training
    for run in runs:
        if restore_finished(folder[run.id]):
            logging.info("run %s: restored from the killed job that finished it", run.id)
        same.setdefault(settings_key(run), []).append(run)
    todo = [group[0] for group in same.values() if not any(done(r) for r in group)]
    for run in runs:
        if done(run):
            logging.info("run %s: already done with these settings", run.id)
    if len(todo) > 1 and runner.can_stack(todo):
        marker = Path(a.marker) if a.marker else None
        runner.run_stack(todo, [folder[r.id] for r in todo], env,
                         marker.with_name(marker.stem + ".checkpoint.pt") if marker else None)
        for run in todo:
            keep_finished(folder[run.id])
    else:
        for run in todo:
            runner.run_one(run, folder[run.id], env)
            keep_finished(folder[run.id])
    for group in same.values():                        # the others of each group: copies
        src = next(r for r in group if done(r))
        for run in group:
            if not done(run):
                runner.copy_run(folder[src.id], run, folder[run.id])
                keep_finished(folder[run.id])
    status = {run.id: json.loads((folder[run.id] / "run.json").read_text())["status"] for run in runs}
    if a.marker:
        Path(a.marker).parent.mkdir(parents=True, exist_ok=True)
        # each run.json's digest: a retrained run changes the marker's content, so Snakemake,
        # which compares the checksums of small inputs with those it recorded, redraws the figures
        write_json(Path(a.marker), {"family": runs[0].family if runs else None, "runs": status,
                                    "run_json": {r: sha256((Path(a.runs_dir) / r / "run.json").read_bytes()).hexdigest()
                                                 for r in status}})
    for run_id in status:                              # the job is done: Snakemake keeps its runs
        shutil.rmtree(finished_copy(Path(a.runs_dir) / run_id), ignore_errors=True)


def cmd_figures(a) -> None:
    from nnrepro.render import derived_tables, render
    from nnrepro.results import Results

    runs = [Path(m).parents[1] / run / "run.json" for m in a.jobs
            for run in json.loads(Path(m).read_text())["runs"]]
    results = Results(runs)
    claims = render(a.family, results, a.out_dir, a.profile)
    if a.tables_dir:
        results.export(a.tables_dir)
        for name, df in derived_tables(a.family, results).items():   # what the claims computed
            df.to_parquet(Path(a.tables_dir) / f"{name}.parquet", index=False)
    Path(a.claims).parent.mkdir(parents=True, exist_ok=True)
    claims.to_csv(a.claims, index=False)
    for _, c in claims.iterrows():
        logging.info("%s: %s (value %s, 95%% interval [%s, %s])", c["figure_id"], c["verdict"].upper(),
                     c["value"], c["low"], c["high"])


def cmd_report(a) -> None:
    from nnrepro.report import provenance, write_metrics, write_plots, write_report

    prov = provenance(Path(a.claims_out).parent, json.loads(a.config_json) if a.config_json else None,
                      a.config_file, Path(a.repo), a.jobs)
    df = write_report(a.claims, Path(a.claims_out), Path(a.report), Path(a.figures_dir), prov)
    results = Path(a.claims_out).parent
    write_metrics(df, results, results / "metrics.json")
    write_plots(results, results / "plots")


def cmd_validate(a) -> None:
    from nnrepro.config import load, validate

    try:
        cfg = load(a.config)                       # its errors name the file already
        validate(cfg, machine=True)              # data.mirror a directory too
    except ValueError as e:
        sys.exit(str(e) if str(e).startswith(str(a.config)) else f"{a.config}: {e}")
    print(f"{a.config}: valid")


def _config_of(a) -> str:
    """The config ``list``/``clean`` act on: the one given, else the one that made the results
    (``results/config.yaml``, written by the workflow), else the quick profile."""
    if a.config:
        return a.config
    used = Path(a.results) / "config.yaml"
    return str(used) if used.exists() else "config.yaml"


def cmd_list(a) -> None:
    from nnrepro.claims import VERDICTS
    from nnrepro.catalogue import FAMILIES
    from nnrepro.results import figure_status

    df = figure_status(a.results)
    png = f"png in {a.results}/figures"
    w, wp = df["figure_id"].str.len().max() + 2, len(png) + 2
    print(f"  {'figure':<{w}}{png:<{wp}}verdict")
    for letter, fam in FAMILIES.items():
        print(f"{letter}. {fam.title}")
        for r in df[df["family"] == letter].itertuples():
            print(f"  {r.figure_id:<{w}}{'yes' if r.present else '-':<{wp}}{r.verdict or '-'}")
    counts = df["verdict"].value_counts()
    print(f"{len(df)} figures: {int(df['present'].sum())} drawn in {a.results}/figures, "
          + ", ".join(f"{counts.get(v.upper(), 0)} {v.upper()}" for v in VERDICTS))
    a.config = _config_of(a)
    if Path(a.config).exists():
        from nnrepro.config import load, validate
        from nnrepro.results import stale

        n = len(stale(validate(load(a.config)), a.results))
        if n:
            print(f"{n} path(s) under {a.results} do not belong to {a.config} (other settings or "
                  f"families): `nnrepro clean --config {a.config} --dry-run` lists them")


def cmd_clean(a) -> None:
    """Remove what the config no longer makes (stale runs, figures, tables), keeping data/."""
    import shutil

    from nnrepro.config import load, validate
    from nnrepro.results import stale

    a.config = _config_of(a)
    try:
        config = validate(load(a.config))
    except ValueError as e:
        sys.exit(f"{a.config}: {e}")
    paths = stale(config, a.results)
    for p in paths:
        print(("would remove " if a.dry_run else "removing ") + str(p))
        if not a.dry_run:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    print(f"{len(paths)} stale path(s) under {a.results} for {a.config}"
          + (" (dry run: nothing removed)" if a.dry_run else ""))


def cmd_progress(a) -> None:
    """The last progress line of every training job's log (epoch, loss, time left)."""
    import re
    import time

    logs = sorted(Path(a.logs).glob("train/*/*.log"), key=lambda p: p.stat().st_mtime)
    if not logs:
        print(f"no training logs under {a.logs}/train yet")
    for log in logs:
        lines = [l for l in log.read_text(errors="replace").splitlines() if " INFO " in l]
        last = next((l for l in reversed(lines) if re.search(r" \d+/\d+ loss |: ok in |: diverged in ", l)),
                    lines[-1] if lines else "(empty)")
        age = time.time() - log.stat().st_mtime
        print(f"{log.parent.name}/{log.stem}  ({age:.0f} s ago)  {last.split(' INFO ', 1)[-1]}")


def cmd_verdicts(a) -> None:
    """The verdict table of a results folder as Markdown (the README's table is this output);
    --publish writes it as a published table, --compare lists what differs from another
    (exit 1 when a verdict flips)."""
    from nnrepro import verdicts
    from nnrepro.report import _git, verdict_table

    try:
        if a.publish:
            out = verdicts.publish(a.results, verdicts.published(a.publish), _git(Path(a.repo)))
            print(f"wrote {out}")
        elif a.compare:
            page, flips = verdicts.compare_markdown(a.results, verdicts.published(a.compare),
                                                   verdicts.TOLERANCE if a.tolerance is None else a.tolerance)
            print(page)
            if flips:
                sys.exit(1)
        else:
            print(verdict_table(Path(a.results)))
    except (OSError, ValueError) as e:
        sys.exit(f"nnrepro verdicts: {e}")


def cmd_catalogue(a) -> None:
    from nnrepro.catalogue import catalogue_markdown

    page, out = catalogue_markdown(), Path(a.out)
    if a.check:
        if not out.exists() or out.read_text() != page:
            sys.exit(f"{out} is out of date with src/nnrepro/catalogue.py: run `nnrepro catalogue`")
        print(f"{out}: up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    print(f"wrote {out}")


def cmd_docs(a) -> None:
    """Write the generated pages under docs/ (family pages, catalogue); --check writes nothing."""
    from nnrepro import docs

    if a.check:
        stale = docs.stale(a.out)
        if stale:
            sys.exit(f"out of date in {a.out}: {', '.join(stale)}: run `nnrepro docs`")
        print(f"{a.out}: up to date")
        return
    print(f"wrote {len(docs.write(a.out))} pages under {a.out}")


def main(argv: list[str] | None = None) -> None:
    from nnrepro import __version__

    p = argparse.ArgumentParser(prog="nnrepro", description=__doc__)
    p.add_argument("--version", action="version", version=f"nnrepro {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("prepare", help="fetch (download or mirror) and preprocess a data set")
    s.add_argument("--dataset", required=True)
    s.add_argument("--root", default="data")
    s.add_argument("--mirror", default=None)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_prepare)

    s = sub.add_parser("train", help="run grid points of a family, one after another")
    s.add_argument("--job", required=True, help="the job's params file (JSON: its family, code "
                   "version and runs, each with its sweep, grid point and settings; config.write_job)")
    s.add_argument("--runs-dir", required=True, help="the family's folder; each run gets <run id>/")
    s.add_argument("--marker", default=None, help="JSON written at the end: the runs and their status")
    s.add_argument("--processed-dir", default="data/processed")
    s.add_argument("--device", default="auto")
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--max-loss-ratio", type=float, default=None,
                   help="a loss above this multiple of the run's first loss: diverged")
    s.add_argument("--parent-pid", type=int, default=None,
                   help="stop when this process (the workflow) is gone")
    s.add_argument("--stop-file", default=None,
                   help="stop when this file appears (the workflow got SIGTERM or SIGINT)")
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("figures", help="draw a family's figures and evaluate its claims")
    s.add_argument("--family", required=True)
    s.add_argument("--profile", default="quick")
    s.add_argument("--out-dir", default="results/figures")
    s.add_argument("--claims", required=True)
    s.add_argument("--tables-dir", default=None, help="folder for the family's tables merged over runs")
    s.add_argument("jobs", nargs="+", help="the family's job markers (results/runs/<family>/jobs/*.json)")
    s.set_defaults(fn=cmd_figures)

    s = sub.add_parser("report", help="merge claims tables and write the reproduction report")
    s.add_argument("--claims-out", default="results/claims.csv")
    s.add_argument("--report", default="results/report.md")
    s.add_argument("--figures-dir", default="results/figures")
    s.add_argument("--config-json", default=None, help="the resolved config, for the provenance")
    s.add_argument("--config-file", default="config.yaml")
    s.add_argument("--jobs", nargs="*", default=[], help="the job markers of the runs reported")
    s.add_argument("--repo", default=str(Path(__file__).resolve().parents[2]),
                   help="the nnrepro checkout (git commit, default profile)")
    s.add_argument("claims", nargs="+")
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser("validate", help="check a config file against the schema")
    s.add_argument("config")
    s.set_defaults(fn=cmd_validate)

    s = sub.add_parser("list", help="every family and figure: figure present, verdict")
    s.add_argument("--results", default="results", help="the results folder to look in")
    s.add_argument("--config", default=None, help="the config the results should belong to "
                   "(default: the one that made them, results/config.yaml)")
    s.set_defaults(fn=cmd_list)

    s = sub.add_parser("clean", help="remove results the config no longer makes (data/ is kept)")
    s.add_argument("--config", default=None, help="default: the config that made the results "
                   "(results/config.yaml), else config.yaml")
    s.add_argument("--results", default="results")
    s.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    s.set_defaults(fn=cmd_clean)

    s = sub.add_parser("progress", help="where every training job is: its log's last epoch line "
                       "(epoch, loss, time left); `watch nnrepro progress` while a workflow runs")
    s.add_argument("--logs", default="logs")
    s.set_defaults(fn=cmd_progress)

    s = sub.add_parser("verdicts", help="print the claims of a results folder as a Markdown table, "
                       "with the run's profile, commit and date")
    s.add_argument("--results", default="results", help="a results folder, or a verdict table (CSV)")
    s.add_argument("--compare", default=None, metavar="OTHER", help="list the claims whose verdict, "
                   "interval's side of the threshold, n or value differ from OTHER: a results folder, "
                   "a verdict table, or `quick` / `mnist` (docs/verdicts/<name>.csv); exit 1 when a "
                   "verdict flips")
    s.add_argument("--tolerance", type=float, default=None,
                   help="with --compare: a value that moved by more than this (relative) is listed "
                        "(default: nnrepro.verdicts.TOLERANCE, 5 %%)")
    s.add_argument("--publish", default=None, metavar="FILE", help="write the results' verdict "
                   "table to FILE, or to docs/verdicts/<name>.csv for `quick` / `mnist`")
    s.add_argument("--repo", default=str(Path(__file__).resolve().parents[2]),
                   help="with --publish: the checkout whose commit heads it where the results do not say")
    s.set_defaults(fn=cmd_verdicts)

    s = sub.add_parser("catalogue", help="write the figure catalogue page from the catalogue")
    s.add_argument("--out", default="docs/catalogue.md")
    s.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the page differs from the catalogue")
    s.set_defaults(fn=cmd_catalogue)

    s = sub.add_parser("docs", help="write docs/families/<X>.md and docs/catalogue.md from the "
                       "catalogue, the modules' docstrings, config.yaml and the schema")
    s.add_argument("--out", default="docs")
    s.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if a generated page differs")
    s.set_defaults(fn=cmd_docs)

    a = p.parse_args(argv)
    _setup(getattr(a, "threads", None))
    a.fn(a)


if __name__ == "__main__":
    main()
