"""Settings shared by the test suite.

Property tests are repeatable by default: hypothesis draws the same examples on
every run (``derandomize=True``), so a run that passed once passes again and a
failure reproduces.  Set ``ISOBOUND_HYPOTHESIS=explore`` to draw fresh random
examples (and ten times as many), the way to hunt for new counterexamples, e.g.
``ISOBOUND_HYPOTHESIS=explore python -m pytest tests/test_bound.py``.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("ISOBOUND_HYPOTHESIS", "repeatable"))
