"""`retrostep demo`: a simulated day on the virtual device, synced, summarised, reported.

The day is a few bouts of walking and one retro-walking session. Each bout runs on the
virtual device (the real firmware on the MicroPython Unix port, sim board, its emulated
IMU playing the simulator's trace, on a clock that runs faster than real time); at the
end of each bout the host syncs it, setting the device's clock to that hour of the day,
then the device is switched off until the next bout, as a wearer would do. Everything
goes to a demo history, not the user's own.
"""
from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

from .errors import UserError

# (hour, minute, simulator script) of the demo day
DAY = [
    (8, 15, "walk 260, stand 15s"),
    (12, 40, "walk 120, turn, retro 420, stand 25s"),
    (18, 5, "walk 240, stand 15s"),
]
# a shorter day for quick checks
QUICK_DAY = [(9, 0, "walk 40, stand 5s"), (13, 0, "retro 30, stand 5s"), (19, 0, "walk 30, stand 5s")]


def demo_dir() -> Path:
    import platformdirs
    return Path(platformdirs.user_data_dir("retrostep", appauthor=False)) / "demo"


def run_bout(flash: Path, trace: Path, seconds: float, hist, now: float, log=print):
    """One bout: boot the device, let it play the trace, sync at `now`, switch it off."""
    from .emulate_cmd import sim_board
    from .link_client import LinkClient
    from .sync_cmd import sync_device
    dev = sim_board(flash, trace=trace, fast=True, end="rest")
    dev.start()
    try:
        with LinkClient.open(dev.path, timeout=2.0) as c:
            info = c.identify()
            end = time.monotonic() + 120
            while info["uptime"] < seconds + 3:
                if time.monotonic() > end:
                    raise UserError("the virtual device did not finish its bout in 2 minutes")
                time.sleep(0.25)
                info = c.identify()
            res = sync_device(c, hist, now=now)
            c.ser.write(b"\x03")   # Ctrl-C: the firmware stops cleanly and saves
            time.sleep(0.3)
        return res
    finally:
        dev.stop()


def add_parser(sub):
    p = sub.add_parser("demo", help="a simulated day on the virtual device, synced and reported",
                       description="See retrostep at work without a board: a simulated day of"
                       " walking (forward and backward) is played on a virtual device running the"
                       " real firmware, synced into a demo history after each walk, summed up and"
                       " written as an HTML report. Your own history is not touched.")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"folder for the demo's device flash, history and report "
                   f"(default: {demo_dir()})")
    p.add_argument("--db", default=None, metavar="FILE|URL",
                   help="the history: a file or a postgresql:// URL (default: a fresh demo "
                   "history in --out)")
    p.add_argument("--html", type=Path, default=None, metavar="FILE",
                   help="report file (default: in --out)")
    p.add_argument("--quick", action="store_true", help="a much shorter day (for checks)")
    return p


def run(args) -> int:
    from . import sim
    from .history_db import History
    from .report_cmd import write_report
    from .emulate_cmd import install_firmware
    t0 = time.monotonic()
    out = args.out or demo_dir()
    out.mkdir(parents=True, exist_ok=True)
    flash = out / "flash"
    shutil.rmtree(flash, ignore_errors=True)
    install_firmware(flash)
    db = args.db or out / "history.sqlite"
    if not args.db:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    today = dt.date.today()
    traces = out / "traces"
    print(f"simulating a day on the virtual device (firmware {flash}) ...", flush=True)
    with History(db) as hist:
        res = None
        for i, (hh, mm, script) in enumerate(QUICK_DAY if args.quick else DAY):
            tr = sim.simulate(script=script, placement="waist", sensor="bmi160", rate_hz=50,
                              seed=11 + i)
            sim.write(tr, traces, f"bout{i + 1}")
            seconds = len(tr) / 50.0
            when = dt.datetime.combine(today, dt.time(hh, mm)) + dt.timedelta(seconds=seconds)
            res = run_bout(flash, traces / f"bout{i + 1}.csv", seconds, hist, when.timestamp())
            print(f"  {when:%H:%M}  {script:38}  synced {res.received} records", flush=True)
        assert res is not None
        days = [d for d in hist.days() if d["date"] == today.isoformat() and d["device"] == res.uid]
        if not days:
            raise UserError("the demo day produced no steps")
        d = days[0]
        report = write_report(hist, args.html or out / "report.html", days=7)
        dev_total = sum(res.device_totals)
    goal = d["retro_goal"]
    pct = 100 * d["backward"] // goal if goal else 0
    print()
    print(f"The day on device {d['device']} ({today}):")
    print(f"  total steps     {d['total']}  (the device counted {dev_total})")
    print(f"  forward         {d['forward']}")
    print(f"  backward        {d['backward']}")
    print(f"  unknown dir.    {d['unknown']}")
    print(f"  retro goal      {d['backward']} / {goal} backward steps ({pct}%)"
          + ("  reached" if d["goal_reached"] else ""))
    print(f"  retro sessions  {d['sessions']}, events {d['events']}")
    print(f"history: {hist.where}")
    print(f"report written to {report}")
    print(f"(demo took {time.monotonic() - t0:.0f} s)")
    return 0
