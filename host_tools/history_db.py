"""The step history on the PC: one SQLite file, several devices.

Records are keyed by (device unique id, store id, sequence number): syncing the same
records again changes nothing, and a device whose storage was wiped (new store id) starts
a new sequence without clashing with its old one. Each sync commits its records in one
transaction before the device is told it may forget them.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from .errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    uid TEXT PRIMARY KEY, board TEXT, fw TEXT, first_sync REAL, last_sync REAL,
    settings TEXT, info TEXT);
CREATE TABLE IF NOT EXISTS boots (
    uid TEXT, sid TEXT, boot INTEGER, offset INTEGER, estimated INTEGER,
    PRIMARY KEY (uid, sid, boot));
CREATE TABLE IF NOT EXISTS records (
    uid TEXT, sid TEXT, seq INTEGER, boot INTEGER, kind INTEGER, uptime INTEGER,
    t REAL, approx INTEGER, forward INTEGER, backward INTEGER, unknown INTEGER,
    seconds INTEGER, type TEXT, data TEXT,
    PRIMARY KEY (uid, sid, seq));
CREATE INDEX IF NOT EXISTS records_t ON records (t);
CREATE TABLE IF NOT EXISTS syncs (
    id INTEGER PRIMARY KEY, uid TEXT, sid TEXT, at REAL, received INTEGER, new INTEGER,
    last_seq INTEGER);
CREATE TABLE IF NOT EXISTS settings_log (
    uid TEXT, at REAL, settings TEXT, PRIMARY KEY (uid, at));
"""

DEFAULT_GOAL = 400


def default_path() -> Path:
    import platformdirs
    return Path(platformdirs.user_data_dir("retrostep", appauthor=False)) / "history.sqlite"


def add_db_argument(p):
    p.add_argument("--db", type=Path, default=None,
                   help=f"history file (default: {default_path()})")


class History:
    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = sqlite3.connect(self.path, timeout=10)
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.executescript(SCHEMA)
            with self.con:
                # a history from before the dated settings: what it last saw, when it saw it
                self.con.execute(
                    "INSERT OR IGNORE INTO settings_log SELECT uid, last_sync, settings "
                    "FROM devices WHERE settings IS NOT NULL AND last_sync IS NOT NULL AND "
                    "uid NOT IN (SELECT uid FROM settings_log)")
        except sqlite3.DatabaseError as e:
            raise UserError(f"{self.path}: not a retrostep history ({e})") from None

    def close(self):
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- sync ------------------------------------------------------------------------
    def last_seq(self, uid: str, sid: str) -> int:
        r = self.con.execute("SELECT MAX(seq) FROM records WHERE uid=? AND sid=?",
                             (uid, sid)).fetchone()
        return r[0] or 0

    def boot_offsets(self, uid: str, sid: str) -> dict[int, tuple[int, bool]]:
        rows = self.con.execute("SELECT boot, offset, estimated FROM boots WHERE uid=? AND sid=?",
                                (uid, sid))
        return {b: (o, bool(e)) for b, o, e in rows}

    def store_batch(self, uid: str, sid: str, info: dict, boots: list, records, now: float,
                    settings: dict | None = None) -> int:
        """Stores one batch in one transaction; returns how many records were new."""
        with self.con:
            self.con.execute(
                "INSERT INTO devices (uid, board, fw, first_sync, last_sync, info) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(uid) DO UPDATE SET board=excluded.board,"
                " fw=excluded.fw, last_sync=excluded.last_sync, info=excluded.info",
                (uid, info.get("board"), info.get("fw"), now, now, json.dumps(info)))
            if settings is not None:
                text = json.dumps(settings, sort_keys=True)
                self.con.execute("UPDATE devices SET settings=? WHERE uid=?", (text, uid))
                # a dated record of the settings seen at each sync (only when they changed):
                # a past day keeps the goal that was in force on it
                prev = self.con.execute(
                    "SELECT settings FROM settings_log WHERE uid=? AND at<=? "
                    "ORDER BY at DESC LIMIT 1", (uid, now)).fetchone()
                if prev is None or json.loads(prev[0]) != json.loads(text):
                    self.con.execute("INSERT OR REPLACE INTO settings_log VALUES (?, ?, ?)",
                                     (uid, now, text))
            for b, off, _last, est in boots:
                if off is None:
                    continue
                # a measured offset replaces an estimate, never the other way round
                self.con.execute(
                    "INSERT INTO boots VALUES (?, ?, ?, ?, ?) ON CONFLICT(uid, sid, boot) DO "
                    "UPDATE SET offset=excluded.offset, estimated=excluded.estimated "
                    "WHERE boots.estimated >= excluded.estimated",
                    (uid, sid, b, off, int(bool(est))))
            offsets = self.boot_offsets(uid, sid)
            new = 0
            for r in records:
                off = offsets.get(r.boot)
                if off is None:
                    t, approx = now, 1
                else:
                    t, approx = r.t + off[0], int(off[1])
                data = r.data or {}
                cur = self.con.execute(
                    "INSERT OR IGNORE INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (uid, sid, r.seq, r.boot, r.kind, r.t, t, approx, r.fwd, r.bwd, r.unk,
                     r.dur, data.get("type"), json.dumps(data) if r.data is not None else None))
                new += cur.rowcount
        return new

    def log_sync(self, uid: str, sid: str, now: float, received: int, new: int, last_seq: int):
        with self.con:
            self.con.execute("INSERT INTO syncs (uid, sid, at, received, new, last_seq) "
                             "VALUES (?,?,?,?,?,?)", (uid, sid, now, received, new, last_seq))

    # ---- queries ---------------------------------------------------------------------
    def devices(self) -> list[dict]:
        rows = self.con.execute("SELECT uid, board, fw, first_sync, last_sync, settings "
                                "FROM devices ORDER BY uid").fetchall()
        return [{"uid": u, "board": b, "fw": f, "first_sync": fs, "last_sync": ls,
                 "settings": json.loads(s) if s else {}} for u, b, f, fs, ls, s in rows]

    def settings_history(self, uid: str) -> list[tuple[float, dict]]:
        """(time seen at a sync, settings) of one device, oldest first."""
        rows = self.con.execute("SELECT at, settings FROM settings_log WHERE uid=? ORDER BY at",
                                (uid,))
        return [(at, json.loads(s) if s else {}) for at, s in rows]

    def goal_on(self, uid: str, date: str,
                log: list[tuple[float, dict]] | None = None) -> int | None:
        """The retro goal in force on a local date: from the latest settings seen at or before
        the day's end; None when no sync had seen the settings by then."""
        if log is None:
            log = self.settings_history(uid)
        end = (dt.datetime.fromisoformat(date) + dt.timedelta(days=1)).timestamp()
        seen = [s for at, s in log if at < end]
        if seen:
            return int(seen[-1].get("retro_goal", DEFAULT_GOAL))
        return None

    def totals(self, uid: str | None = None) -> tuple[int, int, int]:
        q = "SELECT COALESCE(SUM(forward),0), COALESCE(SUM(backward),0), " \
            "COALESCE(SUM(unknown),0) FROM records WHERE kind=1"
        args: tuple = ()
        if uid:
            q += " AND uid=?"
            args = (uid,)
        return tuple(self.con.execute(q, args).fetchone())  # type: ignore[return-value]

    def days(self, days: int | None = None, today: dt.date | None = None) -> list[dict]:
        """Per local date and device: steps, retro goal and what happened."""
        logs = {d["uid"]: self.settings_history(d["uid"]) for d in self.devices()}
        goal_events: dict[tuple[str, str], int] = {}
        out: dict[tuple[str, str], dict] = {}
        rows = self.con.execute("SELECT uid, kind, t, forward, backward, unknown, type, data "
                                "FROM records ORDER BY t")
        for uid, kind, t, f, b, u, typ, data in rows:
            date = dt.datetime.fromtimestamp(t).date().isoformat()
            d = out.get((date, uid))
            if d is None:
                d = out[(date, uid)] = {
                    "date": date, "device": uid, "forward": 0, "backward": 0, "unknown": 0,
                    "total": 0, "retro_goal": None,
                    "goal_reached": False, "sessions": 0, "long_cues": 0, "stumbles": 0,
                    "falls": 0, "events": 0}
            if kind == 1:
                d["forward"] += f
                d["backward"] += b
                d["unknown"] += u
                d["total"] += f + b + u
            else:
                d["events"] += 1
                ev = json.loads(data) if data else {}
                if typ == "retro_session":
                    d["sessions"] += 1
                elif typ == "retro_long":
                    d["long_cues"] += 1
                elif typ == "fall":
                    d["falls" if ev.get("kind") == "fall" else "stumbles"] += 1
                elif typ == "retro_goal":
                    d["goal_reached"] = True
                    if isinstance(ev.get("goal"), int):
                        goal_events[(date, uid)] = ev["goal"]
        res = sorted(out.values(), key=lambda d: (d["date"], d["device"]))
        for d in res:
            # the goal in force that day: the settings seen by the latest sync at or before
            # the day's end; for a day before any sync saw them, the goal its own retro_goal
            # record names, else the first settings seen (a device whose settings were
            # never seen has none logged: the default)
            uid = d["device"]
            log = logs.get(uid) or []
            goal = self.goal_on(uid, d["date"], log)
            if goal is None:
                goal = goal_events.get((d["date"], uid))
            if goal is None:
                goal = int(log[0][1].get("retro_goal", DEFAULT_GOAL)) if log else DEFAULT_GOAL
            d["retro_goal"] = goal
            if d["retro_goal"] and d["backward"] >= d["retro_goal"]:
                d["goal_reached"] = True
        if days is not None:
            first = (today or dt.date.today()) - dt.timedelta(days=days - 1)
            res = [d for d in res if d["date"] >= first.isoformat()]
        return res

    def events(self, days: int | None = None, today: dt.date | None = None) -> list[dict]:
        rows = self.con.execute("SELECT uid, seq, t, approx, type, data FROM records "
                                "WHERE kind=2 ORDER BY t, seq").fetchall()
        first = None
        if days is not None:
            first = (today or dt.date.today()) - dt.timedelta(days=days - 1)
        out = []
        for uid, seq, t, approx, typ, data in rows:
            when = dt.datetime.fromtimestamp(t)
            if first and when.date() < first:
                continue
            ev = json.loads(data) if data else {}
            ev.update({"device": uid, "seq": seq, "time": when.isoformat(timespec="seconds"),
                       "type": typ, "approx_time": bool(approx)})
            out.append(ev)
        return out

    def bins(self, date: str, uid: str | None = None) -> list[tuple[float, int, int, int]]:
        """(time, forward, backward, unknown) of the 5-minute bins of one local date."""
        d0 = dt.datetime.fromisoformat(date)
        t0 = d0.timestamp()
        t1 = (d0 + dt.timedelta(days=1)).timestamp()
        q = "SELECT t, forward, backward, unknown FROM records WHERE kind=1 AND t>=? AND t<?"
        args: list = [t0, t1]
        if uid:
            q += " AND uid=?"
            args.append(uid)
        return [tuple(r) for r in self.con.execute(q + " ORDER BY t", args)]  # type: ignore


def weeks(days: list[dict]) -> list[dict]:
    """7-day sums (ISO weeks, Monday first) of per-day rows."""
    out: dict[tuple[str, str], dict] = {}
    for d in days:
        day = dt.date.fromisoformat(d["date"])
        monday = (day - dt.timedelta(days=day.weekday())).isoformat()
        w = out.get((monday, d["device"]))
        if w is None:
            w = out[(monday, d["device"])] = {
                "week": monday, "device": d["device"], "total": 0, "forward": 0,
                "backward": 0, "unknown": 0, "goal_days": 0, "sessions": 0, "long_cues": 0,
                "falls": 0, "stumbles": 0, "days": 0}
        for k in ("total", "forward", "backward", "unknown", "sessions", "long_cues", "falls",
                  "stumbles"):
            w[k] += d[k]
        w["goal_days"] += int(d["goal_reached"])
        w["days"] += 1
    return sorted(out.values(), key=lambda w: (w["week"], w["device"]))
