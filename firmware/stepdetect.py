"""Direction-aware step detector: one pure module for the board and the PC.

API (stable; the host tools, firmware loop and tests use exactly this):

    det = StepDetector(rate_hz, lsb_per_g, forward_axis=0, placement=P_UNKNOWN)
        rate_hz       sample rate, 12.5 to 200 (int or float; only used here, at construction)
        lsb_per_g     accelerometer counts per g (e.g. 16384 for MPU6050 at +-2 g)
        forward_axis  sensor axis pointing the way the wearer faces: +-1 x, +-2 y, +-3 z, 0 unknown
        placement     P_* code below (where the sensor is worn), P_UNKNOWN if not known
    n = det.update(ax, ay, az)          one sample of raw counts; returns events now pending
    n = det.feed(buf, count, stride)    `count` samples from an int array, `stride` values per
                                        sample (ax, ay, az first; extra channels are skipped)
    det.pending                         events not yet read
    k = det.read(idx_out, dir_out)      moves pending events into caller arrays (array('i') of
                                        sample indices, bytearray of DIR_* codes); returns count
    det.steps, det.forward, det.backward, det.unknown   running totals
    det.n                               samples consumed so far (wraps at 2**30)
    det.reset()                         back to the just-constructed state

Event sample indices are `det.n` values (wrapping at 2**30): the caller turns them into
time (index * 1000 / rate_hz on the PC; a ticks offset on the board). Steps are credited
late, once a rhythm is confirmed, with the sample index at which each really happened.
"""
from micropython import const

DIR_UNKNOWN = const(0)
DIR_FORWARD = const(1)
DIR_BACKWARD = const(2)

P_UNKNOWN = const(0)
P_WRIST = const(1)
P_HAND = const(2)
P_HAND_SWINGING = const(3)
P_UPPER_ARM = const(4)
P_FRONT_POCKET = const(5)
P_BACK_POCKET = const(6)
P_WAIST = const(7)
P_LOWER_BACK = const(8)
P_NECK = const(9)
P_BAG = const(10)
P_ANKLE = const(11)
P_FOOT = const(12)

# names as in the trace format's `placement` header, indexed by P_* code
PLACEMENTS = ("unknown", "wrist", "hand", "hand_swinging", "upper_arm", "front_pocket",
              "back_pocket", "waist", "lower_back", "neck", "bag", "ankle", "foot")

_IDX_MASK = const(0x3FFFFFFF)
_EV_SIZE = const(32)  # event ring; the caller drains it at least every few seconds


class StepDetector:
    # placeholder pipeline, replaced by the tuned one
    def __init__(self, rate_hz, lsb_per_g, forward_axis=0, placement=P_UNKNOWN):
        from array import array
        self.rate_hz = rate_hz
        self.lsb_per_g = lsb_per_g
        self.forward_axis = forward_axis
        self.placement = placement
        self._ev_idx = array("i", bytes(4 * _EV_SIZE))
        self._ev_dir = bytearray(_EV_SIZE)
        self._refr = int(rate_hz * 0.3)
        self.reset()

    def reset(self):
        self.n = 0
        self.steps = 0
        self.forward = 0
        self.backward = 0
        self.unknown = 0
        self.pending = 0
        self._ev_head = 0
        self._lp = 0
        self._prev = 0
        self._last = -1000000
        self._up = False

    def _emit(self, idx, d):
        j = (self._ev_head + self.pending) % _EV_SIZE
        self._ev_idx[j] = idx
        self._ev_dir[j] = d
        if self.pending < _EV_SIZE:
            self.pending += 1
        else:
            self._ev_head = (self._ev_head + 1) % _EV_SIZE
        self.steps += 1
        self.unknown += 1

    def update(self, ax, ay, az):
        g = self.lsb_per_g
        m = (ax * ax + ay * ay + az * az) // g - g
        self._lp += (m - self._lp) >> 2
        v = self._lp
        if v > (g >> 3) and not self._up and self.n - self._last > self._refr:
            self._up = True
            self._last = self.n
            self._emit(self.n, DIR_UNKNOWN)
        elif v < 0:
            self._up = False
        self.n = (self.n + 1) & _IDX_MASK
        return self.pending

    def feed(self, buf, count, stride):
        i = 0
        for _ in range(count):
            self.update(buf[i], buf[i + 1], buf[i + 2])
            i += stride
        return self.pending

    def read(self, idx_out, dir_out):
        k = self.pending
        h = self._ev_head
        for i in range(k):
            idx_out[i] = self._ev_idx[h]
            dir_out[i] = self._ev_dir[h]
            h = (h + 1) % _EV_SIZE
        self._ev_head = h
        self.pending = 0
        return k
