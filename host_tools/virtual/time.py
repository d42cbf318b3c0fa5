"""The sim board's clock: stands in for MicroPython's built-in `time` on the Unix port.

With RETROSTEP_SIM_FAST=1 the clock runs fast: every wait (time.sleep_ms, the asyncio
poll, machine.lightsleep) jumps the clock forward at once, stopping early where the
virtual world has something due (an IMU interrupt, a timer, a scripted fault), so a day
of firmware time runs as fast as the CPU allows; time = real time + the waits skipped.
With RETROSTEP_SIM_FAST=2 the clock is purely virtual: it starts at the real clock and
moves only by the waits, so a run is repeatable to the sample (the tests use this).
Otherwise it is the real clock, and waits sleep for real in short slices while the
world is serviced. asyncio's own bookkeeping (which reads the real clock for new tasks)
stays ordered while virtual time is less than six days ahead of real time.

ticks_ms/ticks_us wrap at 2**30 and ticks_add/ticks_diff use that period, as on the
ESP32 and RP2 ports (the Unix port's own ticks wrap at 2**62). asyncio's task heap (C)
compares with the Unix port's period, so right at a 2**30 wrap of the virtual clock two
sleeping tasks may wake in the wrong order; a run starts at the real tick count, which
is far from that.
"""
import os
import sys

_saved = sys.path
sys.path = []
try:
    import time as _rt      # the built-in module, not this file
finally:
    sys.path = _saved

_MODE = os.getenv("RETROSTEP_SIM_FAST") or "0"
FAST = _MODE in ("1", "2")      # waits skip ahead instead of sleeping
PURE = _MODE == "2"             # ...and only waits move the clock: repeatable runs
_MASK = 0x3FFFFFFF
_skip_ms = 0
_t0 = _rt.time_ns()
_base_ms = _rt.ticks_ms()
_base_s = _rt.time()
world = None                # the simworld.World once it exists

# RETROSTEP_SIM_FAST=2: purely virtual (the same run gives the same batches);
# =1 and =0: real time plus the waits skipped (none when 0).
if PURE:
    def now_us():
        """Monotonic virtual microseconds since this module loaded."""
        return _skip_ms * 1000

    def ticks_ms():
        return (_base_ms + _skip_ms) & _MASK

    def ticks_us():
        return (_base_ms + _skip_ms) * 1000 & _MASK

    def _wall():
        return _base_s + _skip_ms / 1000
else:
    def now_us():
        """Monotonic virtual microseconds since this module loaded."""
        return (_rt.time_ns() - _t0) // 1000 + _skip_ms * 1000

    def ticks_ms():
        return (_rt.ticks_ms() + _skip_ms) & _MASK

    def ticks_us():
        return (_rt.ticks_us() + _skip_ms * 1000) & _MASK

    def _wall():
        return _rt.time() + _skip_ms / 1000


def now_ms():
    return now_us() // 1000


ticks_cpu = ticks_us


# A board's ticks wrap at 2**30; the Unix port's own at 2**62. The firmware sees a board's.
_HALF = 0x20000000


def ticks_add(t, delta):
    return (t + delta) & _MASK


def ticks_diff(a, b):
    return ((a - b + _HALF) & _MASK) - _HALF


def time():
    return _wall()


def time_ns():
    return int(_wall() * 1000000000)


def gmtime(secs=None):
    return _rt.gmtime(int(time()) if secs is None else secs)


def localtime(secs=None):
    return _rt.localtime(int(time()) if secs is None else secs)


def mktime(t):
    return _rt.mktime(t)


def advance(ms):
    """Moves the virtual clock on by `ms` (fast mode only)."""
    global _skip_ms
    if ms > 0:
        _skip_ms += ms


def wait(ms, early=False):
    """Lets `ms` milliseconds pass (-1: until something happens) while the world runs.
    With `early`, returns as soon as an interrupt handler ran. True if one ran."""
    w = world
    fired = False
    start = now_ms()
    target = None if ms < 0 else start + ms
    while True:
        if w is not None and w.service():
            fired = True
            if early:
                return True
        now = now_ms()
        if target is not None and now >= target:
            return fired
        nxt = w.next_due_ms() if w is not None else None
        if FAST:
            if nxt is None and target is None:
                raise RuntimeError("sim: the firmware waits forever and nothing is due to wake it")
            t = target if nxt is None else (nxt if target is None else min(nxt, target))
            advance(max(1, t - now))
        else:
            step = 2 if target is None else min(2, target - now)
            if nxt is not None:
                step = min(step, max(0, nxt - now))
            _rt.sleep_ms(max(0, step))


def sleep_ms(ms):
    wait(int(ms))


def sleep_us(us):
    if FAST or us >= 2000:
        wait(int(us) // 1000)
    else:
        _rt.sleep_us(us)


def sleep(s):
    wait(int(s * 1000))
