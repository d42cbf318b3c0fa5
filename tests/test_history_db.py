"""The history file handled with care: commands that only read open it read-only and refuse
a missing one; sync creates one only when it has something to write; another program's
file is refused untouched; damage is reported with SQLite's own integrity check and what
to do. Every refusal is a clear message, no traceback, and the file is as it was."""
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from host_tools import cli
from host_tools.history_db import APPLICATION_ID, History
from synckit import fake_device, wait_for
from test_sync_report import month_history

READERS = (["history"], ["history", "--json"], ["report"])


def state(path: Path):
    """The file's bytes and the files beside it: what "untouched" means."""
    return (hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None,
            sorted(p.name for p in path.parent.iterdir()))


def run(capsys, *argv):
    rc = cli.main(list(argv))
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.out, cap.err


def a_history(tmp_path) -> Path:
    h, _ = month_history(tmp_path)
    h.close()
    assert not Path(str(h.path) + "-wal").exists()
    return h.path


def test_read_commands_refuse_a_missing_history_and_create_nothing(tmp_path, capsys):
    db = tmp_path / "typo" / "histroy.sqlite"
    for argv in READERS:
        rc, out, err = run(capsys, *argv, "--db", str(db))
        assert rc == 2 and f"{db}: no history there" in err and "retrostep sync" in err, err
    assert not (tmp_path / "typo").exists()


def test_sync_creates_the_history_only_when_it_has_something_to_write(tmp_path, capsys):
    db = tmp_path / "new" / "folder" / "h.sqlite"
    rc, _, err = run(capsys, "sync", "--port", str(tmp_path / "no-port"), "--db", str(db))
    assert rc == 2 and "cannot open serial port" in err
    # a port that opens, then goes away mid-sync: it fails, and leaves nothing behind either
    master, slave = os.openpty()
    threading.Timer(0.3, os.close, (master,)).start()
    try:
        rc, _, err = run(capsys, "sync", "--port", os.ttyname(slave), "--db", str(db))
    finally:
        os.close(slave)
    assert rc == 2 and "the port went away during the sync" in err, err
    assert not (tmp_path / "new").exists()
    with fake_device(tmp_path, ticks=3) as dev:
        wait_for(lambda: b"counted" in dev.output, timeout=20, what="the device's counts")
        rc, out, err = run(capsys, "sync", "--port", dev.path, "--db", str(db))
    assert rc == 0 and "synced" in out, err
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert con.execute("SELECT COUNT(*) FROM records").fetchone()[0] > 0


@pytest.mark.parametrize("kind", ["other program", "not a database", "newer retrostep", "folder"])
def test_a_file_that_is_not_a_retrostep_history_is_refused_untouched(tmp_path, capsys, kind):
    db = tmp_path / "other.sqlite"
    if kind == "other program":
        con = sqlite3.connect(db)
        con.executescript("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);"
                          "INSERT INTO notes (text) VALUES ('mine');")
        con.close()
        words = "other tables: notes"
    elif kind == "not a database":
        db.write_text("date,steps\n2026-05-01,4000\n" * 50)
        words = "not an SQLite database"
    elif kind == "newer retrostep":
        con = sqlite3.connect(db)
        con.executescript(f"PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version=99;"
                          "CREATE TABLE devices (uid TEXT);")
        con.close()
        words = "newer retrostep"
    else:
        db.mkdir()
        words = "it is a folder"
    before = state(db)
    for argv in (*READERS, ["sync", "--port", str(tmp_path / "no-port")]):
        rc, out, err = run(capsys, *argv, "--db", str(db))
        assert rc == 2 and "not a retrostep history" in err and words in err, (argv, err)
        assert "cannot open serial port" not in err      # refused before the device
    assert state(db) == before
    if kind == "other program":
        assert sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]


def test_a_damaged_history_is_reported_with_the_integrity_checks_finding(tmp_path, capsys):
    db = a_history(tmp_path)
    con = sqlite3.connect(db)
    size, pages = (con.execute(f"PRAGMA {k}").fetchone()[0] for k in ("page_size", "page_count"))
    con.close()
    assert pages > 20
    with open(db, "r+b") as f:          # garbage over a page in the middle of the file
        f.seek(size * (pages // 2))
        f.write(b"\xde\xad\xbe\xef garbage " * (size // 16))
    before = state(db)
    for argv in (*READERS, ["sync", "--port", str(tmp_path / "no-port")]):
        rc, out, err = run(capsys, *argv, "--db", str(db))
        assert rc == 2 and f"{db}: the history is damaged; SQLite's integrity check says:" in err, (argv, err)
        found = err.split("says: ", 1)[1].split(". Nothing was changed")[0]
        assert found and found != "ok"
        assert ".recover" in err and "--db" in err and "Nothing was changed" in err
    assert state(db) == before


def test_a_read_only_history_is_read_and_not_written(tmp_path):
    """A history the user cannot write (another user's, a backup on read-only media) is read
    by history and report; sync refuses it before asking the device for anything."""
    runner = []
    if os.geteuid() == 0:        # root writes anything: run the commands as nobody
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv to drop to another user")
        runner = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    shared = Path(tempfile.mkdtemp(prefix="retrostep-ro-"))
    try:
        shared.chmod(0o755)
        src = shared / "src"
        src.mkdir()
        db = a_history(src)
        folder = shared / "ro"
        folder.mkdir()
        ro = folder / "history.sqlite"
        shutil.copy(db, ro)
        out = shared / "out"
        out.mkdir()
        out.chmod(0o777)
        ro.chmod(0o444)
        folder.chmod(0o555)
        before = state(ro)
        env = {**os.environ, "HOME": str(out)}

        def retrostep(*argv):
            p = subprocess.run([*runner, sys.executable, "-m", "host_tools.cli", *argv],
                               capture_output=True, text=True, timeout=60, env=env,
                               cwd=Path(__file__).parent.parent)
            assert "Traceback" not in p.stderr, p.stderr
            return p
        p = retrostep("history", "--db", str(ro))
        assert p.returncode == 0 and "retro sessions" in p.stdout, p.stderr
        p = retrostep("report", "--db", str(ro), "--html", str(out / "r.html"))
        assert p.returncode == 0 and (out / "r.html").stat().st_size > 1000, p.stderr
        p = retrostep("sync", "--db", str(ro), "--port", str(out / "no-port"))
        assert p.returncode == 2 and "is read-only here" in p.stderr and "cannot open serial" not in p.stderr
        assert state(ro) == before
    finally:
        for d in (shared / "ro",):
            if d.exists():
                d.chmod(0o755)
        shutil.rmtree(shared, ignore_errors=True)


def test_a_history_from_before_the_header_mark_is_read_and_extended(tmp_path, capsys):
    # no application id and no settings_log: known by its tables, read as it is, and
    # marked and completed by the next write
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE devices (uid TEXT PRIMARY KEY, board TEXT, fw TEXT, first_sync REAL,
            last_sync REAL, settings TEXT, info TEXT);
        CREATE TABLE boots (uid TEXT, sid TEXT, boot INTEGER, offset INTEGER, estimated INTEGER,
            PRIMARY KEY (uid, sid, boot));
        CREATE TABLE records (uid TEXT, sid TEXT, seq INTEGER, boot INTEGER, kind INTEGER,
            uptime INTEGER, t REAL, approx INTEGER, forward INTEGER, backward INTEGER,
            unknown INTEGER, seconds INTEGER, type TEXT, data TEXT, PRIMARY KEY (uid, sid, seq));
        CREATE TABLE syncs (id INTEGER PRIMARY KEY, uid TEXT, sid TEXT, at REAL, received INTEGER,
            new INTEGER, last_seq INTEGER);
        INSERT INTO devices VALUES ('dev', 'sim', '0.1', 1e9, 1.7e9, '{"retro_goal": 250}', '{}');
        INSERT INTO records VALUES ('dev', 's', 1, 0, 1, 0, 1.7e9, 0, 100, 260, 3, 300, NULL, NULL);
    """)
    con.close()
    before = state(db)
    rc, out, err = run(capsys, "history", "--db", str(db))
    assert rc == 0 and "260/250 ok" in out, err
    assert state(db) == before
    with History(db) as h:
        h.log_sync("dev", "s", 1.8e9, 0, 0, 1)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert con.execute("SELECT settings FROM settings_log").fetchall() == [('{"retro_goal": 250}',)]


def test_history_and_report_options(tmp_path, capsys):
    db = a_history(tmp_path)
    for argv in (["history", "--days", "0"], ["history", "--days", "-1"], ["report", "--days", "0"],
                 ["report", "--days", "-1"]):
        rc, _, err = run(capsys, *argv, "--db", str(db))
        assert rc == 2 and "--days must be 1 or more" in err
    rc, out, _ = run(capsys, "history", "--days", "100000000", "--db", str(db))
    rc2, out2, _ = run(capsys, "history", "--db", str(db))
    assert rc == rc2 == 0 and out == out2
    html = tmp_path / "r.html"
    rc, out, err = run(capsys, "report", "--days", "100000000", "--db", str(db), "--html", str(html))
    assert rc == 0 and html.stat().st_size > 1000, err
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for target, words in ((folder, "is a folder"), (tmp_path / "none" / "r.html", "does not exist")):
        rc, _, err = run(capsys, "report", "--db", str(db), "--html", str(target))
        assert rc == 2 and words in err
    assert sorted(p.name for p in tmp_path.iterdir() if "tmp" in p.name) == []
    assert list(folder.iterdir()) == []
