"""A host's session on the USB serial link: framed, checksummed requests and replies.

Loaded by link.py when the host starts talking and dropped again once it has been quiet
for a while, so between syncs none of this takes heap. On the same serial port as the REPL:

    lk = Link(store, info, handlers=None, inp=None, out=None)
        info      dict for `identify`: "board", "fw", "uid"...
        handlers  optional callables: "info" () -> dict of more identify fields,
                  "calibrate" () -> dict, "reboot" (), "stream" (on) -> dict of trace
                  header fields (rate_hz, lsb_per_g...), "index" () -> sample index of
                  the next raw sample, "get_settings" () -> dict, "set_settings" (dict)
                  -> dict (raises ValueError), "seen" () on each valid frame;
                  settings default to the store's; "app": the counting loop, which
                  then answers info, settings and stream itself (see _APP, here
                  and in link_more.py)
        inp, out  byte streams (default sys.stdin.buffer / sys.stdout.buffer)
    session(app, inp) a Link that serves the counting loop `app` (what link.py makes)
    lk.on_input()                     reads and answers what the host sent (call it when
                                      `inp` is readable); False once `inp` has ended. A 0x03
                                      (Ctrl-C) raises KeyboardInterrupt, so the REPL (and
                                      mpremote) work
    lk.streaming                      True while the host records raw samples
    lk.on_samples(buf, n, stride, t_ms)   one batch of raw samples (int array) while streaming

The commands a sync uses are answered here; the others (SET_SETTINGS, STREAM_START/STOP,
CALIBRATE, REBOOT, and unknown ones) by link_more.py, loaded for them and dropped after
(kept while streaming).

A request that finds the heap short is answered ERR failed "out of memory" with seq
0xFFFF, which matches no request: the host asks again after its timeout, and the link
and the counting go on.

Protocol version 1. Every frame is one text line, so it never holds a control byte and
console text (prints, tracebacks) can share the port:

    "~" base64(body) "\\n"        (the device may end lines with "\\r\\n")
    body = version u8 | seq u16 | cmd u8 | payload | crc32 u32     little-endian;
           the CRC32 covers version..payload

Lines without "~" are console text: the host skips them; the device answers a non-empty
one with ERR garbage. The host numbers its requests (seq 1..65534, wrapping) and resends
the same request with the same seq when no reply comes; every request is idempotent, so a
repeat is harmless. The device answers each request with one frame of the same seq and
cmd | 0x80, or ERR (cmd 0x7F) with payload code u8 | message (UTF-8):

    code 1 garbage    the line was not a frame (no "~", bad base64, too short or too long)
    code 2 crc        the CRC32 did not match (seq 0xFFFF: the seq cannot be trusted)
    code 3 unknown    no such command
    code 4 version    the frame's version is not the device's; message = device's version
    code 5 argument   bad payload (message says which)
    code 6 failed     the command failed on the device (message says why)

Commands (payload -> reply payload); JSON is compact UTF-8:
    0x01 IDENTIFY     - -> JSON {proto, board, fw, uid, sid, boot, uptime, next_seq,
                         first_seq, saved_seq, acked, dropped, totals:[f,b,u], today:[f,b,u]}
    0x02 RECORDS      since u32 | max_bytes u16 | flags u8 (bit 0: close the open bin and
                         save first) -> saved_seq u32 | records (store.py layout) with
                         seq > since, oldest first, as many whole records as fit
    0x03 ACK          upto u32 -> acked u32 (the host stored everything up to `upto`)
    0x04 SET_TIME     epoch u32 | tz_min i16 -> JSON boots [[boot, offset|null, last, est]]
    0x05 BOOTS        - -> the same JSON
    0x06 GET_SETTINGS - -> JSON settings
    0x07 SET_SETTINGS JSON {key: value} -> JSON settings (all or nothing; ERR argument)
    0x08 STREAM_START - -> JSON trace header fields; then STREAM frames (cmd 0x40, seq
                         counting from 0): first_index u32 | channels u8 | int16 samples
    0x09 STREAM_STOP  - -> empty
    0x0A CALIBRATE    - -> JSON result of the board's calibration
    0x0B REBOOT       - -> empty; the device saves, then resets
Nothing is deleted because of an ACK alone: the store keeps 30+ days and drops the oldest
when full. A sync is: IDENTIFY, SET_TIME, RECORDS (flag 1) then RECORDS until saved_seq is
reached, ACK of the last seq stored on the host.
"""
import json
import select
import struct
import sys
from binascii import b2a_base64, crc32

from micropython import const

PROTO = const(1)
_C_IDENTIFY = const(0x01)
_C_RECORDS = const(0x02)
_C_ACK = const(0x03)
_C_SET_TIME = const(0x04)
_C_BOOTS = const(0x05)
_C_GET_SETTINGS = const(0x06)
_C_ERR = const(0x7F)
_E_GARBAGE = const(1)
_E_CRC = const(2)
_E_VERSION = const(4)
_E_ARG = const(5)
_E_FAILED = const(6)

_MAX_LINE = const(700)      # longest request line accepted (characters)
_REC_BYTES = const(512)     # record bytes per RECORDS reply (~0.7 KB line)


def _sextet(c):
    # a base64 character's value; -1: not one
    if 65 <= c <= 90:       # A-Z
        return c - 65
    if 97 <= c <= 122:      # a-z
        return c - 71
    if 48 <= c <= 57:       # 0-9
        return c + 4
    if c == 43:             # +
        return 62
    if c == 47:             # /
        return 63
    return -1


class Link:
    def __init__(self, store, info, handlers=None, inp=None, out=None):
        self.store = store
        self.info = info
        self.handlers = handlers or {}
        self.inp = inp if inp is not None else sys.stdin.buffer
        self.out = out if out is not None else sys.stdout.buffer
        self.streaming = False
        self.errors = 0             # bad frames received
        # one frame (header, payload, CRC), a request's as it is decoded and then the
        # reply's: made with the session, so one that finds no room for it is not made at
        # all (link.py; the host asks again)
        self._body = bytearray(_REC_BYTES + 16)
        self._n = 0                 # characters on the line so far
        self._k = 0                 # bytes decoded into _body
        self._acc = 0               # base64: the bits of the group so far,
        self._q = 0                 # its characters,
        self._pad = 0               # and the "=" among them
        self._bad = None            # why the line is not a frame
        self._sseq = 0
        self._more = select.poll()  # whether more input is waiting (on_input)
        self._more.register(self.inp, select.POLLIN)

    # ---- framing ---------------------------------------------------------------------
    def _send(self, seq, cmd, payload):
        n = len(payload)
        if n > len(self._body) - 8:
            cmd = _C_ERR
            payload = b"\x06reply too long"
            n = len(payload)
        self._body[4:4 + n] = payload
        self._frame(seq, cmd, n)

    def _frame(self, seq, cmd, n):
        """Sends the frame whose payload is already in self._body[4:4 + n]."""
        b = self._body
        mv = memoryview(b)
        struct.pack_into("<BHB", b, 0, PROTO, seq, cmd)
        struct.pack_into("<I", b, 4 + n, crc32(mv[:4 + n]) & 0xFFFFFFFF)
        # base64 in pieces of 48 bytes (64 characters): no block of heap as big as the
        # frame is needed (a MemoryError half-way leaves a broken line, which the host
        # skips as garbage before it asks again)
        out = self.out
        out.write(b"~")
        for i in range(0, 8 + n, 48):
            out.write(b2a_base64(bytes(mv[i:min(i + 48, 8 + n)]), newline=False))
        out.write(b"\n")
        flush = getattr(out, "flush", None)
        if flush:
            flush()

    def _err(self, seq, code, msg):
        self._send(seq, _C_ERR, bytes([code]) + msg.encode())

    def on_input(self):
        # byte by byte while more is waiting: a board's stdin read blocks for the rest
        inp = self.inp
        while self._more.poll(0):
            c = inp.read(1)
            if not c:
                return False        # no host any more (stdin closed): keep counting
            self.feed_byte(c[0])
        return True

    def feed_byte(self, b):
        """One received byte. A frame's base64 is decoded into the frame buffer as it comes
        (the line itself is never held), and the frame is handled at its newline."""
        if b == 3:
            raise KeyboardInterrupt
        if b == 10 or b == 13:
            if self._n:
                try:
                    self._end_line()
                except MemoryError:
                    # short of heap right now (a reply, the store's sync code):
                    # the host is told and retries; the link and the counting go on
                    self._oom()
            self._n = self._k = self._q = self._pad = 0
            self._bad = None
            return
        n = self._n + 1
        self._n = n
        if self._bad is not None:
            return
        if n > _MAX_LINE:
            self._bad = "line too long"
        elif n == 1:
            if b != 126:    # "~"
                self._bad = "not a frame"
        elif b == 61:       # "=": padding, at the end of the last group only
            self._pad += 1
            self._group(0)
        elif self._pad:
            self._bad = "bad frame encoding"
        else:
            v = _sextet(b)
            if v < 0:
                self._bad = "bad frame encoding"
            else:
                self._group(v)

    def _group(self, v):
        # four characters make three bytes (fewer after "=")
        self._acc = (self._acc << 6) | v
        self._q += 1
        if self._q == 4:
            a = self._acc
            k = self._k
            b = self._body
            b[k] = a >> 16
            b[k + 1] = (a >> 8) & 0xFF
            b[k + 2] = a & 0xFF
            self._k = k + 3 - self._pad
            self._acc = 0
            self._q = 0

    def _end_line(self):
        if self._q or self._pad > 2:
            self._bad = self._bad or "bad frame encoding"
        if self._bad is not None:
            self.errors += 1
            self._err(0xFFFF, _E_GARBAGE, self._bad)
        else:
            self._handle(self._k)

    def _oom(self):
        import gc
        gc.collect()
        self.errors += 1
        try:
            self._err(0xFFFF, _E_FAILED, "out of memory")
        except MemoryError:
            pass

    def _handle(self, n):
        # the request is self._body[:n]; the reply goes into the same buffer, so the
        # command gets a copy of its (short) payload
        body = memoryview(self._body)[:n]
        if n < 8:
            self.errors += 1
            self._err(0xFFFF, _E_GARBAGE, "bad frame encoding")
            return
        if struct.unpack("<I", body[-4:])[0] != crc32(body[:-4]) & 0xFFFFFFFF:
            self.errors += 1
            self._err(0xFFFF, _E_CRC, "crc mismatch")
            return
        ver, seq, cmd = struct.unpack("<BHB", body[:4])
        seen = self.handlers.get("seen")
        if seen:
            seen()
        if ver != PROTO:
            self.errors += 1
            self._err(seq, _E_VERSION, str(PROTO))
            return
        try:
            self._command(seq, cmd, bytes(body[4:-4]))
        except ValueError as e:
            self._err(seq, _E_ARG, str(e))
        except (OSError, KeyError, TypeError) as e:
            self._err(seq, _E_FAILED, "%s: %s" % (type(e).__name__, e))

    # ---- commands ----------------------------------------------------------------------
    def _command(self, seq, cmd, p):
        st = self.store
        if cmd == _C_RECORDS:
            if len(p) != 7:
                raise ValueError("RECORDS wants since u32, max u16, flags u8")
            since, mx, flags = struct.unpack("<IHB", p)
            if flags & 1:
                st.cut()
            # the records go straight into the frame buffer, after saved_seq
            mv = memoryview(self._body)[8:8 + max(64, min(mx, _REC_BYTES))]
            _, used = st.read_since(since, mv)
            struct.pack_into("<I", self._body, 4, st.saved_seq)
            self._frame(seq, cmd | 0x80, 4 + used)
        elif cmd == _C_IDENTIFY:
            d = {"proto": PROTO, "sid": st.sid, "boot": st.boot, "uptime": st.clock(),
                 "next_seq": st.next_seq, "first_seq": st.first_seq(),
                 "saved_seq": st.saved_seq, "acked": st.acked, "dropped": st.dropped,
                 "totals": st.totals(), "today": st.today()}
            for k in self.info:
                d[k] = self.info[k]
            h = _handler(self, "info")
            if h:
                more = h()
                for k in more:
                    d[k] = more[k]
            _json(self, seq, cmd, d)
        elif cmd == _C_ACK:
            if len(p) != 4:
                raise ValueError("ACK wants upto u32")
            st.ack(struct.unpack("<I", p)[0])
            self._send(seq, cmd | 0x80, struct.pack("<I", st.acked))
        elif cmd == _C_SET_TIME:
            if len(p) != 6:
                raise ValueError("SET_TIME wants epoch u32, tz_min i16")
            epoch, tz = struct.unpack("<Ih", p)
            st.set_time(epoch, tz)
            _json(self, seq, cmd, st.boots())
        elif cmd == _C_BOOTS:
            _json(self, seq, cmd, st.boots())
        elif cmd == _C_GET_SETTINGS:
            h = _handler(self, "get_settings")
            _json(self, seq, cmd, h() if h else st.settings)
        else:
            self._rare(seq, cmd, p)

    def _rare(self, seq, cmd, p):
        # settings changes, raw streaming, calibration, reboot and unknown commands: not
        # part of a sync, so their code (link_more.py) is loaded for them and dropped
        # after (kept while streaming, whose frames it sends)
        import link_more
        try:
            link_more.command(self, seq, cmd, p)
        finally:
            if not self.streaming:
                sys.modules.pop("link_more", None)

    def on_samples(self, buf, n, stride, t_ms):
        if self.streaming:
            sys.modules["link_more"].on_samples(self, buf, n, stride)


def _json(lk, seq, cmd, obj):
    lk._send(seq, cmd | 0x80, json.dumps(obj).encode())


def _handler(lk, name):
    """The Link's handler `name`, else the loop's own answer when the link serves it."""
    fn = lk.handlers.get(name)
    app = lk.handlers.get("app")
    if fn is None and app is not None and name in _APP:
        f = _APP[name]
        return lambda *a: f(app, *a)
    return fn


# settings the host may read and change, with their defaults (the type is checked)
SETTINGS = {"retro_goal": 400, "retro_long_s": 300, "retro_long_steps": 500,
            "retro_pause_s": 20, "cues": 1, "fall_detect": 1, "forward_axis": ""}


def _info(app):
    imu = app.imu
    return {"imu": imu.name if imu else None, "steps": app.steps, "faults": app.faults}


def _get_settings(app):
    d = dict(SETTINGS)
    for k in app.settings:
        d[k] = app.settings[k]
    return d


# what the link answers from the counting loop's state (handlers["app"])
_APP = {"info": _info, "get_settings": _get_settings}


def session(app, inp):
    """A Link serving the counting loop `app` on `inp` (link.py makes one when a host talks)."""
    import counting
    st = app.modules.get("store")
    if st is None:
        raise RuntimeError("the link needs the store module")
    # "app": identify, settings and streaming are answered from the loop's state (_APP)
    return Link(st, {"board": app.board_name, "fw": counting.FW_VERSION, "uid": app.uid},
                {"app": app, "calibrate": app.start_calibration,
                 "seen": app.host_seen, "index": lambda: app.det.n if app.det else 0}, inp)
