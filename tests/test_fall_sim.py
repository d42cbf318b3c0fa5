"""Stumbles, falls and the non-fall activities as segments of the simulator's scenarios
(host_tools/sim/falls.py ScriptSegment), through the simulator's own sensor models and
mounts, into firmware/fall.py."""
import pytest

from host_tools import bench_fall
from host_tools.errors import UserError
from host_tools.sim import simulate
from host_tools.sim import falls as simfalls

simfalls.register_script_names()


def events_of(tr):
    dirs = [2 if d == "B" else 1 for d in tr.step_dir]
    return bench_fall.run_counts(tr.raw[:, :3], tr.rate_hz, tr.step_ms, dirs,
                                 lsb_per_g=int(round(tr.lsb_per_g)))


def test_scripts_name_the_event_segments():
    tr = simulate(script="walk 20, stumble, walk 10, fall_back 5s", placement="waist", seed=1)
    kinds = [k for _, k in tr.events]
    assert kinds == ["stumble", "fall"]
    # the stumble's own walk and catching steps are steps of the trace
    t_st = tr.events[0][0]
    assert any(t < t_st for t in tr.step_ms) and any(t > t_st for t in tr.step_ms)
    with pytest.raises(UserError):
        simulate(script="walk 10, tumble", placement="waist")


@pytest.mark.parametrize("script,kind,activity", [
    ("walk 40, stumble, walk 20", "stumble", "walk_forward"),
    ("retro 40, stumble_back, retro 20", "stumble", "walk_backward"),
    ("walk 30, fall", "fall", "walk_forward"),
    ("retro 30, fall_back", "fall", "walk_backward"),
])
def test_events_in_scenarios_are_found_on_every_placement(script, kind, activity):
    found = 0
    runs = 0
    for place in ("waist", "front_pocket", "wrist"):
        for seed in (0, 1):
            tr = simulate(script=script, placement=place, rate_hz=50, seed=seed)
            truth = [t for t, k in tr.events if k == kind][0]
            ev = events_of(tr)
            runs += 1
            hits = [e for e in ev if e["kind"] == kind and abs(e["t"] - truth) <= 500]
            assert len(ev) <= 1, ev
            if hits:
                found += 1
                assert hits[0]["activity"] == activity
    assert found >= runs - 2, f"{found} of {runs}"


@pytest.mark.parametrize("script", ["walk 30, sit_hard 15s", "stand 5s, jump 3, stand 5s",
                                    "walk 20, table 30s"])
def test_non_fall_segments_in_scenarios_raise_nothing(script):
    alarms = []
    for place in ("waist", "wrist"):
        for seed in (0, 1, 2):
            alarms += events_of(simulate(script=script, placement=place, rate_hz=50, seed=seed))
    assert alarms == []
