r"""isobound: how robust can *any* classifier be on data from a smooth generator?

Exact, log-domain implementations of the robustness upper bounds of
Fawzi, Fawzi & Fawzi, "Adversarial vulnerability for any classifier"
(NeurIPS 2018).  Core dependencies: numpy, scipy, mpmath.  The empirical
side (DeepFool measurements, generator smoothness, the experiment) lives in
the optional ``isobound_torch`` package.

>>> import isobound
>>> round(isobound.IsoperimetricBound.equiprobable(10).ppf(0.25), 6)
0.15798

Conventions
-----------
One set of rules holds for every public function (bounds, moduli, the
theorem functions, the audit):

* **Parameters** (class probabilities, constants of a modulus, ``delta``,
  a confidence level, measured distances) are validated: a bad value raises
  ``ValueError`` and a wrong type raises ``TypeError``, each naming the
  argument and the value.  (The ``TypeError`` is also a ``ValueError``, so
  older ``except ValueError`` code keeps working.)
* **Evaluation points** never raise or warn, and follow scipy.stats.  NaN
  gives NaN.  Robustness lives on ``[0, inf)``: at a negative radius every
  cdf-type lower bound (``cdf``, ``theorem1``, ``theorem1_balanced``,
  ``theorem1_equiprobable``, ``theorem3``, ``transfer_bound``) is 0,
  ``sf`` is 1, ``logcdf`` is ``-inf`` and ``logsf`` 0.  Quantile functions
  (``ppf``, ``isf`` and their aliases) give NaN outside [0, 1].
* **Moduli**: ``omega(t)`` is NaN for ``t < 0`` (not a distance);
  ``omega.inverse(eta)`` is 0 for every ``eta`` below ``omega(0)``,
  negative ones included (no radius qualifies, so nothing is guaranteed).
* **The audit** takes measured distances as data: NaN and negative
  distances are rejected with a ``ValueError``; ``inf`` means "not
  measured" (a failed attack) and counts as larger than every radius.
* Scalars in give Python floats out; arrays broadcast and are float64.
* Every returned bound is rounded to its safe side: lower bounds on
  probabilities down, upper bounds on robustness up.
"""

from ._audit import RobustnessAudit, audit_robustness, one_sided_band
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
    transfer_bound,
)

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
    "transfer_bound",
    "expected_gaussian_norm",
    "normal_loss",
    "log_interval_mass",
    "audit_robustness",
    "RobustnessAudit",
    "one_sided_band",
]
