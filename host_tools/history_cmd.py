"""`retrostep history`: daily steps, retro goal, sessions and events from the history.

`--json` prints {"days": [{"date", "device", "forward", "backward", "unknown", "total",
"retro_goal", "goal_reached", "sessions", "long_cues", "stumbles", "falls", "events"}],
"sessions": [...], "events": [...], "weeks": [...]}.
"""
from __future__ import annotations

import json

from .history_db import History, add_db_argument, weeks


def collect(hist: History, days: int | None) -> dict:
    rows = hist.days(days)
    events = hist.events(days)
    return {"days": rows,
            "sessions": [e for e in events if e.get("type") == "retro_session"],
            "events": [e for e in events if e.get("type") != "retro_session"],
            "weeks": weeks(rows)}


def add_parser(sub):
    p = sub.add_parser("history", help="daily steps from the history",
                       description="Daily forward and backward steps, the retro goal, "
                       "sessions and events, from the history that `retrostep sync` fills.")
    p.add_argument("--days", type=int, default=None, help="only the last N days")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_db_argument(p)
    return p


def run(args) -> int:
    from .errors import UserError
    if args.days is not None and args.days < 1:
        raise UserError("--days must be 1 or more")
    with History(args.db) as hist:
        data = collect(hist, args.days)
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    if not data["days"]:
        print(f"no steps in the history yet ({hist.path}); run `retrostep sync`")
        return 0
    print(f"{'date':10}  {'device':12} {'total':>7} {'forward':>7} {'backward':>8} "
          f"{'unknown':>7}  {'retro goal':>10}  sessions  events")
    for d in data["days"]:
        goal = f"{d['backward']}/{d['retro_goal']}" + (" ok" if d["goal_reached"] else "")
        print(f"{d['date']:10}  {d['device'][:12]:12} {d['total']:7} {d['forward']:7} "
              f"{d['backward']:8} {d['unknown']:7}  {goal:>10}  {d['sessions']:8}  "
              f"{d['long_cues'] + d['stumbles'] + d['falls']:6}")
    if len(data["weeks"]) > 1 or len(data["days"]) > 7:
        print()
        print(f"{'week of':10}  {'device':12} {'total':>7} {'backward':>8}  goal days  sessions")
        for w in data["weeks"]:
            print(f"{w['week']:10}  {w['device'][:12]:12} {w['total']:7} {w['backward']:8}  "
                  f"{w['goal_days']:9}  {w['sessions']:8}")
    return 0
