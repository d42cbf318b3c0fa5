"""Sync into the history: exact totals, harmless replays, several devices (an SQLite file and
a PostgreSQL database alike), a month without a sync, host killed mid-sync, and the CLI
contracts (sync, history --json)."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from host_tools import link_client as lc
from host_tools.history_db import History
from host_tools.sync_cmd import sync_device
from synckit import expected_fake_totals, fake_device, start_emulator, wait_for

TICKS = 60


def finished(dev):
    return wait_for(lambda: b"counted" in dev.output, timeout=20, what="the device to stop counting")


def retrostep(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_sync_is_exact_and_replays_are_harmless(tmp_path, history_db):
    with fake_device(tmp_path, ticks=TICKS) as dev:
        finished(dev)
        with History(history_db) as h, lc.LinkClient.open(dev.path) as c:
            r1 = sync_device(c, h)
            assert r1.new == r1.received > 0
            assert h.totals("fake0001") == r1.device_totals == expected_fake_totals(TICKS)
            r2 = sync_device(c, h)
            assert r2.new == 0 and h.totals("fake0001") == expected_fake_totals(TICKS)
            # the device resends everything to a new history: nothing is counted twice
            since = 0
            again = [r for _, recs in c.records(since) for r in recs]
            n = h.store_batch(r1.uid, r1.sid, r1.info, c.boots(), again, time.time())
            assert n == 0 and h.totals("fake0001") == expected_fake_totals(TICKS)
            assert c.identify()["acked"] == r2.last_seq


def test_several_devices_and_the_history_json_contract(tmp_path, history_db):
    db = history_db
    devs = [fake_device(tmp_path / f"d{i}", uid=f"dev{i}", ticks=TICKS + 10 * i) for i in range(2)]
    try:
        for i, dev in enumerate(devs):
            finished(dev)
            if i == 0:
                r = retrostep("sync", "--port", dev.path, "--db", str(db))
            else:   # no --port: $RETROSTEP_PORT names it
                r = retrostep("sync", "--db", str(db), env=dict(os.environ, RETROSTEP_PORT=dev.path))
            assert r.returncode == 0, r.stderr
            assert "synced" in r.stdout and dev.path in r.stdout
    finally:
        for dev in devs:
            dev.stop()
    r = retrostep("history", "--json", "--db", str(db))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    per_dev = {}
    for d in data["days"]:
        assert {"date", "device", "forward", "backward", "unknown", "total"} <= set(d)
        assert d["total"] == d["forward"] + d["backward"] + d["unknown"]
        f, b, u = per_dev.get(d["device"], (0, 0, 0))
        per_dev[d["device"]] = (f + d["forward"], b + d["backward"], u + d["unknown"])
    assert per_dev == {"dev0": expected_fake_totals(TICKS), "dev1": expected_fake_totals(TICKS + 10)}
    assert data["events"] and all("time" in e for e in data["events"])
    r = retrostep("history", "--days", "3", "--db", str(db))
    assert r.returncode == 0 and "dev0" in r.stdout and "dev1" in r.stdout


def test_a_month_without_sync_arrives_whole(tmp_path):
    with fake_device(tmp_path, ticks=1, prefill_days=30) as dev:
        finished(dev)
        with History(tmp_path / "h.db") as h, lc.LinkClient.open(dev.path, timeout=10) as c:
            info = c.identify()
            r = sync_device(c, h)
            assert r.received == r.last_seq >= info["saved_seq"] >= 30 * 288
            assert h.totals("fake0001") == tuple(c.identify()["totals"])
            days = h.days()
            assert len(days) >= 30
    print(f"30 days: {r.received} records in {r.seconds:.2f} s")


def count_records(db):
    if str(db).startswith("postgresql://"):
        import psycopg
        try:
            with psycopg.connect(str(db), connect_timeout=5) as con:
                return con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
            return 0   # not created yet
    import sqlite3
    try:
        con = sqlite3.connect(db, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0   # not created yet


def test_host_killed_mid_sync_then_synced_again(tmp_path, history_db):
    """The host process is SIGKILLed once its history holds a random number of new
    records (on PostgreSQL, its open transaction dies with its connection): the next sync
    brings the rest, and nothing twice."""
    db = history_db
    rng = random.Random(3)
    kills = 0
    with fake_device(tmp_path, ticks=1, prefill_days=20) as dev:
        finished(dev)
        kills += kill_syncs_midway(dev.path, db, rng, 1, 1500)
        assert kills >= 2
        assert count_records(db) < 20 * 288
        r = retrostep("sync", "--port", dev.path, "--db", str(db))
        assert r.returncode == 0, r.stderr
        with History(db) as h, lc.LinkClient.open(dev.path) as c:
            assert h.totals("fake0001") == tuple(c.identify()["totals"])
    print(f"faults injected: host killed {kills} times mid-sync")


def test_sync_errors_are_clear(tmp_path):
    r = retrostep("sync", "--port", str(tmp_path / "nope"), "--db", str(tmp_path / "h.db"))
    assert r.returncode == 2 and "cannot open serial port" in r.stderr
    bad = tmp_path / "bad.db"
    bad.write_text("this is not a database, not at all" * 100)
    r = retrostep("history", "--db", str(bad))
    assert r.returncode == 2 and "not a retrostep history" in r.stderr


# ---- port auto-detection by USB id ------------------------------------------------------

class FakePort:
    def __init__(self, device, vid=None, pid=None):
        self.device, self.vid, self.pid = device, vid, pid


def fake_ports(monkeypatch, ports):
    from serial.tools import list_ports
    monkeypatch.delenv("RETROSTEP_PORT", raising=False)
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: list(ports))


def test_find_port_picks_the_board_by_its_usb_id(monkeypatch):
    from host_tools.sync_cmd import find_port
    fake_ports(monkeypatch, [FakePort("/dev/ttyS0"),                        # no USB
                             FakePort("/dev/ttyUSB0", 0x067B, 0x2303),      # a Prolific cable
                             FakePort("/dev/ttyUSB1", 0x0403, 0x6015),      # FTDI, another chip
                             FakePort("/dev/ttyACM3", 0x2E8A, 0x0005)])     # a Pico
    assert find_port() == "/dev/ttyACM3"
    # any Raspberry Pi product (RP2350 boards have other product ids)
    fake_ports(monkeypatch, [FakePort("/dev/ttyACM0", 0x2E8A, 0x000F)])
    assert find_port() == "/dev/ttyACM0"
    # $RETROSTEP_PORT comes first
    monkeypatch.setenv("RETROSTEP_PORT", "/dev/ttyXYZ")
    assert find_port() == "/dev/ttyXYZ"


def test_find_port_never_chooses_a_serial_port_that_is_not_a_board(monkeypatch):
    from host_tools.errors import UserError
    from host_tools.sync_cmd import find_port
    for ports in ([], [FakePort("/dev/ttyS0"), FakePort("/dev/ttyUSB0", 0x067B, 0x2303),
                       FakePort("/dev/ttyUSB1", 0x0403, 0x6015)]):
        fake_ports(monkeypatch, ports)
        with pytest.raises(UserError, match="no board found on USB.*--port"):
            find_port()


def test_find_port_names_the_one_it_uses_among_several(monkeypatch, capsys):
    from host_tools.sync_cmd import find_port
    fake_ports(monkeypatch, [FakePort("/dev/ttyUSB0", 0x10C4, 0xEA60),
                             FakePort("/dev/ttyACM1", 0x303A, 0x1001)])
    assert find_port() == "/dev/ttyUSB0"
    assert "several boards found (/dev/ttyUSB0, /dev/ttyACM1)" in capsys.readouterr().err


# ---- the host killed mid-sync, against the virtual device of `retrostep emulate` -------

def test_host_killed_mid_sync_against_the_emulator(tmp_path):
    """`retrostep emulate` serves the real firmware with ten days not yet synced; the
    `retrostep sync` process is SIGKILLed at random points of its transfer (once its
    history holds a random number of new records), then a sync brings the history to the
    device's totals exactly."""
    from host_tools.bench_sync import prefill_month
    from host_tools.emulate_cmd import install_firmware
    flash = install_firmware(tmp_path / "flash")
    n = prefill_month(flash / "data", days=10)
    db = tmp_path / "h.db"
    rng = random.Random(7)
    kills = 0
    emu = start_emulator(flash)
    try:
        port = emu.stdout.readline().strip()
        assert port.startswith("/dev/")
        kills += kill_syncs_midway(port, db, rng, 100, 1200)
        assert kills >= 2
        assert count_records(db) < n
        r = retrostep("sync", "--port", port, "--db", str(db))
        assert r.returncode == 0, r.stderr
        with History(db) as h, lc.LinkClient.open(port) as c:
            info = c.identify()
            assert sum(info["totals"]) > 0
            assert h.totals(str(info["uid"])) == tuple(info["totals"])
            seqs = [s for (s,) in h.con.execute("SELECT seq FROM records WHERE uid=? ORDER BY seq",
                                                (str(info["uid"]),))]
            assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= n
        assert emu.poll() is None
    finally:
        emu.send_signal(signal.SIGTERM)
        try:
            emu.wait(timeout=20)
        except subprocess.TimeoutExpired:
            emu.kill()
            emu.wait()
    print(f"faults injected: host `retrostep sync` killed {kills} times mid-sync (of 4 tries), "
          f"{n} records to fetch")


def kill_syncs_midway(port, db, rng, least, most, rounds=4) -> int:
    """Starts `retrostep sync` `rounds` times and SIGKILLs it once it has stored between
    `least` and `most` more records (if it has not finished by then); returns the kills."""
    kills = 0
    for _ in range(rounds):
        target = count_records(db) + rng.randrange(least, most)
        p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "sync", "--port",
                              port, "--db", str(db)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        while p.poll() is None and count_records(db) < target:
            time.sleep(0.002)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
    return kills
