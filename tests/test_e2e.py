"""End to end against the virtual device: the real firmware (main.py, sim board, emulated
IMU playing a simulated trace) on the MicroPython Unix port, over its pseudo-terminal.

Faults: power cuts (SIGKILL) at random moments while the store saves every few seconds,
the port closed in the middle of a sync, garbage and damaged bytes in both directions.
After each, the history's totals equal what the device counted, exactly. Also: deploy
with the real mpremote onto a blank virtual board, record, settings across a reboot."""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from host_tools import link_client as lc
from host_tools.emulate_cmd import install_firmware, scenario_trace, sim_board
from host_tools.history_db import History
from host_tools.paths import FIRMWARE
from host_tools.sync_cmd import sync_device
from synckit import start_emulator, wait_for

pytestmark = pytest.mark.skipif(not (FIRMWARE / "main.py").exists(), reason="no firmware/main.py")


@pytest.fixture(scope="module")
def short_trace(tmp_path_factory):
    # each boot plays it from the start: the device stands still for 20 s first, so a sync
    # right after a power-up meets no new step
    return scenario_trace("stand 20s, walk 160, stand 5s", tmp_path_factory.mktemp("short"))


@pytest.fixture(scope="module")
def walk_trace(tmp_path_factory):
    return scenario_trace("walk 150, turn, retro 60, stand 10s",
                          tmp_path_factory.mktemp("trace"))


def trace_seconds(path):
    with open(path) as f:
        last = None
        for line in f:
            if line[:1].isdigit():
                last = line
    return int(last.split(",")[0]) / 1000


def flash_with(tmp, **cfg):
    flash = install_firmware(tmp / "flash")
    if cfg:
        b = json.loads((flash / "board.json").read_text())
        b.update(cfg)
        (flash / "board.json").write_text(json.dumps(b))
    return flash


def played(c, seconds):
    """Waits until the device has played the whole trace; returns identify()."""
    return wait_for(lambda: (lambda i: i if i["uptime"] >= seconds + 3 else None)(c.identify()),
                    timeout=60, what="the trace to be played")


def count_records(db):
    con = sqlite3.connect(db, timeout=5)
    try:
        return con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    except sqlite3.OperationalError:
        return 0        # the history is made by its first write
    finally:
        con.close()


def assert_history_matches(h, info):
    uid, sid = info["uid"], info["sid"]
    assert h.totals(uid) == tuple(info["totals"])
    seqs = [r[0] for r in h.con.execute("SELECT seq FROM records WHERE uid=? AND sid=? ORDER BY seq",
                                        (uid, sid))]
    assert seqs == list(range(1, len(seqs) + 1)), "records missing or out of order"


def in_save(pid, data):
    """True when the (stopped) process holds a temporary segment file open, or one is on
    the flash waiting for its rename: a save is under way."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}").endswith(".tmp"):
                return True
    except OSError:
        return False
    return any(data.glob("*.tmp"))


def _inotify(folder):
    """An inotify descriptor reporting files created in `folder` (Linux), or None."""
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK)
        if fd < 0:
            return None
        if libc.inotify_add_watch(fd, str(folder).encode(), 0x100) < 0:   # IN_CREATE
            os.close(fd)
            return None
        return fd
    except (OSError, AttributeError):
        return None


def cut_during_a_save(dev, data, rng, timeout=10.0):
    """Stops the device right after it creates a temporary segment file (inotify), or at
    random instants where inotify is missing, until it is caught inside a save; then
    cuts the power there (SIGKILL). Returns False if no save was caught in time."""
    import select as sel
    pid = dev.proc.pid
    ino = _inotify(data)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if ino is not None:
                if not sel.select([ino], [], [], 0.5)[0]:
                    continue
            os.kill(pid, signal.SIGSTOP)
            if ino is not None:
                try:
                    os.read(ino, 65536)
                except BlockingIOError:
                    pass
            if in_save(pid, data):
                dev.power_cut()
                return True
            os.kill(pid, signal.SIGCONT)
            if ino is None:
                time.sleep(rng.uniform(0, 0.002))
        return False
    finally:
        if ino is not None:
            os.close(ino)


def test_power_cuts_while_saving(tmp_path, short_trace):
    """Power cuts at random moments, and at random moments inside a save (the process
    stopped while it writes or renames a segment): after each, a sync brings the history
    to exactly the device's counts, and the records have no gap."""
    rng = random.Random(11)
    # 2 s bins saved as they close: many saves to land in (a board uses 5 min and 2 min)
    flash = flash_with(tmp_path, store_save_s=1, store_bin_s=2)
    data = flash / "data"
    secs = trace_seconds(short_trace)
    cuts = in_write = 0
    with History(tmp_path / "h.db") as h:
        dev = sim_board(flash, trace=short_trace, fast=True, end="rest").start()
        try:
            for k in range(6):
                time.sleep(rng.uniform(0.9, 2.0))
                if k % 2:
                    in_write += cut_during_a_save(dev, data, rng)
                if dev.proc.poll() is None:
                    dev.power_cut()
                cuts += 1
                dev.power_on()
                with lc.LinkClient.open(dev.path, timeout=2) as c:
                    sync_device(c, h)
                    assert_history_matches(h, c.identify())
            with lc.LinkClient.open(dev.path, timeout=2) as c:
                played(c, secs)
                sync_device(c, h)
                info = c.identify()
                assert_history_matches(h, info)
                assert info["boot"] >= 7 and sum(info["totals"]) > 0
                assert info["steps"] <= sum(info["totals"])
        finally:
            dev.stop()
    assert in_write >= 2
    print(f"faults injected: {cuts} power cuts, {in_write} of them inside a save")


def test_unplugged_mid_sync_and_synced_again(tmp_path, walk_trace):
    """The cable is pulled (the emulator closes the host's pseudo-terminal and opens a new
    one, the firmware counting on) once the history holds a random number of new records;
    a sync over the new port then brings the history to the device's totals exactly."""
    import serial
    from host_tools.bench_sync import prefill_month
    flash = flash_with(tmp_path)
    prefill_month(flash / "data", days=4)     # four days not yet synced: a longer sync
    rng = random.Random(5)
    unplugs = 0
    with History(tmp_path / "h.db") as h, sim_board(flash, trace=walk_trace, fast=True) as dev:
        with lc.LinkClient.open(str(dev.link), timeout=2) as c:
            played(c, trace_seconds(walk_trace))
        db = tmp_path / "h.db"
        for k in range(4):
            target = count_records(db) + rng.randrange(40, 250)
            c = lc.LinkClient.open(str(dev.link), timeout=0.5, retries=2)
            done = threading.Event()
            pulled = []

            def unplug():   # the cable comes out once the history got `target` records
                while count_records(db) < target and not done.is_set():
                    time.sleep(0.001)
                if not done.is_set():
                    old = dev.path
                    pulled.append(dev.unplug())
                    assert dev.path != old and os.path.realpath(dev.link) == dev.path

            th = threading.Thread(target=unplug)
            th.start()
            try:
                sync_device(c, h)
            except (lc.LinkError, serial.SerialException, OSError):
                th.join()
                if not pulled:
                    raise           # a failure that was not our unplug
                unplugs += 1
            finally:
                done.set()
                th.join()
                c.close()
        assert dev.unplugs >= unplugs
        assert dev.proc.poll() is None and dev.starts == 1   # the firmware never stopped
        with lc.LinkClient.open(str(dev.link), timeout=2) as c:
            sync_device(c, h)
            assert_history_matches(h, c.identify())
            # and stopping after the first batch, before the acknowledgement
            with pytest.raises(ConnectionAbortedError):
                sync_device(c, h, abort_after=1)
            sync_device(c, h)
            assert_history_matches(h, c.identify())
    assert unplugs >= 2
    print(f"faults injected: {unplugs} unplugs mid-sync (of 4 tries) and 1 sync stopped before its ack")


def test_garbage_and_damage_both_ways(tmp_path, walk_trace):
    flash = flash_with(tmp_path)
    with History(tmp_path / "h.db") as h, sim_board(flash, trace=walk_trace, fast=True) as dev:
        with lc.LinkClient.open(dev.path, timeout=2) as c:
            played(c, trace_seconds(walk_trace))
        dev.to_host.flip, dev.to_host.garbage = 0.001, 0.2
        dev.to_device.flip, dev.to_device.garbage = 0.01, 0.3
        with lc.LinkClient.open(dev.path, timeout=0.4, retries=20) as c:
            for _ in range(3):
                sync_device(c, h)
            for _ in range(10):     # small requests: most of the faults towards the device
                c.identify()
            c.ser.write(b"#!garbage line\n\x00\xff\xfe~~~~\n")
            info = c.identify()
        dev.to_host.flip = dev.to_device.flip = 0
        dev.to_host.garbage = dev.to_device.garbage = 0
        with lc.LinkClient.open(dev.path) as c2:
            assert_history_matches(h, c2.identify())
            assert c2.identify()["totals"] == info["totals"]
    # each direction got its faults, and each side noticed them: the host skipped or
    # rejected lines, and resent requests the device had refused as damaged
    assert dev.to_host.injected >= 10 and dev.to_device.injected >= 10
    assert c.skipped_lines + c.bad_frames >= 5 and c.resends >= 3
    print(f"faults injected: {dev.to_host.injected} towards the host, {dev.to_device.injected} "
          f"towards the device; host skipped {c.skipped_lines} lines, {c.bad_frames} damaged "
          f"frames, resent {c.resends} requests")


def test_settings_survive_a_reboot(tmp_path):
    flash = flash_with(tmp_path)
    with sim_board(flash, fast=True) as dev:
        with lc.LinkClient.open(dev.path, timeout=2) as c:
            boot = c.identify()["boot"]
            s = c.set_settings({"retro_goal": 321, "cues": 0})
            assert s["retro_goal"] == 321 and s["cues"] == 0
            with pytest.raises(lc.DeviceError, match="unknown setting"):
                c.set_settings({"retro_gaol": 1})
            c.reboot()
            info = wait_for(lambda: (lambda i: i if i["boot"] > boot else None)(c.identify()),
                            timeout=20, what="the reboot")
            assert info["boot"] == boot + 1
            assert c.get_settings()["retro_goal"] == 321 and c.get_settings()["cues"] == 0


def test_record_streams_the_imu_samples(tmp_path, walk_trace):
    from host_tools.trace import read_trace
    flash = flash_with(tmp_path)
    out = tmp_path / "rec.csv"
    with sim_board(flash, trace=walk_trace, fast=False, end="loop") as dev:
        time.sleep(0.3)
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "record", "--port", dev.path,
                            "--seconds", "1.5", "--label", "walk test", "-o", str(out)],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rec = read_trace(out)
    src = read_trace(walk_trace)
    assert rec.meta["label"] == "walk test" and len(rec.t_ms) >= 40
    assert (rec.t_ms[1:] - rec.t_ms[:-1] == 20).all()
    # what came out of the board is a window of what went into its emulated IMU
    lsb = float(rec.meta["lsb_per_g"])
    got = (rec.accel * lsb).round().astype(int)
    want = (src.accel * lsb).round().astype(int)
    first = next(i for i in range(len(want) - len(got)) if (abs(want[i:i + 5] - got[:5]) <= 1).all())
    assert (abs(want[first:first + len(got)] - got) <= 1).all()


def test_a_pocket_recording_keeps_the_gyro_and_replays_with_direction(tmp_path):
    # a board in a front pocket streams its gyro too; the recorded trace replays on the PC
    # with the walking direction the thigh's swing gives
    import re

    from host_tools.sim import simulate, write
    from host_tools.trace import read_trace
    src = write(simulate(script="retro 120", placement="front_pocket", sensor="bmi160", rate_hz=50,
                         seed=3), tmp_path, "pocket")
    flash = flash_with(tmp_path, placement="front_pocket")
    out = tmp_path / "rec.csv"
    with sim_board(flash, trace=src, fast=False, end="loop") as dev:
        time.sleep(0.3)
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "record", "--port", dev.path,
                            "--seconds", "8", "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rec = read_trace(out)
    assert rec.gyro is not None and rec.placement == "front_pocket" and rec.forward_axis == 3
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "replay", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    steps, fwd, bwd, unk = map(int, re.search(r"steps (\d+): forward (\d+), backward (\d+), "
                                               r"unknown (\d+)", r.stdout).groups())
    assert steps >= 10 and bwd >= steps - 2, r.stdout


def test_deploy_onto_a_blank_board_with_mpremote(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    cli = [sys.executable, "-m", "host_tools.cli", "deploy"]
    with sim_board(flash, fast=True) as dev:
        time.sleep(0.3)
        r = subprocess.run(cli + ["--board", "sim", "--port", dev.path], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "firmware" in r.stdout and "running on sim" in r.stdout
        assert (flash / "main.py").read_bytes() == (FIRMWARE / "main.py").read_bytes()
        assert (flash / "store.mpy").exists() and (flash / "board.json").exists()
        copied = int(r.stdout.split(" copied")[0].rsplit(" ", 1)[-1])
        assert copied == len(list(FIRMWARE.glob("*.py"))) + 1
        # a stale source file beside its compiled one is removed; unchanged files are skipped
        (flash / "store.py").write_text("raise ImportError\n")
        r = subprocess.run(cli + ["--board", "sim", "--port", dev.path], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert " 0 copied" in r.stdout and "1 stale removed" in r.stdout
        assert not (flash / "store.py").exists()
        with lc.LinkClient.open(dev.path, timeout=2, retries=8) as c:
            boot = c.identify()["boot"]
        r = subprocess.run(cli + ["--board", "pico", "--port", dev.path], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2 and "rp2 board" in r.stderr
        # the refusal came after the firmware was stopped at the REPL: it was restarted
        assert_counting_again(dev, boot, tmp_path / "refused.db")
    r = subprocess.run(cli + ["--board", "nosuchboard", "--port", "/dev/null"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown board 'nosuchboard'" in r.stderr and "pico" in r.stderr


def assert_counting_again(dev, boot, db):
    """The device rebooted after `boot` (deploy's soft reset ran main.py) and answers a
    sync whose history equals its counts; its clock runs (it counts)."""
    with lc.LinkClient.open(dev.path, timeout=2, retries=8) as c, History(db) as h:
        info = wait_for(lambda: (lambda i: i if i["boot"] > boot else None)(c.identify()),
                        timeout=20, what="the board to run its firmware again")
        sync_device(c, h)
        assert_history_matches(h, c.identify())
        wait_for(lambda: c.identify()["uptime"] > info["uptime"], timeout=20,
                 what="the firmware's clock to run")


def test_a_failed_deploy_restarts_the_board(tmp_path, monkeypatch):
    """Any failure after deploy stopped the firmware (here mpy-cross, then the copy)
    leaves the board running its firmware again, not at the REPL."""
    from host_tools import deploy_cmd
    from host_tools.errors import UserError
    flash = flash_with(tmp_path)
    with sim_board(flash, fast=True) as dev:
        with lc.LinkClient.open(dev.path, timeout=2, retries=8) as c:
            boot = c.identify()["boot"]

        def broken_build(*a, **k):
            raise UserError("mpy-cross failed on store.py: simulated")
        monkeypatch.setattr(deploy_cmd, "build", broken_build)
        with pytest.raises(UserError, match="mpy-cross failed"):
            deploy_cmd.deploy(dev.path, "sim")
        assert_counting_again(dev, boot, tmp_path / "h1.db")
        monkeypatch.undo()
        with lc.LinkClient.open(dev.path, timeout=2, retries=8) as c:
            boot = c.identify()["boot"]
        real = deploy_cmd.mpremote

        def failing_copy(port, *args, **kw):
            if args and args[0] == "cp":
                return subprocess.CompletedProcess(args, 1, "", "simulated copy failure")
            return real(port, *args, **kw)
        monkeypatch.setattr(deploy_cmd, "mpremote", failing_copy)
        (flash / "board.json").write_text((flash / "board.json").read_text() + " ")
        with pytest.raises(UserError, match="copying failed"):
            deploy_cmd.deploy(dev.path, "sim")
        assert_counting_again(dev, boot, tmp_path / "h2.db")


def test_calibrate_over_the_link(tmp_path):
    """CALIBRATE starts the board's calibration and answers at once; the ten steps that
    follow set the forward axis (in the settings and as a calibration event)."""
    trace = scenario_trace("stand 6s, walk 40, stand 10s", tmp_path / "cal")
    flash = flash_with(tmp_path)
    # in real time: the calibration records at most 10 s, which must hold the walk's start
    with sim_board(flash, trace=trace, fast=False, end="rest") as dev, \
            lc.LinkClient.open(dev.path, timeout=2) as c:
        assert c.get_settings()["forward_axis"] == ""
        wait_for(lambda: c.identify()["uptime"] >= 3, timeout=30, what="the walk to be near")
        assert c.identify()["steps"] == 0
        res = c.calibrate()
        assert res["started"] is True and res["steps"] > 0
        axis = wait_for(lambda: c.get_settings()["forward_axis"], timeout=60,
                        what="the calibration to finish")
        assert axis in ("+x", "-x", "+y", "-y", "+z", "-z")
        with History(tmp_path / "h.db") as h:
            sync_device(c, h)
            assert_history_matches(h, c.identify())
        recs = [r for _, rs in c.records(0, cut=False) for r in rs]
        cal = [r.data for r in recs if r.kind == lc.K_EVENT and r.data.get("type") == "calibration"]
        assert cal and cal[-1]["ok"] == 1 and cal[-1]["axis"] == axis


def test_two_virtual_devices_are_two_devices_in_one_history(tmp_path, short_trace):
    """Each virtual device's unique id comes from its flash folder: two of them sync into
    one history as two devices, and the same folder keeps its id across restarts."""
    from host_tools.emulate_cmd import flash_uid
    db = tmp_path / "h.db"
    uids = []
    for name in ("a", "b"):
        flash = flash_with(tmp_path / name)
        with sim_board(flash, trace=short_trace, fast=True, end="rest") as dev, \
                History(db) as h, lc.LinkClient.open(dev.path, timeout=2) as c:
            info = played(c, trace_seconds(short_trace))
            sync_device(c, h)
            assert_history_matches(h, c.identify())
            uids.append(info["uid"])
            assert info["uid"] == flash_uid(flash)
    assert uids[0] != uids[1]
    with History(db) as h:
        devices = {r[0] for r in h.con.execute("SELECT DISTINCT uid FROM records")}
        assert devices == set(uids)
        assert all(sum(h.totals(u)) > 0 for u in uids)
    with sim_board(tmp_path / "a" / "flash", fast=True) as dev, \
            lc.LinkClient.open(dev.path, timeout=2) as c:
        assert c.identify()["uid"] == uids[0]


def test_deploy_refuses_a_port_without_micropython(tmp_path):
    """A pseudo-terminal whose other end only echoes noise: no REPL, a clear refusal."""
    import os
    import tty
    m, s = os.openpty()
    tty.setraw(s)
    path = os.ttyname(s)
    stop = threading.Event()

    def noise():
        while not stop.is_set():
            try:
                if os.read(m, 100):
                    os.write(m, b"AT OK\r\n")
            except OSError:
                return

    th = threading.Thread(target=noise, daemon=True)
    th.start()
    try:
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "deploy", "--board", "sim",
                            "--port", path], capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        os.close(s)
        os.close(m)
    assert r.returncode == 2 and "not answering as a MicroPython board" in r.stderr


def test_demo_quick_day_matches_its_history(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "demo", "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    total = int(next(ln for ln in lines if "total steps" in ln).split()[2])
    counted = int(next(ln for ln in lines if "total steps" in ln).split("counted ")[1].rstrip(")"))
    assert total == counted > 0
    assert "report written to" in r.stdout and (out / "report.html").exists()
    h = subprocess.run([sys.executable, "-m", "host_tools.cli", "history", "--json", "--db",
                        str(out / "history.sqlite")], capture_output=True, text=True, timeout=60)
    days = json.loads(h.stdout)["days"]
    assert sum(d["total"] for d in days) == total


def test_emulate_prints_its_port_first_and_serves_until_stopped(tmp_path):
    import signal
    p = start_emulator(tmp_path / "flash", stderr=subprocess.PIPE)
    try:
        port = p.stdout.readline().strip()
        assert port.startswith("/dev/pts/")
        with lc.LinkClient.open(port, timeout=2) as c:
            info = c.identify()
            assert info["board"] == "sim" and info["proto"] == 1
        assert p.poll() is None
        # SIGUSR1: the cable is pulled and plugged in again; the stable link follows
        err = p.stderr.readline()
        link = err.split("its USB: ", 1)[1].split(" always points")[0]
        assert os.path.realpath(link) == port
        with lc.LinkClient.open(port, timeout=0.3, retries=1) as c:
            c.identify()
            p.send_signal(signal.SIGUSR1)
            line = p.stderr.readline()
            assert "unplugged and replugged: now " in line, line
            with pytest.raises(Exception):
                c.identify()     # the old port is dead
        new = line.rsplit("now ", 1)[1].strip()
        assert new != port and os.path.realpath(link) == new
        with lc.LinkClient.open(link, timeout=2) as c:
            assert c.identify()["boot"] == info["boot"]   # the same run of the firmware
        assert p.poll() is None
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(st[1]) == pid and st[0] != "Z":
                out.append(int(d))
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_emulator_leaves_no_device_running(tmp_path):
    p = start_emulator(tmp_path / "flash")
    try:
        port = p.stdout.readline().strip()
        with lc.LinkClient.open(port, timeout=2) as c:
            c.identify()
        kids = children(p.pid)
        assert kids and all(alive(k) for k in kids)
    finally:
        p.kill()
        p.wait()
    wait_for(lambda: not any(alive(k) for k in kids), timeout=10,
             what="the device process to die with its emulator")


def test_sync_restarts_a_firmware_left_stopped_by_mpremote(tmp_path):
    # `mpremote ... resume exec` stops the firmware at the REPL and leaves it there: sync
    # sees the prompt, restarts the firmware (a soft reset) and syncs, instead of
    # suggesting a deploy
    from host_tools.deploy_cmd import mpremote
    flash = flash_with(tmp_path)
    db = tmp_path / "h.db"
    with sim_board(flash, fast=False) as dev:
        time.sleep(0.5)
        r = mpremote(str(dev.link), "exec", "print('hello', 6 * 7)", timeout=30)
        assert r.returncode == 0 and "hello 42" in r.stdout, r.stderr
        starts = dev.starts
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "sync", "--port", str(dev.link),
                            "--db", str(db)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "at its MicroPython prompt" in r.stderr and "restarting the firmware" in r.stderr
        assert "synced" in r.stdout and "deploy" not in r.stderr
        assert dev.starts == starts + 1          # the Unix port's soft reset: a fresh start
