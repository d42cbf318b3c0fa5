"""Hypothesis strategies over the simulator's parameters, for property tests.

    from hypothesis import given
    from host_tools.sim.strategies import walking_traces

    @given(walking_traces(direction="B"))
    def test_counts_backward(tr): ...

`sim_kwargs()` draws keyword arguments for `simulate`; `walking_traces()` draws whole
simulated traces (kept short: 12 to 40 steps) so that a property test runs quickly.
"""
from __future__ import annotations

from hypothesis import strategies as st

from . import Person, simulate
from .base import PLACEMENTS
from .sensors import sensor_names

RATES = (12.5, 25.0, 26.0, 50.0, 52.0, 100.0, 104.0, 200.0)


def persons(max_asymmetry: float = 0.1):
    return st.builds(Person,
                     height_m=st.floats(1.45, 2.0),
                     asymmetry=st.floats(0.0, max_asymmetry),
                     variability=st.floats(0.0, 0.06),
                     arm_swing=st.floats(0.4, 1.6),
                     impact=st.floats(0.5, 1.8))


def mounts(known: bool | None = None):
    """None (default mount), tilts up to 15 deg (forward axis still known), or random."""
    known_s = st.one_of(st.none(), st.integers(0, 15).map(lambda d: f"tilt={d}"))
    if known is True:
        return known_s
    if known is False:
        return st.just("random")
    return st.one_of(known_s, st.just("random"))


def sim_kwargs(activity=st.sampled_from(("walk", "retro")), placement=st.sampled_from(PLACEMENTS),
               rate_hz=st.sampled_from(RATES), steps=st.integers(12, 40), known_mount=None,
               sensor=None, person=None, pad_s: float | None = None):
    """Keyword arguments for `simulate` over stepping activities. With `pad_s`, the walk
    is a script between two stands of that many seconds (as people walk): the kwargs
    then have `script` instead of `activity` and `steps`."""
    kw = st.fixed_dictionaries({
        "activity": activity,
        "placement": placement,
        "sensor": sensor if sensor is not None else st.sampled_from(sensor_names()),
        "rate_hz": rate_hz,
        "seed": st.integers(0, 2**31 - 1),
        "steps": steps,
        "cadence_spm": st.one_of(st.none(), st.floats(85.0, 125.0)),
        "person": person if person is not None else persons(),
        "mount": mounts(known_mount),
    })
    if pad_s is None:
        return kw
    return kw.map(lambda k: _padded(k, pad_s))


def _padded(kw: dict, pad_s: float) -> dict:
    kw = dict(kw)
    kw["script"] = f"stand {pad_s:g}s, {kw.pop('activity')} {kw.pop('steps')}, stand {pad_s:g}s"
    return kw


def walking_traces(direction: str | None = None, **kw):
    """Simulated walking traces; direction "F", "B" or None (either)."""
    act = {"F": st.just("walk"), "B": st.just("retro"), None: st.sampled_from(("walk", "retro"))}[direction]
    return sim_kwargs(activity=act, **kw).map(lambda k: simulate(**k))


def scripts(max_items: int = 4):
    """Scenario scripts mixing forward and backward walking with pauses and turns."""
    item = st.one_of(
        st.integers(6, 30).map(lambda n: f"walk {n}"),
        st.integers(6, 30).map(lambda n: f"retro {n}"),
        st.just("turn"),
        st.integers(2, 8).map(lambda s: f"stand {s}s"),
    )
    return st.lists(item, min_size=1, max_size=max_items).map(", ".join)


def non_walking(max_s: int = 60):
    """kwargs for activities with no steps at all (hard negatives)."""
    return st.fixed_dictionaries({
        "activity": st.sampled_from(("stand", "desk", "gestures", "drive", "cycle")),
        "placement": st.sampled_from(PLACEMENTS),
        "rate_hz": st.sampled_from(RATES[:6]),
        "seed": st.integers(0, 2**31 - 1),
        "duration_s": st.integers(10, max_s).map(float),
    })
