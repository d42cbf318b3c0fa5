"""Feeding simulated traces to the firmware's detector, as the board would."""
from array import array

import numpy as np

from host_tools.mpcompat import firmware_module
from host_tools.trace import AXES  # noqa: F401  (the tests take it from here)

sd = firmware_module("stepdetect")


def run(raw, rate_hz, lsb_per_g, forward_axis=0, placement="unknown", lsb_per_dps=0):
    """Counts (steps, forward, backward, unknown) and the event list [(sample index, dir)].
    With lsb_per_dps > 0 the gyro's columns (raw[:, 3:6]) are fed too."""
    det = sd.StepDetector(rate_hz, int(round(lsb_per_g)), forward_axis,
                          sd.PLACEMENTS.index(placement), lsb_per_dps)
    raw = np.asarray(raw)
    w = 6 if lsb_per_dps else 3
    idx = array("i", bytes(4 * 32))
    dirs = bytearray(32)
    events = []
    block = 16
    flat = array("i", raw[:, :w].astype(np.int64).ravel().tolist())
    buf = memoryview(flat)
    for s in range(0, len(raw), block):
        n = min(block, len(raw) - s)
        det.feed(buf[w * s:w * (s + n)], n, w)
        k = det.read(idx, dirs)
        events += list(zip(idx[:k], dirs[:k]))
    return (det.steps, det.forward, det.backward, det.unknown), events


def run_sim(tr, mount_known=True, gyro=True):
    """A simulated trace as the board feeds it: the gyro too unless gyro=False."""
    fwd = AXES.get(tr.forward_axis or "", 0) if mount_known else 0
    return run(tr.raw, tr.rate_hz, tr.lsb_per_g, fwd, tr.placement, tr.lsb_per_dps if gyro else 0)
