"""Command line interface: ``isobound bound``, ``isobound figure2``, ``isobound experiment``.

Nothing is parsed at import time; :func:`main` takes the argument list and
returns the exit status.  Plain tables by default, ``--json`` for machines.

Exit statuses (the same for every subcommand, through :func:`run_command`):

=====  ==================================================================
0      success
2      bad input, an unusable path (unwritable, missing, a file where a
       directory is expected) or a missing optional dependency; a message
       on stderr names the argument or the path, never a traceback
130    interrupted (Ctrl-C); the message says whether re-running resumes
141    the reader of stdout went away (``isobound ... | head``): output
       stops quietly, as it does for other Unix tools killed by SIGPIPE
=====  ==================================================================
"""

from __future__ import annotations

import argparse
import decimal
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import numpy as np

from . import __version__
from ._validation import SUM_TOLERANCE

__all__ = ["main", "run_command", "UsageError", "EXIT_USAGE", "EXIT_INTERRUPTED", "EXIT_BROKEN_PIPE"]

PROG = "isobound"

_EXAMPLES = """\
examples:
  isobound bound --classes 10 --latent-dim 100 --quantile 0.25
      upper bound on the 25% quantile of latent robustness (the paper's Tables 1-2)
  isobound bound --probs 0.5,0.3,0.2 --lipschitz 2.5 --eta 0.1,0.5
      lower bound on P(r_in <= eta) for a 2.5-Lipschitz generator
  isobound bound --classes 10 --mean --holder 3,0.5
      Theorem 4: exact E R* and E omega(R*), omega(E R*), and the paper's closed form
  isobound figure2 --out fig2.png
      the paper's Figure 2 (needs matplotlib: pip install 'isobound[plot]')
  isobound experiment --help
      the paper's experiments (needs torch: pip install 'isobound[torch]')
  isobound evaluate --help
      the same comparison for your own generator and classifiers (needs torch)
"""


#: Exit status for bad input or an unusable path.
EXIT_USAGE = 2
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: Exit status when stdout's reader has gone (128 + SIGPIPE, as shells report it).
EXIT_BROKEN_PIPE = 141


class UsageError(Exception):
    """Bad input discovered after argparse: reported like an argparse error.

    Parameters
    ----------
    message : str
        What is wrong, naming the argument and the value.
    prog : str, optional
        The command to name in the message (default: the one given to
        :func:`run_command`).
    """

    def __init__(self, message: str, *, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


def _describe_os_error(exc: OSError) -> str:
    """``Permission denied: '/path'`` rather than ``[Errno 13] Permission denied: '/path'``."""
    what = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return what
    where = repr(os.fsdecode(exc.filename))
    if exc.filename2 is not None:
        where += f" -> {os.fsdecode(exc.filename2)!r}"
    return f"{what}: {where}"


def _silence_stdout() -> None:
    """Point stdout's file descriptor at /dev/null so that the exit-time flush cannot fail."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (captured, replaced)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def run_command(
    prog: str,
    body: Callable[[], int | None],
    *,
    interrupted: str = "interrupted",
    user_errors: tuple[type[BaseException], ...] = (),
) -> int:
    """Run one command's ``body`` and turn every expected failure into a message and a status.

    This is the one place where the command line handles errors: every
    subcommand (``bound``, ``figure2``, ``experiment``, and plugins) runs its
    body through it, so that no failure a user can cause ends in a traceback.

    Parameters
    ----------
    prog : str
        Name used in messages, e.g. ``"isobound experiment"``.
    body : callable
        Does the work and returns the exit status (``None`` means 0).
    interrupted : str, optional
        Printed after Ctrl-C (e.g. ``"interrupted; run the same command again
        to resume"`` for a resumable command).
    user_errors : tuple of exception types, optional
        Further exceptions that mean bad input (e.g. ``(ValueError,)`` where the
        library's own checks name the argument); reported with their message
        and status 2.

    Returns
    -------
    int
        The body's status; 2 (:data:`EXIT_USAGE`) for a :class:`UsageError`, an
        exception in ``user_errors`` or an ``OSError`` (a path that cannot be
        read or written), 130 (:data:`EXIT_INTERRUPTED`) after Ctrl-C, 141
        (:data:`EXIT_BROKEN_PIPE`) when stdout's reader has gone. ``SystemExit``
        (argparse's ``--help`` and usage errors) becomes its code.

    Examples
    --------
    >>> import contextlib, io
    >>> def body():
    ...     raise UsageError("--size: must be positive, got -1")
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     run_command("demo", body)
    2
    >>> err.getvalue()
    'demo: error: --size: must be positive, got -1\\n'
    >>> def stopped():
    ...     raise KeyboardInterrupt
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     run_command("demo", stopped, interrupted="interrupted; run it again to resume")
    130
    >>> err.getvalue()
    '\\ndemo: interrupted; run it again to resume\\n'
    """
    try:
        rc = body()
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return int(rc or 0)
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        sys.stderr.write(f"{prog}: error: {code}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _write_stderr(f"\n{prog}: {interrupted}\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except UsageError as exc:
        _write_stderr(f"{exc.prog or prog}: error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        _write_stderr(f"{prog}: error: {_describe_os_error(exc)}\n")
        return EXIT_USAGE
    except user_errors as exc:
        _write_stderr(f"{prog}: error: {exc}\n")
        return EXIT_USAGE


def _write_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr itself is gone: nothing left to tell
        pass


# ---------------------------------------------------------------------------
# argument types
# ---------------------------------------------------------------------------


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _parse_int(text: str) -> int:
    """An integer, also written as ``1e15`` or ``1e400`` (exact: read as a decimal, not a float)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if value.adjusted() > 4000:  # int() of it would take a long time and a lot of memory
        raise argparse.ArgumentTypeError(f"integer too large (more than 4000 digits): {text!r}")
    return int(value)


def _positive_int(text: str) -> int:
    value = _parse_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


class _Printed(list[float]):
    """Numbers parsed from text, with the most decimals any of them was written with.

    ``decimals`` is ``None`` when an entry is not a plain decimal (``nan``, ``inf``).
    """

    decimals: int | None = None
    source: str = ""


def _decimals(text: str) -> int | None:
    try:
        exponent = decimal.Decimal(text.strip()).as_tuple().exponent
    except decimal.InvalidOperation:
        return None
    return max(0, -exponent) if isinstance(exponent, int) else None


def _printed(values: list[float], texts: list[str], source: str) -> _Printed:
    out = _Printed(values)
    digits = [_decimals(t) for t in texts]
    out.decimals = None if any(d is None for d in digits) else max(digits, default=0)  # type: ignore[type-var]
    out.source = source
    return out


def _float_list(text: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(p == "" for p in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    return _printed([_parse_float(p) for p in parts], parts, text)


_FIELD_SEPARATORS = re.compile(r"[,;\s]+")


def _read_probs_file(path: str) -> _Printed:
    """Numbers from a text file: one per line, or comma/semicolon/space separated (CSV).

    Blank lines and lines starting with ``#`` are skipped; ``-`` reads stdin.
    Errors name the file and the line.
    """
    flag = "--probs-file"
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {path!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{flag}: {path!r} is not a UTF-8 text file ({exc.reason})") from None
    values: list[float] = []
    texts: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        for field in _FIELD_SEPARATORS.split(stripped):
            if field == "":
                continue
            try:
                values.append(float(field))
            except ValueError:
                raise UsageError(
                    f"{flag}: {path!r}, line {lineno}: not a number: {field!r} (expected one "
                    "probability per line, or comma-separated probabilities)"
                ) from None
            texts.append(field)
    if not values:
        raise UsageError(f"{flag}: {path!r} holds no numbers")
    return _printed(values, texts, path)


def _int_list(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(p == "" for p in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return [_parse_int(p) for p in parts]


def _pair(text: str) -> tuple[float, float]:
    values = _float_list(text)
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected two comma-separated numbers, got {text!r}")
    return values[0], values[1]


def _nonnegative(text: str) -> float:
    value = _parse_float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _failure_prob(text: str) -> float:
    value = _parse_float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {text!r}")
    return value


def _quantiles(text: str) -> list[float]:
    values = _float_list(text)
    for q in values:
        if not 0.0 <= q <= 1.0:
            raise argparse.ArgumentTypeError(f"quantiles must lie in [0, 1], got {q!r} in {text!r}")
    return values


def _radii(text: str) -> list[float]:
    values = _float_list(text)
    for r in values:
        if not r >= 0.0:
            raise argparse.ArgumentTypeError(f"radii must be >= 0, got {r!r} in {text!r}")
    return values


_NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def _attach_negative_values(argv: list[str]) -> list[str]:
    """Rewrite ``--flag -1.5,-2`` as ``--flag=-1.5,-2``.

    argparse takes a value that starts with ``-`` for an option unless it is
    a plain negative number, which breaks ``--log-probs -2.3,-0.1`` (log
    probabilities are negative) and ``--probs -0.5,1.5`` (which deserves a
    proper message about the negative entry).
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if (
            tok.startswith("--")
            and "=" not in tok
            and i + 1 < len(argv)
            and _NEGATIVE_VALUE.match(argv[i + 1])
        ):
            out.append(f"{tok}={argv[i + 1]}")
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Upper bounds on the adversarial robustness of ANY classifier on data from a "
            "smooth generative model (Fawzi, Fawzi & Fawzi, NeurIPS 2018). The bound is "
            "the distribution of the worst-case robustness R*: its cdf B is Eq. (2), a "
            "lower bound on P(r <= eta); its quantiles are upper bounds on the quantiles "
            "of robustness."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser(
        "bound",
        help="quantiles, cdf/sf and means of the robustness bound",
        description=(
            "Evaluate the worst-case robustness R* of Theorem 1. Without a modulus the "
            "radii are latent (r_Z, omega = identity); with --lipschitz/--affine/--holder "
            "they are image-space radii (r_in, and r_unc <= r_in)."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cls = b.add_argument_group("class proportions (exactly one)")
    cx = cls.add_mutually_exclusive_group(required=True)
    cx.add_argument(
        "--classes",
        type=_positive_int,
        metavar="K",
        help="K equiprobable classes (any K up to 1e15 and beyond)",
    )
    cx.add_argument(
        "--probs",
        type=_float_list,
        metavar="P1,P2,...",
        help="class proportions p_i = P(f(g(z)) = i), summing to 1 (up to the rounding of "
        "their printed decimals; see --normalize)",
    )
    cx.add_argument(
        "--probs-file",
        metavar="PATH",
        help="read the class proportions from a text file: one per line, or comma-separated "
        "(CSV); '#' starts a comment line; '-' reads stdin",
    )
    cx.add_argument(
        "--log-probs",
        type=_float_list,
        metavar="L1,L2,...",
        help="log class proportions (for classes below 1e-308)",
    )
    cls.add_argument(
        "--counts",
        type=_int_list,
        metavar="C1,C2,...",
        help="multiplicity of each --probs/--probs-file/--log-probs entry",
    )
    cls.add_argument(
        "--normalize",
        action="store_true",
        help="rescale the proportions to sum to 1, whatever their sum (without it, a sum off "
        "by more than the rounding of the printed decimals is an error)",
    )

    what = b.add_argument_group("what to compute (default: --quantile 0.25)")
    what.add_argument(
        "--quantile",
        type=_quantiles,
        metavar="Q1,Q2,...",
        help="upper bounds on these quantiles of robustness (Tables 1-2 use 0.25)",
    )
    what.add_argument(
        "--eta",
        type=_radii,
        metavar="E1,E2,...",
        help="radii: lower bound on P(r <= eta) and upper bound on P(r > eta)",
    )
    what.add_argument(
        "--mean",
        action="store_true",
        help="Theorem 4: exact E R* and E omega(R*), omega(E R*), and the K >= 5 closed form",
    )
    what.add_argument(
        "--latent-dim",
        type=_positive_int,
        metavar="D",
        help="latent dimension d: also report quantiles divided by E||z||_2",
    )
    what.add_argument(
        "--image-norm",
        type=_parse_float,
        metavar="N",
        help="mean image norm E||g(z)||: also report image quantiles divided by it",
    )

    mod = b.add_argument_group("modulus of continuity omega (default: identity, latent space)")
    mx = mod.add_mutually_exclusive_group()
    mx.add_argument("--lipschitz", type=_parse_float, metavar="L", help="omega(t) = L t")
    mx.add_argument(
        "--affine",
        type=_pair,
        metavar="SLOPE,INTERCEPT",
        help="omega(t) = slope t + intercept (no guarantee below omega(0) = intercept)",
    )
    mx.add_argument("--holder", type=_pair, metavar="C,ALPHA", help="omega(t) = C t^alpha")
    mod.add_argument(
        "--uniform-prior",
        action="store_true",
        help="the generator samples uniform [-1,1]^d latents: omega(t) = omega_u(sqrt(2/pi) t)",
    )
    mod.add_argument(
        "--failure-prob",
        type=_failure_prob,
        metavar="DELTA",
        default=0.0,
        help="probability that an estimated (probabilistic) modulus fails; subtracted from B",
    )
    mod.add_argument(
        "--wasserstein",
        type=_nonnegative,
        metavar="DELTA",
        default=0.0,
        help="Theorem 4: W1 distance between generated and true data (added to the means)",
    )
    mod.add_argument(
        "--diameter",
        type=_parse_float,
        metavar="R",
        help="bound on robustness where a probabilistic modulus fails (for --mean)",
    )
    b.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")

    f = sub.add_parser(
        "figure2",
        help="draw the paper's Figure 2 (needs matplotlib)",
        description=(
            "Draw Figure 2: the upper bound on the median of r/sqrt(d) against the latent "
            "dimension d, for equiprobable classes and omega = identity."
        ),
    )
    f.add_argument(
        "--out",
        default="figure2.png",
        metavar="PATH",
        help="output image (format from the extension; default figure2.png)",
    )
    f.add_argument(
        "--classes",
        type=_int_list,
        default=[2, 10, 100, 1000],
        metavar="K1,K2,...",
        help="numbers of classes (default 2,10,100,1000)",
    )
    f.add_argument(
        "--d-min",
        type=_parse_float,
        default=1.0,
        metavar="D",
        help="smallest latent dimension (default 1)",
    )
    f.add_argument(
        "--d-max",
        type=_parse_float,
        default=1000.0,
        metavar="D",
        help="largest latent dimension (default 1000)",
    )
    f.add_argument(
        "--points",
        type=_positive_int,
        default=200,
        metavar="N",
        help="number of dimensions drawn, log-spaced (default 200)",
    )
    f.add_argument("--linear-x", action="store_true", help="linear instead of log d axis")
    f.add_argument("--log-y", action="store_true", help="logarithmic bound axis")
    f.add_argument("--dpi", type=_positive_int, default=150, help="resolution (default 150)")
    f.add_argument("--json", action="store_true", help="also print the medians as JSON")

    sub.add_parser(
        "experiment",
        help="the paper's experiments: train, measure, bound (needs isobound[torch])",
        add_help=False,
    )
    sub.add_parser(
        "evaluate",
        help="your own generator and classifiers: measure, bound, ceilings at eps (needs isobound[torch])",
        add_help=False,
    )
    return parser


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _num(x: float) -> float | None:
    """A JSON-safe float: non-finite values become null."""
    x = float(x)
    return x if math.isfinite(x) else None


def _fmt(x: float | None, spec: str = ".6g") -> str:
    if x is None:
        return "n/a"
    return format(float(x), spec)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out.write("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    out.writelines("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + "\n" for r in rows)


def _guard(flag: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; turn a ValueError (or an OverflowError) into a usage error naming the flag.

    The library's hint ``normalize=True`` is the CLI's ``--normalize``.
    """
    try:
        return fn()
    except (ValueError, OverflowError) as exc:
        message = str(exc).replace("pass normalize=True", "pass --normalize")
        raise UsageError(f"{flag}: {message}") from None


#: The largest rounding error of a printed sum that ``--probs`` forgives without ``--normalize``.
MAX_ROUNDING = 1e-3


def rounding_tolerance(decimals: int | None, n_entries: float) -> float:
    """How far from 1 a sum of ``n_entries`` numbers printed to ``decimals`` places may be.

    Each entry is within half a unit of its last printed place, so the sum is
    within ``n_entries * 0.5 * 10**-decimals`` of the exact sum. Entries
    written with fewer places (``0.5`` beside ``0.166667``) are taken as exact
    at the finest printed place. ``None`` or 0 decimals: no tolerance. The
    result is capped at :data:`MAX_ROUNDING`: a coarser input (``0.5,0.4``
    "printed to 1 decimal") is more likely a typo than a rounding, and
    rescaling it needs an explicit ``--normalize``.

    Examples
    --------
    >>> rounding_tolerance(6, 3)
    1.5e-06
    >>> rounding_tolerance(None, 3), rounding_tolerance(0, 3), rounding_tolerance(1, 2)
    (0.0, 0.0, 0.001)
    """
    if not decimals:
        return 0.0
    return min(float(n_entries) * 0.5 * 10.0 ** (-decimals), MAX_ROUNDING)


def _make_bound(args: argparse.Namespace) -> tuple[Any, dict[str, Any], str]:
    import isobound as ib

    if args.counts is not None and args.classes is not None:
        raise UsageError("--counts goes with --probs, --probs-file or --log-probs, not with --classes")
    if args.classes is not None:
        k = args.classes
        digits = len(str(k)) if k >= 10**15 else None
        flag = "--classes" if digits is None else f"--classes (an integer of {digits} digits)"
        bound = _guard(flag, lambda: ib.IsoperimetricBound.equiprobable(k))
        equi: dict[str, Any] = {"equiprobable": True, "n_classes": k, "input_sum": None, "rescaled": False}
        return bound, equi, f"K = {k} equiprobable classes"
    if args.probs_file is not None:
        flag, values = "--probs-file", _read_probs_file(args.probs_file)
    elif args.probs is not None:
        flag, values = "--probs", args.probs
    else:
        flag, values = "--log-probs", args.log_probs
    if args.counts is not None and len(args.counts) != len(values):
        raise UsageError(
            f"--counts has {len(args.counts)} entries but {flag} has {len(values)}: "
            f"--counts={','.join(map(str, args.counts))}"
        )
    info: dict[str, Any] = {"equiprobable": False, "input_sum": None, "rescaled": False}
    if flag == "--log-probs":
        bound = _guard(
            flag,
            lambda: ib.IsoperimetricBound.from_log_probs(
                values, args.counts, normalize=args.normalize
            ),
        )
        info["rescaled"] = bool(args.normalize)
        return bound, info, f"K = {bound.n_classes} classes"
    normalize = bool(args.normalize)
    counts = [1] * len(values) if args.counts is None else args.counts
    if all(math.isfinite(v) and v >= 0 for v in values) and all(c >= 0 for c in counts):
        total = math.fsum(float(v) * float(c) for v, c in zip(values, counts, strict=True))
        info["input_sum"] = total
        tol = rounding_tolerance(getattr(values, "decimals", None), math.fsum(map(float, counts)))
        off = abs(total - 1.0)
        if not normalize and SUM_TOLERANCE < off <= tol * (1.0 + 1e-9):
            normalize = True
            info["note"] = (
                f"{flag}: the proportions sum to {total!r}, within the rounding of numbers printed "
                f"to {values.decimals} decimal{'s' if values.decimals != 1 else ''} "
                f"(|sum - 1| <= {tol:.3g}); rescaled to sum to 1"
            )
        info["rescaled"] = off > 0  # the bound divides by the sum whenever it accepts it
    bound = _guard(flag, lambda: ib.IsoperimetricBound(values, args.counts, normalize=normalize))
    return bound, info, f"K = {bound.n_classes} classes"


def _make_modulus(args: argparse.Namespace) -> Any:
    import isobound as ib

    delta = args.failure_prob
    omega: Any = None
    if args.lipschitz is not None:
        omega = _guard("--lipschitz", lambda: ib.Lipschitz(args.lipschitz, failure_prob=delta))
    elif args.affine is not None:
        s, c = args.affine
        omega = _guard("--affine", lambda: ib.Affine(s, c, failure_prob=delta))
    elif args.holder is not None:
        c, a = args.holder
        omega = _guard("--holder", lambda: ib.Holder(c, a, failure_prob=delta))
    elif delta:
        raise UsageError(
            f"--failure-prob={delta!r} needs a modulus (--lipschitz, --affine or --holder)"
        )
    if args.uniform_prior:
        omega = ib.UniformPrior(ib.Identity() if omega is None else omega)
    return omega


# ---------------------------------------------------------------------------
# isobound bound
# ---------------------------------------------------------------------------


def _cmd_bound(args: argparse.Namespace, out: TextIO) -> int:
    import isobound as ib

    latent, info, description = _make_bound(args)
    if "note" in info:
        sys.stderr.write(f"{PROG} bound: note: {info['note']}\n")
    omega = _make_modulus(args)
    image = latent.through(omega) if omega is not None else None
    if args.image_norm is not None and not (math.isfinite(args.image_norm) and args.image_norm > 0):
        raise UsageError(f"--image-norm must be a positive number, got {args.image_norm!r}")
    if args.image_norm is not None and omega is None:
        raise UsageError("--image-norm needs a modulus (image-space quantiles)")
    if args.diameter is not None and not args.diameter > 0:
        raise UsageError(f"--diameter must be a positive number, got {args.diameter!r}")
    quantiles = args.quantile
    if quantiles is None and args.eta is None and not args.mean:
        quantiles = [0.25]
    norm = None
    if args.latent_dim is not None:
        norm = float(ib.expected_gaussian_norm(args.latent_dim))

    result: dict[str, Any] = {
        "command": "bound",
        "classes": {
            # for --classes, K itself: exact however large (a float count is not)
            "n_classes": info.get("n_classes", latent.n_classes),
            "equiprobable": info["equiprobable"],
            "class_probs": [float(p) for p in latent.class_probs],
            "log_probs": [_num(lp) for lp in latent.log_probs],
            "counts": [info["n_classes"]]
            if "n_classes" in info
            else [int(c) for c in latent.counts],
            "input_sum": info["input_sum"],
            "rescaled": info["rescaled"],
        },
        "modulus": None
        if omega is None
        else {
            "repr": repr(omega),
            "failure_prob": omega.failure_prob,
            "concave": bool(omega.is_concave),
        },
        "latent_dim": args.latent_dim,
        "expected_latent_norm": norm,
        "image_norm": args.image_norm,
        "quantiles": [],
        "radii": [],
        "mean": None,
    }

    if quantiles:
        q = np.asarray(quantiles, dtype=np.float64)
        eps_q = np.asarray(latent.ppf(q), dtype=np.float64)
        img_q = None if image is None else np.asarray(image.ppf(q), dtype=np.float64)
        for i, qi in enumerate(q):
            result["quantiles"].append(
                {
                    "q": float(qi),
                    "latent_radius": _num(eps_q[i]),
                    "latent_radius_normalized": None if norm is None else _num(eps_q[i] / norm),
                    "image_radius": None if img_q is None else _num(img_q[i]),
                    "image_radius_normalized": None
                    if img_q is None or args.image_norm is None
                    else _num(img_q[i] / args.image_norm),
                }
            )
    if args.eta:
        eta = np.asarray(args.eta, dtype=np.float64)
        target = latent if image is None else image
        eps = eta if omega is None else np.asarray(omega.inverse(eta), dtype=np.float64)
        cdf = np.asarray(target.cdf(eta), dtype=np.float64)
        sf = np.asarray(target.sf(eta), dtype=np.float64)
        logsf = np.asarray(target.logsf(eta), dtype=np.float64)
        for i, e in enumerate(eta):
            result["radii"].append(
                {
                    "eta": float(e),
                    "latent_radius": _num(eps[i]),
                    "cdf_lower_bound": _num(cdf[i]),
                    "sf_upper_bound": _num(sf[i]),
                    "logsf_upper_bound": _num(logsf[i]),
                }
            )
    if args.mean:
        result["mean"] = _means(args, latent, omega, image)

    if args.json:
        json.dump(result, out, indent=2, allow_nan=False)
        out.write("\n")
    else:
        _print_bound(result, description, out)
    return 0


def _means(args: argparse.Namespace, latent: Any, omega: Any, image: Any) -> dict[str, Any]:
    import isobound as ib

    w = args.wasserstein
    notes: list[str] = []
    latent_mean = float(latent.mean())
    image_mean: float | None = None
    thm4: float | None = None
    closed: float | None = None
    if image is not None:
        if omega.failure_prob and args.diameter is None:
            notes.append(
                "E omega(R*): the modulus may fail; pass --diameter (a bound on robustness "
                "where it fails) to get it"
            )
        else:
            image_mean = float(image.mean(diameter=args.diameter)) + w
    m = ib.Identity() if omega is None else omega
    if m.is_concave and not m.failure_prob:
        # omega(E R*) + delta; E R* is rounded up and omega is non-decreasing.
        thm4 = float(m(latent_mean)) * (1.0 + 1e-14) + w
    else:
        notes.append(
            "omega(E R*) + delta (Theorem 4) needs a concave, deterministic omega; "
            "E omega(R*) holds for any monotone omega"
        )
    if args.classes is not None:
        if args.classes < 5:
            notes.append("the paper's closed form of Theorem 4 needs K >= 5")
        elif thm4 is not None:
            closed = float(ib.theorem4_equiprobable(args.classes, omega=omega, delta=w))
    return {
        "latent_exact": _num(latent_mean),
        "image_exact": None if image_mean is None else _num(image_mean),
        "theorem4": None if thm4 is None else _num(thm4),
        "theorem4_closed_form": None if closed is None else _num(closed),
        "wasserstein_delta": w,
        "notes": notes,
    }


def _print_bound(result: dict[str, Any], description: str, out: TextIO) -> None:
    mod = result["modulus"]
    out.write(f"isobound: worst-case robustness R* (Theorem 1, Eq. (2)), {description}\n")
    if mod is None:
        out.write("omega = identity: radii are latent distances r_Z\n")
        r = "r_Z"
    else:
        out.write(f"omega = {mod['repr']}: radii are image distances r_in (>= r_unc)\n")
        r = "r_in"
    if result["latent_dim"] is not None:
        out.write(
            f"latent dimension d = {result['latent_dim']}, "
            f"E||z||_2 = {_fmt(result['expected_latent_norm'])}\n"
        )
    if result["quantiles"]:
        out.write("\nupper bounds on the q-quantile of robustness (no classifier does better)\n")
        headers = ["q", "eps_q (r_Z)"]
        if result["latent_dim"] is not None:
            headers += ["E||z||_2", "eps_q/E||z||_2"]
        if mod is not None:
            headers += ["eta_q (r_in)"]
            if result["image_norm"] is not None:
                headers += ["eta_q/E||g(z)||"]
        rows = []
        for row in result["quantiles"]:
            cells = [_fmt(row["q"], "g"), _fmt(row["latent_radius"])]
            if result["latent_dim"] is not None:
                cells += [
                    _fmt(result["expected_latent_norm"]),
                    _fmt(row["latent_radius_normalized"]),
                ]
            if mod is not None:
                cells += [_fmt(row["image_radius"])]
                if result["image_norm"] is not None:
                    cells += [_fmt(row["image_radius_normalized"])]
            rows.append(cells)
        _table(headers, rows, out)
    if result["radii"]:
        out.write(f"\nat radius eta: lower bound on P({r} <= eta), upper bound on P({r} > eta)\n")
        headers = ["eta"]
        if mod is not None:
            headers += ["omega^-1(eta)"]
        headers += [f"P({r} <= eta) >=", f"P({r} > eta) <=", "log of that"]
        rows = []
        for row in result["radii"]:
            cells = [_fmt(row["eta"], "g")]
            if mod is not None:
                cells += [_fmt(row["latent_radius"])]
            cells += [
                _fmt(row["cdf_lower_bound"]),
                _fmt(row["sf_upper_bound"]),
                _fmt(row["logsf_upper_bound"]),
            ]
            rows.append(cells)
        _table(headers, rows, out)
    mean = result["mean"]
    if mean is not None:
        w = mean["wasserstein_delta"]
        plus = f" + {w:g}" if w else ""
        out.write("\nupper bounds on the mean robustness (Theorem 4)\n")
        rows = [["E R* = sum_i L(a_i)", _fmt(mean["latent_exact"]), "exact, latent r_Z"]]
        if mod is not None:
            rows.append(
                [
                    f"E omega(R*){plus}",
                    _fmt(mean["image_exact"]),
                    "exact, any monotone omega (tightest)",
                ]
            )
        rows.append(
            [f"omega(E R*){plus}", _fmt(mean["theorem4"]), "Theorem 4 as stated (concave omega)"]
        )
        if result["classes"]["equiprobable"]:
            rows.append(
                [
                    f"omega(log(4 pi log K)/sqrt(2 log K)){plus}",
                    _fmt(mean["theorem4_closed_form"]),
                    "paper's closed form, K >= 5 (looser)",
                ]
            )
        _table(["quantity", "value", "what it is"], rows, out)
        out.writelines(f"note: {note}\n" for note in mean["notes"])


# ---------------------------------------------------------------------------
# isobound figure2
# ---------------------------------------------------------------------------


def _cmd_figure2(args: argparse.Namespace, out: TextIO) -> int:
    from ._plotting import figure2, figure2_data

    lo, hi = args.d_min, args.d_max
    if not (math.isfinite(lo) and lo > 0):
        raise UsageError(f"--d-min must be a positive number, got {lo!r}")
    if not (math.isfinite(hi) and hi >= lo):
        raise UsageError(f"--d-max must be a finite number >= --d-min, got {hi!r}")
    if args.linear_x:
        dims = np.linspace(lo, hi, args.points)
    else:
        dims = np.geomspace(lo, hi, args.points)
    classes = args.classes
    data = _guard("--classes", lambda: figure2_data(classes, dims))
    try:
        fig = figure2(classes, dims, log_x=not args.linear_x, log_y=args.log_y)
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    try:
        fig.savefig(args.out, dpi=args.dpi)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--out: cannot write {args.out!r}: {exc}") from None
    if args.json:
        payload = {
            "command": "figure2",
            "out": args.out,
            "classes": list(classes),
            "medians": {str(k): _num(v) for k, v in data["medians"].items()},
            "dims": [float(d) for d in data["dims"]],
            "curves": {str(k): [_num(v) for v in c] for k, c in data["curves"].items()},
        }
        json.dump(payload, out, indent=2, allow_nan=False)
        out.write("\n")
    else:
        out.write(f"wrote {args.out}\n")
        rows = [
            [str(k), _fmt(m), _fmt(m / math.sqrt(lo)), _fmt(m / math.sqrt(hi))]
            for k, m in data["medians"].items()
        ]
        _table(["K", "median R*", f"/sqrt({lo:g})", f"/sqrt({hi:g})"], rows, out)
    return 0


# ---------------------------------------------------------------------------
# isobound experiment
# ---------------------------------------------------------------------------


def _cmd_experiment(rest: list[str], command: str = "experiment") -> int:
    try:
        if command == "evaluate":
            from isobound_torch import evaluate_cli as torch_cli
        else:
            from isobound_torch import cli as torch_cli
    except ModuleNotFoundError as exc:
        missing = exc.name or "a dependency"
        sys.stderr.write(
            f"{PROG} {command}: error: it needs the torch extra (missing module "
            f"{missing!r}): pip install 'isobound[torch]' (install torch itself first, "
            "see the README)\n"
        )
        return 2
    try:
        rc = torch_cli.main(rest)
    except SystemExit as exc:  # an argparse inside (--help, usage errors)
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    return int(rc or 0)


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``isobound`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 on bad input (with a message naming the
        argument and its value on stderr, no traceback), an unusable path or
        a missing optional dependency, 130 after Ctrl-C, 141 when the reader
        of stdout has gone (see the module docstring and :func:`run_command`).

    Examples
    --------
    The Z-space upper bound of the paper's Tables 1-2:

    >>> main(["bound", "--classes", "10", "--latent-dim", "100"])
    isobound: worst-case robustness R* (Theorem 1, Eq. (2)), K = 10 equiprobable classes
    omega = identity: radii are latent distances r_Z
    latent dimension d = 100, E||z||_2 = 9.97503
    <BLANKLINE>
    upper bounds on the q-quantile of robustness (no classifier does better)
       q  eps_q (r_Z)  E||z||_2  eps_q/E||z||_2
    ----  -----------  --------  --------------
    0.25      0.15798   9.97503       0.0158375
    0

    Bad input is reported, not raised:

    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     main(["bound", "--probs", "0.5,0.3"])
    2
    >>> print(err.getvalue().strip())  # doctest: +ELLIPSIS
    isobound bound: error: --probs: class_probs must sum to 1, but they sum to 0.8 ...
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    return run_command(PROG, lambda: _dispatch(args_list))


def _dispatch(args_list: list[str]) -> int:
    if args_list and args_list[0] in ("experiment", "evaluate"):
        return _cmd_experiment(args_list[1:], args_list[0])
    parser = _build_parser()
    args = parser.parse_args(_attach_negative_values(args_list))  # SystemExit: run_command
    out = sys.stdout
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "bound":
            return _cmd_bound(args, out)
        if args.command == "figure2":
            return _cmd_figure2(args, out)
        return _cmd_experiment([])  # pragma: no cover - dispatched above
    except UsageError as exc:
        exc.prog = exc.prog or f"{PROG} {args.command}"
        raise
