"""Runs the firmware's step detector over a trace: the one path replay, eval, bench and tests share.

The trace (g, irregular ms timestamps) becomes what the board would see: samples on a
regular grid at the detector's rate, in integer counts at LSB_PER_G, fed in blocks of
BLOCK samples. The same input runs under CPython (the firmware file imported as is) or
under the MicroPython Unix port (host_tools/mprun.py); both give identical events.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

from .trace import Trace, resample

LSB_PER_G = 4096          # +-8 g in a signed 16-bit sample, as an IMU set to its 8 g range
LSB_PER_DPS = 32.8        # +-1000 deg/s, for traces with gyro columns (MPU6050 at 1000 dps)
PHONE_RATE_HZ = 100.0     # detector rate for traces without a plain numeric rate (phones)
MIN_RATE_HZ = 12.5
MAX_RATE_HZ = 200.0
BLOCK = 16                # samples per feed() call; events are drained after each block
INT16_MAX = 32767

DIR_NAMES = ("unknown", "forward", "backward")


def detector():
    """The firmware module `stepdetect`, imported unchanged."""
    from .mpcompat import firmware_module
    return firmware_module("stepdetect")


@dataclass
class Prepared:
    """Detector input: int16 samples (n, 3), or (n, 6) with the gyro (then lsb_per_dps > 0),
    at rate_hz, and how to build the detector."""
    samples: np.ndarray
    rate_hz: float
    lsb_per_g: int
    forward_axis: int
    placement: int
    t0_ms: float = 0.0
    lsb_per_dps: float = 0.0

    @property
    def stride(self) -> int:
        return int(self.samples.shape[1])

    def to_bytes(self) -> bytes:
        return np.ascontiguousarray(self.samples, dtype="<i2").tobytes()

    def script_args(self) -> list[str]:
        """The detector's arguments for the Unix-port scripts in host_tools/mplib."""
        return [repr(float(self.rate_hz)), str(self.lsb_per_g), str(self.forward_axis),
                str(self.placement), repr(float(self.lsb_per_dps)), str(self.stride)]


@dataclass
class RunResult:
    steps: int
    forward: int
    backward: int
    unknown: int
    n: int                                   # samples fed
    rate_hz: float
    events: list[tuple[float, int]] = field(default_factory=list)   # (t_ms, DIR_* code)


def detector_rate(trace: Trace, rate_hz: float | None = None) -> float:
    """The trace's numeric nominal rate (clamped to what the detector takes), else PHONE_RATE_HZ."""
    r = rate_hz if rate_hz is not None else trace.nominal_rate_hz
    if r is None:
        r = PHONE_RATE_HZ
    return float(min(MAX_RATE_HZ, max(MIN_RATE_HZ, r)))


def placement_code(name: str) -> int:
    names = detector().PLACEMENTS
    return names.index(name) if name in names else 0


def to_counts(g: np.ndarray, lsb_per_g: int = LSB_PER_G) -> np.ndarray:
    """g -> int16 counts, rounded and clipped at the sensor's full scale."""
    return np.clip(np.rint(np.asarray(g) * lsb_per_g), -INT16_MAX - 1, INT16_MAX).astype(np.int16)


def prepare(trace: Trace, rate_hz: float | None = None, lsb_per_g: int = LSB_PER_G,
            gyro: bool = True) -> Prepared:
    """The trace on the detector's grid in counts; its gyro columns too, unless gyro=False."""
    rate = detector_rate(trace, rate_hz)
    if gyro and trace.gyro is not None:
        grid, data = resample(trace.t_ms, trace.data[:, :6], rate)
        counts = np.column_stack([to_counts(data[:, :3], lsb_per_g), to_counts(data[:, 3:], LSB_PER_DPS)])
        return Prepared(counts, rate, lsb_per_g, trace.forward_axis, placement_code(trace.placement),
                        float(grid[0]), LSB_PER_DPS)
    grid, acc = resample(trace.t_ms, trace.accel, rate)
    return Prepared(to_counts(acc, lsb_per_g), rate, lsb_per_g, trace.forward_axis,
                    placement_code(trace.placement), float(grid[0]))


def from_sim(sim, gyro: bool = True, mount_known: bool = True) -> Prepared:
    """A simulated trace (host_tools.sim.SimTrace) as the board's detector would get it: the
    chip's own counts at its own rate, the gyro's too unless gyro=False, and the mount's
    forward axis unless mount_known=False."""
    from .trace import AXES
    fwd = AXES.get(sim.forward_axis or "", 0) if mount_known else 0
    cols = 6 if gyro and sim.raw.shape[1] >= 6 else 3
    return Prepared(np.asarray(sim.raw[:, :cols], dtype=np.int16), float(sim.rate_hz),
                    int(round(sim.lsb_per_g)), fwd, placement_code(sim.placement), 0.0,
                    float(sim.lsb_per_dps) if cols == 6 else 0.0)


def run_prepared(p: Prepared, interpreter: str = "cpython") -> RunResult:
    if interpreter == "micropython":
        from .mprun import run_detector_micropython
        return run_detector_micropython(p)
    if interpreter != "cpython":
        raise ValueError(f"interpreter must be cpython or micropython, not {interpreter!r}")
    sd = detector()
    det = sd.StepDetector(p.rate_hz, p.lsb_per_g, p.forward_axis, p.placement, p.lsb_per_dps)
    flat = array("h", p.to_bytes())
    mv = memoryview(flat)
    idx_out = array("i", bytes(4 * 64))
    dir_out = bytearray(64)
    raw: list[tuple[int, int]] = []
    total = len(p.samples)
    w = p.stride
    step = w * BLOCK
    last_steps = 0
    for start in range(0, w * total, step):
        chunk = mv[start:start + step]
        det.feed(chunk, len(chunk) // w, w)
        k = det.read(idx_out, dir_out)
        for i in range(k):
            raw.append((idx_out[i], dir_out[i]))
        if det.steps - last_steps != k:
            raise RuntimeError(f"detector reported {det.steps - last_steps} steps but {k} events"
                               " in one block: its event ring overflowed or lost events")
        last_steps = det.steps
    det.flush()
    k = det.read(idx_out, dir_out)
    for i in range(k):
        raw.append((idx_out[i], dir_out[i]))
    return _result(p, raw, det.steps, det.forward, det.backward, det.unknown, det.n)


def _result(p: Prepared, raw, steps, fwd, bwd, unk, n) -> RunResult:
    """Events (wrapping sample indices) -> times in ms from the trace's start."""
    events = []
    base = 0
    prev = -1
    for idx, d in raw:
        if idx < prev - (1 << 29):   # the 2**30 wrap
            base += 1 << 30
        prev = idx
        events.append((p.t0_ms + (base + idx) * 1000.0 / p.rate_hz, int(d)))
    return RunResult(steps, fwd, bwd, unk, n, p.rate_hz, events)


def run_trace(trace: Trace, interpreter: str = "cpython", rate_hz: float | None = None,
              lsb_per_g: int = LSB_PER_G, gyro: bool = True) -> RunResult:
    """Run the detector over a trace and return totals and step events (time in ms, direction).
    The gyro columns, when the trace has them, go to the detector unless gyro=False."""
    return run_prepared(prepare(trace, rate_hz, lsb_per_g, gyro), interpreter)
