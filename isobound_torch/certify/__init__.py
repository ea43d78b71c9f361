"""Certified (proven) bounds for networks: local moduli of generators, Lipschitz constants, radii.

* :func:`certified_modulus` -- a probabilistic modulus of continuity of a generator whose
  every per-latent value is an upper bound proven by bound propagation (not estimated);
* :func:`certified_local_sup` -- those per-latent, per-radius upper bounds on
  ``sup_{||u||_2 <= t} ||g(z + u) - g(z)||``;
* :func:`lipschitz_upper_bound` -- a global Lipschitz constant, product of per-layer
  operator norms each bounded from above;
* :func:`certified_radius` -- per-sample lower bounds on a classifier's minimal
  adversarial perturbation.

Everything is computed in float64 with rounding accounted for (see the module
:mod:`isobound_torch.certify._bounds`).
"""

from ._lipschitz import lipschitz_upper_bound
from ._modulus import certified_local_sup, certified_modulus
from ._program import UnsupportedModuleError
from ._radius import certified_radius

__all__ = [
    "certified_local_sup",
    "certified_modulus",
    "certified_radius",
    "lipschitz_upper_bound",
    "UnsupportedModuleError",
]
