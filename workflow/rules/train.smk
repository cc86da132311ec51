rule train:
    """Runs of a family (one grid point each): train / sample / compute, save tidy tables and
    each run's run.json; the job's marker lists its runs and their status."""
    input:
        job_data,
    output:
        "results/runs/{family}/jobs/{job}.json",
    params:
        specs=job_specs,
        processed=f"{DATA}/processed",
        device=config["device"],
    log:
        "logs/train/{family}/{job}.log",
    benchmark:
        "results/benchmarks/train/{family}/{job}.tsv"
    threads: res("train", "threads", 1)
    resources:
        mem_mb=res("train", "mem_mb", 4000),
        runtime=res("train", "runtime", 60),
        gpu=res("train", "gpu", 0),
    shell:
        "python -m nnrepro train --family {wildcards.family} --specs {params.specs:q} "
        "--runs-dir results/runs/{wildcards.family} --marker {output:q} "
        "--processed-dir {params.processed} --device {params.device} --threads {threads} 2> {log}"
