"""The link protocol against the real firmware files (store.py, link.py) under the Unix
port over a real pseudo-terminal: answers, clear errors both ways, and Ctrl-C into the REPL
so mpremote still works."""
import struct
import subprocess
import sys
import time

import pytest

from host_tools import link_client as lc
from host_tools.errors import UserError
from synckit import fake_device, wait_for


@pytest.fixture
def dev(tmp_path):
    d = fake_device(tmp_path)
    yield d
    d.stop()


def raw_exchange(c, data: bytes, want_seq=None, timeout=2.0):
    """Writes raw bytes, returns the first frame that comes back."""
    c.ser.write(data)
    end = time.monotonic() + timeout
    while True:
        line = c._readline(end)
        assert line is not None, "no reply"
        fr = lc.decode_frame(line)
        if fr and (want_seq is None or fr[1] == want_seq):
            return fr


def test_identify_settings_and_records(dev):
    with lc.LinkClient.open(dev.path) as c:
        info = c.identify()
        assert info["proto"] == 1 and info["board"] == "fake" and info["uid"] == "fake0001"
        assert c.get_settings() == {"retro_goal": 400, "cues": 1}
        assert c.set_settings({"retro_goal": 350})["retro_goal"] == 350
        with pytest.raises(lc.DeviceError, match="unknown setting"):
            c.set_settings({"nope": 1})
        wait_for(lambda: c.identify()["totals"][0] > 0, what="steps")
        boots = c.set_time(1_700_000_000, 0)
        assert boots[-1][0] == info["boot"] and boots[-1][1] is not None
        got = [r for _, recs in c.records(0) for r in recs]
        assert got and [r.seq for r in got] == list(range(1, got[-1].seq + 1))
        after = c.identify()
        bins = [r for r in got if r.kind == lc.K_BIN]
        # everything counted up to the cut is in the records: steps never stop in between,
        # so the device's totals now are at least what was sent
        sent = (sum(r.fwd for r in bins), sum(r.bwd for r in bins), sum(r.unk for r in bins))
        assert sent[0] > 0 and all(a >= s for a, s in zip(after["totals"], sent))
        assert c.ack(got[-1].seq) == got[-1].seq
        assert c.identify()["acked"] == got[-1].seq


def test_errors_from_the_device(dev):
    with lc.LinkClient.open(dev.path) as c:
        c.identify()
        fr = raw_exchange(c, b"hello there\n")
        assert fr[2] == lc.C_ERR and fr[3][0] == lc.E_GARBAGE and fr[1] == 0xFFFF
        good = lc.encode_frame(77, lc.C_IDENTIFY)
        bad = bytearray(good)
        bad[5] ^= 0x01
        fr = raw_exchange(c, bytes(bad))
        assert fr[2] == lc.C_ERR and fr[3][0] in (lc.E_CRC, lc.E_GARBAGE) and fr[1] == 0xFFFF
        fr = raw_exchange(c, b"~" + b"A" * 900 + b"\n")
        assert fr[2] == lc.C_ERR and fr[3][0] == lc.E_GARBAGE and b"too long" in fr[3]
        fr = raw_exchange(c, lc.encode_frame(78, 0x33), want_seq=78)
        assert fr[2] == lc.C_ERR and fr[3][0] == lc.E_UNKNOWN and b"0x33" in fr[3]
        fr = raw_exchange(c, lc.encode_frame(79, lc.C_RECORDS, b"\x01"), want_seq=79)
        assert fr[2] == lc.C_ERR and fr[3][0] == lc.E_ARG
        with pytest.raises(UserError, match="protocol 1.*speaks 2"):
            c.request(lc.C_IDENTIFY, version=2)
        assert c.identify()["uid"] == "fake0001"   # still answering


def test_host_survives_garbage_and_corruption_from_the_device(dev):
    dev.to_host.flip = 0.002
    dev.to_host.garbage = 0.3
    with lc.LinkClient.open(dev.path, timeout=0.5, retries=10) as c:
        for _ in range(30):
            assert c.identify()["uid"] == "fake0001"
        assert c.skipped_lines + c.bad_frames > 0
    print(f"faults injected: {dev.to_host.injected}; host skipped {c.skipped_lines} lines, "
          f"{c.bad_frames} damaged frames, resent {c.resends} requests")


def test_device_survives_corruption_from_the_host(dev):
    dev.to_device.flip = 0.01
    with lc.LinkClient.open(dev.path, timeout=0.5, retries=15) as c:
        for i in range(30):
            assert c.set_settings({"retro_goal": 100 + i})["retro_goal"] == 100 + i
    print(f"faults injected: {dev.to_device.injected}; resent {c.resends} requests")
    assert dev.to_device.injected > 0


def test_ctrl_c_drops_into_the_repl_and_mpremote_works(dev):
    with lc.LinkClient.open(dev.path) as c:
        c.identify()
        c.ser.write(b"\x03")
        wait_for(lambda: b">>> " in dev.output, what="the REPL prompt")
    out = subprocess.run([sys.executable, "-m", "mpremote", "connect", dev.path, "resume", "exec",
                          "import store; print('x', 6 * 7)"],
                         capture_output=True, text=True, timeout=30)
    assert "x 42" in out.stdout, out.stdout + out.stderr
    # the interrupted firmware closed its store cleanly: the open bin was saved
    assert any(p.name.startswith("s") for p in (dev.cwd / "flash").iterdir())
