"""A small mutation-testing runner for isobound's numerical modules.

It makes one small change (a *mutant*) at a time to a module, runs a chosen
fast subset of the test suite against it with ``-x`` and a timeout, and
reports each mutant as

* **killed**: some test failed (the suite notices the change),
* **survived**: every test passed (the change is invisible to the suite),
* **timeout**: the tests did not finish in time (counted as killed: the
  change broke termination), or
* **invalid**: the mutated module does not compile (not counted).

The mutants are made on the AST, one node at a time:

==============  ==========================================================
``cmp``         a comparison's boundary moved (``<`` <-> ``<=``, ``>`` <-> ``>=``)
                or negated (``==`` <-> ``!=``, ``is`` <-> ``is not``, ``in``)
``binop``       an arithmetic operator replaced (``+`` <-> ``-``, ``*`` <-> ``/``,
                ``**`` -> ``*``, ``//`` -> ``/``), also in ``+=``-style assignments
``drop``        the right operand of ``+ - * /`` dropped (``x + margin`` -> ``x``)
``unary``       a unary minus or a ``not`` removed
``bool``        ``and`` <-> ``or``
``const``       a number perturbed (a float doubled, 0.0 -> 1.0, an int + 1), a
                bool flipped
``branch``      the bodies of an ``if``/``else`` or a conditional expression
                swapped, an ``if`` without ``else`` dropped, the two value
                arguments of ``where(c, a, b)`` swapped
``call``        a function replaced by a sibling (``log`` <-> ``log1p``,
                ``exp`` <-> ``expm1``, ``minimum`` <-> ``maximum``, ``min`` <-> ``max``,
                ``any`` <-> ``all``, ``floor`` <-> ``ceil``, ``erfc`` <-> ``erf``,
                ``fsum`` -> ``sum``, ``argmax`` <-> ``argmin``, and
                ``log_ndtr(x)`` -> ``log(ndtr(x))``)
==============  ==========================================================

Docstrings, other strings, annotations, ``__slots__``/``__all__`` and the
arguments of ``raise`` are left alone.

How it runs: the parent process imports the test dependencies (numpy,
scipy, mpmath, pytest, hypothesis) once, then forks one child per mutant.
The child installs an import hook that serves the mutated source for the
target module (nothing is written to disk, no bytecode is cached), runs
``pytest.main`` on the chosen tests with ``-x``, and exits with pytest's
status.  Hypothesis is derandomised so that a rerun gives the same verdicts.
The values of ``isobound.reference`` (the 50-digit mpmath twin, which no
mutant touches) are memoised on disk by a first, unmutated run and shared
by every child, so a mutant costs about the core's own time on the tests.
(When the target is ``isobound/reference.py`` itself the cache is off.)

Usage, from the repository root::

    python benchmarks/mutation.py isobound/_gaussian.py
    python benchmarks/mutation.py isobound/_bound.py --skip ImageSpaceBound --skip expect
    python benchmarks/mutation.py isobound/_kernel.py --jobs 2 --out benchmarks/results/mutation_kernel.md
    python benchmarks/mutation.py isobound/_moduli.py --tests tests/test_moduli_theorems.py
    python benchmarks/mutation.py isobound/_gaussian.py --list          # the mutants, not run
    python benchmarks/mutation.py isobound/_gaussian.py --only normal_loss --operators const,cmp

Results are appended to a JSON-lines log (``--log``, by default next to
``--out``) as they come, so an interrupted run resumes where it stopped
(``--fresh`` starts over).  The Markdown report lists the kill rate per
operator and every survivor with its diff.  This script is not part of the
test suite: a full run takes from minutes to hours.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import datetime as _dt
import hashlib
import importlib.abc
import importlib.util
import json
import os
import pickle
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Tests run against each mutant when --tests is not given (fast, and sharp for
#: these modules): the accuracy sweep first, then the unit tests of the bound.
DEFAULT_TESTS = {
    "_moduli.py": ["tests/test_moduli_theorems.py", "tests/test_accuracy.py", "tests/test_bound.py"],
    "_theorems.py": ["tests/test_moduli_theorems.py", "tests/test_accuracy.py"],
}
FALLBACK_TESTS = ["tests/test_accuracy.py", "tests/test_bound.py", "tests/test_moduli_theorems.py"]

OPERATORS = ("cmp", "binop", "drop", "unary", "bool", "const", "branch", "call")

SIBLINGS = {
    "log": "log1p",
    "log1p": "log",
    "exp": "expm1",
    "expm1": "exp",
    "maximum": "minimum",
    "minimum": "maximum",
    "max": "min",
    "min": "max",
    "any": "all",
    "all": "any",
    "floor": "ceil",
    "ceil": "floor",
    "erfc": "erf",
    "erf": "erfc",
    "fsum": "sum",
    "argmax": "argmin",
    "argmin": "argmax",
}

_CMP_SWAP: dict[type, tuple[type, str]] = {
    ast.Lt: (ast.LtE, "<="),
    ast.LtE: (ast.Lt, "<"),
    ast.Gt: (ast.GtE, ">="),
    ast.GtE: (ast.Gt, ">"),
    ast.Eq: (ast.NotEq, "!="),
    ast.NotEq: (ast.Eq, "=="),
    ast.Is: (ast.IsNot, "is not"),
    ast.IsNot: (ast.Is, "is"),
    ast.In: (ast.NotIn, "not in"),
    ast.NotIn: (ast.In, "in"),
}
_BIN_SWAP: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.Pow: ast.Mult,
    ast.FloorDiv: ast.Div,
}


# ---------------------------------------------------------------------------
# finding and applying mutants
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    """One change: the ``index``-th node of ``ast.walk`` order, changed by ``variant``."""

    index: int
    variant: str
    operator: str
    qualname: str
    line: int
    before: str
    after: str
    occurrence: int = 0  # the same change at the same text earlier in the function

    @property
    def key(self) -> str:
        """Identity that survives edits elsewhere in the module (unlike ``index``)."""
        return _identity(self.qualname, self.variant, self.before, self.after, self.occurrence)


def _identity(qualname: str, variant: str, before: str, after: str, occurrence: int) -> str:
    return f"{qualname}|{variant}|{before}|{after}|{occurrence}"


def _annotate(tree: ast.AST) -> dict[int, tuple[ast.AST, str, bool]]:
    """Per node id: (parent, enclosing qualname, whether the node must be left alone)."""
    info: dict[int, tuple[ast.AST, str, bool]] = {}

    def visit(node: ast.AST, parent: ast.AST | None, qual: str, frozen: bool) -> None:
        info[id(node)] = (parent, qual, frozen)  # type: ignore[assignment]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            qual = f"{qual}.{node.name}" if qual else node.name
        for field, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            for child in children:
                if not isinstance(child, ast.AST):
                    continue
                f = frozen
                if field in ("annotation", "returns", "decorator_list", "type_comment"):
                    f = True
                if isinstance(node, ast.Raise):
                    f = True
                if isinstance(node, ast.Expr) and isinstance(child, ast.Constant):
                    f = True  # docstrings and bare strings
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if any(isinstance(t, ast.Name) and t.id in ("__slots__", "__all__") for t in targets):
                        f = True
                if isinstance(child, ast.JoinedStr):
                    f = True
                if isinstance(node, ast.keyword) and node.arg == "strict":
                    f = True  # zip(..., strict=True): the lengths agree by construction
                if isinstance(node, (ast.ImportFrom, ast.Import)):
                    f = True
                visit(child, node, qual, f)

    visit(tree, None, "", False)
    return info


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return None


def _variants(node: ast.AST) -> Iterator[tuple[str, str]]:
    """(variant, operator) pairs applicable to ``node``."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _CMP_SWAP:
                yield f"cmp{i}", "cmp"
    elif isinstance(node, ast.BinOp):
        if type(node.op) in _BIN_SWAP:
            yield "binop", "binop"
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            yield "drop", "drop"
    elif isinstance(node, ast.AugAssign):
        if type(node.op) in _BIN_SWAP:
            yield "binop", "binop"
    elif isinstance(node, ast.UnaryOp):
        if isinstance(node.op, (ast.USub, ast.Not)):
            yield "unary", "unary"
    elif isinstance(node, ast.BoolOp):
        yield "bool", "bool"
    elif isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or (isinstance(v, (int, float)) and not isinstance(v, complex)):
            yield "const", "const"
    elif isinstance(node, ast.If):
        yield ("swap" if node.orelse else "dropif"), "branch"
    elif isinstance(node, ast.IfExp):
        yield "swap", "branch"
    elif isinstance(node, ast.Call):
        name = _call_name(node)
        if name == "where" and len(node.args) == 3:
            yield "where", "branch"
        if name == "log_ndtr" and len(node.args) == 1:
            yield "logndtr", "call"
        elif name in SIBLINGS:
            yield "sibling", "call"


def _apply(node: ast.AST, variant: str) -> ast.AST | list[ast.stmt]:
    """The mutated replacement of ``node`` (a copy; the node itself is not changed)."""
    new = copy.deepcopy(node)
    if variant.startswith("cmp"):
        assert isinstance(new, ast.Compare)
        i = int(variant[3:])
        new.ops[i] = _CMP_SWAP[type(new.ops[i])][0]()
        return new
    if variant == "binop":
        assert isinstance(new, (ast.BinOp, ast.AugAssign))
        new.op = _BIN_SWAP[type(new.op)]()
        return new
    if variant == "drop":
        assert isinstance(new, ast.BinOp)
        return new.left
    if variant == "unary":
        assert isinstance(new, ast.UnaryOp)
        return new.operand
    if variant == "bool":
        assert isinstance(new, ast.BoolOp)
        new.op = ast.Or() if isinstance(new.op, ast.And) else ast.And()
        return new
    if variant == "const":
        assert isinstance(new, ast.Constant)
        v = new.value
        if isinstance(v, bool):
            new.value = not v
        elif isinstance(v, int):
            new.value = v + 1
        else:
            new.value = 2.0 * v if v != 0 else 1.0
        return new
    if variant == "swap":
        assert isinstance(new, (ast.If, ast.IfExp))
        if isinstance(new, ast.If):
            new.body, new.orelse = new.orelse, new.body
        else:
            new.body, new.orelse = new.orelse, new.body
        return new
    if variant == "dropif":
        assert isinstance(new, ast.If)
        return ast.Pass()
    if variant == "where":
        assert isinstance(new, ast.Call)
        new.args[1], new.args[2] = new.args[2], new.args[1]
        return new
    if variant == "logndtr":
        assert isinstance(new, ast.Call) and isinstance(new.func, (ast.Attribute, ast.Name))
        if isinstance(new.func, ast.Attribute):
            ndtr: ast.expr = ast.Attribute(value=new.func.value, attr="ndtr", ctx=ast.Load())
        else:
            ndtr = ast.Name(id="ndtr", ctx=ast.Load())
        numpy_log = ast.Attribute(
            value=ast.Call(
                func=ast.Name(id="__import__", ctx=ast.Load()),
                args=[ast.Constant("numpy")],
                keywords=[],
            ),
            attr="log",
            ctx=ast.Load(),
        )
        inner = ast.Call(func=ndtr, args=new.args, keywords=[])
        return ast.Call(func=numpy_log, args=[inner], keywords=[])
    if variant == "sibling":
        assert isinstance(new, ast.Call)
        if isinstance(new.func, ast.Attribute):
            new.func.attr = SIBLINGS[new.func.attr]
        elif isinstance(new.func, ast.Name):
            new.func.id = SIBLINGS[new.func.id]
        return new
    raise ValueError(variant)


def _replace(parent: ast.AST, old: ast.AST, new: ast.AST | list[ast.stmt]) -> None:
    for field, value in ast.iter_fields(parent):
        if isinstance(value, list):
            for i, child in enumerate(value):
                if child is old:
                    value[i] = new
                    return
        elif value is old:
            setattr(parent, field, new)
            return
    raise RuntimeError("node not found under its parent")  # pragma: no cover


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def find_mutants(
    source: str, *, only: list[str], skip: list[str], operators: set[str]
) -> list[Mutant]:
    tree = ast.parse(source)
    info = _annotate(tree)
    out = []
    seen: Counter[tuple[str, str, str, str]] = Counter()
    for index, node in enumerate(ast.walk(tree)):
        parent, qual, frozen = info[id(node)]
        if frozen or parent is None:
            continue
        if only and not any(qual == o or qual.startswith(o + ".") for o in only):
            continue
        if any(qual == s or qual.startswith(s + ".") for s in skip):
            continue
        for variant, op in _variants(node):
            if op not in operators:
                continue
            new = _apply(node, variant)
            before = ast.get_source_segment(source, node) or ast.unparse(node)
            if isinstance(node, ast.If):
                before = f"if {ast.unparse(node.test)}: ..."
                after = (
                    "(if dropped)" if variant == "dropif" else f"if {ast.unparse(node.test)}: <bodies swapped>"
                )
            else:
                after = ast.unparse(new)  # type: ignore[arg-type]
            ident = (qual or "<module>", variant, _short(before), _short(after))
            seen[ident] += 1
            out.append(
                Mutant(
                    index=index,
                    variant=variant,
                    operator=op,
                    qualname=ident[0],
                    line=getattr(node, "lineno", 0),
                    before=ident[2],
                    after=ident[3],
                    occurrence=seen[ident] - 1,
                )
            )
    return out


def _uncovered(source: str, mutants: list[Mutant], executed: set[int]) -> list[Mutant]:
    """Mutants whose line (in the ``ast.unparse`` form that the children run) never ran."""
    original = list(ast.walk(ast.parse(source)))
    unparsed = list(ast.walk(ast.parse(ast.unparse(ast.parse(source)))))
    if len(original) != len(unparsed) or not executed:
        return []  # pragma: no cover - the round trip keeps the tree
    return [m for m in mutants if getattr(unparsed[m.index], "lineno", None) not in executed]


def mutated_source(source: str, mutant: Mutant) -> str:
    tree = ast.parse(source)
    info = _annotate(tree)
    for index, node in enumerate(ast.walk(tree)):
        if index == mutant.index:
            parent = info[id(node)][0]
            assert parent is not None
            _replace(parent, node, _apply(node, mutant.variant))
            ast.fix_missing_locations(tree)
            return ast.unparse(tree)
    raise IndexError(mutant.index)  # pragma: no cover


# ---------------------------------------------------------------------------
# running one mutant in a forked child
# ---------------------------------------------------------------------------


class _MutantLoader(importlib.abc.SourceLoader):
    """Serves the mutated text as the module's source (no bytecode is read or written)."""

    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.source = source

    def get_filename(self, fullname: str) -> str:
        return self.path

    def get_data(self, path: str) -> bytes:
        if path != self.path:
            raise OSError(path)  # a bytecode cache: there is none
        return self.source.encode("utf-8")


class _MutantFinder(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, path: str, source: str) -> None:
        self.name = name
        self.path = path
        self.source = source

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_loader(
            fullname, _MutantLoader(self.path, self.source), origin=self.path
        )


class _ReferenceCache:
    """Memoises the public functions of ``isobound.reference`` (pytest plugin)."""

    def __init__(self, store: dict[str, Any], record: bool, path: Path | None) -> None:
        self.store = store
        self.record = record
        self.path = path
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _token(v: Any) -> Any:
        if callable(v):
            # A function's code and closure do not fix its value: it may read
            # globals, attributes or arrays whose repr is abbreviated, so two
            # different moduli could share a key.  Calls that take a function
            # are not memoised.
            raise TypeError("not cacheable")
        if isinstance(v, (list, tuple)):
            return (type(v).__name__, tuple(_ReferenceCache._token(x) for x in v))
        if isinstance(v, dict):
            return ("dict", tuple(sorted((k, _ReferenceCache._token(x)) for k, x in v.items())))
        if isinstance(v, (int, float, str, bool, type(None))):
            return (type(v).__name__, repr(v))
        name = type(v).__module__ + "." + type(v).__qualname__
        if name.startswith(("mpmath.", "numpy.")):
            return (name, repr(v))
        raise TypeError("not cacheable")

    def install(self) -> None:
        import mpmath

        import isobound.reference as ref

        for name in getattr(ref, "__all__", []):
            func = getattr(ref, name, None)
            if not callable(func):
                continue

            def wrapper(*args: Any, __f: Any = func, __n: str = name, **kwargs: Any) -> Any:
                try:
                    key = repr((__n, mpmath.mp.dps, self._token(args), self._token(kwargs)))
                except TypeError:
                    return __f(*args, **kwargs)
                if key in self.store:
                    self.hits += 1
                    return self.store[key]
                self.misses += 1
                value = __f(*args, **kwargs)
                if self.record:
                    self.store[key] = value
                return value

            wrapper.__wrapped__ = func  # type: ignore[attr-defined]
            wrapper.__doc__ = func.__doc__
            setattr(ref, name, wrapper)

    # pytest hook
    def pytest_sessionfinish(self, session: Any, exitstatus: int) -> None:
        if self.record and self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(self.store, fh)
            os.replace(tmp, self.path)


class _Derandomize:
    """Pytest plugin: hypothesis without its database and with fixed examples."""

    def pytest_configure(self, config: Any) -> None:
        import hypothesis

        hypothesis.settings.register_profile(
            "mutation", derandomize=True, database=None, print_blob=False
        )
        hypothesis.settings.load_profile("mutation")


def _child(
    module_name: str,
    module_path: str,
    source: str | None,
    tests: list[str],
    cache: dict[str, Any] | None,
    record_path: Path | None,
    log_path: str,
    snapshot: str,
    trace_path: str | None = None,
) -> None:
    """Runs in the forked child (in the snapshot of the repository); never returns.

    With ``trace_path``, the lines of the target module that run are recorded
    there (a JSON list), so that mutants on lines no test reaches are reported
    as such instead of being run."""
    code = 4  # anything that goes wrong before pytest's status is known counts as a kill
    executed: set[int] = set()
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.dont_write_bytecode = True
        sys.path.insert(0, snapshot)
        if trace_path is not None:

            def local(frame: Any, event: str, arg: Any) -> Any:
                if event == "line":
                    executed.add(frame.f_lineno)
                return local

            def tracer(frame: Any, event: str, arg: Any) -> Any:
                if frame.f_code.co_filename == module_path:
                    executed.add(frame.f_lineno)
                    return local
                return None

            sys.settrace(tracer)
        if source is not None:
            sys.meta_path.insert(0, _MutantFinder(module_name, module_path, source))
        import isobound

        if not str(isobound.__file__).startswith(snapshot):
            print(f"mutation runner: isobound imported from {isobound.__file__}", flush=True)
            os._exit(5)
        import pytest

        plugins: list[Any] = [_Derandomize()]
        if cache is not None:
            rc = _ReferenceCache(cache, record_path is not None, record_path)
            rc.install()
            plugins.append(rc)
        args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "--tb=line", "-rfE", "-o", "addopts="]
        args += os.environ.get("MUTATION_PYTEST_ARGS", "").split()
        status = int(pytest.main(args, plugins=plugins))
        if trace_path is not None:
            sys.settrace(None)
            with open(trace_path, "w", encoding="ascii") as fh:
                json.dump(sorted(executed), fh)
        code = status
    finally:
        # never return into the parent's code (this is a forked copy of it)
        failure = sys.exc_info()[1]
        with contextlib.suppress(Exception):
            if failure is not None:
                print(f"mutation runner: child failed: {failure!r}", flush=True)
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


@dataclass
class Outcome:
    key: str
    status: str  # killed / survived / timeout / invalid
    seconds: float
    detail: str


def _first_failure(log_path: str) -> str:
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return _short(line, 200)
    for line in text.splitlines():
        if "Error" in line or "error" in line:
            return _short(line, 200)
    return _short(text.strip().splitlines()[-1] if text.strip() else "", 200)


class Runner:
    def __init__(
        self,
        module_path: Path,
        tests: list[str],
        timeout: float,
        jobs: int,
        cache: dict[str, Any] | None,
        workdir: Path,
        snapshot: Path,
    ) -> None:
        rel = module_path.resolve().relative_to(ROOT)
        self.module_path = snapshot / rel
        self.module_name = ".".join(rel.with_suffix("").parts)
        self.source = module_path.read_text()
        self.snapshot = snapshot
        self.tests = tests
        self.timeout = timeout
        self.jobs = jobs
        self.cache = cache
        self.workdir = workdir

    def _spawn(
        self, source: str | None, tag: str, record: Path | None = None, trace: Path | None = None
    ) -> tuple[int, str]:
        log = str(self.workdir / f"{tag}.log")
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.setpgid(0, 0)
            _child(self.module_name, str(self.module_path), source, self.tests,
                   self.cache, record, log, str(self.snapshot),
                   None if trace is None else str(trace))
        return pid, log

    def baseline(self, record: Path | None, trace: Path | None = None) -> float:
        """The unmutated module through the same machinery (source round-tripped by
        ``ast.unparse`` so that a difference in formatting cannot matter)."""
        src = ast.unparse(ast.parse(self.source))
        t0 = time.perf_counter()
        pid, log = self._spawn(src, "baseline", record, trace)
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(
                f"the tests fail on the unmutated module (exit {code}); see {log}:\n"
                + Path(log).read_text(errors="replace")[-3000:]
            )
        return elapsed

    def run(self, mutants: list[Mutant], on_result: Any) -> None:
        pending = list(mutants)
        running: dict[int, tuple[Mutant, float, str]] = {}
        while pending or running:
            while pending and len(running) < self.jobs:
                m = pending.pop(0)
                try:
                    src = mutated_source(self.source, m)
                    compile(src, str(self.module_path), "exec")
                except (SyntaxError, ValueError) as exc:
                    on_result(m, Outcome(m.key, "invalid", 0.0, repr(exc)))
                    continue
                pid, log = self._spawn(src, f"m{m.index}_{m.variant}")
                running[pid] = (m, time.perf_counter(), log)
            time.sleep(0.05)
            for pid, (m, t0, log) in list(running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                elapsed = time.perf_counter() - t0
                if done == 0:
                    if elapsed > self.timeout:
                        try:
                            os.killpg(pid, signal.SIGKILL)
                        except ProcessLookupError:  # pragma: no cover
                            pass
                        os.waitpid(pid, 0)
                        del running[pid]
                        on_result(m, Outcome(m.key, "timeout", elapsed, f"over {self.timeout:.0f} s"))
                    continue
                del running[pid]
                code = os.waitstatus_to_exitcode(status)
                status_name = "survived" if code == 0 else "killed"
                detail = "" if code == 0 else _first_failure(log)
                on_result(m, Outcome(m.key, status_name, elapsed, detail))
                try:
                    os.unlink(log)
                except OSError:  # pragma: no cover
                    pass


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def render(
    module: str,
    mutants: list[Mutant],
    results: dict[str, Outcome],
    args: argparse.Namespace,
    baseline: float | None,
    notes: dict[str, str],
) -> str:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    by_key = {m.key: m for m in mutants}
    done = [results[m.key] for m in mutants if m.key in results]
    count = Counter(o.status for o in done)
    valid = count["killed"] + count["survived"] + count["timeout"] + count["uncovered"]
    rate = (count["killed"] + count["timeout"]) / valid if valid else float("nan")
    lines = [
        f"# Mutation testing of `{module}`",
        "",
        f"- command: `python benchmarks/mutation.py {' '.join(args.argv)}`",
        f"- tests: {' '.join(f'`{t}`' for t in args.tests)} (with `-x`, timeout {args.timeout_used:.0f} s)",
        f"- date: {now}; baseline run of the tests: "
        + (f"{baseline:.1f} s" if baseline is not None else "from an earlier run"),
        (
            f"- mutants: {len(mutants)} found, {len(done)} run: {count['killed']} killed, "
            f"{count['timeout']} timed out, {count['survived']} survived, "
            f"{count['uncovered']} on lines no test executes (not run), {count['invalid']} invalid"
        ),
        (
            f"- **kill rate {rate:.1%}** (killed + timed out, over the valid mutants, the "
            "unexecuted ones counted as survivors)"
        ),
        "",
        "| operator | mutants | killed | timed out | survived | not executed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for op in OPERATORS:
        ms = [m for m in mutants if m.operator == op and m.key in results]
        if not ms:
            continue
        c = Counter(results[m.key].status for m in ms)
        lines.append(
            f"| {op} | {len(ms)} | {c['killed']} | {c['timeout']} | {c['survived']} | {c['uncovered']} |"
        )
    for title, status in (("Survivors", "survived"), ("On lines no test executes", "uncovered")):
        lines += _survivor_table(title, [by_key[o.key] for o in done if o.status == status], notes)
    slow = sorted((o for o in done if o.status == "timeout"), key=lambda o: o.key)
    if slow:
        lines += ["", f"## Timed out ({len(slow)})", ""]
        for o in slow:
            m = by_key[o.key]
            lines.append(f"- line {m.line}, `{m.qualname}`: `{_md(m.before)}` -> `{_md(m.after)}`")
    return "\n".join(lines) + "\n"


def _survivor_table(title: str, survivors: list[Mutant], notes: dict[str, str]) -> list[str]:
    lines = ["", f"## {title} ({len(survivors)})", ""]
    if survivors:
        lines += ["| line | in | operator | original | mutant | note |", "| --- | --- | --- | --- | --- | --- |"]
        for m in sorted(survivors, key=lambda m: (m.line, m.key)):
            note = notes.get(f"{m.qualname}|{m.before}|{m.after}", "")
            lines.append(
                f"| {m.line} | `{m.qualname}` | {m.operator} | `{_md(m.before)}` | `{_md(m.after)}` | {note} |"
            )
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="path of the module to mutate, e.g. isobound/_gaussian.py")
    parser.add_argument("--tests", nargs="+", help="test files or node ids run against each mutant")
    parser.add_argument(
        "--deselect",
        action="append",
        default=None,
        help="test node ids not run against the mutants (repeatable; by default the "
        "tracemalloc memory test, which checks no numerical result)",
    )
    parser.add_argument("--only", action="append", default=[], help="mutate only in this qualname (repeatable)")
    parser.add_argument("--skip", action="append", default=[], help="do not mutate in this qualname (repeatable)")
    parser.add_argument("--operators", default=",".join(OPERATORS), help="comma-separated operators")
    parser.add_argument("--lines", help="only mutants on these lines, e.g. 100-250")
    parser.add_argument("--timeout", type=float, help="seconds per mutant (default: 4x the baseline + 20)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at the same time")
    parser.add_argument("--sample", type=int, help="run a random sample of this many mutants")
    parser.add_argument(
        "--shuffle",
        action="store_true",
        help="run the mutants in a random order (seeded by --seed), so that a run stopped early has"
        " tried a uniform sample of them rather than the top of the module",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the Markdown report here (and the log beside it)")
    parser.add_argument("--log", help="JSON-lines log of results (resumed unless --fresh)")
    parser.add_argument("--notes", help="JSON file: {'qualname|before|after': note} shown next to survivors")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing log")
    parser.add_argument(
        "--retry",
        help="a log of an earlier run: run only the mutants that survived there (matched by "
        "function, operator and text, so that edits elsewhere in the module do not matter)",
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--no-cache", action="store_true", help="do not memoise isobound.reference")
    parser.add_argument(
        "--cache-file",
        default=str(Path(tempfile.gettempdir()) / "isobound-mutation-reference.pkl"),
        help="where the memoised reference values are kept between runs",
    )
    parser.add_argument("--keep", action="store_true", help="keep the children's logs")
    parser.add_argument(
        "--no-trace", action="store_true", help="run mutants on lines the tests never execute, too"
    )
    args = parser.parse_args(argv)
    args.argv = argv
    module_path = Path(args.module)
    if not module_path.is_absolute():
        module_path = (Path.cwd() / module_path).resolve()
    if not module_path.is_file():
        parser.error(f"module not found: {args.module}")
    if args.tests is None:
        args.tests = DEFAULT_TESTS.get(module_path.name, FALLBACK_TESTS)
    if args.deselect is None:
        args.deselect = ["tests/test_bound.py::test_bulk_memory_stays_within_a_few_outputs"]
    args.tests = [*args.tests, *(f"--deselect={d}" for d in args.deselect)]
    operators = {o.strip() for o in args.operators.split(",") if o.strip()}
    unknown = operators - set(OPERATORS)
    if unknown:
        parser.error(f"unknown operators: {sorted(unknown)}")
    source = module_path.read_text()
    mutants = find_mutants(source, only=args.only, skip=args.skip, operators=operators)
    if args.lines:
        lo, _, hi = args.lines.partition("-")
        mutants = [m for m in mutants if int(lo) <= m.line <= int(hi or lo)]
    if args.retry:
        wanted = set()
        for line in Path(args.retry).read_text().splitlines():
            rec = json.loads(line)
            if rec["status"] in ("survived", "uncovered"):
                m = rec["mutant"]
                wanted.add((m["qualname"], m["variant"], m["before"], m["after"]))
        mutants = [m for m in mutants if (m.qualname, m.variant, m.before, m.after) in wanted]
    if args.sample is not None and args.sample < len(mutants):
        import random

        mutants = sorted(random.Random(args.seed).sample(mutants, args.sample), key=lambda m: m.index)
    if args.shuffle:
        import random

        random.Random(args.seed).shuffle(mutants)
    if args.list:
        for m in mutants:
            print(f"{m.line:5d} {m.operator:6s} {m.qualname}: {m.before}  ->  {m.after}")
        print(f"{len(mutants)} mutants", file=sys.stderr)
        return 0

    out = Path(args.out).resolve() if args.out else None
    log_path = Path(args.log).resolve() if args.log else (
        out.with_suffix(".jsonl") if out else Path(tempfile.gettempdir()) / f"mutation_{module_path.stem}.jsonl"
    )
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    results: dict[str, Outcome] = {}
    if log_path.exists() and not args.fresh:
        # resumed by identity (function, change, text), so that an edit elsewhere in the
        # module keeps the verdicts; --fresh (or --retry on the survivors) re-runs them
        seen_log: Counter[tuple[str, ...]] = Counter()
        for line in log_path.read_text().splitlines():
            rec = json.loads(line)
            if [t for t in rec.get("tests", []) if not t.startswith("--")] != [
                t for t in args.tests if not t.startswith("--")
            ]:
                continue
            m = rec["mutant"]
            ident = (m["qualname"], m["variant"], m["before"], m["after"])
            occ = m.get("occurrence", seen_log[ident])
            seen_log[ident] += 1
            key = _identity(*ident, occ)
            results[key] = Outcome(key, rec["status"], rec["seconds"], rec["detail"])
    notes = json.loads(Path(args.notes).read_text()) if args.notes else {}

    # warm the parent: the children inherit these imports (but not isobound's)
    import mpmath  # noqa: F401
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import scipy.integrate
    import scipy.optimize
    import scipy.special
    import scipy.stats  # noqa: F401

    assert "isobound" not in sys.modules, "the runner must not import isobound before forking"
    use_cache = not args.no_cache and module_path.name != "reference.py"
    workdir = Path(tempfile.mkdtemp(prefix="isobound-mutation-"))
    # the children run in a snapshot of the package and the tests, so that the
    # working tree can change while a long run goes on
    import shutil

    snapshot = workdir / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in ("isobound", "tests"):
        shutil.copytree(ROOT / name, snapshot / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", snapshot / "pyproject.toml")
    os.chdir(snapshot)
    cache: dict[str, Any] | None = None
    cache_file = Path(args.cache_file)
    if use_cache:
        cache = {}
        if cache_file.exists():
            with open(cache_file, "rb") as fh:
                cache = pickle.load(fh)
    runner = Runner(module_path, args.tests, args.timeout or 0.0, args.jobs, cache, workdir, snapshot)
    todo = [m for m in mutants if m.key not in results]
    baseline = None
    uncovered: list[Mutant] = []
    if todo:
        record = cache_file if use_cache else None
        print(f"baseline: {' '.join(args.tests)} on the unmutated module ...", flush=True)
        lines_file = workdir / "executed_lines.json"
        baseline = runner.baseline(record, None if args.no_trace else lines_file)
        if lines_file.exists():
            uncovered = _uncovered(source, todo, set(json.loads(lines_file.read_text())))
        if record is not None and record.exists():
            with open(record, "rb") as fh:
                runner.cache = pickle.load(fh)
            # second baseline from the cache: its time is what a surviving mutant costs
            t_cached = runner.baseline(None)
            print(f"baseline {baseline:.1f} s ({t_cached:.1f} s with the reference cache)", flush=True)
            baseline = t_cached
        runner.timeout = args.timeout or 4.0 * baseline + 20.0
    print(f"{len(mutants)} mutants, {len(todo)} to run, timeout {runner.timeout:.0f} s", flush=True)

    done_count = [len(mutants) - len(todo)]
    t_start = time.perf_counter()

    def on_result(m: Mutant, o: Outcome) -> None:
        results[m.key] = o
        done_count[0] += 1
        with open(log_path, "a", encoding="utf-8") as fh:
            rec = asdict(o) | {"digest": digest, "tests": args.tests, "mutant": asdict(m)}
            fh.write(json.dumps(rec) + "\n")
        mark = {"killed": ".", "survived": "S", "timeout": "T", "invalid": "I", "uncovered": "U"}[o.status]
        extra = f"  {m.line} {m.qualname}: {m.before} -> {m.after}" if o.status in ("survived", "uncovered") else ""
        rate = (time.perf_counter() - t_start) / max(done_count[0] - (len(mutants) - len(todo)), 1)
        print(f"[{done_count[0]}/{len(mutants)} {rate:.1f} s each] {mark} {o.seconds:.1f} s{extra}", flush=True)

    args.timeout_used = runner.timeout
    for m in uncovered:
        on_result(m, Outcome(m.key, "uncovered", 0.0, "line not executed by the tests"))
    skip_keys = {m.key for m in uncovered}
    todo = [m for m in todo if m.key not in skip_keys]
    try:
        runner.run(todo, on_result)
    finally:
        text = render(str(module_path.relative_to(ROOT)), mutants, results, args, baseline, notes)
        os.chdir(ROOT)
        if out:
            out.write_text(text)
        else:
            sys.stdout.write(text)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
