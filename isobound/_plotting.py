r"""The paper's Figure 2: the median robustness bound against the latent dimension.

For ``K`` equiprobable classes and :math:`\omega` the identity, the median
of the worst-case robustness :math:`R^*` (an **upper bound** on the median
latent robustness of any classifier) does not depend on the latent
dimension ``d``; normalised by :math:`\sqrt d`, the typical norm of a
latent, it decays like :math:`1/\sqrt d`.  Figure 2 plots
:math:`\text{median}(R^*)/\sqrt d` against ``d`` for K = 2, 10, 100, 1000.

matplotlib is an optional dependency (``pip install 'isobound[plot]'``) and
is imported only when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._bound import IsoperimetricBound

__all__ = ["FIGURE2_CLASSES", "figure2", "figure2_data"]

FloatArray = NDArray[np.float64]

#: The numbers of classes drawn in the paper's Figure 2.
FIGURE2_CLASSES = (2, 10, 100, 1000)


def _check_classes(classes: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(classes)
    if not ks:
        raise ValueError(f"classes must list at least one number of classes, got classes={ks!r}")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            raise ValueError(f"classes must be integers >= 2, got classes={ks!r}")
    return tuple(int(k) for k in ks)


def _check_dims(dims: Any) -> FloatArray:
    d = np.asarray(dims, dtype=np.float64).reshape(-1)
    if d.size == 0 or np.any(~np.isfinite(d)) or np.any(d <= 0):
        raise ValueError(f"dims must be positive finite dimensions, got dims={dims!r}")
    return d


def figure2_data(classes: Sequence[int] = FIGURE2_CLASSES, dims: Any = None) -> dict[str, Any]:
    r"""The numbers behind Figure 2.

    Parameters
    ----------
    classes : sequence of int, optional
        Numbers of equiprobable classes ``K >= 2`` (default 2, 10, 100, 1000).
    dims : array_like, optional
        Latent dimensions ``d > 0`` (default: 200 log-spaced values from 1
        to 1000).

    Returns
    -------
    dict
        ``"dims"`` (ndarray), ``"medians"`` (``{K: median of R*}``, the upper
        bound on the median latent robustness, independent of ``d``) and
        ``"curves"`` (``{K: median / sqrt(dims)}``, the plotted upper bounds
        on the median of :math:`r/\sqrt d`).

    Raises
    ------
    ValueError
        For an empty ``classes``, a ``K < 2``, or non-positive ``dims``.

    Examples
    --------
    >>> data = figure2_data(classes=[2, 10], dims=[1.0, 100.0])
    >>> round(data["medians"][2], 6), round(data["medians"][10], 6)
    (0.67449, 0.363302)
    >>> data["curves"][10].round(6).tolist()
    [0.363302, 0.03633]
    """
    ks = _check_classes(classes)
    d = np.geomspace(1.0, 1000.0, 200) if dims is None else _check_dims(dims)
    medians = {k: IsoperimetricBound.equiprobable(k).median() for k in ks}
    curves = {k: medians[k] / np.sqrt(d) for k in ks}
    return {"dims": d, "medians": medians, "curves": curves}


def _require_matplotlib() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "drawing Figure 2 needs matplotlib, an optional dependency: "
            "pip install 'isobound[plot]'"
        ) from exc
    return Figure


def figure2(
    classes: Sequence[int] = FIGURE2_CLASSES,
    dims: Any = None,
    *,
    ax: Any = None,
    log_x: bool = True,
    log_y: bool = False,
) -> Any:
    r"""Draw the paper's Figure 2 (upper bound on the median of :math:`r/\sqrt d`).

    One curve per ``K``: :math:`\text{median}(R^*_K)/\sqrt d` against ``d``,
    with :math:`\omega` the identity and equiprobable classes.  Every
    classifier's median normalised latent robustness lies *below* its
    curve.

    Parameters
    ----------
    classes, dims
        As in :func:`figure2_data`.
    ax : matplotlib Axes, optional
        Draw into these axes; by default a new ``matplotlib.figure.Figure``
        is made (no pyplot, so no display or backend is needed).
    log_x, log_y : bool, optional
        Logarithmic axes (default: log ``d``, linear bound).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (save it with ``fig.savefig(path)``).

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        For invalid ``classes`` or ``dims``.
    """
    data = figure2_data(classes, dims)
    if ax is None:
        figure_cls = _require_matplotlib()
        fig = figure_cls(figsize=(5.5, 4.0))
        ax = fig.subplots()
    else:
        fig = ax.figure
    d = data["dims"]
    for k, curve in data["curves"].items():
        ax.plot(d, curve, label=f"K = {k}")
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("latent dimension d")
    ax.set_ylabel(r"upper bound on median of $r_{in}/\sqrt{d}$")
    ax.set_title(r"Theorem 1, $\omega(t) = t$, equiprobable classes")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
