"""The detector file gives identical events and totals under CPython and the MicroPython Unix port."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tracekit
from host_tools.detector_run import LSB_PER_G, Prepared, placement_code, prepare, run_prepared, to_counts
from host_tools.eval_cmd import evaluate
from host_tools.paths import data_dir
from host_tools.testsignal import mixed_day, walk
from host_tools.trace import read_trace


def same(p: Prepared):
    a = run_prepared(p, "cpython")
    b = run_prepared(p, "micropython")
    assert (a.steps, a.forward, a.backward, a.unknown, a.n) == (b.steps, b.forward, b.backward, b.unknown, b.n)
    assert a.events == b.events
    return a


@pytest.mark.parametrize("rate,cadence,axis,place", [
    (12.5, 100, 0, "wrist"), (25, 170, 3, "waist"), (50, 110, -1, "lower_back"),
    (100, 65, 2, "front_pocket"), (200, 190, -3, "ankle"),
])
def test_synthetic_walks(rate, cadence, axis, place):
    _, acc, _ = walk(rate, 15.0, cadence, seed=int(rate))
    r = same(Prepared(to_counts(acc), float(rate), LSB_PER_G, axis, placement_code(place)))
    assert r.n == len(acc)


def test_walks_with_pauses_and_new_orientations():
    _, acc = mixed_day(100.0, seed=7)
    r = same(Prepared(to_counts(acc), 100.0, LSB_PER_G, 1, placement_code("waist")))
    assert r.steps > 0


@pytest.mark.parametrize("rate,sensor", [(25.0, "mpu6050"), (104.0, "lsm6dso"), (200.0, "bmi160")])
def test_pocket_walks_with_the_gyro(rate, sensor):
    # six channels a sample: the thigh's pitch rate path, forward then backward
    from host_tools.detector_run import from_sim
    from host_tools.sim import simulate
    p = from_sim(simulate(script="stand 3s, walk 24, retro 24, stand 3s", placement="front_pocket",
                          rate_hz=rate, seed=int(rate), sensor=sensor))
    r = same(p)
    assert r.forward > 10 and r.backward > 10


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from([12.5, 50.0, 104.0]),
       st.floats(0.0, 3.0), st.integers(-3, 3))
def test_random_signals_including_full_scale(seed, rate, noise_g, axis):
    rng = np.random.default_rng(seed)
    n = int(rate * 8)
    acc = np.array([0.0, 0.0, 1.0]) + rng.normal(0.0, noise_g, (n, 3))
    acc[rng.random(n) < 0.02] = 9.0   # clipped at the 8 g full scale
    same(Prepared(to_counts(acc), rate, LSB_PER_G, axis, int(rng.integers(0, 13))))


def test_recorded_traces():
    root = data_dir()
    files = [root / "bangle" / "bangle_walk100_0.csv", root / "bangle" / "bangle_still_1.csv",
             root / "oxford" / "oxford_samsung_dario_hard_armband_1.csv"]
    if not all(f.exists() for f in files):
        pytest.skip(f"recorded datasets not found at {root}")
    for f in files:
        p = prepare(read_trace(f, cache=True))
        p.samples = p.samples[:6000]
        same(p)


def test_eval_counts_equal_across_interpreters(tmp_path):
    tracekit.dataset(tmp_path / "ds")
    a = evaluate([tmp_path / "ds"], interpreter="cpython")
    b = evaluate([tmp_path / "ds"], interpreter="micropython")
    key = ("file", "steps", "forward", "backward", "unknown", "tp", "fp")
    assert [tuple(r[k] for k in key) for r in a.recordings] == [tuple(r[k] for k in key) for r in b.recordings]
    assert b.summary["interpreter"] == "micropython"
