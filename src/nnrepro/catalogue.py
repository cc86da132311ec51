"""The figure catalogue (shared/FIGURES.md) as plain data.

Kept free of heavy imports: the Snakefile reads it to know which files each family produces.
"""

# family -> figure ids, in catalogue order
FIGURES: dict[str, list[str]] = {
    "A": ["A-norm-burst", "A-norm-vs-T", "A-dnorm-thetar", "A-momentum-energy", "A-gamma",
          "A-gamma-alpha"],
    "B": ["B-train-loss", "B-swa", "B-swag-ci", "B-swa-plane", "B-flatness"],
    "C": ["C-explode-vanish", "C-fixes", "C-init-variance", "C-tanh-regime"],
    "D": ["D-trajectories", "D-adagrad-decay", "D-reparam", "D-pnorm-steps", "D-trust-region",
          "D-lr-schedule", "D-adam-counterexample", "D-saddle-escape", "D-saddle-surface"],
    "E": ["E-min-norm", "E-ridge", "E-perturb", "E-deep-hessian", "E-exp-direction",
          "E-reg-norm-es", "E-homogeneity"],
    "F": ["F-mc-regression", "F-mc-vs-scaling", "F-ae-features"],
    "G": ["G-index-energy", "G-width-error", "G-loss-histogram", "G-permutation",
          "G-mode-connectivity"],
    "H": ["H-bn-lr", "H-activations", "H-noisy-activations", "H-noisy-accuracy"],
    "I": ["I-rescaling"],
    "J": ["J-lottery"],
    "K": ["K-ntk"],
    "L": ["L-ensembles"],
}

TITLES: dict[str, str] = {
    "A": "SGHMC and the weight-norm burst",
    "B": "CIFAR-10 MLP: Adam from scratch, SWA, SWAG",
    "C": "Gradient flow and initialization",
    "D": "Optimizer geometry",
    "E": "Implicit bias and dynamical systems",
    "F": "Dropout",
    "G": "Loss landscape",
    "H": "Batch normalization",
    "I": "Reparameterization and Path-SGD",
    "J": "Lottery tickets",
    "K": "Kernels",
    "L": "Ensemble evaluation",
}

# families whose experiments and figures are implemented in this package
IMPLEMENTED: list[str] = ["A", "B", "D", "E"]


def figure_ids(family: str) -> list[str]:
    return FIGURES[family]
