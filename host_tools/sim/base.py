"""What every part of the simulator shares: the person, the body frame, segments and chunks.

Frames. The body frame moves with the wearer's heading: x forward (the way the
wearer faces), y to the wearer's left, z up. A *segment* is the body part the
device is worn on (pelvis, thigh, shank, forearm); its frame equals the body frame
when the wearer stands upright with the arms hanging. Segments produce the specific
force (what an accelerometer measures: acceleration minus gravity, so +1 g on z at
rest) in g and the angular rate in degrees per second, both in the segment frame.
The sensor model (`sensors.py`) turns these into a given chip's counts through the
device's mounting rotation.

Segments. A scenario is a list of segments; each is any object with

    label: str                                  # e.g. "walk", "retro", "stand", "fall"
    samples(ctx: Context) -> Iterator[BodyChunk]

`samples` yields consecutive chunks (at most `ctx.chunk` samples each) starting at
absolute sample index `ctx.i0`, until the segment is over. Step and event times are
absolute trace milliseconds (`ctx.ms(i)` converts a sample index). `ctx.state` is a
dict passed from one segment to the next (posture at the end of a segment, for
example "posture": "lying" after a fall), `ctx.rng` a numpy Generator of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol

import numpy as np

G = 9.80665
PLACEMENTS = ("wrist", "front_pocket", "waist", "lower_back", "ankle")


@dataclass(frozen=True)
class Person:
    """The wearer. `asymmetry`: relative left/right difference of step time and step
    amplitude (0.02 to 0.05 in healthy adults); `variability`: stride-to-stride
    coefficient of variation of step time (about 0.02, Hausdorff et al. 1995,
    J Appl Physiol 78:349); `arm_swing` and `impact` scale arm swing and foot-contact
    transients (1 = typical)."""
    height_m: float = 1.72
    asymmetry: float = 0.03
    variability: float = 0.02
    arm_swing: float = 1.0
    impact: float = 1.0

    def check(self):
        from ..errors import UserError
        if not 1.0 <= self.height_m <= 2.3:
            raise UserError(f"height {self.height_m} m is outside 1.0 to 2.3 m")
        if not 0.0 <= self.asymmetry <= 0.3:
            raise UserError(f"asymmetry {self.asymmetry} is outside 0 to 0.3")
        if not 0.0 <= self.variability <= 0.2:
            raise UserError(f"variability {self.variability} is outside 0 to 0.2")
        if not 0.0 <= self.arm_swing <= 3.0 or not 0.0 <= self.impact <= 5.0:
            raise UserError("arm_swing must be 0 to 3 and impact 0 to 5")


@dataclass
class Context:
    rate_hz: float
    placement: str
    person: Person
    rng: np.random.Generator
    i0: int                       # first absolute sample index of this segment
    chunk: int = 4096
    state: dict = field(default_factory=dict)

    def t(self, i0: int, n: int) -> np.ndarray:
        """Times in seconds of samples i0 .. i0+n-1."""
        return (i0 + np.arange(n)) / self.rate_hz

    def ms(self, i) -> int:
        return int(round(i * 1000.0 / self.rate_hz))

    def index(self, t_s: float) -> int:
        """First sample index at or after time t_s."""
        return int(np.ceil(t_s * self.rate_hz - 1e-9))


@dataclass
class BodyChunk:
    f: np.ndarray                 # (n, 3) specific force in g, segment frame
    w: np.ndarray                 # (n, 3) angular rate in dps, segment frame
    steps: list = field(default_factory=list)    # [(t_ms, "F"|"B"), ...]
    events: list = field(default_factory=list)   # [(t_ms, kind), ...] e.g. (12040, "fall")

    def __len__(self):
        return len(self.f)


class Segment(Protocol):
    label: str

    def samples(self, ctx: Context) -> Iterator[BodyChunk]: ...


def chunk_ranges(i0: int, i1: int, chunk: int):
    """(start, count) pairs covering sample indices i0 .. i1-1."""
    i = i0
    while i < i1:
        n = min(chunk, i1 - i)
        yield i, n
        i += n


def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def ou_process(rng: np.random.Generator, n: int, dt: float, tau: float, sigma: float,
               x0: float = 0.0) -> np.ndarray:
    """Ornstein-Uhlenbeck samples (stationary std `sigma`, time constant `tau`), exact update."""
    a = np.exp(-dt / tau)
    s = sigma * np.sqrt(1.0 - a * a)
    e = rng.standard_normal(n) * s
    out = np.empty(n)
    x = x0
    # y[k] = a*y[k-1] + e[k] without a Python loop per sample: y[k] = a^k (x0 + sum a^-j e[j]),
    # in blocks short enough that a^-j stays well inside float range.
    B = int(min(256, max(1, 8.0 * tau / dt)))
    pw = a ** np.arange(1, B + 1)
    for b in range(0, n, B):
        eb = e[b:b + B]
        m = len(eb)
        p = pw[:m]
        y = p * (x + np.cumsum(eb / p))
        out[b:b + m] = y
        x = y[-1]
    return out


class OU:
    """A stateful Ornstein-Uhlenbeck source that continues across chunks."""

    def __init__(self, rng: np.random.Generator, dt: float, tau: float, sigma: float, x0=None):
        # a generator of its own, so that chunk sizes do not change the random sequence
        self.rng = np.random.Generator(np.random.PCG64(int(rng.integers(0, 2**63))))
        self.dt, self.tau, self.sigma = dt, tau, sigma
        self.x = float(self.rng.standard_normal() * sigma) if x0 is None else float(x0)

    def take(self, n: int) -> np.ndarray:
        y = ou_process(self.rng, n, self.dt, self.tau, self.sigma, self.x)
        if n:
            self.x = float(y[-1])
        return y
