# nnrepro: recreate the figures of five documents on optimization and Bayesian sampling of deep
# networks. Data -> training runs (one job per grid point) -> figures and claims per family ->
# claims table and report. All logic lives in src/nnrepro; the rules only wire files to it.
from snakemake.utils import min_version, validate

min_version("9.0")


# config.yaml is the quick profile; a --configfile given on the command line replaces it whole
# (no silent merging of two profiles' settings).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/claims.csv",
        "results/report.md",
        "results/report.html",
        all_figures(),
    default_target: True
