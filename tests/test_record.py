"""`retrostep record` loses nothing that arrived: its options are checked before the board
is asked for anything, and a recording stopped any way (Ctrl-C, SIGTERM, SIGKILL, the
cable pulled, the board dead) leaves OUT.partial, a trace that reads, with a clear message
and no traceback. Against the virtual device (the real firmware streaming its IMU)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from host_tools.emulate_cmd import install_firmware, scenario_trace, sim_board
from host_tools.paths import FIRMWARE
from host_tools.record_cmd import STALL_S
from host_tools.trace import read_trace
from synckit import wait_for

pytestmark = pytest.mark.skipif(not (FIRMWARE / "main.py").exists(), reason="no firmware/main.py")


def record(port, out, seconds):
    return subprocess.Popen([sys.executable, "-m", "host_tools.cli", "record", "--port", str(port),
                             "--seconds", str(seconds), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rows_in(path):
    try:
        return sum(1 for ln in path.read_text().splitlines() if ln[:1].isdigit())
    except FileNotFoundError:
        return 0


def finished(proc, timeout=30):
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def whole_trace(path, least):
    """The file reads as a complete trace (strictly: every line whole) of 50 Hz samples."""
    tr = read_trace(path)
    assert len(tr) >= least and np.all(np.diff(tr.t_ms) == 20) and tr.meta["rate_hz"] == "50"
    return tr


def test_bad_options_are_refused_before_the_board_is_asked(tmp_path):
    # the port does not exist: each refusal below comes first, and nothing is written
    port = str(tmp_path / "no-such-port")
    (tmp_path / "old.csv").write_text("a recording")
    (tmp_path / "cut.csv.partial").write_text("an interrupted recording")
    cases = [(["--seconds", "nan"], "--seconds nan"), (["--seconds", "inf"], "--seconds inf"),
             (["--seconds", "0"], "--seconds 0"), (["--seconds", "-3"], "--seconds -3"),
             (["-o", str(tmp_path / "missing" / "x.csv")], "does not exist"),
             (["-o", str(tmp_path)], "is a folder"),
             (["-o", str(tmp_path / "old.csv")], "exists; choose another name"),
             (["-o", str(tmp_path / "cut.csv")], "cut.csv.partial exists")]
    for args, words in cases:
        argv = {"--seconds": "2", "-o": str(tmp_path / "new.csv")}
        argv.update(dict(zip(args[::2], args[1::2])))
        p = subprocess.run([sys.executable, "-m", "host_tools.cli", "record", "--port", port,
                            *[x for kv in argv.items() for x in kv]],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
        assert "cannot open serial port" not in p.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["cut.csv.partial", "old.csv"]
    assert (tmp_path / "old.csv").read_text() == "a recording"


def test_a_recording_stopped_any_way_keeps_what_arrived(tmp_path):
    trace = scenario_trace("walk 100, stand 10s", tmp_path / "src")
    flash = install_firmware(tmp_path / "flash")
    with sim_board(flash, trace=trace, fast=False, end="loop") as dev:
        time.sleep(0.3)
        # half a second is recorded whole, though the board sends a batch a second;
        # $RETROSTEP_PORT names the port as for sync and deploy
        p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "record", "--seconds", "0.5",
                              "-o", str(tmp_path / "half.csv")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "RETROSTEP_PORT": dev.path})
        rc, out, err = finished(p)
        assert rc == 0 and "recorded 25 samples" in out, err
        assert len(whole_trace(tmp_path / "half.csv", 25)) == 25
        assert not (tmp_path / "half.csv.partial").exists()

        # stopped by the user (Ctrl-C, SIGTERM) or killed outright, once samples flowed
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            out_file = tmp_path / f"{sig.name}.csv"
            partial = tmp_path / f"{sig.name}.csv.partial"
            p = record(dev.path, out_file, 600)
            wait_for(lambda: rows_in(partial) >= 30, timeout=20, what="samples in the file")
            p.send_signal(sig)
            rc, out, err = finished(p)
            assert not out_file.exists()
            whole_trace(partial, 30)
            if sig == signal.SIGKILL:
                assert rc == -9
            else:
                assert rc == 130 and f"kept in {partial}" in err, err

        # the cable pulled mid-recording
        partial = tmp_path / "pulled.csv.partial"
        p = record(dev.path, tmp_path / "pulled.csv", 600)
        wait_for(lambda: rows_in(partial) >= 30, timeout=20, what="samples in the file")
        dev.unplug()
        rc, out, err = finished(p)
        assert rc == 2 and "the port went away" in err and f"kept in {partial}" in err, err
        whole_trace(partial, 30)

        # the board dies (its process killed, the port left open): silence, then a clear end
        partial = tmp_path / "dead.csv.partial"
        p = record(dev.link, tmp_path / "dead.csv", 600)
        wait_for(lambda: rows_in(partial) >= 30, timeout=20, what="samples in the file")
        dev.power_cut()
        t0 = time.monotonic()
        rc, out, err = finished(p)
        assert rc == 2 and "stopped sending samples" in err and f"kept in {partial}" in err, err
        assert time.monotonic() - t0 < STALL_S + 5
        whole_trace(partial, 30)
