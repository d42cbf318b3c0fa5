"""`retrostep history`: daily steps, retro goal, sessions and events from the history.

`--json` prints {"days": [{"date", "device", "forward", "backward", "unknown", "total",
"retro_goal", "goal_reached", "sessions", "long_cues", "stumbles", "falls", "events"}],
"sessions": [...], "events": [...], "weeks": [{"week", "device", "days", "total", "forward",
"backward", "unknown", "goal_days", "sessions", "long_cues", "stumbles", "falls"}]}.

The text output is one line per day and device (forward, backward, unknown, total, the retro
goal progress, sessions, long-session cues, stumbles, falls), then the retro sessions and the
events of the period, then the weekly view. A time marked "~" is approximate (the board had
not had its clock set when it happened). `--device` shows one device's (by its id, the start
of its id, or its wearer's label).

`--all-devices` is the clinic view: one line per device, newest sync first, over the last 7
days (or --days N): its wearer's label (`retrostep label`), steps, backward steps a day
against its retro goal, the days the goal was reached, sessions, long-session cues,
stumbles and falls; `--json` prints {"first_day", "last_day", "devices": [{"device",
"label", "board", "last_sync", "days", "active_days", "forward", "backward", "unknown",
"total", "backward_per_day", "retro_goal", "goal_days", "sessions", "long_cues",
"stumbles", "falls", "latest_date"}]}.
"""
from __future__ import annotations

import json

from .history_db import History, add_db_argument, weeks

ACTIVITIES = {"walk_backward": "walking backward", "walk_forward": "walking forward",
              "walk": "walking", "moving": "moving", "still": "still"}

APPROX_NOTE = "~ approximate time: the board's clock had not been set when it happened"


def collect(hist: History, days: int | None, device: str | None = None) -> dict:
    rows = hist.days(days, device=device)
    events = hist.events(days, device=device)
    return {"days": rows,
            "sessions": [e for e in events if e.get("type") == "retro_session"],
            "events": [e for e in events if e.get("type") != "retro_session"],
            "weeks": weeks(rows)}


def describe(e: dict) -> tuple[str, str]:
    """(what, details) of an event record, in words."""
    t = e.get("type")
    if t == "retro_goal":
        return "retro goal reached", f"{e.get('backward')} backward steps (goal {e.get('goal')})"
    if t == "retro_long":
        return ("long retro session",
                f"{int(e.get('dur_ms', 0)) // 1000} s, {e.get('steps')} steps: time for a break")
    if t == "fall":
        what = "fall" if e.get("kind") == "fall" else "stumble"
        act = ACTIVITIES.get(str(e.get("activity")), str(e.get("activity", "?")))
        return what, f"while {act}" + (f", peak {e['peak_mg'] / 1000:.1f} g" if e.get("peak_mg") else "")
    if t == "fault":
        return "sensor fault", f"{e.get('kind')}: {e.get('msg', '')}"
    if t == "calibration":
        return "calibration", ("forward axis " + str(e.get("axis"))) if e.get("ok") else "failed"
    skip = {"type", "device", "seq", "time", "approx_time"}
    return str(t), ", ".join(f"{k} {v}" for k, v in e.items() if k not in skip)


def duration(ms) -> str:
    s = int(ms or 0) // 1000
    return f"{s // 60} min {s % 60:02d} s"


def unknown_share(s: dict) -> str:
    return f"{int(s.get('unknown_pm', 0) or 0) / 10:.1f}%"


def when(e: dict) -> str:
    """The event's time, "~" in front when it is approximate."""
    return ("~" if e.get("approx_time") else "") + str(e["time"])


def add_parser(sub):
    p = sub.add_parser("history", help="daily steps from the history",
                       description="Daily forward and backward steps, the retro goal, "
                       "sessions and events, from the history that `retrostep sync` fills.")
    p.add_argument("--days", type=int, default=None, metavar="N",
                   help="only the last N days, today included (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_view_arguments(p, "the last 7 days")
    add_db_argument(p)
    return p


def add_view_arguments(p, span: str):
    """--device and --all-devices, shared with `retrostep report`."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--device", metavar="DEVICE",
                   help="only this device: its id, the start of its id, or its wearer's label")
    g.add_argument("--all-devices", action="store_true",
                   help=f"the clinic view: every device, newest sync first, over {span} (or "
                   "--days N): wearer, steps, retro steps against the goal, long-session cues, "
                   "stumbles and falls")


def clinic_period(hist: History, days: int | None) -> dict:
    rows = hist.clinic(days or 7)
    first = rows[0]["first_day"] if rows else None
    last = rows[0]["last_day"] if rows else None
    return {"first_day": first, "last_day": last, "devices": rows}


def format_clinic(data: dict) -> str:
    rows = data["devices"]
    out = [f"{len(rows)} device{'s' if len(rows) != 1 else ''}, {data['first_day']} to "
           f"{data['last_day']}, newest sync first",
           f"{'wearer':20} {'device':12} {'last sync':16} {'days':>4} {'steps':>7} "
           f"{'backward':>8}  {'a day / goal':>12}  {'goal days':>9}  {'sessions':>8}  "
           f"{'long cues':>9}  {'stumbles':>8}  {'falls':>5}"]
    for c in rows:
        sync = (c["last_sync"] or "never").replace("T", " ")[:16]
        goal = f"{c['backward_per_day']}/{c['retro_goal']}"
        out.append(f"{(c['label'] or '-')[:20]:20} {c['device'][:12]:12} {sync:16} "
                   f"{c['active_days']:4} {c['total']:7} {c['backward']:8}  {goal:>12}  "
                   f"{str(c['goal_days']) + '/' + str(c['days']):>9}  {c['sessions']:8}  "
                   f"{c['long_cues']:9}  {c['stumbles']:8}  {c['falls']:5}")
    return "\n".join(out)


def format_text(data: dict) -> str:
    out = [f"{'date':10}  {'device':12} {'forward':>7} {'backward':>8} {'unknown':>7} "
           f"{'total':>7}  {'retro goal':>13}  {'sessions':>8}  {'long cues':>9}  "
           f"{'stumbles':>8}  {'falls':>5}"]
    for d in data["days"]:
        goal = f"{d['backward']}/{d['retro_goal']}" + (" ok" if d["goal_reached"] else "")
        out.append(f"{d['date']:10}  {d['device'][:12]:12} {d['forward']:7} {d['backward']:8} "
                   f"{d['unknown']:7} {d['total']:7}  {goal:>13}  {d['sessions']:8}  "
                   f"{d['long_cues']:9}  {d['stumbles']:8}  {d['falls']:5}")
    approx = False
    out.append("")
    if data["sessions"]:
        out.append("retro sessions")
        out.append(f"  {'start':21} {'device':12} {'duration':>12} {'steps':>6} "
                   f"{'cadence':>9} {'unknown':>8}")
        for s in data["sessions"]:
            approx |= bool(s.get("approx_time"))
            out.append(f"  {when(s):21} {s['device'][:12]:12} {duration(s.get('dur_ms')):>12} "
                       f"{s.get('steps', ''):>6} {str(s.get('cadence', '')) + '/min':>9} "
                       f"{unknown_share(s):>8}" + ("  long" if s.get("long") else ""))
    else:
        out.append("no retro session in this period")
    out.append("")
    shown = [e for e in data["events"] if e.get("type") != "boot"]
    if shown:
        out.append("events")
        out.append(f"  {'time':21} {'device':12} {'kind':20} details")
        for e in shown:
            approx |= bool(e.get("approx_time"))
            what, details = describe(e)
            out.append(f"  {when(e):21} {e['device'][:12]:12} {what:20} {details}")
    else:
        out.append("no events in this period")
    if approx:
        out.append(f"  ({APPROX_NOTE})")
    if data["weeks"]:
        out.append("")
        out.append(f"{'week of':10}  {'device':12} {'days':>4} {'total':>7} {'backward':>8}  "
                   f"{'goal days':>9}  {'sessions':>8}  {'long cues':>9}  {'stumbles':>8}  "
                   f"{'falls':>5}")
        for w in data["weeks"]:
            out.append(f"{w['week']:10}  {w['device'][:12]:12} {w['days']:4} {w['total']:7} "
                       f"{w['backward']:8}  {w['goal_days']:9}  {w['sessions']:8}  "
                       f"{w['long_cues']:9}  {w['stumbles']:8}  {w['falls']:5}")
    return "\n".join(out)


def run(args) -> int:
    from .errors import UserError
    if args.days is not None and args.days < 1:
        raise UserError("--days must be 1 or more")
    with History(args.db, mode="read") as hist:
        if args.all_devices:
            data = clinic_period(hist, args.days)
        else:
            device = hist.find_device(args.device) if args.device else None
            data = collect(hist, args.days, device)
    if args.all_devices:
        if args.json:
            print(json.dumps(data, indent=1))
        elif not data["devices"]:
            print(f"no device in the history yet ({hist.where}); run `retrostep sync`")
        else:
            print(format_clinic(data))
        return 0
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    if not data["days"]:
        print(f"no steps in the history yet ({hist.where}); run `retrostep sync`")
        return 0
    print(format_text(data))
    return 0
