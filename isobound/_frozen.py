"""Pickling and copying of the library's immutable objects.

Bounds and moduli forbid attribute assignment (``__setattr__`` raises), so
the default pickle protocol, which restores an object by setting its
attributes, cannot rebuild them.  ``__reduce__`` methods return
``(restore, (cls, slot_state(obj)))`` instead: :func:`restore` creates the
object without running ``__init__`` and fills its slots directly, freezing
every array again (unpickled arrays come back writeable).  Restoring copies
the stored values as they are, so a round trip is bit-exact and costs no
recomputation.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

__all__ = ["restore", "slot_state"]

T = TypeVar("T")


def _slot_names(cls: type) -> list[str]:
    names: list[str] = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for name in slots:
            if name not in ("__dict__", "__weakref__") and name not in names:
                names.append(name)
    return names


def slot_state(obj: Any) -> dict[str, Any]:
    """The values of every slot (and of ``__dict__``, if any) of ``obj``."""
    state: dict[str, Any] = {}
    for name in _slot_names(type(obj)):
        try:
            state[name] = object.__getattribute__(obj, name)
        except AttributeError:  # an unset slot stays unset
            continue
    extra = getattr(obj, "__dict__", None)
    if extra:
        state.update(extra)
    return state


def restore(cls: type[T], state: dict[str, Any]) -> T:
    """Rebuild an immutable object of class ``cls`` from :func:`slot_state`."""
    obj = cls.__new__(cls)
    for name, value in state.items():
        if isinstance(value, np.ndarray) and value.flags.writeable:
            value.setflags(write=False)
        object.__setattr__(obj, name, value)
    return obj
