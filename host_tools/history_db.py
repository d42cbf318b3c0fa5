"""The step history on the PC: an SQLite file, or a PostgreSQL database that a clinic's
sync stations share; several devices either way.

Records are keyed by (device unique id, store id, sequence number): syncing the same
records again changes nothing, and a device whose storage was wiped (new store id) starts
a new sequence without clashing with its old one. Each sync commits its records in one
transaction before the device is told it may forget them. The key is the database's own
(a primary key, and INSERT ... ON CONFLICT DO NOTHING), so syncs of the same device that
run at once, from two stations, still count each record once: no check in Python decides
whether a record is new.

Opening is careful with what is there (`History(db, mode)`; db is a file path or a
postgresql:// URL, default $RETROSTEP_DB, else a file in the user's data folder):
- mode "read" (history, report): the history must exist; nothing can be written through the
  connection (SQLite's read-only mode where the file or folder is read-only, so a history
  on read-only media or another user's can be read; elsewhere `PRAGMA query_only`, which
  also tidies away the WAL's side files when it closes; on PostgreSQL a session whose
  transactions are all read-only).
- mode "write" (sync, label): nothing is created until there is something to write (a
  failed sync leaves no empty history behind: no file or folders, no database, no tables);
  a history that cannot be written is refused before the device is asked for anything.
- Something that is not a retrostep history (another program's SQLite database or
  PostgreSQL tables, or not a database at all) is refused untouched. A retrostep history
  says so (SQLite: `PRAGMA application_id`; PostgreSQL: its `retrostep_schema` table); an
  SQLite one from before that is known by its tables.
- A damaged history is reported with what the back end's check finds and what to do,
  never as a traceback: an existing history is checked when it is opened, and any error
  that means damage later is reported the same way. Nothing is written to a damaged
  history.
- The schema is versioned: MIGRATIONS are applied in order at the first write, each once
  (SQLite keeps the version in `PRAGMA user_version`, PostgreSQL in `retrostep_schema`); a
  history from a newer retrostep is refused as it is.

The SQL lives in History and is written once for both back ends (`?` parameters, ON
CONFLICT); what depends on the database itself (opening, telling a history from another
program's data, the integrity check, which errors mean damage) is the back end's:
SQLiteFile here, PostgresDB in history_pg.py.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
from pathlib import Path

from .errors import UserError

# ---- the schema, as versioned migrations --------------------------------------------------
# (version, what it adds, {back end: statements}). Version 1 is the schema SQLite histories
# were first written with (kept as it was, so old files read the same); PostgreSQL spells
# the same tables with its own types.
SQLITE_V1 = [
    """CREATE TABLE IF NOT EXISTS devices (
    uid TEXT PRIMARY KEY, board TEXT, fw TEXT, first_sync REAL, last_sync REAL,
    settings TEXT, info TEXT)""",
    """CREATE TABLE IF NOT EXISTS boots (
    uid TEXT, sid TEXT, boot INTEGER, offset INTEGER, estimated INTEGER,
    PRIMARY KEY (uid, sid, boot))""",
    """CREATE TABLE IF NOT EXISTS records (
    uid TEXT, sid TEXT, seq INTEGER, boot INTEGER, kind INTEGER, uptime INTEGER,
    t REAL, approx INTEGER, forward INTEGER, backward INTEGER, unknown INTEGER,
    seconds INTEGER, type TEXT, data TEXT,
    PRIMARY KEY (uid, sid, seq))""",
    "CREATE INDEX IF NOT EXISTS records_t ON records (t)",
    """CREATE TABLE IF NOT EXISTS syncs (
    id INTEGER PRIMARY KEY, uid TEXT, sid TEXT, at REAL, received INTEGER, new INTEGER,
    last_seq INTEGER)""",
    """CREATE TABLE IF NOT EXISTS settings_log (
    uid TEXT, at REAL, settings TEXT, PRIMARY KEY (uid, at))""",
    # a history from before the dated settings: what it last saw, when it saw it
    """INSERT INTO settings_log (uid, at, settings) SELECT uid, last_sync, settings
    FROM devices WHERE settings IS NOT NULL AND last_sync IS NOT NULL
    ON CONFLICT DO NOTHING""",
]
POSTGRES_V1 = [
    """CREATE TABLE devices (
    uid TEXT PRIMARY KEY, board TEXT, fw TEXT, first_sync DOUBLE PRECISION,
    last_sync DOUBLE PRECISION, settings TEXT, info TEXT)""",
    """CREATE TABLE boots (
    uid TEXT, sid TEXT, boot BIGINT, "offset" BIGINT, estimated INTEGER,
    PRIMARY KEY (uid, sid, boot))""",
    """CREATE TABLE records (
    uid TEXT, sid TEXT, seq BIGINT, boot BIGINT, kind INTEGER, uptime BIGINT,
    t DOUBLE PRECISION, approx INTEGER, forward INTEGER, backward INTEGER, unknown INTEGER,
    seconds INTEGER, type TEXT, data TEXT,
    PRIMARY KEY (uid, sid, seq))""",
    "CREATE INDEX records_t ON records (t)",
    """CREATE TABLE syncs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, uid TEXT, sid TEXT,
    at DOUBLE PRECISION, received INTEGER, new INTEGER, last_seq BIGINT)""",
    """CREATE TABLE settings_log (
    uid TEXT, at DOUBLE PRECISION, settings TEXT, PRIMARY KEY (uid, at))""",
]
MIGRATIONS = [
    (1, "devices, boots, records, syncs, dated settings",
     {"sqlite": SQLITE_V1, "postgresql": POSTGRES_V1}),
    (2, "wearers' labels",
     {"sqlite": ["CREATE TABLE IF NOT EXISTS labels (uid TEXT PRIMARY KEY, label TEXT NOT NULL,"
                 " at REAL)"],
      "postgresql": ["CREATE TABLE labels (uid TEXT PRIMARY KEY, label TEXT NOT NULL,"
                     " at DOUBLE PRECISION)"]}),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
# every table of the current schema, and the columns and unique keys each must have (the
# keys are what keep a record from being counted twice)
TABLES = {
    "devices": ("uid board fw first_sync last_sync settings info", ("uid",)),
    "boots": ("uid sid boot offset estimated", ("uid", "sid", "boot")),
    "records": ("uid sid seq boot kind uptime t approx forward backward unknown seconds type data",
                ("uid", "sid", "seq")),
    "syncs": ("id uid sid at received new last_seq", ("id",)),
    "settings_log": ("uid at settings", ("uid", "at")),
    "labels": ("uid label at", ("uid",)),
}
# the tables that make an SQLite file a retrostep history (settings_log came later)
CORE_TABLES = frozenset({"devices", "boots", "records", "syncs"})
APPLICATION_ID = 0x72537470     # "rStp": PRAGMA application_id of a retrostep history

DEFAULT_GOAL = 400


def default_path() -> Path:
    import platformdirs
    return Path(platformdirs.user_data_dir("retrostep", appauthor=False)) / "history.sqlite"


def default_db() -> str | Path:
    """$RETROSTEP_DB (a file or a postgresql:// URL), else the file in the user's data folder."""
    return os.environ.get("RETROSTEP_DB") or default_path()


def is_url(db) -> bool:
    return str(db).startswith(("postgresql://", "postgres://"))


def add_db_argument(p):
    p.add_argument("--db", default=None, metavar="FILE|URL",
                   help="the history: a file, or a PostgreSQL database as "
                   "postgresql://USER@HOST/DATABASE (default: $RETROSTEP_DB, else "
                   f"{default_path()})")


class HistoryError(UserError):
    """The history cannot be used as asked: missing, not a history, damaged, read-only."""


def back_end(db):
    """The back end for a --db value: a PostgreSQL database for a postgresql:// URL, else an
    SQLite file."""
    if is_url(db):
        from .history_pg import PostgresDB
        return PostgresDB(str(db))
    return SQLiteFile(Path(db))


class SQLiteFile:
    """The history's back end: an SQLite file. History asks it to say what is there
    (probe), to open it for reading or writing, to bring a history's tables up to the
    current schema (migrate), to check it (integrity), whether an error means damage, and
    how to recover; the checks built on these and the queries are History's own."""

    kind = "sqlite"
    errors = (sqlite3.Error,)
    check_name = "SQLite's integrity check"
    missing = "no such file"
    start_hint = "a new file name to start one"
    place_hint = "if yours is elsewhere, give --db FILE"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.where = str(self.path)

    def probe(self) -> tuple[str, str]:
        """What is there, without writing anything: ("missing" | "empty" | "ours" |
        "foreign", details: the tables, comma-separated, when ours). Raises sqlite3 errors
        when the file is damaged."""
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
            return "foreign", newer_message(version)
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

    def migrate(self, con: sqlite3.Connection):
        """Applies the migrations this file has not had, in one transaction, and marks it as
        a retrostep history of the current version."""
        # WAL: a report can read while a sync writes. Changing the mode takes the file for
        # itself, which SQLite refuses at once (no wait) while another station is making
        # the same new history: tried again for the busy timeout's 10 s
        end = time.monotonic() + 10
        while con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                con.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > end:
                    raise
                time.sleep(0.02)
        con.execute("BEGIN IMMEDIATE")               # one writer migrates; the others wait
        try:
            have = con.execute("PRAGMA user_version").fetchone()[0]
            app = con.execute("PRAGMA application_id").fetchone()[0]
            if app != APPLICATION_ID:
                have = 0                            # from before the mark: made sure of anew
            if have > SCHEMA_VERSION:
                raise HistoryError(f"{self.where}: not a retrostep history ({newer_message(have)});"
                                   " it was left as it is")
            for version, _what, steps in MIGRATIONS:
                if version > have:
                    for sql in steps[self.kind]:
                        con.execute(sql)
            con.execute(f"PRAGMA application_id={APPLICATION_ID}")
            con.execute(f"PRAGMA user_version={max(have, SCHEMA_VERSION)}")
            con.commit()
        except BaseException:
            con.rollback()
            raise

    @staticmethod
    def transaction(con):
        return con          # sqlite3's connection commits, or rolls back, as a context manager

    @staticmethod
    def retryable(e: Exception) -> bool:
        return False

    def writable(self) -> bool:
        folder = self.path.parent if str(self.path.parent) else Path(".")
        return os.access(self.path, os.W_OK) and os.access(folder, os.W_OK)

    readonly_advice = "make it writable, or give --db a copy you can write"

    def can_create(self) -> bool:
        return True         # the file and its folders are made at the first write

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

    def close(self):
        pass


def newer_message(version: int) -> str:
    return (f"written by a newer retrostep (history format {version}, this one reads"
            f" {SCHEMA_VERSION}): update retrostep")


class History:
    def __init__(self, path: Path | str | None = None, mode: str = "write"):
        """A history (a file path or a postgresql:// URL; None: $RETROSTEP_DB, else the
        default file). mode "read": an existing history, opened read-only; "write":
        created at the first write (see the module's docstring)."""
        if mode not in ("read", "write"):
            raise ValueError(f"mode must be read or write, not {mode!r}")
        self.mode = mode
        self.db = back_end(path if path else default_db())
        self.path: Path | None = getattr(self.db, "path", None)   # the file, for SQLite
        self.where: str = self.db.where                           # for messages and pages
        self.con = None
        self._prepared = False
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self):
        try:
            state, detail = self.db.probe()
        except self.db.errors as e:
            raise self._failure(e) from None
        self._tables = set(detail.split(",")) if state == "ours" else set()
        if state == "foreign":
            raise HistoryError(f"{self.where}: not a retrostep history ({detail}); it was left as"
                               f" it is. Give --db a retrostep history, or {self.db.start_hint}")
        if state == "missing" and self.mode == "read":
            raise HistoryError(f"{self.where}: no history there ({self.db.missing}). `retrostep"
                               f" sync` starts one; {self.db.place_hint}")
        try:
            if state == "missing":
                if not self.db.can_create():
                    raise HistoryError(f"{self.where}: no history there ({self.db.missing}), and"
                                       f" this user may not make one; {self.db.create_advice}")
                return              # created by the first write
            if self.mode == "write" and not self.db.writable():
                raise HistoryError(f"{self.where}: the history is read-only here, so nothing can"
                                   " be added to it (a sync refuses it before asking the device"
                                   " for anything); " + self.db.readonly_advice)
            # a damaged page may lie where no query of this command looks: checked at once
            # (SQLite's quick check reads every page: well under a second for years of steps)
            if self.db.integrity(quick=True) != ["ok"]:
                raise self._damaged(self.db.integrity())
            self.con = self.db.connect(write=self.mode == "write")
        except self.db.errors as e:
            raise self._failure(e) from None

    def close(self):
        if self.con is not None:
            self.con.close()
            self.con = None
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the database ----------------------------------------------------------------
    def _damaged(self, found: list[str]) -> HistoryError:
        return HistoryError(f"{self.where}: the history is damaged; {self.db.check_name}"
                            f" says: {'; '.join(found)}. Nothing was changed: "
                            + self.db.recovery())

    def _failure(self, e: Exception) -> HistoryError:
        """A database error in words: damage with the integrity check's findings, else what
        went wrong."""
        if isinstance(e, HistoryError):
            return e
        if self.db.is_damage(e):
            found = self.db.integrity()
            return self._damaged(found if found != ["ok"] else [str(e).strip()])
        text = str(e).strip()
        if "locked" in text or "busy" in text:
            return HistoryError(f"{self.where}: the history is busy (another retrostep writing to"
                                " it?); try again in a moment")
        if "readonly" in text or "read-only" in text:
            return HistoryError(f"{self.where}: the history is read-only here; "
                                + self.db.readonly_advice)
        return HistoryError(f"{self.where}: {text}")

    def _q(self, sql: str, args=()) -> list[tuple]:
        """Rows of a query; none before the history (or its tables) exists."""
        if self.con is None or not self._tables:
            return []
        try:
            return self.con.execute(sql, args).fetchall()
        except self.db.errors as e:
            raise self._failure(e) from None

    def _writer(self):
        """The connection to write with: the history and its tables made, or brought up to
        the current schema, at the first write."""
        if self.mode != "write":
            raise RuntimeError("this History was opened to read")
        if self._prepared:
            return self.con
        if self.con is None:
            self.con = self.db.connect(write=True, create=True)
        self.db.migrate(self.con)
        self._tables = set(TABLES)
        self._prepared = True
        return self.con

    def _write(self, fn, *args):
        """Runs fn(connection, *args) in one transaction; a transaction the server gave up
        to keep concurrent syncs consistent (a deadlock, a serialization failure) is run
        again whole."""
        for attempt in range(8):
            try:
                con = self._writer()
                with self.db.transaction(con):
                    return fn(con, *args)
            except self.db.errors as e:
                if self.db.retryable(e) and attempt < 7:
                    time.sleep(0.01 * (attempt + 1))
                    continue
                raise self._failure(e) from None

    # ---- sync ------------------------------------------------------------------------
    def last_seq(self, uid: str, sid: str) -> int:
        r = self._q("SELECT MAX(seq) FROM records WHERE uid=? AND sid=?", (uid, sid))
        return (r[0][0] if r else 0) or 0

    def boot_offsets(self, uid: str, sid: str) -> dict[int, tuple[int, bool]]:
        rows = self._q('SELECT boot, "offset", estimated FROM boots WHERE uid=? AND sid=?',
                       (uid, sid))
        return {b: (o, bool(e)) for b, o, e in rows}

    def store_batch(self, uid: str, sid: str, info: dict, boots: list, records, now: float,
                    settings: dict | None = None) -> int:
        """Stores one batch in one transaction; returns how many records were new (the
        database's key decides: a record already there, even one a concurrent sync of the
        same device is storing, is not counted again)."""
        return self._write(self._store_batch, uid, sid, info, boots, list(records), now, settings)

    def _store_batch(self, con, uid, sid, info, boots, records, now, settings) -> int:
        # the device's row first: concurrent syncs of one device queue here, and syncs of
        # different devices never wait for each other
        con.execute(
            "INSERT INTO devices (uid, board, fw, first_sync, last_sync, info) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO UPDATE SET board=excluded.board,"
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
                con.execute("INSERT INTO settings_log (uid, at, settings) VALUES (?, ?, ?) "
                            "ON CONFLICT (uid, at) DO UPDATE SET settings=excluded.settings",
                            (uid, now, text))
        for b, off, _last, est in boots:
            if off is None:
                continue
            # a measured offset replaces an estimate, never the other way round
            con.execute(
                'INSERT INTO boots (uid, sid, boot, "offset", estimated) VALUES (?, ?, ?, ?, ?) '
                'ON CONFLICT (uid, sid, boot) DO UPDATE SET "offset"=excluded."offset", '
                "estimated=excluded.estimated WHERE boots.estimated >= excluded.estimated",
                (uid, sid, b, off, int(bool(est))))
        if not records:
            return 0
        offsets = {b: (o, bool(e)) for b, o, e in con.execute(
            'SELECT boot, "offset", estimated FROM boots WHERE uid=? AND sid=?', (uid, sid))}
        rows = []
        for r in records:
            off = offsets.get(r.boot)
            if off is None:
                t, approx = now, 1
            else:
                t, approx = r.t + off[0], int(off[1])
            data = r.data or {}
            rows.append((uid, sid, r.seq, r.boot, r.kind, r.t, t, approx, r.fwd, r.bwd, r.unk,
                         r.dur, data.get("type"),
                         json.dumps(data) if r.data is not None else None))
        # the key (uid, sid, seq) decides what is new: ON CONFLICT leaves a record already
        # stored, or being stored by a concurrent transaction that commits, as it is
        cur = con.executemany(
            "INSERT INTO records (uid, sid, seq, boot, kind, uptime, t, approx, forward, "
            "backward, unknown, seconds, type, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (uid, sid, seq) DO NOTHING", rows)
        return cur.rowcount

    def log_sync(self, uid: str, sid: str, now: float, received: int, new: int, last_seq: int):
        self._write(lambda con: con.execute(
            "INSERT INTO syncs (uid, sid, at, received, new, last_seq) VALUES (?,?,?,?,?,?)",
            (uid, sid, now, received, new, last_seq)))

    # ---- wearers' labels -------------------------------------------------------------
    def set_label(self, uid: str, label: str | None, now: float | None = None):
        """Names a device's wearer (None or "": the label is removed)."""
        now = time.time() if now is None else now
        if label:
            self._write(lambda con: con.execute(
                "INSERT INTO labels (uid, label, at) VALUES (?, ?, ?) ON CONFLICT (uid) DO "
                "UPDATE SET label=excluded.label, at=excluded.at", (uid, label, now)))
        elif "labels" in self._tables:
            self._write(lambda con: con.execute("DELETE FROM labels WHERE uid=?", (uid,)))

    def labels(self) -> dict[str, str]:
        if "labels" not in self._tables:
            return {}       # a history from before the labels
        return dict(self._q("SELECT uid, label FROM labels"))

    def find_device(self, name: str) -> str:
        """A device's uid from its uid, a unique start of it, or its wearer's label."""
        uids = sorted({d["uid"] for d in self.devices()} | set(self.labels()))
        if name in uids:
            return name
        by_label = [u for u, lab in self.labels().items() if lab.casefold() == name.casefold()]
        starts = [u for u in uids if u.startswith(name)] if name else []
        for found in (by_label, starts):
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise HistoryError(f"{name!r} could be any of {', '.join(found[:8])}: give more "
                                   "of the device id")
        known = ", ".join(uids[:12]) + (", ..." if len(uids) > 12 else "") if uids else "none yet"
        raise HistoryError(f"no device {name!r} in {self.where} (devices: {known}); a device "
                           "is known once it has synced")

    # ---- queries ---------------------------------------------------------------------
    def devices(self) -> list[dict]:
        rows = self._q("SELECT uid, board, fw, first_sync, last_sync, settings FROM devices")
        return sorted(({"uid": u, "board": b, "fw": f, "first_sync": fs, "last_sync": ls,
                        "settings": json.loads(s) if s else {}} for u, b, f, fs, ls, s in rows),
                      key=lambda d: d["uid"])

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
        return tuple(int(x) for x in r[0]) if r else (0, 0, 0)  # type: ignore[return-value]

    def days(self, days: int | None = None, today: dt.date | None = None,
             device: str | None = None) -> list[dict]:
        """Per local date and device: steps, retro goal and what happened (one device's
        only, given its uid)."""
        first = first_day(days, today)
        where, args = _period(first, device)
        devs = [d["uid"] for d in self.devices() if device is None or d["uid"] == device]
        logs = {u: self.settings_history(u) for u in devs}
        goal_events: dict[tuple[str, str], int] = {}
        out: dict[tuple[str, str], dict] = {}
        rows = self._q("SELECT uid, kind, t, forward, backward, unknown, type, data "
                       f"FROM records{where} ORDER BY t", args)
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
        if first is not None:
            res = [d for d in res if d["date"] >= first.isoformat()]
        return res

    def events(self, days: int | None = None, today: dt.date | None = None,
               device: str | None = None) -> list[dict]:
        first = first_day(days, today)
        where, args = _period(first, device, "kind=2")
        rows = self._q("SELECT uid, seq, t, approx, type, data FROM records"
                       f"{where} ORDER BY t, uid, seq", args)
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

    def clinic(self, days: int = 7, today: dt.date | None = None) -> list[dict]:
        """Every device over the last `days` days (today included), newest sync first: its
        wearer's label, steps, backward steps against its goal, sessions, long-session
        cues, stumbles and falls. Devices that synced nothing in the period are listed too
        (with zeros): a wearer who stopped walking or syncing is what a therapist looks for."""
        today = today or dt.date.today()
        labels = self.labels()
        rows = self.days(days, today)
        first = first_day(days, today) or dt.date.min
        span = (today - first).days + 1
        def blank(uid, board=None, last_sync=None, goal=DEFAULT_GOAL):
            return {"device": uid, "label": labels.get(uid), "board": board,
                    "last_sync": _iso(last_sync), "first_day": first.isoformat(),
                    "last_day": today.isoformat(), "days": span, "active_days": 0,
                    "forward": 0, "backward": 0, "unknown": 0, "total": 0, "retro_goal": goal,
                    "goal_days": 0, "sessions": 0, "long_cues": 0, "stumbles": 0, "falls": 0,
                    "latest_date": None}
        out = {}
        for d in self.devices():
            log = self.settings_history(d["uid"])
            goal = int(log[-1][1].get("retro_goal", DEFAULT_GOAL)) if log else DEFAULT_GOAL
            out[d["uid"]] = blank(d["uid"], d["board"], d["last_sync"], goal)
        for uid in labels:
            out.setdefault(uid, blank(uid))     # labelled before its first sync
        for d in rows:
            c = out.get(d["device"])
            if c is None:
                continue
            c["active_days"] += 1
            for k in ("forward", "backward", "unknown", "total", "sessions", "long_cues",
                      "stumbles", "falls"):
                c[k] += d[k]
            c["goal_days"] += int(d["goal_reached"])
            c["latest_date"] = d["date"]
            c["retro_goal"] = d["retro_goal"]     # the goal in force on its latest day
        for c in out.values():
            c["backward_per_day"] = round(c["backward"] / c["days"])
        return sorted(out.values(), key=lambda c: (c.get("last_sync") or "", c["device"]),
                      reverse=True)


def _iso(t) -> str | None:
    return dt.datetime.fromtimestamp(t).isoformat(timespec="seconds") if t else None


def _period(first: dt.date | None, device: str | None, cond: str = "") -> tuple[str, list]:
    """A WHERE clause (and its parameters) for records from a local date on, of a device."""
    conds, args = ([cond] if cond else []), []
    if first is not None:
        # from the local midnight the day before: fromtimestamp() places each record's day;
        # the filter only spares reading older records
        conds.append("t>=?")
        args.append(dt.datetime.combine(first - dt.timedelta(days=1), dt.time()).timestamp())
    if device is not None:
        conds.append("uid=?")
        args.append(device)
    return (" WHERE " + " AND ".join(conds)) if conds else "", args


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
