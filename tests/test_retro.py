"""Retro sessions, the daily goal and the long-session cue (firmware/retro.py), under CPython
and under the MicroPython Unix port (with ticks that wrap)."""
import json
import subprocess
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.mpcompat import firmware_module
from host_tools.mprun import micropython_env
from host_tools.paths import FIRMWARE, micropython_binary
from host_tools.virtual import mpy_cross

retro = firmware_module("retro")
F, B, U = retro.DIR_FORWARD, retro.DIR_BACKWARD, retro.DIR_UNKNOWN


class Run:
    """A tracker with its records and cues collected."""

    def __init__(self, **kw):
        self.records = []
        self.cues = []
        kw.setdefault("rate_hz", 50)
        self.rt = retro.RetroTracker(on_record=self.records.append, on_cue=self.cues.append, **kw)

    def steps(self, t0, n, gap, d=B):
        for i in range(n):
            self.rt.step(t0 + i * gap, d)
        return t0 + (n - 1) * gap

    def of(self, typ):
        return [r for r in self.records if r["type"] == typ]


def end_all(r, t):
    r.rt.poll(t + r.rt.pause_ms + 10000)


def test_a_session_runs_from_its_first_backward_step_to_its_last():
    r = Run()
    last = r.steps(10_000, 50, 1000)
    assert r.rt.active and r.of("retro_session") == []
    end_all(r, last)
    (s,) = r.of("retro_session")
    assert s["t"] == 10_000 and s["dur_ms"] == 49_000
    assert (s["steps"], s["backward"], s["unknown"], s["forward"]) == (50, 50, 0, 0)
    assert s["cadence"] == 60 and s["unknown_pm"] == 0 and s["long"] == 0
    assert s["ago_ms"] == last + 20_000 + 10_000 - 10_000
    assert not r.rt.active and r.rt.sessions == 1


def test_unknown_and_forward_steps_inside_belong_to_it_trailing_ones_do_not():
    r = Run()
    t = r.steps(0, 10, 1000)
    t = r.steps(t + 1000, 3, 1000, U)       # direction not read: inside, so counted
    t = r.steps(t + 1000, 2, 1000, F)       # a misread step or two: inside too
    t = r.steps(t + 1000, 10, 1000, B)
    r.steps(t + 1000, 3, 1000, U)           # after the last backward step: not the session's
    end_all(r, t + 3000)
    (s,) = r.of("retro_session")
    assert (s["steps"], s["backward"], s["unknown"], s["forward"]) == (25, 20, 3, 2)
    assert s["dur_ms"] == 24_000 and s["unknown_pm"] == 120


def test_four_forward_steps_in_a_row_end_it_at_once():
    r = Run()
    t = r.steps(0, 12, 1000)
    t = r.steps(t + 1000, 4, 500, F)
    assert not r.rt.active
    (s,) = r.of("retro_session")
    assert s["steps"] == 12 and s["forward"] == 0
    r.steps(t + 500, 12, 1000)              # walking backward again: a new session
    end_all(r, t + 20_000)
    assert len(r.of("retro_session")) == 2


@pytest.mark.parametrize("gap_s,sessions", [(10, 1), (19, 1), (21, 2), (60, 2)])
def test_a_pause_longer_than_the_setting_splits_sessions(gap_s, sessions):
    r = Run(pause_ms=20_000)
    t = r.steps(0, 15, 1000)
    t = r.steps(t + gap_s * 1000, 15, 1000)
    end_all(r, t)
    got = r.of("retro_session")
    assert len(got) == sessions
    assert sum(s["backward"] for s in got) == 30


def test_a_stray_backward_step_or_short_bout_is_no_session():
    r = Run(min_steps=10)
    t = r.steps(0, 1, 1000)
    t = r.steps(t + 60_000, 9, 1000)
    end_all(r, t)
    assert r.of("retro_session") == [] and r.rt.sessions == 0
    assert r.rt.day_backward == 10          # the steps still count toward the day


def test_poll_waits_for_steps_the_detector_credits_late():
    r = Run(pause_ms=20_000)
    last = r.steps(0, 20, 1000)
    r.rt.poll(last + 20_000 + 1000)
    assert r.rt.active                      # a late step could still arrive
    r.rt.step(last + 1500, B)               # it does, dated where it happened
    r.rt.poll(last + 1500 + 20_000 + 4001)
    assert not r.rt.active
    assert r.of("retro_session")[0]["backward"] == 21


def test_long_session_cue_after_five_minutes():
    r = Run(goal=0)
    gap = 800                               # 75 steps/min: time passes 5 min before 500 steps
    last = r.steps(0, 450, gap)             # a 6-minute session
    (c,) = r.of("retro_long")
    first_over = -(-300_000 // gap) * gap   # the first step at or past 5 minutes
    assert c["t"] == first_over and c["dur_ms"] == first_over and c["by"] == "time"
    assert c["steps"] == first_over // gap + 1 and c["start"] == 0
    assert c["limit_ms"] == 300_000 and c["limit_steps"] == 500
    assert r.cues == [retro.CUE_LONG]
    end_all(r, last)
    (s,) = r.of("retro_session")
    assert s["long"] == 1 and s["steps"] == 450 and s["dur_ms"] == 449 * gap


def test_long_session_cue_after_500_steps():
    r = Run()
    r.steps(0, 600, 500)                    # 120 steps/min: 500 steps before 5 min
    (c,) = r.of("retro_long")
    assert c["by"] == "steps" and c["steps"] == 500 and c["t"] == 499 * 500


def test_long_session_limits_are_settings():
    r = Run()
    r.rt.configure(long_ms=60_000, long_steps=0)
    r.steps(0, 200, 1000)
    (c,) = r.of("retro_long")
    assert c["by"] == "time" and c["t"] == 60_000 and c["limit_steps"] == 0
    r2 = Run(goal=0)
    r2.rt.configure(long_ms=0, long_steps=0)    # both off: never
    r2.steps(0, 1000, 500)
    assert r2.of("retro_long") == [] and r2.cues == []


def test_daily_goal_cue_once_a_day_at_the_goal_step():
    r = Run(goal=400)
    t = r.steps(0, 250, 1000)
    t = r.steps(t + 60_000, 250, 1000)      # a second session carries the day past 400
    (g,) = r.of("retro_goal")
    assert g["goal"] == 400 and g["backward"] == 400
    assert g["t"] == 249_000 + 60_000 + 149 * 1000
    assert r.cues.count(retro.CUE_GOAL) == 1
    r.rt.new_day()                           # midnight
    assert not r.rt.goal_done
    r.steps(t + 3_600_000, 400, 1000)
    assert len(r.of("retro_goal")) == 2


def test_a_reboot_after_the_goal_does_not_cue_it_again():
    r = Run(goal=400)
    r.rt.new_day(backward_so_far=420)        # restored from the store's daily count
    r.steps(0, 50, 1000)
    assert r.of("retro_goal") == [] and r.rt.day_backward == 470


def test_lowering_the_goal_below_todays_count_cues_at_the_next_poll():
    r = Run(goal=400)
    r.steps(0, 350, 1000)
    assert r.of("retro_goal") == []
    r.rt.configure(goal=300)
    r.rt.poll(400_000)
    (g,) = r.of("retro_goal")
    assert g["goal"] == 300 and g["backward"] == 350
    r.rt.configure(goal=500)                 # raised again the same day: a cue at 500
    r.steps(400_000, 200, 1000)
    assert [g["goal"] for g in r.of("retro_goal")] == [300, 500]
    assert r.of("retro_goal")[1]["backward"] == 500
    r.rt.configure(goal=0)                   # 0: no goal
    r.rt.new_day()
    r.steps(700_000, 500, 1000)
    assert len(r.of("retro_goal")) == 2


def test_feed_dates_steps_from_detector_indices_across_the_index_wrap():
    r = Run(rate_hz=50)
    mask = (1 << 30) - 1
    start = (1 << 30) - 100                  # the detector's index wraps during the session
    idx = array("i", [0] * 30)
    dirs = bytearray([B] * 30)
    for i in range(30):
        idx[i] = (start + i * 50) & mask     # one step a second
    newest = (start + 29 * 50 + 10) & mask   # ten samples after the last step
    r.rt.feed(idx, dirs, 30, (newest + 1) & mask, 1_000_000)
    end_all(r, 1_000_000)
    (s,) = r.of("retro_session")
    assert s["t"] == 1_000_000 - 200 - 29_000 and s["dur_ms"] == 29_000 and s["steps"] == 30


def test_flush_records_the_open_session():
    r = Run()
    r.steps(0, 30, 1000)
    r.rt.flush()
    assert len(r.of("retro_session")) == 1 and not r.rt.active


# ---- properties over random days ----------------------------------------------------------

steps_strategy = st.lists(st.tuples(st.integers(50, 40_000), st.sampled_from([F, B, B, B, U])),
                          min_size=0, max_size=300)


@settings(max_examples=150, deadline=None)
@given(steps_strategy, st.integers(5_000, 30_000), st.integers(1, 15))
def test_every_step_belongs_to_at_most_one_session_and_counts_once(gaps, pause, min_steps):
    r = Run(pause_ms=pause, min_steps=min_steps, goal=0, long_ms=0, long_steps=0)
    t = 0
    seq = []
    for gap, d in gaps:
        t += gap
        seq.append((t, d))
        r.rt.step(t, d)
    end_all(r, t)
    sessions = r.of("retro_session")
    prev_end = -1
    for s in sessions:
        end = s["t"] + s["dur_ms"]
        assert s["t"] > prev_end
        prev_end = end
        inside = [d for tt, d in seq if s["t"] <= tt <= end]
        # one step is one step: exactly the steps between its first and last backward step
        assert s["steps"] == len(inside) == s["backward"] + s["unknown"] + s["forward"]
        assert s["backward"] == inside.count(B) >= min_steps
        assert s["unknown"] == inside.count(U) and s["forward"] == inside.count(F)
        assert dict(seq)[s["t"]] == B and dict(seq)[end] == B
        # inside a session no pause is longer than the setting
        times = [tt for tt, d in seq if s["t"] <= tt <= end and d == B]
        assert all(b - a <= pause for a, b in zip(times, times[1:]))
    assert r.rt.day_backward == sum(1 for _, d in seq if d == B)
    assert sum(s["backward"] for s in sessions) <= r.rt.day_backward


# ---- the same file under the MicroPython Unix port, with ticks wrapping -------------------

MP_DRIVER = r"""
import sys, json, time
import retro
wrap = sys.argv[2] == "1"
# a base a few minutes before the ticks counter wraps: every time below crosses it
base = time.ticks_add(0, -200000) if wrap else 0
def T(ms):
    return time.ticks_add(base, ms)
def rec(x):
    for key in ("t", "start"):
        if key in x:
            x[key] = time.ticks_diff(x[key], base)
    print(json.dumps(["rec", x]))
rt = retro.RetroTracker(50, on_record=rec, on_cue=lambda c: print(json.dumps(["cue", list(c)])))
for line in open(sys.argv[1]):      # one op a line: the heap holds the tracker, not the day
    op = json.loads(line)
    k = op[0]
    if k == "s":
        rt.step(T(op[1]), op[2])
    elif k == "p":
        rt.poll(T(op[1]))
    elif k == "d":
        rt.new_day(op[1])
    elif k == "c":
        rt.configure(goal=op[1], long_ms=op[2], long_steps=op[3], pause_ms=op[4])
print("done", rt.day_backward, rt.sessions)
"""


def scripted_ops():
    ops = []
    t = 0
    for i in range(30):                      # forward walking: no session
        t += 550
        ops.append(["s", t, F])
    for i in range(480):                     # a 6-minute backward session, a few unreadable
        t += 750
        ops.append(["s", t, U if i % 17 == 0 else B])
        if i % 40 == 0:
            ops.append(["p", t + 300])
    ops.append(["p", t + 30_000])
    ops.append(["c", 300, 120_000, 500, 15_000])
    for i in range(150):
        t += 900
        ops.append(["s", t + 60_000, B])
    ops.append(["p", t + 120_000])
    ops.append(["d", 0])
    for i in range(20):
        t += 1000
        ops.append(["s", t + 200_000, B])
    ops.append(["p", t + 300_000])
    return ops


def run_python(ops):
    out = []
    rt = retro.RetroTracker(50, on_record=lambda r: out.append(["rec", r]),
                            on_cue=lambda c: out.append(["cue", list(c)]))
    for op in ops:
        k = op[0]
        if k == "s":
            rt.step(op[1], op[2])
        elif k == "p":
            rt.poll(op[1])
        elif k == "d":
            rt.new_day(op[1])
        elif k == "c":
            rt.configure(goal=op[1], long_ms=op[2], long_steps=op[3], pause_ms=op[4])
    return out, f"done {rt.day_backward} {rt.sessions}"


@pytest.mark.parametrize("wrap", [False, True])
def test_unix_port_gives_the_same_records_and_cues(tmp_path, wrap):
    ops = scripted_ops()
    (tmp_path / "ops.json").write_text("".join(json.dumps(op) + "\n" for op in ops))
    (tmp_path / "drive.py").write_text(MP_DRIVER)
    mpy = tmp_path / "mpy"
    mpy.mkdir()
    subprocess.run([mpy_cross(), "-march=x64", "-o", str(mpy / "retro.mpy"), str(FIRMWARE / "retro.py")],
                   check=True, capture_output=True)
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=64K", str(tmp_path / "drive.py"),
                           str(tmp_path / "ops.json"), "1" if wrap else "0"],
                          capture_output=True, text=True, env=micropython_env([str(mpy)]), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    mp = [json.loads(x) for x in lines[:-1]]
    py, done = run_python(ops)
    assert lines[-1] == done
    assert mp == json.loads(json.dumps(py))
    kinds = [x["type"] if k == "rec" else "cue" for k, x in mp]
    # the 6-minute session: one long cue, one session; the goal (400) was reached in it
    assert kinds.count("retro_long") == 2 and kinds.count("retro_goal") == 1
    assert kinds.count("retro_session") == 3


class _App:
    """What retro's plug-in uses of the counting loop, with a record hook that finds no
    heap while `short` is set."""

    def __init__(self):
        self.rate_hz = 50
        self.settings = {"retro_goal": 10}
        self.modules = {}
        self.faults = {"listener": 0}
        self.records = []
        self.short = False

    def record(self, rec):
        if self.short:
            raise MemoryError
        self.records.append(rec)

    def cue(self, pattern):
        pass

    def ticks_of(self, idx):
        return idx * 20

    def _listener_error(self, e):
        self.faults["listener"] += 1


def test_guidance_carries_on_after_a_moment_without_heap():
    app = _App()
    plug = retro._Plug(app)
    idx = array("i", range(0, 600, 30))
    dirs = bytearray([B] * len(idx))
    app.short = True            # the goal is reached mid-batch while no record can be made
    plug.on_steps(idx, dirs, len(idx), 0)
    app.short = False
    assert not plug.broken and app.faults["listener"] == 1
    idx2 = array("i", range(600, 1200, 30))
    plug.on_steps(idx2, dirs, len(idx2), 0)
    plug.on_batch(60000)        # the pause has passed: the session closes and is recorded
    sessions = [r for r in app.records if r["type"] == "retro_session"]
    assert plug.rt.day_backward == 40 and len(sessions) == 1 and sessions[0]["backward"] == 40
