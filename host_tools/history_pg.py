"""The history's PostgreSQL back end: a clinic's database that many sync stations write into
at once (`--db postgresql://USER@HOST/DATABASE`, or $RETROSTEP_DB).

The tables are the SQLite history's (history_db.MIGRATIONS, versioned in a
`retrostep_schema` table), in the connection's current schema (the first of its
search_path: `?options=-csearch_path%3Dretrostep` keeps them apart from other tables of a
shared database). History's SQL runs as it is: PgConnection gives psycopg's connection the
`execute(sql, args)` of sqlite3, turning `?` into psycopg's `%s` parameters (values are
never put into the SQL text).

Many writers: each batch of a sync is one transaction at READ COMMITTED. The records'
primary key (uid, sid, seq) with INSERT ... ON CONFLICT DO NOTHING is what keeps a record
from counting twice: when two stations store the same records at once, the second waits
on the first's uncommitted rows and then finds them there (or stores them, if the first
rolled back). Every batch first upserts its device's row, so syncs of one device queue
behind each other while different devices never wait for each other. A deadlock or
serialization failure the server reports is retried whole by History.
"""
from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql

from .history_db import MIGRATIONS, SCHEMA_VERSION, TABLES, HistoryError, newer_message

MIGRATION_LOCK = 0x72537470          # pg_advisory_xact_lock key: one station migrates at a time
TABLE_SINCE = {"labels": 2}          # tables added after version 1, by the version adding them


def _pg_sql(text: str, _cache: dict = {}) -> str:     # noqa: B006 (a deliberate cache)
    """History's `?` parameters as psycopg's `%s` (History's SQL has no other ? or %)."""
    out = _cache.get(text)
    if out is None:
        out = _cache[text] = text.replace("?", "%s")
    return out


class PgConnection:
    """A psycopg connection (autocommit: History opens each transaction itself) with the
    calls History makes of sqlite3's."""

    def __init__(self, raw: psycopg.Connection):
        self.raw = raw

    def execute(self, text: str, args=()):
        return self.raw.execute(_pg_sql(text), tuple(args) or None)  # type: ignore[arg-type]

    def executemany(self, text: str, rows):
        cur = self.raw.cursor()
        cur.executemany(_pg_sql(text), rows)      # pipelined: one round trip for the batch
        return cur

    def close(self):
        self.raw.close()


def redact(url: str) -> str:
    """The URL without its password, for messages and pages."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = parts.query
    if "password=" in query:
        query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(query)],
                          safe="/*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _first_line(e: Exception) -> str:
    return " ".join(str(e).strip().split("\n")[:2]).strip()


class PostgresDB:
    kind = "postgresql"
    errors = (psycopg.Error,)
    check_name = "the history's check"
    missing = "no such database on the server"
    start_hint = "a new database to start one"
    place_hint = "if yours is elsewhere, give --db postgresql://USER@HOST/DATABASE"
    readonly_advice = ("this user may only read it, or the server is a read-only standby: ask its"
                       " administrator for INSERT and UPDATE on its tables")

    def __init__(self, url: str):
        self.url = url
        self.where = redact(url)
        self._con: psycopg.Connection | None = None
        self._version = 0
        try:
            self.params = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error as e:
            raise HistoryError(f"{self.where}: not a PostgreSQL URL I can use: {_first_line(e)}"
                               " (postgresql://USER@HOST[:PORT]/DATABASE)") from None
        self.dbname = self.params.get("dbname") or self.params.get("user")

    @property
    def create_advice(self) -> str:
        return (f"ask the server's administrator to create the database (`createdb "
                f"{self.dbname}`, owned by this user)")

    # ---- connections ---------------------------------------------------------------------
    def _connect(self, **override) -> psycopg.Connection:
        params = dict(self.params)
        params.setdefault("connect_timeout", "10")
        params.setdefault("application_name", "retrostep")
        params.update(override)
        return psycopg.connect(**params, autocommit=True)   # type: ignore[arg-type]

    def _maintenance(self) -> psycopg.Connection | None:
        """A connection to the server's maintenance database (to see or make ours), or None."""
        for name in ("postgres", "template1"):
            if name == self.dbname:
                continue
            try:
                return self._connect(dbname=name)
            except psycopg.Error:
                continue
        return None

    def _database_exists(self) -> bool | None:
        con = self._maintenance()
        if con is None:
            return None
        with con:
            return con.execute("SELECT 1 FROM pg_database WHERE datname=%s",
                               (self.dbname,)).fetchone() is not None

    def probe(self) -> tuple[str, str]:
        try:
            con = self._con = self._connect()
        except psycopg.OperationalError as e:
            if self._database_exists() is False:
                return "missing", ""
            raise HistoryError(f"{self.where}: cannot connect to the PostgreSQL server: "
                               f"{_first_line(e)}") from None
        schema = con.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index]
        if schema is None:
            raise HistoryError(f"{self.where}: the connection's search_path names no schema that"
                               " exists; create it (CREATE SCHEMA ...) or fix the search_path")
        tables = {r[0] for r in con.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
            " AND relkind IN ('r', 'p', 'v', 'm', 'f')")}
        if "retrostep_schema" in tables:
            row = con.execute("SELECT COALESCE(MAX(version), 0) FROM retrostep_schema").fetchone()
            self._version = row[0] if row else 0
            if self._version > SCHEMA_VERSION:
                return "foreign", newer_message(self._version)
            return "ours", ",".join(sorted(tables - {"retrostep_schema"}))
        if not tables:
            return "empty", ""
        names = sorted(tables)
        return "foreign", (f"a PostgreSQL database with other tables in schema {schema}: "
                           f"{', '.join(names[:6])}" + (", ..." if len(names) > 6 else ""))

    def can_create(self) -> bool:
        con = self._maintenance()
        if con is None:
            return False
        with con:
            row = con.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles "
                              "WHERE rolname = current_user").fetchone()
        return bool(row and row[0])

    def connect(self, write: bool, create: bool = False) -> PgConnection:
        if self._con is None or self._con.closed:
            try:
                self._con = self._connect()
            except psycopg.OperationalError:
                if not (create and self._database_exists() is False):
                    raise
                self._create_database()
                self._con = self._connect()
        if not write:
            # nothing can be written through it: every transaction of the session is read-only
            self._con.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return PgConnection(self._con)

    def _create_database(self):
        con = self._maintenance()
        if con is None:
            raise HistoryError(f"{self.where}: no such database, and the server's maintenance "
                               f"database cannot be reached to make it; {self.create_advice}")
        with con:
            for attempt in range(20):
                try:
                    con.execute(pgsql.SQL("CREATE DATABASE {}").format(
                        pgsql.Identifier(self.dbname)))  # type: ignore[arg-type]
                    return
                except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                    return          # another station made it a moment ago (or is making it)
                except psycopg.errors.ObjectInUse:
                    time.sleep(0.1)     # its template in use by another station's CREATE
                except psycopg.errors.InsufficientPrivilege:
                    raise HistoryError(f"{self.where}: no such database, and this user may not"
                                       f" make one; {self.create_advice}") from None

    def close(self):
        if self._con is not None:
            self._con.close()
            self._con = None

    # ---- schema ------------------------------------------------------------------------
    def migrate(self, con: PgConnection):
        """Applies the migrations the database has not had, in one transaction, one station
        at a time (an advisory lock: the others wait, then find them applied)."""
        raw = con.raw
        with raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            have = 0
            if raw.execute("SELECT to_regclass(quote_ident(current_schema()) || "
                           "'.retrostep_schema')").fetchone()[0] is None:  # type: ignore[index]
                raw.execute("CREATE TABLE retrostep_schema (version INTEGER PRIMARY KEY, "
                            "what TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)")
            else:
                have = raw.execute("SELECT COALESCE(MAX(version), 0) FROM retrostep_schema"
                                   ).fetchone()[0]  # type: ignore[index]
            if have > SCHEMA_VERSION:
                raise HistoryError(f"{self.where}: not a retrostep history ({newer_message(have)});"
                                   " it was left as it is")
            for version, what, steps in MIGRATIONS:
                if version > have:
                    for step in steps[self.kind]:
                        raw.execute(step)   # type: ignore[arg-type]  (constant DDL)
                    raw.execute("INSERT INTO retrostep_schema VALUES (%s, %s, %s)",
                                (version, what, time.time()))
        self._version = max(have, SCHEMA_VERSION)

    @staticmethod
    def transaction(con: PgConnection):
        return con.raw.transaction()

    @staticmethod
    def retryable(e: Exception) -> bool:
        return getattr(e, "sqlstate", None) in ("40001", "40P01")   # serialization, deadlock

    def writable(self) -> bool:
        con = self._con or self._connect()
        standby, ro = con.execute("SELECT pg_is_in_recovery(), current_setting("
                                  "'transaction_read_only')").fetchone()  # type: ignore[misc]
        if standby or ro == "on":
            return False
        present = self._present(con)
        for table in present:
            privs = ("INSERT", "UPDATE") if table != "syncs" else ("INSERT",)
            for p in privs:
                row = con.execute("SELECT has_table_privilege(quote_ident(current_schema()) "
                                  "|| '.' || quote_ident(%s), %s)", (table, p)).fetchone()
                if not (row and row[0]):
                    return False
        if self._version < SCHEMA_VERSION or set(TABLES) - set(present):
            # the first write makes the tables, or brings them up to this version
            return bool(con.execute("SELECT has_schema_privilege(current_schema(), 'CREATE')"
                                    ).fetchone()[0])  # type: ignore[index]
        return True

    @staticmethod
    def _present(con) -> dict[str, set[str]]:
        """The history's tables in the current schema and their columns."""
        out: dict[str, set[str]] = {}
        for table, column in con.execute(
                "SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON "
                "a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped WHERE "
                "c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%s)",
                (list(TABLES),)):
            out.setdefault(table, set()).add(column)
        return out

    # ---- damage --------------------------------------------------------------------------
    def integrity(self, quick: bool = False, most: int = 5) -> list[str]:
        """["ok"], or what is wrong: a table, a column or a unique key of the history gone
        (without its keys a record could be counted twice); and, unless quick, every table
        read through (a damaged page is an error there) and its indexes checked by the
        amcheck extension where the database has it."""
        try:
            con = self._con if self._con is not None and not self._con.closed else self._connect()
            found = self._schema_findings(con)
            if not quick:
                found += self._read_findings(con)
        except psycopg.Error as e:
            found = [_first_line(e)]
        return found[:most] or ["ok"]

    def _schema_findings(self, con) -> list[str]:
        present = self._present(con)
        keys: dict[str, list[tuple[str, ...]]] = {}
        for table, cols in con.execute(
                "SELECT c.relname, array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_attribute a ON a.attrelid = c.oid"
                " AND a.attnum = ANY(i.indkey) WHERE c.relnamespace = "
                "current_schema()::regnamespace AND i.indisunique AND i.indisvalid "
                "GROUP BY c.relname, i.indexrelid"):
            keys.setdefault(table, []).append(tuple(cols))
        found = []
        for table, (columns, key) in TABLES.items():
            if TABLE_SINCE.get(table, 1) > self._version:
                continue
            if table not in present:
                found.append(f"table {table} is missing")
                continue
            lost = [c for c in columns.split() if c not in present[table]]
            if lost:
                found.append(f"table {table} has lost its columns {', '.join(lost)}")
            if tuple(sorted(key)) not in keys.get(table, []):
                found.append(f"table {table} has lost its unique key ({', '.join(key)}), without"
                             " which a record could be counted twice")
        return found

    def _read_findings(self, con) -> list[str]:
        found = []
        amcheck = con.execute("SELECT 1 FROM pg_extension WHERE extname='amcheck'").fetchone()
        for table in sorted(self._present(con)):
            try:
                with con.transaction():
                    con.execute(pgsql.SQL("SELECT count(*) FROM {}").format(
                        pgsql.Identifier(table)))
                    if amcheck:
                        con.execute(
                            "SELECT bt_index_check(i.indexrelid) FROM pg_index i JOIN pg_class c"
                            " ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam WHERE "
                            "i.indrelid = (quote_ident(current_schema()) || '.' || "
                            "quote_ident(%s))::regclass AND am.amname = 'btree'", (table,))
            except psycopg.Error as e:
                found.append(f"reading table {table}: {_first_line(e)}")
        return found

    @staticmethod
    def is_damage(e: Exception) -> bool:
        # data or index corruption (class XX: XX001, XX002), or a table or column of the
        # history gone while it was in use
        state = getattr(e, "sqlstate", None) or ""
        return state in ("XX001", "XX002", "42P01", "42703") or "invalid page" in str(e)

    def recovery(self) -> str:
        return ("restore the database from the server's backups (pg_dump and pg_restore, or the"
                " server's point-in-time recovery), or give --db a new database and sync into it"
                " (a sync fetches again what each device still holds)")
