"""The core never imports torch (nor its optional/test extras).

Each check runs a fresh interpreter, imports something, and reports which
modules ended up in ``sys.modules``.  A meta-test runs the same check on a
snippet that does import torch, to show that the check can fail.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "isobound_torch")
OPTIONAL = ("hypothesis", "matplotlib")


def modules_after(code: str) -> set[str]:
    """Top-level names of the modules loaded by ``code`` in a fresh interpreter."""
    probe = (
        f"{code}\n"
        "import json as _json, sys as _sys\n"
        "print(_json.dumps(sorted({m.split('.')[0] for m in _sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def leaked(code: str, forbidden: tuple[str, ...]) -> set[str]:
    return modules_after(code) & set(forbidden)


def test_import_isobound_does_not_import_torch_or_extras() -> None:
    mods = modules_after("import isobound")
    assert "isobound" in mods  # the probe saw the import
    assert mods.isdisjoint(HEAVY + OPTIONAL), mods & set(HEAVY + OPTIONAL)


def test_cli_does_not_import_torch_or_extras() -> None:
    code = (
        "import contextlib, io\n"
        "import isobound.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = isobound.cli.main(['bound', '--classes', '10', '--latent-dim', '100'])\n"
        "assert rc == 0\n"
    )
    assert leaked(code, HEAVY + OPTIONAL) == set()


def test_testing_module_does_not_import_torch() -> None:
    # hypothesis may be imported by isobound.testing's strategies; torch never.
    assert leaked("import isobound.testing", HEAVY) == set()


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed: nothing to leak"
)
def test_meta_the_check_detects_torch() -> None:
    assert leaked("import isobound\nimport torch", HEAVY) == {"torch"}


def test_meta_the_check_detects_an_optional_import() -> None:
    assert leaked("import isobound\nimport hypothesis", OPTIONAL) == {"hypothesis"}
