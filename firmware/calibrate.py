"""Forward-axis calibration: the wearer walks ten steps straight ahead.

    cal = Calibration(rate_hz)
    cal.add(buf, n, stride)      raw samples, as the loop reads them
    cal.steps += k               steps the loop's detector counted meanwhile
    cal.done()                   ten steps, or the buffer (10 s) is full
    cal.solve(rate_hz, lsb_per_g, placement) -> {"ok", "steps", "axis" ("+x".."-z"), "error"}
    start(app), finish(app)      the counting loop's start_calibration() and its end

Gravity gives the up axis; the forward axis is the other axis, with the sign, along
which the step detector itself finds the recorded steps forward. Loaded only while
calibrating (the loop drops the module afterwards), so it costs no heap otherwise.
"""
import gc
from array import array

from micropython import const

import stepdetect
from board import axis_code, axis_name

_CAL_STEPS = const(10)
_CAL_CHUNK = const(32)       # samples per chunk: small blocks fit a fragmented heap


class Calibration:
    """Raw samples of the ten calibration steps, and the search for the forward axis.
    Kept in small chunks, which a fragmented heap can still hold."""

    def __init__(self, rate_hz):
        self.cap = min(int(rate_hz * 10), 640)
        self.chunks = []
        self.n = 0
        self.steps = 0

    def add(self, buf, n, stride):
        j = 0
        for _ in range(min(n, self.cap - self.n)):
            k = self.n % _CAL_CHUNK
            if k == 0:
                self.chunks.append(array("h", bytes(6 * _CAL_CHUNK)))
            b = self.chunks[-1]
            o = 3 * k
            b[o] = buf[j]
            b[o + 1] = buf[j + 1]
            b[o + 2] = buf[j + 2]
            self.n += 1
            j += stride

    def done(self):
        return self.steps >= _CAL_STEPS or self.n >= self.cap

    def _feed(self, det):
        left = self.n
        for b in self.chunks:
            k = min(left, _CAL_CHUNK)
            det.feed(b, k, 3)
            left -= k

    def solve(self, rate, lsb_per_g, placement):
        if self.steps < 4:
            return {"ok": False, "steps": self.steps, "error": "too few steps (%d)" % self.steps}
        # up is the axis gravity pulls along; forward is one of the two others
        s = [0, 0, 0]
        left = self.n
        for b in self.chunks:
            for i in range(min(left, _CAL_CHUNK)):
                for k in range(3):
                    s[k] += b[3 * i + k]
            left -= _CAL_CHUNK
        up = 0
        for k in range(3):
            if abs(s[k]) > abs(s[up]):
                up = k
        best = None
        best_score = 0
        for k in range(3):
            if k == up:
                continue
            gc.collect()            # one trial detector at a time
            d = stepdetect.StepDetector(rate, lsb_per_g, k + 1, placement)
            self._feed(d)
            d.flush()
            score = d.sense         # the strides' evidence: a walk's steps all share one sense
            d = None
            if best is None or abs(score) > abs(best_score):
                best = k + 1 if score >= 0 else -(k + 1)
                best_score = score
        if best is None or best_score == 0:
            return {"ok": False, "steps": self.steps,
                    "error": "direction not recognised: walk straight ahead, ten steps"}
        return {"ok": True, "steps": self.steps, "axis": axis_name(best), "score": abs(best_score)}


def start(app):
    app._cal = Calibration(app.rate_hz)
    app.cal_result = None
    app.cue("calibrate")
    return {"started": True, "steps": _CAL_STEPS}


def finish(app):
    cal = app._cal
    app._cal = None
    if cal is None:
        return
    # the running detector is rebuilt anyway: its memory goes to the trial ones
    app.det = None
    try:
        res = cal.solve(app.rate_hz, app.lsb_per_g, app.placement)
    except MemoryError:
        res = {"ok": False, "steps": cal.steps, "error": "not enough memory"}
    cal.chunks = []
    gc.collect()
    app.cal_result = res
    app.record({"type": "calibration", "ago_ms": 0, "ok": 1 if res["ok"] else 0,
                "axis": res.get("axis") or "", "steps": res["steps"]})
    if res["ok"]:
        app.settings["forward_axis"] = res["axis"]
        app.save_settings()
        app._new_detector(app.rate_hz, app.lsb_per_g, axis_code(res["axis"]), app.lsb_per_dps)
        print("retrostep: forward axis calibrated: %s" % res["axis"])
        app.cue("done")
    else:
        print("retrostep: calibration failed: %s" % res["error"])
        app._new_detector(app.rate_hz, app.lsb_per_g, app.forward_axis, app.lsb_per_dps)
        app.cue("error")
