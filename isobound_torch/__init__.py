"""isobound_torch: the empirical side of isobound, in PyTorch.

DeepFool measurements of robustness (unconstrained, in-distribution and
latent), the generator's modulus of continuity, the constructions of
Theorems 2 and 3, exact minimal adversarial distances of small ReLU networks
(:func:`exact_linf_distance`, by mixed-integer programming), and the end-to-end
experiment (``isobound experiment``).
Install with ``pip install isobound[torch]``.  This package depends on
:mod:`isobound`; the core never imports it.
"""

from .attacks import DeepFool, DeepFoolResult, refine_perturbations
from .constructions import (
    ProjectionClassifier,
    project_to_latent,
    theorem2_check,
    transfer_measurement,
)
from .exact import (
    ExactResult,
    exact_certified_radius,
    exact_distance,
    exact_l1_distance,
    exact_linf_distance,
    exact_unsupported,
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
    "BoundInputs",
    "DeepFool",
    "DeepFoolResult",
    "ExactResult",
    "ExperimentConfig",
    "ExperimentResult",
    "ProjectionClassifier",
    "RobustnessResult",
    "bound_inputs",
    "class_proportions",
    "estimate_modulus",
    "exact_certified_radius",
    "exact_distance",
    "exact_l1_distance",
    "exact_linf_distance",
    "exact_unsupported",
    "in_distribution_robustness",
    "jacobian_spectral_modulus",
    "latent_robustness",
    "local_sup",
    "project_to_latent",
    "refine_perturbations",
    "required_samples",
    "run_experiment",
    "theorem2_check",
    "transfer_measurement",
    "unconstrained_robustness",
]
