r"""isobound: how robust can *any* classifier be on data from a smooth generator?

Exact, log-domain implementations of the robustness upper bounds of
Fawzi, Fawzi & Fawzi, "Adversarial vulnerability for any classifier"
(NeurIPS 2018).  Core dependencies: numpy, scipy, mpmath.  The empirical
side (DeepFool measurements, generator smoothness, the experiment) lives in
the optional ``isobound_torch`` package.

>>> import isobound
>>> round(isobound.IsoperimetricBound.equiprobable(10).ppf(0.25), 6)
0.15798
"""

from ._bound import ImageSpaceBound, IsoperimetricBound
from ._gaussian import expected_gaussian_norm, log_interval_mass, normal_loss
from ._moduli import (
    Affine,
    Composition,
    Holder,
    Identity,
    Lipschitz,
    Modulus,
    PiecewiseLinear,
    UniformPrior,
)
from ._theorems import (
    theorem1,
    theorem1_balanced,
    theorem1_equiprobable,
    theorem3,
    theorem4,
    theorem4_equiprobable,
)

from ._audit import RobustnessAudit, audit_robustness, one_sided_band

__version__ = "0.1.0"

__all__ = [
    "IsoperimetricBound",
    "ImageSpaceBound",
    "Modulus",
    "Identity",
    "Lipschitz",
    "Affine",
    "Holder",
    "PiecewiseLinear",
    "Composition",
    "UniformPrior",
    "theorem1",
    "theorem1_balanced",
    "theorem1_equiprobable",
    "theorem3",
    "theorem4",
    "theorem4_equiprobable",
    "expected_gaussian_norm",
    "normal_loss",
    "log_interval_mass",
    "audit_robustness",
    "RobustnessAudit",
    "one_sided_band",
]
