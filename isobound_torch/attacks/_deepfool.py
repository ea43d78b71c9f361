r"""DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016), batched, L2 and L-infinity.

DeepFool estimates the smallest perturbation that changes a classifier's
decision by repeatedly linearising the classifier around the current point.
At the current point :math:`x_i` with logits :math:`F` and the original
label :math:`\ell`, every candidate class :math:`k \ne \ell` gives the
linearised decision boundary of :math:`f_k = F_k - F_\ell` with normal
:math:`w_k = \nabla f_k(x_i)`; the closest such boundary is

.. math::

    \hat k = \arg\min_{k \ne \ell} \frac{|f_k(x_i)|}{\|w_k\|_*},

with :math:`\|\cdot\|_*` the dual norm (L2 for the L2 attack, L1 for the
L-infinity attack).  The step to that boundary is

.. math::

    r_i = \Big(\frac{|f_{\hat k}|}{\|w_{\hat k}\|_*} + 10^{-4}\Big)
    \frac{w_{\hat k}}{\|w_{\hat k}\|_2} \ \text{(L2)}, \qquad
    r_i = \Big(\frac{|f_{\hat k}|}{\|w_{\hat k}\|_1} + 10^{-4}\Big)
    \operatorname{sign}(w_{\hat k}) \ \text{(L}_\infty\text{)},

the small constant keeping a sample from stalling on the boundary.  The steps
accumulate in :math:`r = \sum_i r_i` and, as in the original algorithm, the
next point is :math:`x_{i+1} = x_0 + (1 + \text{overshoot})\, r`, clipped to
the box when one is given.  A sample stops as soon as its label differs from
:math:`\ell`; the remaining ones go on, so later iterations run on a smaller
batch.

Robustness is relative to the classifier's *own* prediction
:math:`\ell = \arg\max_k F_k(x_0)`: no ground-truth label is needed, and an
input that the classifier gets wrong is attacked like any other (DeepFool
moves it to another class than the one predicted).  This is the definition
of :math:`r_{unc}`, :math:`r_{in}` and :math:`r_Z` in the paper.

The returned norms are *upper* estimates of the minimal distance (a found
perturbation is one that works, not necessarily the smallest).  Refinement
(``refine=True``) shrinks each successful perturbation along its own
direction by a line search, which removes most of the overshoot and keeps the
result adversarial.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from .._validate import check_bool, check_choice, check_int, check_nonnegative, check_open_probability, check_tensor
from ._base import (
    MARGIN_ULPS,
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
    excess,
    expand,
    nonfinite_error,
    norms,
    prepare,
)

__all__ = ["DeepFool", "DeepFoolResult", "refine_perturbations", "MIN_STEP"]

#: Added to every step length (input units), as in the reference DeepFool code.
MIN_STEP = 1e-4
#: Guards divisions by the norm of a zero gradient.
_TINY = 1e-12
GRADS = ("auto", "batched", "loop")
R = TypeVar("R", bound=AttackResult)


@dataclass(frozen=True, eq=False)
class DeepFoolResult(AttackResult):
    """Per-sample outcome of :class:`DeepFool`: an :class:`AttackResult` plus ``refined``.

    For a failed sample ``perturbation`` is the last perturbation tried (not
    adversarial); ``iterations`` counts DeepFool steps (0 only if the input was
    already on another class's side, which cannot happen for the argmax).

    Attributes
    ----------
    refined : bool
        Whether the perturbations were shrunk by :func:`refine_perturbations`.
    """

    refined: bool = False


class DeepFool:
    r"""Batched multi-class DeepFool, L2 or L-infinity (the attack the paper uses).

    Parameters
    ----------
    norm : {"l2", "linf"}
        Norm in which perturbations are minimised and reported.
    overshoot : float
        ``>= 0``; the iterate is ``x0 + (1 + overshoot) * r`` with ``r`` the sum
        of the linearised steps (0.02 in the original paper).
    max_iter : int
        ``>= 1``; samples that have not flipped after so many steps fail.
    candidates : int or None
        Number of classes considered, the predicted class included: the
        ``candidates`` classes with the largest logits on the clean input.
        ``None`` (default): all classes; values above ``K`` mean all classes.
    bounds : (float, float) or None
        Box ``[lo, hi]`` the inputs live in (e.g. ``(0, 1)`` for images); every
        iterate is clipped to it, and inputs outside it are rejected.
    refine : bool
        Shrink each successful perturbation along its direction by a line
        search (:func:`refine_perturbations`): still adversarial, and closer to the
        boundary than DeepFool's overshoot leaves it.
    refine_steps : int
        At most so many line-search evaluations (forward passes on the
        samples still being refined) per sample; ``>= 1``.
    refine_rtol : float or None
        Relative tolerance of the refinement's line search, in ``(0, 1)``
        (``None``: 64 ulps of the input's dtype).
    grads : {"auto", "batched", "loop"}
        How the ``C - 1`` boundary normals of an iteration are computed.
        ``"loop"``: one backward pass per candidate class.  ``"batched"``: all
        of them in one call (:func:`torch.autograd.grad` with
        ``is_grads_batched=True``), which holds the ``(C - 1)``-row Jacobian of
        the active samples in memory.  ``"auto"`` (default): batched for a
        module without convolutions, the loop otherwise (convolutions and
        callables that are not modules); see Notes.  The results agree up to
        rounding.
    on_nonfinite : {"fail", "raise"}
        What happens when the model returns NaN or infinite logits (or a step
        turns non-finite) after the clean inputs: ``"fail"`` (default) stops
        those samples, which are reported as failures (distance ``+inf``);
        ``"raise"`` raises a :class:`ValueError` naming them.

    Notes
    -----
    * **Cost.** Each iteration runs one forward pass and ``C - 1``
      vector-Jacobian products (one per candidate class other than the
      predicted one) on the samples that have not flipped yet; the result's
      ``forwards`` and ``backwards`` count them per sample.  With
      ``grads="loop"`` memory grows linearly with batch size: only the best
      boundary normal per sample is kept, never the full Jacobian.
    * **Which gradient path.** On one CPU thread (``benchmarks/bench_minnorm.py``
      and the measurements quoted in ``benchmarks/RESULTS.md``) the batched call
      is faster for fully connected models, where the loop's cost is mostly
      per-call overhead (up to 3x at small batches), and slower for
      convolutional ones at large batches (about 0.7x on LeNet at 64 and 256
      active rows: the batched convolution backward does the same arithmetic
      with extra copies), though faster there at 16 rows or fewer (1.2-1.5x);
      over whole attacks on convolutional networks the two paths came within
      about 10% of each other.  ``"auto"`` follows the large-batch
      measurement; where the batched call would fall
      back to a slow per-row loop (an operation without a batching rule) it
      switches to the loop for the rest of the call.
    * **No side effects on the model.** Gradients are taken with
      :func:`torch.autograd.grad` with respect to the inputs only, so nothing is
      accumulated in the parameters' ``.grad``; ``requires_grad`` flags are not
      touched.  The model's mode is not changed either: a module with
      batch-norm or dropout layers in training mode is refused (call
      ``model.eval()`` yourself), since batch statistics couple the samples.
    * **Device and dtype** follow the input; the model must accept it.
      Computation is deterministic when the model is.
    * Any callable mapping a batch to ``(batch, K)`` logits works, e.g.
      ``lambda z: classifier(generator(z))`` for latent-space robustness.

    Examples
    --------
    An affine classifier: the first DeepFool step reaches the nearest decision
    hyperplane exactly (plus the ``1e-4`` minimum step).

    >>> import torch
    >>> W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    >>> model = lambda x: x @ W.T
    >>> x = torch.tensor([[2.0, 0.5]], dtype=torch.float64)
    >>> res = DeepFool(overshoot=0.0)(model, x)
    >>> res.label.item(), res.adv_label.item(), res.iterations.item(), res.success.item()
    (0, 1, 1, True)
    >>> round(res.norm.item(), 6), round(1.5 / 2 ** 0.5 + 1e-4, 6)
    (1.060760, 1.06076)
    >>> refined = DeepFool(refine=True)(model, x)
    >>> bool(1.5 / 2 ** 0.5 <= refined.norm.item() < 1.5 / 2 ** 0.5 * (1 + 1e-5))
    True
    """

    def __init__(
        self,
        *,
        norm: str = "l2",
        overshoot: float = 0.02,
        max_iter: int = 50,
        candidates: int | None = None,
        bounds: tuple[float, float] | None = None,
        refine: bool = False,
        refine_steps: int = 24,
        refine_rtol: float | None = None,
        grads: str = "auto",
        on_nonfinite: str = "fail",
    ) -> None:
        self.norm = check_norm(norm)
        self.overshoot = check_nonnegative("overshoot", overshoot)
        self.max_iter = check_int("max_iter", max_iter, minimum=1)
        self.candidates = None if candidates is None else check_int("candidates", candidates, minimum=2)
        self.bounds = bounds_pair(bounds)
        self.refine = check_bool("refine", refine)
        self.refine_steps = check_int("refine_steps", refine_steps, minimum=1)
        self.refine_rtol = None if refine_rtol is None else check_open_probability("refine_rtol", refine_rtol)
        self.grads = check_choice("grads", grads, GRADS)
        self.on_nonfinite = check_choice("on_nonfinite", on_nonfinite, NONFINITE)

    def __repr__(self) -> str:
        return (
            f"DeepFool(norm={self.norm!r}, overshoot={self.overshoot!r}, max_iter={self.max_iter!r}, "
            f"candidates={self.candidates!r}, bounds={self.bounds!r}, refine={self.refine!r})"
        )

    # ------------------------------------------------------------------ public
    def __call__(self, model: Model, x: torch.Tensor) -> DeepFoolResult:
        """Attack ``model`` on the batch ``x`` (first dimension = samples).

        Parameters
        ----------
        model : callable
            Maps a batch of shape ``x.shape`` to logits of shape ``(batch, K)``.
        x : torch.Tensor
            Floating-point inputs, at least 2-d, finite, inside ``bounds``.

        Returns
        -------
        DeepFoolResult

        Raises
        ------
        TypeError
            For a model that is not callable or returns something other than a
            floating-point tensor, or an ``x`` that is not a floating-point
            tensor (the error is also a ``ValueError``).
        ValueError
            For a lower-dimensional, NaN/inf or out-of-box ``x``, a model whose
            output is not ``(batch, K)`` finite logits with ``K >= 2``, a module
            with training-mode batch-norm or dropout, or non-finite logits
            mid-attack with ``on_nonfinite="raise"``.
        """
        x0 = prepare(model, x, self.bounds)
        with torch.inference_mode(False), torch.enable_grad():
            x0 = x0.clone()  # a normal tensor even if x came from inference mode
            result, margins = self._attack(model, x0)
            if self.refine:
                result = _refine(model, x0, result, self.refine_steps, self.refine_rtol, self.bounds, margins)
        return result

    def attack(self, model: Model, x: torch.Tensor) -> DeepFoolResult:
        """Same as calling the attack: ``DeepFool(...).attack(model, x)``."""
        return self(model, x)

    # ------------------------------------------------------------------ core
    def _attack(self, model: Model, x0: torch.Tensor) -> tuple[DeepFoolResult, tuple[torch.Tensor, torch.Tensor]]:
        """The attack, plus :func:`excess` at the clean and at the returned points (for refinement)."""
        n, dev = x0.shape[0], x0.device
        label = torch.zeros(n, dtype=torch.int64, device=dev)
        adv_label = torch.zeros(n, dtype=torch.int64, device=dev)
        iterations = torch.zeros(n, dtype=torch.int64, device=dev)
        success = torch.zeros(n, dtype=torch.bool, device=dev)
        forwards, backwards = counts(n, dev)
        r_tot = torch.zeros_like(x0)
        adversarial = x0.clone()
        if n == 0:  # nothing to attack; the model is not called
            empty = torch.zeros(0, dtype=x0.dtype, device=dev)
            res = DeepFoolResult(
                r_tot, adversarial, empty, success, iterations, label, adv_label, self.norm,
                forwards=forwards, backwards=backwards,
            )
            return res, (empty, empty)

        batched = self.grads == "batched" or (self.grads == "auto" and _prefers_batched(model))
        active = torch.arange(n, device=dev)  # indices of samples still running
        x_cur = x0
        cand = torch.zeros(n, 0, dtype=torch.int64, device=dev)
        n_classes = 0
        scale = 1.0 + self.overshoot
        for it in range(self.max_iter + 1):
            last = it == self.max_iter
            xa = x_cur.detach().requires_grad_(not last)
            with torch.set_grad_enabled(not last):
                logits = model(xa)
            forwards[active] += 1
            if it == 0:
                logits = check_logits(logits, n)
                n_classes = logits.shape[1]
                label = logits.detach().argmax(dim=1)
                excess_clean = excess(logits.detach(), label).to(x0.dtype)
                excess_final = excess_clean.clone()
                cand = self._candidate_classes(logits.detach(), label)
            else:
                check_later_logits(logits, active.shape[0], n_classes)
            lab = label[active]
            pred = logits.detach().argmax(dim=1)
            finite = torch.isfinite(logits.detach()).all(dim=1)
            if self.on_nonfinite == "raise" and not bool(finite.all()):
                raise nonfinite_error("DeepFool", active[~finite], it)
            flipped = (pred != lab) & finite
            stop = flipped | ~finite | last
            if bool(stop.any()):
                idx = active[stop]
                success[idx] = flipped[stop]
                adv_label[idx] = pred[stop]
                iterations[idx] = it
                adversarial[idx] = x_cur[stop].detach()
                excess_final[idx] = excess(logits.detach()[stop], lab[stop]).to(x0.dtype)
            keep = ~stop
            n_keep = int(keep.sum())
            if n_keep == 0:
                break
            n_stop = keep.numel() - n_keep
            if n_stop * (cand.shape[1] - 1) > n_keep:
                # Many rows just finished: a fresh forward pass on the others is
                # cheaper than carrying the finished rows through C - 1 backward passes.
                active = active[keep]
                xa = x_cur[keep].detach().requires_grad_(True)
                logits = check_later_logits(model(xa), n_keep, n_classes)
                forwards[active] += 1
                step, batched = self._step(logits, xa, label[active], cand[active], None, batched)
                x_kept = x_cur[keep]
            else:
                step, batched = self._step(logits, xa, lab, cand[active], None if n_stop == 0 else keep, batched)
                active = active[keep]
                x_kept = x_cur if n_stop == 0 else x_cur[keep]
            backwards[active] += cand.shape[1] - 1
            bad = ~torch.isfinite(step.reshape(n_keep, -1)).all(dim=1)
            if bool(bad.any()):
                # a NaN or infinite gradient: the sample stops where it is, not adversarial
                if self.on_nonfinite == "raise":
                    raise nonfinite_error("DeepFool", active[bad], it)
                idx = active[bad]
                adversarial[idx] = x_kept[bad].detach()
                adv_label[idx] = label[idx]
                iterations[idx] = it
                excess_final[idx] = -math.inf
                active, step = active[~bad], step[~bad]
                if not active.numel():
                    break
            r_tot[active] += step
            x_cur = clip(x0[active] + scale * r_tot[active], self.bounds)
        perturbation = adversarial - x0
        result = DeepFoolResult(
            perturbation=perturbation,
            adversarial=adversarial,
            norm=norms(perturbation, self.norm),
            success=success,
            iterations=iterations,
            label=label,
            adv_label=adv_label,
            p=self.norm,
            refined=False,
            forwards=forwards,
            backwards=backwards,
        )
        return result, (excess_clean, excess_final)

    def _candidate_classes(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """``(n, C)`` class indices: the predicted class, then the next ``C - 1`` by logit."""
        k = logits.shape[1]
        c = k if self.candidates is None else min(self.candidates, k)
        others = logits.scatter(1, label[:, None], -math.inf)
        top = others.topk(c - 1, dim=1).indices
        return torch.cat([label[:, None], top], dim=1)

    def _step(
        self,
        logits: torch.Tensor,
        xa: torch.Tensor,
        lab: torch.Tensor,
        cand: torch.Tensor,
        keep: torch.Tensor | None,
        batched: bool,
    ) -> tuple[torch.Tensor, bool]:
        """DeepFool's linearised step for the rows of ``xa`` selected by ``keep`` (``None``: all).

        Returns the step and whether the batched gradient path is still to be used.
        """
        own = logits.gather(1, lab[:, None])
        diffs = logits.gather(1, cand[:, 1:]) - own  # (m, C-1), <= 0 before flipping
        f_abs = (diffs.detach() if keep is None else diffs.detach()[keep]).abs()
        if batched:
            w_all, batched = _batched_normals(diffs, xa, strict=self.grads == "batched")
        if batched:
            w_all = w_all if keep is None else w_all[:, keep]
            m = w_all.shape[1]
            dual = dual_norms(w_all.reshape((-1, *w_all.shape[2:])), self.norm).reshape(-1, m)
            dist = f_abs.T / (dual + _TINY)  # (C-1, m)
            j = dist.argmin(dim=0)  # the first minimum, as the loop below takes it
            rows = torch.arange(m, device=xa.device)
            best_w, best_dist, best_dual = w_all[j, rows], dist[j, rows], dual[j, rows]
        else:
            best_w, best_dist, best_dual = self._loop_normals(diffs, xa, f_abs, keep)
        # no usable gradient (a flat model): no step, the sample fails after max_iter
        length = torch.where(best_dual > 0, best_dist + MIN_STEP, torch.zeros_like(best_dist))
        if self.norm == "l2":
            return expand(length / (best_dual + _TINY), best_w) * best_w, batched
        return expand(length, best_w) * best_w.sign(), batched

    def _loop_normals(
        self, diffs: torch.Tensor, xa: torch.Tensor, f_abs: torch.Tensor, keep: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One backward pass per candidate class, keeping the closest boundary's normal."""
        n_other = diffs.shape[1]
        m = f_abs.shape[0]
        best_dist = torch.full((m,), math.inf, dtype=xa.dtype, device=xa.device)
        best_w = torch.zeros((m, *xa.shape[1:]), dtype=xa.dtype, device=xa.device)
        best_dual = torch.ones(m, dtype=xa.dtype, device=xa.device)
        for j in range(n_other):
            w = _input_grad(diffs[:, j].sum(), xa, retain_graph=j < n_other - 1)
            w = w if keep is None else w[keep]
            dual = dual_norms(w, self.norm)
            dist = f_abs[:, j] / (dual + _TINY)
            better = dist < best_dist
            if j == 0:
                better = torch.ones_like(better)
            best_dist = torch.where(better, dist, best_dist)
            best_dual = torch.where(better, dual, best_dual)
            best_w = torch.where(expand(better, w), w, best_w)
        return best_w, best_dist, best_dual


def _prefers_batched(model: Model) -> bool:
    """``grads="auto"``: batched gradients for modules without convolutions (see :class:`DeepFool`)."""
    if not isinstance(model, nn.Module):
        return False
    return not any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())


def _batched_normals(diffs: torch.Tensor, xa: torch.Tensor, *, strict: bool) -> tuple[torch.Tensor, bool]:
    """All ``C - 1`` gradients of ``diffs`` (summed over rows) in one call: ``(C - 1, m, ...)``.

    Returns ``(gradients, True)``, or ``(anything, False)`` when, with
    ``strict=False``, autograd warned that it fell back to a per-row loop or
    could not batch the backward pass: the caller then uses the loop.
    """
    m, c1 = diffs.shape
    if not diffs.requires_grad:
        return torch.zeros((c1, *xa.shape), dtype=xa.dtype, device=xa.device), True
    eye = torch.eye(c1, dtype=diffs.dtype, device=diffs.device)[:, None, :].expand(c1, m, c1)
    if strict:
        (g,) = torch.autograd.grad(
            diffs, xa, grad_outputs=eye, retain_graph=True, is_grads_batched=True, allow_unused=True
        )
        return (torch.zeros((c1, *xa.shape), dtype=xa.dtype, device=xa.device) if g is None else g), True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            (g,) = torch.autograd.grad(
                diffs, xa, grad_outputs=eye, retain_graph=True, is_grads_batched=True, allow_unused=True
            )
        except RuntimeError:
            return diffs, False
    if any("performance drop" in str(w.message) or "batching rule" in str(w.message) for w in caught):
        return diffs, False
    for w in caught:  # anything else is the model's own business: pass it on
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return (torch.zeros((c1, *xa.shape), dtype=xa.dtype, device=xa.device) if g is None else g), True


def _input_grad(output: torch.Tensor, x: torch.Tensor, *, retain_graph: bool) -> torch.Tensor:
    """Gradient of a scalar with respect to ``x`` only (zeros if it does not depend on ``x``)."""
    if not output.requires_grad:
        return torch.zeros_like(x)
    (grad,) = torch.autograd.grad(output, x, retain_graph=retain_graph, allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad


def refine_perturbations(
    model: Model,
    x: torch.Tensor,
    result: R,
    *,
    steps: int = 24,
    rtol: float | None = None,
    bounds: tuple[float, float] | None = None,
) -> R:
    r"""Shrink successful perturbations along their own direction, keeping them adversarial.

    For a successful sample with perturbation :math:`p` and original label
    :math:`\ell`, let :math:`m(s) = \max_{k \ne \ell} F_k(x + s p) - F_\ell(x + s p)`
    (minus a rounding allowance), so :math:`m(0) < 0 < m(1)`.  A bracket
    :math:`[s_{lo}, s_{hi}]` with :math:`m(s_{lo}) \le 0 < m(s_{hi})` is shrunk
    by the Illinois variant of regula falsi, with a bisection step whenever
    three steps in a row fail to halve the bracket; ``s_hi`` only ever moves to points where
    the model was seen to be adversarial.  It stops when the secant predicts
    the crossing within ``rtol * s_hi`` of ``s_hi``, when the bracket is
    that narrow, or after ``steps`` evaluations.  The perturbation :math:`s_{hi}\, p` is then checked once more
    on the whole batch; where rounding disagrees the unrefined perturbation is
    kept.  Failed samples are returned unchanged.

    The refined norm is still an *upper* estimate of the minimal distance: it
    removes DeepFool's overshoot (about 2% by default) along the direction it
    found, at the cost of a few forward passes (no backward).

    Parameters
    ----------
    model : callable
        The attacked model.
    x : torch.Tensor
        The clean inputs the result was computed on.
    result : AttackResult
        An attack's output on ``x`` (DeepFool's, or any other attack's).
    steps : int
        At most so many evaluations of the model (each on the samples not yet
        converged); ``>= 1``.  More steps never give a larger norm.
    rtol : float or None
        Relative tolerance on the scale ``s``, in ``(0, 1)``; ``None``: 64
        ulps of ``x``'s dtype (about ``8e-6`` in float32, ``1e-14`` in float64).
    bounds : (float, float) or None
        Box to clip to (the segment from ``x`` to an in-box point stays in the
        box; clipping only guards against rounding).

    Returns
    -------
    AttackResult
        Of the same type as ``result``; a :class:`DeepFoolResult` comes back with
        ``refined=True``.
    """
    steps = check_int("steps", steps, minimum=1)
    bounds = bounds_pair(bounds)
    x = check_tensor("x", x, min_dim=2).detach()
    if rtol is not None:
        rtol = check_open_probability("rtol", rtol)
    if tuple(x.shape) != tuple(result.perturbation.shape):
        raise ValueError(
            f"x has shape {tuple(x.shape)} but the result's perturbations have shape "
            f"{tuple(result.perturbation.shape)}"
        )
    with torch.inference_mode(False):
        return _refine(model, x.clone(), result, steps, rtol, bounds, None)


def _refine(
    model: Model,
    x: torch.Tensor,
    result: R,
    steps: int,
    rtol: float | None,
    bounds: tuple[float, float] | None,
    margins: tuple[torch.Tensor, torch.Tensor] | None,
) -> R:
    """:func:`refine_perturbations` on checked arguments; ``margins`` (``excess`` at the
    clean and at the returned points, known from the attack) saves two forward passes."""
    tol = MARGIN_ULPS * torch.finfo(x.dtype).eps if rtol is None else rtol
    idx = result.success.nonzero().flatten()
    adversarial = result.adversarial.detach().clone()
    adv_label = result.adv_label.clone()
    forwards = result.forwards.clone()
    if idx.numel():
        with torch.no_grad():
            xb, p, lab = x[idx], result.perturbation.detach()[idx], result.label[idx]

            def point(rows: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
                v = xb[rows] + expand(s, p[rows]) * p[rows]
                return v if bounds is None else v.clamp(bounds[0], bounds[1])

            everything = torch.arange(idx.numel(), device=x.device)
            lo = torch.zeros(idx.numel(), dtype=x.dtype, device=x.device)
            hi = torch.ones_like(lo)
            if margins is None:
                g_lo = excess(model(xb), lab).to(x.dtype)
                g_hi = excess(model(point(everything, hi)), lab).to(x.dtype)
                forwards[idx] += 2
            else:
                g_lo, g_hi = margins[0][idx].clone(), margins[1][idx].clone()
            last_side = torch.zeros(idx.numel(), dtype=torch.int8, device=x.device)
            stalls = torch.zeros(idx.numel(), dtype=torch.int8, device=x.device)
            active = (g_hi > 0) & (g_lo <= 0)
            for _ in range(steps):
                width = hi - lo
                to_root = g_hi * width / (g_hi - g_lo)
                active &= (to_root > tol * hi) & (width > tol * hi)
                rows = active.nonzero().flatten()
                if not rows.numel():
                    break
                w = width[rows]
                secant = hi[rows] - to_root[rows]
                mid = lo[rows] + 0.5 * w
                s = torch.where(stalls[rows] < 3, secant, mid)
                s = torch.where((s > lo[rows]) & (s < hi[rows]), s, mid)  # rounding at a tiny bracket
                g = excess(model(point(rows, s)), lab[rows]).to(x.dtype)
                forwards[idx[rows]] += 1
                adv = g > 0
                # Illinois: the endpoint kept twice in a row gets half its weight
                g_lo[rows] = torch.where(adv & (last_side[rows] == 1), 0.5 * g_lo[rows], g_lo[rows])
                g_hi[rows] = torch.where(~adv & (last_side[rows] == -1), 0.5 * g_hi[rows], g_hi[rows])
                hi[rows] = torch.where(adv, s, hi[rows])
                g_hi[rows] = torch.where(adv, g, g_hi[rows])
                lo[rows] = torch.where(adv, lo[rows], s)
                g_lo[rows] = torch.where(adv, g_lo[rows], g)
                last_side[rows] = torch.where(adv, 1, -1).to(torch.int8)
                shrunk = (hi[rows] - lo[rows]) <= 0.5 * w
                stalls[rows] = torch.where(shrunk, 0, stalls[rows] + 1).to(torch.int8)
            moved = (hi < 1).nonzero().flatten()
            if moved.numel():
                cand = point(moved, hi[moved])
                logits = model(cand)
                forwards[idx[moved]] += 1
                pred = logits.argmax(dim=1)
                ok = (pred != lab[moved]) & torch.isfinite(logits).all(dim=1)
                take = idx[moved[ok]]
                adversarial[take] = cand[ok]
                adv_label[take] = pred[ok]
    pert = adversarial - x
    extra = {"refined": True} if isinstance(result, DeepFoolResult) else {}
    return dataclasses.replace(
        result,
        perturbation=pert,
        adversarial=adversarial,
        norm=norms(pert, result.p),
        success=result.success.clone(),
        iterations=result.iterations.clone(),
        label=result.label.clone(),
        adv_label=adv_label,
        forwards=forwards,
        backwards=result.backwards.clone(),
        **extra,
    )
