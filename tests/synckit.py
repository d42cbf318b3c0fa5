"""Starts the stand-in device (tests/mp_fakedev.py: the real store.py and link_session.py under the
Unix port) or the real firmware behind a VirtualDevice pseudo-terminal."""
import subprocess
import sys
import time
from pathlib import Path

from host_tools.emulate_cmd import VirtualDevice
from host_tools.paths import FIRMWARE

HERE = Path(__file__).parent


def fake_device(tmp: Path, uid="fake0001", speed=60, ticks=0, prefill_days=0,
                **kw) -> VirtualDevice:
    env = {"RS_ROOT": str(tmp / "flash"), "RS_SPEED": str(speed), "RS_UID": uid,
           "RS_TICKS": str(ticks)}
    if prefill_days:
        env["RS_PREFILL_DAYS"] = str(prefill_days)
    dev = VirtualDevice([str(HERE / "mp_fakedev.py")], tmp, env=env,
                        pythonpath=[".frozen", str(FIRMWARE)], **kw)
    return dev.start()


def start_emulator(flash: Path, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    """`retrostep emulate --flash FLASH` as a user starts it; its first stdout line is the
    device's port."""
    return subprocess.Popen([sys.executable, "-m", "host_tools.cli", "emulate", "--flash", str(flash)],
                            stdout=subprocess.PIPE, stderr=stderr, text=True)


def wait_for(pred, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def expected_fake_totals(ticks):
    """What tests/mp_fakedev.py counts in `ticks` ticks."""
    return (2 * ticks, ticks, ticks // 5)


def flash_records(flash: Path) -> list:
    """The records the firmware saved on a virtual flash, read as a sync reads them."""
    from host_tools.link_client import parse_records
    from host_tools.mpcompat import firmware_module
    st = firmware_module("store").Store(str(flash / "data"), lambda: 0)
    buf = bytearray(1024)
    recs = []
    while True:
        c, used = st.read_since(recs[-1].seq if recs else 0, buf)
        if not c:
            break
        recs += parse_records(bytes(buf[:used]))
    return recs
