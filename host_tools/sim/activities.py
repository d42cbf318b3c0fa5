"""Activities without steps: standing, desk work with typing, arm gestures, driving, cycling.

Each is the posture of the placement's segment (slowly changing between a few
typical postures) plus the movements of the activity, run through the same
rigid-body step as walking (`kinematics.to_segment`). These are the hard negatives
of a step counter: periodic arm gestures at walking frequencies, the 1-1.5 Hz
bounce of a car's suspension, pedalling at 60-90 rpm.

Sources: quiet standing sway, Winter DA (1995) Gait Posture 3:193-214; car seat
vertical vibration dominated by the body bounce mode at 1-2 Hz with road
roughness at 5-20 Hz, ISO 2631-1 (1997) and Griffin MJ, Handbook of Human
Vibration (1990); cycling kinematics (hip 30-70 deg, crank radius 0.17 m,
cadence 60-90 rpm), Bini R, Hume P, Croft J (2011), Sports Med 41:463-476;
typing keystroke and hand-to-mouse movement rates, Ortiz-Perez et al. / common
workstation studies (several keystrokes per second in bursts).
"""
from __future__ import annotations

import numpy as np

from .base import OU, BodyChunk, Context, chunk_ranges, smoothstep
from .gait import _Sway, standing_motion
from .kinematics import D2R, FOREARM, THIGH, link_accel, to_segment


class _Rate:
    """Time derivative across chunk boundaries (keeps the previous sample)."""

    def __init__(self, rate_hz: float):
        self.rate = rate_hz
        self.last = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return x
        prev = x[0] if self.last is None else self.last
        d = np.diff(np.concatenate([[prev], x])) * self.rate
        self.last = float(x[-1])
        return d


class _Postures:
    """Dwell in one of several postures (tuples of angles in degrees), then move smoothly to
    another: dwell times uniform in `dwell` seconds, moves lasting `move` seconds."""

    def __init__(self, rng: np.random.Generator, postures, dwell=(5.0, 60.0), move=(0.6, 1.5),
                 jitter=4.0, t0=0.0):
        self.rng = rng
        self.postures = [np.asarray(p, float) for p in postures]
        self.dwell = dwell
        self.move = move
        self.jitter = jitter
        start = self._pick()
        # events: (t_start_move, duration, from, to)
        self.ev = [(t0 - 1.0, 0.5, start, start)]
        self.t_next = t0 + rng.uniform(*dwell)

    def _pick(self):
        p = self.postures[self.rng.integers(len(self.postures))]
        return p + self.rng.standard_normal(p.shape) * self.jitter

    def __call__(self, t: np.ndarray) -> np.ndarray:
        while self.t_next <= t[-1]:
            frm = self.ev[-1][3]
            dur = self.rng.uniform(*self.move)
            self.ev.append((self.t_next, dur, frm, self._pick()))
            self.t_next += dur + self.rng.uniform(*self.dwell)
        if len(self.ev) > 4:
            self.ev = self.ev[-4:]
        starts = np.array([e[0] for e in self.ev])
        k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(self.ev) - 1)
        out = np.empty((len(t), len(self.ev[0][2])))
        for j, (ts, dur, a, b) in enumerate(self.ev):
            sel = k == j
            if sel.any():
                u = smoothstep((t[sel] - ts) / dur)[:, None]
                out[sel] = a + (b - a) * u
        return out


class _Activity:
    label = "activity"

    def __init__(self, duration_s: float):
        self.duration_s = float(duration_s)

    def samples(self, ctx: Context):
        self.setup(ctx)
        n_total = max(1, int(round(self.duration_s * ctx.rate_hz)))
        for i, m in chunk_ranges(ctx.i0, ctx.i0 + n_total, ctx.chunk):
            f, w = self.motion(ctx, ctx.t(i, m))
            yield BodyChunk(f, w)

    def setup(self, ctx: Context):
        pass

    def motion(self, ctx: Context, t: np.ndarray):
        raise NotImplementedError

    def _posed(self, lin: np.ndarray, ypr_deg: np.ndarray, extra_yaw_rate=None):
        """Specific force and rates for body-frame linear acceleration (g) and segment
        yaw/pitch/roll in degrees."""
        a = ypr_deg * D2R
        yaw, pitch, roll = a[:, 0], a[:, 1], a[:, 2]
        yd, pd, rd = self._dy(yaw), self._dp(pitch), self._dr(roll)
        if extra_yaw_rate is not None:
            yd = yd + extra_yaw_rate
        f = lin.copy()
        f[:, 2] += 1.0
        return to_segment(f, yaw, pitch, roll, yd, pd, rd)

    def _rates(self, ctx):
        self._dy, self._dp, self._dr = _Rate(ctx.rate_hz), _Rate(ctx.rate_hz), _Rate(ctx.rate_hz)


class Standing(_Activity):
    label = "stand"

    def setup(self, ctx):
        self.sway = _Sway(ctx)
        self.shift = _Postures(ctx.rng, [(0.0, 0.0), (0.0, 1.5), (0.0, -1.5)], (8.0, 40.0), (0.8, 1.5),
                               0.3, ctx.i0 / ctx.rate_hz)
        self._rates(ctx)

    def motion(self, ctx, t):
        f, w = standing_motion(ctx, t, self.sway)
        return f, w


# seated postures (yaw, pitch, roll) of each placement's segment, degrees; pitch = -angle
# the distal end (or the top, for the trunk) swings forward
_SEATED = {
    "lower_back": [(0, -12, 0), (0, -5, 0), (0, -20, 3), (0, 5, 0)],
    "waist": [(0, -12, 0), (0, -5, 0), (0, -20, 3), (0, 5, 0)],
    "front_pocket": [(0, -85, 0), (0, -80, 15), (0, -95, -10), (10, -88, 25)],
    "ankle": [(0, -10, 0), (0, 15, 0), (0, -25, 5), (0, 0, -10)],
}


class Desk(_Activity):
    """Sitting at a desk: typing, using a mouse, reaching, now and then a hand to the face."""
    label = "desk"
    WRIST = [(0, -88, -85), (0, -88, -85), (25, -85, -80), (0, -60, -40), (0, -125, -60),
             (0, -40, -10), (-20, -90, -150)]   # typing, mouse, lap, face, drink, turned up

    def setup(self, ctx):
        t0 = ctx.i0 / ctx.rate_hz
        pl = ctx.placement
        if pl == "wrist":
            self.post = _Postures(ctx.rng, self.WRIST, (4.0, 45.0), (0.5, 1.4), 6.0, t0)
        else:
            self.post = _Postures(ctx.rng, _SEATED[pl], (20.0, 180.0), (0.8, 2.0), 3.0, t0)
        self.typing = _Postures(ctx.rng, [(0.0,), (1.0,), (1.0,)], (3.0, 20.0), (0.2, 0.4), 0.0, t0)
        self.mouse = OU(ctx.rng, 1 / ctx.rate_hz, 0.25, 0.06)
        self.micro = [OU(ctx.rng, 1 / ctx.rate_hz, 0.8, 1.0) for _ in range(3)]
        self.key_phase = ctx.rng.uniform(0, 1)
        self._rates(ctx)

    def motion(self, ctx, t):
        m = len(t)
        ypr = self.post(t)
        micro = np.column_stack([o.take(m) for o in self.micro])
        lin = np.zeros((m, 3))
        if ctx.placement == "wrist":
            ypr = ypr + micro * 2.0
            typing = np.clip(self.typing(t)[:, 0], 0, 1)
            # keystrokes at 4-8 per second: short downward taps of the hand
            rate = 6.0 + 2.0 * np.sin(2 * np.pi * t / 7.3)
            ph = np.cumsum(rate) / ctx.rate_hz + self.key_phase
            self.key_phase = float(ph[-1] % 1.0)
            tap = np.exp(-((ph % 1.0) / 0.06)) * 0.06 * ctx.rng.uniform(0.3, 1.0, m)
            lin[:, 2] -= tap * typing
            lin[:, 1] += self.mouse.take(m) * (1.0 - typing)
        else:
            ypr = ypr + micro * 0.3
        return self._posed(lin, ypr)


class Gestures(_Activity):
    """Standing and moving one arm: waving, checking the watch, pointing, handshakes,
    stirring, clapping, talking with the hands. Periodic, often at 1-3 Hz."""
    label = "gestures"
    KINDS = ("wave", "watch", "point", "shake", "stir", "clap", "talk", "rest")

    def setup(self, ctx):
        self.sway = _Sway(ctx)
        self.rng = ctx.rng
        self.t_next = ctx.i0 / ctx.rate_hz
        self.cur = None
        self.base = np.array([0.0, -15.0, 0.0])
        self._rates(ctx)
        self.plan = []

    def _gesture(self, t0):
        r = self.rng
        kind = self.KINDS[r.integers(len(self.KINDS))]
        dur = r.uniform(1.5, 6.0)
        f = r.uniform(1.2, 3.2)
        pose = {"wave": (0, -150, 0), "watch": (20, -95, -170), "point": (0, -90, -90), "shake": (0, -80, -90),
                "stir": (20, -75, -90), "clap": (30, -70, -60), "talk": (10, -70, -60), "rest": (0, -15, 0)}[kind]
        return (t0, dur, kind, f, np.array(pose, float), r.uniform(0, 2 * np.pi))

    def motion(self, ctx, t):
        m = len(t)
        if ctx.placement != "wrist":
            f, w = standing_motion(ctx, t, self.sway)
            return f, w
        while self.t_next <= t[-1] + 10:
            g = self._gesture(self.t_next)
            self.plan.append(g)
            self.t_next = g[0] + g[1] + self.rng.uniform(1.0, 8.0)
        self.plan = [g for g in self.plan if g[0] + g[1] + 2.0 > t[0]]
        ypr = np.tile(self.base, (m, 1))
        lin = np.zeros((m, 3))
        _, _, sarm = self.sway.take(m)
        ypr[:, 1] += -sarm / D2R
        for (t0, dur, kind, f, pose, ph) in self.plan:
            # raise (0.5 s), hold with the gesture's motion, lower (0.5 s)
            env = smoothstep((t - t0) / 0.5) * (1.0 - smoothstep((t - t0 - dur) / 0.5))
            if not env.any():
                continue
            ypr += (pose - self.base) * env[:, None]
            s = np.sin(2 * np.pi * f * (t - t0) + ph)
            c = np.cos(2 * np.pi * f * (t - t0) + ph)
            om2 = (2 * np.pi * f) ** 2 / 9.80665
            if kind == "wave":
                ypr[:, 2] += 30.0 * s * env
            elif kind == "shake":
                lin[:, 2] += -0.03 * om2 * s * env
            elif kind == "stir":
                lin[:, 0] += -0.03 * om2 * c * env
                lin[:, 1] += -0.03 * om2 * s * env
            elif kind == "clap":
                lin[:, 1] += -0.08 * om2 * s * env
            elif kind == "talk":
                ypr[:, 1] += 12.0 * s * env
                lin[:, 0] += -0.02 * om2 * s * env
        return self._posed(lin, ypr)


class _Vibration:
    """Seat or handlebar vibration: a resonant mode (frequency f0, std sigma) plus broadband
    roughness, continuous across chunks."""

    def __init__(self, ctx, f0, sigma, rough):
        dt = 1.0 / ctx.rate_hz
        self.f0 = f0
        self.amp = OU(ctx.rng, dt, 2.0, sigma * np.sqrt(2) * 0.7)
        self.pm = OU(ctx.rng, dt, 0.7, 1.0)
        self.rough = OU(ctx.rng, dt, min(0.02, dt), rough)
        self.ph = ctx.rng.uniform(0, 2 * np.pi)
        self.rate = ctx.rate_hz

    def take(self, m):
        ph = self.ph + 2 * np.pi * self.f0 * np.arange(1, m + 1) / self.rate + self.pm.take(m)
        self.ph = float((self.ph + 2 * np.pi * self.f0 * m / self.rate) % (2 * np.pi))
        return np.abs(self.amp.take(m)) * np.sin(ph) + self.rough.take(m)


class Drive(_Activity):
    """Sitting in a car: accelerating, braking, cornering, suspension bounce, road roughness."""
    label = "drive"
    WRIST = [(0, -70, -45), (0, -70, -45), (10, -60, -90), (0, -50, -20)]   # wheel, wheel, gear, lap

    def setup(self, ctx):
        dt = 1 / ctx.rate_hz
        t0 = ctx.i0 / ctx.rate_hz
        self.lon = OU(ctx.rng, dt, 4.0, 0.08)
        self.lat = OU(ctx.rng, dt, 3.0, 0.10)
        self.bounce = _Vibration(ctx, ctx.rng.uniform(1.1, 1.7), 0.035, 0.02)
        self.speed = 12.0
        pl = ctx.placement
        if pl == "wrist":
            self.post = _Postures(ctx.rng, self.WRIST, (5.0, 60.0), (0.5, 1.2), 5.0, t0)
        else:
            self.post = _Postures(ctx.rng, _SEATED[pl], (30.0, 300.0), (0.8, 2.0), 3.0, t0)
        self.steer = OU(ctx.rng, dt, 1.5, 8.0)
        self._rates(ctx)

    def motion(self, ctx, t):
        m = len(t)
        lin = np.zeros((m, 3))
        lin[:, 0] = self.lon.take(m)
        lin[:, 1] = self.lat.take(m)
        lin[:, 2] = self.bounce.take(m)
        yaw_rate = lin[:, 1] * 9.80665 / self.speed
        ypr = self.post(t)
        if ctx.placement == "wrist":
            ypr[:, 2] += self.steer.take(m)
        # the body leans against cornering and braking a little
        ypr[:, 1] += -lin[:, 0] * 8.0
        ypr[:, 2] += lin[:, 1] * 8.0
        return self._posed(lin, ypr, yaw_rate)


class Cycle(_Activity):
    """Riding a bicycle: pedalling at 60-90 rpm, trunk leaning forward, hands on the bar."""
    label = "cycle"

    def setup(self, ctx):
        dt = 1 / ctx.rate_hz
        self.rpm = ctx.rng.uniform(60.0, 90.0)
        self.rpm_var = OU(ctx.rng, dt, 8.0, 6.0)
        self.crank = ctx.rng.uniform(0, 2 * np.pi)
        self.vib = [OU(ctx.rng, dt, min(0.015, dt), 0.05) for _ in range(3)]
        self.lon = OU(ctx.rng, dt, 5.0, 0.03)
        self.lat = OU(ctx.rng, dt, 3.0, 0.05)
        self.lean = ctx.rng.uniform(25.0, 45.0)
        self._rates(ctx)

    def motion(self, ctx, t):
        m = len(t)
        H = ctx.person.height_m
        om = 2 * np.pi * (self.rpm + self.rpm_var.take(m)) / 60.0
        th = self.crank + np.cumsum(om) / ctx.rate_hz
        self.crank = float(th[-1] % (2 * np.pi))
        lin = np.zeros((m, 3))
        lin[:, 0] = self.lon.take(m)
        lin[:, 1] = self.lat.take(m)
        vib = np.column_stack([v.take(m) for v in self.vib])
        pl = ctx.placement
        ypr = np.zeros((m, 3))
        if pl in ("lower_back", "waist"):
            lin += vib * 0.6
            lin[:, 2] += 0.03 * np.sin(2 * th)
            ypr[:, 1] = self.lean + 1.5 * np.sin(2 * th)
            ypr[:, 2] = 2.0 * np.sin(th)
        elif pl == "front_pocket":
            # thigh angle from horizontal-ish: hip flexion 30-70 deg with the crank
            a = (50.0 + 20.0 * np.cos(th)) * D2R
            a_d = -20.0 * D2R * np.sin(th) * om
            a_dd = -20.0 * D2R * np.cos(th) * om * om
            px, pz = link_accel(0.4 * THIGH * H, a, a_d, a_dd)
            lin[:, 0] += px
            lin[:, 2] += pz
            lin += vib * 0.6
            ypr[:, 1] = -a / D2R
        elif pl == "ankle":
            r = 0.17
            lin[:, 0] += -r * om * om * np.cos(th) / 9.80665
            lin[:, 2] += -r * om * om * np.sin(th) / 9.80665
            lin += vib
            ypr[:, 1] = -(5.0 + 25.0 * np.cos(th - 0.6))
        else:   # wrist on the handlebar, palm down
            lin += vib * 1.3
            ypr[:, 1] = -75.0
            ypr[:, 2] = -90.0 + 3.0 * np.sin(th)
        return self._posed(lin, ypr)


ACTIVITY_CLASSES = {"stand": Standing, "desk": Desk, "gestures": Gestures, "drive": Drive, "cycle": Cycle}


def make(activity: str, duration_s: float):
    return ACTIVITY_CLASSES[activity](duration_s)
