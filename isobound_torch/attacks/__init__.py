"""Attacks that estimate each sample's minimal adversarial perturbation (upper estimates).

Every attack is a small object, ``attack(model, x) -> AttackResult``, with the
conventions of :mod:`isobound_torch.attacks._base`: the model's own prediction
as reference, failures as ``+inf`` distances, an optional box, no gradients
left on the model, batched, following the input's device and dtype.

* :class:`DeepFool` (L2, L-infinity): the paper's attack; fast, often not minimal.
* :class:`FMN` (L2, L-infinity) and :class:`DDN` (L2): minimal-norm attacks.
* :class:`BestOf`: runs several and keeps, per sample, the smallest perturbation
  that a fresh forward pass verifies.
* :func:`make_attack`: the attacks by name (``"deepfool"``, ``"fmn"``, ``"ddn"``,
  ``"best"``), as the command line uses them.
"""

from ._base import AttackResult
from ._bestof import BestOf, BestOfResult
from ._deepfool import MIN_STEP, DeepFool, DeepFoolResult, refine_perturbations
from ._minnorm import DDN, FMN, project_to_ball
from ._registry import ATTACK_NAMES, make_attack

__all__ = [
    "ATTACK_NAMES",
    "AttackResult",
    "BestOf",
    "BestOfResult",
    "DDN",
    "FMN",
    "DeepFool",
    "DeepFoolResult",
    "MIN_STEP",
    "make_attack",
    "project_to_ball",
    "refine_perturbations",
]
