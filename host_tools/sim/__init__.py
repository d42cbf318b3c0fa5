"""Simulated body-worn IMU traces with ground-truth steps (forward and backward).

    from host_tools.sim import simulate, stream, Person, write

    tr = simulate(activity="walk", placement="waist", sensor="mpu6050", rate_hz=50,
                  seed=1, steps=200)
    tr = simulate(script="walk 200, turn, retro 150, stand 60s", placement="wrist")

Arguments (all keyword):
    activity      walk | retro | run | stairs_up | stairs_down | turn | stand | desk |
                  gestures | drive | cycle           (or script=..., or segments=[...])
    script        "walk 200, turn, retro 150, stand 60s" (see scenario.py)
    segments      a list of segment objects (base.py: label + samples(ctx)), e.g. to
                  insert stumbles or falls between parsed script segments
    placement     wrist | front_pocket | waist | lower_back | ankle
    sensor        mpu6050 | mpu6500 | mpu6886 | lsm6ds3 | lsm6dso | bmi160 | ideal
    rate_hz       10 .. 1000 (default 50)
    seed          int; the same arguments and seed give the same trace
    steps         number of steps (stepping activities)   | one of these two, or
    duration_s    seconds                                  | the activity's default
    cadence_spm, speed    steps per minute, m/s (defaults: typical for the activity)
    person        Person(height_m, asymmetry, variability, arm_swing, impact)
    mount         None (the placement's default, forward axis known), "random",
                  "tilt=DEG", "fwd=+z,up=+y", a 3x3 rotation or (roll, pitch, yaw) degrees
    accel_range_g, gyro_range_dps   full-scale ranges (default 4 g, 500 dps)
    sensor_errors False for a device without offset/scale/cross-axis errors (noise stays)

`simulate` returns a `SimTrace` (numpy arrays):
    t_ms (int64), ax ay az (g), gx gy gz (dps), raw (n, 6) int32 counts (ax..gz),
    lsb_per_g, lsb_per_dps, rate_hz, placement, forward_axis ("+y", ... or None),
    sensor, step_ms (list[int]), step_dir (list["F"|"B"]), events [(t_ms, kind)],
    accel / gyro ((n, 3) views), meta() (trace header dict), manifest_entry(file)

`stream(...)` takes the same arguments and returns a `SimStream` whose iteration yields
`SimChunk`s (t_ms, raw, accel, gyro, steps [(t_ms, dir)], events) of at most
`chunk` samples, so a day at 50 Hz never sits in memory; its step_ms / step_dir fill
in as it goes. `write(sim, folder, name)` writes `<name>.csv` and adds or replaces its
entry in `<folder>/manifest.json` (format: ../shared/data/FORMAT.md), streaming.
`reverse.reverse_trace(path, out_folder)` turns a forward-walking trace into a
backward-walking one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from .base import PLACEMENTS, BodyChunk, Context, Person
from .sensors import SENSORS, SensorInstance, parse_mount

__all__ = ["simulate", "stream", "write", "Person", "SimTrace", "SimStream", "SimChunk",
           "PLACEMENTS", "SENSORS", "BodyChunk", "Context"]

MIN_RATE, MAX_RATE = 10.0, 1000.0


@dataclass
class SimChunk:
    t_ms: np.ndarray          # int64
    raw: np.ndarray           # (n, 6) int32 counts
    accel: np.ndarray         # (n, 3) g (= raw / lsb_per_g)
    gyro: np.ndarray          # (n, 3) dps
    steps: list = field(default_factory=list)
    events: list = field(default_factory=list)


def _direction(dirs) -> str:
    s = set(dirs)
    if not s:
        return "none"
    if s == {"F"}:
        return "forward"
    if s == {"B"}:
        return "backward"
    return "mixed"


class SimStream:
    """A simulation run lazily: iterate once for SimChunks."""

    def __init__(self, activity=None, script=None, segments=None, placement="waist",
                 sensor="mpu6050", rate_hz=50, seed=0, steps=None, duration_s=None,
                 cadence_spm=None, speed=None, person=None, mount=None, accel_range_g=None,
                 gyro_range_dps=None, sensor_errors=True, chunk=4096):
        from . import scenario
        if placement not in PLACEMENTS:
            raise UserError(f"unknown placement {placement!r} (one of {', '.join(PLACEMENTS)})")
        if sensor not in SENSORS:
            raise UserError(f"unknown sensor {sensor!r} (one of {', '.join(SENSORS)})")
        try:
            rate = float(rate_hz)
        except (TypeError, ValueError):
            raise UserError(f"rate {rate_hz!r} is not a number") from None
        if not MIN_RATE <= rate <= MAX_RATE:
            raise UserError(f"rate {rate:g} Hz is outside {MIN_RATE:g} to {MAX_RATE:g} Hz")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise UserError(f"seed must be a whole number >= 0, got {seed!r}")
        person = person or Person()
        person.check()
        given = [x is not None for x in (activity, script, segments)]
        if sum(given) != 1:
            raise UserError("give exactly one of activity, script or segments")
        if steps is not None and duration_s is not None:
            raise UserError("give steps or a duration, not both")
        if script is not None:
            if steps is not None or duration_s is not None:
                raise UserError("a script gives its own amounts: drop steps/duration")
            segs = scenario.parse_script(script, person, cadence_spm, speed)
            label = script
        elif segments is not None:
            segs = list(segments)
            if not segs:
                raise UserError("segments is empty")
            label = ", ".join(getattr(s, "label", "segment") for s in segs)
        else:
            segs = [scenario.make_segment(activity, steps, duration_s, person, cadence_spm, speed)]
            label = scenario.canonical(activity)
        self.segments = segs
        self.activity = label
        self.placement = placement
        self.rate_hz = rate
        self.seed = int(seed)
        self.person = person
        self.chunk = int(chunk)
        ss = np.random.SeedSequence(self.seed)
        s_sensor, s_mount, s_body = ss.spawn(3)
        M = parse_mount(mount, placement, np.random.default_rng(s_mount))
        self.sensor = SensorInstance(SENSORS[sensor], rate, np.random.default_rng(s_sensor), M,
                                     accel_range_g, gyro_range_dps, sensor_errors)
        self.sensor_name = sensor
        self._body_seeds = s_body.spawn(len(segs))
        self.step_ms: list[int] = []
        self.step_dir: list[str] = []
        self.events: list = []
        self.n_samples = 0
        self._used = False

    # properties shared with SimTrace
    @property
    def lsb_per_g(self) -> float:
        return self.sensor.lsb_per_g

    @property
    def lsb_per_dps(self) -> float:
        return self.sensor.lsb_per_dps

    @property
    def forward_axis(self):
        return self.sensor.forward_axis

    def meta(self) -> dict:
        m = {"rate_hz": f"{self.rate_hz:g}", "placement": self.placement}
        if self.forward_axis:
            m["forward_axis"] = self.forward_axis
        m.update({
            "source": f"retrostep simulator: {self.activity}; seed {self.seed}",
            "license": "generated (no restrictions)",
            "device": f"simulated {self.sensor_name} (+-{self.sensor.accel_range_g} g,"
                      f" +-{self.sensor.gyro_range_dps} dps)",
            "lsb_per_g": f"{self.lsb_per_g:g}",
            "lsb_per_dps": f"{self.lsb_per_dps:g}",
        })
        return m

    def __iter__(self):
        if self._used:
            raise RuntimeError("a SimStream runs once; make a new one")
        self._used = True
        i0 = 0
        state: dict = {}
        for seg, sd in zip(self.segments, self._body_seeds):
            ctx = Context(self.rate_hz, self.placement, self.person, np.random.default_rng(sd),
                          i0, self.chunk, state)
            for bc in seg.samples(ctx):
                n = len(bc.f)
                if n == 0:
                    continue
                raw = self.sensor.measure(bc.f, bc.w)
                t = np.rint((i0 + np.arange(n)) * (1000.0 / self.rate_hz)).astype(np.int64)
                for ms, d in bc.steps:
                    self.step_ms.append(int(ms))
                    self.step_dir.append(d)
                self.events.extend(bc.events)
                yield SimChunk(t, raw, raw[:, :3] / self.lsb_per_g, raw[:, 3:] / self.lsb_per_dps,
                               list(bc.steps), list(bc.events))
                i0 += n
                self.n_samples = i0

    def collect(self) -> "SimTrace":
        chunks = list(self)
        if chunks:
            t = np.concatenate([c.t_ms for c in chunks])
            raw = np.concatenate([c.raw for c in chunks])
        else:
            t = np.zeros(0, np.int64)
            raw = np.zeros((0, 6), np.int32)
        return SimTrace(t, raw, self.lsb_per_g, self.lsb_per_dps, self.rate_hz, self.placement,
                        self.forward_axis, self.sensor_name, list(self.step_ms), list(self.step_dir),
                        list(self.events), self.activity, self.meta())


@dataclass
class SimTrace:
    t_ms: np.ndarray
    raw: np.ndarray
    lsb_per_g: float
    lsb_per_dps: float
    rate_hz: float
    placement: str
    forward_axis: str | None
    sensor: str
    step_ms: list
    step_dir: list
    events: list
    activity: str
    _meta: dict

    @property
    def accel(self) -> np.ndarray:
        return self.raw[:, :3] / self.lsb_per_g

    @property
    def gyro(self) -> np.ndarray:
        return self.raw[:, 3:] / self.lsb_per_dps

    ax = property(lambda s: s.raw[:, 0] / s.lsb_per_g)
    ay = property(lambda s: s.raw[:, 1] / s.lsb_per_g)
    az = property(lambda s: s.raw[:, 2] / s.lsb_per_g)
    gx = property(lambda s: s.raw[:, 3] / s.lsb_per_dps)
    gy = property(lambda s: s.raw[:, 4] / s.lsb_per_dps)
    gz = property(lambda s: s.raw[:, 5] / s.lsb_per_dps)

    @property
    def direction(self) -> str:
        return _direction(self.step_dir)

    def meta(self) -> dict:
        return dict(self._meta)

    def __len__(self):
        return len(self.t_ms)


def stream(**kw) -> SimStream:
    return SimStream(**kw)


def simulate(**kw) -> SimTrace:
    return SimStream(**kw).collect()


def write(sim, folder, name: str, activity_label: str | None = None):
    """Write a SimStream (streamed) or SimTrace as <folder>/<name>.csv plus its manifest entry."""
    from .tracefile import write_sim
    return write_sim(sim, folder, name, activity_label)
