rule report:
    """claims.csv (one row per figure) and the reproduction report beside the figures."""
    input:
        expand("results/claims/{family}.csv", family=FAMILIES),
        all_figures(),
    output:
        claims="results/claims.csv",
        md="results/report.md",
        html=report("results/report.html", caption="../report/report.rst", category="Report"),
    log:
        "logs/report.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    shell:
        "python -m nnrepro report --claims-out {output.claims} --report {output.md} "
        "--figures-dir results/figures "
        + " ".join(f"results/claims/{f}.csv" for f in FAMILIES)
        + " 2> {log}"
