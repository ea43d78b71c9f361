"""The report: empirical quantiles with confidence intervals, bounds, audits, tables and plots.

Everything here works on plain arrays (per-sample distances, class labels, a
modulus), so it can be tested and re-rendered without torch models.

Normalisation follows the paper's Tables 1-2: latent distances (r_Z) are divided by
:math:`E\\|z\\|_2` (:func:`isobound.expected_gaussian_norm`), image-space distances
(r_in, r_unc) by the mean image norm :math:`\\frac1N\\sum_j \\|g(z_j)\\|_2` over the
measured samples. Each cell is the 25% quantile (``quantile``) of the normalised
robustness.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "QuantileEstimate",
    "empirical_quantile",
    "class_proportions",
    "any_classifier_ceiling",
    "bonferroni_confidence",
    "format_value",
    "format_epsilon",
    "markdown_table",
    "ceiling_table",
    "robustbench_records",
    "threat_model",
    "json_ready",
    "versions",
    "plot_cdfs",
    "plot_images",
    "plot_pairs",
]

SETTINGS = ("z", "in", "unc")
AUDIT_NAMES = {"z": "Z-space", "in": "in-distribution", "unc": "unconstrained"}
ROW_NAMES = {
    "error": "Error rate",
    "z": "Robustness in the Z-space",
    "in": "In-distribution robustness",
    "unc": "Unconstrained robustness",
}


@dataclass(frozen=True)
class QuantileEstimate:
    """An empirical quantile with a distribution-free confidence interval.

    Attributes
    ----------
    q : float
        The quantile level.
    value : float
        The order statistic :math:`x_{(\\lceil nq \\rceil)}` (``inf`` when it is a failed
        measurement).
    low, high : float
        Order statistics :math:`x_{(l)} \\le x_{(u)}` with
        :math:`P(x_{(l)} \\le \\xi_q \\le x_{(u)}) \\ge` ``level`` for any continuous law
        (binomial argument); ``low = 0`` or ``high = inf`` when ``n`` is too small.
    level : float
        Confidence level of ``[low, high]``.
    n : int
        Number of values.
    """

    q: float
    value: float
    low: float
    high: float
    level: float
    n: int

    def scaled(self, factor: float) -> QuantileEstimate:
        """The same estimate with every value multiplied by ``factor > 0``."""
        return QuantileEstimate(self.q, self.value * factor, self.low * factor, self.high * factor, self.level, self.n)

    def as_dict(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "value": _finite_or_none(self.value),
            "ci_low": _finite_or_none(self.low),
            "ci_high": _finite_or_none(self.high),
            "ci_level": self.level,
            "n": self.n,
        }


def empirical_quantile(values: ArrayLike, q: float, *, level: float = 0.95) -> QuantileEstimate:
    """Empirical ``q``-quantile of ``values`` with an order-statistic confidence interval.

    With :math:`B \\sim \\mathrm{Bin}(n, q)`, the interval :math:`[x_{(l)}, x_{(u)}]` covers
    the true quantile with probability :math:`P(l \\le B \\le u - 1)`; ``l`` and ``u``
    are chosen so that each tail has probability at most :math:`(1 - \\text{level})/2`.
    NaN (a failed measurement) counts as ``+inf``: the truth is unknown, so the
    estimate is not allowed to look smaller than the data supports.

    Parameters
    ----------
    values : array_like
        Measured distances (``>= 0``, ``inf`` or NaN).
    q : float
        Quantile level in ``(0, 1)``.
    level : float, optional
        Confidence level in ``(0, 1)``.

    Returns
    -------
    QuantileEstimate

    Examples
    --------
    >>> est = empirical_quantile(np.arange(1, 101), 0.25)
    >>> est.value, est.low <= 25 <= est.high
    (25.0, True)
    >>> empirical_quantile([3.0, 1.0], 0.5).high  # two points cannot pin a median at 95%
    inf
    """
    from scipy.stats import binom

    if not (0 < q < 1):
        raise ValueError(f"q must lie strictly between 0 and 1, got {q!r}")
    if not (0 < level < 1):
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("values must contain at least one value, got an empty array")
    x = np.sort(np.where(np.isnan(x), np.inf, x))
    n = x.size
    k = max(1, math.ceil(n * q - 1e-12))
    alpha = (1 - level) / 2
    # lower index: largest l with P(B <= l - 1) <= alpha
    l_idx = int(binom.ppf(alpha, n, q))
    if l_idx >= 1 and binom.cdf(l_idx - 1, n, q) > alpha:
        l_idx -= 1
    # upper index: smallest u with P(B >= u) <= alpha, i.e. cdf(u - 1) >= 1 - alpha
    u_idx = int(binom.ppf(1 - alpha, n, q)) + 1
    low = float(x[l_idx - 1]) if l_idx >= 1 else 0.0
    high = float(x[u_idx - 1]) if u_idx <= n else math.inf
    return QuantileEstimate(q=float(q), value=float(x[k - 1]), low=low, high=high, level=float(level), n=n)


def class_proportions(labels: ArrayLike, n_classes: int) -> NDArray[np.float64]:
    """Fraction of each predicted class among ``labels`` (length ``n_classes``).

    Examples
    --------
    >>> class_proportions([0, 2, 2, 1], 3).tolist()
    [0.25, 0.25, 0.5]
    """
    y = np.asarray(labels, dtype=np.int64).ravel()
    if y.size == 0:
        raise ValueError("labels must not be empty")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got range {y.min()}..{y.max()}")
    return np.bincount(y, minlength=n_classes).astype(np.float64) / y.size


def any_classifier_ceiling(class_probs: ArrayLike, eps: ArrayLike, failure_prob: float = 0.0) -> Any:
    r"""Upper bound on the robust accuracy of *any* classifier at latent radius ``eps``.

    Let the true classes of the generated points have proportions ``p_i``
    (e.g. ``K`` equiprobable classes). For any classifier ``f`` let ``A_i`` be
    the latents whose image is classified correctly as ``i`` and keeps its
    label under every image perturbation of norm ``eta = omega(eps)``. Moving
    such a latent by at most ``eps`` moves its image by at most ``eta`` (where
    the modulus holds), so the ``eps``-neighbourhood of ``A_i`` lies in the
    region ``f o g`` labels ``i``; these regions are disjoint, and Gaussian
    isoperimetry gives :math:`\sum_i \psi(a_i) \le 1` with
    :math:`a_i = P(A_i) \le p_i` and :math:`\psi(a) = \Phi(\Phi^{-1}(a) + \varepsilon)`.
    The robust accuracy :math:`\sum_i a_i` is therefore at most

    .. math::

        C(\varepsilon) = \max\Big\{\sum_i a_i : 0 \le a_i \le p_i,\;
        \sum_i \psi(a_i) \le 1\Big\} + \delta ,

    with :math:`\delta` the failure probability of an estimated modulus.
    :math:`\psi` is concave with :math:`\psi(0) = 0`, so on ``[0, p_i]`` it lies
    above its chord, :math:`\psi(a) \ge a\, c_i` with :math:`c_i = \psi(p_i)/p_i`;
    replacing the constraint by :math:`\sum_i a_i c_i \le 1` enlarges the set,
    and the relaxed problem is a fractional knapsack solved exactly by filling
    the classes in increasing order of :math:`c_i`. The returned value is that
    relaxed maximum (plus ``delta``, capped at 1): an **upper bound** on the
    robust accuracy of every classifier, rounded up. It is not smaller than
    the largest ``p_i`` (a constant classifier is perfectly robust and right
    on its class), and it equals 1 at ``eps = 0``.

    This differs from ``1 - B(eps) + delta`` of the equiprobable bound, which
    holds for a classifier whose *predictions* are equiprobable: a classifier
    that merges classes may be more robust.

    Parameters
    ----------
    class_probs : array_like
        True class proportions ``p_i`` under the generator (summing to 1).
    eps : array_like
        Latent radii ``>= 0`` (``omega^{-1}(eta)``, rounded down).
    failure_prob : float, optional
        ``delta`` of the modulus, added.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> round(float(any_classifier_ceiling([0.5, 0.5], 0.0)), 6)
    1.0
    >>> round(float(any_classifier_ceiling(np.full(10, 0.1), 50.0)), 6)  # a constant classifier's 10%
    0.1
    >>> c = any_classifier_ceiling(np.full(10, 0.1), [0.25, 0.5, 1.0])
    >>> [round(float(v), 3) for v in c]
    [0.662, 0.46, 0.257]
    """
    from scipy import special as sc

    p = np.asarray(class_probs, dtype=np.float64).ravel()
    if p.size == 0 or not np.all(np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"class_probs must be non-negative and sum to 1, got class_probs={class_probs!r}")
    p = p[p > 0]
    e = np.asarray(eps, dtype=np.float64)
    if np.any(np.isnan(e)) or np.any(e < 0):
        raise ValueError(f"eps must be >= 0, got eps={eps!r}")
    d = float(failure_prob)
    if not 0.0 <= d < 1.0:
        raise ValueError(f"failure_prob must lie in [0, 1), got failure_prob={failure_prob!r}")
    out = np.empty(e.shape, dtype=np.float64)
    b = sc.ndtri(p)
    for idx, t in np.ndenumerate(e):
        # psi rounded down: a smaller psi only enlarges the feasible set
        psi = sc.ndtr(b + t) * (1.0 - 1e-12) if math.isfinite(t) else np.ones_like(p) * (1.0 - 1e-12)
        psi = np.maximum(psi, 0.0)
        cost = psi / p
        order = np.argsort(cost, kind="stable")
        used, total = 0.0, 0.0
        for i in order:
            if used + psi[i] <= 1.0:
                used += psi[i]
                total += p[i]
            else:
                total += min(p[i], (1.0 - used) / cost[i])
                break
        out[idx] = min(1.0, (total + d) * (1.0 + 1e-12))
    return float(out) if out.ndim == 0 else out


def bonferroni_confidence(confidence: float, n_tests: int) -> float:
    """Per-test confidence that makes ``n_tests`` tests hold together at ``confidence``.

    Bonferroni: each test at :math:`1 - (1 - \text{confidence}) / m`, so the
    chance that any of the ``m`` raises a false alarm is at most
    ``1 - confidence`` (no independence needed).

    Examples
    --------
    >>> round(bonferroni_confidence(0.99, 10), 6)
    0.999
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got confidence={confidence!r}")
    if isinstance(n_tests, bool) or not isinstance(n_tests, int) or n_tests < 1:
        raise ValueError(f"n_tests must be a positive integer, got n_tests={n_tests!r}")
    return 1.0 - (1.0 - confidence) / n_tests


def threat_model(norm: str) -> str:
    """RobustBench's name of the threat model of an image norm (``"L2"``, ``"Linf"``).

    Examples
    --------
    >>> threat_model("linf"), threat_model("l2")
    ('Linf', 'L2')
    """
    names = {"l2": "L2", "linf": "Linf"}
    if norm not in names:
        raise ValueError(f"norm must be 'l2' or 'linf', got norm={norm!r}")
    return names[norm]


def format_epsilon(eps: float) -> str:
    """``8/255`` for multiples of 1/255 (how image radii are usually written), else ``%g``.

    Examples
    --------
    >>> format_epsilon(8 / 255), format_epsilon(0.5), format_epsilon(1 / 7)
    ('8/255', '0.5', '0.142857')
    """
    k = eps * 255.0
    if abs(k - round(k)) < 1e-9 * max(1.0, k) and round(k) % 255 != 0 and round(k) > 0:
        return f"{round(k)}/255"
    return f"{eps:g}"


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def format_value(x: float | None, *, digits: int = 2) -> str:
    """Compact scientific notation for a table cell (``-`` for ``None``, ``inf`` kept).

    Examples
    --------
    >>> format_value(0.015837), format_value(0.36), format_value(None), format_value(math.inf)
    ('1.6e-02', '3.6e-01', '-', 'inf')
    """
    if x is None:
        return "-"
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf"
    return f"{x:.{digits - 1}e}"


def _cell(entry: Mapping[str, Any], with_ci: bool) -> str:
    # in an empirical entry, None stands for +inf (failed attacks at that quantile)
    value = "inf" if entry.get("value") is None else format_value(entry["value"])
    if not with_ci:
        return value
    lo, hi = entry.get("ci_low"), entry.get("ci_high")
    hi_s = "inf" if hi is None else format_value(hi)
    return f"{value} [{format_value(lo)}, {hi_s}]"


def _norm_view(report: Mapping[str, Any], norm: str | None) -> Mapping[str, Any]:
    """The report seen through one image norm (``None``: the top-level, primary norm)."""
    if norm is None:
        return report
    up = report["upper_bound"]
    view_up = {**up, "image": up["norms"][norm]["image"]}
    view: dict[str, Any] = {}
    for name, c in report["classifiers"].items():
        per = c["norms"][norm]
        view[name] = {
            **c,
            "bound": {**c["bound"], "image": per["bound"]["image"]},
            "empirical": {"z": c["empirical"]["z"], **per["empirical"]},
            "audit": {"z": c["audit"]["z"], **per["audit"]},
            "success_rate": {**c["success_rate"], **per["success_rate"]},
        }
    return {**report, "upper_bound": view_up, "classifiers": view}


def _error_cell(c: Mapping[str, Any]) -> str:
    err = c.get("test_error")
    return "-" if err is None else f"{100 * err:.1f}%"


def markdown_table(report: Mapping[str, Any], *, with_ci: bool = True, norm: str | None = None) -> str:
    """The paper's table layout from a report dictionary.

    Rows: error rate (on the real test set, ``-`` when there is none), robustness
    in Z-space, in-distribution, unconstrained (each the normalised
    ``quantile``); columns: the upper bound (K equiprobable classes, as in the
    paper), then one column per classifier. A second table gives each
    classifier's own bound (from its class proportions on generated data) and the
    audit's verdict for each setting. ``norm`` selects the image norm of the
    image-space rows (``None``: the report's first norm, kept at the top level);
    the Z-space row is always l2.
    """
    settings = report["settings"]
    view_norm = norm if norm is not None else (settings.get("norms") or [None])[0]
    per_norm_up = report["upper_bound"].get("norms", {}).get(view_norm, {})
    # a second upper-bound column under the certified omega, when it is not the primary one
    proven = per_norm_up.get("bounds", {}).get("certified") if per_norm_up.get("modulus") != "certified" else None
    report = _norm_view(report, norm)
    classifiers: Mapping[str, Any] = report["classifiers"]
    names = list(classifiers)
    q = settings["quantile"]
    up = report["upper_bound"]
    k = up["n_classes"]
    extra = "" if proven is None else f" Upper bound, certified omega (proven at {100 * proven['confidence']:.3g}%) |"
    lines = [
        f"| {round(q * 100)}% quantile of normalised robustness | Upper bound ({k} equiprobable classes) |"
        + extra
        + " "
        + " | ".join(names)
        + " |",
        "|" + "---|" * (2 + len(names) + (proven is not None)),
    ]
    errors = [_error_cell(classifiers[n]) for n in names]
    lines.append(f"| {ROW_NAMES['error']} | - | " + ("- | " if proven else "") + " | ".join(errors) + " |")
    for s in SETTINGS:
        cells = [_cell(classifiers[n]["empirical"][s], with_ci) for n in names]
        bound = up["z"] if s == "z" else up["image"]
        second = "" if proven is None else f"{format_value(up['z'] if s == 'z' else proven['image'])} | "
        lines.append(f"| {ROW_NAMES[s]} | {format_value(bound)} | {second}" + " | ".join(cells) + " |")
    out = "\n".join(lines)
    own = [
        "| Own bound and audit | " + " | ".join(names) + " |",
        "|" + "---|" * (1 + len(names)),
        "| Largest / smallest class share on g(z) | "
        + " | ".join(
            f"{max(classifiers[n]['class_proportions']):.2f} / {min(classifiers[n]['class_proportions']):.3f}"
            for n in names
        )
        + " |",
        "| Upper bound, Z-space (own proportions, conservative) | "
        + " | ".join(format_value(classifiers[n]["bound"]["z"]) for n in names)
        + " |",
        "| Upper bound, image space (own proportions, conservative) | "
        + " | ".join(format_value(classifiers[n]["bound"]["image"]) for n in names)
        + " |",
    ]
    if proven is not None:
        own.append(
            "| Upper bound, image space, certified omega (own proportions; proven) | "
            + " | ".join(
                format_value(classifiers[n]["norms"][view_norm]["bounds"]["certified"]["image"]) for n in names
            )
            + " |"
        )
    for s in SETTINGS:
        verdicts = []
        for n in names:
            audit = classifiers[n]["audit"][s]
            verdicts.append("ok" if audit["ok"] else "**VIOLATION**")
        own.append(f"| Audit, {AUDIT_NAMES[s]} | " + " | ".join(verdicts) + " |")
    own.append(
        "| Attack success (Z / in / unc) | "
        + " | ".join("/".join(f"{100 * classifiers[n]['success_rate'][s]:.0f}%" for s in SETTINGS) for n in names)
        + " |"
    )
    return out + "\n\n" + "\n".join(own)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def ceiling_table(report: Mapping[str, Any], norm: str, *, modulus: str | None = None) -> str:
    """The robust-accuracy ceilings at each epsilon of one image norm, as a Markdown table.

    Columns: epsilon; the ceiling for any classifier when the K true classes of
    g(z) are equiprobable (:func:`any_classifier_ceiling`); the ceiling for a
    classifier whose predictions are K equiprobable classes (``1 - B + delta``
    of the equiprobable bound); then per classifier its own ceiling (from its
    conservative class proportions) and its measured robust accuracy on
    generated data (fraction whose measured distance exceeds epsilon: an
    *upper* estimate, since an attack over-estimates each distance).

    ``modulus`` (``"estimate"``, ``"certified"``, ``"given"``): the ceilings under
    that omega (each row's ``by_modulus`` entry); ``None``: the row's primary
    omega. The measured columns do not depend on omega.
    """
    rows = report["ceilings"][norm]
    if modulus is not None:
        rows = [
            {
                **row,
                **{k: row["by_modulus"][modulus][k] for k in ("any_classifier", "equiprobable")},
                "classifiers": {
                    n: {**cell, "ceiling": row["by_modulus"][modulus]["classifiers"][n]}
                    for n, cell in row["classifiers"].items()
                },
            }
            for row in rows
        ]
    names = list(report["classifiers"])
    k = report["upper_bound"]["n_classes"]
    head = (
        f"| eps ({threat_model(norm)}) | any classifier, {k} equiprobable true classes | "
        f"{k} equiprobable predicted classes | " + " | ".join(f"{n}: own ceiling / measured" for n in names) + " |"
    )
    lines = [head, "|" + "---|" * (3 + len(names))]
    for row in rows:
        cells = [
            f"<= {_pct(row['classifiers'][n]['ceiling'])} / {_pct(row['classifiers'][n]['measured_robust_acc'])}"
            for n in names
        ]
        lines.append(
            f"| {row['eps_text']} | <= {_pct(row['any_classifier'])} | <= {_pct(row['equiprobable'])} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def robustbench_records(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One RobustBench-shaped record per classifier, image norm and epsilon.

    RobustBench's field names where they exist (``name``, ``dataset``,
    ``threat_model`` as ``"L2"``/``"Linf"``, ``eps`` as text such as ``"8/255"``,
    ``clean_acc``; accuracies in percent as on its leaderboards), plus
    ``robust_acc`` (measured on generated data with the report's attack: an
    upper estimate), ``ceiling_robust_acc`` (this classifier's ceiling from its
    own conservative proportions), ``ceiling_robust_acc_any``
    (:func:`any_classifier_ceiling` with equiprobable true classes),
    ``ceiling_q25`` (upper bound on the 25% quantile of its image-space
    robustness, in the image norm's units, whatever the report's quantile), ``audit`` (verdicts) and
    ``status``/``confidence`` of the ceilings (see the report's
    ``confidence`` section). Where a certified omega is available,
    ``ceiling_robust_acc_proven`` and ``ceiling_robust_acc_any_proven`` are the same
    ceilings under it, proven at ``proven_confidence`` (``None`` otherwise).
    """
    out: list[dict[str, Any]] = []
    conf = report.get("confidence", {})
    dataset = report.get("dataset", {}).get("name", "generated")
    for norm in report["settings"]["norms"]:
        for row in report["ceilings"][norm]:
            for name, c in report["classifiers"].items():
                cell = row["classifiers"][name]
                per = c["norms"][norm]
                proven = row.get("by_modulus", {}).get("certified")

                def pct(x: float | None) -> float | None:
                    return None if x is None else round(100.0 * x, 4)

                out.append(
                    {
                        "name": name,
                        "dataset": dataset,
                        "threat_model": threat_model(norm),
                        "eps": row["eps_text"],
                        "eps_value": row["eps"],
                        "clean_acc": pct(c.get("clean_acc")),
                        "robust_acc": pct(cell["measured_robust_acc"]),
                        "robust_acc_is": "upper estimate (attack on generated data)",
                        "attack": per.get("attack"),
                        "ceiling_robust_acc": pct(cell["ceiling"]),
                        "ceiling_robust_acc_any": pct(row["any_classifier"]),
                        "ceiling_robust_acc_equiprobable": pct(row["equiprobable"]),
                        "ceiling_q25": per["bound"].get("image_raw_q25"),
                        "audit": {
                            s: bool(c["audit"]["z"]["ok"]) if s == "z" else bool(per["audit"][s]["ok"])
                            for s in SETTINGS
                        },
                        "status": conf.get("image_status"),
                        "confidence": conf.get("image_own_confidence"),
                        # the proven ceiling (certified omega), when there is one
                        "ceiling_robust_acc_proven": pct(proven["classifiers"][name]) if proven else None,
                        "ceiling_robust_acc_any_proven": pct(proven["any_classifier"]) if proven else None,
                        "proven_confidence": proven["confidence"] if proven else None,
                        "generated_samples": report["settings"]["n_samples"],
                    }
                )
    return out


def json_ready(obj: Any) -> Any:
    """Recursively turn numpy/torch scalars and arrays into JSON values; non-finite floats become ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor
        return json_ready(obj.detach().cpu().numpy())
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def versions() -> dict[str, str]:
    """Versions of Python, the platform and the libraries that shape the numbers."""
    import scipy

    out = {"python": platform.python_version(), "platform": platform.platform(), "numpy": np.__version__}
    out["scipy"] = scipy.__version__
    try:
        import torch

        out["torch"] = torch.__version__
        out["cuda"] = str(torch.version.cuda)
    except ImportError:  # pragma: no cover - the experiment always has torch
        pass
    try:
        import isobound

        out["isobound"] = getattr(isobound, "__version__", "unknown")
    except ImportError:  # pragma: no cover
        pass
    try:
        import sklearn

        out["scikit-learn"] = sklearn.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def write_json(path: Path, report: Mapping[str, Any]) -> str:
    """JSON text of ``report`` (strict: no NaN/inf)."""
    return json.dumps(json_ready(report), indent=1, allow_nan=False)


# ---------------------------------------------------------------------------------------
# Plots (matplotlib's object API: no pyplot, no global backend change)
# ---------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _ecdf(ax: Any, values: NDArray[np.float64], label: str, color: str) -> None:
    x = np.sort(np.where(np.isnan(values), np.inf, values))
    n = x.size
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return
    y = np.arange(1, finite.size + 1) / n
    ax.step(np.concatenate([[0.0], finite]), np.concatenate([[0.0], y]), where="post", color=color, label=label)


def plot_cdfs(
    path: Path | None,
    name: str,
    distances: Mapping[str, NDArray[np.float64]],
    bounds: Mapping[str, Any],
    normalisers: Mapping[str, float],
    *,
    quantile: float,
    bound_label: str | Mapping[str, str] = "bound (lower bound on cdf)",
    reference: Mapping[str, Any] | None = None,
    reference_label: str | Mapping[str, str] = "equiprobable bound",
    measured_label: str = "measured (DeepFool)",
    norm: str = "l2",
) -> Any:
    """Empirical robustness CDFs of one classifier against the bound's CDF (lower bound).

    Three panels (Z-space, in-distribution, unconstrained); x-axes are normalised as
    in the table. Where an empirical curve falls below the bound's curve the
    measurements claim more robustness than any classifier can have.
    ``bound_label`` says which bound is drawn (whose proportions, and for the
    image-space panels which omega and delta): one string, or ``{"z": ...,
    "image": ...}`` for the latent and the image-space panels. ``reference``
    (with ``reference_label``, same forms) adds a second bound, dashed, e.g.
    the equiprobable one. ``path=None`` returns the matplotlib Figure instead of
    writing a PNG.
    """

    def label(text: str | Mapping[str, str], key: str) -> str:
        return text if isinstance(text, str) else text[key]

    fig = _figure(12, 4.4)
    sym = "||.||_2" if norm == "l2" else "||.||_inf"
    titles = {"z": "latent r_Z / E||z||_2", "in": f"r_in / mean {sym} of g(z)", "unc": f"r_unc / mean {sym} of g(z)"}
    for i, s in enumerate(SETTINGS):
        ax = fig.add_subplot(1, 3, i + 1)
        vals = np.asarray(distances[s], dtype=np.float64) / normalisers[s]
        _ecdf(ax, vals, measured_label, "C0")
        finite = vals[np.isfinite(vals)]
        bound = bounds["z" if s == "z" else "image"]
        top = float(bound.ppf(0.95)) / normalisers[s]
        if finite.size:
            top = max(top, float(np.quantile(finite, 0.99)))
        if not math.isfinite(top) or top <= 0:
            top = 1.0
        grid = np.linspace(0.0, 1.05 * top, 400)
        key = "z" if s == "z" else "image"
        ax.plot(grid, np.asarray(bound.cdf(grid * normalisers[s])), color="C3", label=label(bound_label, key))
        if reference is not None:
            ref = reference[key]
            ax.plot(
                grid, np.asarray(ref.cdf(grid * normalisers[s])), color="C2", ls="--", label=label(reference_label, key)
            )
        ax.axhline(quantile, color="0.6", lw=0.8, ls=":")
        ax.set_xlim(0, 1.05 * top)
        ax.set_ylim(0, 1.01)
        ax.set_title(titles[s], fontsize=9)
        ax.set_xlabel("normalised robustness", fontsize=8)
        if i == 0:
            ax.set_ylabel("P(robustness <= t)", fontsize=8)
    # one legend under the panels: the latent bound (left panel) and the image-space
    # bound with its omega (the other two), so it says which bound each curve is
    handles: list[Any] = []
    names: list[str] = []
    for ax in fig.axes[:2]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in names:
                handles.append(h)
                names.append(lab)
    fig.legend(handles, names, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(f"{name}: empirical robustness vs the isoperimetric bound (image norm {norm})", fontsize=10)
    # fixed margins: tight_layout measured every tick label and cost more than the drawing
    fig.subplots_adjust(left=0.05, right=0.99, top=0.88, bottom=0.17 + 0.045 * math.ceil(len(names) / 2), wspace=0.2)
    if path is None:
        return fig
    fig.savefig(path, format="png")
    return path


def plot_sandwich(path: Path | None, sandwich: Mapping[str, Any], norm: str, *, confidence: float) -> Any:
    """The two omega curves of one image norm, with the band between them.

    ``sandwich`` is a report's ``sandwich[norm]`` entry: the ascent estimate (a
    lower estimate of omega) and the certified bound (an upper bound, proven at
    ``confidence``) per latent radius, as steps (omega is read at the next
    radius); the global Lipschitz bound ``t L`` is drawn as a dashed line when it
    stays within three times the largest certified value (else it would flatten
    the band, and the legend gives ``L``). ``path=None`` returns the Figure.
    """
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    t = np.concatenate([[0.0], np.asarray(sandwich["radii"], dtype=np.float64)])
    cert = np.concatenate([[0.0], np.asarray(sandwich["certified"], dtype=np.float64)])
    est_raw = sandwich.get("estimate")
    top = float(cert.max())
    ax.step(t, cert, where="pre", color="C3", label=f"certified omega (upper bound, proven at {confidence:g})")
    if est_raw is not None:
        est = np.concatenate([[0.0], np.asarray(est_raw, dtype=np.float64)])
        ax.step(t, est, where="pre", color="C0", label="ascent omega (lower estimate)")
        ax.fill_between(
            t,
            est,
            cert,
            step="pre",
            color="C1",
            alpha=0.25,
            label="band holding the sampled omega (max of M_t over the N latents)",
        )
    lip = sandwich.get("global_lipschitz")
    if lip is not None:
        glob = t * float(lip)
        if glob[-1] <= 3 * top:
            ax.plot(t, glob, color="0.4", ls="--", label=f"global bound t L (L = {lip:.3g})")
            top = max(top, float(glob[-1]))
        else:
            ax.plot([], [], color="0.4", ls="--", label=f"global bound t L (L = {lip:.3g}), off the axes")
    ax.set_xlim(0, float(t[-1]))
    ax.set_ylim(0, 1.05 * top if top > 0 else 1.0)
    ax.set_xlabel("latent radius t (l2)", fontsize=8)
    ax.set_ylabel(f"omega(t), image norm {norm}", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.set_title(f"modulus of continuity of the generator ({threat_model(norm)})", fontsize=10)
    fig.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.12)
    if path is None:
        return fig
    fig.savefig(path, format="png")
    return path


def _mosaic(tiles: Sequence[NDArray[np.float64]], columns: int, pad: int = 1) -> NDArray[np.float64]:
    """Tile ``(C, H, W)`` images in ``[0, 1]`` into one ``(H', W')`` (grey) or ``(H', W', 3)`` picture.

    One picture in one axes draws many times faster than one axes per image. The
    padding is white (0 on the grey colour map ``gray_r``, 1 in colour).
    """
    c, h, w = tiles[0].shape
    rows = max(1, math.ceil(len(tiles) / columns))
    colour = c == 3
    blank = 1.0 if colour else 0.0
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3 if colour else 1), blank)
    for i, tile in enumerate(tiles):
        r, q = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        out[y : y + h, x : x + w] = np.clip(np.transpose(tile, (1, 2, 0)), 0, 1)
    return out if colour else out[:, :, 0]


def _show_mosaic(ax: Any, picture: NDArray[np.float64]) -> None:
    if picture.ndim == 2:
        ax.imshow(picture, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(picture, interpolation="nearest")
    ax.set_axis_off()


def plot_images(path: Path | None, images: NDArray[np.float64], title: str, *, columns: int = 8) -> Any:
    """A grid of images ``(N, C, H, W)`` in ``[0, 1]`` (``path=None``: return the Figure)."""
    n = images.shape[0]
    rows = max(1, math.ceil(n / columns))
    fig = _figure(columns * 0.9, rows * 0.9 + 0.4)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - 0.4 / (rows * 0.9 + 0.4)))
    _show_mosaic(ax, _mosaic([np.asarray(im, dtype=np.float64) for im in images], columns))
    fig.suptitle(title, fontsize=9)
    if path is None:
        return fig
    fig.savefig(path, format="png")
    return path


def plot_pairs(path: Path | None, examples: Mapping[str, Mapping[str, Any]], classes: Sequence[str]) -> Any:
    """Original / unconstrained-adversarial / in-distribution-adversarial triples per classifier.

    ``path=None``: return the Figure instead of writing a file.

    ``examples[name]`` holds ``x``, ``x_unc``, ``x_in`` (images) and ``label``,
    ``label_unc``, ``label_in`` (predicted classes). One row per classifier; each
    tile is captioned with the setting and the label the classifier gives it.
    """
    names = list(examples)
    n = min(int(np.asarray(examples[names[0]]["x"]).shape[0]), 4) if names else 0
    keys = (("x", "label", "g(z)"), ("x_unc", "label_unc", "unc"), ("x_in", "label_in", "in"))
    tiles: list[NDArray[np.float64]] = []
    captions: list[str] = []
    for name in names:
        ex = examples[name]
        for j in range(n):
            for key, lab, tag in keys:
                tiles.append(np.asarray(ex[key], dtype=np.float64)[j])
                captions.append(f"{tag}: {classes[int(np.asarray(ex[lab])[j])]}")
    columns = max(3 * n, 1)
    fig = _figure(max(3 * n, 3) * 0.9 + 0.8, max(len(names), 1) * 1.2 + 0.4)
    if not tiles:
        return fig if path is None else (fig.savefig(path, format="png"), path)[1]
    top = 1.0 - 0.4 / (max(len(names), 1) * 1.2 + 0.4)
    ax = fig.add_axes((0.8 / (columns * 0.9 + 0.8), 0.01, 1.0 - 0.8 / (columns * 0.9 + 0.8) - 0.01, top - 0.02))
    picture = _mosaic(tiles, columns, pad=max(2, tiles[0].shape[1] // 3))
    _show_mosaic(ax, picture)
    _, h, w = tiles[0].shape
    pad = max(2, h // 3)
    for i, caption in enumerate(captions):
        r, q = divmod(i, columns)
        ax.text(pad + q * (w + pad) + w / 2, pad + r * (h + pad) - 0.3, caption, ha="center", va="bottom", fontsize=6)
    for r, name in enumerate(names):
        ax.text(-1.0, pad + r * (h + pad) + h / 2, name, ha="right", va="center", fontsize=7)
    fig.suptitle("original g(z), unconstrained and in-distribution adversarial examples", fontsize=9)
    if path is None:
        return fig
    fig.savefig(path, format="png")
    return path
