"""The whole path on the virtual device: a scripted day (forward walks, a 6-minute backward
session, a stumble, desk work) played by the emulated IMU into the real firmware (with
retro.py and fall.py plugged into its loop), synced over the link into a history. The
retro settings are changed from the host first and must survive a reboot."""
import json
import time

import pytest

import numpy as np

from host_tools import virtual
from host_tools.bench_fall import replay_guidance
from host_tools.emulate_cmd import install_firmware, sim_board
from host_tools.sync_cmd import sync_device
from host_tools.history_db import History
from host_tools.link_client import LinkClient
from host_tools.paths import BOARDS
from host_tools.sim import simulate, write
from host_tools.sim import falls as simfalls

from synckit import flash_records

SCRIPT = ("walk 150, stand 10s, retro 650, stand 40s, walk 60, stumble, walk 40, stand 5s, "
          "desk 90s")
GOAL = 350                      # not the default: it must come from the host, across a reboot
NOW = 1_780_000_000             # the host's clock at the sync (a fixed instant)


def axis_code(name):
    return ("xyz".index(name[-1]) + 1) * (-1 if name[0] == "-" else 1)


def stop(dev, c):
    c.ser.write(b"\x03")        # Ctrl-C: the firmware stops cleanly and saves
    time.sleep(0.5)
    dev.stop()


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("retroday")
    simfalls.register_script_names()
    board = json.loads((BOARDS / "sim.json").read_text())
    m = board["mount"]
    # worn as the sim board's config says (its forward axis is the one the firmware uses)
    tr = simulate(script=SCRIPT, placement=board["placement"], sensor=board["imu"]["chip"],
                  rate_hz=board["imu"]["rate_hz"], seed=5,
                  mount=f"fwd={m['forward_axis']},up={m['up_axis']}")
    trace = write(tr, tmp / "traces", "day")
    flash = install_firmware(tmp / "flash")

    # boot 1, nothing worn: the host changes the retro goal
    dev = sim_board(flash, fast=True, end="rest")
    dev.start()
    try:
        with LinkClient.open(dev.path, timeout=2.0) as c:
            c.set_settings({"retro_goal": GOAL})
            assert c.get_settings()["retro_goal"] == GOAL
            stop(dev, c)
    finally:
        dev.stop()

    # boot 2: the day is played (the compiled firmware, to the end of the trace, then a
    # clean stop)
    played = virtual.run(flash, trace=tmp / "traces" / "day.csv", fast=True, heap_kb=None)
    assert played.returncode == 0 and played.stopped, played.stdout + played.stderr

    # boot 3: plugged in, synced
    dev = sim_board(flash, fast=True, end="rest")
    dev.start()
    try:
        with LinkClient.open(dev.path, timeout=2.0) as c:
            settings = c.get_settings()
            hist = History(tmp / "history.sqlite")
            res = sync_device(c, hist, now=NOW)
            stop(dev, c)
    finally:
        dev.stop()

    # what the same firmware files make of the same samples on the PC
    from host_tools.detector_run import placement_code
    from host_tools.trace import read_trace
    t = read_trace(trace if trace else tmp / "traces" / "day.csv")
    lsb = int(round(float(t.meta.get("lsb_per_g", 8192))))
    counts = np.clip(np.rint(t.accel * lsb), -32768, 32767).astype(np.int16)
    expected = replay_guidance(counts, tr.rate_hz, lsb, axis_code(m["forward_axis"]),
                               placement_code(board["placement"]), {"retro_goal": GOAL})
    return {"trace": tr, "settings": settings, "sync": res, "hist": hist,
            "played": played.stopped, "expected": expected}


def of(events, typ):
    return [e for e in events if e["type"] == typ]


def test_settings_changed_on_the_host_survive_a_reboot(day):
    assert day["settings"]["retro_goal"] == GOAL
    (g,) = of(day["hist"].events(), "retro_goal")
    assert g["goal"] == GOAL            # and the day in between used it


KEYS = {"retro_session": ("steps", "backward", "unknown", "forward", "unknown_pm", "long"),
        "retro_long": ("by", "steps", "limit_ms", "limit_steps"),
        "retro_goal": ("goal", "backward"),
        "fall": ("kind", "activity", "peak_mg", "tilt_deg")}


def test_the_device_syncs_what_the_same_files_make_of_the_day_on_the_pc(day):
    got = [e for e in day["hist"].events() if e["type"] in KEYS]
    want = day["expected"]
    assert [e["type"] for e in got] == [e["type"] for e in want] or \
        sorted(e["type"] for e in got) == sorted(e["type"] for e in want)
    order = sorted(range(len(want)), key=lambda i: (want[i]["type"], want[i]["t"]))
    got_sorted = sorted(got, key=lambda e: (e["type"], e["time"]))
    for e, i in zip(got_sorted, order):
        w = want[i]
        for k in KEYS[e["type"]]:
            assert e[k] == w[k], (e, w)
        if "dur_ms" in w:
            assert abs(e["dur_ms"] - w["dur_ms"]) <= 100
    # and the device counted what the detector counts on the PC for the same samples
    fwd, bwd, unk = day["sync"].device_totals
    assert (fwd, bwd, unk) == (day["played"]["forward"], day["played"]["backward"],
                               day["played"]["unknown"])


def test_the_day_gives_exactly_the_expected_sessions_cues_and_events(day):
    hist, tr = day["hist"], day["trace"]
    ev = hist.events()
    fwd, bwd, unk = day["sync"].device_totals
    true_b = [t for t, d in zip(tr.step_ms, tr.step_dir) if d == "B"]
    # one backward session holding (nearly) every backward step of the day: a stray step of
    # a forward walk called backward (0.1% at the waist) is no session of its own
    (s,) = of(ev, "retro_session")
    assert bwd - 3 <= s["backward"] <= bwd and s["backward"] >= 0.95 * len(true_b)
    assert s["steps"] == s["backward"] + s["unknown"] + s["forward"]
    assert abs(s["dur_ms"] - (true_b[-1] - true_b[0])) <= 3000
    assert s["long"] == 1 and 95 <= s["cadence"] <= 120
    # the long-session cue: 500 steps come before 5 minutes at this cadence
    (lc,) = of(ev, "retro_long")
    assert lc["by"] == "steps" and lc["steps"] == 500
    # the daily goal, as set from the host before the reboot
    (g,) = of(ev, "retro_goal")
    assert g["goal"] == GOAL and g["backward"] == GOAL
    # the stumble, while walking forward, at its time (relative to the session's start:
    # this boot never had its clock set, so the history places it approximately); no fall
    (st,) = of(ev, "fall")
    assert st["kind"] == "stumble" and st["activity"] == "walk_forward"
    from datetime import datetime
    true_gap = ([t for t, k in tr.events if k == "stumble"][0] - true_b[0]) / 1000.0
    gap = (datetime.fromisoformat(st["time"]) - datetime.fromisoformat(s["time"])).total_seconds()
    assert abs(gap - true_gap) <= 2
    assert {e["type"] for e in ev} <= {"boot", "retro_session", "retro_long", "retro_goal",
                                       "fall", "calibration"}


def test_history_days_count_every_step_once(day):
    hist = day["hist"]
    fwd, bwd, unk = day["sync"].device_totals
    rows = hist.days()
    assert sum(d["total"] for d in rows) == fwd + bwd + unk
    assert sum(d["backward"] for d in rows) == bwd
    (d,) = [d for d in rows if d["sessions"]]
    assert d["retro_goal"] == GOAL and d["goal_reached"]
    assert (d["sessions"], d["long_cues"], d["stumbles"], d["falls"]) == (1, 1, 1, 0)
    # the detector counted the walk as simulated (one step is one step)
    tr = day["trace"]
    assert abs((fwd + bwd + unk) - len(tr.step_ms)) <= 0.03 * len(tr.step_ms)


@pytest.fixture(scope="module")
def short_trace(tmp_path_factory):
    """A short walk then 120 backward steps, worn as the sim board's config says; the trace
    ends a second after the last backward step."""
    tmp = tmp_path_factory.mktemp("short")
    board = json.loads((BOARDS / "sim.json").read_text())
    m = board["mount"]
    tr = simulate(script="walk 20, retro 120", placement=board["placement"],
                  sensor=board["imu"]["chip"], rate_hz=board["imu"]["rate_hz"], seed=2,
                  mount=f"fwd={m['forward_axis']},up={m['up_axis']}")
    write(tr, tmp, "t")
    return tmp / "t.csv"


def led_changes_of(pattern):
    """LED changes one cue pattern makes: on/off per element, then off at its end."""
    return len(pattern) + len(pattern) % 2


@pytest.mark.parametrize("case,settings", [
    ("cues", {"retro_goal": 40, "retro_long_steps": 90, "cues": 1}),
    ("muted", {"retro_goal": 40, "retro_long_steps": 90, "cues": 0}),
    ("no records", {"retro_goal": 0, "retro_long_steps": 0, "retro_long_s": 0, "cues": 1}),
])
def test_goal_and_long_session_records_drive_the_board_led(tmp_path, short_trace, case, settings):
    # fall detection off: only the retro guidance may cue
    flash = install_firmware(tmp_path / "flash")
    (flash / "settings.json").write_text(json.dumps({**settings, "fall_detect": 0}))
    played = virtual.run(flash, trace=short_trace, fast=True, heap_kb=None)
    assert played.returncode == 0 and played.stopped, played.stdout + played.stderr
    assert played.stopped["backward"] >= 110
    cues = [r.data["type"] for r in flash_records(flash)
            if r.kind == 2 and r.data["type"] in ("retro_goal", "retro_long")]
    changes = played.world["led_changes"]
    if case == "no records":
        assert cues == [] and changes == 0
        return
    # the goal (40 backward steps) and the long session (90 steps) are recorded either way
    assert cues == ["retro_goal", "retro_long"]
    if case == "muted":
        assert changes == 0
    else:
        from host_tools.mpcompat import firmware_module
        retro = firmware_module("retro")
        assert changes == led_changes_of(retro.CUE_GOAL) + led_changes_of(retro.CUE_LONG) > 0


def test_a_session_still_open_at_a_clean_stop_is_kept(tmp_path, short_trace):
    flash = install_firmware(tmp_path / "flash")
    played = virtual.run(flash, trace=short_trace, fast=True, heap_kb=None)
    assert played.returncode == 0 and played.stopped, played.stdout + played.stderr
    # the trace ends a second after the last backward step: the session is still open
    # when the firmware stops, and the stop must not lose it
    dev = sim_board(flash, fast=True, end="rest")
    dev.start()
    try:
        with LinkClient.open(dev.path, timeout=2.0) as c:
            hist = History(tmp_path / "h.sqlite")
            sync_device(c, hist, now=NOW)
            stop(dev, c)
    finally:
        dev.stop()
    (s,) = of(hist.events(), "retro_session")
    assert s["backward"] == played.stopped["backward"] >= 110
