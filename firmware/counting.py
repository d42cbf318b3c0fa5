"""The counting loop: IMU FIFO batches -> step detector -> step events for the listeners.

    app = Pedometer(cfg, hw)        cfg from board.load(), hw a board.Hardware
    app.attach("store")             imports an optional module and calls its attach(app)
    app.run_forever()               asyncio.run(app.run()), then app.shutdown()

What other modules use (the contract, also in the project notes):
    app.add_listener(obj)   obj may define any of
        on_samples(buf, n, stride, t_ms)   raw int16 counts of one chunk (<= 64 samples)
        on_steps(idx, dirs, k, t_ms)       k step events: detector sample indices (array
                                           'i') and DIR_* codes (bytearray); t_ms is the
                                           ticks_ms of the chunk's newest sample
        on_batch(t_ms)                     once per wake-up, after the FIFO is drained
        on_record(rec)                     a record dict {"type": ..., "t": ticks_ms, ...}
        on_shutdown()                      clean stop (Ctrl-C, end of a simulation)
    app.add_task(coro)      an asyncio task started beside the counting task
    app.record(rec)         hands a record to every on_record listener (the store)
    app.cue(pattern)        a tuple of on/off ms, or a name from CUES; plays on the LED,
                            buzzer and vibration motor the board has (settings "cues": 0 mutes)
    app.ticks_of(idx)       ticks_ms at which detector sample `idx` was measured
    app.start_calibration() the wearer walks ten steps forward; the forward axis is stored
    app.settings, app.save_settings()   the persisted settings dict (settings.json)
    app.hold_awake(key), app.release(key)   no lightsleep while any key is held
    app.host_seen()         the link calls this on host traffic (boards without VBUS sense)
    app.imu, app.det, app.rate_hz, app.lsb_per_g, app.stride, app.modules, app.faults,
    app.steps, app.forward, app.backward, app.unknown (since boot), app.uid, app.board_name

Time is ticks_ms everywhere, compared with ticks_diff only, so the 2**30 wrap is harmless.
"""
import gc
import json
import os
import time
from array import array

import asyncio
from micropython import const

import stepdetect

FW_VERSION = "0.1.0"

app = None          # the running Pedometer (REPL and hooks)

_BATCH = const(64)          # samples per FIFO burst
_EV = const(32)
_IDX_MASK = const(0x3FFFFFFF)
_RETRY_MS = const(5000)     # between attempts to find the IMU
_WDT_MS = const(8000)
_FAULT_GAP_MS = const(60000)  # one fault record per kind per minute at most
_LONG_PRESS_MS = const(2000)
_HOST_QUIET_MS = const(300000)

CUES = {
    "calibrate": (60, 90, 60, 90, 60),
    "done": (500,),
    "error": (120, 120, 120, 120, 120, 120, 600),
}
BLINK_NO_IMU = const(3)     # blink code: three short blinks, a pause, repeated


def _now():
    return time.ticks_ms()


def _drop(name):
    # a module needed once (or rarely): its code goes back to the heap
    import sys
    sys.modules.pop(name, None)
    gc.collect()


class Pedometer:
    def __init__(self, cfg, hw, settings_file="settings.json"):
        global app
        app = self
        self.cfg = cfg
        self.hw = hw
        self.board_name = cfg.get("name", "?")
        self.uid = hw.unique_id()
        self.settings_file = settings_file
        self.settings = {}
        self._load_settings()
        self.imu = None
        self.det = None
        self.placement = 0
        self.rate_hz = 0
        self.lsb_per_g = 0
        self.stride = 3
        self.forward_axis = 0
        self.steps = 0
        self.forward = 0
        self.backward = 0
        self.unknown = 0
        self.samples = 0
        self.faults = {"i2c": 0, "overflow": 0, "no_imu": 0, "reinit": 0, "listener": 0}
        self.last_error = ""
        self.modules = {}
        self.batch_ms = 1000
        self.t_last = _now()        # ticks of the newest sample read
        self.n_last = 0             # det.n after it
        self._l_samples = []
        self._l_steps = []
        self._l_batch = []
        self._l_record = []
        self._l_shutdown = []
        self._tasks = []
        self._awake = {}
        self._host_t = _now()
        self._fault_t = {}
        self._fault_n = {}
        self._buf = array("h", bytes(2 * 3 * _BATCH))     # regrown for gyro on connect
        self._ev_idx = array("i", bytes(4 * _EV))
        self._ev_dir = bytearray(_EV)
        self._flag = None
        self._wdt = None
        self._cue_task = None
        self._cal = None
        self.cal_result = None
        self._shut = False

    # ---- settings -------------------------------------------------------------
    def _load_settings(self):
        try:
            with open(self.settings_file) as f:
                self.settings = json.load(f)
        except (OSError, ValueError):
            self.settings = {}

    def save_settings(self):
        tmp = self.settings_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.settings, f)
        os.rename(tmp, self.settings_file)

    # ---- plug-in points -------------------------------------------------------
    def attach(self, name):
        """Import optional module `name` if it is on the board and call its attach(app)."""
        try:
            mod = __import__(name)
        except ImportError as e:
            if ("'%s'" % name) in str(e):
                return None         # not on this board
            return self._broken(name, e)
        except Exception as e:      # a broken add-on must never stop the counting
            return self._broken(name, e)
        try:
            hook = getattr(mod, "attach", None)
            self.modules[name] = hook(self) if hook else mod
        except Exception as e:
            return self._broken(name, e)
        return self.modules[name]

    def _broken(self, name, e):
        self.faults["listener"] += 1
        print("retrostep: module %s not started: %r" % (name, e))
        return None

    def add_listener(self, obj):
        for meth, lst in (("on_samples", self._l_samples), ("on_steps", self._l_steps),
                          ("on_batch", self._l_batch), ("on_record", self._l_record),
                          ("on_shutdown", self._l_shutdown)):
            f = getattr(obj, meth, None)
            if f is not None:
                lst.append(f)

    def add_task(self, coro):
        self._tasks.append(coro)

    def record(self, rec):
        if "t" not in rec:
            rec["t"] = _now()
        for f in self._l_record:
            try:
                f(rec)
            except Exception as e:
                self._listener_error(e)

    def _listener_error(self, e):
        self.faults["listener"] += 1
        print("retrostep: listener error: %r" % e)

    def hold_awake(self, key):
        self._awake[key] = 1

    def release(self, key):
        self._awake.pop(key, None)

    def host_seen(self):
        self._host_t = _now()

    def usb_host(self):
        v = self.hw.usb_host()
        if v is None:   # no VBUS sense: awake while the host talked recently
            return time.ticks_diff(_now(), self._host_t) < _HOST_QUIET_MS
        return v

    def ticks_of(self, idx):
        back = (self.n_last - 1 - idx) & _IDX_MASK
        return time.ticks_add(self.t_last, -int(back * 1000 / self.rate_hz)) if self.rate_hz else self.t_last

    # ---- cues -----------------------------------------------------------------
    def cue(self, pattern):
        if isinstance(pattern, str):
            pattern = CUES.get(pattern, CUES["done"])
        if not self.settings.get("cues", 1):
            return
        if self._cue_task is not None:
            self._cue_task.cancel()
        self._cue_task = asyncio.create_task(self._play(pattern))

    async def _play(self, pattern, outputs=True):
        self.hold_awake("cue")   # lightsleep would freeze the pattern
        hw = self.hw
        try:
            on = True
            for ms in pattern:
                hw.led_on(on)
                if outputs:
                    hw.buzz(on)
                    hw.vibrate(on)
                await asyncio.sleep_ms(ms)
                on = not on
        finally:
            hw.led_on(False)
            hw.buzz(False)
            hw.vibrate(False)
            self.release("cue")

    # ---- the IMU --------------------------------------------------------------
    def start_imu(self):
        """First attempt to open the IMU (the counting task retries if this fails)."""
        if self.imu is None:
            self._connect()
        return self.imu is not None

    def _connect(self):
        # the probe and the driver set-up are needed again only to reconnect: their code
        # leaves the heap as soon as the IMU is running
        try:
            import imu_probe
            return imu_probe.connect(self)
        except MemoryError:
            self._fault("no_imu", "not enough memory to open the IMU")
            return False
        finally:
            _drop("imu_probe")

    def _new_detector(self, rate, lsb, fwd):
        pl = self.cfg.get("placement")
        code = stepdetect.PLACEMENTS.index(pl) if pl in stepdetect.PLACEMENTS else 0
        self.rate_hz = rate
        self.lsb_per_g = lsb
        self.forward_axis = fwd
        self.placement = code
        self.det = stepdetect.StepDetector(rate, lsb, fwd, code)
        self.n_last = 0

    def _fault(self, kind, msg):
        self.faults[kind] += 1
        self.last_error = msg
        now = _now()
        self._fault_n[kind] = self._fault_n.get(kind, 0) + 1
        last = self._fault_t.get(kind)
        if kind == "no_imu":
            print("retrostep:", msg, "(retrying)")     # the reason, at every attempt
        if last is None or time.ticks_diff(now, last) >= _FAULT_GAP_MS:
            if kind != "no_imu":
                print("retrostep:", msg)
            self._fault_t[kind] = now
            self.record({"type": "fault", "t": now, "ago_ms": 0, "kind": kind,
                         "n": self._fault_n[kind], "msg": msg[:60]})
            self._fault_n[kind] = 0

    def _on_int(self, pin):
        # the IMU's FIFO watermark interrupt
        f = self._flag
        if f is not None:
            f.set()

    def _bus_fault(self, e):
        self._fault("i2c", "I2C error %s while reading the IMU; re-initialising it" % e)
        try:
            import imu_probe
            imu_probe.reinit(self)
        except MemoryError:
            pass                # the next batch tries the chip again
        finally:
            _drop("imu_probe")

    def service(self):
        """Drains the FIFO through the detector; returns the samples read."""
        imu = self.imu
        det = self.det
        if imu is None or det is None:
            return 0
        buf = self._buf
        stride = imu.stride
        ovf = imu.overflows
        total = 0
        now = _now()
        while True:
            n = imu.read(buf, _BATCH)
            if n <= 0:
                break
            total += n
            self.samples += n
            now = _now()
            for f in self._l_samples:
                f(buf, n, stride, now)
            det.feed(buf, n, stride)
            self.t_last = now
            self.n_last = det.n
            if self._cal is not None:
                self._cal.add(buf, n, stride)
            if det.pending:
                self._drain(now)
            if n < _BATCH:
                break
        if imu.overflows != ovf:
            self._fault("overflow", "IMU FIFO overflowed: samples lost (%d so far)" % imu.overflows)
        for f in self._l_batch:
            f(now)
        return total

    def _drain(self, now):
        det = self.det
        if det is None:
            return
        k = det.read(self._ev_idx, self._ev_dir)
        d = self._ev_dir
        for i in range(k):
            c = d[i]
            if c == stepdetect.DIR_FORWARD:
                self.forward += 1
            elif c == stepdetect.DIR_BACKWARD:
                self.backward += 1
            else:
                self.unknown += 1
        self.steps += k
        if self._cal is not None:
            self._cal.steps += k
        for f in self._l_steps:
            f(self._ev_idx, d, k, now)

    # ---- calibration ----------------------------------------------------------
    def start_calibration(self):
        """Records the next ten steps; the forward axis is the one the detector finds them
        forward along. Returns at once: the result lands in app.cal_result and a record."""
        if self.imu is None:
            return {"started": False, "error": "no IMU"}
        gc.collect()
        try:
            import calibrate
            return calibrate.start(self)
        except MemoryError:
            self._cal = None
            _drop("calibrate")
            return {"started": False, "error": "not enough memory"}

    def _finish_calibration(self):
        import calibrate
        try:
            calibrate.finish(self)
        finally:
            _drop("calibrate")      # its code is garbage now

    # ---- tasks ----------------------------------------------------------------
    async def _wait(self):
        ms = self.batch_ms
        if not self._awake and not self.usb_host():
            if self._wdt is not None:
                self._wdt.feed()
            self.hw.lightsleep(ms)
            await asyncio.sleep_ms(0)
        elif self._flag is not None:
            try:
                await asyncio.wait_for_ms(self._flag.wait(), ms + ms // 2)
            except asyncio.TimeoutError:
                pass
        else:
            await asyncio.sleep_ms(ms)

    async def _blink(self, code):
        # blink code on the LED alone (no buzzer), then a pause; feeds the watchdog
        self.hold_awake("blink")
        await self._play((200, 250) * code, outputs=False)
        t0 = _now()
        while time.ticks_diff(_now(), t0) < _RETRY_MS:
            self._feed()
            await asyncio.sleep_ms(500)
        self.release("blink")

    def _feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    async def count_task(self):
        while True:
            if self.imu is None:
                if not self._connect():
                    await self._blink(BLINK_NO_IMU)
                    continue
            try:
                self.service()
            except OSError as e:
                self._bus_fault(e)
                if self.imu is None:
                    continue        # look for it again at once, not a batch later
            except MemoryError as e:
                # short of heap for a moment (a listener saving or recording): counted
                # as a listener fault, and the counting goes on
                gc.collect()
                self._listener_error(e)
            if self._cal is not None and self._cal.done():
                self._finish_calibration()
            self._feed()
            await self._wait()

    async def button_task(self):
        # polled (a press wakes nothing); while it is held the loop stays awake, so a
        # long press is timed to 100 ms even between lightsleeps
        hw = self.hw
        t_down = None
        while True:
            pressed = hw.button_pressed()
            now = _now()
            if not pressed:
                t_down = None
                self.release("button")
            elif t_down is None:
                t_down = now
                self.hold_awake("button")
            elif time.ticks_diff(now, t_down) >= _LONG_PRESS_MS:
                self.start_calibration()
                while hw.button_pressed():
                    await asyncio.sleep_ms(100)
                t_down = None
                self.release("button")
            await asyncio.sleep_ms(100 if pressed else 250)

    async def run(self):
        self._wdt = self.hw.wdt(self.cfg.get("wdt_ms", _WDT_MS))
        tasks = [asyncio.create_task(self.count_task())]
        if self.hw.button_pressed() is not None:
            tasks.append(asyncio.create_task(self.button_task()))
        for coro in self._tasks:
            tasks.append(asyncio.create_task(coro))
        await tasks[0]

    def shutdown(self):
        if self._shut:
            return
        self._shut = True
        for f in self._l_shutdown:
            try:
                f()
            except Exception as e:
                self._listener_error(e)
        print("retrostep: stopped: steps=%d forward=%d backward=%d unknown=%d samples=%d "
              "faults=%s" % (self.steps, self.forward, self.backward, self.unknown,
                             self.samples, json.dumps(self.faults)))

    def run_forever(self):
        try:
            asyncio.run(self.run())
        finally:
            self.shutdown()
