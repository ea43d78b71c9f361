"""The per-sample best of several attacks, each candidate verified by a fresh forward pass."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass
from typing import Any

import torch

from .._validate import ArgumentTypeError
from ._base import AttackResult, Model, check_later_logits, check_logits, norms, prepare

__all__ = ["BestOf", "BestOfResult"]


@dataclass(frozen=True, eq=False)
class BestOfResult(AttackResult):
    """Per-sample outcome of :class:`BestOf`: an :class:`AttackResult` plus where each result came from.

    ``iterations`` are those of the attack whose perturbation was kept (of the
    first attack for a failed sample); ``forwards`` and ``backwards`` add up the
    cost of every attack run, plus the verification pass.

    Attributes
    ----------
    source : torch.Tensor
        ``int64``: index in :attr:`BestOf.attacks` of the attack whose
        perturbation was kept; ``-1`` where no attack's perturbation verified.
    names : tuple of str
        The attacks' class names, in order (``names[source[i]]``).
    """

    _: KW_ONLY
    source: torch.Tensor
    names: tuple[str, ...] = ()


class BestOf:
    """Run several attacks and keep, per sample, the smallest perturbation that verifies.

    Every attack runs on the whole batch.  Then the clean inputs and every
    successful candidate of every attack go through the model in **one** fresh
    forward pass; a candidate counts only if the model's label there differs from
    its label at the clean input in that same pass (and its logits are finite).
    Among the verified candidates of a sample the one with the smallest norm,
    recomputed from the returned point, is kept (ties: the earlier attack).  A
    candidate that does not verify is never used, even if its attack reported
    success.

    The result is an *upper* estimate of each sample's minimal distance, never
    larger than any single attack's verified one.

    Parameters
    ----------
    attacks : iterable of attacks
        At least one; callables ``attack(model, x) -> AttackResult`` with
        ``norm`` and ``bounds`` attributes, all with the same norm and the same
        box.

    Raises
    ------
    ValueError
        For an empty list, or attacks that disagree on ``norm`` or ``bounds``.
    TypeError
        For something that is not an iterable of attacks (the error is also a
        ``ValueError``).

    Examples
    --------
    >>> import torch
    >>> from isobound_torch.attacks import DDN, FMN, BestOf, DeepFool
    >>> W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    >>> model = lambda x: x @ W.T
    >>> x = torch.tensor([[2.0, 0.5]], dtype=torch.float64)
    >>> best = BestOf([DeepFool(), FMN(steps=20), DDN(steps=20)])
    >>> res = best(model, x)
    >>> bool(res.success), res.names[res.source.item()] in ("DeepFool", "FMN", "DDN")
    (True, True)
    >>> bool(1.5 / 2 ** 0.5 <= res.norm.item() <= DeepFool()(model, x).norm.item())
    True
    """

    def __init__(self, attacks: Iterable[Any]) -> None:
        if isinstance(attacks, (str, bytes)) or not isinstance(attacks, Iterable):
            raise ArgumentTypeError(f"attacks must be a list of attacks, got attacks={attacks!r}")
        items = tuple(attacks)
        if not items:
            raise ValueError("attacks must contain at least one attack, got an empty list")
        for i, a in enumerate(items):
            if not callable(a) or not hasattr(a, "norm") or not hasattr(a, "bounds"):
                raise ArgumentTypeError(
                    f"attacks[{i}] must be an attack (callable with norm and bounds attributes), got {a!r}"
                )
        norm_set = {a.norm for a in items}
        if len(norm_set) != 1:
            raise ValueError(f"attacks must all use the same norm, got norms {[a.norm for a in items]}")
        bound_set = {a.bounds for a in items}
        if len(bound_set) != 1:
            raise ValueError(f"attacks must all use the same bounds, got bounds {[a.bounds for a in items]}")
        self.attacks = items
        self.norm: str = items[0].norm
        self.bounds: tuple[float, float] | None = items[0].bounds

    def __repr__(self) -> str:
        return f"BestOf([{', '.join(repr(a) for a in self.attacks)}])"

    def __call__(self, model: Model, x: torch.Tensor) -> BestOfResult:
        """Run every attack on ``x`` and keep each sample's smallest verified perturbation.

        Raises
        ------
        TypeError, ValueError
            As the attacks do, for a bad model or bad inputs (checked once here
            before any attack runs).
        """
        x0 = prepare(model, x, self.bounds)
        results = [a(model, x0) for a in self.attacks]
        names = tuple(type(a).__name__ for a in self.attacks)
        with torch.inference_mode(False):
            return self._select(model, x0, results, names)

    def _select(
        self, model: Model, x0: torch.Tensor, results: list[AttackResult], names: tuple[str, ...]
    ) -> BestOfResult:
        n, dev = x0.shape[0], x0.device
        first = results[0]
        forwards = sum((r.forwards for r in results), torch.zeros(n, dtype=torch.int64, device=dev))
        backwards = sum((r.backwards for r in results), torch.zeros(n, dtype=torch.int64, device=dev))
        source = torch.full((n,), -1, dtype=torch.int64, device=dev)
        if n == 0:
            return BestOfResult(
                first.perturbation, first.adversarial, first.norm, first.success.clone(), first.iterations,
                first.label, first.adv_label, self.norm,
                forwards=forwards, backwards=backwards, source=source, names=names,
            )
        owners, points = [], []
        for a, r in enumerate(results):
            rows = r.success.nonzero().flatten()
            owners.append(torch.stack([torch.full_like(rows, a), rows]))
            points.append(r.adversarial.detach().to(x0.dtype)[rows])
        owner = torch.cat(owners, dim=1)  # (2, m): attack index, sample index
        cand = torch.cat(points)
        with torch.no_grad():
            raw = model(torch.cat([x0, cand]))
        k = raw.shape[1] if isinstance(raw, torch.Tensor) and raw.dim() == 2 else 2
        logits = check_later_logits(raw, n + cand.shape[0], max(k, 2)).detach()
        check_logits(logits[:n], n)
        forwards += 1
        forwards += torch.bincount(owner[1], minlength=n)
        label = logits[:n].argmax(dim=1)
        out = logits[n:]
        pred = out.argmax(dim=1)
        ok = (pred != label[owner[1]]) & torch.isfinite(out).all(dim=1)
        if self.bounds is not None:
            flat = cand.reshape(cand.shape[0], -1)
            ok &= ((flat >= self.bounds[0]) & (flat <= self.bounds[1])).all(dim=1)
        cand_norm = norms(cand - x0[owner[1]], self.norm)
        table = torch.full((len(results), n), torch.inf, dtype=x0.dtype, device=dev)
        table[owner[0][ok], owner[1][ok]] = cand_norm[ok]
        best = table.min(dim=0)
        success = torch.isfinite(best.values)
        pick = best.indices  # the first attack reaching the minimum
        slot = torch.full((len(results), n), -1, dtype=torch.int64, device=dev)
        slot[owner[0], owner[1]] = torch.arange(owner.shape[1], device=dev)
        chosen = slot[pick, torch.arange(n, device=dev)]
        win = success.nonzero().flatten()
        adversarial = first.adversarial.detach().to(x0.dtype).clone()
        adversarial[win] = cand[chosen[win]]
        adv_label = first.adv_label.clone()
        adv_label[win] = pred[chosen[win]]
        iterations = first.iterations.clone()
        stacked_it = torch.stack([r.iterations for r in results])
        iterations[win] = stacked_it[pick[win], win]
        source[win] = pick[win]
        # a failed sample keeps the first attack's last try (it does not verify)
        pert = adversarial - x0
        return BestOfResult(
            perturbation=pert,
            adversarial=adversarial,
            norm=norms(pert, self.norm),
            success=success,
            iterations=iterations,
            label=label,
            adv_label=adv_label,
            p=self.norm,
            forwards=forwards,
            backwards=backwards,
            source=source,
            names=names,
        )

