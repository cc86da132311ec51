# One rule per training job: a job trains its runs one after another (see nnrepro.config.jobs)
# and declares each run's folder, so Snakemake can rebuild or delete exactly those runs.
for _family in FAMILIES:
    for _job, _runs in JOBS[_family].items():

        rule:
            """Runs of a family (one grid point each): train / sample / compute, save tidy tables
            and each run's run.json; the job's marker lists its runs and their status."""
            name:
                f"train_{_family}_{_job}".replace("-", "_")
            input:
                job_data(_family, _runs),
            output:
                marker=f"results/runs/{_family}/jobs/{_job}.json",
                runs=[directory(f"results/runs/{_family}/{r}") for r in _runs],
            params:
                job=job_params(_family, _job),  # settings and code: a change reruns this job
                job_file=job_file(_family, _job),  # the same, in the file the trainer reads
                family=_family,
                processed=lambda w, input: Path(input[0]).parent if input else f"{DATA}/processed",
                device=config["device"],
                max_loss_ratio=config["max_loss_ratio"],
            log:
                f"logs/train/{_family}/{_job}.log",
            benchmark:
                f"results/benchmarks/train/{_family}/{_job}.tsv"
            threads: train_resources(_family)["threads"]
            resources:
                mem_mb=train_resources(_family)["mem_mb"],
                runtime=train_resources(_family)["runtime"],
                gpu=train_resources(_family)["gpu"],
            shell:
                "python -m nnrepro train --job {params.job_file:q} "
                "--runs-dir results/runs/{params.family} --marker {output.marker:q} "
                "--processed-dir {params.processed:q} --device {params.device} --threads {threads} "
                "--max-loss-ratio {params.max_loss_ratio} --parent-pid $PPID "
                f"--stop-file {WORKFLOW_LOCK.stop_file} 2> {{log:q}}"  # $PPID: the Snakemake that runs this job
