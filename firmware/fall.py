"""Stumble and fall detection from the raw accelerometer samples the step detector reads.

Integer arithmetic per sample and no allocation per sample: it runs beside the detector
on every batch. Time is injected: samples are counted, and poll() is told the ticks_ms of
the newest sample, which dates the events.

    fd = FallDetector(rate_hz, lsb_per_g, on_record=None, on_cue=None)
    n = fd.update(ax, ay, az)         one sample of raw counts; returns events pending
    n = fd.feed(buf, count, stride)   a batch, laid out as for StepDetector.feed
    fd.note_steps(idx_arr, dir_arr, k, idx_now)
                                      the step detector's events (its sample indices, and
                                      det.n as idx_now) after it took the same samples as
                                      this detector: the rhythm and the activity before
    fd.poll(now_ms)                   hands pending events to on_record, cues to on_cue;
                                      `now_ms` is the ticks_ms of the newest sample fed
    fd.falls, fd.stumbles             running totals
    fd.enabled                        False: samples are ignored
    attach(app)                       plugs a detector into the firmware's counting loop

Two paths, each ending in one event:

- fall: a free fall (|a| < 0.45 g for at least 120 ms) followed within a second, or a
  stumble's jerk followed within 0.2 to 1.5 s, by an impact (|a| >= 2.8 g at 50 Hz and
  above; lower at slower rates, whose samples average a short impact down), then lying
  still (|a| within 0.8..1.2 g and steady for 1 s, within 5 s of the impact) with the body
  turned at least 50 degrees from its attitude before. Jumps (no turn: upright again),
  sitting down hard (no free fall, milder impact) and putting the device on a table (no
  impact) stop somewhere on that path.
- stumble: a jerk (the acceleration vector changing by 1.6 g or more within 80 ms, scaled
  down below 50 Hz like the impact but not under 1.2 g, and by 1.8 times the largest of
  the last second or so, so that a pocket's jolts at every step do not count) while in a
  steady walking rhythm (4 regular steps, the last within 1.75 step periods), after which
  the rhythm is lost (fewer than two of the next three step intervals on the beat).
  Decided 4 s after the jerk, once the step detector has credited the steps around it.

Records passed to on_record:
    {"type": "fall", "t", "ago_ms", "kind": "fall" | "stumble", "activity", "peak_mg",
     "tilt_deg"}
`t` is ticks_ms of the impact (fall) or of the jerk (stumble). `activity` is what the
wearer did in the 3 s before: one of ACTIVITIES.
"""
import micropython
from micropython import const

import time


def _plain_add(a, b):
    return a + b


# ticks arithmetic on the board (wraps harmlessly); plain integers on CPython
ticks_add = getattr(time, "ticks_add", _plain_add)

DIR_FORWARD = const(1)
DIR_BACKWARD = const(2)

ACTIVITIES = ("still", "moving", "walk", "walk_forward", "walk_backward")
A_STILL = const(0)
A_MOVING = const(1)
A_WALK = const(2)
A_WALK_FORWARD = const(3)
A_WALK_BACKWARD = const(4)

K_FALL = const(1)
K_STUMBLE = const(2)

# cue patterns: on/off durations in ms, starting with "on"
CUE_FALL = (1000, 300, 1000, 300, 1000)
CUE_STUMBLE = (200, 150, 200)

_IDX_MASK = const(0x3FFFFFFF)
_NSTEP = const(16)          # step ring: enough for 4 steps before and all 4 s after a jerk

_IDLE = const(0)
_IMPACT = const(1)          # an impact after a free fall or a jerk: waiting for stillness

class FallDetector:
    def __init__(self, rate_hz, lsb_per_g, on_record=None, on_cue=None):
        # the thresholds in sensor units and the buffers, worked out once: that code
        # leaves the heap afterwards
        import sys
        import fall_setup
        (self._sh, self._g, self._ff2, self._imp2, self._jerk2, self._lo2, self._hi2,
         self._steady, self._move, self._k, self._ff_min, self._imp_win, self._trip_min,
         self._trip_max, self._still_len, self._still_dl, self._decide, self._refr,
         self._pre_win, self._t_min, self._t_max, self._lag, self._blen, self._hist,
         self._st_idx, self._st_dir, self._bef, self._aft,
         self._ms1024) = fall_setup.setup(rate_hz, lsb_per_g)
        sys.modules.pop("fall_setup", None)
        self.on_record = on_record
        self.on_cue = on_cue
        self.enabled = True
        self.falls = 0
        self.stumbles = 0
        self.reset()

    def reset(self):
        self.n = 0
        self._hpos = 0
        self._hfill = 0
        self._lpx = 0
        self._lpy = 0
        self._lpz = self._g << 4
        self._act = 0
        self._act_mid = 0
        self._act_old = 0
        self._env = 0               # decaying envelope of the 80 ms vector change (squared)
        self._bprev = 0             # the previous block's largest change
        self._bmax = 0              # this block's
        self._bleft = self._blen
        self._ff_run = 0
        self._ff_end = -1           # sample of the last free fall's end; -1: none recent
        self._state = _IDLE
        self._imp_idx = 0
        self._imp_peak = 0
        self._run = 0               # still samples in a row after an impact
        self._ax0 = 0
        self._ay0 = 0
        self._az0 = 0
        self._j_idx = -1            # pending jerk; -1: none
        self._j_peak = 0
        self._snap_idx = -1         # attitude and motion just before the event
        self._sx = 0
        self._sy = 0
        self._sz = 0
        self._sact = 0
        self._quiet = 0             # samples left in the refractory period
        self._st_n = 0
        self._st_head = 0
        self._nb = 0
        self._na = 0
        self._ev_kind = 0           # one pending event (events are seconds apart)
        self._ev_idx = 0
        self._ev_act = 0
        self._ev_peak = 0
        self._ev_bx = self._ev_by = self._ev_bz = 0
        self._ev_ax = self._ev_ay = self._ev_az = 0

    # ---- per sample -------------------------------------------------------------

    def _age(self, idx):
        return (self.n - idx) & _IDX_MASK

    @micropython.native
    def update(self, ax, ay, az):
        self.n = (self.n + 1) & _IDX_MASK
        if not self.enabled:
            return 1 if self._ev_kind else 0
        s = self._sh
        x = ax >> s
        y = ay >> s
        z = az >> s
        m2 = x * x + y * y + z * z
        k = self._k
        self._lpx += ((x << 4) - self._lpx) >> k
        self._lpy += ((y << 4) - self._lpy) >> k
        self._lpz += ((z << 4) - self._lpz) >> k
        dev = m2 - self._g * self._g
        if dev < 0:
            dev = -dev
        self._act += (dev - self._act) >> k
        # the vector change over the last 80 ms
        h = self._hist
        p = self._hpos
        dx = x - h[p]
        dy = y - h[p + 1]
        dz = z - h[p + 2]
        h[p] = x
        h[p + 1] = y
        h[p + 2] = z
        p += 3
        self._hpos = 0 if p >= len(h) else p
        if self._hfill < self._lag:
            self._hfill += 1
            d2 = 0
        else:
            d2 = dx * dx + dy * dy + dz * dz
        if self._quiet:
            self._quiet -= 1
            return 1 if self._ev_kind else 0
        # free fall
        if m2 < self._ff2:
            if self._ff_run == 0 and (self._j_idx < 0 or self._age(self._j_idx) > self._imp_win):
                self._snap()
            self._ff_run += 1
        else:
            if self._ff_run >= self._ff_min:
                self._ff_end = self.n
            self._ff_run = 0
        if self._ff_end >= 0 and self._age(self._ff_end) > self._imp_win:
            self._ff_end = -1
        # jerk: large in itself and 1.8 times the jerks of the last second or so (walking
        # with the device in a pocket jolts it hard at every step). The envelope is kept
        # per 250 ms block and lags a block, so a jerk never raises its own threshold.
        if d2 > self._bmax:
            self._bmax = d2
        self._bleft -= 1
        if self._bleft <= 0:
            self._bleft = self._blen
            e = self._env - (self._env >> 3)
            self._env = e if e > self._bprev else self._bprev
            self._bprev = self._bmax
            self._bmax = 0
            # the motion level half a second back: what the wearer did before it began
            self._act_old = self._act_mid
            self._act_mid = self._act
        if d2 >= self._jerk2 and d2 >= (self._env * 13) >> 2:
            if self._j_idx < 0:
                # a trip: the attitude before it (not an impact ending a free fall)
                if self._ff_run == 0 and self._ff_end < 0 and self._state == _IDLE:
                    self._snap()
                self._j_idx = self.n
                self._j_peak = d2
            elif d2 > self._j_peak and self._age(self._j_idx) < self._lag * 3:
                self._j_peak = d2
        # an impact after a free fall or a jerk (a new one restarts the wait for stillness)
        if m2 >= self._imp2 and (
                self._ff_end >= 0 or self._ff_run >= self._ff_min
                or (self._j_idx >= 0
                    and self._trip_min <= self._age(self._j_idx) <= self._trip_max)):
            if self._state == _IDLE or self._age(self._imp_idx) >= self._lag * 3:
                self._state = _IMPACT
                self._imp_idx = self.n
                self._imp_peak = m2
                self._run = 0
            self._ff_end = -1
        if self._state == _IMPACT:
            if m2 > self._imp_peak and self._age(self._imp_idx) < self._lag * 3:
                self._imp_peak = m2
            self._still(x, y, z, m2)
        if self._j_idx >= 0 and self._state == _IDLE and self._age(self._j_idx) >= self._decide:
            self._decide_jerk()
        return 1 if self._ev_kind else 0

    def _snap(self):
        self._snap_idx = self.n
        self._sx = self._lpx
        self._sy = self._lpy
        self._sz = self._lpz
        self._sact = self._act_old

    def _still(self, x, y, z, m2):
        steady = self._steady
        if (self._lo2 <= m2 <= self._hi2 and self._run
                and -steady <= x - self._ax0 <= steady and -steady <= y - self._ay0 <= steady
                and -steady <= z - self._az0 <= steady):
            self._run += 1
        elif self._lo2 <= m2 <= self._hi2:
            self._run = 1
            self._ax0 = x
            self._ay0 = y
            self._az0 = z
        else:
            self._run = 0
        if self._run >= self._still_len:
            self._state = _IDLE
            if self._turned():
                self._event(K_FALL, self._imp_idx, self._imp_peak)
                self._j_idx = -1
        elif self._age(self._imp_idx) > self._still_dl:
            self._state = _IDLE     # up and moving again: not a fall

    def _turned(self):
        # True when the attitude lying still is 50+ degrees from the one before: compared as
        # dot^2 < cos^2(50) |a|^2 |b|^2 (dot > 0), on vectors cut to ~32 per g so that
        # every product stays a small int (no allocation, even on a candidate)
        bx = self._sx >> 6
        by = self._sy >> 6
        bz = self._sz >> 6
        ax = self._ax0 >> 2
        ay = self._ay0 >> 2
        az = self._az0 >> 2
        dot = bx * ax + by * ay + bz * az
        if dot <= 0:
            return True
        nb = bx * bx + by * by + bz * bz
        na = ax * ax + ay * ay + az * az
        # cos^2(50 deg) = 0.413 ~ 413/1000; na * nb < 2**22: the product fits
        return dot * dot * 1000 < 413 * na * nb

    # ---- steps and the stumble decision -------------------------------------------

    def note_steps(self, idx_arr, dir_arr, k, idx_now):
        # the detector's indices -> ours (the two may count from different origins);
        # idx_now is det.n, one past the detector's newest sample, which is our self.n
        off = (self.n + 1 - idx_now) & _IDX_MASK
        for i in range(k):
            j = (self._st_head + self._st_n) % _NSTEP
            self._st_idx[j] = (idx_arr[i] + off) & _IDX_MASK
            self._st_dir[j] = dir_arr[i]
            if self._st_n < _NSTEP:
                self._st_n += 1
            else:
                self._st_head = (self._st_head + 1) % _NSTEP

    def _steps_around(self, idx):
        # fills _bef (distances before idx, oldest first) and _aft (after idx, oldest
        # first) from the step ring, their counts in _nb and _na (a tuple would allocate)
        a = self._age(idx)
        nb = na = 0
        bef = self._bef
        aft = self._aft
        for i in range(self._st_n):
            e = self._age(self._st_idx[(self._st_head + i) % _NSTEP])
            if e >= a:
                bef[nb] = e - a
                nb += 1
            else:
                aft[na] = a - e
                na += 1
        self._nb = nb
        self._na = na

    def _decide_jerk(self):
        # integer arithmetic in thirds of a step period: per3 = 3 * the mean period
        j = self._j_idx
        self._j_idx = -1
        self._steps_around(j)
        nb = self._nb
        na = self._na
        if nb < 4:
            return
        bef = self._bef
        d0 = bef[nb - 1]                # the last step before the jerk
        per3 = bef[nb - 4] - d0
        # the jerk in the rhythm: within 1.75 periods of the last step (the detector may
        # not credit the last step before a trip: its rhythm was broken right after it)
        if not 3 * self._t_min <= per3 <= 3 * self._t_max or 12 * d0 > 7 * per3:
            return
        for i in range(nb - 4, nb - 1):
            if 100 * abs(3 * (bef[i] - bef[i + 1]) - per3) > 35 * per3:
                return              # no steady rhythm to lose
        # the beat goes on when at least two of the next three step intervals keep it
        # (gait is never perfectly even; a stumble hurries a step and then stops or stalls)
        on_beat = 0
        prev = -d0
        aft = self._aft
        for i in range(na if na < 3 else 3):
            if 100 * abs(3 * (aft[i] - prev) - per3) <= 35 * per3:
                on_beat += 1
            prev = aft[i]
        if on_beat >= 2:
            return
        self._event(K_STUMBLE, j, self._j_peak)

    def _activity(self, j):
        nf = nb = nu = 0
        dirs = self._st_dir
        a = self._age(j)
        for i in range(self._st_n):
            q = (self._st_head + i) % _NSTEP
            e = self._age(self._st_idx[q])
            if a <= e <= a + self._pre_win:
                if dirs[q] == DIR_FORWARD:
                    nf += 1
                elif dirs[q] == DIR_BACKWARD:
                    nb += 1
                else:
                    nu += 1
        if nf + nb + nu >= 2:
            if nb > nf + nu:
                return A_WALK_BACKWARD
            if nf > nb + nu:
                return A_WALK_FORWARD
            return A_WALK
        return A_MOVING if self._sact > self._move else A_STILL

    def _event(self, kind, idx, peak2):
        self._ev_kind = kind
        self._ev_idx = idx
        self._ev_peak = peak2
        # the two attitudes, for the angle reported by poll()
        self._ev_bx = self._sx
        self._ev_by = self._sy
        self._ev_bz = self._sz
        self._ev_ax = self._ax0
        self._ev_ay = self._ay0
        self._ev_az = self._az0
        # a fall is dated by its impact, but the activity is the one before it began
        self._ev_act = self._activity(self._snap_idx if kind == K_FALL and self._snap_idx >= 0
                                      else idx)
        self._quiet = self._refr
        self._ff_run = 0
        self._ff_end = -1
        self._snap_idx = -1
        if kind == K_FALL:
            self.falls += 1
        else:
            self.stumbles += 1

    def _tilt_deg(self):
        # once per event, outside the sample path: floats are fine here
        import math
        b = (self._ev_bx / 16, self._ev_by / 16, self._ev_bz / 16)
        a = (self._ev_ax, self._ev_ay, self._ev_az)
        nb = math.sqrt(b[0] ** 2 + b[1] ** 2 + b[2] ** 2)
        na = math.sqrt(a[0] ** 2 + a[1] ** 2 + a[2] ** 2)
        if nb == 0 or na == 0:
            return 0
        c = (b[0] * a[0] + b[1] * a[1] + b[2] * a[2]) / (nb * na)
        return int(math.degrees(math.acos(max(-1.0, min(1.0, c)))) + 0.5)

    @micropython.native
    def feed(self, buf, count, stride):
        i = 0
        for _ in range(count):
            self.update(buf[i], buf[i + 1], buf[i + 2])
            i += stride
        return 1 if self._ev_kind else 0

    def poll(self, now_ms):
        kind = self._ev_kind
        if not kind:
            return 0
        ago = (self._age(self._ev_idx) * self._ms1024) >> 10
        rec = {"type": "fall", "t": ticks_add(now_ms, -ago), "ago_ms": ago,
               "kind": "fall" if kind == K_FALL else "stumble",
               "activity": ACTIVITIES[self._ev_act],
               "peak_mg": int(self._ev_peak ** 0.5 * 1000 / self._g + 0.5),
               "tilt_deg": self._tilt_deg() if kind == K_FALL else 0}
        self._ev_kind = 0       # only now: short of heap above, the event waits for the next poll
        if self.on_record is not None:
            self.on_record(rec)
        if self.on_cue is not None:
            self.on_cue(CUE_FALL if kind == K_FALL else CUE_STUMBLE)
        return 1


# ---- the firmware loop's plug-in (plugins.attach(app, "fall")) --------------------------

SETTINGS = {"fall_detect": 1}


class _Plug:
    """Raw samples and step events in, fall/stumble records and cues out. A fault in here
    switches fall detection off (counted and printed) but never stops the counting."""

    def __init__(self, app):
        self.app = app
        self.fd = None
        self.broken = False
        self._rate = 0
        self._lsb = 0
        # built now when the IMU is known: its arrays and attribute table find room
        # more easily before the heap fills up and fragments
        self._detector()

    def _detector(self):
        app = self.app
        fd = self.fd
        if fd is None or self._rate != app.rate_hz or self._lsb != app.lsb_per_g:
            if not app.rate_hz or not app.lsb_per_g:
                return None
            # built once the IMU is known, again if its rate or range changes
            self._rate = app.rate_hz
            self._lsb = app.lsb_per_g
            fd = FallDetector(app.rate_hz, app.lsb_per_g, on_record=app.record, on_cue=app.cue)
            self.fd = fd
        return fd

    def _fail(self, e):
        if isinstance(e, MemoryError):
            self.app._listener_error(e)     # a moment without heap: counted, and on it goes
            return
        self.broken = True
        self.app.faults["listener"] = self.app.faults.get("listener", 0) + 1
        print("retrostep: fall detection stopped: %r" % e)

    def on_samples(self, buf, n, stride, t_ms):
        if self.broken:
            return
        try:
            fd = self._detector()
            if fd is not None:
                fd.feed(buf, n, stride)
        except Exception as e:
            self._fail(e)

    def on_steps(self, idx, dirs, k, t_ms):
        fd = self.fd
        if fd is not None and not self.broken:
            try:
                fd.note_steps(idx, dirs, k, self.app.det.n)
            except Exception as e:
                self._fail(e)

    def on_batch(self, t_ms):
        fd = self.fd
        if fd is None or self.broken:
            return
        try:
            fd.enabled = bool(self.app.settings.get("fall_detect", 1))
            fd.poll(t_ms)
        except Exception as e:
            self._fail(e)


def attach(app):
    p = _Plug(app)
    app.add_listener(p)
    return p
