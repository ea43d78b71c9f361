r"""Minimal-norm attacks: FMN (Pintor et al., NeurIPS 2021) and DDN (Rony et al., CVPR 2019).

Both search for the smallest perturbation :math:`\delta` that changes the
model's label :math:`\ell` (its prediction on the clean input) by alternating
a normalised gradient step on a loss with a projection onto a ball
:math:`\|\delta\| \le \epsilon_k` whose radius they adapt: it shrinks while the
iterate is adversarial and grows while it is not.  They differ in the loss and
in how the radius moves.

Two details decide whether such an attack returns what it found:

* **The best iterate, not the last.** The iterates oscillate around the
  decision boundary; the last one is often not adversarial, or larger than an
  earlier adversarial one.  Every iterate here is evaluated (the last one
  too), and each sample keeps the smallest perturbation at which the model's
  label was seen to differ from :math:`\ell`.
* **The ball, not the sphere.** The projection is
  :math:`\delta \mapsto \delta \min(1, \epsilon / \|\delta\|_2)` for L2 and
  clipping to :math:`[-\epsilon, \epsilon]` for L-infinity: a perturbation
  already inside the ball is left alone.  Rescaling onto the sphere
  :math:`\|\delta\| = \epsilon` (which DDN's paper does by design, and which an
  ``L2`` projection with a misplaced clamp does by accident) pushes such a
  perturbation outwards, away from a smaller adversarial one.

Every returned distance is an *upper* estimate of the sample's minimal
distance: an adversarial example that was found, not a proof that none is
closer.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F

from .._validate import (
    ArgumentTypeError,
    check_choice,
    check_int,
    check_nonnegative,
    check_open_probability,
    check_positive,
    check_tensor,
)
from ._base import (
    NONFINITE,
    AttackResult,
    Model,
    bounds_pair,
    check_later_logits,
    check_logits,
    check_norm,
    counts,
    dual_norms,
    expand,
    margin,
    nonfinite_error,
    norms,
    prepare,
)

__all__ = ["FMN", "DDN", "project_to_ball"]

_TINY = 1e-12


def project_to_ball(delta: torch.Tensor, eps: torch.Tensor, p: str) -> torch.Tensor:
    r"""Euclidean projection of each sample of ``delta`` onto the ball :math:`\|\cdot\|_p \le \epsilon`.

    L2: :math:`\delta \min(1, \epsilon / \|\delta\|_2)`; L-infinity: every
    coordinate clipped to :math:`[-\epsilon, \epsilon]`.  A point inside the ball
    is returned unchanged (the norm never grows); ``eps = inf`` leaves
    everything unchanged.

    Parameters
    ----------
    delta : torch.Tensor
        Perturbations, batch first.
    eps : torch.Tensor
        ``(n,)`` radii, ``>= 0`` (``inf`` allowed).
    p : {"l2", "linf"}

    Examples
    --------
    >>> import torch
    >>> d = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    >>> project_to_ball(d, torch.tensor([1.0, 1.0]), "l2")
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
    >>> project_to_ball(d, torch.tensor([1.0, 0.35]), "linf")
    tensor([[1.0000, 1.0000],
            [0.3000, 0.3500]])
    """
    if p == "l2":
        n = norms(delta, "l2")
        factor = torch.where(n > eps, eps / n.clamp_min(_TINY), torch.ones_like(n))
        return delta * expand(factor, delta)
    e = expand(eps, delta)
    return torch.maximum(torch.minimum(delta, e), -e)


def _cosine(start: float, end: float, i: int, steps: int) -> float:
    """Cosine annealing from ``start`` (step 0) towards ``end`` (step ``steps``)."""
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * i / steps))


def _worst_norms(x0: torch.Tensor, bounds: tuple[float, float] | None, p: str) -> torch.Tensor:
    """The largest perturbation norm the box allows at each sample (``inf`` without a box)."""
    if bounds is None:
        return torch.full((x0.shape[0],), math.inf, dtype=x0.dtype, device=x0.device)
    room = torch.maximum(x0 - bounds[0], bounds[1] - x0)
    return norms(room, p)


class _MinNormAttack:
    """The loop FMN and DDN share: evaluate, keep the best, step, project, clip.

    Subclasses supply the loss (minimised), the first radius and the radius update.
    """

    name = "attack"

    def __init__(
        self,
        *,
        norm: str,
        steps: int,
        alpha: float,
        alpha_final: float | None,
        bounds: Any,
        on_nonfinite: str,
        init_attack: Any = None,
        norms_allowed: tuple[str, ...] = ("l2", "linf"),
    ) -> None:
        self.norm = check_norm(norm, norms_allowed)
        self.steps = check_int("steps", steps, minimum=1)
        self.alpha = check_positive("alpha", alpha)
        self.alpha_final = self.alpha / 100 if alpha_final is None else check_nonnegative("alpha_final", alpha_final)
        if self.alpha_final > self.alpha:
            raise ValueError(f"alpha_final must be <= alpha={self.alpha!r}, got alpha_final={alpha_final!r}")
        self.bounds = bounds_pair(bounds)
        self.on_nonfinite = check_choice("on_nonfinite", on_nonfinite, NONFINITE)
        if init_attack is not None:
            if not callable(init_attack) or not hasattr(init_attack, "norm") or not hasattr(init_attack, "bounds"):
                raise ArgumentTypeError(
                    f"init_attack must be None or an attack (callable with norm and bounds), got {init_attack!r}"
                )
            if init_attack.norm != self.norm or init_attack.bounds != self.bounds:
                raise ValueError(
                    f"init_attack must use norm={self.norm!r} and bounds={self.bounds!r}, "
                    f"got norm={init_attack.norm!r} and bounds={init_attack.bounds!r}"
                )
        self.init_attack = init_attack

    # -------------------------------------------------------------- subclass hooks
    _targets: int | None = None

    def _loss(self, logits: torch.Tensor, label: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _first_eps(self, n: int, like: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _next_eps(
        self,
        i: int,
        eps: torch.Tensor,
        adv: torch.Tensor,
        found: torch.Tensor,
        dnorm: torch.Tensor,
        best: torch.Tensor,
        loss: torch.Tensor,
        grad: torch.Tensor,
    ) -> torch.Tensor:
        raise NotImplementedError

    # -------------------------------------------------------------- public
    def __call__(self, model: Model, x: torch.Tensor, *, init: torch.Tensor | None = None) -> AttackResult:
        """Attack ``model`` on the batch ``x`` (first dimension = samples).

        Parameters
        ----------
        model : callable
            Maps a batch of shape ``x.shape`` to logits of shape ``(batch, K)``.
        x : torch.Tensor
            Floating-point inputs, at least 2-d, finite, inside ``bounds``.
        init : torch.Tensor, optional
            Starting points, same shape as ``x`` (inside ``bounds``), for
            example another attack's adversarial examples; the search starts
            from them instead of from ``x``.  The first iterate is evaluated like
            every other one: an adversarial starting point counts as found.
            Without ``init``, an ``init_attack`` given to the constructor is run
            first and its successful adversarial examples are the starting
            points (the clean inputs elsewhere); its cost is included in
            ``forwards`` and ``backwards``.

        Returns
        -------
        AttackResult
            Per sample, the smallest perturbation found adversarial
            (``success``); for a failed sample, the last iterate.
            ``iterations`` is the number of gradient steps taken.

        Raises
        ------
        TypeError
            For a model that is not callable or returns something other than a
            floating-point tensor, or ``x`` / ``init`` that are not
            floating-point tensors (the error is also a ``ValueError``).
        ValueError
            For a lower-dimensional, NaN/inf or out-of-box ``x`` or ``init``, an
            ``init`` of another shape, a model whose output is not
            ``(batch, K)`` logits with ``K >= 2`` (finite on the clean inputs), a
            module with training-mode batch-norm or dropout, or non-finite logits
            or gradients mid-attack with ``on_nonfinite="raise"``.
        """
        x0 = prepare(model, x, self.bounds)
        start_pts = None
        if init is not None:
            start = check_tensor("init", init, min_dim=2).detach()
            if tuple(start.shape) != tuple(x0.shape):
                raise ValueError(f"init must have the shape of x {tuple(x0.shape)}, got shape {tuple(start.shape)}")
            if self.bounds is not None and start.numel():
                lo, hi = self.bounds
                if bool((start < lo).any() or (start > hi).any()):
                    raise ValueError(
                        f"init lies outside bounds={self.bounds!r}: min {float(start.min())!r}, "
                        f"max {float(start.max())!r}"
                    )
            start_pts = start.to(device=x0.device, dtype=x0.dtype)
        before = None
        if start_pts is None and self.init_attack is not None:
            before = self.init_attack(model, x0)
            start_pts = torch.where(expand(before.success, x0), before.adversarial.detach().to(x0.dtype), x0)
        with torch.inference_mode(False), torch.enable_grad():
            x0 = x0.clone()  # a normal tensor even if x came from inference mode
            first = x0.clone() if start_pts is None else start_pts.clone()
            clean = None
            if x0.shape[0] and (start_pts is not None or self._targets is not None):
                # the label is the prediction at the clean input, not at a starting point
                with torch.no_grad():
                    clean = check_logits(model(x0), x0.shape[0]).detach()
            if clean is not None and self._targets is not None:
                res = self._run_targets(model, x0, first, clean, self._targets)
            else:
                res = self._run(model, x0, first, clean, None)
        extra_f = int(clean is not None)
        if before is not None or extra_f:
            res = dataclasses.replace(
                res,
                forwards=res.forwards + extra_f + (0 if before is None else before.forwards),
                backwards=res.backwards + (0 if before is None else before.backwards),
            )
        return res

    def attack(self, model: Model, x: torch.Tensor, *, init: torch.Tensor | None = None) -> AttackResult:
        """Same as calling the attack."""
        return self(model, x, init=init)

    # -------------------------------------------------------------- the loop
    def _run_targets(
        self, model: Model, x0: torch.Tensor, first: torch.Tensor, clean: torch.Tensor, k: int
    ) -> AttackResult:
        """One run per target class (the ``k`` most likely other classes), all in one batch; the best per sample."""
        n = x0.shape[0]
        label = clean.argmax(dim=1)
        k = min(k, clean.shape[1] - 1)
        order = clean.scatter(1, label[:, None], -math.inf).topk(k, dim=1).indices  # (n, k)
        reps = (k,) + (1,) * (x0.dim() - 1)
        r = self._run(model, x0.repeat(reps), first.repeat(reps), clean.repeat(k, 1), order.T.reshape(-1))
        dist = torch.where(r.success, r.norm, torch.full_like(r.norm, math.inf)).reshape(k, n)
        rows = dist.argmin(dim=0) * n + torch.arange(n, device=x0.device)  # the first best target
        return AttackResult(
            perturbation=r.perturbation[rows],
            adversarial=r.adversarial[rows],
            norm=r.norm[rows],
            success=r.success[rows],
            iterations=r.iterations[rows],
            label=label,
            adv_label=r.adv_label[rows],
            p=r.p,
            forwards=r.forwards.reshape(k, n).sum(dim=0),
            backwards=r.backwards.reshape(k, n).sum(dim=0),
        )

    def _run(
        self,
        model: Model,
        x0: torch.Tensor,
        first: torch.Tensor,
        clean: torch.Tensor | None,
        target: torch.Tensor | None,
    ) -> AttackResult:
        """The attack from the points ``first``; ``clean``: the logits at ``x0`` when already known
        (then ``first`` may be other starting points); ``target``: a class per row to aim at, or ``None``.

        The state of the samples still running is kept in compact tensors (no
        indexing in the common case where none stops early); a sample whose
        logits or gradient turn non-finite is written to the output and dropped.
        """
        n, dev, dt = x0.shape[0], x0.device, x0.dtype
        out = _Outputs(x0, first)
        if n == 0:  # nothing to attack; the model is not called
            return out.result(self.norm)
        started = clean is not None
        lab = torch.zeros(n, dtype=torch.int64, device=dev) if clean is None else clean.argmax(dim=1)
        n_classes = 0 if clean is None else clean.shape[1]
        ids = torch.arange(n, device=dev)  # original index of each running sample
        xs, pt = x0, first  # the clean inputs and the current points (what the model sees)
        eps = self._first_eps(n, torch.empty(n, dtype=dt, device=dev))
        worst = None if self.bounds is None else _worst_norms(x0, self.bounds, self.norm)
        best_norm = torch.full((n,), math.inf, dtype=dt, device=dev)
        best_pt = x0.clone()
        best_label = torch.zeros(n, dtype=torch.int64, device=dev)
        found = torch.zeros(n, dtype=torch.bool, device=dev)
        pred = lab
        for i in range(self.steps + 1):
            final = i == self.steps
            v = pt.detach().requires_grad_(not final)
            with torch.set_grad_enabled(not final):
                logits = model(v)
            if i == 0 and not started:
                logits = check_logits(logits, n)
                n_classes = logits.shape[1]
                lab = logits.detach().argmax(dim=1)
            else:
                check_later_logits(logits, v.shape[0], n_classes)
            o = logits.detach()
            finite = torch.isfinite(o).all(dim=1)
            pred = o.argmax(dim=1)
            adv = (pred != lab) & finite
            d = v.detach() - xs
            dnorm = norms(d, self.norm)
            better = adv & (dnorm < best_norm)
            best_norm = torch.where(better, dnorm, best_norm)
            best_pt = torch.where(expand(better, v), v.detach(), best_pt)
            best_label = torch.where(better, pred, best_label)
            found = found | adv
            if final:
                break
            loss = self._loss(logits, lab, target)
            grad = _grad(loss, v)
            good = finite & torch.isfinite(grad.reshape(grad.shape[0], -1)).all(dim=1)
            if not bool(good.all()):
                if self.on_nonfinite == "raise":
                    raise nonfinite_error(self.name, ids[~good], i)
                # those samples stop here and keep what was verified before
                bad = ~good
                out.store(ids[bad], v.detach()[bad], found[bad], best_pt[bad], best_label[bad], pred[bad], lab[bad],
                          steps=i, evaluations=i + 1, gradients=i + 1)
                ids, xs, d, lab, eps = ids[good], xs[good], d[good], lab[good], eps[good]
                best_norm, best_pt, best_label, found = best_norm[good], best_pt[good], best_label[good], found[good]
                adv, dnorm, loss, grad = adv[good], dnorm[good], loss[good], grad[good]
                worst = None if worst is None else worst[good]
                target = None if target is None else target[good]
                if not ids.numel():
                    break
            if self.bounds is not None:
                # directions the box blocks: a coordinate on a face cannot move out of it,
                # so neither the step nor the extrapolation to the boundary may count it
                vd = v.detach()
                blocked = ((vd <= self.bounds[0]) & (grad > 0)) | ((vd >= self.bounds[1]) & (grad < 0))
                grad = grad.masked_fill(blocked, 0.0)
            eps = self._next_eps(i, eps, adv, found, dnorm, best_norm, loss.detach(), grad)
            if worst is not None:
                eps = torch.minimum(eps, worst)
            alpha = _cosine(self.alpha, self.alpha_final, i, self.steps)
            gnorm = norms(grad, "l2").clamp_min_(_TINY)
            step = project_to_ball(d - expand(alpha / gnorm, grad) * grad, eps, self.norm)
            pt = xs + step
            if self.bounds is not None:
                pt = pt.clamp_(self.bounds[0], self.bounds[1])
        if ids.numel():
            ran = self.steps
            out.store(ids, pt.detach(), found, best_pt, best_label, pred, lab,
                      steps=ran, evaluations=ran + 1, gradients=ran)
        return out.result(self.norm)


def _grad(loss: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Gradient of ``loss.sum()`` with respect to ``d`` (zeros where the loss does not depend on it)."""
    if not loss.requires_grad:
        return torch.zeros_like(d)
    (g,) = torch.autograd.grad(loss.sum(), d, allow_unused=True)
    return torch.zeros_like(d) if g is None else g


class _Outputs:
    """The per-sample outputs of a minimal-norm attack, filled as samples finish."""

    def __init__(self, x0: torch.Tensor, first: torch.Tensor) -> None:
        n, dev = x0.shape[0], x0.device
        self.x0 = x0
        self.points = first.detach().clone()
        self.success = torch.zeros(n, dtype=torch.bool, device=dev)
        self.iterations = torch.zeros(n, dtype=torch.int64, device=dev)
        self.label = torch.zeros(n, dtype=torch.int64, device=dev)
        self.adv_label = torch.zeros(n, dtype=torch.int64, device=dev)
        self.forwards, self.backwards = counts(n, dev)

    def store(
        self,
        ids: torch.Tensor,
        last: torch.Tensor,
        found: torch.Tensor,
        best: torch.Tensor,
        best_label: torch.Tensor,
        last_pred: torch.Tensor,
        label: torch.Tensor,
        *,
        steps: int,
        evaluations: int,
        gradients: int,
    ) -> None:
        """Samples ``ids`` are done: the best adversarial point if one was found, else the last iterate."""
        self.points[ids] = torch.where(expand(found, last), best, last)
        self.success[ids] = found
        self.adv_label[ids] = torch.where(found, best_label, last_pred)
        self.label[ids] = label
        self.iterations[ids] = steps
        self.forwards[ids] = evaluations
        self.backwards[ids] = gradients

    def result(self, p: str) -> AttackResult:
        pert = self.points - self.x0
        return AttackResult(
            perturbation=pert,
            adversarial=self.points,
            norm=norms(pert, p),
            success=self.success,
            iterations=self.iterations,
            label=self.label,
            adv_label=self.adv_label,
            p=p,
            forwards=self.forwards,
            backwards=self.backwards,
        )


class FMN(_MinNormAttack):
    r"""Fast minimum-norm attack (Pintor, Roli, Brendel & Biggio, NeurIPS 2021), L2 or L-infinity.

    With the logit margin :math:`L(\delta) = F_\ell(x + \delta) - \max_{k \ne
    \ell} F_k(x + \delta)` (positive while the label holds), step :math:`k`
    updates the radius

    .. math::

        \epsilon_k = \begin{cases}
            \min\big(\epsilon_{k-1}(1 - \gamma_k),\ \|\delta^\star\|\big) & \text{adversarial,} \\
            \epsilon_{k-1}(1 + \gamma_k) & \text{not adversarial, one found before,} \\
            \max\big(\|\delta_{k-1}\| + L(\delta_{k-1}) / \|\nabla L\|_*,\
                 (1 + \gamma_k)\|\delta_{k-1}\|\big) & \text{none found yet,}
        \end{cases}

    (:math:`\delta^\star` the best adversarial perturbation so far,
    :math:`\|\cdot\|_*` the dual norm: the last case extrapolates linearly to
    the boundary; the paper's rule has the first term only, which leaves an
    iterate that lands exactly on a flat boundary, not adversarial by
    rounding, there for good), then takes the step
    :math:`\delta_k = \Pi_{\epsilon_k}(\delta_{k-1} - \alpha_k \nabla L / \|\nabla L\|_2)`
    projected onto the ball and clipped to the box.  :math:`\alpha_k` and
    :math:`\gamma_k` decay from ``alpha`` to ``alpha_final`` and from ``gamma``
    to ``gamma_final`` by cosine annealing.

    Parameters
    ----------
    norm : {"l2", "linf"}
        Norm in which perturbations are minimised and reported.
    steps : int
        Gradient steps (``>= 1``); each costs one forward and one backward pass
        of the batch, and the last iterate is evaluated too.
    alpha : float
        First step length (``> 0``), in the L2 norm (the gradient is normalised
        by its L2 norm for both norms).
    alpha_final : float or None
        Last step length (``0 <= alpha_final <= alpha``; ``None``: ``alpha / 100``).
    gamma, gamma_final : float
        First and last relative change of the radius, in ``(0, 1)``.
    bounds : (float, float) or None
        Box every iterate is clipped to; ``None`` for unbounded inputs (latents).
    on_nonfinite : {"fail", "raise"}
        NaN or infinite logits or gradients after the clean inputs: ``"fail"``
        stops those samples, which keep the best adversarial found before (or
        fail); ``"raise"`` raises a ValueError.

    Notes
    -----
    No gradient is left in the model's parameters (gradients are taken with
    respect to the perturbation only) and its mode is not changed; a module
    with batch-norm or dropout in training mode is refused.  The returned
    distances are upper estimates of the minimal ones.

    Examples
    --------
    On an affine classifier the minimal L2 distance is :math:`|w \cdot x - c| / \|w\|_2`:

    >>> import torch
    >>> w = torch.tensor([3.0, 4.0], dtype=torch.float64)
    >>> model = lambda x: torch.stack([torch.zeros(len(x), dtype=x.dtype), x @ w - 1.0], dim=1)
    >>> x = torch.zeros(1, 2, dtype=torch.float64)
    >>> res = FMN(steps=50)(model, x)
    >>> bool(res.success), res.label.item(), res.adv_label.item()
    (True, 0, 1)
    >>> bool(0.2 <= res.norm.item() <= 0.2 * 1.01)
    True
    """

    name = "FMN"

    def __init__(
        self,
        *,
        norm: str = "l2",
        steps: int = 100,
        alpha: float = 1.0,
        alpha_final: float | None = None,
        gamma: float = 0.05,
        gamma_final: float = 0.001,
        bounds: tuple[float, float] | None = None,
        on_nonfinite: str = "fail",
        init_attack: Any = None,
        targets: int | None = None,
    ) -> None:
        super().__init__(
            norm=norm,
            steps=steps,
            alpha=alpha,
            alpha_final=alpha_final,
            bounds=bounds,
            on_nonfinite=on_nonfinite,
            init_attack=init_attack,
        )
        self._targets = None if targets is None else check_int("targets", targets, minimum=1)
        self.gamma = check_open_probability("gamma", gamma)
        self.gamma_final = check_open_probability("gamma_final", gamma_final)
        if self.gamma_final > self.gamma:
            raise ValueError(f"gamma_final must be <= gamma={self.gamma!r}, got gamma_final={gamma_final!r}")

    @property
    def targets(self) -> int | None:
        """Number of target classes run (``None``: the untargeted attack)."""
        return self._targets

    def __repr__(self) -> str:
        return (
            f"FMN(norm={self.norm!r}, steps={self.steps!r}, alpha={self.alpha!r}, alpha_final={self.alpha_final!r}, "
            f"gamma={self.gamma!r}, gamma_final={self.gamma_final!r}, bounds={self.bounds!r}"
            + ("" if self._targets is None else f", targets={self._targets!r}")
            + ")"
        )

    def _loss(self, logits: torch.Tensor, label: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        if target is None:
            return margin(logits, label)
        return (logits.gather(1, label[:, None]) - logits.gather(1, target[:, None]))[:, 0]

    def _first_eps(self, n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.full_like(like, math.inf)

    def _next_eps(
        self,
        i: int,
        eps: torch.Tensor,
        adv: torch.Tensor,
        found: torch.Tensor,
        dnorm: torch.Tensor,
        best: torch.Tensor,
        loss: torch.Tensor,
        grad: torch.Tensor,
    ) -> torch.Tensor:
        gamma = _cosine(self.gamma, self.gamma_final, i, self.steps)
        to_boundary = dnorm + loss.clamp_min(0) / dual_norms(grad, self.norm).clamp_min(_TINY)
        # an iterate that the extrapolation leaves on the boundary (an affine
        # model, rounding) would stay there: grow at least like the found case
        to_boundary = torch.maximum(to_boundary, dnorm * (1 + gamma))
        grow = torch.where(found, eps * (1 + gamma), to_boundary)
        return torch.where(adv, torch.minimum(eps * (1 - gamma), best), grow)


class DDN(_MinNormAttack):
    r"""Decoupled direction and norm attack (Rony et al., CVPR 2019), L2.

    The direction comes from a normalised ascent step on the cross-entropy of
    the model's label, :math:`\delta' = \delta_{k-1} + \alpha_k \nabla
    \mathrm{CE} / \|\nabla \mathrm{CE}\|_2`; the norm from a radius that moves
    by a fixed factor:

    .. math::

        \epsilon_k = \begin{cases}
            (1 - \gamma) \min(\epsilon_{k-1}, \|\delta^\star\|) & \text{adversarial,} \\
            (1 + \gamma)\, \epsilon_{k-1} & \text{not adversarial,}
        \end{cases}

    and :math:`\delta_k` is :math:`\delta'` projected onto the *ball* of radius
    :math:`\epsilon_k` and clipped to the box.  The paper rescales onto the
    sphere :math:`\|\delta_k\| = \epsilon_k` instead; with the ball a
    perturbation that is already smaller stays smaller, and the radius shrinks
    from the best adversarial norm :math:`\|\delta^\star\|` rather than from a
    radius the iterate may not have reached.  :math:`\alpha_k` decays from
    ``alpha`` to ``alpha_final`` by cosine annealing.

    Parameters
    ----------
    norm : {"l2"}
        DDN is an L2 attack.
    steps : int
        Gradient steps (``>= 1``); the last iterate is evaluated too.
    init_norm : float
        First radius :math:`\epsilon_0` (``> 0``).
    gamma : float
        Relative change of the radius per step, in ``(0, 1)``.
    alpha : float
        First step length (``> 0``).
    alpha_final : float or None
        Last step length (``None``: ``alpha / 100``).
    bounds : (float, float) or None
        Box every iterate is clipped to; ``None`` for unbounded inputs.
    on_nonfinite : {"fail", "raise"}
        As for :class:`FMN`.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([3.0, 4.0], dtype=torch.float64)
    >>> model = lambda x: torch.stack([torch.zeros(len(x), dtype=x.dtype), x @ w - 1.0], dim=1)
    >>> res = DDN(steps=100)(model, torch.zeros(1, 2, dtype=torch.float64))
    >>> bool(res.success), bool(0.2 <= res.norm.item() <= 0.2 * 1.01)
    (True, True)
    """

    name = "DDN"

    def __init__(
        self,
        *,
        norm: str = "l2",
        steps: int = 100,
        init_norm: float = 1.0,
        gamma: float = 0.05,
        alpha: float = 1.0,
        alpha_final: float | None = None,
        bounds: tuple[float, float] | None = None,
        on_nonfinite: str = "fail",
        init_attack: Any = None,
    ) -> None:
        super().__init__(
            norm=norm,
            steps=steps,
            alpha=alpha,
            alpha_final=alpha_final,
            bounds=bounds,
            on_nonfinite=on_nonfinite,
            init_attack=init_attack,
            norms_allowed=("l2",),
        )
        self.init_norm = check_positive("init_norm", init_norm)
        self.gamma = check_open_probability("gamma", gamma)

    def __repr__(self) -> str:
        return (
            f"DDN(steps={self.steps!r}, init_norm={self.init_norm!r}, gamma={self.gamma!r}, alpha={self.alpha!r}, "
            f"alpha_final={self.alpha_final!r}, bounds={self.bounds!r})"
        )

    def _loss(self, logits: torch.Tensor, label: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        # minimised: minus the cross-entropy of the label, i.e. its log-probability
        return F.log_softmax(logits, dim=1).gather(1, label[:, None])[:, 0]

    def _first_eps(self, n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.full_like(like, self.init_norm)

    def _next_eps(
        self,
        i: int,
        eps: torch.Tensor,
        adv: torch.Tensor,
        found: torch.Tensor,
        dnorm: torch.Tensor,
        best: torch.Tensor,
        loss: torch.Tensor,
        grad: torch.Tensor,
    ) -> torch.Tensor:
        return torch.where(adv, (1 - self.gamma) * torch.minimum(eps, best), (1 + self.gamma) * eps)
