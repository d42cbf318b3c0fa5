"""The counting loop: IMU FIFO batches -> step detector -> step events for the listeners.

    app = Pedometer(cfg, hw)        cfg from board.load(), hw a hardware.Hardware(cfg)
    app.attach_modules(names, opened)   imports the optional modules and calls their
                                    attach(app) (plugins.py, loaded for that, then dropped)
    app.run_forever()               app.run(), then app.shutdown()

What other modules use (the contract, also in the project notes):
    app.add_listener(obj)   obj may define any of
        on_samples(buf, n, stride, t_ms)   raw int16 counts of one chunk (<= 64 samples)
        on_steps(idx, dirs, k, t_ms)       k step events: detector sample indices (array
                                           'i') and DIR_* codes (bytearray); t_ms is the
                                           ticks_ms of the chunk's newest sample
        on_batch(t_ms)                     once per wake-up, after the FIFO is drained
        on_record(rec)                     a record dict {"type": ..., "t": ticks_ms, ...}
        on_shutdown()                      clean stop (Ctrl-C, end of a simulation)
    app.add_reader(stream, fn)  fn() is called when `stream` (sys.stdin.buffer...) has
                            input, between batches; it returns False once the stream ended
    app.record(rec)         hands a record to every on_record listener (the store)
    app.cue(pattern)        a tuple of on/off ms, or a name from CUES; plays on the LED,
                            buzzer and vibration motor the board has (settings "cues": 0 mutes)
    app.ticks_of(idx)       ticks_ms at which detector sample `idx` was measured
    app.start_calibration() the wearer walks ten steps forward; the forward axis is stored
    app.settings, app.save_settings()   the persisted settings dict (settings.json)
    app.hold_awake(key), app.release(key)   no lightsleep while any key is held
    app.host_seen()         the link calls this on host traffic (boards without VBUS sense)
    app.imu, app.det, app.rate_hz, app.lsb_per_g, app.lsb_per_dps (0: no gyro read),
    app.stride, app.modules, app.faults, app.steps, app.forward, app.backward,
    app.unknown (since boot), app.uid, app.board_name

One plain loop, no asyncio (its code and tasks would cost several KB of heap): wake,
drain the FIFO, then sleep until the next batch. Asleep: machine.lightsleep. Awake (a
USB host, a cue playing, the button held): select.poll on the readers and the IMU's
interrupt, with the cue and the button as timers. Time is ticks_ms everywhere, compared
with ticks_diff only, so the 2**30 wrap is harmless.
"""
import gc
import json
import os
import select
import time
from io import IOBase

from micropython import const

import stepdetect

try:
    from typing import TYPE_CHECKING
except ImportError:         # MicroPython: the names below are the type checker's only
    TYPE_CHECKING = False
if TYPE_CHECKING:
    from array import array

    import hardware
    import imu_bmi160
    import imu_lsm6ds
    import imu_mpu6050

FW_VERSION = "0.1.0"

app = None          # the running Pedometer (REPL and hooks)

_BATCH = const(64)          # samples per FIFO burst
_IDX_MASK = const(0x3FFFFFFF)
_RETRY_MS = const(5000)     # between attempts to find the IMU
_WDT_MS = const(8000)
_LONG_PRESS_MS = const(2000)
_HOST_QUIET_MS = const(300000)
_SLICE_MS = const(500)      # awake: the longest wait between two watchdog feeds
_GC_BYTES = const(4096)     # allocated between two collections at most

CUES = {
    "calibrate": (60, 90, 60, 90, 60),
    "done": (500,),
    "error": (120, 120, 120, 120, 120, 120, 600),
}
BLINK_NO_IMU = const(3)     # blink code: three short blinks, a pause, repeated


def _now():
    return time.ticks_ms()


def _drop(*names):
    # modules needed once (or rarely): their code goes back to the heap
    import sys
    for n in names:
        sys.modules.pop(n, None)
    gc.collect()


class IrqFlag(IOBase):
    """The IMU's FIFO watermark interrupt as a stream select.poll can wait on beside the
    serial port (as asyncio's ThreadSafeFlag): readable once the handler set it."""

    def __init__(self):
        self.state = 0

    def ioctl(self, req, flags):
        if req == 3:            # MP_STREAM_POLL
            return self.state * flags
        return -22              # EINVAL


class Pedometer:
    # set up by counting_setup.init(), whose comments say what each is (those the methods
    # below assign are declared by that)
    cfg: dict
    hw: "hardware.Hardware"
    board_name: str
    uid: str
    settings_file: str
    settings: dict
    imu: "imu_bmi160.BMI160 | imu_lsm6ds.LSM6DS | imu_mpu6050.MPU6050 | None"
    stride: int
    faults: dict
    modules: dict
    batch_ms: int
    _l_samples: list
    _l_steps: list
    _l_batch: list
    _l_record: list
    _l_shutdown: list
    _readers: list
    _poller: "select.poll"
    _flag: "IrqFlag"
    _awake: dict
    _fault_t: dict
    _fault_n: dict
    _buf: "array"
    _ev_idx: "array"
    _ev_dir: bytearray
    _irq: bool
    cal_result: "dict | None"

    def __init__(self, cfg, hw, settings_file="settings.json"):
        global app
        app = self
        # the state is set up by counting_setup.py, whose code leaves the heap after
        import counting_setup
        counting_setup.init(self, cfg, hw, settings_file)
        _drop("counting_setup")

    # ---- settings -------------------------------------------------------------
    def save_settings(self):
        tmp = self.settings_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.settings, f)
        os.rename(tmp, self.settings_file)

    # ---- plug-in points -------------------------------------------------------
    def add_listener(self, obj):
        for meth, lst in (("on_samples", self._l_samples), ("on_steps", self._l_steps),
                          ("on_batch", self._l_batch), ("on_record", self._l_record),
                          ("on_shutdown", self._l_shutdown)):
            f = getattr(obj, meth, None)
            if f is not None:
                lst.append(f)

    def add_reader(self, stream, fn):
        self._readers.append((stream, fn))
        self._poller.register(stream, select.POLLIN)

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
        try:
            print("retrostep: listener error: %r" % e)
        except MemoryError:
            pass            # no heap for the line: the count keeps it

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
        if self.settings.get("cues", 1):
            self._play(pattern, True)

    def _play(self, pattern, outputs):
        # steps through the pattern between batches (see _poll); a new cue replaces the last
        self._cue = pattern
        self._cue_i = 0
        self._cue_out = outputs
        self.hold_awake("cue")      # lightsleep would freeze the pattern
        self._cue_step(_now())

    def _cue_step(self, now):
        p = self._cue or ()
        i = self._cue_i
        on = i < len(p) and not i & 1
        hw = self.hw
        hw.led_on(on)
        hw.buzz(on and self._cue_out)
        hw.vibrate(on and self._cue_out)
        if i < len(p):
            self._cue_i = i + 1
            self._cue_t = time.ticks_add(now, p[i])
        else:
            self._cue = None
            self.release("cue")

    # ---- the IMU --------------------------------------------------------------
    def start_imu(self):
        """First attempt to open the IMU (the loop retries if this fails): True if it is
        open, False if none answered, None if there was no heap to open it."""
        if self.imu is None:
            return self._connect()
        return True

    def _connect(self):
        # the probe and the driver set-up are needed again only to reconnect: their code
        # leaves the heap as soon as the IMU is running
        try:
            import imu_probe
            return imu_probe.connect(self)
        except MemoryError:
            self._fault("no_imu", "not enough memory to open the IMU")
            return None
        finally:
            _drop("imu_probe", "board")

    def _new_detector(self, rate, lsb, fwd, dps=0):
        # dps: the gyro's counts per deg/s when its samples are read (0: accelerometer only)
        pl = self.cfg.get("placement")
        code = stepdetect.PLACEMENTS.index(pl) if pl in stepdetect.PLACEMENTS else 0
        self.rate_hz = rate
        self.lsb_per_g = lsb
        self.lsb_per_dps = dps
        self.forward_axis = fwd
        self.placement = code
        self.det = stepdetect.StepDetector(rate, lsb, fwd, code, dps)
        self.n_last = 0

    def _fault(self, kind, msg, reinit=False):
        # an IMU fault: counted here, reported (at most one record a minute per kind) and,
        # after an I2C error, the chip re-initialised by imu_probe, loaded for that
        self.faults[kind] += 1
        try:
            import imu_probe
            imu_probe.report(self, kind, msg)
            if reinit:
                imu_probe.reinit(self)
        except MemoryError:
            pass                # the count keeps it; the next batch tries the chip again
        finally:
            _drop("imu_probe", "board")

    def _on_int(self, pin):
        # the IMU's FIFO watermark interrupt
        self._flag.state = 1

    def attach_modules(self, names, opened: "bool | None" = True):
        """Plugs in the optional modules `names` through plugins.py, loaded for that and
        dropped after; `opened` is what start_imu() said (plugins.attach_all)."""
        try:
            import plugins
            plugins.attach_all(self, names, opened)
        except MemoryError as e:
            self._listener_error(e)     # no heap even for plugins.py: none of them
        finally:
            _drop("plugins")

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
                try:
                    f(buf, n, stride, now)
                except Exception as e:  # never the batch's: the detector still gets it
                    self._listener_error(e)
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
            try:
                f(now)
            except Exception as e:
                self._listener_error(e)
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
            try:
                f(self._ev_idx, d, k, now)
            except Exception as e:  # one listener short of heap: the others still count
                self._listener_error(e)

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
            _drop("calibrate", "board")
            return {"started": False, "error": "not enough memory"}

    def _finish_calibration(self):
        import calibrate
        try:
            calibrate.finish(self)
        finally:
            _drop("calibrate", "board")      # its code is garbage now

    # ---- the loop -------------------------------------------------------------
    def _wake(self):
        """One wake-up: the IMU drained through the detector (or looked for); returns the
        ms to sleep until the next one."""
        if self.imu is None:
            if self._retry_t is not None:
                wait = time.ticks_diff(self._retry_t, _now())
                if wait > 0:
                    return wait     # blinking the code, then a pause
            if not self._connect():
                # three blinks on the LED alone (no buzzer), a pause, then a new attempt
                self.hold_awake("blink")
                p = (200, 250) * BLINK_NO_IMU
                self._play(p, False)
                self._retry_t = time.ticks_add(_now(), sum(p) + _RETRY_MS)
                return sum(p) + _RETRY_MS
            self._retry_t = None
            self.release("blink")
            if self.later:          # the modules that waited for the IMU (main.py)
                names, self.later = self.later, ()
                self.attach_modules(names)
                try:
                    print("retrostep: modules now: %s" % " ".join(sorted(self.modules)))
                except MemoryError:
                    pass
        try:
            self.service()
        except OSError as e:
            self._fault("i2c", "I2C error %s while reading the IMU; re-initialising it" % e, True)
            if self.imu is None:
                return 0            # look for it again at once, not a batch later
        except MemoryError as e:
            # short of heap for a moment (a fault being recorded; each listener's own
            # errors are caught where it is called): counted, and the counting goes on
            gc.collect()
            self._listener_error(e)
        if self._cal is not None and self._cal.done():
            self._finish_calibration()
        return self.batch_ms

    def _sleep(self, ms):
        if not self._awake and not self.usb_host():
            self._feed()
            self.hw.lightsleep(ms)
            self._poll(0)           # the button, and input that came meanwhile
            return
        # awake: the interrupt (if any) ends the wait, else the batch time has passed
        if self._irq:
            ms += ms >> 1
        t0 = _now()
        while True:
            left = ms - time.ticks_diff(_now(), t0)
            if left <= 0 or self._poll(min(left, _SLICE_MS)):
                return
            self._feed()

    def _poll(self, ms):
        """Waits at most `ms` for input or the IMU's interrupt, serves them, then the cue
        and the button when due. True if the interrupt fired."""
        now = _now()
        if self._cue:
            ms = max(0, min(ms, time.ticks_diff(self._cue_t, now)))
        if self._btn_t is not None:
            ms = max(0, min(ms, time.ticks_diff(self._btn_t, now)))
        hit = False
        ended = None
        for obj, _ in self._poller.ipoll(ms):
            if obj is self._flag:
                obj.state = 0
                hit = True
                continue
            for r in self._readers:
                if r[0] is obj and r[1]() is False:
                    ended = r       # the stream ended (no host): not polled any more
        if ended is not None:
            self._poller.unregister(ended[0])
            self._readers.remove(ended)
        now = _now()
        if self._cue and time.ticks_diff(now, self._cue_t) >= 0:
            self._cue_step(now)
        if self._btn_t is not None and time.ticks_diff(now, self._btn_t) >= 0:
            self._button(now)
        return hit

    def _button(self, now):
        # polled (a press wakes nothing); while it is held the loop stays awake, so a
        # long press is timed to 100 ms even between lightsleeps
        pressed = self.hw.button_pressed()
        if not pressed:
            self._t_down = None
            self.release("button")
        elif self._t_down is None:
            self._t_down = now
            self.hold_awake("button")
        elif self._t_down is not False and time.ticks_diff(now, self._t_down) >= _LONG_PRESS_MS:
            self._t_down = False    # once per press: held on, it stays awake until let go
            self.start_calibration()
        self._btn_t = time.ticks_add(now, 100 if pressed else 250)

    def _feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def run(self):
        # a collection once the loop has allocated _GC_BYTES since the last one: garbage
        # never piles up into a fragmented heap, and a batch that makes little (most) costs
        # none (a collection takes 17 ms on an RP2040 with the whole firmware loaded: one a
        # batch was 2% of the time at 100 Hz)
        gc.threshold(_GC_BYTES)
        self._wdt = self.hw.wdt(self.cfg.get("wdt_ms", _WDT_MS))
        if self.hw.button_pressed() is not None:
            self._btn_t = _now()
        while True:
            ms = self._wake()
            self._feed()
            if ms > 0:
                self._sleep(ms)

    def shutdown(self):
        if self._shut:
            return
        self._shut = True
        det = self.det
        if det is not None:
            try:
                det.flush()     # a short walk the stop cut off counts, as in the PC's replay
                if det.pending:
                    self._drain(_now())
            except Exception as e:
                self._listener_error(e)
        for f in self._l_shutdown:
            gc.collect()    # stopped mid-batch: its garbage is not needed for the last save
            try:
                f()
            except Exception as e:
                self._listener_error(e)
        print("retrostep: stopped: steps=%d forward=%d backward=%d unknown=%d samples=%d "
              "faults=%s" % (self.steps, self.forward, self.backward, self.unknown,
                             self.samples, json.dumps(self.faults)))

    def run_forever(self):
        console = False
        try:
            self.run()
        except KeyboardInterrupt:
            console = True          # Ctrl-C: a host wants the REPL (mpremote, deploy)
            raise
        finally:
            self.shutdown()
            if console and self._wdt is not None:
                self.hw.keep_fed(self._wdt)     # any other end is the watchdog's to reset
