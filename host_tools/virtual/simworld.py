"""The sim board's surroundings: the emulated IMU on its bus, pins, timers, watchdog, script.

Built once, by the first `import machine`, from board.json in the working directory (the
device's flash) and these environment variables:

    RETROSTEP_SIM_TRACE   trace file feeding the IMU (default: lying still)
    RETROSTEP_SIM_CHIP    emulated chip (default: board.json imu.chip, else bmi160):
                          mpu6050 mpu6500 mpu6886 mpu9255 mpu-clone-98 lsm6ds3
                          lsm6ds3trc lsm6dso lsm6dsox bmi160
    RETROSTEP_SIM_ADDR    its I2C address (default: board.json imu.address, else the
                          chip's usual one)
    RETROSTEP_SIM_FAST    0 real time, 1 fast (real time + skipped waits), 2 purely
                          virtual and repeatable (see time.py)
    RETROSTEP_SIM_END     when the trace ends: exit (default when fast), rest, loop
    RETROSTEP_SIM_USB     1: a USB host is attached (VBUS high), 0 (default): on battery
    RETROSTEP_SIM_UID     unique id, hex (default 5253494d00000001; emulate_cmd.sim_board
                          derives one from the flash folder)
    RETROSTEP_SIM_FREE_KB leave exactly this much heap free for the firmware: the rest
                          (beyond what the emulation itself holds) is filled with ballast,
                          holes first, so the firmware sees a board with that much heap
                          (simboot.py: after the emulation loads, before main.py does)
    RETROSTEP_SIM_HEAPLOG 1: once a virtual second, while the firmware waits, collect the
                          garbage and note the free heap; the summary's "min_free" is the
                          least seen (bytes: the firmware's steady margin)
    RETROSTEP_SIM_FAULTS  comma-separated script, times in ms of virtual time from start:
        eio@T[xN] nak@T[xN] timeout@T[xN]   the next N (1) I2C transactions fail
        stuck@T              the bus hangs (timeouts) until the firmware clocks SCL nine
                             times and re-creates it (machine.py)
        absent@T[+D]         the IMU stops answering for D ms (default: for good)
        overflow@T           the host "misses" a FIFO's worth of samples: real overflow
        hang@T               the next I2C transaction blocks 30 s (the watchdog fires)
        press@T+D            the button is held down for D ms

    RETROSTEP_SIM_MAX_S   fast modes: stop after this much virtual time (default 5 days,
                          below the 6-day limit of the virtual clock; see time.py)

Exit codes of the process: 0 the trace was played and drained, 75 watchdog reset,
76 machine.reset(), 77 the virtual time limit was reached. Messages from the world go to stderr, prefixed "sim:".
"""
import json
import os
import sys

import time

from emu_bus import EmuI2C

# name -> (module, class, default address, ID register value)
CHIPS = {
    "mpu6050": ("emu_mpu6050", "EmuMPU6050", 0x68, 0x68),
    "mpu6500": ("emu_mpu6050", "EmuMPU6050", 0x68, 0x70),
    "mpu9255": ("emu_mpu6050", "EmuMPU6050", 0x68, 0x73),
    "mpu-clone-98": ("emu_mpu6050", "EmuMPU6050", 0x68, 0x98),
    "mpu6886": ("emu_mpu6050", "EmuMPU6050", 0x68, 0x19),
    "lsm6ds3": ("emu_lsm6ds", "EmuLSM6DS3", 0x6A, 0x69),
    "lsm6ds3trc": ("emu_lsm6ds", "EmuLSM6DS3", 0x6A, 0x6A),
    "lsm6dso": ("emu_lsm6ds", "EmuLSM6DSO", 0x6A, 0x6C),
    "lsm6dsox": ("emu_lsm6ds", "EmuLSM6DSO", 0x6A, 0x6C),
    "bmi160": ("emu_bmi160", "EmuBMI160", 0x68, 0xD1),
}


def make_chip(name, source, addr=None):
    mod, cls, a, cid = CHIPS[name]
    m = __import__(mod)
    return getattr(m, cls)(a if addr is None else addr, source, cid)


def make_source(path, end):
    if not path:
        from trace_source import RestSource
        return RestSource()
    from trace_source import TraceSource
    return TraceSource(path, end)


def _pin(spec):
    if isinstance(spec, dict):
        return spec.get("pin"), bool(spec.get("active_low"))
    return spec, False


def log(*a):
    sys.stderr.write("sim: " + " ".join(str(x) for x in a) + "\n")


class World:
    def __init__(self, cfg=None, env=os.getenv):
        if cfg is None:
            try:
                with open("board.json") as f:
                    cfg = json.load(f)
            except OSError:
                cfg = {"imu": {}}
        imu = cfg.get("imu", {})
        self.fast = time.FAST
        self.end = env("RETROSTEP_SIM_END") or ("exit" if self.fast else "rest")
        chip = (env("RETROSTEP_SIM_CHIP") or imu.get("chip") or "bmi160").lower()
        if chip not in CHIPS:
            raise ValueError("sim: unknown chip %r; known: %s" % (chip, " ".join(CHIPS)))
        addr = env("RETROSTEP_SIM_ADDR")
        addr = int(addr, 0) if addr else imu.get("address")
        self.source = make_source(env("RETROSTEP_SIM_TRACE"), self.end)
        self.chip = make_chip(chip, self.source, addr)
        self.bus = EmuI2C()
        self.bus.attach(self.chip)
        self.bus.on_transaction = self._on_transaction
        self.int_pin = imu.get("int_pin")
        self.button, self.button_low = _pin(cfg.get("button"))
        self.vbus, self.vbus_low = _pin(cfg.get("vbus_pin"))
        self.led, _ = _pin(cfg.get("led"))
        self.usb = env("RETROSTEP_SIM_USB") == "1"
        uid = env("RETROSTEP_SIM_UID") or "5253494d00000001"
        self.uid = bytes(int(uid[i:i + 2], 16) for i in range(0, len(uid), 2))
        self.t0 = time.now_ms()
        self.script = self._parse(env("RETROSTEP_SIM_FAULTS") or "")
        self.pressed_until = None
        self.absent_until = None
        self.hang = False
        self.handlers = {}          # pin id -> (handler, pin object, trigger)
        self.outputs = {}           # pin id -> value
        self.led_changes = 0
        self.timers = []
        self.wdt_ms = None
        self.wdt_fed = 0
        self.faults_done = 0
        self._level = False
        self._exhausted_at = None
        self.ballast = []
        self.lightsleeps = 0
        self.heaplog = env("RETROSTEP_SIM_HEAPLOG") == "1"
        self.min_free = None
        self._heap_t = 0
        self.max_ms = int(env("RETROSTEP_SIM_MAX_S") or 432000) * 1000 if self.fast else None
        time.world = self
        self._run_script(self.t0)       # faults from the start (absent@0) apply at power-up
        self._free_kb = env("RETROSTEP_SIM_FREE_KB")
        # the pins board.json names: a board's machine.Pin objects are static (rp2, esp32),
        # so machine.py makes them once, at import, outside the firmware's heap budget
        self.pin_ids = [p for p in (cfg.get("i2c", {}).get("scl"), cfg.get("i2c", {}).get("sda"),
                                    self.int_pin, self.led, _pin(cfg.get("buzzer"))[0],
                                    _pin(cfg.get("vibration"))[0], self.button, self.vbus)
                        if p is not None]
        for p in self.pin_ids:
            self.outputs[p] = 0

    def leave_free(self):
        """Fills the heap until RETROSTEP_SIM_FREE_KB (if set) is left free: called by
        simboot.py once the emulation is loaded, before the firmware's first module."""
        if self._free_kb:
            self._leave_free(int(self._free_kb) * 1024)

    def _leave_free(self, target):
        # the firmware's heap in one piece, as a board's at power-up: `target` bytes are
        # held while every other hole, down to a single 16-byte block, is filled, then let go
        import gc
        self.ballast = [None] * 1024
        gc.collect()
        hold = bytearray(target - 32)       # less its own header, given back with it
        n = 0
        for size in (4096, 1024, 256, 64, 16, 0):
            while n < len(self.ballast):
                try:
                    self.ballast[n] = bytearray(size) if size else 0.5 + n
                except MemoryError:
                    break
                n += 1
        hold = None
        gc.collect()
        for _ in range(2):                  # the headers of the pieces that did not fit
            while n < len(self.ballast) and gc.mem_free() > target:
                try:
                    self.ballast[n] = 0.5 + n
                except MemoryError:
                    break
                n += 1
            gc.collect()

    def _note_heap(self, now):
        import gc
        self._heap_t = now
        gc.collect()
        f = gc.mem_free()
        if self.min_free is None or f < self.min_free:
            self.min_free = f

    # ---- script -------------------------------------------------------------------
    def _parse(self, text):
        items = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            kind, _, rest = part.partition("@")
            count = 1
            dur = None
            if "x" in rest:
                rest, _, c = rest.partition("x")
                count = int(c)
            if "+" in rest:
                rest, _, d = rest.partition("+")
                dur = int(d)
            items.append([self.t0 + int(rest), kind, dur, count])
        items.sort(key=lambda it: it[0])
        return items

    def _run_script(self, now):
        while self.script and self.script[0][0] <= now:
            t, kind, dur, count = self.script.pop(0)
            self.faults_done += 1
            log("fault", kind, "at", t - self.t0, "ms")
            if kind in ("eio", "nak", "timeout"):
                self.bus.fail(kind, count)
            elif kind == "stuck":
                self.bus.stuck = True
            elif kind == "absent":
                self.bus.absent(self.chip.addr, True)
                self.absent_until = None if dur is None else now + dur
            elif kind == "overflow":
                self.chip.burst(self.chip.fifo_bytes // 6 + 1)
            elif kind == "hang":
                self.hang = True
            elif kind == "press":
                self.pressed_until = now + (dur or 3000)
            else:
                raise ValueError("sim: unknown fault %r" % kind)
        if self.absent_until is not None and now >= self.absent_until:
            self.bus.absent(self.chip.addr, False)
            self.absent_until = None
        if self.pressed_until is not None and now >= self.pressed_until:
            self.pressed_until = None

    def _on_transaction(self):
        if self.hang:
            self.hang = False
            time.advance(30000)
            self._check_wdt(time.now_ms())

    # ---- pins -----------------------------------------------------------------------
    def pin_value(self, pid):
        if pid == self.int_pin:
            return 1 if self.chip.int_level() else 0
        if pid == self.button:
            down = self.pressed_until is not None
            return (0 if down else 1) if self.button_low else (1 if down else 0)
        if pid == self.vbus:
            return (0 if self.usb else 1) if self.vbus_low else (1 if self.usb else 0)
        return self.outputs.get(pid, 0)

    def pin_out(self, pid, v):
        if pid == self.led and self.outputs.get(pid, 0) != v:
            self.led_changes += 1
        self.outputs[pid] = v

    def new_bus(self):
        self.bus.stuck = False
        return self.bus

    # ---- watchdog, timers ---------------------------------------------------------------
    def wdt_start(self, ms):
        self.wdt_ms = ms
        self.wdt_fed = time.now_ms()

    def wdt_feed(self):
        self.wdt_fed = time.now_ms()

    def _check_wdt(self, now):
        if self.wdt_ms is not None and now - self.wdt_fed > self.wdt_ms:
            log("watchdog reset: not fed for", now - self.wdt_fed, "ms")
            self.summary()
            raise SystemExit(75)

    def summary(self):
        # the run is over: the ballast goes, so that the report never competes with the
        # firmware for the heap it was given
        import gc
        self.ballast = []
        gc.collect()
        c = self.chip
        log("world " + json.dumps({"made": c.made, "dropped": c.dropped, "in_fifo": c.flen,
                                   "led_changes": self.led_changes, "faults_done": self.faults_done,
                                   "lightsleeps": self.lightsleeps,
                                   "bus_errors": self.bus.errors, "transactions": self.bus.transactions,
                                   "virtual_ms": time.now_ms() - self.t0,
                                   "min_free": self.min_free}))

    # ---- the world's turn -----------------------------------------------------------------
    def service(self):
        now = time.now_ms()
        if self.script:
            self._run_script(now)
        elif self.absent_until is not None or self.pressed_until is not None:
            self._run_script(now)
        chip = self.chip
        chip.sync()
        self._check_wdt(now)
        if self.heaplog and now - self._heap_t >= 1000:
            self._note_heap(now)
        if self.max_ms is not None and now - self.t0 > self.max_ms:
            log("virtual time limit reached")
            self.summary()
            raise SystemExit(77)
        fired = False
        if self.timers:
            for tm in list(self.timers):
                if tm[0] <= now:
                    if tm[3]:
                        tm[0] += tm[1]
                    else:
                        self.timers.remove(tm)
                    tm[2](tm[4])
                    fired = True
        h = self.handlers.get(self.int_pin)
        if h is not None:
            level = chip.int_level()
            if level != self._level:
                self._level = level
                if (level and h[2] & 1) or (not level and h[2] & 2):
                    h[0](h[1])
                    fired = True
        if chip.exhausted and self.end == "exit":
            if self._exhausted_at is None:
                self._exhausted_at = now
            if chip.flen == 0 or now - self._exhausted_at > 60000:
                log("trace finished")
                self.summary()
                raise SystemExit(0)
        return fired

    def next_due_ms(self):
        now_us = time.now_us()
        best = None
        if self.int_pin in self.handlers and not self._level:
            t = self.chip.int_due_us(now_us)
            if t is not None:
                best = (t + 999) // 1000
        for tm in self.timers:
            if best is None or tm[0] < best:
                best = tm[0]
        for t in (self.script[0][0] if self.script else None, self.absent_until,
                  self.pressed_until,
                  None if self.wdt_ms is None else self.wdt_fed + self.wdt_ms + 1):
            if t is not None and (best is None or t < best):
                best = t
        if self.chip.exhausted and self.end == "exit":
            t = now_us // 1000 + 1000
            if best is None or t < best:
                best = t
        return best
