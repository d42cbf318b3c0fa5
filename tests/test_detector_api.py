"""The detector's contract: argument checks, event reading, index wrap-around, and
silence on a device that is still or slowly turned."""
import math
import random
from array import array

import pytest
from hypothesis import given, settings, strategies as st

from host_tools.mpcompat import firmware_module

sd = firmware_module("stepdetect")


def feed_g(det, samples, lsb):
    """Feed (x, y, z) tuples in g as raw counts; returns the events read as (index, dir)."""
    idx = array("i", bytes(4 * 64))
    dirs = bytearray(64)
    events = []
    for x, y, z in samples:
        if det.update(int(round(x * lsb)), int(round(y * lsb)), int(round(z * lsb))) >= 16:
            k = det.read(idx, dirs)
            events += list(zip(idx[:k], dirs[:k]))
    k = det.read(idx, dirs)
    return events + list(zip(idx[:k], dirs[:k]))


@pytest.mark.parametrize("kw", [dict(rate_hz=5, lsb_per_g=4096), dict(rate_hz=12.4, lsb_per_g=4096),
                                dict(rate_hz=251, lsb_per_g=4096), dict(rate_hz=50, lsb_per_g=10),
                                dict(rate_hz=50, lsb_per_g=4096, forward_axis=4),
                                dict(rate_hz=50, lsb_per_g=4096, placement=99),
                                dict(rate_hz=50, lsb_per_g=4096, lsb_per_dps=4),
                                dict(rate_hz=50, lsb_per_g=4096, lsb_per_dps=2000)])
def test_rejects_bad_configuration(kw):
    with pytest.raises(ValueError):
        sd.StepDetector(**kw)


def test_placement_names_match_the_trace_format():
    assert sd.PLACEMENTS[sd.P_WAIST] == "waist"
    assert sd.PLACEMENTS[sd.P_ANKLE] == "ankle"
    assert sd.PLACEMENTS[sd.P_UNKNOWN] == "unknown"
    assert len(set(sd.PLACEMENTS)) == len(sd.PLACEMENTS) == 13


def still(rate, seconds, g, noise, rng):
    gx, gy, gz = g
    for _ in range(int(rate * seconds)):
        yield (gx + rng.gauss(0, noise), gy + rng.gauss(0, noise), gz + rng.gauss(0, noise))


@settings(max_examples=15, deadline=None)
@given(rate=st.sampled_from([12.5, 25, 50, 100, 200]), seed=st.integers(0, 10_000),
       noise=st.floats(0.0, 0.02))
def test_still_device_counts_nothing(rate, seed, noise):
    rng = random.Random(seed)
    # any resting orientation
    a, b = rng.uniform(0, math.pi), rng.uniform(0, 2 * math.pi)
    g = (math.sin(a) * math.cos(b), math.sin(a) * math.sin(b), math.cos(a))
    det = sd.StepDetector(rate, 4096, 3, sd.P_WAIST)
    assert feed_g(det, still(rate, 60, g, noise, rng), 4096) == []
    assert det.steps == 0


@settings(max_examples=10, deadline=None)
@given(rate=st.sampled_from([12.5, 50, 100]), seed=st.integers(0, 10_000),
       period=st.floats(4.0, 30.0))
def test_slowly_rotating_device_counts_nothing(rate, seed, period):
    # turned round and round (a phone on a turntable, a wrist turning a page): gravity
    # sweeps through every axis, once every `period` seconds
    rng = random.Random(seed)
    tilt = rng.uniform(0.3, 1.4)
    n = int(rate * 90)

    def samples():
        for i in range(n):
            ph = 2 * math.pi * i / (rate * period)
            yield (math.sin(tilt) * math.cos(ph) + rng.gauss(0, 0.005),
                   math.sin(tilt) * math.sin(ph) + rng.gauss(0, 0.005),
                   math.cos(tilt) + rng.gauss(0, 0.005))
    det = sd.StepDetector(rate, 4096)
    assert feed_g(det, samples(), 4096) == []


def test_read_moves_events_and_feed_equals_update():
    rng = random.Random(3)
    rate = 50
    # a clean, strongly periodic vertical bounce at 2 steps/s
    xs = [(0.0, 0.0, 1.0 + 0.35 * math.sin(2 * math.pi * 2.0 * i / rate) + rng.gauss(0, 0.01))
          for i in range(rate * 30)]
    a = sd.StepDetector(rate, 4096)
    ev_a = feed_g(a, xs, 4096)
    assert a.pending == 0 and len(ev_a) == a.steps > 0
    assert a.steps == a.forward + a.backward + a.unknown
    b = sd.StepDetector(rate, 4096)
    buf = array("h")
    for x, y, z in xs:
        buf.extend((int(round(x * 4096)), int(round(y * 4096)), int(round(z * 4096)), 7, 7, 7))
    b.feed(buf, len(xs), 6)
    assert b.steps == a.steps
    # events carry increasing sample indices within the trace
    idx = [i for i, _ in ev_a]
    assert idx == sorted(idx) and 0 <= idx[0] and idx[-1] < len(xs)
    # 2 steps/s for 30 s, less the start before a rhythm can be seen
    assert 55 <= a.steps <= 61


def test_sample_index_wraps_without_losing_steps():
    rate = 50
    xs = [(0.0, 0.0, 1.0 + 0.35 * math.sin(2 * math.pi * 2.0 * i / rate)) for i in range(rate * 20)]
    ref = sd.StepDetector(rate, 4096)
    feed_g(ref, xs, 4096)
    det = sd.StepDetector(rate, 4096)
    start = (1 << 30) - 300
    det.n = start
    ev = feed_g(det, xs, 4096)
    assert det.steps == ref.steps > 0
    assert all(0 <= i < (1 << 30) for i, _ in ev)
    # the indices continue across the wrap: offsets from the start are the reference's
    offsets = [(i - start) & ((1 << 30) - 1) for i, _ in ev]
    assert offsets == sorted(offsets) and offsets[-1] < len(xs)


def test_reset_returns_to_the_constructed_state():
    rate = 25
    xs = [(0.0, 0.0, 1.0 + 0.35 * math.sin(2 * math.pi * 1.8 * i / rate)) for i in range(rate * 20)]
    det = sd.StepDetector(rate, 4096)
    feed_g(det, xs, 4096)
    first = det.steps
    det.reset()
    assert (det.steps, det.n, det.pending) == (0, 0, 0)
    feed_g(det, xs, 4096)
    assert det.steps == first


def _events_by_blocks(rate, xs, sizes):
    det = sd.StepDetector(rate, 4096, 3, sd.P_WAIST)
    flat = array("h")
    for x, y, z in xs:
        flat.extend((int(round(x * 4096)), int(round(y * 4096)), int(round(z * 4096))))
    events = _feed_blocks(det, flat, 3, sizes)
    return events, (det.steps, det.forward, det.backward, det.unknown, det.n)


def _feed_blocks(det, flat, stride, sizes):
    """Feeds `flat` in blocks of the sizes given, in turn, draining events after each."""
    idx = array("i", bytes(4 * 64))
    dirs = bytearray(64)
    events = []
    done = 0
    k = 0
    n = len(flat) // stride
    while done < n:
        m = min(sizes[k % len(sizes)], n - done)
        k += 1
        det.feed(memoryview(flat)[stride * done:stride * (done + m)], m, stride)
        done += m
        got = det.read(idx, dirs)
        events += list(zip(idx[:got], dirs[:got]))
    return events


@settings(max_examples=12, deadline=None)
@given(rate=st.sampled_from([12.5, 26.0, 50, 104.0, 200]),
       sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6))
def test_any_block_sizes_give_the_same_events(rate, sizes):
    # blocks as a FIFO delivers them (any size, drained after each) give what one sample at
    # a time through update() gives
    rng = random.Random(int(rate))
    xs = [(0.3 * math.sin(2 * math.pi * 0.9 * i / rate), 0.1,
           1.0 + 0.35 * math.sin(2 * math.pi * 1.8 * i / rate) + rng.gauss(0, 0.01))
          for i in range(int(rate * 20))]
    det = sd.StepDetector(rate, 4096, 3, sd.P_WAIST)
    ref = (feed_g(det, xs, 4096), (det.steps, det.forward, det.backward, det.unknown, det.n))
    assert ref[1][0] > 20 and ref[1][4] == len(xs) and len(ref[0]) == ref[1][0]
    assert _events_by_blocks(rate, xs, sizes) == ref


@settings(max_examples=6, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6))
def test_gyro_samples_by_blocks_equal_update_gyro(sizes):
    # six channels a sample (a front pocket with its gyro): feed() in any blocks gives what
    # update_gyro() one sample at a time gives, and the gyro changes the directions only
    from host_tools.sim import simulate
    tr = simulate(script="stand 2s, walk 16, retro 16, stand 2s", placement="front_pocket",
                  rate_hz=52.0, seed=8, sensor="lsm6dso")
    raw = [[int(v) for v in row] for row in tr.raw]
    lsb, dps = int(tr.lsb_per_g), tr.lsb_per_dps
    one = sd.StepDetector(52.0, lsb, 3, sd.P_FRONT_POCKET, dps)
    idx = array("i", bytes(4 * 64))
    dirs = bytearray(64)
    ref = []
    for r in raw:
        if one.update_gyro(*r) >= 16:
            k = one.read(idx, dirs)
            ref += list(zip(idx[:k], dirs[:k]))
    k = one.read(idx, dirs)
    ref += list(zip(idx[:k], dirs[:k]))
    assert one.forward > 8 and one.backward > 8
    det = sd.StepDetector(52.0, lsb, 3, sd.P_FRONT_POCKET, dps)
    assert _feed_blocks(det, array("h", [v for r in raw for v in r]), 6, sizes) == ref
    # without the gyro: the same steps at the same samples, every one unknown
    acc = sd.StepDetector(52.0, lsb, 3, sd.P_FRONT_POCKET)
    flat3 = array("h", [v for r in raw for v in r[:3]])
    acc.feed(flat3, len(raw), 3)
    assert acc.steps == one.steps and acc.unknown == acc.steps
