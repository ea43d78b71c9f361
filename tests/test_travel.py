"""Bounds and moduli travel: pickle, copy, deepcopy, value equality, hashing, processes (issue 11.1)."""

from __future__ import annotations

import copy
import math
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import isobound as ib

STEP = ib.PiecewiseLinear([0.0, 0.5, 2.0], [0.1, 0.6, 1.4], interpolation="step", failure_prob=0.01)
MODULI = [
    ib.Identity(),
    ib.Lipschitz(2.5),
    ib.Lipschitz(2.5, failure_prob=0.01),
    ib.Affine(1.5, 0.3),
    ib.Holder(2.0, 0.5),
    ib.PiecewiseLinear([0.0, 1.0, 2.0], [0.1, 1.1, 1.6], extrapolate=True),
    STEP,
    STEP.concave_majorant(),
    ib.UniformPrior(ib.Holder(1.0, 0.7)),
    ib.Composition(ib.Holder(1.0, 0.5), ib.Affine(2.0, 0.1)),
]
LATENT = [
    ib.IsoperimetricBound([0.5, 0.3, 0.2]),
    ib.IsoperimetricBound([0.9, 0.1]),
    ib.IsoperimetricBound.equiprobable(10),
    ib.IsoperimetricBound.equiprobable(10**15),
    ib.IsoperimetricBound([0.5, 0.5, 0.0]),  # an empty class
    ib.IsoperimetricBound.from_log_probs([0.0, -300.0], normalize=True),
    ib.IsoperimetricBound([0.25, 0.25], counts=[3, 1]),
]
IMAGE = [LATENT[0].through(m) for m in MODULI] + [b.through(ib.Lipschitz(3.0)) for b in LATENT]
OBJECTS = MODULI + LATENT + IMAGE
ETA = np.array([0.0, 1e-8, 0.05, 0.3, 1.0, 2.5, 7.0])
Q = np.array([1e-12, 0.1, 0.25, 0.5, 0.9])


def behaviour(obj: object) -> list[np.ndarray]:
    """What the object computes, to compare a copy with the original."""
    if isinstance(obj, ib.Modulus):
        return [np.asarray(obj(ETA)), np.asarray(obj.inverse(ETA))]
    assert isinstance(obj, (ib.IsoperimetricBound, ib.ImageSpaceBound))
    return [np.asarray(obj.cdf(ETA)), np.asarray(obj.sf(ETA)), np.asarray(obj.ppf(Q))]


def same_behaviour(a: object, b: object) -> bool:
    return all(np.array_equal(x, y, equal_nan=True) for x, y in zip(behaviour(a), behaviour(b), strict=True))


@pytest.mark.parametrize("obj", OBJECTS, ids=repr)
@pytest.mark.parametrize(
    "how",
    [
        pytest.param(lambda o: pickle.loads(pickle.dumps(o)), id="pickle"),
        pytest.param(lambda o: pickle.loads(pickle.dumps(o, protocol=0)), id="pickle-0"),
        pytest.param(copy.copy, id="copy"),
        pytest.param(copy.deepcopy, id="deepcopy"),
    ],
)
def test_round_trip_is_an_equal_immutable_object(obj: object, how) -> None:
    back = how(obj)
    assert type(back) is type(obj)
    assert back == obj and hash(back) == hash(obj)
    assert repr(back) == repr(obj)
    assert same_behaviour(back, obj)
    with pytest.raises(AttributeError, match="immutable"):
        back._anything = 1  # type: ignore[attr-defined]
    # arrays inside come back read-only
    for name in ("radii", "values", "class_probs", "log_probs", "counts", "thresholds"):
        arr = getattr(back, name, None)
        if isinstance(arr, np.ndarray):
            with pytest.raises(ValueError):
                arr[0] = 0.0


def test_deepcopy_is_independent_of_the_original_arrays() -> None:
    omega = ib.PiecewiseLinear([0.0, 1.0], [0.0, 2.0])
    clone = copy.deepcopy(omega)
    assert clone == omega and clone.radii is not omega.radii


def test_equality_is_by_value() -> None:
    assert ib.IsoperimetricBound([0.5, 0.3, 0.2]) == ib.IsoperimetricBound([0.2, 0.5, 0.3])
    # equality compares the stored floats: a value that rounds differently is another bound
    assert ib.IsoperimetricBound([0.5, 0.5]) == ib.IsoperimetricBound([1, 1], normalize=True)
    assert ib.IsoperimetricBound([0.1] * 10) == ib.IsoperimetricBound([0.1] * 10)
    assert ib.IsoperimetricBound.equiprobable(10) == ib.IsoperimetricBound.equiprobable(10)
    # log(0.1) and -log(10) differ in the last bit: equal reprs, unequal stored values
    assert ib.IsoperimetricBound([0.1] * 10) != ib.IsoperimetricBound.equiprobable(10)
    assert ib.IsoperimetricBound([0.5, 0.5]) != ib.IsoperimetricBound([0.6, 0.4])
    # the same distribution with an extra empty class still differs in n_classes
    assert ib.IsoperimetricBound([0.5, 0.5, 0.0]) != ib.IsoperimetricBound([0.5, 0.5])
    assert ib.IsoperimetricBound([0.5, 0.5]) != ib.IsoperimetricBound([0.5, 0.5]).through(None)
    assert ib.Lipschitz(2.0) == ib.Lipschitz(2.0) and ib.Lipschitz(2.0) != ib.Lipschitz(2.0000001)
    assert ib.Lipschitz(2.0) != ib.Lipschitz(2.0, failure_prob=0.01)
    # different kinds are different objects even where they are the same function
    assert ib.Lipschitz(2.0) != ib.Affine(2.0, 0.0)
    assert ib.Affine(2.0, 0.0) == ib.Affine(2.0, -0.0)
    # the running maximum makes these the same modulus
    assert ib.PiecewiseLinear([0, 1, 2], [0.5, 0.2, 1.0]) == ib.PiecewiseLinear([0, 1, 2], [0.5, 0.5, 1.0])
    assert ib.PiecewiseLinear([0, 1], [0, 1]) != ib.PiecewiseLinear([0, 1], [0, 1], interpolation="step")
    assert ib.PiecewiseLinear([0, 1], [0, 1]) != ib.PiecewiseLinear([0, 1], [0, 1], extrapolate=True)
    assert ib.UniformPrior(ib.Lipschitz(1.0)) == ib.UniformPrior(ib.Lipschitz(1.0))
    assert ib.UniformPrior(ib.Lipschitz(1.0)) != ib.Composition(
        ib.Lipschitz(1.0), ib.Lipschitz(math.sqrt(2 / math.pi))
    )
    b = ib.IsoperimetricBound([0.5, 0.3, 0.2])
    assert b.through(ib.Lipschitz(2.0)) == ib.IsoperimetricBound([0.2, 0.3, 0.5]).through(ib.Lipschitz(2.0))
    assert b.through(ib.Lipschitz(2.0)) != b.through(ib.Lipschitz(2.5))
    assert (b == "b") is False and (ib.Lipschitz(1.0) == 1.0) is False


def test_objects_work_as_dict_keys_and_in_sets() -> None:
    table = {obj: i for i, obj in enumerate(OBJECTS)}
    assert len(table) == len(OBJECTS)
    assert table[pickle.loads(pickle.dumps(OBJECTS[3]))] == 3
    assert len({ib.Lipschitz(1.0), ib.Lipschitz(1.0), ib.Lipschitz(2.0)}) == 2


def _median_of(obj: object) -> float:
    if isinstance(obj, ib.Modulus):
        return float(obj(1.0))
    return float(obj.median())  # type: ignore[attr-defined]


def test_process_pool_maps_over_bounds_and_moduli() -> None:
    items = [LATENT[0], LATENT[2], IMAGE[1], MODULI[5], MODULI[8], IMAGE[-1]]
    with ProcessPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(_median_of, items))
        back = list(pool.map(copy.copy, items))  # objects travel back as well
    # caches travel empty, so a fresh copy here follows the workers' path bit for bit (an object
    # whose caches are warm may solve from another starting point: the same bound, within its
    # error promise, possibly a few ulps apart)
    assert got == [_median_of(pickle.loads(pickle.dumps(o))) for o in items]
    np.testing.assert_allclose(got, [_median_of(o) for o in items], rtol=1e-13)
    assert back == items



def _missing_cache_slots() -> tuple[str, ...]:
    from isobound._frozen import _slot_names

    base = ib.IsoperimetricBound
    return tuple(n for n in base._CACHE_SLOTS if n not in _slot_names(base))


class Cached(ib.IsoperimetricBound):
    """A bound with its cache slots (on a branch where the base class has none yet)."""

    __slots__ = _missing_cache_slots()


def test_caches_travel_empty() -> None:
    # a bound may build caches on first use (slots named in _CACHE_SLOTS): they are not
    # part of its value, so they travel empty (even when they could not be pickled)
    names = ib.IsoperimetricBound._CACHE_SLOTS
    b = Cached([0.5, 0.3, 0.2])
    for name in names:
        object.__setattr__(b, name, lambda: None)  # not picklable
    for how in (lambda o: pickle.loads(pickle.dumps(o)), copy.copy, copy.deepcopy):
        back = how(b)
        assert type(back) is Cached and back == b
        assert all(getattr(back, n) is None for n in names)
        assert same_behaviour(back, ib.IsoperimetricBound([0.5, 0.3, 0.2]))
