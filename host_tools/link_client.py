"""Host side of the device link (protocol version 1, see firmware/link_session.py), over pyserial.

    with LinkClient.open("/dev/ttyACM0") as c:
        info = c.identify()
        boots = c.set_time(time.time(), tz_minutes)
        for saved_seq, recs in c.records(since, cut=True): ...
        c.ack(n)

Requests are resent (same seq) after a timeout or when the device reports a damaged frame;
lines that are not frames (console text, noise) are skipped and counted.
"""
from __future__ import annotations

import base64
import binascii
import json
import struct
import time
import zlib
from dataclasses import dataclass

from .errors import UserError

PROTO = 1
C_IDENTIFY, C_RECORDS, C_ACK, C_SET_TIME, C_BOOTS = 0x01, 0x02, 0x03, 0x04, 0x05
C_GET_SETTINGS, C_SET_SETTINGS, C_STREAM_START, C_STREAM_STOP = 0x06, 0x07, 0x08, 0x09
C_CALIBRATE, C_REBOOT, C_STREAM, C_ERR = 0x0A, 0x0B, 0x40, 0x7F
E_GARBAGE, E_CRC, E_UNKNOWN, E_VERSION, E_ARG, E_FAILED = 1, 2, 3, 4, 5, 6
ERR_NAMES = {1: "garbage", 2: "crc", 3: "unknown command", 4: "version", 5: "argument",
             6: "failed"}

K_BIN, K_EVENT = 1, 2
_REC = struct.Struct("<IHBHI")
_BINP = struct.Struct("<HHHH")


class LinkError(Exception):
    """The device did not answer properly (after retries)."""


class DeviceError(LinkError):
    """The device answered with ERR."""

    def __init__(self, code: int, msg: str):
        super().__init__(f"device error {ERR_NAMES.get(code, code)}: {msg}")
        self.code = code
        self.msg = msg


def encode_frame(seq: int, cmd: int, payload: bytes = b"", version: int = PROTO) -> bytes:
    body = struct.pack("<BHB", version, seq, cmd) + payload
    body += struct.pack("<I", zlib.crc32(body))
    return b"~" + base64.b64encode(body) + b"\n"


def decode_frame(line: bytes):
    """(version, seq, cmd, payload) of a frame line, None when it is not a frame, or raises
    ValueError('crc') when the checksum fails."""
    line = line.strip()
    if not line.startswith(b"~"):
        return None
    try:
        body = base64.b64decode(line[1:], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("encoding")
    if len(body) < 8:
        raise ValueError("short")
    if struct.unpack("<I", body[-4:])[0] != zlib.crc32(body[:-4]):
        raise ValueError("crc")
    ver, seq, cmd = struct.unpack("<BHB", body[:4])
    return ver, seq, cmd, body[4:-4]


@dataclass
class Record:
    seq: int
    boot: int
    kind: int
    t: int                   # uptime seconds in its boot
    fwd: int = 0
    bwd: int = 0
    unk: int = 0
    dur: int = 0
    data: dict | None = None  # events


def parse_records(blob: bytes) -> list[Record]:
    out = []
    i = 0
    while i + _REC.size <= len(blob):
        seq, boot, kind, ln, t = _REC.unpack_from(blob, i)
        p = blob[i + _REC.size:i + _REC.size + ln]
        if len(p) != ln:
            raise LinkError(f"record {seq} cut short")
        if kind == K_BIN:
            f, b, u, d = _BINP.unpack(p)
            out.append(Record(seq, boot, kind, t, f, b, u, d))
        else:
            try:
                data = json.loads(p)
            except ValueError:
                data = {"type": "unreadable"}
            out.append(Record(seq, boot, kind, t, data=data))
        i += _REC.size + ln
    return out


class LinkClient:
    def __init__(self, ser, timeout: float = 1.0, retries: int = 6):
        self.ser = ser
        self.port = getattr(ser, "port", None)
        self.timeout = timeout
        self.retries = retries
        self.seq = int.from_bytes(__import__("os").urandom(2), "little") or 1
        self.skipped_lines = 0    # console text and noise
        self.bad_frames = 0       # frames that failed their CRC or encoding
        self.resends = 0
        self.samples: list[tuple[int, int, bytes]] = []  # stream frames while streaming
        self.console: list[str] = []  # the last lines that were not frames (console text)
        self._buf = b""

    @classmethod
    def open(cls, port: str, timeout: float = 1.0, retries: int = 6) -> "LinkClient":
        import serial
        try:
            ser = serial.Serial(port, 115200, timeout=0.05, write_timeout=2, exclusive=True)
        except (serial.SerialException, OSError) as e:
            raise UserError(f"cannot open serial port {port}: {e}") from None
        c = cls(ser, timeout, retries)
        # end whatever half line the device holds, then forget what it said before
        ser.write(b"\n")
        time.sleep(0.02)
        ser.reset_input_buffer()
        return c

    def close(self):
        self.ser.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- frames ----------------------------------------------------------------------
    def _readline(self, deadline: float) -> bytes | None:
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1:]
                return line
            if time.monotonic() >= deadline:
                return None
            chunk = self.ser.read(max(1, self.ser.in_waiting))
            if chunk:
                self._buf += chunk

    def request(self, cmd: int, payload: bytes = b"", version: int = PROTO,
                tries: int | None = None) -> bytes:
        tries = self.retries if tries is None else tries
        # 1..0xFFFE: 0xFFFF is the device's "no request" seq (ERR replies it cannot trust)
        self.seq = self.seq % 0xFFFE + 1
        frame = encode_frame(self.seq, cmd, payload, version)
        last = "no answer"
        for attempt in range(tries):
            if attempt:
                if self.at_prompt():
                    raise LinkError("the board answers with MicroPython's prompt, not frames:"
                                    " its firmware is stopped")
                self.resends += 1
            self.ser.write(frame)
            deadline = time.monotonic() + self.timeout
            while True:
                line = self._readline(deadline)
                if line is None:
                    break
                try:
                    fr = decode_frame(line)
                except ValueError as e:
                    # most likely our reply, damaged on the way: ask again at once
                    self.bad_frames += 1
                    last = f"damaged reply ({e})"
                    break
                if fr is None:
                    if line.strip():
                        self.skipped_lines += 1
                        self._note(line)
                    continue
                ver, seq, rcmd, p = fr
                if ver != PROTO:
                    raise UserError(f"the device speaks link protocol {ver}, this retrostep "
                                    f"speaks {PROTO}: deploy this version's firmware "
                                    "(retrostep deploy) or update retrostep")
                if rcmd == C_STREAM:
                    self.samples.append((seq, len(self.samples), p))
                    continue
                if rcmd == C_ERR:
                    code, msg = p[0], p[1:].decode("utf-8", "replace")
                    if seq == 0xFFFF and code in (E_GARBAGE, E_CRC):
                        # our frame arrived damaged: send it again
                        last = f"device saw a damaged frame ({msg})"
                        break
                    if seq != self.seq:
                        continue
                    if code == E_VERSION:
                        raise UserError(f"the device speaks link protocol {msg}, this "
                                        f"retrostep speaks {version}: deploy this version's "
                                        "firmware (retrostep deploy) or update retrostep")
                    raise DeviceError(code, msg)
                if seq != self.seq or rcmd != cmd | 0x80:
                    continue  # a late reply to an earlier attempt
                return p
        raise LinkError(f"no valid reply to command 0x{cmd:02x} after {tries} tries "
                        f"({last})")

    def _note(self, line: bytes):
        self.console.append(line.decode("utf-8", "replace").strip())
        del self.console[:-20]

    def at_prompt(self) -> bool:
        """The board answered with MicroPython's prompt instead of frames: its firmware
        is stopped (by mpremote, or a Ctrl-C) and the REPL reads what we send."""
        return any(ln.startswith(">>>") or "raw REPL" in ln or ln.startswith("SyntaxError")
                   for ln in self.console)

    def wake(self, log=None, wait: float = 15.0) -> dict:
        """identify(); when the firmware is found stopped at the MicroPython prompt, it is
        soft-reset (main.py runs again, as at power-up) and asked again."""
        try:
            return self.identify()
        except LinkError:
            if not self.at_prompt():
                raise
        if log:
            log("the board was at its MicroPython prompt (its firmware stopped, e.g. by"
                " mpremote): restarting the firmware")
        self.ser.write(b"\r\x03\x03\x02")   # stop what runs, leave the raw REPL
        time.sleep(0.2)
        self.ser.write(b"\x04")               # Ctrl-D: soft reset
        self.console.clear()
        end = time.monotonic() + wait
        while True:
            try:
                return self.identify()
            except LinkError:
                if time.monotonic() > end:
                    raise LinkError("the board did not start its firmware after a soft reset"
                                    " (its last words: " + " | ".join(self.console[-3:]) + ")")

    def _json(self, cmd: int, payload: bytes = b""):
        return json.loads(self.request(cmd, payload))

    # ---- commands --------------------------------------------------------------------
    def identify(self) -> dict:
        return self._json(C_IDENTIFY)

    def set_time(self, epoch: float | None = None, tz_min: int | None = None) -> list:
        if epoch is None:
            epoch = time.time()
        if tz_min is None:
            tz_min = local_tz_minutes(epoch)
        return self._json(C_SET_TIME, struct.pack("<Ih", int(epoch), tz_min))

    def boots(self) -> list:
        return self._json(C_BOOTS)

    def records(self, since: int, cut: bool = True, max_bytes: int = 1024):
        """Yields (saved_seq, [Record]) batches until the device has nothing newer."""
        flags = 1 if cut else 0
        while True:
            p = self.request(C_RECORDS, struct.pack("<IHB", since, max_bytes, flags))
            flags = 0
            saved = struct.unpack("<I", p[:4])[0]
            recs = parse_records(p[4:])
            yield saved, recs
            if not recs or recs[-1].seq >= saved:
                return
            since = recs[-1].seq

    def ack(self, upto: int) -> int:
        return struct.unpack("<I", self.request(C_ACK, struct.pack("<I", upto)))[0]

    def get_settings(self) -> dict:
        return self._json(C_GET_SETTINGS)

    def set_settings(self, values: dict) -> dict:
        return self._json(C_SET_SETTINGS, json.dumps(values).encode())

    def stream_start(self) -> dict:
        self.samples = []
        return self._json(C_STREAM_START)

    def stream_stop(self):
        self.request(C_STREAM_STOP)

    def next_stream(self, deadline: float) -> tuple[int, bytes] | None:
        """The next STREAM frame as (seq, payload), those that came in during a request
        first; None when none arrives by `deadline` (time.monotonic())."""
        if self.samples:
            seq, _, p = self.samples.pop(0)
            return seq, p
        while True:
            line = self._readline(deadline)
            if line is None:
                return None
            try:
                fr = decode_frame(line)
            except ValueError:
                self.bad_frames += 1
                continue
            if fr is None:
                if line.strip():
                    self._note(line)
                continue
            if fr[2] == C_STREAM:
                return fr[1], fr[3]

    def calibrate(self) -> dict:
        return self._json(C_CALIBRATE)

    def reboot(self):
        """Reboots the device once. REBOOT is the one request whose repeat is not harmless
        (the device cannot remember a seq across its reset), so it is not resent blindly:
        when its reply is lost, the device's boot counter tells whether it rebooted."""
        boot = self.identify().get("boot")
        for _ in range(max(1, self.retries)):
            try:
                self.request(C_REBOOT, tries=1)
                return
            except LinkError:
                pass
            if self.identify().get("boot") != boot:   # raises LinkError if it is gone
                return      # it rebooted; only the reply was lost
        raise LinkError("the device did not take the REBOOT request")


def local_tz_minutes(epoch: float) -> int:
    lt = time.localtime(epoch)
    return int((lt.tm_gmtoff or 0) // 60)
