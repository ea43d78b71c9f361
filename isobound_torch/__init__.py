"""isobound_torch: the empirical side of isobound, in PyTorch.

Measurements of robustness (unconstrained, in-distribution and latent) by
DeepFool or by minimal-norm attacks (FMN, DDN, the per-sample best of several),
the generator's modulus of continuity (estimated by ascent, or
certified by bound propagation), certified radii of classifiers, exact
minimal adversarial distances of small ReLU networks (:func:`exact_linf_distance`,
by mixed-integer programming), the constructions of Theorems 2 and 3, the
end-to-end experiment
(``isobound experiment``) and :func:`evaluate` for your own generator and
classifiers (``isobound evaluate``).
Install with ``pip install isobound[torch]``.  This package depends on
:mod:`isobound`; the core never imports it.
"""

from ._evaluate import UniformLatents, evaluate
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
from .certify import (
    UnsupportedModuleError,
    certified_local_sup,
    certified_modulus,
    certified_radius,
    lipschitz_upper_bound,
)
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
from .experiment.evaluation import EvaluationResult
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
    JacobianNormEstimate,
    estimate_modulus,
    jacobian_norm_estimate,
    jacobian_spectral_modulus,
    local_sup,
    required_samples,
)

__all__ = [
    "DeepFool",
    "DeepFoolResult",
    "FMN",
    "DDN",
    "BestOf",
    "AttackResult",
    "make_attack",
    "refine_perturbations",
    "unconstrained_robustness",
    "latent_robustness",
    "in_distribution_robustness",
    "class_proportions",
    "bound_inputs",
    "BoundInputs",
    "RobustnessResult",
    "estimate_modulus",
    "jacobian_norm_estimate",
    "jacobian_spectral_modulus",
    "JacobianNormEstimate",
    "local_sup",
    "required_samples",
    "certified_modulus",
    "certified_local_sup",
    "certified_radius",
    "lipschitz_upper_bound",
    "UnsupportedModuleError",
    "ProjectionClassifier",
    "project_to_latent",
    "theorem2_check",
    "transfer_measurement",
    "exact_distance",
    "exact_linf_distance",
    "exact_l1_distance",
    "exact_certified_radius",
    "exact_unsupported",
    "ExactResult",
    "ExperimentConfig",
    "ExperimentResult",
    "run_experiment",
    "evaluate",
    "EvaluationResult",
    "UniformLatents",
]
