r"""Float64 numerics of the worst-case robustness :math:`R^*`, with error bounds.

A set of classes is described by distinct log-probabilities
:math:`\log p_i` with multiplicities :math:`c_i` and thresholds
:math:`b_i` (:math:`\Phi(b_i) = p_i`; for a majority class
:math:`\bar\Phi(b_i)` is the mass of the other classes).  For radii
:math:`x > 0` this module evaluates

* the **mass** :math:`B(x) = \sum_i c_i\,[\Phi(b_i) - \Phi(b_i - x)]`, as a
  sum of interval masses (short intervals by Gauss--Legendre quadrature
  around their midpoint, long ones as a difference that cannot cancel by
  more than a factor 4.3, tiny classes in logarithms);
* the **tail** :math:`1 - B(x) = S(x) = \sum_i c_i\,\Phi(b_i - x)`, a sum of
  positive terms (``ndtr``; ``log_ndtr`` and ``logsumexp`` below 1e-280 and
  for classes whose multiplicity is beyond the float range);
* their logarithms over the whole float range, and the density
  :math:`B'(x) = \sum_i c_i\,\varphi(b_i - x)` with its derivative.

Nothing here is rounded to a safe side.  Instead every value comes with
``rho``, a bound on its relative error in units of the machine epsilon
(for a logarithm: on its absolute error).  It is a first-order bound
assembled term by term from the sources of error of each formula:

* the rounding of the argument ``x = b - r`` of ``ndtr`` (about
  :math:`|x|^2` ulps of :math:`\Phi(x)`) and of the threshold ``b`` itself
  (about :math:`|x||b|` ulps), a few ulps for ``ndtr`` itself;
* for an exponentiated logarithm, the size of that logarithm (``exp`` of
  an argument near -700 carries 700 ulps), and the log-multiplicity;
* for a difference, its amplification ``(base + y) / (base - y)``;
* the quadrature error (below 5 ulps in the region where it is used).

The caller (:class:`isobound.IsoperimetricBound`) multiplies the bound by
a safety factor, adds the rounding of the final sums, and moves each value
to its safe side by that much.  ``benchmarks/accuracy.py`` and the test
suite check, against 50-digit mpmath values, that the error never exceeds
the bound.

The quantile solver (:meth:`Kernel.solve`) is a bracketed, vectorised
Newton--Halley iteration on the mass (small probabilities), the tail (large
ones) or their logarithms (targets below 1e-280), with the root moved up by
its own error bound.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special as sc

from ._gaussian import SHORT_HALF, SHORT_MID_HALF, log_interval_mass, short_average

__all__ = ["EPS", "FLOOR", "Kernel"]

# Every method runs with numpy's floating-point warnings off (the caller sets
# ``np.errstate(all="ignore")`` once): overflow, underflow and 0/0 are all
# expected somewhere in these formulas and each is handled where it occurs.

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

EPS = 2.0**-52
#: Linear sums below this are recomputed from logarithms (ndtr flushes to 0 near 1e-308).
FLOOR = 1e-280
_LOG_FLOOR = math.log(FLOOR)
_LOG_HALF = math.log(0.5)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_PI_2 = math.sqrt(0.5 * math.pi)
_SQRT1_2 = math.sqrt(0.5)
_TINY = float(np.finfo(np.float64).tiny)

def _refine_threshold(b: FloatArray, logp: FloatArray) -> FloatArray:
    """Two Newton steps on ``log_ndtr(b) = logp`` (``ndtri_exp`` loses up to 3000 ulps
    below -1e4; ``log_ndtr`` is good to 2 ulps, which pins ``b`` to about an ulp)."""
    for _ in range(2):
        resid = sc.log_ndtr(b) - logp
        # d log Phi / db = phi / Phi, and Phi / phi = sqrt(pi/2) erfcx(-b/sqrt 2)
        b = b - resid * (_SQRT_PI_2 * sc.erfcx(-b * _SQRT1_2))
    return b


def logsumexp1(v: Any) -> float:
    """``log(sum(exp(v)))`` of a 1-d float array or list (``-inf`` when all are ``-inf``).

    scipy.special.logsumexp does the same with array-API dispatch that costs
    about 100 times more for a handful of entries.
    """
    a = np.asarray(v, dtype=np.float64)
    if a.size == 0:
        return -math.inf
    m = float(a.max())
    if not math.isfinite(m):
        return m
    return m + math.log(float(np.exp(a - m).sum()))


def _logsumexp_rows(y: FloatArray) -> FloatArray:
    """``log(sum_j exp(y[:, j]))`` per row; ``-inf`` for rows that are all ``-inf``."""
    if y.shape[1] == 1:
        return y[:, 0].copy()
    m = np.max(y, axis=1)
    shift = np.where(np.isfinite(m), m, 0.0)
    out: FloatArray = shift + np.log(np.exp(y - shift[:, None]).sum(axis=1))
    return out


def _softmax_mean(y: FloatArray, rho: FloatArray, logsum: FloatArray) -> FloatArray:
    """``sum_j exp(y_j - logsum) rho_j`` per row (the rho of a log-domain sum)."""
    w = np.exp(y - np.where(np.isfinite(logsum), logsum, 0.0)[:, None])
    out: FloatArray = np.where(np.isfinite(logsum), (w * rho).sum(axis=1), 0.0)
    return out


class Kernel:
    """Evaluations of B, 1 - B, their logs and the density for one set of classes.

    Parameters
    ----------
    logp : ndarray
        Distinct finite log-probabilities, sorted ascending, normalised.
    counts : ndarray
        Multiplicities as floats (``inf`` where beyond the float range).
    logc : ndarray
        Their logarithms (exact for any integer size).
    """

    __slots__ = (
        "absb",
        "b",
        "b_max",
        "base",
        "cols_log",
        "cols_log_s",
        "counts",
        "degenerate",
        "i_max",
        "log_k",
        "log_m",
        "log_pdf0",
        "logbase",
        "logc",
        "logc_pdf",
        "logp",
        "logq",
        "minority",
        "ncols",
        "rho_long",
        "rho_pdf0",
        "rho_short",
        "sigma",
        "sign",
        "table",
        "twob2",
        "w_lin",
        "w_s",
    )

    def __init__(self, logp: FloatArray, counts: FloatArray, logc: FloatArray) -> None:
        n = logp.size
        p = np.exp(logp)
        minority = logp <= _LOG_HALF
        logq = np.empty(n)
        logq[minority] = np.log1p(-p[minority])
        for i in np.flatnonzero(~minority):
            # a majority class: 1 - p_i is the mass of the other classes
            terms = [float(v) for v in np.delete(logp + logc, i)]
            if counts[i] > 1.0:
                terms.append(float(logp[i]) + math.log(counts[i] - 1.0))
            logq[i] = logsumexp1(terms)
        b = np.empty(n)
        b[minority] = sc.ndtri_exp(logp[minority])
        b[~minority] = -sc.ndtri_exp(logq[~minority])
        deep = minority & (logp < -700.0)
        if bool_any(deep):
            b[deep] = _refine_threshold(b[deep], logp[deep])
        deep = ~minority & (logq < -700.0) & (logq > -np.inf)
        if bool_any(deep):
            b[deep] = -_refine_threshold(-b[deep], logq[deep])
        # one class of probability 1 (all others empty) has no boundary: R* = inf
        self.degenerate = not bool(np.all(np.isfinite(b)))
        self.logp, self.counts, self.logc, self.b, self.logq = logp, counts, logc, b, logq
        self.minority = minority
        self.ncols = b.size
        self.absb = np.abs(b)
        self.sign = np.where(minority, 1.0, -1.0)
        self.logbase = np.where(minority, logp, logq)
        self.base = np.exp(self.logbase)
        lin = (self.logbase > -620.0) & (logc < 690.0)
        slin = logc < 690.0
        self.w_lin = np.where(lin, counts, 0.0)
        self.w_s = np.where(slin, counts, 0.0)
        self.cols_log = np.flatnonzero(~lin)
        self.cols_log_s = np.flatnonzero(~slin)
        self.logc_pdf = logc - _LOG_SQRT_2PI
        self.twob2 = 1.5 * self.absb + 3.5
        # short intervals, exp(log c - log sqrt(2 pi) - mid^2/2) x G: the log count
        # and its shift (|log c| ulps), mid = b - x/2 with the threshold's error
        # (1.5 ulps of b) and its own rounding, the square, the subtraction,
        # the quadrature (5 ulps); |mid| <= |b| + 1/4 there
        self.rho_short = 8.0 + 1.5 * np.abs(logc) + 2.5 * (self.absb + 0.25) ** 2
        self.rho_long = 6.0 + np.abs(self.logbase)
        # rounding of the row sums: at worst (K/4 + 3) ulps for a BLAS dot product
        self.sigma = 3.0 + 0.25 * self.ncols
        self.table: tuple[Any, Any] | None = None
        if not self.degenerate:
            self.b_max = float(b.max())
            self.i_max = int(np.argmax(b))
            self.log_k = logsumexp1(logc)
            y0 = self.logc_pdf - 0.5 * b * b
            self.log_pdf0 = logsumexp1(y0)
            # absolute error of log B'(0): the terms' exponents, weighted by the terms
            w0 = np.exp(y0 - self.log_pdf0)
            self.rho_pdf0 = 4.0 + float(np.dot(w0, 1.5 * np.abs(logc) + 2.5 * b * b + 1.5 * self.absb))
            bm = np.minimum(b, 0.0)
            self.log_m = logsumexp1(self.logc_pdf - 0.5 * bm * bm)
        else:
            self.b_max = self.log_k = self.log_pdf0 = self.log_m = -math.inf
            self.rho_pdf0 = 0.0
            self.i_max = 0

    # -- the tail S = 1 - B ---------------------------------------------------

    def tail(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``S(x)`` and its error factor ``rho``; exact to rho down to 1e-280,
        an ``exp`` of the log below (which may underflow)."""
        d = self.b - x[:, None]
        y = sc.ndtr(d)
        s = y @ self.w_s
        ad = np.abs(d)
        ad *= 1.5 * ad + self.twob2
        ad += 4.0
        ad *= y
        err = ad @ self.w_s
        if self.cols_log_s.size:
            ls, lrho = self._log_tail_cols(d[:, self.cols_log_s], self.cols_log_s)
            tl = np.exp(ls)
            s += tl
            err += tl * lrho
        deep = s < FLOOR
        rho = np.where(s > 0, err / s, 0.0)
        if bool_any(deep):
            ls, lrho = self._log_tail_cols(d[deep], np.arange(self.ncols))
            s[deep] = np.exp(ls)
            rho[deep] = lrho
        return s, rho

    def log_tail(
        self, x: FloatArray, known: tuple[FloatArray, FloatArray] | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """``log S(x)`` over the whole range and its absolute error factor
        (``known``: the result of :meth:`tail` at ``x``, if already computed)."""
        s, rho = self.tail(x) if known is None else (known[0].copy(), known[1].copy())
        out = np.empty(x.shape)
        ok = s >= FLOOR
        out[ok] = np.log(s[ok])
        if not np.all(ok):
            d = self.b - x[~ok, None]
            out[~ok], rho[~ok] = self._log_tail_cols(d, np.arange(self.ncols))
        return out, rho

    def _log_tail_cols(self, d: FloatArray, cols: NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
        """log of ``sum_j c_j Phi(d_j)`` over the given columns, and its rho."""
        lt = sc.log_ndtr(d)
        y = lt + self.logc[cols]
        ls = _logsumexp_rows(y)
        ad = np.abs(d)
        rho = 6.0 + ad * (1.5 * ad + self.twob2[cols]) + 2.0 * np.abs(lt) + np.abs(self.logc[cols])
        return ls, _softmax_mean(y, rho, ls)

    # -- the mass B -------------------------------------------------------------

    def mass(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``B(x)`` by interval masses and its error factor.

        Exact to rho wherever it is a normal float, and also below that for
        radii whose intervals are all short (then ``B = x G`` with ``G`` a
        normal float, so a subnormal ``B`` has only the final rounding)."""
        total, rho, _ = self._mass_parts(x)
        return total, rho

    def _mass_parts(self, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(B, rho, G)`` with ``B = x G`` on rows whose intervals are all short
        (``G`` is NaN on the others)."""
        n = x.size
        h = 0.5 * x
        mid = self.b - h[:, None]
        hh = h[:, None]
        short = (hh <= SHORT_HALF) & (np.abs(mid) * hh <= SHORT_MID_HALF)
        total = np.zeros(n)
        err = np.zeros(n)
        g = np.full(n, np.nan)
        eg = np.zeros(n)
        rows_short = short.all(axis=1)
        if rows_short.all():
            g, eg = self._short_dense(mid, h)
            total = g * x
        else:
            ra = np.flatnonzero(rows_short)
            if ra.size:
                g[ra], eg[ra] = self._short_dense(mid[ra], h[ra])
                total[ra] = g[ra] * x[ra]
            rm = np.flatnonzero(~rows_short)
            total[rm], err[rm] = self._mixed(x[rm], mid[rm], h[rm], short[rm])
        rho = np.where(np.isnan(g), np.where(total > 0, err / total, 0.0), eg / g)
        # linear sums that may have lost underflowed terms: redo those rows in logs
        deep = np.where(np.isnan(g), total < FLOOR, g < 1e-270)
        if bool_any(deep):
            lm, lrho = self._log_mass_rows(x[deep])
            total[deep] = np.exp(lm)
            rho[deep] = lrho
            g[deep] = np.nan
        return total, rho, g

    def _mixed(
        self, x: FloatArray, mid: FloatArray, h: FloatArray, short: BoolArray
    ) -> tuple[FloatArray, FloatArray]:
        """Rows with some long intervals: quadrature where short, a difference of
        tails where long (columns in linear range), logarithms for the rest."""
        n = x.size
        total = np.zeros(n)
        err = np.zeros(n)
        if not short.any() and not self.cols_log.size:
            # every interval long: one dense pass of differences of tails
            d = self.b - x[:, None]
            y = sc.ndtr(d * self.sign)
            m = (self.base - y) * self.sign
            np.maximum(m, 0.0, out=m)
            total += m @ self.w_lin
            ad = np.abs(d)
            ad *= 1.5 * ad + self.twob2
            ad += self.rho_long
            ad *= y + self.base
            err += ad @ self.w_lin
            return total, err
        r, c = np.nonzero(short)
        if r.size:
            ms = mid[r, c]
            val = np.exp(self.logc_pdf[c] - 0.5 * ms * ms)
            val *= x[r] * short_average(ms, h[r])
            total += np.bincount(r, weights=val, minlength=n)
            err += np.bincount(r, weights=val * self.rho_short[c], minlength=n)
        long_ = ~short
        if self.cols_log.size:
            long_log = np.zeros_like(long_)
            long_log[:, self.cols_log] = long_[:, self.cols_log]
            long_[:, self.cols_log] = False
            r, c = np.nonzero(long_log)
            if r.size:
                lim = log_interval_mass(self.b[c], x[r])
                y = lim + self.logc[c]
                val = np.exp(y)
                d = np.abs(self.b[c] - x[r])
                rho = 6.0 + np.abs(self.logc[c]) + 2.0 * np.abs(lim) + d * (1.5 * d + self.twob2[c])
                total += np.bincount(r, weights=val, minlength=n)
                err += np.bincount(r, weights=val * rho, minlength=n)
        r, c = np.nonzero(long_)
        if r.size:
            d = self.b[c] - x[r]
            sg = self.sign[c]
            base = self.base[c]
            y = sc.ndtr(d * sg)
            w = self.w_lin[c]
            m = np.maximum((base - y) * sg, 0.0)
            total += np.bincount(r, weights=m * w, minlength=n)
            ad = np.abs(d)
            rho = (base + y) * w * (self.rho_long[c] + ad * (1.5 * ad + self.twob2[c]))
            err += np.bincount(r, weights=rho, minlength=n)
        return total, err

    def _short_dense(self, mid: FloatArray, h: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``G = B(x) / x`` and its error sum for rows whose intervals are all short."""
        a = self.logc_pdf - 0.5 * mid * mid
        t = np.exp(a)
        t *= short_average(mid, h[:, None])
        return t @ np.ones(self.ncols), t @ self.rho_short

    def _log_mass_rows(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """log B for every row, all columns in logarithms, and its absolute error factor."""
        bb = np.broadcast_to(self.b, (x.size, self.ncols))
        xx = np.broadcast_to(x[:, None], bb.shape)
        lim = log_interval_mass(bb, xx)
        y = lim + self.logc
        lm = _logsumexp_rows(y)
        d = np.abs(bb - xx)
        rho = 8.0 + np.abs(self.logc) + 2.0 * np.abs(lim) + d * (1.5 * d + self.twob2)
        rho = rho + 2.5 * (self.absb + 0.25) ** 2
        return lm, _softmax_mean(y, rho, lm)

    def log_mass(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``log B(x)`` over the whole range and its absolute error factor."""
        m, rho, g = self._mass_parts(x)
        out = np.empty(x.shape)
        viag = ~np.isnan(g)
        out[viag] = np.log(x[viag]) + np.log(g[viag])
        ok = ~viag & (m >= FLOOR)
        out[ok] = np.log(m[ok])
        rest = ~viag & ~ok
        if bool_any(rest):
            out[rest], rho[rest] = self._log_mass_rows(x[rest])
        return out, rho

    # -- density ------------------------------------------------------------------

    def density(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``B'(x) = sum_i c_i phi(b_i - x)`` and its derivative ``sum_i c_i phi(b_i - x) (b_i - x)``."""
        d = self.b - x[:, None]
        e = np.exp(self.logc_pdf - 0.5 * d * d)
        ones = np.ones(self.ncols)
        pdf = e @ ones
        e *= d
        return pdf, e @ ones

    def density3(self, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The density, its derivative and ``sum_i c_i phi(b_i - x) (b_i - x)^2``
        (the third derivative of B is that minus the density)."""
        d = self.b - x[:, None]
        e = np.exp(self.logc_pdf - 0.5 * d * d)
        ones = np.ones(self.ncols)
        pdf = e @ ones
        e *= d
        d1 = e @ ones
        e *= d
        return pdf, d1, e @ ones

    def log_density(self, x: FloatArray) -> FloatArray:
        """``log B'(x)`` without underflow."""
        d = self.b - x[:, None]
        return _logsumexp_rows(self.logc_pdf - 0.5 * d * d)

    # -- quantiles ------------------------------------------------------------------

    def error(self, rho: FloatArray) -> FloatArray:
        """Relative error bound of a value whose error factor is ``rho``: a safety
        factor of 2 on the first-order analysis, plus the rounding of the sums."""
        return 2.0 * EPS * (rho + self.sigma)

    def solve(
        self, target: FloatArray, *, cdf_side: Any, guess: FloatArray | None = None
    ) -> FloatArray:
        r"""Root of ``B(x) = target`` (cdf side) or ``S(x) = target``, moved up.

        ``0 < target <= 1/2``; ``cdf_side`` is a bool or a bool per target.
        The returned ``x`` is above the root by at least the root's own error
        bound, so that the exact ``B(x) >= target`` (cdf side) or
        ``S(x) <= target`` (sf side): it is an upper bound on the quantile.
        Targets below 1e-270 are solved on the logarithm, in the variable
        ``log x``; on the cdf side the tiniest ones have the closed form
        ``x = target / B'(0)`` (to 1e-17).
        """
        target = np.asarray(target, dtype=np.float64)
        cs = np.broadcast_to(np.asarray(cdf_side, dtype=bool), target.shape)
        out = np.empty(target.shape)
        t = np.log(target)
        lin = target >= 1e-270
        # B(x) = x B'(0) (1 + d) with |d| <= x (max|b| + x): exact for tiny roots
        u_lin = t - self.log_pdf0
        closed = cs & (u_lin < math.log(1e-18 / (1.0 + float(np.max(self.absb)))))
        if bool_any(closed):
            # a normal target divides exactly; a subnormal one goes through logs
            tc = target[closed]
            normal = tc >= _TINY
            x = np.where(normal, tc * math.exp(-self.log_pdf0), np.exp(u_lin[closed]))
            r = np.where(normal, 0.0, EPS * (0.5 * np.abs(t[closed]) + 2.0))
            r = r + 2.0 * EPS * (abs(self.log_pdf0) + self.rho_pdf0 + 4.0) + 2e-18
            out[closed] = _round_up(x, r)
            lin &= ~closed
        logm = ~lin & ~closed
        if bool_any(lin):
            if lin.all():
                tl, ca, tg = t, cs, target
            else:
                tl, ca, tg = t[lin], cs[lin], target[lin]
            g = guess
            if g is None and (tl.size >= 16 or self.table is not None):
                g = self._guess_sides(tl, ca)
            res = self._newton(tg, tl, g, ca)
            if lin.all():
                return res
            out[lin] = res
        for side in (True, False):
            m = logm & (cs == side)
            if bool_any(m):
                lo, hi = self._bracket(target[m], t[m], side)
                out[m] = self._newton_log(t[m], lo, hi, side)
        return out

    def _guess_sides(self, t: FloatArray, cs: BoolArray) -> FloatArray:
        if cs.all():
            return self.guess(t, True)
        if not cs.any():
            return self.guess(t, False)
        g = np.empty(t.shape)
        g[cs] = self.guess(t[cs], True)
        g[~cs] = self.guess(t[~cs], False)
        return g

    def guess(self, t: FloatArray, cdf_side: bool) -> FloatArray:
        """Starting points for the roots of ``log F = t`` (F = B or S), from the
        cached inverse table (built on first use): cubic Hermite interpolation
        with the exact slopes, of ``log x`` against ``log B`` (cdf side, where
        ``B ~ x B'(0)`` makes it nearly linear) or of ``x`` against
        ``w = sqrt(-2 log S)`` (sf side, where ``S`` is a Gaussian tail and
        ``x ~ b + w``)."""
        if self.table is None:
            self.table = self._build_table()
        tt, vv, mm = self.table[0 if cdf_side else 1]
        z = t if cdf_side else np.sqrt(-2.0 * np.minimum(t, 0.0))
        out = np.full(t.shape, np.nan)
        if tt.size < 2:
            return out
        j = np.clip(np.searchsorted(tt, z) - 1, 0, tt.size - 2)
        t0, t1 = tt[j], tt[j + 1]
        h = t1 - t0
        s = (z - t0) / h
        s2 = s * s
        s3 = s2 * s
        v = (2 * s3 - 3 * s2 + 1) * vv[j] + (s3 - 2 * s2 + s) * h * mm[j]
        v += (-2 * s3 + 3 * s2) * vv[j + 1] + (s3 - s2) * h * mm[j + 1]
        if cdf_side:
            out = np.exp(v)
            below = z < tt[0]
            if bool_any(below):  # B is linear there: x = target / B'(0)
                out[below] = np.exp(t[below] - self.log_pdf0)
            out[z > tt[-1]] = np.nan
        else:
            out = v
            beyond = z > tt[-1]
            if bool_any(beyond):  # deep tail: the class with the largest threshold dominates
                out[beyond] = self.b_max - sc.ndtri_exp(t[beyond] - self.logc[self.i_max])
            out[z < tt[0]] = np.nan
        result: FloatArray = out
        return result

    def _build_table(self) -> tuple[Any, Any]:
        """Nodes of the inverse for each side: (abscissa, ordinate, slope)."""
        top = 1.0 + float(np.max(self.absb))
        x_a = 1e-6 / top
        x_b = max(self.b_max, 0.0) + math.sqrt(2.0 * (745.0 + max(self.log_k, 0.0))) + 2.0
        # log x in steps of 0.1 up to x = 4, then x in steps of 0.2
        x_c = min(4.0, x_b)
        nodes = np.geomspace(x_a, x_c, math.ceil(10.0 * math.log(x_c / x_a)) + 1)
        if x_b > x_c:
            n_lin = int(min(1000, math.ceil((x_b - x_c) / 0.2)))
            nodes = np.concatenate([nodes, np.linspace(x_c, x_b, n_lin + 1)[1:]])
        u = np.log(nodes)
        lt, _ = self.log_tail(nodes)
        lm = np.full(nodes.shape, np.inf)
        need = lt > math.log(0.3)  # B <= 0.7: the cdf side of the table
        lm[need], _ = self.log_mass(nodes[need])
        ld = self.log_density(nodes)
        # cdf side: log x against log B, d log x / d log B = B / (x B')
        m_cdf = np.exp(lm - ld - u)
        # sf side: x against w = sqrt(-2 log S), dx/dw = w S / B'
        w = np.sqrt(-2.0 * np.minimum(lt, 0.0))
        m_sf = w * np.exp(lt - ld)
        sides = []
        for ab, ordinate, slope, lv in ((lm, u, m_cdf, lm), (w, nodes, m_sf, lt)):
            keep = np.isfinite(ab) & np.isfinite(slope) & (lv <= _LOG_HALF + 0.3) & (lv < 0)
            a, o, m = ab[keep], ordinate[keep], slope[keep]
            mono = np.concatenate([[True], np.diff(a) > 0]) if a.size else np.zeros(0, bool)
            sides.append((a[mono], o[mono], m[mono]))
        return sides[0], sides[1]

    def _bracket(self, target: FloatArray, t: FloatArray, cdf_side: Any) -> tuple[FloatArray, FloatArray]:
        """Generous one-class brackets of the roots (widened by 1e-9 relative)."""
        b_max = self.b_max
        cs = np.broadcast_to(np.asarray(cdf_side, dtype=bool), target.shape)
        lo = np.empty(target.shape)
        hi = np.empty(target.shape)
        c, s = cs, ~cs
        if bool_any(c):
            # B(x) <= x sum_i c_i phi(min(b_i, 0))  ->  root >= target / M
            lo[c] = np.exp(t[c] - self.log_m)
            # S(x) <= K Phi(b_max - x) = 1 - target  ->  B(hi) >= target
            hi[c] = b_max - sc.ndtri_exp(np.log1p(-target[c]) - self.log_k)
        if bool_any(s):
            # S(x) >= c_i Phi(b_i - x) for the class with the largest threshold
            lo[s] = b_max - sc.ndtri_exp(t[s] - self.logc[self.i_max])
            hi[s] = b_max - sc.ndtri_exp(t[s] - self.log_k)
        lo = np.maximum(lo * (1.0 - 1e-9) - 1e-9, 0.0)
        hi = np.maximum(hi * (1.0 + 1e-9) + 1e-9, lo)
        return lo, hi

    def _eval(self, x: FloatArray, cs: BoolArray) -> tuple[FloatArray, ...]:
        """Value, error factor, first and second derivative of B (cdf side) or S
        at x, and the local Halley constant |F3 / 6 F1| + (F2 / 2 F1)^2."""
        if cs.all():
            v, rho = self.mass(x)
        elif not cs.any():
            v, rho = self.tail(x)
        else:
            v = np.empty(x.shape)
            rho = np.empty(x.shape)
            v[cs], rho[cs] = self.mass(x[cs])
            v[~cs], rho[~cs] = self.tail(x[~cs])
        pdf, dpdf, m2 = self.density3(x)
        r1 = dpdf / pdf
        r3 = m2 / pdf - 1.0
        const = np.abs(r3) / 6.0 + 0.25 * r1 * r1
        sgn = np.where(cs, 1.0, -1.0)
        return v, rho, pdf * sgn, dpdf * sgn, const

    def _newton(
        self, target: FloatArray, t: FloatArray, guess: FloatArray | None, cdf_side: BoolArray
    ) -> FloatArray:
        """Bracketed Halley iteration on ``F(x) - target`` (F = B or S).

        The certified one-class bracket costs two ``ndtri_exp`` per target, so
        it is computed only where it is needed: for targets without a usable
        starting point, for those that take a second step, and to cap a root
        whose error bound is not finite.
        """
        n = target.size
        lo = np.zeros(n)
        hi = np.full(n, np.inf)
        hi0 = np.full(n, np.inf)  # the certified upper end, once computed
        have = np.zeros(n, dtype=bool)

        def certify(idx: NDArray[np.intp]) -> None:
            idx = idx[~have[idx]]
            if idx.size:
                blo, bhi = self._bracket(target[idx], t[idx], cdf_side[idx])
                lo[idx] = np.maximum(lo[idx], blo)
                hi[idx] = np.minimum(hi[idx], bhi)
                hi0[idx] = bhi
                have[idx] = True

        x = np.full(n, np.nan) if guess is None else guess.copy()
        bad = ~(np.isfinite(x) & (x > 0))
        if bool_any(bad):
            idx = np.flatnonzero(bad)
            certify(idx)
            if self.log_pdf0 > -700.0:
                start = np.where(cdf_side[idx], target[idx] * math.exp(-self.log_pdf0), lo[idx])
            else:
                start = lo[idx].copy()
            inside = (start > lo[idx]) & (start < hi[idx])
            x[idx] = np.where(inside, start, _split(lo[idx], hi[idx]))
        result = np.empty(n)
        active = np.arange(n)
        for it in range(100):
            xi = x[active]
            ca = cdf_side[active]
            v, rho, d1, d2, const = self._eval(xi, ca)
            f = v - target[active]
            # the root lies above xi when F is below target (cdf) / above it (sf)
            above = np.where(ca, f < 0, f > 0)
            lo_i = np.where(above, xi, lo[active])
            hi_i = np.where(above, hi[active], xi)
            g = f / d1
            corr = 1.0 - 0.5 * g * (d2 / d1)
            halley = (corr > 0.5) & (corr < 2.0)
            step = np.where(halley, g / corr, g)
            # far from the root (F off by more than a factor 4) Newton on F crawls
            # down a Gaussian tail; Newton on log F is nearly quadratic there
            far = (v > 4.0 * target[active]) | (v < 0.25 * target[active])
            if bool_any(far):
                ratio = np.log(np.where(v > 0, v, _TINY) / target[active])
                step = np.where(far, ratio * v / d1, step)
                halley &= ~far
            new = xi - step
            # a step at rounding level: xi is the root to an ulp or two, even if
            # noise put the step just outside the shrunken bracket
            # (never where F is off by a factor 4: there a zero step means F underflowed
            # to 0 and the log step is undefined, so bisect instead of standing still)
            at_root = (np.abs(step) <= 4.0 * EPS * xi) & ~far
            ok = np.isfinite(new) & (((new > lo_i) & (new < hi_i)) | at_root)
            # error left after a Halley step of size s: about |s|^3 times the local
            # constant (computed at xi; a factor 4 for its change over the tiny
            # step); after a plain Newton step (corr outside [1/2, 2]) s^2 |F2/2F1|
            s_err = np.where(
                halley, 4.0 * np.abs(step) ** 3 * const, 4.0 * step * step * np.sqrt(const)
            )
            done = ok & ~far & (s_err <= 0.25 * EPS * new)
            # (an upper end not yet certified is inf: that bracket is not narrow)
            narrow = (hi_i - lo_i <= 4.0 * EPS * hi_i) & (hi_i < np.inf)
            fin = done | narrow
            if bool_any(fin):
                # move up by the root's error: |F error| / |F'|, plus the step's error
                err_f = self.error(rho) * np.abs(v) + EPS * np.abs(target[active])
                dx = err_f / np.abs(d1)
                cand = np.where(done, new + s_err + 4.0 * EPS * new, hi_i) + dx
                wild = fin & ~np.isfinite(cand)
                if bool_any(wild):
                    certify(active[wild])
                # never beyond the certified upper end of the bracket
                up = np.minimum(cand, hi0[active])
                result[active[fin]] = _round_up(up[fin], 2.0 * EPS)
            keep = ~fin
            ak = active[keep]
            lo[ak] = lo_i[keep]
            hi[ak] = hi_i[keep]
            x[ak] = new[keep]
            stray = keep & ~ok
            if bool_any(stray):
                # a step that left the bracket: bisect (in a certified bracket)
                idx = active[stray]
                certify(idx)
                x[idx] = _split(lo[idx], hi[idx])
            active = ak
            if not active.size:
                break
            if it == 0:
                certify(active)
        if active.size:  # pragma: no cover - 100 bracketed steps always converge
            certify(active)
            result[active] = hi[active]
        return result

    def _newton_log(
        self, t: FloatArray, lo: FloatArray, hi: FloatArray, cdf_side: bool
    ) -> FloatArray:
        """Bracketed Newton iteration on ``log F(e^u) - t`` in ``u = log x`` (tiny targets)."""
        n = t.size
        lo = np.maximum(lo, 1e-300)
        ulo, uhi = np.log(lo), np.log(np.maximum(hi, lo))
        uhi0 = uhi.copy()
        u = 0.5 * (ulo + uhi)
        curv = 1.0 + float(np.max(self.absb))
        result = np.empty(n)
        active = np.arange(n)
        for _ in range(200):
            ui = u[active]
            xi = np.exp(ui)
            lv, rho = self.log_mass(xi) if cdf_side else self.log_tail(xi)
            ld = self.log_density(xi)
            f = lv - t[active]
            # d log F / d log x = x F'/F
            slope = np.exp(ld - lv + ui)
            if not cdf_side:
                slope = -slope
            above = (f < 0) if cdf_side else (f > 0)
            lo_i = np.where(above, ui, ulo[active])
            hi_i = np.where(above, uhi[active], ui)
            step = f / slope
            new = ui - step
            at_root = np.abs(step) <= 4.0 * EPS * np.maximum(np.abs(ui), 1.0)
            ok = np.isfinite(new) & (((new > lo_i) & (new < hi_i)) | at_root)
            new = np.where(ok, new, 0.5 * (lo_i + hi_i))
            # after a Newton step of size s in u the error is about s^2 |g''/2g'|;
            # g'' is bounded by (1 + x (max|b| + x))^2-ish: take s^2 (1 + |g'|) (1 + x)^2
            s_err = step * step * (1.0 + np.abs(slope)) * (1.0 + xi * (curv + xi))
            done = ok & (s_err <= 0.25 * EPS)
            narrow = hi_i - lo_i <= 4.0 * EPS * np.maximum(np.abs(hi_i), 1.0)
            fin = done | narrow
            if bool_any(fin):
                err_l = self.error(rho) + EPS * (np.abs(lv) + np.abs(t[active]))
                du = err_l / np.abs(slope)
                du = np.where(np.isfinite(du), du, np.inf)
                cand = np.where(done, new + s_err, hi_i)
                up = np.minimum(cand + du, uhi0[active])
                xu = np.exp(up)
                result[active[fin]] = _round_up(xu[fin], EPS * (2.0 + 2.0 * np.abs(up[fin])))
            keep = ~fin
            ak = active[keep]
            ulo[ak] = lo_i[keep]
            uhi[ak] = hi_i[keep]
            u[ak] = new[keep]
            active = ak
            if not active.size:
                break
        if active.size:  # pragma: no cover
            result[active] = np.exp(uhi[active]) * (1 + 4 * EPS)
        return result


def bool_any(a: Any) -> bool:
    """``a.any()`` without numpy's dispatch overhead (hot loops over small arrays)."""
    return bool(a.any())


def _split(lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Bisection point: geometric when the bracket spans more than a factor 4."""
    geometric = (lo > 0) & (hi > 4.0 * lo)
    return np.where(geometric, np.sqrt(lo * hi), 0.5 * (lo + hi))


def _round_up(x: FloatArray, r: Any) -> FloatArray:
    """``x (1 + r)`` rounded up, also where ``x`` is subnormal (a relative nudge
    does not move a subnormal number: add the smallest float there)."""
    up: FloatArray = x + x * r
    tiny = up < 2.0 * _TINY
    if bool_any(tiny):
        up = np.where(tiny, up + 5e-324, up)
    return up


# -- scalar twin ------------------------------------------------------------------

_GL_PY = {
    n: (float(w[n // 2]), list(zip(x[n // 2 + 1 :].tolist(), w[n // 2 + 1 :].tolist(), strict=True)))
    for n, (x, w) in ((m, np.polynomial.legendre.leggauss(m)) for m in (3, 5, 7))
}


class ScalarKernel:
    """The :class:`Kernel` for one radius at a time, in plain Python floats.

    Same formulas, same region boundaries (short intervals, quadrature
    rules chosen by the same thresholds over the classes) and the same
    error factors, so that the two agree to within their error bounds; a
    call that would need logarithms (a value below 1e-280) returns ``None``
    and the caller falls back to the vector kernel.  Only built for a few
    classes, all in the linear range.
    """

    __slots__ = ("cols", "kern", "log_pdf0", "m_bound", "sigma", "tab")

    #: Largest number of distinct classes handled in plain Python.
    MAX_COLS = 32

    def __init__(self, kern: Kernel) -> None:
        self.kern = kern
        self.cols = list(
            zip(
                kern.b.tolist(),
                kern.counts.tolist(),
                kern.base.tolist(),
                kern.sign.tolist(),
                kern.logc_pdf.tolist(),
                kern.twob2.tolist(),
                kern.rho_short.tolist(),
                kern.rho_long.tolist(),
                strict=True,
            )
        )
        self.m_bound = math.exp(kern.log_m)
        self.sigma = kern.sigma
        self.log_pdf0 = kern.log_pdf0
        self.tab: Any = None

    @staticmethod
    def usable(kern: Kernel) -> bool:
        return (
            not kern.degenerate
            and kern.ncols <= ScalarKernel.MAX_COLS
            and kern.cols_log.size == 0
            and kern.cols_log_s.size == 0
        )

    def tail(self, x: float) -> tuple[float, float] | None:
        s = 0.0
        err = 0.0
        erfc = math.erfc
        for b, c, _, _, _, tw, _, _ in self.cols:
            d = b - x
            y = 0.5 * erfc(-d * _SQRT1_2)
            ad = d if d >= 0 else -d
            s += c * y
            err += c * y * (ad * (1.5 * ad + tw) + 4.0)
        if s < FLOOR:
            return None
        return s, err / s

    def mass(self, x: float) -> tuple[float, float] | None:
        h = 0.5 * x
        cols = self.cols
        m_max = 0.0
        all_short = h <= SHORT_HALF
        for col in cols:
            m_max = max(m_max, abs(col[0] - h) * h)
        if m_max > SHORT_MID_HALF:
            all_short = False
        exp = math.exp
        if h <= 1e-3 and m_max <= 1e-3:
            centre, pairs = _GL_PY[3]
        elif h <= 0.1 and m_max <= 0.2:
            centre, pairs = _GL_PY[5]
        else:
            centre, pairs = _GL_PY[7]
        damp = [(u, w * exp(-0.5 * u * u * h * h)) for u, w in pairs]
        if all_short:
            g = 0.0
            eg = 0.0
            for b, _, _, _, lcp, _, rs, _ in cols:
                mid = b - h
                mh = mid * h
                tot = centre
                for u, wd in damp:
                    e = exp(mh * u)
                    tot += wd * (e + 1.0 / e)
                t = exp(lcp - 0.5 * mid * mid) * 0.5 * tot
                g += t
                eg += t * rs
            if g < 1e-270:
                return None
            return x * g, eg / g
        total = 0.0
        err = 0.0
        erfc = math.erfc
        for b, c, base, sg, lcp, tw, rs, rl in cols:
            mid = b - h
            if h <= SHORT_HALF and abs(mid) * h <= SHORT_MID_HALF:
                # the vector kernel picks the rule over the whole block: same here
                mh = mid * h
                tot = centre
                for u, wd in damp:
                    e = exp(mh * u)
                    tot += wd * (e + 1.0 / e)
                t = exp(lcp - 0.5 * mid * mid) * x * 0.5 * tot
                total += t
                err += t * rs
            else:
                d = b - x
                y = 0.5 * erfc(-(d * sg) * _SQRT1_2)
                m = max((base - y) * sg, 0.0)
                total += m * c
                ad = d if d >= 0 else -d
                err += (base + y) * c * (rl + ad * (1.5 * ad + tw))
        if total < FLOOR:
            return None
        return total, err / total

    def density3(self, x: float) -> tuple[float, float, float]:
        p0 = p1 = p2 = 0.0
        exp = math.exp
        for b, _, _, _, lcp, _, _, _ in self.cols:
            d = b - x
            e = exp(lcp - 0.5 * d * d)
            p0 += e
            p1 += e * d
            p2 += e * d * d
        return p0, p1, p2

    def error(self, rho: float) -> float:
        return 2.0 * EPS * (rho + self.sigma)

    def _guess(self, t: float, cdf_side: bool) -> float:
        """The vector kernel's table guess, evaluated in Python (table built on first use)."""
        if self.tab is None:
            kern = self.kern
            if kern.table is None:
                with np.errstate(all="ignore"):
                    kern.table = kern._build_table()
            self.tab = [(a.tolist(), v.tolist(), m.tolist()) for a, v, m in kern.table]
        tt, vv, mm = self.tab[0 if cdf_side else 1]
        z = t if cdf_side else math.sqrt(-2.0 * min(t, 0.0))
        n = len(tt)
        if n < 2:
            return math.nan
        if z < tt[0]:
            if cdf_side:
                return math.exp(t - self.log_pdf0) if t - self.log_pdf0 < 700 else math.nan
            return math.nan
        if z > tt[-1]:
            if cdf_side:
                return math.nan
            kern = self.kern
            with np.errstate(all="ignore"):
                return float(kern.b_max - sc.ndtri_exp(t - float(kern.logc[kern.i_max])))
        j = min(max(bisect_right(tt, z) - 1, 0), n - 2)
        h = tt[j + 1] - tt[j]
        s = (z - tt[j]) / h
        s2 = s * s
        s3 = s2 * s
        v = (2 * s3 - 3 * s2 + 1) * vv[j] + (s3 - 2 * s2 + s) * h * mm[j]
        v += (-2 * s3 + 3 * s2) * vv[j + 1] + (s3 - s2) * h * mm[j + 1]
        return math.exp(v) if cdf_side else v

    def solve(self, target: float, cdf_side: bool) -> float | None:
        """The root of the vector solver's iteration, for one linear-mode target;
        ``None`` when it should be left to the vector solver."""
        if target < 1e-270:
            return None
        t = math.log(target)
        x = self._guess(t, cdf_side)
        if not (x > 0.0 and math.isfinite(x)):
            return None
        lo, hi = 0.0, math.inf
        for _ in range(8):
            r = self.mass(x) if cdf_side else self.tail(x)
            if r is None:
                return None
            v, rho = r
            pdf, dpdf, m2 = self.density3(x)
            if not pdf > 0.0:
                return None
            r1 = dpdf / pdf
            const = abs(m2 / pdf - 1.0) / 6.0 + 0.25 * r1 * r1
            d1, d2 = (pdf, dpdf) if cdf_side else (-pdf, -dpdf)
            f = v - target
            if (f < 0) == cdf_side:
                lo = x
            else:
                hi = x
            g = f / d1
            corr = 1.0 - 0.5 * g * (d2 / d1)
            halley = 0.5 < corr < 2.0
            step = g / corr if halley else g
            new = x - step
            at_root = abs(step) <= 4.0 * EPS * x
            if not (math.isfinite(new) and ((lo < new < hi) or at_root)):
                return None
            s_err = 4.0 * abs(step) ** 3 * const if halley else 4.0 * step * step * math.sqrt(const)
            if s_err <= 0.25 * EPS * new:
                err_f = self.error(rho) * abs(v) + EPS * target
                dx = err_f / abs(d1)
                up = new + s_err + 4.0 * EPS * new + dx
                if not math.isfinite(up):
                    return None
                return up + up * 2.0 * EPS
            x = new
        return None
