rule report:
    """claims.csv (one row per figure) and the reproduction report beside the figures."""
    input:
        claims=expand("results/claims/{family}.csv", family=FAMILIES),
        figures=all_figures(),
        jobs=[m for f in FAMILIES for m in job_markers(f)],
    output:
        claims="results/claims.csv",
        md="results/report.md",
        html=report("results/report.html", caption="../report/report.rst", category="Report"),
        metrics="results/metrics.json",       # the verdict counts (dvc.yaml's one metric)
        claims_json="results/claims.json",    # every claim's numbers, the ensemble tables
        provenance="results/provenance.json",
        timings="results/timings.json",       # date and job times (no DVC output: they change)
        plots=directory("results/plots"),
    params:
        config=json.dumps(config, sort_keys=True),
        config_file=" + ".join(CONFIG_FILES),
        repo=os.path.relpath(workflow.basedir),  # relative: a clone elsewhere has the same params
        code=code_version("report"),
    log:
        "logs/report.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    shell:
        "python -m nnrepro report --claims-out {output.claims} --report {output.md} "
        "--figures-dir results/figures --config-json {params.config:q} "
        "--config-file {params.config_file:q} --repo {params.repo:q} --jobs {input.jobs:q} "
        "-- {input.claims:q} 2> {log:q}"
