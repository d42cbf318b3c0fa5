"""The link's command handlers (see link.py for the protocol): loaded while a host talks.

    command(lk, seq, cmd, payload)   answers one request on Link `lk`

With the counting loop (handlers["app"], set by link.attach) identify, settings and
raw streaming are answered from the loop's state; other handlers come from the Link's
`handlers` dict as documented in link.py. The loop drops this module when the host has
been quiet for a while, so between syncs its code takes no heap.
"""
import json
import struct

from micropython import const

_PROTO = const(1)           # as link.PROTO
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
_E_UNKNOWN = const(3)
_E_FAILED = const(6)

_REC_BYTES = const(1024)    # record bytes per RECORDS reply (as link.py)


def command(lk, seq, cmd, p):
    st = lk.store
    if cmd == _C_RECORDS:
        if len(p) != 7:
            raise ValueError("RECORDS wants since u32, max u16, flags u8")
        since, mx, flags = struct.unpack("<IHB", p)
        if flags & 1:
            st.cut()
        # the records go straight into the frame buffer, after saved_seq
        mv = memoryview(lk._body)[8:8 + max(64, min(mx, _REC_BYTES))]
        _, used = st.read_since(since, mv)
        struct.pack_into("<I", lk._body, 4, st.saved_seq)
        lk._frame(seq, cmd | 0x80, 4 + used)
    elif cmd == _C_IDENTIFY:
        d = {"proto": _PROTO, "sid": st.sid, "boot": st.boot, "uptime": st.clock(),
             "next_seq": st.next_seq, "first_seq": st.first_seq(),
             "saved_seq": st.saved_seq, "acked": st.acked, "dropped": st.dropped,
             "totals": st.totals(), "today": st.today()}
        for k in lk.info:
            d[k] = lk.info[k]
        h = _handler(lk, "info")
        if h:
            more = h()
            for k in more:
                d[k] = more[k]
        _json(lk, seq, cmd, d)
    elif cmd == _C_ACK:
        if len(p) != 4:
            raise ValueError("ACK wants upto u32")
        st.ack(struct.unpack("<I", p)[0])
        lk._send(seq, cmd | 0x80, struct.pack("<I", st.acked))
    elif cmd == _C_SET_TIME:
        if len(p) != 6:
            raise ValueError("SET_TIME wants epoch u32, tz_min i16")
        epoch, tz = struct.unpack("<Ih", p)
        st.set_time(epoch, tz)
        _json(lk, seq, cmd, st.boots())
    elif cmd == _C_BOOTS:
        _json(lk, seq, cmd, st.boots())
    elif cmd == _C_GET_SETTINGS:
        h = _handler(lk, "get_settings")
        _json(lk, seq, cmd, h() if h else st.settings)
    elif cmd == _C_SET_SETTINGS:
        try:
            new = json.loads(bytes(p))
        except ValueError:
            raise ValueError("settings must be a JSON object")
        if not isinstance(new, dict):
            raise ValueError("settings must be a JSON object")
        h = _handler(lk, "set_settings")
        if h:
            _json(lk, seq, cmd, h(new))
        else:
            st.set_settings(new)
            _json(lk, seq, cmd, st.settings)
    elif cmd == _C_STREAM_START:
        h = _handler(lk, "stream")
        meta = h(True) if h else {}
        lk._sseq = 0
        lk.streaming = True
        _json(lk, seq, cmd, meta)
    elif cmd == _C_STREAM_STOP:
        lk.streaming = False
        h = _handler(lk, "stream")
        if h:
            h(False)
        lk._send(seq, cmd | 0x80, b"")
    elif cmd == _C_CALIBRATE:
        h = _handler(lk, "calibrate")
        if not h:
            lk._err(seq, _E_FAILED, "this board has no calibration")
            return
        _json(lk, seq, cmd, h())
    elif cmd == _C_REBOOT:
        lk._send(seq, cmd | 0x80, b"")
        st.close()
        h = _handler(lk, "reboot")
        if h:
            h()
    else:
        lk._err(seq, _E_UNKNOWN, "unknown command 0x%02x" % cmd)

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
