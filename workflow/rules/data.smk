rule prepare_data:
    """Download (or copy from the verified local mirror) and preprocess one data set."""
    output:
        f"{DATA}/processed/{{dataset}}.pt",
    params:
        root=lambda w, output: Path(output[0]).parents[1],  # <root>/processed/<dataset>.pt
        mirror=f"--mirror {config['data']['mirror']}" if config["data"].get("mirror") else "",
    log:
        "logs/prepare_{dataset}.log",
    threads: 1
    resources:
        mem_mb=res("prepare_data", "mem_mb", 8000),
        runtime=res("prepare_data", "runtime", 60),
        gpu=0,
    shell:
        "python -m nnrepro prepare --dataset {wildcards.dataset} --root {params.root} "
        "{params.mirror} --out {output} 2> {log}"


rule data:
    """All processed data sets the configured families use (the DVC `data` stage runs this)."""
    input:
        expand(f"{DATA}/processed/{{dataset}}.pt", dataset=DATASETS),
