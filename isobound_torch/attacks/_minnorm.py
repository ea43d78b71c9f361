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

import math
from typing import Any

import torch
import torch.nn.functional as F

from .._validate import check_choice, check_int, check_nonnegative, check_open_probability, check_positive, check_tensor
from ._base import (
    NONFINITE,
    AttackResult,
    Model,
    bounds_pair,
    check_later_logits,
    check_logits,
    check_norm,
    clip,
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

    # -------------------------------------------------------------- subclass hooks
    def _loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
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
        delta0 = None
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
            delta0 = start.to(device=x0.device, dtype=x0.dtype) - x0
        with torch.inference_mode(False), torch.enable_grad():
            x0 = x0.clone()  # a normal tensor even if x came from inference mode
            return self._run(model, x0, torch.zeros_like(x0) if delta0 is None else delta0.clone(), delta0 is not None)

    def attack(self, model: Model, x: torch.Tensor, *, init: torch.Tensor | None = None) -> AttackResult:
        """Same as calling the attack."""
        return self(model, x, init=init)

    # -------------------------------------------------------------- the loop
    def _run(self, model: Model, x0: torch.Tensor, delta: torch.Tensor, started: bool) -> AttackResult:
        """The attack from ``x0 + delta``; ``started``: ``delta`` is a given start, not zero."""
        n, dev, dt = x0.shape[0], x0.device, x0.dtype
        forwards, backwards = counts(n, dev)
        iterations = torch.zeros(n, dtype=torch.int64, device=dev)
        label = torch.zeros(n, dtype=torch.int64, device=dev)
        last_pred = torch.zeros(n, dtype=torch.int64, device=dev)
        found = torch.zeros(n, dtype=torch.bool, device=dev)
        best_norm = torch.full((n,), math.inf, dtype=dt, device=dev)
        best_delta = torch.zeros_like(x0)
        best_label = torch.zeros(n, dtype=torch.int64, device=dev)
        if n == 0:  # nothing to attack; the model is not called
            return self._result(x0, delta, found, best_delta, best_label, last_pred, iterations, label, forwards, backwards)
        eps = self._first_eps(n, best_norm)
        worst = _worst_norms(x0, self.bounds, self.norm)
        active: torch.Tensor | None = None  # None: every sample; else the indices still running
        n_classes = 0
        if started:  # the label is the prediction at the clean input, not at the start
            with torch.no_grad():
                clean = check_logits(model(x0), n)
            forwards += 1
            n_classes = clean.shape[1]
            label = clean.argmax(dim=1)
        for i in range(self.steps + 1):
            final = i == self.steps
            rows: Any = slice(None) if active is None else active
            d = delta[rows].detach().requires_grad_(not final)
            xs = x0[rows]
            with torch.set_grad_enabled(not final):
                logits = model(xs + d)
            forwards[rows] += 1
            if i == 0 and not started:
                logits = check_logits(logits, n)
                n_classes = logits.shape[1]
                label = logits.detach().argmax(dim=1)
            else:
                check_later_logits(logits, d.shape[0], n_classes)
            lab = label[rows]
            out = logits.detach()
            finite = torch.isfinite(out).all(dim=1)
            pred = out.argmax(dim=1)
            last_pred[rows] = pred
            adv = (pred != lab) & finite
            dnorm = norms(d.detach(), self.norm)
            better = adv & (dnorm < best_norm[rows])
            if bool(better.any()):
                idx = torch.arange(n, device=dev)[rows][better]
                best_norm[idx] = dnorm[better]
                best_delta[idx] = d.detach()[better]
                best_label[idx] = pred[better]
            found[rows] |= adv
            if final:
                break
            loss = self._loss(logits, lab)
            safe = torch.where(finite, loss, torch.zeros_like(loss))
            if safe.requires_grad:
                (grad,) = torch.autograd.grad(safe.sum(), d, allow_unused=True)
                grad = torch.zeros_like(d) if grad is None else grad
            else:
                grad = torch.zeros_like(d)
            backwards[rows] += 1
            good = finite & torch.isfinite(grad.reshape(grad.shape[0], -1)).all(dim=1)
            if not bool(good.all()):
                ids = torch.arange(n, device=dev)[rows]
                if self.on_nonfinite == "raise":
                    raise nonfinite_error(self.name, ids[~good], i)
                # those samples stop here and keep what was verified before
                active = ids[good]
                if not active.numel():
                    break
                rows, d, xs = active, d[good], xs[good]
                adv, dnorm, loss, grad = adv[good], dnorm[good], loss[good], grad[good]
            eps_new = self._next_eps(
                i, eps[rows], adv, found[rows], dnorm, best_norm[rows], loss.detach(), grad
            )
            eps_new = torch.minimum(eps_new, worst[rows])
            alpha = _cosine(self.alpha, self.alpha_final, i, self.steps)
            gnorm = norms(grad, "l2").clamp_min(_TINY)
            step = d.detach() - expand(alpha / gnorm, grad) * grad
            step = project_to_ball(step, eps_new, self.norm)
            delta[rows] = clip(xs + step, self.bounds) - xs
            eps[rows] = eps_new
            iterations[rows] += 1
        return self._result(x0, delta, found, best_delta, best_label, last_pred, iterations, label, forwards, backwards)

    def _result(
        self,
        x0: torch.Tensor,
        delta: torch.Tensor,
        found: torch.Tensor,
        best_delta: torch.Tensor,
        best_label: torch.Tensor,
        last_pred: torch.Tensor,
        iterations: torch.Tensor,
        label: torch.Tensor,
        forwards: torch.Tensor,
        backwards: torch.Tensor,
    ) -> AttackResult:
        pert = torch.where(expand(found, x0), best_delta, delta.detach())
        adversarial = x0 + pert
        return AttackResult(
            perturbation=adversarial - x0,
            adversarial=adversarial,
            norm=norms(adversarial - x0, self.norm),
            success=found,
            iterations=iterations,
            label=label,
            adv_label=torch.where(found, best_label, last_pred),
            p=self.norm,
            forwards=forwards,
            backwards=backwards,
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
    ) -> None:
        super().__init__(
            norm=norm, steps=steps, alpha=alpha, alpha_final=alpha_final, bounds=bounds, on_nonfinite=on_nonfinite
        )
        self.gamma = check_open_probability("gamma", gamma)
        self.gamma_final = check_open_probability("gamma_final", gamma_final)
        if self.gamma_final > self.gamma:
            raise ValueError(f"gamma_final must be <= gamma={self.gamma!r}, got gamma_final={gamma_final!r}")

    def __repr__(self) -> str:
        return (
            f"FMN(norm={self.norm!r}, steps={self.steps!r}, alpha={self.alpha!r}, alpha_final={self.alpha_final!r}, "
            f"gamma={self.gamma!r}, gamma_final={self.gamma_final!r}, bounds={self.bounds!r})"
        )

    def _loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return margin(logits, label)

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
    ) -> None:
        super().__init__(
            norm=norm,
            steps=steps,
            alpha=alpha,
            alpha_final=alpha_final,
            bounds=bounds,
            on_nonfinite=on_nonfinite,
            norms_allowed=("l2",),
        )
        self.init_norm = check_positive("init_norm", init_norm)
        self.gamma = check_open_probability("gamma", gamma)

    def __repr__(self) -> str:
        return (
            f"DDN(steps={self.steps!r}, init_norm={self.init_norm!r}, gamma={self.gamma!r}, alpha={self.alpha!r}, "
            f"alpha_final={self.alpha_final!r}, bounds={self.bounds!r})"
        )

    def _loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
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
