"""The catalogue: the one list of figure families (shared/FIGURES.md) as plain data.

A *family* is one experiment: one sweep of runs whose tidy results feed several figures. Each
figure has an id ``<family>-<name>``, what it shows, and one claim: a numeric check that the
pipeline evaluates on its own results. ``docs/catalogue.md`` is written from this file by
``nnrepro catalogue``.

Data only, on the ground floor: it imports nothing from nnrepro, so every module may import it
and none of its families can break another's jobs. Everything else that needs the set of
families reads it here: the config schema's ``run`` and ``families`` keys, the dispatch to a
family's folder ``nnrepro/families/<x>/`` (``nnrepro.families``), the training rules' GPU
requests, the docs and the tests. Free of heavy imports (the Snakefile imports it to build the
DAG).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    id: str
    shows: str
    claim: str                # what the source claims, in its words
    document: str = ""        # a number the source (or the paper it cites) gives for this figure
    document_data: str = ""   # the data set that number was obtained on ("" : any, synthetic)
    test: str = ""            # how our figure code tests the claim: statistic, units, threshold
    threshold: float | None = None   # what the statistic is compared with (None: no claim)
    units: str = ""           # the claim's independent units (seeds, nets, images...)


@dataclass(frozen=True)
class Family:
    letter: str
    title: str
    source: str                 # the seed document(s) in shared/seeds/
    figures: tuple[Figure, ...]
    gpu: bool = True            # its training jobs ask for a GPU (`resources.families.<X>.gpu`
                                # sets how many); False: analytic or tiny problems, CPU only


_FAMILIES = (
    Family("A", "SGHMC and the weight-norm burst",
           "seed 000 (000_53579571c08593e0.txt)", (
        Figure("A-norm-burst",
               "‖θ‖₂ over training at T=1 with test accuracy and NLL on twin axes",
               "norm grows by a large factor while test accuracy stays near its best",
               test="final/initial ‖θ‖₂ at the hottest T with an ok run > 3 while the ensemble's "
                    "final test accuracy stays within 3 points of its best (per seed)",
               threshold=3.0, units="seeds"),
        Figure("A-norm-vs-T",
               "final ‖θ‖₂ against T (log axis); test NLL against final ‖θ‖₂, one point per run; "
               "the Rademacher bound proxy (product of layer norms × max‖x‖/√n) against T",
               "final norm decreases as T → 0 (Spearman ρ > 0.8 between T and norm)",
               test="mean over seeds of Spearman ρ(T, final ‖θ‖₂) > 0.8 (one ρ per seed over at "
                    "least 3 temperatures; 95 % bootstrap interval over seeds)",
               threshold=0.8, units="seeds"),
        Figure("A-dnorm-thetar",
               "d/dt‖θ‖² (finite difference) and 2M⁻¹θᵀr overlaid over iterations",
               "the two agree: Pearson r > 0.9",
               test="consistency check of the integrator, not an empirical finding: mean over "
                    "runs of Pearson r(finite-difference d‖θ‖²/dt, 2γM⁻¹θᵀr) > 0.9 (Fisher-z "
                    "interval over the independently trained runs); the discretized update makes "
                    "the two equal up to O(ε²‖r‖²)",
               threshold=0.9, units="runs"),
        Figure("A-momentum-energy",
               "‖r‖² and θᵀr over iterations, one line per T",
               "colder T gives smaller mean ‖r‖² (monotone in T)",
               test="mean ‖r‖² (second half of each run) is monotone in T: Spearman ρ(T, mean "
                    "‖r‖²) = 1 for every seed (bootstrap interval over seeds of the mean ρ)",
               threshold=1.0, units="seeds"),
        Figure("A-gamma",
               "‖θ‖₂ traces for each γ, with and without momentum resampling",
               "lower γ gives lower final norm",
               test="lower γ gives lower final ‖θ‖₂: Spearman ρ(γ, final ‖θ‖₂) > 0.8 with and "
                    "without resampling (per seed, the smaller ρ of the two modes; bootstrap "
                    "interval over seeds)",
               threshold=0.8, units="seeds"),
        Figure("A-gamma-alpha",
               "γ × α grid: final norm, test accuracy, ensemble NLL (heatmaps)",
               "at low γ, higher α restores mixing: larger distance travelled between collected "
               "samples and better ensemble NLL than α=1",
               test="fraction of (γ ≤ 0.01, α > 1) cells with larger distance between collected "
                    "samples AND lower ensemble NLL than α = 1 at the same γ (per seed; bootstrap "
                    "interval over seeds); must be 1",
               threshold=1.0, units="seeds"),
    )),
    Family("B", "CIFAR-10 MLP: Adam from scratch, SWA, SWAG",
           "seed 001 (001_a601dbe08ea9d51e.txt)", (
        Figure("B-train-loss",
               "in-sample training loss along iterations, α = 0.001",
               "loss decreases (last-10% mean < first-10% mean / 2)",
               test="mean loss of the last 10% of steps / mean of the first 10% < 1/2 (per seed)",
               threshold=0.5, units="seeds"),
        Figure("B-swa",
               "test error over epochs of the base run and of the SWA average",
               "SWA test error ≤ base test error at the end (paper scale reference: 49.84 % for "
               "SWA)",
               "49.84 % SWA test error (seed 001, CIFAR-10 MLP)", "cifar10",
               test="final SWA test error − final base test error ≤ 0 (percentage points, per "
                    "seed)",
               threshold=0.0, units="seeds"),
        Figure("B-swag-ci",
               "SWAG confidence intervals: per-class predicted probability (mean and 95 % interval "
               "over samples) for a few test images; test accuracy interval",
               "intervals are wider on misclassified images than on correct ones",
               test="mean 95%-interval width on misclassified / on correct test images > 1 (per "
                    "seed)",
               threshold=1.0, units="seeds"),
        Figure("B-swa-plane",
               "test error surface in the plane of three SWA iterates, SWA average and iterates "
               "marked",
               "the SWA point has lower test error than the mean of the iterates it averages",
               test="test error of the average of the three plotted iterates − mean test error of "
                    "the three < 0 (percentage points, per seed)",
               threshold=0.0, units="seeds"),
        Figure("B-flatness",
               "test loss along random directions through the base and the SWA solutions",
               "SWA is flatter: smaller loss rise at the same distance",
               test="test-loss rise at the largest |t| (filter-normalized): SWA / base < 1 (per "
                    "seed)",
               threshold=1.0, units="seeds"),
    )),
    Family("C", "Gradient flow and initialization",
           "seeds 001 (001_a601dbe08ea9d51e.txt), 004 (004_ddb182e3f50ea0b5.txt) §6.5", (
        Figure("C-explode-vanish",
               "per-layer gradient norm (log) against depth at init for a gain > 1 and < 1, with "
               "the geometric lines 1.5^d, 0.8^d",
               "slope of log-norm against depth matches the sign of log(gain)",
               test="largest relative error |slope − log g| / |log g| of the fitted slope of "
                    "log‖∂ℓ/∂y_t‖ against k over gains and depths < 0.1 (so the slope has the sign "
                    "of log g; per initialization)",
               threshold=0.1, units="inits"),
        Figure("C-fixes",
               "the same with Xavier init, with BN; training loss with and without clipping in the "
               "exploding case",
               "Xavier/BN keep per-layer norms within 10× across depth; clipping trains to a "
               "loss well below chance (ln 10) where plain SGD diverges",
               test="Xavier and BN keep per-layer gradient norms within 10× across depth (value: "
                    "largest max/min), and clipped SGD trains to a loss well below chance (< ln 10 "
                    "/ 2) where plain SGD diverges (in most seeds)",
               threshold=10.0, units="inits (spread); seeds (clipping)"),
        Figure("C-init-variance",
               "activation and back-propagated gradient variance per layer, tanh net, naive vs "
               "LeCun vs Xavier",
               "LeCun keeps forward variance ~constant, Xavier balances forward and backward",
               test="max(LeCun's max/min forward variance over hidden layers / 10, Xavier's larger "
                    "mean |log variance ratio| (forward, backward) / LeCun's backward one) < 1 "
                    "(per initialization); ~constant is read as no exponential change over depth "
                    "(within 10×), not the source's variance 1 at every layer, which assumes tanh "
                    "linear and so is not tested",
               threshold=1.0, units="inits"),
        Figure("C-tanh-regime",
               "tanh, its derivative and the linear regime",
               "reference curve (no claim)"),
    ), gpu=False),
    Family("D", "Optimizer geometry",
           "seeds 001, 002, 003, 004", (
        Figure("D-trajectories",
               "contours of an ill-conditioned quadratic and of Rosenbrock with GD, momentum, "
               "Adagrad, RMSprop, Adam trajectories",
               "adaptive methods oscillate less across the steep direction than GD at the same lr",
               test="on ½(x² + κy²) at the same lr, the largest oscillation across the steep "
                    "direction of Adagrad/RMSprop/Adam (total variation of y minus |net change|) "
                    "is < 0.5 × GD's",
               threshold=0.5, units="exact (no units)"),
        Figure("D-adagrad-decay",
               "effective per-coordinate step of Adagrad vs RMSprop over time",
               "Adagrad's step → 0, RMSprop's stays bounded away from 0",
               test="log-log slope of Adagrad's effective step over the last half of steps (max "
                    "over coordinates) < −0.4, i.e. → 0 like t^(−1/2); and RMSprop's slope (min) > "
                    "−0.1, bounded",
               threshold=-0.4, units="exact (no units)"),
        Figure("D-reparam",
               "GD on f(x) and on g(y) = f(y/2), mapped back to x",
               "the y-run equals GD on f with lr/4",
               test="max over steps |x from GD on g(y)=f(y/2) − x from GD on f with lr/4| (and, in "
                    "2-D, GD on f(Ay) vs the step −αAAᵀ∇f) < 1e-10 in float64",
               threshold=1e-10, units="exact (no units)"),
        Figure("D-pnorm-steps",
               "steepest-descent steps for p-norms (p → 1, 2, large) and a Mahalanobis metric on a "
               "2-D quadratic",
               "step formula Δxᵢ = −α sign(Jᵢ)|Jᵢ|^{1/(p−1)} checked against a numeric argmin",
               test="max relative error, over p ∈ {1.1, 1.5, 2, 3, 10} (proximal and trust-region "
                    "forms) and the Mahalanobis step, between Δᵢ ∝ −sign(Jᵢ)|Jᵢ|^{1/(p−1)} (resp. "
                    "−αM⁻¹J) and scipy's numeric argmin < 1e-6",
               threshold=1e-06, units="exact (no units)"),
        Figure("D-trust-region",
               "GD vs normalized (trust-region) steps on a convex bowl and on a plateau-plus-cliff "
               "function",
               "normalized steps cross the plateau in fewer steps",
               test="on the plateau-plus-cliff function, steps for normalized steps Δ = −ε∇f/‖∇f‖ "
                    "to cross the cliff (x > 0) < GD's steps",
               units="exact (no units)"),   # no fixed threshold: it is GD's own crossing step
        Figure("D-lr-schedule",
               "ẋ + γ(t)(x + u(t)) = 0 with noise u for γ constant, 1/t, 1/t²",
               "only γ = 1/t both converges and suppresses noise",
               test="error at T, max(|mean x(T)|/x(1), std x(T)/σ) over paths, is < 0.1 for γ = "
                    "1/t (converges and suppresses noise) and ≥ 0.1 for every other schedule",
               threshold=0.1, units="exact (no units)"),
        Figure("D-adam-counterexample",
               "Adam vs AMSGrad on the Reddi–Kale–Kumar online convex problem",
               "Adam ends near the wrong point, AMSGrad near the optimum",
               test="mean x over the last 101-step cycle: Adam within 0.1 of the wrong end +1 and "
                    "AMSGrad within 0.1 of the optimum −1 (value: the larger of the two distances)",
               threshold=0.1, units="exact (no units)"),
        Figure("D-saddle-escape",
               "GD vs noisy SGD from a saddle of ½xᵀAx with a negative eigenvalue",
               "GD started on the stable manifold stays; SGD escapes (loss below the saddle value)",
               test="fraction of SGD paths that end with f < −1, i.e. escaped below the saddle "
                    "value 0, ≥ 0.95; and GD keeps y ≡ 0, f ≥ 0 and ends within 1e-3 of the saddle",
               threshold=0.95, units="exact (no units)"),
        Figure("D-saddle-surface",
               "the surface x² − y² and 1-D stationary points",
               "reference surface (no claim)"),
    ), gpu=False),
    Family("E", "Implicit bias and dynamical systems",
           "seed 002 (002_1ddb900bea60f740.txt)", (
        Figure("E-min-norm",
               "overparameterized least squares (N < d): ‖W_t − YX⁺‖ over t for init scales 0 … 1",
               "zero init reaches the pseudoinverse solution (< 1e-6); otherwise the gap equals "
               "the init's null-space part",
               test="max over init scales of ‖W_T − (Y X⁺ + W⁰P_null)‖ < 1e-6 (zero init ends at Y "
                    "X⁺; otherwise the gap is the init's null-space part)",
               threshold=1e-06, units="exact (no units)"),
        Figure("E-ridge",
               "ridge solution Y Xᵀ(XXᵀ+λI)⁻¹ against λ, and Hessian eigenvalues at the minimum "
               "for λ = 0 and λ > 0",
               "λ → 0 gives the pseudoinverse; λ = 0 has zero eigenvalues, λ > 0 none below λ",
               test="worst of: relative ‖W_λ − YX⁺‖ at the smallest λ; |#{|μ| < 1e-9} at λ = 0 − "
                    "outputs·(d − N)|; max over λ > 0 of (λ − μ_min)/λ; < 1e-6",
               threshold=1e-06, units="exact (no units)"),
        Figure("E-perturb",
               "GD perturbed midway, with and without weight decay",
               "with decay the end point returns (hyperbolic); without it moves (degenerate)",
               test="worst of: end-point shift with decay; |shift − ‖δP_null‖| without decay; < "
                    "1e-6",
               threshold=1e-06, units="exact (no units)"),
        Figure("E-deep-hessian",
               "Hessian spectrum of a small overparameterized MLP at a square-loss minimum, λ = 0 "
               "vs λ > 0",
               "many ~0 eigenvalues at λ = 0; shifted positive with λ",
               test="min eigenvalue at λ > 0 / (P − N)-th smallest |μ| at λ = 0 > 1e3 (P − N "
                    "eigenvalues ~0 at λ = 0; all positive with λ)",
               threshold=1000.0, units="exact (no units)"),
        Figure("E-exp-direction",
               "linear classifier on separable data, GD on exponential and logistic loss: ‖w(t)‖ "
               "against log t, angle to the hard-margin SVM against t, several inits",
               "norm grows like log t; angle → 0, same direction from every init",
               test="max over inits and losses of ‖w(T) − ŵ log T − w̃‖ / ‖w(T)‖ < 0.01 (Soudry's "
                    "asymptote: ‖w‖ ~ ‖ŵ‖ log t, angle = O(1/log t))",
               threshold=0.01, units="exact (no units)"),
        Figure("E-reg-norm-es",
               "the angle to the SVM for regularized GD (λ → 0), normalized GD and early-stopped "
               "GD",
               "regularized and early-stopped approach the SVM direction",
               test="regularized (smallest λ) and early-stopped (last T) GD lie on GD's SVM "
                    "asymptote ŵ s + w̃: max distance / ‖w‖ < 0.01",
               threshold=0.01, units="exact (no units)"),
        Figure("E-homogeneity",
               "ReLU net: Σ W ∂f/∂W against K·f for depth K",
               "equal to numerical precision",
               test="max |Σ W ∂f/∂W − K f| / max |K f| < 1e-12 (float64 precision)",
               threshold=1e-12, units="exact (no units)"),
    ), gpu=False),
    Family("F", "Dropout",
           "seed 003 (003_b77660be62ccec55.txt)", (
        Figure("F-mc-regression",
               "1-D regression: true function, data, MC-dropout ensemble mean and the scatter of "
               "its members, the weight-scaling prediction",
               "the ensemble spread is larger away from the data than on it, judged separately "
               "in the gap between the data intervals and outside the data (extrapolation)",
               test="mean MC std ≥ 1 from the data / on the data (≤ 0.1) > 2 in the gap between "
                    "the data intervals AND outside the data (per net; value: the gap's; the finding "
                    "and the figure give each part with its own interval and verdict)",
               threshold=2.0, units="nets"),
        Figure("F-mc-vs-scaling",
               "test NLL and accuracy of weight scaling vs MC averaging of M samples (M = 1 … "
               "100), Bernoulli and Gaussian dropout",
               "MC with large M (≈ 50) matches or beats weight scaling in test classification "
               "error (Srivastava et al.'s metric; NLL reported beside); units are independently "
               "trained nets",
               "MC averaging matches weight scaling at about M = 50 samples (Srivastava et al. "
               "2014, MNIST)", "mnist",
               test="worst over kinds of test error(MC, M masks) / error(weight scaling) − 1 < 0.1 "
                    "(matches within 10 % or beats; per independently trained net; M = 50, or the "
                    "largest M run if fewer: see the note); the finding says the sign, MC "
                    "significantly worse or better than weight scaling (interval vs 0), per kind too",
               threshold=0.1, units="nets"),
        Figure("F-ae-features",
               "autoencoder, one hidden layer of 256 units: encoder filters as images without "
               "dropout and with p = 0.5 (paper: MNIST; quick: digits)",
               "visual (no claim); report mean filter sparsity for both"),
    )),
    Family("G", "Loss landscape",
           "seeds 003 (003_b77660be62ccec55.txt), 004 (004_ddb182e3f50ea0b5.txt)", (
        Figure("G-index-energy",
               "critical points of a small network: index (fraction of negative Hessian "
               "eigenvalues) against loss, with the random-field curve",
               "index rises with loss (Spearman ρ > 0.5)",
               test="Spearman ρ(loss, index) over the critical points > 0.5 (per independent "
                    "problem; mean via Fisher z)",
               threshold=0.5, units="problems"),
        Figure("G-width-error",
               "train and test error against hidden units",
               "train error reaches 0 with enough width while test error keeps falling or "
               "flattens (on the curve averaged over runs)",
               test="each SGD run trains its fixed epochs, then on until an epoch without a "
                    "training error or a cap; on the error curves averaged over the runs at their "
                    "stopping points: worst of train error at the largest width and its test error "
                    "minus the best width's ≤ 0.5 percentage points (train error reaches 0, test "
                    "error flattens; bootstrap over runs); a run at the largest width that hit the "
                    "cap makes it inconclusive (the budget ran out), unless the test-error half "
                    "alone fails",
               threshold=0.5, units="trials"),
        Figure("G-loss-histogram",
               "histogram of final test losses of many SGD runs, one per width",
               "the relative spread (e.g. std of log loss) shrinks as width grows",
               test="Spearman ρ(width, std over SGD runs of the log final test loss) < 0 (the "
                    "relative spread shrinks as width grows; bootstrap over runs)",
               threshold=0.0, units="trials"),
        Figure("G-permutation",
               "loss along the straight line between a net and its hidden-unit-permuted copy",
               "a barrier above both end points",
               test="training-loss barrier along A → πA (max − mean of the ends) > 0.1 nats, with "
                    "the ends equal to float precision (|ΔL| ≤ 1e-5·L; per pair of nets)",
               threshold=0.1, units="pairs"),
        Figure("G-mode-connectivity",
               "loss and error along the straight line and along a trained Bézier curve between "
               "two independently trained nets",
               "the curve's barrier is far below the line's",
               test="training-loss barrier along the Bézier curve / along the segment < 0.1 (per "
                    "pair of nets; Garipov et al. 2018; the curve's lr annealed as their train.py "
                    "learning_rate_schedule: constant to 50 %, linear to 1 % by 90 %, then 1 %)",
               threshold=0.1, units="pairs"),
    )),
    Family("H", "Batch normalization",
           "seed 004 (004_ddb182e3f50ea0b5.txt) §6.4", (
        Figure("H-bn-lr",
               "training curves, standard vs +BN, at several learning rates (largest ≈ 0.5)",
               "at the largest lr the standard net fails or diverges, the BN net trains (counted "
               "per seed)",
               "BN trains at lr 0.5 where the standard net does not (Santurkar et al. 2018, "
               "VGG on CIFAR-10)", "cifar10",
               test="per seed, on a geometric lr grid (0.1, 0.2, 0.5, 1, 2): the largest lr at "
                    "which BN trains ≥ 2 × the largest at which the standard net trains (none: 0; "
                    "or BN trains at the grid's largest lr where standard does not); trains: not "
                    "diverged and final training accuracy at least half-way from chance to the "
                    "best any net of the seed reached; fraction of seeds > 0.5 (exact 95 % "
                    "interval); outcomes trains/fails/diverged k of n in the finding",
               threshold=0.5, units="seeds"),
        Figure("H-activations",
               "per-layer activation histograms over training, standard vs +BN",
               "visual (no claim); report per-layer mean/variance drift",
               test="visual (no claim): per-layer drift of the mean (in batch stds) / of the "
                    "log-variance over training; value: standard's mean drift over BN's (mean "
                    "over seeds)",
               units="seeds"),
        Figure("H-noisy-activations",
               "the same after injecting time-varying noise after BN",
               "noise visibly shifts the distributions",
               test="the premise of H-noisy-accuracy (true by construction: a check that the "
                    "noise is on): noisy BN's mean drift / BN's (averaged over layers) > 2 per "
                    "seed, noise end to end SNR 1 ((1 + P)^L = 2)",
               threshold=2.0, units="seeds"),
        Figure("H-noisy-accuracy",
               "accuracy curves: standard, +BN, +noisy BN",
               "under noise that makes the activation distributions unstable "
               "(H-noisy-activations, the premise), noisy BN's training accuracy stays close to "
               "BN's and above standard",
               test="under noise that makes the distributions unstable (premise: "
                    "H-noisy-activations; noise (1 + P)^L = 2 over the L noisy layers), noisy "
                    "BN's final training accuracy stays within 2 "
                    "points of BN's and above standard's, at every lr (per seed; value: |BN − "
                    "noisy BN| at the smallest lr)",
               threshold=2.0, units="seeds"),
    )),
    Family("I", "Reparameterization and Path-SGD",
           "seed 003 (003_b77660be62ccec55.txt)", (
        Figure("I-rescaling",
               "training curves of SGD and Path-SGD on a ReLU net and on its rescaled (same "
               "function) copy",
               "SGD curves differ (an unbalanced rescaling slows SGD, as in the source's panel); "
               "Path-SGD curves coincide",
               test="SGD, both nets at one step η = min(lr, ½·2/λ_max), λ_max the larger top "
                    "Hessian eigenvalue of the two nets' training loss at init (half gradient "
                    "descent's stability limit): area under the training-loss curve of the "
                    "rescaled net / of the original > 1 (per seed: init and rescaling), on the "
                    "seeds whose two SGD nets finished (≥ 5, else inconclusive; a divergence is "
                    "reported as k of n, its own outcome); Path-SGD: max relative gap between the "
                    "two curves < 1e-06",
               threshold=1.0, units="seeds"),
    )),
    Family("J", "Lottery tickets",
           "seed 004 (004_ddb182e3f50ea0b5.txt) §6.6.2", (
        Figure("J-lottery",
               "test accuracy against the fraction of weights left, iterative magnitude pruning "
               "with rewind to init vs random re-init",
               "at about 20 % weights the ticket (accuracy at its early-stopping iteration, as "
               "Frankle & Carbin) is within 1 point of the dense net and above random re-init; "
               "pruning continues to ≈ 2 %, where tickets degrade",
               "winning tickets at about 21 % of LeNet-300-100's weights (Frankle & Carbin 2019, "
               "MNIST); subnetworks of 15 % to 1 % of the original size (seed 004 §6.6.2)",
               "mnist",
               test="at about 20 % of the weights (the pruning round closest to it: see the "
                    "note): ticket − (dense − 1 point) > 0 and ticket − random reinit > 0; at the "
                    "round closest to 2 % (if between 1 and 4 %): ticket − ticket at 20 % < 0 "
                    "(test accuracy at the early-stopping iteration, percentage points, per seed)",
               threshold=0.0, units="seeds"),
    )),
    Family("K", "Kernels",
           "seed 001 (001_a601dbe08ea9d51e.txt)", (
        Figure("K-ntk",
               "a wide 2-layer net trained by GD on 1-D regression vs the NTK predictor yᵀK⁻¹k(x), "
               "several widths",
               "the gap shrinks as width grows; the relative weight change falls as m^−½ (Lee et "
               "al.)",
               "relative change of the weights ∝ width^−½ (Lee et al. 2019)", "",
               test="log-log slope of ‖θ_t − θ₀‖/‖θ₀‖ against width within -0.5 ± 0.15 (Lee et "
                    "al.: m^−½) AND the RMS gap net − NTK predictor shrinks with width (slope < "
                    "0); per trial",
               threshold=0.15, units="trials"),
    ), gpu=False),
    Family("L", "Ensemble evaluation",
           "all seeds; beyond the documents", (
        Figure("L-ensembles",
               "accuracy, NLL, ECE and Brier score of a single run, a deep ensemble, SWA, SWAG, MC "
               "dropout, SGHMC (T = 1 and cold) on the same data and model; reliability diagrams",
               "each method against the single run in NLL, paired by seed and decided per "
               "method; the figure's claim holds when every method beats it",
               "a cold posterior (T < 1) beats T = 1 (Wenzel et al. 2020, ResNet-20 on "
               "CIFAR-10)", "resnet20-cifar10",
               test="each method against the comparison its source makes, paired by seed, mean "
                    "difference < 0 (95 % t-interval) for every one: NLL of the deep ensemble "
                    "(Lakshminarayanan et al.) and of SWAG diagonal and low-rank (Maddox et al.) − "
                    "the single run's; test error of SWA − the single run's (Izmailov et al.; seed "
                    "001 'to improve ... testing error'); NLL of MC dropout − weight scaling of the "
                    "same net (seed 003: sampling 'generalizes slightly better'); NLL of SGHMC cold − "
                    "T = 1 (Wenzel et al.). Fail if any is decided > 0. The dropout net is n/(1 − p) "
                    "wide and trains 2 × as long (Srivastava et al.)",
               threshold=0.0, units="seeds"),
    )),
)

FAMILIES: dict[str, Family] = {f.letter: f for f in _FAMILIES}

# plain lookups for the Snakefile, the figures and the report
FIGURES: dict[str, list[str]] = {f.letter: [g.id for g in f.figures] for f in _FAMILIES}
TITLES: dict[str, str] = {f.letter: f.title for f in _FAMILIES}
FIGURE_INFO: dict[str, Figure] = {g.id: g for f in _FAMILIES for g in f.figures}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def catalogue_markdown() -> str:
    """The whole catalogue as a Markdown page (docs/catalogue.md)."""
    n_all = sum(len(f.figures) for f in _FAMILIES)
    md = ["_Generated by `nnrepro catalogue` from `src/nnrepro/catalogue.py`: do not edit by hand; "
          "edit the catalogue and run `nnrepro catalogue` again._",
          "",
          "# The figure catalogue",
          "",
          "Every plot of the five source documents (`shared/seeds/`) that the pipeline recreates. "
          "A **family** is one experiment: one sweep of runs whose tidy results feed several "
          "figures; figure ids are `<family>-<name>`. Each figure has one **claim**: the "
          "phenomenon the document shows, turned into a numeric check that the pipeline "
          "evaluates on its own results and reports (pass / fail and the measured number, in "
          "`results/claims.csv`). A figure without a claim is a reference figure. A claim that "
          "fails is reported, never hidden or tuned away.",
          "",
          "Two scales for every family: **quick** (the default `config.yaml`; CPU, minutes, data "
          "that needs no download: `sklearn` digits and synthetic sets) and **paper** "
          "(`configs/`: MNIST / Fashion-MNIST / CIFAR-10 via torchvision, the setups of the "
          "documents, meant for a GPU or a cluster).",
          "",
          "Notation as in the documents: T temperature, C friction, M mass, r momentum, "
          "γ adjusting factor, α boosting factor, θ all weights.",
          "",
          f"{len(_FAMILIES)} families, {n_all} figures. `nnrepro list` shows which figures a "
          "results folder holds and their verdicts."]
    for f in _FAMILIES:
        md += ["", f"## {f.letter}. {f.title}", "", f"Source: {f.source}.", "",
               "| id | what it shows | claim |", "|---|---|---|"]
        md += [f"| {g.id} | {_cell(g.shows)} | {_cell(g.claim)} |" for g in f.figures]
    return "\n".join(md) + "\n"
