"""The firmware on the real RP2040 MicroPython in an emulated Pico (host_tools/pico.py): put
on it with `retrostep deploy --board pico` over the emulated USB serial port, counting a
simulated walk from the emulated IMU on its I2C pins, synced with `retrostep sync`.

Slow (the emulator runs the Pico's instructions: about a minute for the module), so marked
`slow` and few; skipped, saying why, without Node, rp2040js or the Pico's image.
"""
import json
import subprocess
import sys
import time

import pytest

from host_tools import link_client as lc
from host_tools import pico, virtual
from host_tools.history_db import History
from host_tools.paths import BOARDS

WHY = pico.missing()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(WHY is not None, reason=f"emulated Pico: {WHY}")]

CLI = [sys.executable, "-m", "host_tools.cli"]
PLUS_X = 1             # boards/pico.json: forward +x


def mpremote(port, *args, timeout=120):
    p = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "resume", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A Pico as it comes (MicroPython alone), given two days of counts not yet synced (the
    store's segment files, copied with mpremote), then the firmware with `retrostep deploy`;
    returns once it has counted the walk its IMU played."""
    from host_tools.bench_sync import prefill_month
    from host_tools.sim import stream, write
    tmp = tmp_path_factory.mktemp("pico")
    trace = write(stream(script="stand 10s, walk 40, turn, retro 30, stand 10s", placement="waist",
                         sensor="bmi160", rate_hz=50, seed=3, mount=pico.board_mount()),
                  tmp, "walk")
    old = prefill_month(tmp / "data", days=2)
    dev = pico.pico_board(tmp / "board", trace=trace)
    dev.start()
    try:
        mpremote(dev.path, "cp", "-r", str(tmp / "data"), ":")
        p = subprocess.run(CLI + ["deploy", "--board", "pico", "--port", dev.path], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "running on pico" in p.stdout
        stats = pico.wait_imu_done(tmp / "board", timeout=300)
        time.sleep(1)                   # its last batch through the detector
        yield {"dev": dev, "dir": tmp, "trace": trace, "old_records": old, "stats": stats}
    finally:
        dev.stop()


def test_deployed_on_the_pico_it_counts_the_walk_as_the_pc_and_an_unplug_mid_sync_loses_nothing(board):
    dev, tmp = board["dev"], board["dir"]
    out = dev.output.decode(errors="replace")
    # the real rp2 port: the IMU found on I2C0 by its probe, woken by its interrupt on GP6,
    # every module attached
    assert "retrostep: BMI160 at 0x68, 50 Hz, +-4 g, wake every 1000 ms on INT" in out, out[-2000:]
    free = int(out.split("retrostep: modules: store link retro fall; free heap ")[1].split()[0])
    print("free heap after boot, every module attached (RP2040):", free, "bytes")
    assert 100_000 < free < 240_000
    assert board["stats"]["flash_writes"] > 0 and board["stats"]["imu"]["made"] > 3000
    # the cable comes out after the third batch of records reached the history
    db = tmp / "h.sqlite"
    with History(db) as h:
        c = lc.LinkClient.open(dev.path, timeout=2.0)
        real = c.records
        batches = []

        def records(since, cut=True, max_bytes=1024):
            for item in real(since, cut, max_bytes):
                yield item
                batches.append(len(item[1]))
                if len(batches) == 3:
                    dev.unplug()
        c.records = records
        from host_tools.sync_cmd import sync_device
        with pytest.raises(Exception):
            sync_device(c, h)
        c.close()
        held = h.con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        assert held >= 3 and held < board["old_records"]
    # synced again, as a user would, over the new port
    p = subprocess.run(CLI + ["sync", "--port", dev.path, "--db", str(db)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    with lc.LinkClient.open(dev.path, timeout=2.0) as c:
        info = c.identify()
    assert info["board"] == "pico" and info["imu"] == "BMI160"
    with History(db) as h:
        uid, sid = info["uid"], info["sid"]
        assert h.totals(uid) == tuple(info["totals"])
        seqs = [r[0] for r in h.con.execute("SELECT seq FROM records WHERE uid=? AND sid=? ORDER BY seq",
                                            (uid, sid))]
        assert seqs == list(range(1, len(seqs) + 1)), "records missing or counted twice"
        assert seqs[-1] > board["old_records"]
        # this boot's steps: the walk, exactly as the detector counts it on the PC
        got = h.con.execute("SELECT SUM(forward), SUM(backward), SUM(unknown) FROM records "
                            "WHERE uid=? AND kind=1 AND boot=?", (uid, info["boot"])).fetchone()
        sessions = [json.loads(d) for (d,) in h.con.execute(
            "SELECT data FROM records WHERE uid=? AND boot=? AND type='retro_session'", (uid, info["boot"]))]
    ref = virtual.pc_reference(board["trace"], chip="bmi160", forward_axis=PLUS_X, placement="waist")
    print("emulated Pico:", got, "PC:", ref)
    assert tuple(got) == (ref["forward"], ref["backward"], ref["unknown"])
    assert ref["backward"] >= 20 and ref["forward"] >= 30
    assert len(sessions) == 1 and sessions[0]["backward"] >= 20


def test_the_counts_survive_a_reset_on_the_pico_flash_and_pico_json_is_the_config(board):
    # REBOOT: the firmware saves, then machine.reset(): a watchdog reset of the chip; its
    # littlefs (written through the boot ROM's flash_range_program / erase) is read back
    dev, tmp = board["dev"], board["dir"]
    with lc.LinkClient.open(dev.path, timeout=2.0) as c:
        before = c.identify()
        c.reboot()
    deadline = time.monotonic() + 120
    while True:
        try:
            with lc.LinkClient.open(dev.path, timeout=2.0, retries=2) as c:
                after = c.identify()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    time.sleep(1)                   # the emulator's figures are written twice a second
    assert pico.read_stats(tmp / "board")["resets"] == 1
    assert after["boot"] == before["boot"] + 1 and after["sid"] == before["sid"]
    assert after["totals"] == before["totals"] and after["saved_seq"] >= before["saved_seq"]
    # the board config on the Pico's flash is boards/pico.json, as deploy put it there
    text = mpremote(dev.path, "exec", "print(open('board.json').read())")
    assert json.loads(text) == json.loads((BOARDS / "pico.json").read_text())
    # stopped at the REPL (Ctrl-C), the firmware left a timer feeding the watchdog, which the
    # RP2040 cannot turn off: the board is not reset under the host, whatever it takes
    st = pico.read_stats(tmp / "board")
    deadline = time.monotonic() + 120
    while pico.read_stats(tmp / "board").get("sim_ms", 0) < st["sim_ms"] + 12000:
        assert time.monotonic() < deadline, "the emulated Pico's clock stopped"
        time.sleep(0.5)
    assert pico.read_stats(tmp / "board")["resets"] == 1
