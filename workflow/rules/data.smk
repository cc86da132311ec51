rule prepare_data:
    """Download (or copy from the verified local mirror) and preprocess one data set."""
    output:
        f"{DATA}/processed/{{dataset}}.pt",
    params:
        root=lambda w, output: Path(output[0]).parents[1],  # <root>/processed/<dataset>.pt
        mirror=f"--mirror '{config['data']['mirror']}'" if config["data"]["mirror"] else "",
        code=code_version("data"),  # a change to the preprocessing remakes the data
    log:
        "logs/prepare_{dataset}.log",
    threads: 1
    resources:
        mem_mb=RES["prepare_data"]["mem_mb"],
        runtime=RES["prepare_data"]["runtime"],
        gpu=0,
    shell:
        "python -m nnrepro prepare --dataset {wildcards.dataset} --root {params.root:q} "
        "{params.mirror} --out {output:q} 2> {log:q}"


rule data:
    """All processed data sets the configured families use (the DVC `data` stage runs this)."""
    input:
        expand(f"{DATA}/processed/{{dataset}}.pt", dataset=DATASETS),
