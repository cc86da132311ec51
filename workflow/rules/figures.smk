for _family in FAMILIES:

    rule:
        """Draw one family's figures from its runs' tables and evaluate their claims."""
        name:
            f"figures_{_family}"
        input:
            markers=job_markers(_family),
            # the run folders these figures read (only their existence counts: the markers
            # carry each job's changes); rule all lists them too, so a deleted one is rebuilt
            runs=[ancient(r) for r in run_folders(_family)],
        output:
            figures=[
                report(f"results/figures/{fid}.png", caption="../report/figure.rst", category=_family)
                for fid in FIGURES[_family]
            ],
            claims=f"results/claims/{_family}.csv",
            tables=directory(f"results/tables/{_family}"),
        params:
            family=_family,
            profile=config["profile"],
            code=FIGURE_CODE[_family],  # a change to the figure code redraws
        log:
            f"logs/figures_{_family}.log",
        benchmark:
            f"results/benchmarks/figures_{_family}.tsv"
        threads: 1
        resources:
            mem_mb=RES["figures"]["mem_mb"],
            runtime=RES["figures"]["runtime"],
            gpu=0,
        shell:
            "python -m nnrepro figures --family {params.family} --profile {params.profile} "
            "--out-dir results/figures --tables-dir {output.tables} --claims {output.claims} "
            "{input.markers:q} 2> {log:q}"
