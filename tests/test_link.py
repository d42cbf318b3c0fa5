"""The link protocol against the real firmware files (store.py, link_session.py) under the Unix
port over a real pseudo-terminal: answers, clear errors both ways, and Ctrl-C into the REPL
so mpremote still works."""
import json
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


class ScriptedSerial:
    """A serial port whose device answers each request frame with `reply(seq, cmd, payload)`
    (a list of lines), recording the requests' seqs."""

    def __init__(self, reply):
        self.reply = reply
        self.seqs = []
        self.pending = b""
        self.port = "scripted"

    @property
    def in_waiting(self):
        return len(self.pending)

    def write(self, data):
        ver, seq, cmd, p = lc.decode_frame(data)
        self.seqs.append(seq)
        for line in self.reply(seq, cmd, p):
            self.pending += line

    def read(self, n):
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def close(self):
        pass


def test_request_seqs_skip_the_reserved_0xffff():
    """0xFFFF marks the device's untrusted ERR replies: the host never uses it."""
    ser = ScriptedSerial(lambda seq, cmd, p: [lc.encode_frame(seq, cmd | 0x80, b"{}")])
    c = lc.LinkClient(ser, timeout=0.2, retries=2)
    c.seq = 0xFFFC
    for _ in range(4):
        assert c.request(lc.C_IDENTIFY) == b"{}"
    assert ser.seqs == [0xFFFD, 0xFFFE, 1, 2]
    c.seq = 0xFFFF        # e.g. a random start there
    c.request(lc.C_IDENTIFY)
    assert ser.seqs[-1] not in (0, 0xFFFF)
    ser.seqs.clear()
    c.seq = 0xFFE0
    for _ in range(80):
        c.request(lc.C_IDENTIFY)
    assert 0xFFFF not in ser.seqs and 0 not in ser.seqs and len(set(ser.seqs)) == 80


def test_host_refuses_a_device_of_another_protocol_version():
    """A device answering in protocol 2: a clear refusal naming both versions, no retry."""
    ser = ScriptedSerial(lambda seq, cmd, p: [lc.encode_frame(seq, cmd | 0x80, b"{}", version=2)])
    c = lc.LinkClient(ser, timeout=0.2, retries=3)
    with pytest.raises(UserError, match=r"device speaks link protocol 2, this retrostep speaks 1"):
        c.identify()
    assert len(ser.seqs) == 1
    # and the device's own refusal of our version, as the firmware sends it (ERR version)
    ser = ScriptedSerial(lambda seq, cmd, p: [lc.encode_frame(seq, lc.C_ERR, bytes([lc.E_VERSION]) + b"3")])
    c = lc.LinkClient(ser, timeout=0.2, retries=3)
    with pytest.raises(UserError, match=r"device speaks link protocol 3, this retrostep speaks 1"):
        c.identify()


def test_reboot_is_not_sent_twice_when_only_its_reply_is_lost():
    """The device reboots on REBOOT but its reply never arrives: the host sees the boot
    counter moved and does not send REBOOT again."""
    state = {"boot": 4, "reboots": 0}

    def reply(seq, cmd, p):
        if cmd == lc.C_REBOOT:
            state["reboots"] += 1
            state["boot"] += 1
            return []                       # the reply is lost in the reset
        return [lc.encode_frame(seq, cmd | 0x80, json.dumps({"boot": state["boot"]}).encode())]

    ser = ScriptedSerial(reply)
    c = lc.LinkClient(ser, timeout=0.1, retries=4)
    c.reboot()
    assert state["reboots"] == 1 and state["boot"] == 5
