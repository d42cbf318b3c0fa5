"""A stand-in device for the link, store and sync tests: the real store.py and link_session.py
under the Unix port, fed with a fixed pattern of steps on a fast clock.

Environment: RS_ROOT (store directory), RS_SPEED (simulated seconds per real second),
RS_UID, RS_TICKS (stop counting after this many ticks; 0: never), RS_PREFILL_DAYS (first
fill the store with that many days of full 5-minute bins, as a month without a sync).
Each tick (20 ms of real time): 2 forward, 1 backward and, every 5th tick, 1 unknown step;
every 50th tick an event.
"""
import os
import select
import sys
import time

import link_session
import store

_SPEED = int(os.getenv("RS_SPEED") or "60")
_TICKS = int(os.getenv("RS_TICKS") or "0")
_T0 = time.ticks_ms()
_base = [0]


def clock():
    return _base[0] + time.ticks_diff(time.ticks_ms(), _T0) * _SPEED // 1000


def reboot():
    sys.exit(0)


def tick(st, i):
    st.add_steps(2, 1, 1 if i % 5 == 0 else 0)
    if i % 50 == 0:
        st.event({"type": "retro_goal", "ago_ms": 0, "goal": 400, "backward": i})
    st.poll()


def prefill(st, days):
    every = st.save_every_s
    st.save_every_s = 3600
    for i in range(days * 288):
        st.add_steps(60 + i % 40, i % 7, i % 3)
        if i % 96 == 0:
            st.event({"type": "retro_session", "ago_ms": 0, "steps": 300, "dur_ms": 200000,
                      "backward": 290, "unknown": 10, "forward": 0, "cadence": 100,
                      "unknown_pm": 33, "long": 0})
        _base[0] += 300
        st.poll()
    st.save_every_s = every
    st.save()


def main(st):
    # as the firmware's loop: wait for the host's bytes until the next tick is due
    lk = link_session.Link(st, {"board": "fake", "fw": "test", "uid": os.getenv("RS_UID") or "fake0001"},
                   handlers={"reboot": reboot, "stream": lambda on: {"rate_hz": 50}})
    p = select.poll()
    p.register(lk.inp, select.POLLIN)
    i = 0
    due = time.ticks_add(time.ticks_ms(), 20)
    while True:
        wait = time.ticks_diff(due, time.ticks_ms())
        if p.poll(max(0, wait)) and lk.on_input() is False:
            p.unregister(lk.inp)        # stdin closed
        if time.ticks_diff(time.ticks_ms(), due) >= 0:
            due = time.ticks_add(time.ticks_ms(), 20)
            if not _TICKS or i < _TICKS:
                i += 1
                tick(st, i)
                if i == _TICKS:
                    print("counted", st.totals())


st = store.Store(os.getenv("RS_ROOT") or "flash", clock,
                 settings_defaults={"retro_goal": 400, "cues": 1})
if os.getenv("RS_PREFILL_DAYS"):
    prefill(st, int(os.getenv("RS_PREFILL_DAYS") or "0"))
    print("prefilled", st.next_seq - 1)
try:
    main(st)
finally:
    st.close()
