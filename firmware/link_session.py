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
                  then answers info, settings and stream itself (see _APP)
        inp, out  byte streams (default sys.stdin.buffer / sys.stdout.buffer)
    session(app, inp) a Link that serves the counting loop `app` (what link.py makes)
    lk.on_input()                     reads and answers what the host sent (call it when
                                      `inp` is readable); False once `inp` has ended. A 0x03
                                      (Ctrl-C) raises KeyboardInterrupt, so the REPL (and
                                      mpremote) work
    lk.streaming                      True while the host records raw samples
    lk.send_samples(buf, count, stride, first_index)   one batch of raw samples (int array)

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
from binascii import a2b_base64, b2a_base64, crc32

from micropython import const

PROTO = const(1)
_C_IDENTIFY = const(0x01)
_C_RECORDS = const(0x02)
_C_ACK = const(0x03)
_C_SET_TIME = const(0x04)
_C_BOOTS = const(0x05)
_C_GET_SETTINGS = const(0x06)
_C_SET_SETTINGS = const(0x07)
_C_STREAM_START = const(0x08)
_C_STREAM_STOP = const(0x09)
_C_CALIBRATE = const(0x0A)
_C_REBOOT = const(0x0B)
_C_STREAM = const(0x40)
_C_ERR = const(0x7F)
_E_GARBAGE = const(1)
_E_CRC = const(2)
_E_UNKNOWN = const(3)
_E_VERSION = const(4)
_E_ARG = const(5)
_E_FAILED = const(6)

_MAX_LINE = const(700)      # longest request line accepted
_REC_BYTES = const(1024)    # record bytes per RECORDS reply (~1.4 KB line)


class Link:
    def __init__(self, store, info, handlers=None, inp=None, out=None):
        self.store = store
        self.info = info
        self.handlers = handlers or {}
        self.inp = inp if inp is not None else sys.stdin.buffer
        self.out = out if out is not None else sys.stdout.buffer
        self.streaming = False
        self.errors = 0             # bad frames received
        # the request line and one frame (header, payload, CRC): made with the session, so
        # one that finds no room for them is not made at all (link.py; the host asks again)
        self._line = bytearray(_MAX_LINE)
        self._n = 0
        self._over = False
        self._body = bytearray(_REC_BYTES + 16)
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
        """One received byte: frames are handled at their newline."""
        if b == 3:
            raise KeyboardInterrupt
        if b == 10 or b == 13:
            if self._over:
                self.errors += 1
                self._err(0xFFFF, _E_GARBAGE, "line too long")
            elif self._n:
                try:
                    self._handle(memoryview(self._line)[:self._n])
                except MemoryError:
                    # short of heap right now (a reply, the store's sync code):
                    # the host is told and retries; the link and the counting go on
                    self._oom()
            self._n = 0
            self._over = False
        elif self._n < _MAX_LINE:
            self._line[self._n] = b
            self._n += 1
        else:
            self._over = True

    def _oom(self):
        import gc
        gc.collect()
        self.errors += 1
        try:
            self._err(0xFFFF, _E_FAILED, "out of memory")
        except MemoryError:
            pass

    def _handle(self, line):
        if line[0] != 126:  # "~"
            self.errors += 1
            self._err(0xFFFF, _E_GARBAGE, "not a frame")
            return
        try:
            body = a2b_base64(line[1:])
        except ValueError:
            body = b""
        if len(body) < 8:
            self.errors += 1
            self._err(0xFFFF, _E_GARBAGE, "bad frame encoding")
            return
        if struct.unpack("<I", body[-4:])[0] != crc32(body[:-4]) & 0xFFFFFFFF:
            self.errors += 1
            self._err(0xFFFF, _E_CRC, "crc mismatch")
            return
        ver, seq, cmd = struct.unpack("<BHB", body)
        seen = self.handlers.get("seen")
        if seen:
            seen()
        if ver != PROTO:
            self.errors += 1
            self._err(seq, _E_VERSION, str(PROTO))
            return
        try:
            self._command(seq, cmd, body[4:-4])
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
        elif cmd == _C_SET_SETTINGS:
            try:
                new = json.loads(bytes(p))
            except ValueError:
                raise ValueError("settings must be a JSON object")
            if not isinstance(new, dict):
                raise ValueError("settings must be a JSON object")
            h = _handler(self, "set_settings")
            if h:
                _json(self, seq, cmd, h(new))
            else:
                st.set_settings(new)
                _json(self, seq, cmd, st.settings)
        elif cmd == _C_STREAM_START:
            h = _handler(self, "stream")
            meta = h(True) if h else {}
            self._sseq = 0
            self.streaming = True
            _json(self, seq, cmd, meta)
        elif cmd == _C_STREAM_STOP:
            self.streaming = False
            h = _handler(self, "stream")
            if h:
                h(False)
            self._send(seq, cmd | 0x80, b"")
        elif cmd == _C_CALIBRATE:
            h = _handler(self, "calibrate")
            if not h:
                self._err(seq, _E_FAILED, "this board has no calibration")
                return
            _json(self, seq, cmd, h())
        elif cmd == _C_REBOOT:
            self._send(seq, cmd | 0x80, b"")
            st.close()
            h = _handler(self, "reboot")
            if h:
                h()
        else:
            self._err(seq, _E_UNKNOWN, "unknown command 0x%02x" % cmd)

    # ---- raw samples -----------------------------------------------------------------
    def send_samples(self, buf, count, stride, first_index):
        """A batch of raw samples (ints, `stride` channels each) while streaming."""
        if not self.streaming or count <= 0:
            return
        b = self._body
        n = min(count * stride, (len(b) - 13) // 2)
        struct.pack_into("<IB", b, 4, first_index & 0xFFFFFFFF, stride)
        for i in range(n):
            struct.pack_into("<h", b, 9 + 2 * i, buf[i])
        self._frame(self._sseq, _C_STREAM, 5 + 2 * n)
        self._sseq = (self._sseq + 1) & 0xFFFF

    def on_samples(self, buf, n, stride, t_ms):
        if self.streaming:
            h = self.handlers.get("index")
            self.send_samples(buf, n, stride, h() if h else 0)


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
_AXES = ("", "+x", "-x", "+y", "-y", "+z", "-z")


def _info(app):
    imu = app.imu
    return {"imu": imu.name if imu else None, "steps": app.steps, "faults": app.faults}


def _get_settings(app):
    d = dict(SETTINGS)
    for k in app.settings:
        d[k] = app.settings[k]
    return d


def _set_settings(app, new):
    for k in new:
        if k not in SETTINGS:
            raise ValueError("unknown setting " + str(k))
        if type(new[k]) is not type(SETTINGS[k]):
            raise ValueError("setting %s must be %s" % (k, type(SETTINGS[k]).__name__))
        if k == "forward_axis" and new[k] not in _AXES:
            raise ValueError("forward_axis must be one of +x -x +y -y +z -z")
        if k != "forward_axis" and new[k] < 0:
            raise ValueError("setting %s must be 0 or more" % k)
    for k in new:
        app.settings[k] = new[k]
    app.save_settings()
    for m in app.modules.values():
        f = getattr(m, "on_settings", None)
        if f:
            f(app.settings)
    return _get_settings(app)


def _stream(app, on):
    if not on:
        app.release("stream")
        return {}
    app.hold_awake("stream")   # lightsleep would stop the samples
    imu = app.imu
    return {"rate_hz": app.rate_hz, "lsb_per_g": app.lsb_per_g, "stride": app.stride,
            "imu": imu.name if imu else None, "range_g": getattr(imu, "range_g", None),
            "lsb_per_dps": getattr(imu, "lsb_per_dps", None), "board": app.board_name,
            "placement": app.cfg.get("placement"),
            "forward_axis": app.settings.get("forward_axis") or
            app.cfg.get("mount", {}).get("forward_axis")}


# what the link answers from the counting loop's state (handlers["app"])
_APP = {"info": _info, "get_settings": _get_settings, "set_settings": _set_settings,
        "stream": _stream}


def _reset():
    import machine
    machine.reset()


def session(app, inp):
    """A Link serving the counting loop `app` on `inp` (link.py makes one when a host talks)."""
    import counting
    st = app.modules.get("store")
    if st is None:
        raise RuntimeError("the link needs the store module")
    # "app": identify, settings and streaming are answered from the loop's state (_APP)
    return Link(st, {"board": app.board_name, "fw": counting.FW_VERSION, "uid": app.uid},
                {"app": app, "calibrate": app.start_calibration, "reboot": _reset,
                 "seen": app.host_seen, "index": lambda: app.det.n if app.det else 0}, inp)
