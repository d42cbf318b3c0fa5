"""FallDetector's thresholds and buffers in sensor units, set once at construction.

Imported by fall.FallDetector() and dropped right after: the code that turns the
thresholds below (tenths or hundredths of g, milliseconds) into sensor counts and sample
counts is not needed again, so it does not stay on the heap.
"""
from array import array

from micropython import const

_NSTEP = const(16)          # step ring: as fall._NSTEP

# thresholds in tenths (or hundredths) of g, turned into sensor units at construction
_FF_G100 = const(45)
_IMPACT_G10 = const(28)
_JERK_G10 = const(16)
_JERK_MIN_G10 = const(12)   # the jerk threshold's floor at the slowest rates
_STILL_LO_G100 = const(80)
_STILL_HI_G100 = const(120)
_STEADY_G100 = const(12)    # per-axis drift allowed inside the still second
_MOVE_G1000 = const(60)     # mean |(|a| - 1 g)| above which the wearer is "moving"


def _samples(rate_hz, ms):
    return max(1, int(rate_hz * ms / 1000 + 0.5))


def setup(rate_hz, lsb_per_g):
    """The values FallDetector keeps, in the order fall.FallDetector.__init__ takes them."""
    # scale raw counts to 128..255 per g: every square below stays a small int
    sh = 0
    while (lsb_per_g >> sh) >= 256:
        sh += 1
    g = lsb_per_g >> sh
    # below 50 Hz the sensor's filter averages a 50-100 ms impact or jolt over a longer
    # sample period and the peaks come out lower: the thresholds follow
    lo = min(1.0, rate_hz / 50) ** 0.5
    k = 0                   # low-pass shift: time constant about one second
    while (1 << (k + 1)) <= rate_hz:
        k += 1
    lag = _samples(rate_hz, 80)
    return (sh, g,
            (g * _FF_G100 // 100) ** 2,
            int(g + g * (_IMPACT_G10 - 10) * lo / 10) ** 2,
            int(g * max(_JERK_G10 * lo, _JERK_MIN_G10) / 10) ** 2,
            (g * _STILL_LO_G100 // 100) ** 2,
            (g * _STILL_HI_G100 // 100) ** 2,
            g * _STEADY_G100 // 100,
            # |m2 - g2| ~ 2 g |m - g|: the motion level is kept in those units
            2 * g * (g * _MOVE_G1000 // 1000),
            k,
            _samples(rate_hz, 120),         # free fall
            _samples(rate_hz, 1000),        # impact window after it
            _samples(rate_hz, 200),         # a trip this long before an impact
            _samples(rate_hz, 1500),        # (its own jolt is not one)
            _samples(rate_hz, 1000),        # still this long after an impact
            _samples(rate_hz, 5000),        # ... within this
            _samples(rate_hz, 4000),        # stumble decided this long after the jerk
            _samples(rate_hz, 5000),        # refractory period
            _samples(rate_hz, 3000),        # activity window before an event
            _samples(rate_hz, 250),         # step periods
            _samples(rate_hz, 1600),
            lag,                            # the vector change is taken over 80 ms
            _samples(rate_hz, 250),         # envelope block
            array("h", bytes(6 * lag)),
            array("i", bytes(4 * _NSTEP)),
            bytearray(_NSTEP),
            array("i", bytes(4 * _NSTEP)),  # scratch for the rhythm decision
            array("i", bytes(4 * _NSTEP)),
            int(1024000 / rate_hz + 0.5))
