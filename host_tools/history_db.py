"""The step history on the PC: one SQLite file, several devices.

Records are keyed by (device unique id, store id, sequence number): syncing the same
records again changes nothing, and a device whose storage was wiped (new store id) starts
a new sequence without clashing with its old one. Each sync commits its records in one
transaction before the device is told it may forget them.

Opening is careful with the file (`History(path, mode)`):
- mode "read" (history, report): the file must exist; nothing can be written through the
  connection (SQLite's read-only mode where the file or folder is read-only, so a history
  on read-only media or another user's can be read; elsewhere `PRAGMA query_only`, which
  also tidies away the WAL's side files when it closes).
- mode "write" (sync): nothing is created until there is something to write (a failed
  sync leaves no empty history behind, and no folders); a read-only history is refused
  before the device is asked for anything.
- A file that is not a retrostep history (another program's SQLite database, or not a
  database at all) is refused untouched. A retrostep history says so in its header
  (`PRAGMA application_id`); one from before that is known by its tables.
- A damaged file is reported with what `PRAGMA integrity_check` finds and what to do,
  never as a traceback: an existing history is checked when it is opened (`PRAGMA
  quick_check`, which reads every page), and any error that means damage later is
  reported the same way. Nothing is written to a damaged history.

The SQL lives in History; what depends on the database itself (opening, telling a
history from another program's data, the integrity check, which errors mean damage) is
the back end's (SQLiteFile), so another back end can be added beside it.
"""
from __future__ import annotations

import datetime as dt
import json
import os
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
# the tables that make a file a retrostep history (settings_log came later)
CORE_TABLES = frozenset({"devices", "boots", "records", "syncs"})
APPLICATION_ID = 0x72537470     # "rStp": PRAGMA application_id of a retrostep history
SCHEMA_VERSION = 1              # PRAGMA user_version

DEFAULT_GOAL = 400


def default_path() -> Path:
    import platformdirs
    return Path(platformdirs.user_data_dir("retrostep", appauthor=False)) / "history.sqlite"


def add_db_argument(p):
    p.add_argument("--db", type=Path, default=None, metavar="FILE",
                   help=f"the history file (default: {default_path()})")


class HistoryError(UserError):
    """The history cannot be used as asked: missing, not a history, damaged, read-only."""


def back_end(db) -> "SQLiteFile":
    """The back end for a --db value: an SQLite file (the one kind so far)."""
    return SQLiteFile(Path(db))


class SQLiteFile:
    """The history's back end: an SQLite file. History asks it to say what is there
    (probe), to open it for reading or writing, to prepare and mark a new history, to check
    it (integrity), whether an error means damage, and how to recover; the checks built on
    these and the queries are History's own."""

    errors = (sqlite3.Error,)

    def __init__(self, path: Path):
        self.path = Path(path)

    def probe(self) -> tuple[str, str]:
        """What is there, without writing anything: ("missing" | "empty" | "ours" |
        "foreign", details). Raises sqlite3 errors when the file is damaged."""
        p = self.path
        if p.is_dir():
            return "foreign", "it is a folder"
        try:
            with open(p, "rb") as f:
                head = f.read(100)
        except FileNotFoundError:
            return "missing", ""
        except OSError as e:
            raise HistoryError(f"{p}: cannot read it: {e.strerror or e}") from None
        if not head:
            return "empty", ""          # a creation cut short: nothing in it to lose
        if len(head) < 100 or head[:16] != b"SQLite format 3\x00":
            return "foreign", "not an SQLite database"
        # the file header says whose it is (offsets 60 and 68 of SQLite's file format)
        version = int.from_bytes(head[60:64], "big")
        app = int.from_bytes(head[68:72], "big")
        if app and app != APPLICATION_ID:
            return "foreign", f"another program's SQLite database (application id 0x{app:08x})"
        if app == APPLICATION_ID and version > SCHEMA_VERSION:
            return "foreign", (f"written by a newer retrostep (history format {version}, this"
                               f" one reads {SCHEMA_VERSION}): update retrostep")
        con = self.connect(write=False)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
        if app == APPLICATION_ID or CORE_TABLES <= tables:   # marked, or from before the mark
            return "ours", ",".join(sorted(tables))
        if not tables:
            return "empty", ""
        names = sorted(tables)
        return "foreign", (f"an SQLite database with other tables: {', '.join(names[:6])}"
                           + (", ..." if len(names) > 6 else ""))

    def connect(self, write: bool, create: bool = False) -> sqlite3.Connection:
        """A connection that writes, or one through which nothing can be written."""
        uri = self.path.resolve().as_uri()
        if write:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            return sqlite3.connect(f"{uri}?mode={'rwc' if create else 'rw'}", uri=True, timeout=10)
        wal = Path(str(self.path) + "-wal")
        if self.writable() and not wal.exists():
            # SQLite's read-only mode leaves a WAL history's -wal and -shm files behind: where
            # it may, it reads through a connection that refuses writes (query_only) and
            # removes them when it closes
            con = sqlite3.connect(f"{uri}?mode=rw", uri=True, timeout=10)
            con.execute("PRAGMA query_only=ON")
            return con
        con = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=10)
        try:
            con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return con
        except sqlite3.OperationalError:
            # a history in WAL mode needs to write its -shm file even to read; where it
            # cannot (read-only file or folder), it is read as it is on disk
            con.close()
            return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=10)

    def prepare(self, con: sqlite3.Connection):
        """Makes the tables a history needs (those missing) and marks the file as one."""
        con.execute("PRAGMA journal_mode=WAL")      # a report can read while a sync writes
        con.executescript(SCHEMA + f"PRAGMA application_id={APPLICATION_ID};"
                          f"PRAGMA user_version={SCHEMA_VERSION};")

    def writable(self) -> bool:
        folder = self.path.parent if str(self.path.parent) else Path(".")
        return os.access(self.path, os.W_OK) and os.access(folder, os.W_OK)

    def integrity(self, quick: bool = False, most: int = 5) -> list[str]:
        """What SQLite's own check finds: ["ok"] for a sound file, else its first findings."""
        try:
            con = self.connect(write=False)
            try:
                rows = con.execute(f"PRAGMA {'quick_check' if quick else 'integrity_check'}({most})")
                return [str(r[0]) for r in rows]
            finally:
                con.close()
        except sqlite3.Error as e:
            return [str(e)]

    @staticmethod
    def is_damage(e: Exception) -> bool:
        code = getattr(e, "sqlite_errorcode", 0) & 0xFF
        return code in (11, 26) or "malformed" in str(e)      # SQLITE_CORRUPT, SQLITE_NOTADB

    def recovery(self) -> str:
        p = self.path
        new = p.with_name(p.stem + "-recovered" + p.suffix)
        return (f"keep a copy of {p.name}, then restore it from a backup, or save what SQLite can"
                f" still read with `sqlite3 {p} .recover | sqlite3 {new}` and use --db {new}"
                " (a sync then fetches again what the device still holds)")


class History:
    def __init__(self, path: Path | str | None = None, mode: str = "write"):
        """mode "read": an existing history, opened read-only; "write": created at the
        first write (see the module's docstring)."""
        if mode not in ("read", "write"):
            raise ValueError(f"mode must be read or write, not {mode!r}")
        self.path = Path(path) if path else default_path()
        self.mode = mode
        self.db = back_end(self.path)
        self.con: sqlite3.Connection | None = None
        self._prepared = False
        try:
            state, detail = self.db.probe()
        except self.db.errors as e:
            raise self._failure(e) from None
        self._tables = set(detail.split(",")) if state == "ours" else set()
        if state == "foreign":
            raise HistoryError(f"{self.path}: not a retrostep history ({detail}); it was left as it"
                               " is. Give --db a retrostep history, or a new file name to start one")
        if state == "missing" and mode == "read":
            raise HistoryError(f"{self.path}: no history there (no such file). `retrostep sync`"
                               " starts one; if yours is elsewhere, give --db FILE")
        if state == "missing":
            return              # created by the first write
        try:
            if mode == "write" and not self.db.writable():
                raise HistoryError(f"{self.path}: the history is read-only here, so sync cannot add"
                                   " to it (nothing was asked of the device); make it writable,"
                                   " or give --db a copy you can write")
            # a damaged page may lie where no query of this command looks: checked at once
            # (SQLite's quick check reads every page: well under a second for years of steps)
            if self.db.integrity(quick=True) != ["ok"]:
                raise self._damaged(self.db.integrity())
            self.con = self.db.connect(write=mode == "write")
        except self.db.errors as e:
            raise self._failure(e) from None

    def close(self):
        if self.con is not None:
            self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the database ----------------------------------------------------------------
    def _damaged(self, found: list[str]) -> HistoryError:
        return HistoryError(f"{self.path}: the history is damaged; SQLite's integrity check"
                            f" says: {'; '.join(found)}. Nothing was changed: "
                            + self.db.recovery())

    def _failure(self, e: Exception) -> HistoryError:
        """A database error in words: damage with the integrity check's findings, else what
        went wrong."""
        if self.db.is_damage(e):
            found = self.db.integrity()
            return self._damaged(found if found != ["ok"] else [str(e)])
        text = str(e)
        if "locked" in text or "busy" in text:
            return HistoryError(f"{self.path}: the history is busy (another retrostep writing to"
                                " it?); try again in a moment")
        if "readonly" in text or "read-only" in text:
            return HistoryError(f"{self.path}: the history is read-only here; make it writable")
        return HistoryError(f"{self.path}: {text}")

    def _q(self, sql: str, args=()) -> list[tuple]:
        """Rows of a query; none before the history (or its tables) exists."""
        if self.con is None or not self._tables:
            return []
        try:
            return self.con.execute(sql, args).fetchall()
        except self.db.errors as e:
            raise self._failure(e) from None

    def _writer(self) -> sqlite3.Connection:
        """The connection to write with: the file and its tables made at the first write."""
        if self.mode != "write":
            raise RuntimeError("this History was opened to read")
        if self._prepared:
            return self.con  # type: ignore[return-value]
        if self.con is None:
            self.con = self.db.connect(write=True, create=True)
        con = self.con
        self.db.prepare(con)
        with con:
            # a history from before the dated settings: what it last saw, when it saw it
            con.execute(
                "INSERT OR IGNORE INTO settings_log SELECT uid, last_sync, settings "
                "FROM devices WHERE settings IS NOT NULL AND last_sync IS NOT NULL AND "
                "uid NOT IN (SELECT uid FROM settings_log)")
        self._tables = set(CORE_TABLES) | {"settings_log"}
        self._prepared = True
        return con

    # ---- sync ------------------------------------------------------------------------
    def last_seq(self, uid: str, sid: str) -> int:
        r = self._q("SELECT MAX(seq) FROM records WHERE uid=? AND sid=?", (uid, sid))
        return (r[0][0] if r else 0) or 0

    def boot_offsets(self, uid: str, sid: str) -> dict[int, tuple[int, bool]]:
        rows = self._q("SELECT boot, offset, estimated FROM boots WHERE uid=? AND sid=?", (uid, sid))
        return {b: (o, bool(e)) for b, o, e in rows}

    def store_batch(self, uid: str, sid: str, info: dict, boots: list, records, now: float,
                    settings: dict | None = None) -> int:
        """Stores one batch in one transaction; returns how many records were new."""
        try:
            return self._store_batch(self._writer(), uid, sid, info, boots, records, now, settings)
        except self.db.errors as e:
            raise self._failure(e) from None

    def _store_batch(self, con, uid, sid, info, boots, records, now, settings) -> int:
        with con:
            con.execute(
                "INSERT INTO devices (uid, board, fw, first_sync, last_sync, info) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(uid) DO UPDATE SET board=excluded.board,"
                " fw=excluded.fw, last_sync=excluded.last_sync, info=excluded.info",
                (uid, info.get("board"), info.get("fw"), now, now, json.dumps(info)))
            if settings is not None:
                text = json.dumps(settings, sort_keys=True)
                con.execute("UPDATE devices SET settings=? WHERE uid=?", (text, uid))
                # a dated record of the settings seen at each sync (only when they changed):
                # a past day keeps the goal that was in force on it
                prev = con.execute(
                    "SELECT settings FROM settings_log WHERE uid=? AND at<=? "
                    "ORDER BY at DESC LIMIT 1", (uid, now)).fetchone()
                if prev is None or json.loads(prev[0]) != json.loads(text):
                    con.execute("INSERT OR REPLACE INTO settings_log VALUES (?, ?, ?)",
                                     (uid, now, text))
            for b, off, _last, est in boots:
                if off is None:
                    continue
                # a measured offset replaces an estimate, never the other way round
                con.execute(
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
                cur = con.execute(
                    "INSERT OR IGNORE INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (uid, sid, r.seq, r.boot, r.kind, r.t, t, approx, r.fwd, r.bwd, r.unk,
                     r.dur, data.get("type"), json.dumps(data) if r.data is not None else None))
                new += cur.rowcount
        return new

    def log_sync(self, uid: str, sid: str, now: float, received: int, new: int, last_seq: int):
        try:
            con = self._writer()
            with con:
                con.execute("INSERT INTO syncs (uid, sid, at, received, new, last_seq) "
                            "VALUES (?,?,?,?,?,?)", (uid, sid, now, received, new, last_seq))
        except self.db.errors as e:
            raise self._failure(e) from None

    # ---- queries ---------------------------------------------------------------------
    def devices(self) -> list[dict]:
        rows = self._q("SELECT uid, board, fw, first_sync, last_sync, settings "
                       "FROM devices ORDER BY uid")
        return [{"uid": u, "board": b, "fw": f, "first_sync": fs, "last_sync": ls,
                 "settings": json.loads(s) if s else {}} for u, b, f, fs, ls, s in rows]

    def settings_history(self, uid: str) -> list[tuple[float, dict]]:
        """(time seen at a sync, settings) of one device, oldest first."""
        if self.con is not None and "settings_log" not in self._tables:
            # a history from before the dated settings, read as it is: what it last saw
            rows = self._q("SELECT last_sync, settings FROM devices WHERE uid=? AND settings IS"
                           " NOT NULL AND last_sync IS NOT NULL", (uid,))
        else:
            rows = self._q("SELECT at, settings FROM settings_log WHERE uid=? ORDER BY at", (uid,))
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
        r = self._q(q, args)
        return tuple(r[0]) if r else (0, 0, 0)  # type: ignore[return-value]

    def days(self, days: int | None = None, today: dt.date | None = None) -> list[dict]:
        """Per local date and device: steps, retro goal and what happened."""
        logs = {d["uid"]: self.settings_history(d["uid"]) for d in self.devices()}
        goal_events: dict[tuple[str, str], int] = {}
        out: dict[tuple[str, str], dict] = {}
        rows = self._q("SELECT uid, kind, t, forward, backward, unknown, type, data "
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
        first = first_day(days, today)
        if first is not None:
            res = [d for d in res if d["date"] >= first.isoformat()]
        return res

    def events(self, days: int | None = None, today: dt.date | None = None) -> list[dict]:
        rows = self._q("SELECT uid, seq, t, approx, type, data FROM records "
                       "WHERE kind=2 ORDER BY t, seq")
        first = first_day(days, today)
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
        return [tuple(r) for r in self._q(q + " ORDER BY t", args)]  # type: ignore


def first_day(days: int | None, today: dt.date | None = None) -> dt.date | None:
    """The first date of "the last N days" (today counts); None for all (N None, or more
    days than the calendar has before today)."""
    if days is None:
        return None
    if days < 1:
        raise ValueError("days must be 1 or more")
    today = today or dt.date.today()
    if days - 1 >= (today - dt.date.min).days:
        return None
    return today - dt.timedelta(days=days - 1)


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
