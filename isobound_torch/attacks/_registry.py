"""The attacks by name, for the command line and the experiment pipeline."""

from __future__ import annotations

from typing import Any

from .._validate import check_choice, check_int
from ._bestof import BestOf
from ._deepfool import DeepFool
from ._minnorm import DDN, FMN

__all__ = ["ATTACK_NAMES", "make_attack"]

#: Names accepted by :func:`make_attack` (and ``--attack`` on the command line).
ATTACK_NAMES = ("deepfool", "fmn", "ddn", "best")
#: Target classes of the FMN inside ``"best"``: FMN aimed at each of the three most likely
#: other classes (measured in ``benchmarks/bench_minnorm.py``: the untargeted FMN follows
#: the runner-up logit and ends on a farther class's boundary for some inputs).
BEST_TARGETS = 3


def make_attack(
    name: str,
    *,
    norm: str = "l2",
    bounds: tuple[float, float] | None = None,
    steps: int | None = None,
    **options: Any,
) -> Any:
    """An attack object from its name.

    Parameters
    ----------
    name : {"deepfool", "fmn", "ddn", "best"}
        ``"deepfool"``: :class:`DeepFool` (the paper's attack; ``refine=True``
        unless given); ``"fmn"``: :class:`FMN`; ``"ddn"``: :class:`DDN` (L2
        only); ``"best"``: :class:`BestOf` DeepFool (refined), FMN run against each
        of the three most likely other classes (``targets=3``) and, for L2,
        DDN.
    norm : {"l2", "linf"}
    bounds : (float, float) or None
        The box of the inputs (``None`` for latent spaces).
    steps : int or None
        ``max_iter`` of DeepFool, ``steps`` of FMN and DDN (``None``: their
        defaults, 50 and 100).  For ``"best"`` it sets FMN's and DDN's steps.
    **options
        Further keyword options of the attack's class (not for ``"best"``).

    Returns
    -------
    attack
        A callable ``attack(model, x) -> AttackResult`` with ``norm`` and
        ``bounds`` attributes.

    Raises
    ------
    ValueError
        For an unknown name, a norm the attack does not support, options given
        to ``"best"``, or bad option values (the attack's own checks).

    Examples
    --------
    >>> make_attack("fmn", norm="linf", bounds=(0, 1), steps=50)
    FMN(norm='linf', steps=50, alpha=1.0, alpha_final=0.01, gamma=0.05, gamma_final=0.001, bounds=(0.0, 1.0))
    >>> [type(a).__name__ for a in make_attack("best", bounds=(0, 1)).attacks]
    ['DeepFool', 'FMN', 'DDN']
    """
    check_choice("name", name, ATTACK_NAMES)
    if steps is not None:
        steps = check_int("steps", steps, minimum=1)
    more: dict[str, Any] = {} if steps is None else {"steps": steps}
    if name == "deepfool":
        options.setdefault("refine", True)
        if steps is not None:
            options["max_iter"] = steps
        return DeepFool(norm=norm, bounds=bounds, **options)
    if name == "fmn":
        return FMN(norm=norm, bounds=bounds, **more, **options)
    if name == "ddn":
        return DDN(norm=norm, bounds=bounds, **more, **options)
    if options:
        raise ValueError(f"make_attack('best') takes no options besides norm, bounds and steps, got {sorted(options)}")
    members: list[Any] = [
        DeepFool(norm=norm, bounds=bounds, refine=True),
        FMN(norm=norm, bounds=bounds, targets=BEST_TARGETS, **more),
    ]
    if norm == "l2":
        members.append(DDN(bounds=bounds, **more))
    return BestOf(members)
