"""`machine` for the sim board on the MicroPython Unix port: the parts the firmware uses.

Pin, I2C and SoftI2C (the emulated bus of simworld; a bus stuck by the `stuck` fault is
freed only by clocking SCL nine times as an open-drain pin before the bus is made anew),
PWM, WDT, Timer, lightsleep, deepsleep, reset, unique_id, freq, idle, disable_irq/enable_irq. Everything acts on the
simworld.World built when this module is first imported.
"""
import time

import simworld

world = simworld.World()

# rising edges driven on each open-drain pin since the last bus was made: a stuck bus
# (a chip holding SDA low mid-byte) lets go only after SCL is clocked nine times
_rises = {}
_UNSTICK_CLOCKS = 9
_pins = {}


class Pin:
    """One object per pin id, as on rp2 and esp32 (static objects there): Pin(id, ...)
    re-initialises the pin's object."""
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __new__(cls, id, mode=-1, pull=-1, value=None):
        p = _pins.get(id)
        if p is None:
            p = object.__new__(cls)
            p._v = None
            p.mode = -1
            _pins[id] = p
        return p

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        if mode != -1:
            self.mode = mode
        if value is not None:
            self._out(1 if value else 0)

    def init(self, mode=-1, pull=-1, value=None):
        if mode != -1:
            self.mode = mode
        if value is not None:
            self._out(1 if value else 0)

    def _out(self, v):
        if self.mode == Pin.OPEN_DRAIN and v and self._v == 0:
            _rises[self.id] = _rises.get(self.id, 0) + 1
        self._v = v
        world.pin_out(self.id, v)

    def value(self, v=None):
        if v is None:
            return world.pin_value(self.id)
        self._out(1 if v else 0)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self._out(1)

    def off(self):
        self._out(0)

    def irq(self, handler=None, trigger=IRQ_RISING | IRQ_FALLING, hard=False, wake=None):
        if handler is None:
            world.handlers.pop(self.id, None)
        else:
            world.handlers[self.id] = (handler, self, trigger)
        return None


def _new_bus(scl):
    clocks = _rises.get(getattr(scl, "id", None), 0)
    _rises.clear()
    if world.bus.stuck and clocks < _UNSTICK_CLOCKS:
        return world.bus        # a new bus object alone does not free a chip holding SDA
    return world.new_bus()


def I2C(id=0, scl=None, sda=None, freq=400000, timeout=50000):
    return _new_bus(scl)


def SoftI2C(scl=None, sda=None, freq=400000, timeout=50000):
    return _new_bus(scl)


class PWM:
    def __init__(self, pin, freq=1000, duty_u16=0):
        self.pin = pin
        self._freq = freq
        self._duty = duty_u16

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self._duty = d
        world.pin_out(("pwm", self.pin.id), 1 if d else 0)

    def deinit(self):
        self._duty = 0


class WDT:
    def __init__(self, id=0, timeout=5000):
        world.wdt_start(timeout)

    def feed(self):
        world.wdt_feed()


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, mode=PERIODIC, period=-1, freq=-1, callback=None):
        self._tm = None
        if callback is not None:
            self.init(mode=mode, period=period, freq=freq, callback=callback)

    def init(self, mode=PERIODIC, period=-1, freq=-1, callback=None):
        self.deinit()
        if freq > 0:
            period = int(1000 / freq)
        self._tm = [time.now_ms() + period, period, callback, mode == Timer.PERIODIC, self]
        world.timers.append(self._tm)

    def deinit(self):
        if self._tm is not None and self._tm in world.timers:
            world.timers.remove(self._tm)
        self._tm = None


def lightsleep(ms=None):
    world.lightsleeps += 1
    time.wait(-1 if ms is None else ms)


def idle():
    time.wait(1, early=True)


def deepsleep(ms=None):
    simworld.log("deepsleep: the device restarts")
    world.summary()
    raise SystemExit(76)


def reset():
    simworld.log("machine.reset()")
    world.summary()
    raise SystemExit(76)


def soft_reset():
    reset()


def unique_id():
    return world.uid


def freq(f=None):
    return 240000000


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


for _id in world.pin_ids:
    Pin(_id)
