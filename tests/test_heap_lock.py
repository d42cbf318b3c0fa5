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
        return run_script("heap_lock_check.py", [str(f), repr(float(p.rate_hz)), str(p.lsb_per_g),
                                                 str(p.forward_axis), str(p.placement), str(BLOCK)],
                          prepend=prepend).strip()


@pytest.mark.parametrize("rate,axis,place", [(12.5, 0, "wrist"), (50, -3, "waist"), (100, 2, "front_pocket"),
                                             (200, 1, "ankle")])
def test_long_walk_runs_with_the_heap_locked(rate, axis, place):
    _, acc = mixed_day(rate, seed=3)
    noisy = np.concatenate([acc, np.random.default_rng(0).normal(0, 2.0, (int(rate * 20), 3))])
    out = heap_check(Prepared(to_counts(noisy), float(rate), LSB_PER_G, axis, placement_code(place)))
    assert out.startswith("ok "), out
    assert int(out.split()[1]) == len(noisy)


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
        "    def __init__(self, rate_hz, lsb_per_g, forward_axis=0, placement=0):\n"
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
