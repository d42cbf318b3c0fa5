"""The history in a PostgreSQL database, on a real server (a throwaway cluster, see
tests/conftest.py): the same care as with a file (a missing database is refused by the
commands that read and made by sync only when it has something to store; another
program's tables, or a newer retrostep's, are refused untouched; damage is reported with
what the check finds; a user who may only read can read), versioned migrations, and many
writers: concurrent syncs of one device count each record once because the database's key
says so, not a check in Python."""
import os
import threading
import time

import psycopg
import pytest

from host_tools import cli
from host_tools.history_db import POSTGRES_V1, SCHEMA_VERSION, History
from host_tools.link_client import Record
from synckit import fake_device, wait_for

READERS = (["history"], ["history", "--json"], ["history", "--all-devices"], ["report"],
           ["report", "--all-devices"])


def run(capsys, *argv):
    rc = cli.main(list(argv))
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.out, cap.err


def dbname(url):
    return url.split("@/", 1)[1].split("?", 1)[0]


def exists(pg, url) -> bool:
    return bool(pg.admin("SELECT 1 FROM pg_database WHERE datname=%s", (dbname(url),)))


def snapshot(url) -> dict:
    """Every table of the public schema with its columns, constraints and rows: what
    "untouched" means for a database."""
    out = {}
    with psycopg.connect(url) as con:
        tables = [r[0] for r in con.execute(
            "SELECT relname FROM pg_class WHERE relnamespace='public'::regnamespace AND "
            "relkind='r' ORDER BY relname")]
        for t in tables:
            cols = con.execute("SELECT attname, format_type(atttypid, atttypmod) FROM "
                               "pg_attribute WHERE attrelid=%s::regclass AND attnum>0 AND NOT "
                               "attisdropped ORDER BY attnum", (t,)).fetchall()
            cons = sorted(r[0] for r in con.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid=%s::regclass",
                (t,)))
            rows = sorted(map(repr, con.execute(
                psycopg.sql.SQL("SELECT * FROM {}").format(psycopg.sql.Identifier(t)))))
            out[t] = (cols, cons, rows)
    return out


def recs(n, first=1, fwd=10, bwd=4, unk=1):
    return [Record(s, 1, 1, s * 300, fwd, bwd, unk, 300) for s in range(first, first + n)]


def fill(url, devices=("dev-a",), n=300):
    now = time.time()
    with History(url) as h:
        for uid in devices:
            h.store_batch(uid, "s1", {"board": "sim"}, [(1, int(now) - n * 300, None, False)],
                          recs(n), now, {"retro_goal": 300})
            h.log_sync(uid, "s1", now, n, n, n)


def test_read_commands_refuse_a_missing_database_and_create_nothing(pg_server, pg_url, capsys):
    for argv in (*READERS, ["label"]):
        rc, out, err = run(capsys, *argv, "--db", pg_url)
        assert rc == 2, (argv, out)
        assert f"{pg_url}: no history there (no such database on the server)" in err, err
        assert "retrostep sync" in err
    assert not exists(pg_server, pg_url)


def test_sync_makes_the_database_only_when_it_has_something_to_write(tmp_path, pg_server, pg_url,
                                                                      capsys):
    rc, _, err = run(capsys, "sync", "--port", str(tmp_path / "no-port"), "--db", pg_url)
    assert rc == 2 and "cannot open serial port" in err
    # a port that opens, then goes away mid-sync: it fails, and leaves nothing behind either
    master, slave = os.openpty()
    threading.Timer(0.3, os.close, (master,)).start()
    try:
        rc, _, err = run(capsys, "sync", "--port", os.ttyname(slave), "--db", pg_url)
    finally:
        os.close(slave)
    assert rc == 2 and "the port went away during the sync" in err, err
    assert not exists(pg_server, pg_url)
    # a database the administrator made for it, still empty, gets no tables from a failed sync
    pg_server.create_database(dbname(pg_url))
    rc, _, err = run(capsys, "sync", "--port", str(tmp_path / "no-port"), "--db", pg_url)
    assert rc == 2 and snapshot(pg_url) == {}
    with fake_device(tmp_path, ticks=3) as dev:
        wait_for(lambda: b"counted" in dev.output, timeout=20, what="the device's counts")
        rc, out, err = run(capsys, "sync", "--port", dev.path, "--db", pg_url)
    assert rc == 0 and "synced" in out and pg_url in out, err
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT version FROM retrostep_schema ORDER BY version").fetchall() == \
            [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        assert con.execute("SELECT COUNT(*) FROM records").fetchone()[0] > 0


@pytest.mark.parametrize("kind", ["other program", "newer retrostep"])
def test_a_database_that_is_not_a_retrostep_history_is_refused_untouched(tmp_path, pg_server,
                                                                         pg_url, capsys, kind):
    pg_server.create_database(dbname(pg_url))
    with psycopg.connect(pg_url, autocommit=True) as con:
        if kind == "other program":
            con.execute("CREATE TABLE notes (id SERIAL PRIMARY KEY, text TEXT)")
            con.execute("CREATE TABLE records (id INTEGER)")      # a name ours has too
            con.execute("INSERT INTO notes (text) VALUES ('mine')")
            words = "a PostgreSQL database with other tables in schema public: notes, records"
        else:
            con.execute("CREATE TABLE retrostep_schema (version INTEGER PRIMARY KEY, what TEXT,"
                        " applied DOUBLE PRECISION)")
            con.execute("INSERT INTO retrostep_schema VALUES (99, 'from the future', 0)")
            words = "newer retrostep (history format 99"
    before = snapshot(pg_url)
    for argv in (*READERS, ["sync", "--port", str(tmp_path / "no-port")], ["label", "x", "y"]):
        rc, out, err = run(capsys, *argv, "--db", pg_url)
        assert rc == 2 and "not a retrostep history" in err and words in err, (argv, err)
        assert "cannot open serial port" not in err      # refused before the device
    assert snapshot(pg_url) == before


def test_a_lost_key_is_damage_reported_before_anything_is_written(tmp_path, pg_url, capsys):
    fill(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("ALTER TABLE records DROP CONSTRAINT records_pkey")
    before = snapshot(pg_url)
    for argv in (*READERS, ["sync", "--port", str(tmp_path / "no-port")], ["label", "dev-a", "x"]):
        rc, out, err = run(capsys, *argv, "--db", pg_url)
        assert rc == 2 and f"{pg_url}: the history is damaged; the history's check says: table " \
            "records has lost its unique key (uid, sid, seq)" in err, (argv, err)
        assert "Nothing was changed" in err and "pg_restore" in err
        assert "cannot open serial port" not in err
    assert snapshot(pg_url) == before


def test_a_damaged_page_is_reported_with_what_the_check_finds(tmp_path, pg_server, pg_url, capsys):
    fill(pg_url, n=2000)
    with psycopg.connect(pg_url, autocommit=True) as con:
        rel = con.execute("SELECT pg_relation_filepath('records')").fetchone()[0]
        con.execute("CHECKPOINT")
    pg_server.stop_server()
    try:
        path = pg_server.data_dir() / rel
        assert path.stat().st_size > 8 * 8192
        with open(path, "r+b") as f:          # garbage over the page headers of block 3
            f.seek(3 * 8192)
            f.write(b"\xde\xad\xbe\xef garbage " * 500)
    finally:
        pg_server.start_server()
    for argv in (["history"], ["report"], ["history", "--all-devices"]):
        rc, out, err = run(capsys, *argv, "--db", pg_url)
        assert rc == 2 and "the history is damaged; the history's check says: reading table " \
            "records: invalid page in block 3" in err, (argv, err)
        assert "Nothing was changed" in err


def test_a_user_who_may_only_read_reads_and_sync_refuses(tmp_path, pg_server, pg_url, capsys):
    fill(pg_url)
    pg_server.admin("DROP ROLE IF EXISTS reader")
    pg_server.admin("CREATE ROLE reader LOGIN")
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    before = snapshot(pg_url)
    url = pg_server.url(dbname(pg_url), user="reader")
    rc, out, err = run(capsys, "history", "--db", url)
    assert rc == 0 and "dev-a" in out, err
    rc, out, err = run(capsys, "report", "--db", url, "--html", str(tmp_path / "r.html"))
    assert rc == 0 and (tmp_path / "r.html").stat().st_size > 1000, err
    for argv in (["sync", "--port", str(tmp_path / "no-port")], ["label", "dev-a", "Ann"]):
        rc, out, err = run(capsys, *argv, "--db", url)
        assert rc == 2 and "the history is read-only here" in err and "INSERT" in err, err
        assert "cannot open serial port" not in err
    # and nothing can be written through the connection of a command that reads
    with History(pg_url, mode="read") as h, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        h.con.execute("DELETE FROM records")
    assert snapshot(pg_url) == before


def test_a_version_1_database_is_read_and_then_migrated(pg_server, pg_url, capsys):
    pg_server.create_database(dbname(pg_url))
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("CREATE TABLE retrostep_schema (version INTEGER PRIMARY KEY, what TEXT NOT "
                    "NULL, applied DOUBLE PRECISION NOT NULL)")
        for stmt in POSTGRES_V1:
            con.execute(stmt)
        con.execute("INSERT INTO retrostep_schema VALUES (1, 'first', 0)")
        con.execute("INSERT INTO devices VALUES ('dev-v1', 'sim', '0.1', %s, %s, "
                    "'{\"retro_goal\": 250}', '{}')", (time.time(), time.time()))
        con.execute("INSERT INTO settings_log VALUES ('dev-v1', %s, '{\"retro_goal\": 250}')",
                    (time.time(),))
        con.execute("INSERT INTO records VALUES ('dev-v1', 's', 1, 0, 1, 0, %s, 0, 100, 260, 3,"
                    " 300, NULL, NULL)", (time.time(),))
    before = snapshot(pg_url)
    rc, out, err = run(capsys, "history", "--db", pg_url)
    assert rc == 0 and "260/250 ok" in out, err
    rc, out, err = run(capsys, "history", "--all-devices", "--db", pg_url)
    assert rc == 0 and "dev-v1" in out, err
    assert snapshot(pg_url) == before
    rc, out, err = run(capsys, "label", "dev-v1", "Ann", "--db", pg_url)
    assert rc == 0, err
    with psycopg.connect(pg_url) as con:
        assert [v for (v,) in con.execute("SELECT version FROM retrostep_schema ORDER BY 1")] == \
            list(range(1, SCHEMA_VERSION + 1))
        assert con.execute("SELECT label FROM labels").fetchall() == [("Ann",)]


def test_an_unreachable_server_or_a_bad_url_is_said_plainly(capsys):
    rc, out, err = run(capsys, "history", "--db", "postgresql://ann:s3cret@127.0.0.1:1/clinic")
    assert rc == 2 and "cannot connect to the PostgreSQL server" in err, err
    assert "s3cret" not in err and "postgresql://ann:***@127.0.0.1:1/clinic" in err
    rc, out, err = run(capsys, "history", "--db", "postgresql://ann@/clinic?nonsense=1")
    assert rc == 2 and "not a PostgreSQL URL I can use" in err, err


# ---- many writers ---------------------------------------------------------------------------

def test_the_databases_key_decides_what_is_new_while_another_sync_is_storing_it(pg_url):
    """A station's batch waits on another station's uncommitted rows of the same records, then
    counts none of them (the other committed) or all (the other rolled back): the database
    decides, at the moment it stores them."""
    fill(pg_url, devices=("dev-b",), n=1)
    for first, outcome, want in ((2, "commit", 0), (52, "rollback", 50)):
        batch = recs(50, first=first)
        other = psycopg.connect(pg_url)
        other.execute("INSERT INTO records (uid, sid, seq, boot, kind, uptime, t, approx, forward,"
                      " backward, unknown, seconds) SELECT 'dev-b', 's1', s, 1, 1, 0, 0, 0, 1, 0, "
                      "0, 300 FROM generate_series(%s::int, %s::int) s", (first, first + 49))
        got = []
        with History(pg_url) as h:
            h.last_seq("dev-b", "s1")
            t = threading.Thread(target=lambda: got.append(h.store_batch(
                "dev-b", "s1", {"board": "sim"}, [], batch, time.time())))
            t.start()
            t.join(1.0)
            assert t.is_alive() and not got       # waiting on the other's rows
            getattr(other, outcome)()
            t.join(10)
        other.close()
        assert got == [want], outcome
        with History(pg_url, mode="read") as h:
            assert h.last_seq("dev-b", "s1") == first + 49
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 101
