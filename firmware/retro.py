"""Retro-walking guidance: backward sessions, the daily retro goal, the long-session cue.

Pure logic, no hardware: time comes in as ticks_ms values, steps come in as the step
detector's events (sample index + DIR_* code), and out go records and cue patterns through
the two callables given at construction.

    rt = RetroTracker(rate_hz, goal=400, long_ms=300000, long_steps=500, pause_ms=20000,
                      min_steps=10, on_record=None, on_cue=None)
    rt.feed(idx_arr, dir_arr, k, idx_now, now_ms)
                        the `k` events det.read() just returned; `idx_now` is det.n (one
                        past the newest sample) and `now_ms` the ticks_ms of that sample
    rt.step(t_ms, d)    one step at ticks `t_ms` (what feed() calls per event)
    rt.poll(now_ms)     call every batch: ends a session once its pause has passed
    rt.new_day(backward_so_far=0)   a new day began (or the day's count after a reboot):
                        the goal cue fires again only when the goal has not been reached yet
    rt.configure(goal=None, long_ms=None, long_steps=None, pause_ms=None)
    rt.flush()          ends the current session now (clean shutdown)
    rt.day_backward, rt.goal_done, rt.sessions, rt.active, rt.session_steps
    attach(app)         plugs a tracker into the firmware's counting loop (see the end)

A session starts at the first backward step and runs to the last backward step before a
pause of `pause_ms` with no backward step, or before `_FWD_BREAK` forward steps in a row.
Steps of unknown or forward direction between two backward steps belong to the session;
those after its last backward step do not. Each step counts once: nothing is multiplied.
Sessions with fewer than `min_steps` backward steps (a stray misread step) are dropped.

Records passed to on_record (dicts, see the project notes for the host side):
    {"type": "retro_session", "t", "ago_ms", "dur_ms", "steps", "backward", "unknown",
     "forward", "cadence", "unknown_pm", "long"}
    {"type": "retro_long", "t", "ago_ms", "start", "dur_ms", "steps", "limit_ms",
     "limit_steps", "by"}
    {"type": "retro_goal", "t", "ago_ms", "goal", "backward"}
`t` is ticks_ms (a session's start for retro_session); `ago_ms` is how long before the
call to on_record that was.
"""
from micropython import const

import time


def _plain_diff(a, b):
    return a - b


def _plain_add(a, b):
    return a + b


# ticks arithmetic on the board (wraps harmlessly); plain integers on CPython
ticks_diff = getattr(time, "ticks_diff", _plain_diff)
ticks_add = getattr(time, "ticks_add", _plain_add)

DIR_UNKNOWN = const(0)
DIR_FORWARD = const(1)
DIR_BACKWARD = const(2)

_IDX_MASK = const(0x3FFFFFFF)   # the detector's sample indices wrap here
_FWD_BREAK = const(4)           # forward steps in a row that end a session at once
_LATE_MS = const(4000)          # the detector credits steps late: poll() waits this much more

# cue patterns: on/off durations in ms, starting with "on"
CUE_GOAL = (120, 80, 120, 80, 400)
CUE_LONG = (400, 200, 400, 200, 400)


class RetroTracker:
    def __init__(self, rate_hz, goal=400, long_ms=300000, long_steps=500, pause_ms=20000,
                 min_steps=10, on_record=None, on_cue=None):
        # sample index -> ms as (samples * _ms1024) >> 10: integer, no float per step
        self._ms1024 = int(1024000 / rate_hz + 0.5)
        self.goal = goal
        self.long_ms = long_ms
        self.long_steps = long_steps
        self.pause_ms = pause_ms
        self.min_steps = min_steps
        self.on_record = on_record
        self.on_cue = on_cue
        self.day_backward = 0
        self.goal_done = False
        self.sessions = 0
        self._now = 0
        self._reset_session()

    def _reset_session(self):
        self.active = False
        self._start = 0
        self._lastb = 0
        self._back = 0
        self._unk = 0
        self._fwd = 0
        self._p_unk = 0     # unknown steps after the last backward one: in only if one follows
        self._p_fwd = 0
        self._fwd_run = 0
        self._long = False

    @property
    def session_steps(self):
        return self._back + self._unk + self._fwd

    def configure(self, goal=None, long_ms=None, long_steps=None, pause_ms=None):
        if goal is not None and goal != self.goal:
            self.goal = goal
            if self.day_backward < goal:
                self.goal_done = False      # a higher goal: its cue is still to come today
        if long_ms is not None:
            self.long_ms = long_ms
        if long_steps is not None:
            self.long_steps = long_steps
        if pause_ms is not None:
            self.pause_ms = pause_ms

    def new_day(self, backward_so_far=0):
        self.day_backward = backward_so_far
        self.goal_done = self.goal > 0 and backward_so_far >= self.goal

    def _emit(self, rec, cue=None):
        if self.on_record is not None:
            self.on_record(rec)
        if cue is not None and self.on_cue is not None:
            self.on_cue(cue)

    def feed(self, idx_arr, dir_arr, k, idx_now, now_ms):
        m = self._ms1024
        for i in range(k):
            age = (idx_now - 1 - idx_arr[i]) & _IDX_MASK   # idx_now - 1: the newest sample
            self.step(ticks_add(now_ms, -((age * m) >> 10)), dir_arr[i])
        self._now = now_ms

    def step(self, t, d):
        self._now = t
        if self.active and ticks_diff(t, self._lastb) > self.pause_ms:
            self._close()
        if d == DIR_BACKWARD:
            self.day_backward += 1
            if not self.active:
                self._reset_session()
                self.active = True
                self._start = t
            else:
                self._unk += self._p_unk
                self._fwd += self._p_fwd
                self._p_unk = 0
                self._p_fwd = 0
            self._back += 1
            self._lastb = t
            self._fwd_run = 0
            self._check_long(t)
            self._check_goal(t)
        elif self.active:
            if d == DIR_FORWARD:
                self._p_fwd += 1
                self._fwd_run += 1
                if self._fwd_run >= _FWD_BREAK:
                    self._close()
            else:
                self._p_unk += 1

    def _check_goal(self, t):
        if not self.goal_done and 0 < self.goal <= self.day_backward:
            self.goal_done = True
            self._emit({"type": "retro_goal", "t": t, "ago_ms": ticks_diff(self._now, t),
                        "goal": self.goal, "backward": self.day_backward}, CUE_GOAL)

    def _check_long(self, t):
        if self._long or self._back < self.min_steps:
            return
        dur = ticks_diff(t, self._start)
        steps = self._back + self._unk + self._fwd
        by = None
        if 0 < self.long_ms <= dur:
            by = "time"
        elif 0 < self.long_steps <= steps:
            by = "steps"
        if by is None:
            return
        self._long = True
        self._emit({"type": "retro_long", "t": t, "ago_ms": 0, "start": self._start,
                    "dur_ms": dur, "steps": steps, "limit_ms": self.long_ms,
                    "limit_steps": self.long_steps, "by": by}, CUE_LONG)

    def poll(self, now_ms):
        self._now = now_ms
        self._check_goal(now_ms)    # the goal may have been lowered below today's count
        if self.active and ticks_diff(now_ms, self._lastb) > self.pause_ms + _LATE_MS:
            self._close()

    def flush(self):
        """Ends the current session now (a clean shutdown): it is recorded if long enough."""
        if self.active:
            self._close()

    def _close(self):
        back = self._back
        if back >= self.min_steps:
            steps = back + self._unk + self._fwd
            dur = ticks_diff(self._lastb, self._start)
            self.sessions += 1
            self._emit({"type": "retro_session", "t": self._start,
                        "ago_ms": ticks_diff(self._now, self._start), "dur_ms": dur,
                        "steps": steps, "backward": back, "unknown": self._unk,
                        "forward": self._fwd,
                        "cadence": (steps - 1) * 60000 // dur if dur > 0 else 0,
                        "unknown_pm": self._unk * 1000 // steps,
                        "long": 1 if self._long else 0})
        self._reset_session()


# ---- the firmware loop's plug-in (plugins.attach(app, "retro")) -------------------------

SETTINGS = {"retro_goal": 400, "retro_long_s": 300, "retro_long_steps": 500,
            "retro_pause_s": 20}


def _setting(src, key):
    v = src.get(key, SETTINGS[key]) if src is not None else SETTINGS[key]
    return v if isinstance(v, int) and v >= 0 else SETTINGS[key]


class _Plug:
    """Step events in, records and cues out; settings re-read every batch (the host may
    have changed them through the link)."""

    def __init__(self, app):
        self.app = app
        self.store = app.modules.get("store")
        self.broken = False
        self.rt = RetroTracker(app.rate_hz or 50, on_record=app.record, on_cue=app.cue)
        self._configure()
        today = self._today_backward()
        if today is not None:
            self.rt.new_day(today)      # after a reboot: no second goal cue today

    def _configure(self):
        s = self.app.settings       # persisted by the loop, changed by the link
        self.rt.configure(goal=_setting(s, "retro_goal"),
                          long_ms=_setting(s, "retro_long_s") * 1000,
                          long_steps=_setting(s, "retro_long_steps"),
                          pause_ms=_setting(s, "retro_pause_s") * 1000)

    def _today_backward(self):
        st = self.store
        if st is None or not hasattr(st, "today"):
            return None
        return st.today()[1]

    def _fail(self, e):
        # a fault in here stops the guidance (counted, printed), never the counting; a
        # moment without heap only costs what it was doing then (counted)
        if isinstance(e, MemoryError):
            self.app._listener_error(e)
            return
        self.broken = True
        self.app.faults["listener"] = self.app.faults.get("listener", 0) + 1
        print("retrostep: retro guidance stopped: %r" % e)

    def on_steps(self, idx, dirs, k, t_ms):
        if self.broken:
            return
        app = self.app
        rt = self.rt
        for i in range(k):
            try:
                rt.step(app.ticks_of(idx[i]), dirs[i])
            except Exception as e:  # a record with no heap for it: the next steps still count
                self._fail(e)
                if self.broken:
                    return

    def on_batch(self, t_ms):
        if self.broken:
            return
        try:
            self._configure()
            b = self._today_backward()
            rt = self.rt
            if b is not None:
                if b < rt.day_backward:
                    rt.new_day(b)           # the store's local day rolled over
                else:
                    rt.day_backward = b
            rt.poll(t_ms)
        except Exception as e:
            self._fail(e)

    def on_shutdown(self):
        rt = self.rt
        if rt.active and not self.broken:
            rt.flush()
            # the store may have saved before this listener ran: save the session too
            save = getattr(self.store, "save", None)
            if save is not None:
                save()


def attach(app):
    p = _Plug(app)
    app.add_listener(p)
    return p.rt
