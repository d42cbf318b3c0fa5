"""The link's commands that are not part of a sync: settings changes, raw streaming,
calibration, reboot (and the answer to an unknown command).

    command(lk, seq, cmd, payload)    answers one of them on the Link `lk` (link_session.py)
    on_samples(lk, buf, n, stride)    one batch of raw samples while streaming

link_session.Link loads this module for such a request and drops it after, or once the
streaming stops: a board's sync never needs its code in the heap. The protocol is
described in link_session.py.
"""
import json
import struct

from micropython import const

from link_session import SETTINGS, _get_settings, _json

_C_SET_SETTINGS = const(0x07)
_C_STREAM_START = const(0x08)
_C_STREAM_STOP = const(0x09)
_C_CALIBRATE = const(0x0A)
_C_REBOOT = const(0x0B)
_C_STREAM = const(0x40)
_E_UNKNOWN = const(3)
_E_FAILED = const(6)

_AXES = ("", "+x", "-x", "+y", "-y", "+z", "-z")


def command(lk, seq, cmd, p):
    if cmd == _C_SET_SETTINGS:
        try:
            new = json.loads(bytes(p))
        except ValueError:
            raise ValueError("settings must be a JSON object")
        if not isinstance(new, dict):
            raise ValueError("settings must be a JSON object")
        h = _more(lk, "set_settings")
        if h:
            _json(lk, seq, cmd, h(new))
        else:
            lk.store.set_settings(new)
            _json(lk, seq, cmd, lk.store.settings)
    elif cmd == _C_STREAM_START:
        h = _more(lk, "stream")
        meta = h(True) if h else {}
        lk._sseq = 0
        lk.streaming = True
        _json(lk, seq, cmd, meta)
    elif cmd == _C_STREAM_STOP:
        lk.streaming = False
        h = _more(lk, "stream")
        if h:
            h(False)
        lk._send(seq, cmd | 0x80, b"")
    elif cmd == _C_CALIBRATE:
        h = _more(lk, "calibrate")
        if not h:
            lk._err(seq, _E_FAILED, "this board has no calibration")
            return
        _json(lk, seq, cmd, h())
    elif cmd == _C_REBOOT:
        lk._send(seq, cmd | 0x80, b"")
        lk.store.close()
        h = _more(lk, "reboot")
        if h:
            h()
    else:
        lk._err(seq, _E_UNKNOWN, "unknown command 0x%02x" % cmd)


def on_samples(lk, buf, count, stride):
    """A batch of raw samples (ints, `stride` channels each) as one STREAM frame."""
    if not lk.streaming or count <= 0:
        return
    h = lk.handlers.get("index")
    first = h() if h else 0
    b = lk._body
    n = min(count * stride, (len(b) - 13) // 2)
    struct.pack_into("<IB", b, 4, first & 0xFFFFFFFF, stride)
    for i in range(n):
        struct.pack_into("<h", b, 9 + 2 * i, buf[i])
    lk._frame(lk._sseq, _C_STREAM, 5 + 2 * n)
    lk._sseq = (lk._sseq + 1) & 0xFFFF


def _more(lk, name):
    # the Link's own handler, else the counting loop's answer when the link serves it
    fn = lk.handlers.get(name)
    app = lk.handlers.get("app")
    if fn is None and app is not None:
        f = _APP.get(name)
        if f is not None:
            return lambda *a: f(app, *a)
    return fn


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


def _reset(app):
    import machine
    machine.reset()


# what this module answers from the counting loop's state (handlers["app"])
_APP = {"set_settings": _set_settings, "stream": _stream, "reboot": _reset}
