"""isobound_torch: the empirical side of isobound, in PyTorch.

Measurements of robustness (unconstrained, in-distribution and latent) by
DeepFool or by minimal-norm attacks (FMN, DDN, the per-sample best of several),
the generator's modulus of continuity, the constructions of
Theorems 2 and 3, and the end-to-end experiment (``isobound experiment``).
Install with ``pip install isobound[torch]``.  This package depends on
:mod:`isobound`; the core never imports it.
"""

from .attacks import (
    DDN,
    FMN,
    AttackResult,
    BestOf,
    DeepFool,
    DeepFoolResult,
    make_attack,
    refine_perturbations,
)
from .constructions import (
    ProjectionClassifier,
    project_to_latent,
    theorem2_check,
    transfer_measurement,
)
from .experiment import ExperimentConfig, ExperimentResult
from .experiment import run as run_experiment
from .measure import (
    BoundInputs,
    RobustnessResult,
    bound_inputs,
    class_proportions,
    in_distribution_robustness,
    latent_robustness,
    unconstrained_robustness,
)
from .smoothness import (
    estimate_modulus,
    jacobian_spectral_modulus,
    local_sup,
    required_samples,
)

__all__ = [
    "DeepFool",
    "DeepFoolResult",
    "refine_perturbations",
    "FMN",
    "DDN",
    "BestOf",
    "AttackResult",
    "make_attack",
    "unconstrained_robustness",
    "latent_robustness",
    "in_distribution_robustness",
    "class_proportions",
    "bound_inputs",
    "BoundInputs",
    "RobustnessResult",
    "estimate_modulus",
    "jacobian_spectral_modulus",
    "local_sup",
    "required_samples",
    "ProjectionClassifier",
    "project_to_latent",
    "theorem2_check",
    "transfer_measurement",
    "ExperimentConfig",
    "ExperimentResult",
    "run_experiment",
]
