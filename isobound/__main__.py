"""``python -m isobound``: the same command line as the ``isobound`` script."""

from __future__ import annotations

from isobound.cli import main

if __name__ == "__main__":  # importing this module (e.g. for doctests) runs nothing
    raise SystemExit(main())
