rule train:
    """One grid point of a family: train / sample / compute, save tidy tables and run.json."""
    input:
        run_data,
    output:
        "results/runs/{family}/{run}/run.json",
    params:
        spec=lambda w: json.dumps(RUNS[w.family][w.run], sort_keys=True),
        processed=f"{DATA}/processed",
        device=config["device"],
    log:
        "logs/train/{family}/{run}.log",
    threads: res("train", "threads", 1)
    resources:
        mem_mb=res("train", "mem_mb", 4000),
        runtime=res("train", "runtime", 60),
        gpu=res("train", "gpu", 0),
    shell:
        "python -m nnrepro train --family {wildcards.family} --run {wildcards.run:q} "
        "--spec {params.spec:q} --out results/runs/{wildcards.family}/{wildcards.run:q} "
        "--processed-dir {params.processed} --device {params.device} --threads {threads} 2> {log}"
