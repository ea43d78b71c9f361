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
    "format_value",
    "markdown_table",
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
        return QuantileEstimate(
            self.q, self.value * factor, self.low * factor, self.high * factor, self.level, self.n
        )

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


def markdown_table(report: Mapping[str, Any], *, with_ci: bool = True) -> str:
    """The paper's table layout from a report dictionary.

    Rows: error rate, robustness in Z-space, in-distribution, unconstrained (each the
    normalised ``quantile``); columns: the upper bound (K equiprobable classes, as in
    the paper), then one column per classifier. A second table gives each
    classifier's own bound (from its class proportions on generated data) and the
    audit's verdict for each setting.
    """
    classifiers: Mapping[str, Any] = report["classifiers"]
    names = list(classifiers)
    q = report["settings"]["quantile"]
    up = report["upper_bound"]
    k = up["n_classes"]
    lines = [
        f"| {int(round(q * 100))}% quantile of normalised robustness | Upper bound ({k} equiprobable classes) | "
        + " | ".join(names)
        + " |",
        "|" + "---|" * (2 + len(names)),
    ]
    errors = [f"{100 * classifiers[n]['test_error']:.1f}%" for n in names]
    lines.append(f"| {ROW_NAMES['error']} | - | " + " | ".join(errors) + " |")
    for s in SETTINGS:
        cells = [_cell(classifiers[n]["empirical"][s], with_ci) for n in names]
        bound = up["z"] if s == "z" else up["image"]
        lines.append(f"| {ROW_NAMES[s]} | {format_value(bound)} | " + " | ".join(cells) + " |")
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
    for s in SETTINGS:
        verdicts = []
        for n in names:
            audit = classifiers[n]["audit"][s]
            verdicts.append("ok" if audit["ok"] else "**VIOLATION**")
        own.append(f"| Audit, {AUDIT_NAMES[s]} | " + " | ".join(verdicts) + " |")
    own.append(
        "| DeepFool success (Z / in / unc) | "
        + " | ".join(
            "/".join(f"{100 * classifiers[n]['success_rate'][s]:.0f}%" for s in SETTINGS) for n in names
        )
        + " |"
    )
    return out + "\n\n" + "\n".join(own)


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
    path: Path,
    name: str,
    distances: Mapping[str, NDArray[np.float64]],
    bounds: Mapping[str, Any],
    normalisers: Mapping[str, float],
    *,
    quantile: float,
) -> Path:
    """Empirical robustness CDFs of one classifier against the bound's CDF (lower bound).

    Three panels (Z-space, in-distribution, unconstrained); x-axes are normalised as
    in the table. Where an empirical curve falls below the bound's curve the
    measurements claim more robustness than any classifier can have.
    """
    fig = _figure(12, 3.6)
    titles = {"z": "latent r_Z / E||z||", "in": "r_in / mean ||g(z)||", "unc": "r_unc / mean ||g(z)||"}
    for i, s in enumerate(SETTINGS):
        ax = fig.add_subplot(1, 3, i + 1)
        vals = np.asarray(distances[s], dtype=np.float64) / normalisers[s]
        _ecdf(ax, vals, "measured (DeepFool)", "C0")
        finite = vals[np.isfinite(vals)]
        bound = bounds["z" if s == "z" else "image"]
        top = float(bound.ppf(0.95)) / normalisers[s]
        if finite.size:
            top = max(top, float(np.quantile(finite, 0.99)))
        if not math.isfinite(top) or top <= 0:
            top = 1.0
        grid = np.linspace(0.0, 1.05 * top, 400)
        ax.plot(grid, np.asarray(bound.cdf(grid * normalisers[s])), color="C3", label="bound (lower bound on cdf)")
        ax.axhline(quantile, color="0.6", lw=0.8, ls=":")
        ax.set_xlim(0, 1.05 * top)
        ax.set_ylim(0, 1.01)
        ax.set_title(titles[s], fontsize=9)
        ax.set_xlabel("normalised robustness", fontsize=8)
        if i == 0:
            ax.set_ylabel("P(robustness <= t)", fontsize=8)
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{name}: empirical robustness vs the isoperimetric bound", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _show(ax: Any, img: NDArray[np.float64], title: str | None = None) -> None:
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray_r", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(np.transpose(img, (1, 2, 0)), 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def plot_images(path: Path, images: NDArray[np.float64], title: str, *, columns: int = 8) -> Path:
    """A grid of images ``(N, C, H, W)`` in ``[0, 1]``."""
    n = images.shape[0]
    rows = max(1, math.ceil(n / columns))
    fig = _figure(columns * 0.9, rows * 0.9 + 0.4)
    for i in range(n):
        _show(fig.add_subplot(rows, columns, i + 1), images[i])
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, format="png")
    return path


def plot_pairs(path: Path, examples: Mapping[str, Mapping[str, Any]], classes: Sequence[str]) -> Path:
    """Original / unconstrained-adversarial / in-distribution-adversarial triples per classifier.

    ``examples[name]`` holds ``x``, ``x_unc``, ``x_in`` (images) and ``label``,
    ``label_unc``, ``label_in`` (predicted classes).
    """
    names = list(examples)
    n = min(int(np.asarray(examples[names[0]]["x"]).shape[0]), 4) if names else 0
    fig = _figure(max(3 * n, 3) * 0.9, max(len(names), 1) * 1.2 + 0.4)
    for r, name in enumerate(names):
        ex = examples[name]
        for j in range(n):
            for c, (key, lab, tag) in enumerate(
                (("x", "label", "g(z)"), ("x_unc", "label_unc", "unc"), ("x_in", "label_in", "in"))
            ):
                ax = fig.add_subplot(len(names), 3 * n, r * 3 * n + 3 * j + c + 1)
                label = int(np.asarray(ex[lab])[j])
                _show(ax, np.asarray(ex[key])[j], f"{tag}: {classes[label]}")
                if j == 0 and c == 0:
                    ax.set_ylabel(name, fontsize=7)
    fig.suptitle("original g(z), unconstrained and in-distribution adversarial examples", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
