"""Runs the firmware's step detector over a trace: the one path replay, eval, bench and tests share.

The trace (g, irregular ms timestamps) becomes what the board would see: samples on a
regular grid at the detector's rate, in integer counts at LSB_PER_G, fed in blocks of
BLOCK samples. The same input runs under CPython (the firmware file imported as is) or
under the MicroPython Unix port (host_tools/mprun.py); both give identical events.

A gap in the timestamps longer than BREAK_S is a break, not something to fill: the grid
starts again at the sample after it and the detector is reset there (its totals carry
on), as a board's would be after a pause in its samples. Nothing is invented across a
gap, and a timestamp far in the future costs no memory.

`run_file` streams a trace file through all of this a block at a time (TraceReader), so
memory stays flat however long the recording; `prepare` and `run_prepared` do the same
on a trace held in arrays (eval, bench, tests).
"""
from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

import numpy as np

from .errors import UserError
from .trace import BLOCK_BYTES, Trace, TraceReader

LSB_PER_G = 4096          # +-8 g in a signed 16-bit sample, as an IMU set to its 8 g range
LSB_PER_DPS = 32.8        # +-1000 deg/s, for traces with gyro columns (MPU6050 at 1000 dps)
PHONE_RATE_HZ = 100.0     # detector rate for traces without a plain numeric rate (phones)
MIN_RATE_HZ = 12.5
MAX_RATE_HZ = 200.0
BLOCK = 16                # samples per feed() call; events are drained after each block
INT16_MAX = 32767
BREAK_S = 3.0             # a longer gap in the timestamps restarts the detector; shorter ones are interpolated

DIR_NAMES = ("unknown", "forward", "backward")


def detector():
    """The firmware module `stepdetect`, imported unchanged."""
    from .mpcompat import firmware_module
    return firmware_module("stepdetect")


@dataclass
class Prepared:
    """Detector input: int16 samples (n, 3), or (n, 6) with the gyro (then lsb_per_dps > 0),
    at rate_hz, and how to build the detector. `segments`: (first sample, its time in ms)
    of each stretch between breaks; None is one stretch from t0_ms."""
    samples: np.ndarray
    rate_hz: float
    lsb_per_g: int
    forward_axis: int
    placement: int
    t0_ms: float = 0.0
    lsb_per_dps: float = 0.0
    segments: list[tuple[int, float]] | None = None

    @property
    def stride(self) -> int:
        return int(self.samples.shape[1])

    def to_bytes(self) -> bytes:
        return np.ascontiguousarray(self.samples, dtype="<i2").tobytes()

    def script_args(self) -> list[str]:
        """The detector's arguments for the Unix-port scripts in host_tools/mplib."""
        return [repr(float(self.rate_hz)), str(self.lsb_per_g), str(self.forward_axis),
                str(self.placement), repr(float(self.lsb_per_dps)), str(self.stride)]

    def stretches(self) -> list[tuple[int, int, float]]:
        """(first sample, end, time of the first in ms) of each stretch between breaks."""
        segs = self.segments or [(0, self.t0_ms)]
        ends = [s for s, _ in segs[1:]] + [len(self.samples)]
        return [(a, b, t0) for (a, t0), b in zip(segs, ends)]


class StepEvents:
    """Step events as (t_ms, DIR_* code) pairs, kept in 9 bytes each (a list of tuples
    takes about 90): a streamed replay of a day holds every step (run_file)."""
    __slots__ = ("t", "d")

    def __init__(self, items=()):
        self.t = array("d")
        self.d = bytearray()
        for ev in items:
            self.append(ev)

    def append(self, ev):
        self.t.append(ev[0])
        self.d.append(ev[1])

    def __len__(self):
        return len(self.t)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [(self.t[k], self.d[k]) for k in range(*i.indices(len(self.t)))]
        return self.t[i], self.d[i]

    def __iter__(self):
        return zip(self.t, self.d)

    def __eq__(self, other):
        try:
            return len(self) == len(other) and all(a == tuple(b) for a, b in zip(self, other))
        except TypeError:
            return NotImplemented

    def __repr__(self):
        return f"StepEvents({list(self)!r})"


@dataclass
class RunResult:
    steps: int
    forward: int
    backward: int
    unknown: int
    n: int                                   # samples fed
    rate_hz: float
    events: list[tuple[float, int]] | StepEvents = field(default_factory=list)   # (t_ms, DIR_* code)
    breaks: int = 0                          # gaps over BREAK_S: the detector restarted after each


def detector_rate(trace, rate_hz: float | None = None) -> float:
    """The trace's numeric nominal rate (clamped to what the detector takes), else PHONE_RATE_HZ."""
    r = rate_hz if rate_hz is not None else trace.nominal_rate_hz
    if r is None:
        r = PHONE_RATE_HZ
    return float(min(MAX_RATE_HZ, max(MIN_RATE_HZ, r)))


def check_rate(rate_hz: float | None, option: str = "--rate") -> float | None:
    """A detector rate given by the user: None (the trace's own), or MIN_RATE_HZ to MAX_RATE_HZ."""
    if rate_hz is not None and not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:   # also refuses nan
        raise UserError(f"{option} {rate_hz:g}: the detector runs at {MIN_RATE_HZ:g} to"
                        f" {MAX_RATE_HZ:g} Hz (leave it out to use the trace's rate_hz)")
    return rate_hz


def placement_code(name: str) -> int:
    names = detector().PLACEMENTS
    return names.index(name) if name in names else 0


def to_counts(g: np.ndarray, lsb_per_g: int = LSB_PER_G) -> np.ndarray:
    """g -> int16 counts, rounded and clipped at the sensor's full scale."""
    return np.clip(np.rint(np.asarray(g) * lsb_per_g), -INT16_MAX - 1, INT16_MAX).astype(np.int16)


def _counts(vals: np.ndarray, lsb_per_g: int) -> np.ndarray:
    """Grid values (g, and dps after them) -> the detector's int16 counts."""
    if vals.shape[1] >= 6:
        return np.column_stack([to_counts(vals[:, :3], lsb_per_g), to_counts(vals[:, 3:6], LSB_PER_DPS)])
    return to_counts(vals, lsb_per_g)


class Grid:
    """Trace samples onto the detector's regular grid, as they stream in.

    Grid times are t0 + k * 1000 / rate_hz from a stretch's first sample t0, its values
    interpolated linearly between the samples around them (an irregular phone, a lost
    frame). A gap over break_ms ends the stretch: the next sample starts a new one, and
    push() says so by yielding that sample's time with the stretch's first values."""

    def __init__(self, rate_hz: float, break_ms: float = BREAK_S * 1000.0):
        self.step = 1000.0 / rate_hz
        self.break_ms = break_ms
        self.stretches = 0
        self._t0: float | None = None
        self._k = 0                       # the next grid index in this stretch
        self._pt: float | None = None     # the last sample, interpolated from next time
        self._pv: np.ndarray | None = None

    def push(self, t: np.ndarray, v: np.ndarray):
        """Yields (t0 of a new stretch, or None, values (m, channels)) for samples t, v
        (t strictly increasing, after those pushed before)."""
        if not len(t):
            return
        starts = list(np.nonzero(np.diff(t) > self.break_ms)[0] + 1)
        if self._pt is None or t[0] - self._pt > self.break_ms:
            starts.insert(0, 0)
            new_at_0 = True
        else:
            new_at_0 = False
        bounds = sorted(set([0] + starts + [len(t)]))
        for a, b in zip(bounds, bounds[1:]):
            new = a > 0 or new_at_0
            if new:
                self._t0 = float(t[a])
                self._k = 0
                self._pt = None
                self.stretches += 1
            out = self._fill(t[a:b], v[a:b])
            if new or len(out):
                yield (self._t0 if new else None), out

    def _fill(self, t: np.ndarray, v: np.ndarray) -> np.ndarray:
        kmax = int(math.floor((t[-1] - self._t0) / self.step + 1e-9))
        g = self._t0 + np.arange(self._k, kmax + 1) * self.step
        if self._pt is not None:
            t = np.concatenate(([self._pt], t))
            v = np.vstack([self._pv, v])
        out = np.empty((len(g), v.shape[1]))
        for c in range(v.shape[1]):
            out[:, c] = np.interp(g, t, v[:, c])
        self._k = kmax + 1
        self._pt = float(t[-1])
        self._pv = v[-1].copy()
        return out


def prepare(trace: Trace, rate_hz: float | None = None, lsb_per_g: int = LSB_PER_G,
            gyro: bool = True, placement: str | None = None) -> Prepared:
    """The trace on the detector's grid in counts; its gyro columns too, unless gyro=False.
    `placement` overrides the trace's own (a manifest's)."""
    rate = detector_rate(trace, rate_hz)
    use_gyro = gyro and trace.gyro is not None
    grid = Grid(rate)
    parts, segs, n = [], [], 0
    for t0, vals in grid.push(trace.t_ms, trace.data[:, :6] if use_gyro else trace.accel):
        if t0 is not None:
            segs.append((n, t0))
        parts.append(_counts(vals, lsb_per_g))
        n += len(vals)
    samples = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return Prepared(samples, rate, lsb_per_g, trace.forward_axis,
                    placement_code(placement or trace.placement), segs[0][1],
                    LSB_PER_DPS if use_gyro else 0.0, segs)


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


class Feeder:
    """The firmware's detector (CPython) over samples that arrive in pieces: feed() any
    number of int16 rows, segment(t0) at the start of each stretch between breaks (the
    detector is reset there; the totals carry on), result() at the end."""

    def __init__(self, rate_hz: float, lsb_per_g: int, forward_axis: int, placement: int,
                 lsb_per_dps: float = 0.0, compact: bool = False):
        self.rate_hz = rate_hz
        self.det = detector().StepDetector(rate_hz, lsb_per_g, forward_axis, placement, lsb_per_dps)
        self.idx_out = array("i", bytes(4 * 64))
        self.dir_out = bytearray(64)
        self.events = StepEvents() if compact else []
        self.done = [0, 0, 0, 0, 0]     # steps, forward, backward, unknown, n of past stretches
        self.stretches = 0
        self._t0 = 0.0
        self._base = 0
        self._prev = -1
        self._last_steps = 0

    def segment(self, t0_ms: float):
        if self.stretches:
            self._end()
            self._fold()
            self.det.reset()
        self.stretches += 1
        self._t0, self._base, self._prev, self._last_steps = t0_ms, 0, -1, 0

    def _fold(self):
        d = self.det
        for i, v in enumerate((d.steps, d.forward, d.backward, d.unknown, d.n)):
            self.done[i] += v

    def feed(self, counts: np.ndarray):
        if not self.stretches:
            self.segment(0.0)
        det = self.det
        w = int(counts.shape[1])
        mv = memoryview(array("h", np.ascontiguousarray(counts, dtype="<i2").tobytes()))
        step = w * BLOCK
        ms = 1000.0 / self.rate_hz
        for start in range(0, len(mv), step):
            chunk = mv[start:start + step]
            det.feed(chunk, len(chunk) // w, w)
            self._read(ms)

    def _read(self, ms: float):
        det = self.det
        k = det.read(self.idx_out, self.dir_out)
        for i in range(k):
            idx = self.idx_out[i]
            if idx < self._prev - (1 << 29):   # the 2**30 wrap
                self._base += 1 << 30
            self._prev = idx
            self.events.append((self._t0 + (self._base + idx) * ms, int(self.dir_out[i])))
        if det.steps - self._last_steps != k:
            raise RuntimeError(f"detector reported {det.steps - self._last_steps} steps but {k}"
                               " events in one block: its event ring overflowed or lost events")
        self._last_steps = det.steps

    def _end(self):
        # the stretch ends (a break, the trace's end): a short walk still waiting counts
        self.det.flush()
        self._read(1000.0 / self.rate_hz)

    def result(self) -> RunResult:
        if self.stretches:
            self._end()
        self._fold()
        steps, fwd, bwd, unk, n = self.done
        self.done = [0, 0, 0, 0, 0]
        return RunResult(steps, fwd, bwd, unk, n, self.rate_hz, self.events, max(0, self.stretches - 1))


def feeder(rate_hz: float, lsb_per_g: int, forward_axis: int, placement: int,
           lsb_per_dps: float = 0.0, interpreter: str = "cpython", compact: bool = False):
    """A Feeder for CPython, or its counterpart running the Unix port (mprun.MicroPythonFeeder).
    `compact`: the events in a StepEvents (9 bytes each) instead of a list of tuples."""
    if interpreter == "micropython":
        from .mprun import MicroPythonFeeder
        return MicroPythonFeeder(rate_hz, lsb_per_g, forward_axis, placement, lsb_per_dps,
                                 compact=compact)
    if interpreter != "cpython":
        raise ValueError(f"interpreter must be cpython or micropython, not {interpreter!r}")
    return Feeder(rate_hz, lsb_per_g, forward_axis, placement, lsb_per_dps, compact)


def run_prepared(p: Prepared, interpreter: str = "cpython") -> RunResult:
    f = feeder(p.rate_hz, p.lsb_per_g, p.forward_axis, p.placement, p.lsb_per_dps, interpreter)
    for a, b, t0 in p.stretches():
        f.segment(t0)
        f.feed(p.samples[a:b])
    return f.result()


def run_trace(trace: Trace, interpreter: str = "cpython", rate_hz: float | None = None,
              lsb_per_g: int = LSB_PER_G, gyro: bool = True) -> RunResult:
    """Run the detector over a trace and return totals and step events (time in ms, direction).
    The gyro columns, when the trace has them, go to the detector unless gyro=False."""
    return run_prepared(prepare(trace, rate_hz, lsb_per_g, gyro), interpreter)


def run_file(path, interpreter: str = "cpython", rate_hz: float | None = None,
             strict: bool = True, lsb_per_g: int = LSB_PER_G, gyro: bool = True,
             watch=None, block_bytes: int = BLOCK_BYTES) -> tuple[RunResult, TraceReader]:
    """The detector over a trace file, streamed a block at a time: memory stays flat in the
    trace's length (what grows are the step events, a StepEvents). `watch(t_ms, data)` sees each
    block of checked samples. Returns the result and the reader (header, samples, span)."""
    with TraceReader(path, strict, block_bytes) as rd:
        rate = detector_rate(rd, rate_hz)
        use_gyro = gyro and len(rd.columns) > 4
        f = feeder(rate, lsb_per_g, rd.forward_axis, placement_code(rd.placement),
                   LSB_PER_DPS if use_gyro else 0.0, interpreter, compact=True)
        grid = Grid(rate)
        for t, d in rd.chunks():
            if watch is not None:
                watch(t, d)
            for t0, vals in grid.push(t, d if use_gyro else d[:, :3]):
                if t0 is not None:
                    f.segment(t0)
                f.feed(_counts(vals, lsb_per_g))
        return f.result(), rd
