"""The detector allocates nothing per sample: it runs under micropython.heap_lock() in the Unix
port, where any allocation raises MemoryError (host_tools/mplib/heap_lock_check.py)."""
import tempfile
from pathlib import Path

import numpy as np
import pytest

from host_tools.detector_run import BLOCK, LSB_PER_G, Prepared, placement_code, prepare, to_counts
from host_tools.mprun import run_script
from host_tools.paths import data_dir
from host_tools.testsignal import mixed_day, walk
from host_tools.trace import read_trace


def heap_check(p: Prepared, prepend=None) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "s.bin"
        f.write_bytes(p.to_bytes())
        return run_script("heap_lock_check.py", [str(f), *p.script_args(), str(BLOCK)],
                          prepend=prepend).strip()


@pytest.mark.parametrize("rate,axis,place", [(12.5, 0, "wrist"), (50, -3, "waist"), (100, 2, "front_pocket"),
                                             (200, 1, "ankle")])
def test_long_walk_runs_with_the_heap_locked(rate, axis, place):
    _, acc = mixed_day(rate, seed=3)
    noisy = np.concatenate([acc, np.random.default_rng(0).normal(0, 2.0, (int(rate * 20), 3))])
    out = heap_check(Prepared(to_counts(noisy), float(rate), LSB_PER_G, axis, placement_code(place)))
    assert out.startswith("ok "), out
    assert int(out.split()[1]) == len(noisy)


@pytest.mark.parametrize("rate", [25.0, 104.0])
def test_pocket_walk_with_the_gyro_runs_with_the_heap_locked(rate):
    # the thigh's pitch rate path: six channels per sample, both directions
    from host_tools.detector_run import from_sim
    from host_tools.sim import simulate
    p = from_sim(simulate(script="stand 3s, walk 30, retro 30, stand 3s", placement="front_pocket",
                          rate_hz=rate, seed=4, sensor="mpu6050"))
    assert p.stride == 6 and p.lsb_per_dps > 0
    out = heap_check(p)
    assert out.startswith("ok "), out
    assert int(out.split()[2]) > 40


def test_recorded_walk_runs_with_the_heap_locked():
    f = data_dir() / "oxford" / "oxford_pixel_jamie_hard_backpocket_1.csv"
    if not f.exists():
        pytest.skip(f"recorded datasets not found at {data_dir()}")
    p = prepare(read_trace(f, cache=True))
    out = heap_check(p)
    assert out.startswith("ok "), out
    assert int(out.split()[2]) > 50   # it did walk through the step path


def test_the_check_catches_an_allocating_detector(tmp_path):
    # a detector with the same API that keeps a list of samples: must be caught
    (tmp_path / "stepdetect.py").write_text(
        "class StepDetector:\n"
        "    def __init__(self, rate_hz, lsb_per_g, forward_axis=0, placement=0, lsb_per_dps=0):\n"
        "        self.seen = []\n        self.reset()\n"
        "    def reset(self):\n        self.n = self.steps = self.pending = 0\n"
        "    def update(self, ax, ay, az):\n        self.seen.append(ax)\n        self.n += 1\n"
        "        return 0\n"
        "    def feed(self, buf, count, stride):\n"
        "        for i in range(count):\n            self.update(buf[i * stride], 0, 0)\n        return 0\n"
        "    def read(self, idx_out, dir_out):\n        return 0\n")
    _, acc, _ = walk(50.0, 10.0)
    out = heap_check(Prepared(to_counts(acc), 50.0, LSB_PER_G, 0, 0), prepend=[str(tmp_path)])
    assert out.startswith("alloc feed"), out


STATE_LIMIT = 4096   # the bound on detector state


def test_detector_state_is_at_most_4_kb_at_every_rate():
    # buffers scale with the inner rate (14-28 Hz after decimation), so the edges of each
    # decimation band, odd rates and 12.5 and 200 Hz are measured, with and without a mount
    # (a known mount adds the per-sample orbit arrays)
    rates = ["12.5", "13", "14.2", "20", "28.4", "28.5", "40", "56.9", "57", "100", "104", "113.9", "150", "199.9", "200"]
    specs = [f"{r}:{f}:{p}:{g}" for r in rates
             for f, p, g in (("0", "0", "0"), ("-3", "7", "0"), ("1", "11", "0"), ("3", "5", "16.4"))]
    out = run_script("state_size.py", specs).split()
    sizes = {tuple(out[i:i + 3]): int(out[i + 4]) for i in range(0, len(out), 5)}
    assert len(sizes) == len(specs)
    assert all(b > 1000 for b in sizes.values()), sizes     # the arrays were counted
    worst = max(sizes, key=sizes.get)
    assert sizes[worst] <= STATE_LIMIT, f"{sizes[worst]} bytes at {worst} (rate, axis, placement)"
    # the mount's orbit arrays are part of what is measured
    assert sizes[("100", "-3", "7")] > sizes[("100", "0", "0")]


def test_the_state_measure_sees_every_buffer(tmp_path):
    # a stand-in detector holding 5000 bytes in arrays and a bytearray: measured at least that
    (tmp_path / "stepdetect.py").write_text(
        "from array import array\n"
        "class StepDetector:\n"
        "    def __init__(self, rate_hz, lsb_per_g, forward_axis=0, placement=0, lsb_per_dps=0):\n"
        "        self.a = array('i', bytes(4 * 1000))\n"
        "        self.b = bytearray(1000)\n")
    out = run_script("state_size.py", ["50:0:0"], prepend=[str(tmp_path)]).split()
    assert out[:4] == ["50", "0", "0", "0"] and 5000 <= int(out[4]) < 5600
