for _family in FAMILIES:

    rule:
        """Draw one family's figures from its runs' tables and evaluate their claims."""
        name:
            f"figures_{_family}"
        input:
            job_markers(_family),
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
            "{input:q} 2> {log:q}"
