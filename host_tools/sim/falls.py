"""Simulated stumbles and falls, and the activities that must not pass for them.

Each generator returns a `Segment`: accelerometer samples in g on the sensor's axes, the
true step times (for the rhythm a stumble breaks) and, for stumbles and falls, the true
time of the event. The motion is built in the body frame (x forward, y left, z up) as
the acceleration of the body plus gravity, turned by the body's attitude (falls, sitting,
picking the device up) and then by the sensor's mount (`forward_axis`/`up_axis` as in the
trace format), so a device worn as the board configs say reads +1 g on its up axis at rest.

Shapes follow what wearable fall studies report for waist and thigh sensors:

- fall: 0.3-0.5 s of near free fall (|a| 0.05-0.4 g) while the body turns 70-100 degrees,
  an impact of 3-6 g, a short rebound, then lying still; from standing, forward walking
  (often after a trip) or backward walking (backwards onto the seat and back).
- soft fall (a slump or a slide down a wall): shallow drop (0.45-0.7 g) and a 1.6-2.8 g
  impact: mostly missed by design, kept so the benchmark shows it.
- stumble: a trip in the swing phase (the vector jumps 2-4.5 g in a few tens of ms), a
  hurried catching step or two, standing a moment, then walking on.
- sitting down hard: stop, a 0.3-0.6 s descent (|a| down to 0.3-0.75 g), 1.4-3.2 g as the
  seat is hit; the trunk leans back 5-30 degrees (waist) or the thigh turns level (pocket).
- jumping: crouch, push-off, 0.25-0.45 s of flight (about 0 g), a 2.5-6 g landing, standing.
- putting the device on a table: taken off and turned 60-150 degrees by hand, set down with
  a 1.05-1.6 g tap, left still.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FALL_KINDS = ("fall", "stumble")
NONFALL_KINDS = ("sit_hard", "jump", "table")
ALL_KINDS = ("fall", "fall_backward", "fall_soft", "stumble", "stumble_backward",
             "sit_hard", "jump", "table")


@dataclass
class Segment:
    kind: str                       # one of ALL_KINDS
    rate_hz: float
    acc: np.ndarray                 # (n, 3) g, sensor axes
    steps_ms: list = field(default_factory=list)    # true step times
    steps_dir: list = field(default_factory=list)   # 1 forward, 2 backward (stepdetect DIR_*)
    event_ms: float | None = None   # true time of the impact (falls) or the trip (stumbles)
    label: str | None = None        # "fall", "stumble" or None (must not be reported)
    activity: str = "still"         # what the wearer did before (fall.py ACTIVITIES)
    placement: str = "waist"

    @property
    def t_ms(self) -> np.ndarray:
        return np.arange(len(self.acc)) * 1000.0 / self.rate_hz

    def counts(self, lsb_per_g: int = 4096) -> np.ndarray:
        """Raw int16 counts as an IMU at lsb_per_g reads them (clipped at full scale)."""
        return np.clip(np.round(self.acc * lsb_per_g), -32768, 32767).astype(np.int16)


_AXES = {"+x": (0, 1), "-x": (0, -1), "+y": (1, 1), "-y": (1, -1), "+z": (2, 1), "-z": (2, -1)}


_FINE_HZ = 400.0


def mount_matrix(forward_axis: str = "+x", up_axis: str = "+z") -> np.ndarray:
    """Body (forward, left, up) -> sensor axes, for a device worn as its config says."""
    fi, fs = _AXES[forward_axis]
    ui, us = _AXES[up_axis]
    if fi == ui:
        raise ValueError(f"forward axis {forward_axis} and up axis {up_axis} are the same axis")
    m = np.zeros((3, 3))
    m[fi, 0] = fs
    m[ui, 2] = us
    li = 3 - fi - ui
    # left = up x forward, expressed in sensor axes
    f = m[:, 0]
    u = m[:, 2]
    m[:, 1] = np.cross(u, f)
    assert abs(m[li, 1]) == 1.0
    return m


def _rot(axis: np.ndarray, ang: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotations by `ang` (radians, per sample) about the unit `axis`."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    s = np.sin(ang)[:, None, None]
    c = np.cos(ang)[:, None, None]
    return np.eye(3)[None] + s * kx[None] + (1 - c) * (kx @ kx)[None]


def _smooth(x: np.ndarray) -> np.ndarray:
    """0..1 ramp with zero slope at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _pulse(t: np.ndarray, t0: float, width: float) -> np.ndarray:
    """Half-sine bump of height 1 from t0 lasting `width` (seconds)."""
    x = (t - t0) / width
    return np.where((x >= 0) & (x <= 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0)


class _Builder:
    """Accumulates world-frame linear acceleration (g) and the body's tilt over time."""

    def __init__(self, rate_hz: float, seconds: float, rng: np.random.Generator, placement: str):
        # built finely, then averaged over each output sample as an IMU's filter does
        self.rate = rate_hz
        self.out_n = int(round(seconds * rate_hz))
        self.n = int(round(seconds * _FINE_HZ))
        self.t = np.arange(self.n) / _FINE_HZ
        self.lin = np.zeros((self.n, 3))            # body-frame linear acceleration, g
        self.tilt = np.zeros(self.n)                # radians about tilt_axis
        self.tilt_axis = np.array([0.0, 1.0, 0.0])
        self.rng = rng
        self.placement = placement
        self.steps: list[float] = []
        self.dirs: list[int] = []
        self.sway = 0.01                            # standing sway, g

    def walk(self, t0: float, n_steps: int, period: float, direction: int) -> float:
        """Steps from t0; returns the time of the last heel strike."""
        rng = self.rng
        gain = 2.0 if self.placement == "pocket" else 1.0
        sgn = 1.0 if direction == 1 else -1.0
        t = t0
        last = t0
        for _ in range(n_steps):
            p = period * rng.uniform(0.95, 1.05)
            hs = t
            # vertical: heel strike bump and the bounce of the step
            self.lin[:, 2] += gain * (rng.uniform(0.45, 0.7) * _pulse(self.t, hs - 0.01, 0.09)
                                      + 0.25 * _pulse(self.t, hs + 0.08, p * 0.45)
                                      - 0.25 * _pulse(self.t, hs + p * 0.5, p * 0.45))
            # fore-aft: braking at heel strike then push; reversed when walking backward
            self.lin[:, 0] += gain * sgn * (-0.3 * _pulse(self.t, hs, 0.12)
                                            + 0.2 * _pulse(self.t, hs + p * 0.45, p * 0.4))
            side = 1.0 if len(self.steps) % 2 else -1.0
            self.lin[:, 1] += gain * 0.12 * side * _pulse(self.t, hs, p)
            self.steps.append(hs * 1000.0)
            self.dirs.append(direction)
            last = hs
            t += p
        return last

    def _average(self, fine: np.ndarray) -> np.ndarray:
        # each output sample: the mean over its sample period, centred on its time
        w = max(1, int(round(_FINE_HZ / self.rate)))
        c = np.cumsum(np.vstack([np.zeros((1, fine.shape[1])), fine]), axis=0)
        centre = np.round(np.arange(self.out_n) * _FINE_HZ / self.rate).astype(int)
        lo = np.clip(centre - w // 2, 0, self.n)
        hi = np.clip(lo + w, 0, self.n)
        return (c[hi] - c[lo]) / np.maximum(1, hi - lo)[:, None]

    def body(self) -> tuple[np.ndarray, np.ndarray]:
        """Specific force (g) and angular rate (dps) on the body's axes, at the output rate."""
        g = np.zeros((self.n, 3))
        g[:, 2] = 1.0
        world = g + self.lin
        # the body turns: the specific force seen on its axes turns the other way
        r = _rot(self.tilt_axis, -self.tilt)
        f = np.einsum("nij,nj->ni", r, world)
        f += self.rng.normal(0.0, self.sway, f.shape)
        axis = np.asarray(self.tilt_axis, float) / np.linalg.norm(self.tilt_axis)
        rate = np.degrees(np.gradient(self.tilt) * _FINE_HZ)
        return self._average(f), self._average(rate[:, None] * axis[None, :])

    def finish(self, mount: np.ndarray) -> np.ndarray:
        f, _ = self.body()
        # a worn device is never mounted exactly as designed
        rng = self.rng
        wob = _rot(rng.normal(size=3), np.full(1, np.radians(rng.uniform(0, 12))))[0]
        return f @ wob.T @ mount.T


def _period(rng, direction):
    # backward walking is slower and shorter-stepped (about 80-100 steps/min)
    spm = rng.uniform(95, 120) if direction == 1 else rng.uniform(78, 100)
    return 60.0 / spm


def _mount(mount):
    return mount if mount is not None else mount_matrix()


def _fall(rate_hz, rng, before, soft, placement, lead_walk, lead_s, lie_s):
    """Builder and impact time of a fall; with lead_walk the walk before is included,
    else the fall begins `lead_s` in (the walk is the scenario's previous segment)."""
    direction = 2 if before == "walk_backward" else 1
    walking = before in ("walk_forward", "walk_backward")
    per = _period(rng, direction)
    n_walk = int(rng.integers(8, 14)) if walking and lead_walk else 0
    if walking:
        start = 1.5 + n_walk * per + per * rng.uniform(0.4, 0.6) if lead_walk else lead_s
    else:
        start = rng.uniform(5.0, 7.0) if lead_walk else lead_s
    b = _Builder(rate_hz, start + 1.2 + lie_s, rng, placement)
    if n_walk:
        b.walk(1.5, n_walk, per, direction)
    tf = start
    if walking and rng.uniform() < 0.6:     # a trip (or a heel catching) starts it
        j = rng.uniform(1.5, 3.0)
        b.lin[:, 0] += -np.sign(3 - 2 * direction) * j * _pulse(b.t, tf, 0.05)
        b.lin[:, 2] += rng.uniform(0.5, 1.5) * _pulse(b.t, tf + 0.01, 0.05)
        tf += 0.15
    # which way: forward from forward walking, backward from backward walking
    if before == "walk_backward":
        ang = -rng.uniform(np.radians(70), np.radians(100))
    elif before == "walk_forward" or rng.uniform() < 0.4:
        ang = rng.uniform(np.radians(70), np.radians(100))
    else:
        ang = rng.choice([-1, 1]) * rng.uniform(np.radians(70), np.radians(100))
        if rng.uniform() < 0.5:
            b.tilt_axis = np.array([1.0, 0.0, 0.0])  # sideways
    drop = rng.uniform(0.3, 0.5)
    depth = rng.uniform(0.3, 0.55) if soft else rng.uniform(0.6, 0.95)
    ti = tf + drop
    x = (b.t - tf) / drop
    # falling: gravity is no longer held up; the body turns toward the ground
    lift = np.where((x >= 0) & (x < 1), depth * np.sin(np.pi * np.clip(x, 0, 1) / 1.1), 0.0)
    b.lin[:, 2] -= lift
    b.tilt = ang * _smooth((b.t - tf) / (drop * 1.1))
    # impact along the world vertical, then a damped rebound
    peak = rng.uniform(1.6, 2.8) if soft else rng.uniform(3.0, 6.0)
    w = rng.uniform(0.05, 0.1)
    b.lin[:, 2] += (peak - 1.0) * _pulse(b.t, ti, w)
    b.lin[:, rng.integers(0, 2)] += rng.uniform(-1, 1) * (peak - 1) * 0.4 * _pulse(b.t, ti, w)
    reb = (b.t - ti - w) >= 0
    b.lin[:, 2] += np.where(reb, 0.4 * np.exp(-(b.t - ti - w) / 0.12)
                            * np.sin(2 * np.pi * 6 * (b.t - ti - w)), 0.0)
    # lying: a little stirring in the first seconds, then still
    stir = (b.t > ti + 0.4) & (b.t < ti + rng.uniform(1.0, 2.5))
    b.lin[stir] += rng.normal(0, 0.04, (int(stir.sum()), 3))
    return b, ti


def fall(rate_hz=50.0, seed=0, before="walk_forward", soft=False, mount=None,
         placement="waist") -> Segment:
    rng = np.random.default_rng(seed)
    b, ti = _fall(rate_hz, rng, before, soft, placement, True, 0.0, 12.0)
    acc = b.finish(_mount(mount))
    kind = "fall_soft" if soft else ("fall_backward" if before == "walk_backward" else "fall")
    return Segment(kind, rate_hz, acc, b.steps, b.dirs, ti * 1000.0, "fall", before, placement)


def _stumble(rate_hz, rng, direction, placement, n_walk, t_walk, stand_s, walk_on):
    per = _period(rng, direction)
    last = t_walk + (n_walk - 1) * per
    tt = last + per * rng.uniform(0.35, 0.65)
    resume = tt + stand_s
    n_on = int(rng.integers(8, 14)) if walk_on else 0
    b = _Builder(rate_hz, resume + n_on * per + 1.5, rng, placement)
    b.walk(t_walk, n_walk, per, direction)
    # the swing foot catches: a sharp fore-aft jolt and a jump in the vertical
    j = rng.uniform(2.0, 4.5)
    sgn = 1.0 if direction == 1 else -1.0
    b.lin[:, 0] += -sgn * j * 0.8 * _pulse(b.t, tt, 0.05)
    b.lin[:, 2] += j * 0.6 * _pulse(b.t, tt + 0.01, 0.05)
    b.lin[:, 1] += rng.uniform(-1, 1) * j * 0.3 * _pulse(b.t, tt, 0.05)
    # one or two hurried catching steps, arms flung about, then a moment standing
    c1 = tt + rng.uniform(0.15, 0.3)
    b.walk(c1, int(rng.integers(1, 3)), per * rng.uniform(0.4, 0.6), direction)
    flail = (b.t > tt) & (b.t < tt + rng.uniform(0.6, 1.2))
    b.lin[flail] += rng.normal(0, 0.15, (int(flail.sum()), 3))
    if n_on:
        b.walk(resume, n_on, per, direction)
    return b, tt


def stumble(rate_hz=50.0, seed=0, direction=1, mount=None, placement="waist") -> Segment:
    rng = np.random.default_rng(seed)
    b, tt = _stumble(rate_hz, rng, direction, placement, int(rng.integers(8, 14)), 1.5,
                     rng.uniform(2.5, 4.0), True)
    acc = b.finish(_mount(mount))
    return Segment("stumble" if direction == 1 else "stumble_backward", rate_hz, acc, b.steps,
                   b.dirs, tt * 1000.0, "stumble",
                   "walk_forward" if direction == 1 else "walk_backward", placement)


def _sit_hard(rate_hz, rng, placement, lead_walk, sit_s):
    per = _period(rng, 1)
    n_walk = int(rng.integers(6, 12)) if lead_walk else 0
    last = 1.5 + (n_walk - 1) * per if lead_walk else 0.0
    ts = last + rng.uniform(1.0, 2.5)        # stop, turn, sit
    b = _Builder(rate_hz, ts + 1.0 + sit_s, rng, placement)
    if n_walk:
        b.walk(1.5, n_walk, per, 1)
    desc = rng.uniform(0.3, 0.6)
    depth = rng.uniform(0.25, 0.7)
    x = (b.t - ts) / desc
    b.lin[:, 2] -= np.where((x >= 0) & (x < 1), depth * np.sin(np.pi * np.clip(x, 0, 1)), 0.0)
    ti = ts + desc
    peak = rng.uniform(1.4, 3.2)
    b.lin[:, 2] += (peak - 1.0) * _pulse(b.t, ti, rng.uniform(0.06, 0.12))
    lean = np.radians(rng.uniform(80, 92) if placement == "pocket" else rng.uniform(-30, -5))
    b.tilt = lean * _smooth((b.t - ts) / (desc + 0.1))
    return b


def sit_hard(rate_hz=50.0, seed=0, mount=None, placement="waist") -> Segment:
    rng = np.random.default_rng(seed)
    b = _sit_hard(rate_hz, rng, placement, True, 10.0)
    return Segment("sit_hard", rate_hz, b.finish(_mount(mount)), b.steps, b.dirs, None, None,
                   "walk_forward", placement)


def _jump(rate_hz, rng, placement, lead_s, n_jumps, stand_s):
    b = _Builder(rate_hz, lead_s + n_jumps * 3.0 + stand_s, rng, placement)
    t = lead_s
    for _ in range(n_jumps):
        b.lin[:, 2] -= 0.3 * _pulse(b.t, t, 0.25)                       # crouch
        b.lin[:, 2] += rng.uniform(0.8, 1.5) * _pulse(b.t, t + 0.25, 0.2)  # push off
        fl = rng.uniform(0.25, 0.45)
        tf = t + 0.45
        b.lin[:, 2] -= np.where((b.t >= tf) & (b.t < tf + fl), rng.uniform(0.9, 1.0), 0.0)
        b.lin[:, 2] += (rng.uniform(2.5, 6.0) - 1.0) * _pulse(b.t, tf + fl, rng.uniform(0.06, 0.1))
        b.lin[:, 2] -= 0.3 * _pulse(b.t, tf + fl + 0.1, 0.3)             # knees give
        b.lin[:, 0] += rng.uniform(-0.3, 0.3) * _pulse(b.t, tf + fl, 0.15)
        t = tf + fl + rng.uniform(0.8, 2.0)
    b.tilt = np.radians(rng.uniform(-8, 8)) * _smooth((b.t - t + 0.5) / 0.5)
    return b


def jump(rate_hz=50.0, seed=0, mount=None, placement="waist") -> Segment:
    rng = np.random.default_rng(seed)
    b = _jump(rate_hz, rng, placement, rng.uniform(3.0, 4.0), int(rng.integers(1, 4)), 6.0)
    return Segment("jump", rate_hz, b.finish(_mount(mount)), [], [], None, None, "still", placement)


def _table(rate_hz, rng, placement, lead_s, still_s):
    t0 = lead_s
    take = rng.uniform(0.8, 1.8)
    b = _Builder(rate_hz, t0 + take + still_s, rng, placement)
    hand = (b.t > t0) & (b.t < t0 + take)
    b.lin[hand] += rng.normal(0, 0.1, (int(hand.sum()), 3))
    b.lin[:, 0] += rng.uniform(-0.4, 0.4) * _pulse(b.t, t0, take)
    b.lin[:, 2] += rng.uniform(-0.3, 0.3) * _pulse(b.t, t0, take)
    b.tilt_axis = rng.normal(size=3)
    b.tilt = np.radians(rng.uniform(60, 150)) * _smooth((b.t - t0) / take)
    tap = t0 + take
    b.lin[:, 2] += rng.uniform(0.05, 0.6) * _pulse(b.t, tap, 0.04)
    b.sway = 0.0            # on a table nothing moves any more: no sway
    return b, tap


def table(rate_hz=50.0, seed=0, mount=None, placement="waist") -> Segment:
    rng = np.random.default_rng(seed)
    b, tap = _table(rate_hz, rng, placement, rng.uniform(3.0, 5.0), 12.0)
    acc = b.finish(_mount(mount))
    still = np.arange(len(acc)) / rate_hz > tap + 0.1
    acc[still] += rng.normal(0, 0.004, (int(still.sum()), 3))     # the sensor's own noise
    return Segment("table", rate_hz, acc, [], [], None, None, "still", placement)


def make(kind: str, rate_hz: float = 50.0, seed: int = 0, mount=None,
         placement: str = "waist") -> Segment:
    """One segment of `kind` (ALL_KINDS); `seed` picks its variant."""
    kw = dict(rate_hz=rate_hz, seed=seed, mount=mount, placement=placement)
    rng = np.random.default_rng(seed + 7919)
    if kind == "fall":
        return fall(before=("walk_forward", "still")[int(rng.integers(0, 2))], **kw)
    if kind == "fall_backward":
        return fall(before="walk_backward", **kw)
    if kind == "fall_soft":
        return fall(before="still", soft=True, **kw)
    if kind == "stumble":
        return stumble(direction=1, **kw)
    if kind == "stumble_backward":
        return stumble(direction=2, **kw)
    if kind == "sit_hard":
        return sit_hard(**kw)
    if kind == "jump":
        return jump(**kw)
    if kind == "table":
        return table(**kw)
    raise ValueError(f"unknown segment kind {kind!r}; known: {', '.join(ALL_KINDS)}")


# ---- segments for the simulator's scenarios (host_tools/sim/scenario.py) -------------------

class ScriptSegment:
    """One of these events as a segment of a simulated scenario, in the body frame; the
    walking before and after is the scenario's own (e.g. "walk 100, stumble, walk 50").

    kinds: "stumble" / "stumble_back" (`amount` steps, default 12, walking forward /
    backward in the simulator's own gait, then a trip in the swing of the next step, a
    catching step or two and 3 s standing), "fall" / "fall_back" (forward /
    backward onto the ground, then lying: default 20 s), "sit_hard" (sitting down hard,
    then sitting: default 20 s), "jump" (`amount` jumps, default 1), "table" (the device
    put down on a table, left there: default 60 s). The segment's events name it
    ("stumble", "fall"; the others "sit_hard", "jump", "table"), at the true time."""

    def __init__(self, kind: str, amount=None):
        if kind not in SCRIPT_KINDS:
            raise ValueError(f"unknown event segment {kind!r}; known: {', '.join(SCRIPT_KINDS)}")
        self.kind = kind
        self.label = kind
        self.amount = amount

    def _seconds(self, default):
        if self.amount and self.amount[0] == "s":
            return float(self.amount[1])
        return default

    def build(self, rate_hz: float, rng: np.random.Generator, placement: str):
        """(builder, event time s or None, steps direction code)."""
        place = "pocket" if placement == "front_pocket" else placement
        k = self.kind
        if k in ("stumble", "stumble_back"):
            d = 2 if k == "stumble_back" else 1
            # four steps in its own rhythm first: the trip comes in the swing of the last
            b, t = _stumble(rate_hz, rng, d, place, 4, 0.05, self._seconds(3.0), False)
            return b, t, "stumble"
        if k in ("fall", "fall_back"):
            before = "walk_backward" if k == "fall_back" else "walk_forward"
            b, t = _fall(rate_hz, rng, before, False, place, False, 0.3, self._seconds(20.0))
            return b, t, "fall"
        if k == "sit_hard":
            return _sit_hard(rate_hz, rng, place, False, self._seconds(20.0)), None, None
        if k == "jump":
            n = int(self.amount[1]) if self.amount and self.amount[0] == "steps" else 1
            return _jump(rate_hz, rng, place, 1.0, max(1, n), 3.0), None, None
        b, _ = _table(rate_hz, rng, place, 1.0, self._seconds(60.0))
        return b, None, None

    def samples(self, ctx):
        if self.kind in ("stumble", "stumble_back"):
            yield from self._stumble_samples(ctx)
            return
        from .base import BodyChunk, chunk_ranges
        b, t_ev, label = self.build(ctx.rate_hz, ctx.rng, ctx.placement)
        f, w = b.body()
        t0 = ctx.ms(ctx.i0)
        steps = [(t0 + int(round(t)), "B" if d == 2 else "F") for t, d in zip(b.steps, b.dirs)]
        events = [(t0 + int(round(t_ev * 1000.0)), label)] if t_ev is not None else \
            [(t0, self.kind)]
        if self.kind in ("fall", "fall_back"):
            ctx.state["posture"] = "lying"
        elif self.kind == "sit_hard":
            ctx.state["posture"] = "sitting"
        n = len(f)
        for start, cnt in chunk_ranges(0, n, ctx.chunk):
            t_lo = t0 + (start * 1000.0 / ctx.rate_hz)
            t_hi = t0 + ((start + cnt) * 1000.0 / ctx.rate_hz)
            yield BodyChunk(f[start:start + cnt], w[start:start + cnt],
                            [s for s in steps if t_lo <= s[0] < t_hi],
                            [e for e in events if t_lo <= e[0] < t_hi])


    def _stumble_samples(self, ctx):
        """The simulator's own gait for a dozen steps (so the step detector knows the rhythm),
        then the trip in the swing after the last contact, catching steps, standing."""
        from .base import BodyChunk, chunk_ranges
        from .scenario import make_segment
        direction = 2 if self.kind == "stumble_back" else 1
        n_lead = int(self.amount[1]) if self.amount and self.amount[0] == "steps" else 12
        walk = make_segment("retro" if direction == 2 else "walk", steps=max(4, n_lead),
                            person=ctx.person)
        fs, ws, steps = [], [], []
        for ch in walk.samples(ctx):
            fs.append(ch.f)
            ws.append(ch.w)
            steps += ch.steps
        f_walk = np.concatenate(fs)
        w_walk = np.concatenate(ws)
        t0 = ctx.ms(ctx.i0) / 1000.0
        contacts = [t / 1000.0 - t0 for t, _ in steps]
        per = float(np.median(np.diff(contacts))) if len(contacts) > 1 else 0.55
        tt = contacts[-1] + per * ctx.rng.uniform(0.35, 0.65)
        stand = self._seconds(3.0)
        # the trip, drawn like the stand-alone one, added onto the walk's fading end
        rng = ctx.rng
        total = max(len(f_walk) / ctx.rate_hz, tt + stand)
        b = _Builder(ctx.rate_hz, total, rng, "waist")
        b.sway = 0.0
        j = rng.uniform(2.0, 4.5)
        sgn = 1.0 if direction == 1 else -1.0
        b.lin[:, 0] += -sgn * j * 0.8 * _pulse(b.t, tt, 0.05)
        b.lin[:, 2] += j * 0.6 * _pulse(b.t, tt + 0.01, 0.05)
        b.lin[:, 1] += rng.uniform(-1, 1) * j * 0.3 * _pulse(b.t, tt, 0.05)
        b.walk(tt + rng.uniform(0.15, 0.3), int(rng.integers(1, 3)), per * rng.uniform(0.4, 0.6),
               direction)
        flail = (b.t > tt) & (b.t < tt + rng.uniform(0.6, 1.2))
        b.lin[flail] += rng.normal(0, 0.15, (int(flail.sum()), 3))
        f_trip, _ = b.body()
        f_trip[:, 2] -= 1.0
        n = len(f_trip)
        f = np.zeros((n, 3))
        f[:, 2] = 1.0
        f[:len(f_walk)] = f_walk[:n]
        f += f_trip
        w = np.zeros((n, 3))
        w[:len(w_walk)] = w_walk[:n]
        t0ms = ctx.ms(ctx.i0)
        mark = "B" if direction == 2 else "F"
        steps += [(t0ms + int(round(t)), mark) for t in b.steps]
        events = [(t0ms + int(round(tt * 1000.0)), "stumble")]
        for start, cnt in chunk_ranges(0, n, ctx.chunk):
            t_lo = t0ms + start * 1000.0 / ctx.rate_hz
            t_hi = t0ms + (start + cnt) * 1000.0 / ctx.rate_hz
            yield BodyChunk(f[start:start + cnt], w[start:start + cnt],
                            [x for x in steps if t_lo <= x[0] < t_hi],
                            [e for e in events if t_lo <= e[0] < t_hi])


SCRIPT_KINDS = ("stumble", "stumble_back", "fall", "fall_back", "sit_hard", "jump", "table")


def register_script_names():
    """Makes the event segments usable in simulator scripts: "walk 100, stumble, walk 50"."""
    from . import scenario
    for k in SCRIPT_KINDS:
        scenario.register(k, lambda amount, person, k=k: ScriptSegment(k, amount))
