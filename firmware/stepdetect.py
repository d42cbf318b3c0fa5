"""Direction-aware step detector: one pure module for the board and the PC.

API (stable; the host tools, firmware loop and tests use exactly this):

    det = StepDetector(rate_hz, lsb_per_g, forward_axis=0, placement=P_UNKNOWN, lsb_per_dps=0)
        rate_hz       sample rate, 12.5 to 250 (int or float; only used here, at construction)
        lsb_per_g     accelerometer counts per g (e.g. 16384 for MPU6050 at +-2 g)
        forward_axis  sensor axis pointing the way the wearer faces: +-1 x, +-2 y, +-3 z, 0 unknown
        placement     P_* code below (where the sensor is worn), P_UNKNOWN if not known
        lsb_per_dps   gyroscope counts per degree/s when samples carry gx, gy, gz; 0: none
    n = det.update(ax, ay, az)          one sample of raw counts; returns events now pending
    n = det.update_gyro(ax, ay, az, gx, gy, gz)   the same with the gyro's counts
    n = det.feed(buf, count, stride)    `count` samples from an int array, `stride` values per
                                        sample (ax, ay, az first, then gx, gy, gz when stride
                                        is 6 or more; further channels are skipped)
    n = det.flush()                     the input ends (a recording's end, going to sleep):
                                        a short walk still waiting is credited; returns
                                        events now pending
    det.pending                         events not yet read
    k = det.read(idx_out, dir_out)      moves pending events into caller arrays (array('i') of
                                        sample indices, bytearray of DIR_* codes); returns count
    det.steps, det.forward, det.backward, det.unknown   running totals
    det.sense                           the strides' direction evidence summed (of 1024 a
                                        stride, positive forward): how clearly the
                                        forward axis given is the walking one
    det.n                               samples consumed so far (wraps at 2**30)
    det.reset()                         back to the just-constructed state

Event sample indices are `det.n` values (wrapping at 2**30): the caller turns them into
time (index * 1000 / rate_hz on the PC; a ticks offset on the board). Steps are credited
late, once a rhythm is confirmed, with the sample index at which each really happened.
"""
import micropython
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
_EV_SIZE = const(32)    # event ring; the caller drains it at least every few seconds
_CAND = const(16)       # candidate steps held while a rhythm is not yet confirmed
_RUN = const(8)         # candidates in rhythm that confirm a walk
_HOLD_S = const(8)      # seconds of a followed rhythm that confirm a walk
_SWITCH = const(150)    # extra evidence (of 1024) to halve the period of a walk
_CLIP = const(4000)     # signal clip (g/1024): products over a window stay small ints
_EMIN = const(6000)     # least mean square |a|^2 deviation that starts a walk
_EMIN_HOLD = const(2000)  # ... and that keeps one going
_C_ON = const(550)      # stride correlation (of 1024) that confirms a rhythm
_C_OFF = const(400)     # stride correlation below which it is lost
_FMIN = const(90)       # least swing of the counting filter, per box sample, to start a
                        # walk (desk work and a resting wrist stay under it)...
_FMIN_WALK = const(20)  # ... and to go on counting one (a long walk's softer stretches)

# How much a sensor there repeats per stride rather than per step (a leg or a swinging
# arm carries it), lowering the evidence needed to read a lag as a stride.
_STRIDE_BIAS = (0, 150, 0, 150, 0, 400, 400, 0, 0, 0, 0, 400, 400)
# A swinging arm's jog: its swing can hide the steps from |a|^2 entirely (real elderly
# jogs at the wrist, mocap_dev: a slow lag whose half is in anti-phase, as a slow walk's
# step), but an arm that slow in a walk swings gently. At a lag of 0.65 s or more the
# signal's mean square ((g^2/1024)^2) lowers the bar for a stride by 1 (of 1024) per
# _JOG_E of it: a jog's 1.3M to 9M moves it 110 to 750, a real walk's there (99% of
# readings under 1M, none over 3.5M) under 80 (5000 to 30000 count the same on
# mocap_dev and bangle).
_JOG_E = const(12000)

# Direction. With the forward axis known, the (vertical, forward) orbit of a stride
# tells: its sense flips under time reversal, and walking backward is close to walking
# forward played backwards (Winter, Pluck & Yang 1989). Per placement: the sign of a
# forward stride's area (0: no model there, direction stays unknown) and the margin (of
# 1024 of the stride's energy) a walk's evidence must pass to be told. The boundary is
# zero: on real lower-back and waist walks (ipol_dev, mocap_dev) forward strides and
# the same strides reversed mirror each other, and the ankle's orbit has the trunk's
# sense there (fitted by host_tools/fit_direction.py). The wrist's arm swing has no
# real recording to check its orbit against: unknown, as at the hand, arm, neck, bag,
# back pocket and foot. The margin at the trunk (200) and the thigh's (_SWING_MARGIN)
# leave a walk unknown whose first strides say little: energetic fast walking (130-146
# steps a minute, mocap_dev's 'active' style) tells weakly at the trunk and thigh, and
# a few such walks were told the wrong way at margins of 150 and 25.
_DIR_SIGN = (-1, 0, 0, 0, 0, 0, 0, -1, -1, 0, 0, -1, 0)
_DIR_MARGIN = (0, 0, 0, 0, 0, 0, 0, 200, 200, 0, 0, 150, 0)
_SW_MARGIN = const(150)  # evidence against a walk's direction that switches it
_NOEV = const(-32768)   # no direction evidence
_LPF_HZ = const(5)      # the orbit's low-pass
# Running at the trunk has a spring-mass orbit, a backward walk's; a strong stride
# (rms of the low-passed orbit signals over 270/1024 g^2) whose orbit says backward,
# or a cadence over 148 steps/min, is taken for running there and not told.
_RUN_E = const(72900)   # 270 ** 2
_RUN_SPM = const(148)

# A limb with a gyroscope (thigh in a front pocket, shank at the ankle) tells by its
# pitch rate w: walking forward it swings forward fast (swing) and back slowly
# (stance), walking backward the other way round. At the ankle the skew of w,
# sum(w^3) / sum(|w|^3) over three strides, tells. The thigh's swing is milder (fast
# walking extends it in stance nearly as fast) and the skew misses there (real thigh
# motion, mocap_dev: a tenth of steps wrong); the thigh tells by which way it turns
# where its rate changes fastest (the swing and its braking):
# sum(w * dw^2) / sum(|w| * dw^2), w summed over about 120 ms.
_THIGH_SIGN = const(1)
_THIGH_MARGIN = const(50)
_SWING_MARGIN = const(75)
_THIGH_STRIDES = const(3)
_GYRO_CLIP = const(1023)    # pitch rate clip, half degrees/s (512 deg/s)
_AXIS_KB = const(8)         # the limb's axis and the gyro's offset: a mean over 10 s
_AXIS_REST = const(4)       # ... and over 0.6 s while no walk goes on
_RUN_END = const(4)         # candidates in rhythm that make a short walk, once it ends
_E_END = const(3000)        # ... if its signal had this mean square |a|^2 deviation
_C_LOOSE = const(250)       # stride correlation of a loose rhythm (a walk with a turn) kept for that
_C_LEG = const(512)         # ... and of a leg's pitch rate, where |a|^2 has none
_LEG_E = const(3600)        # a swinging leg's mean square pitch rate: 30 deg/s rms
# Arm gestures at the wrist (waving). Walking, the arm swings as a pendulum: its
# accelerometer reads along the forearm (a pendulum's reads along its string), and the
# body's bounce is vertical, along the hanging forearm too, so the acceleration keeps
# its direction in the sensor while it grows and shrinks. A wave drives the forearm
# faster than it would swing: its tangential acceleration and the turning forearm tilt
# the acceleration far from its mean direction. Over the last ~2.5 s of motion, sin^2
# of the angle from the slow mean, weighted by |a|^2: where a walk is confirmed, real
# wrist walks read at most 0.31 (bangle; mocap_dev walks, turns and runs 0.25), waves
# 0.40 or more (mocap_dev). Over 0.36, a rhythm at the wrist or in a hand is not credited.
_SPIN = const(41)           # (of 64) a mean cos^2 under 0.64: sin^2 over 0.36
_SPIN_ACT = const(50)       # |a|^2 deviation (g^2/1024) of a moving arm


@micropython.viper
def _acorr(ac: ptr32, h: ptr16, i: int, win: int, mask: int, lmin: int, top: int, d: int):
    # The autocorrelation's update for sample i (deviation d), the detector's hottest loop:
    # viper, machine integers and the arrays' memory read directly. ptr16 reads unsigned:
    # each history value is sign-extended by hand; ac's 32-bit words wrap as int32 does
    # (a read-modify-write keeps their bits on 32- and 64-bit ports alike).
    old = ((h[(i - win) & mask] + 0x8000) & 0xFFFF) - 0x8000
    ac[0] += d * d - old * old
    j = i - lmin
    k = j - win
    lag = lmin
    while lag <= top:
        hj = ((h[j & mask] + 0x8000) & 0xFFFF) - 0x8000
        hk = ((h[k & mask] + 0x8000) & 0xFFFF) - 0x8000
        ac[lag] += d * hj - old * hk
        j -= 1
        k -= 1
        lag += 1


def _pow2_at_least(x):
    # smallest power of two >= x (construction only)
    p = 1
    while p < x:
        p <<= 1
    return p


def _shift_at_least(x):
    # smallest k with 2**k >= x (construction only)
    k = 0
    while (1 << k) < x:
        k += 1
    return k


class StepDetector:
    """Streaming step detector; see the module docstring for the API.

    Pipeline, all integer: decimate to 14-28 Hz; |a|^2 minus its slow mean (any
    orientation); running autocorrelation finds the step period and whether the
    stride repeats (a rhythm); a filter tuned to that period (a box of half a period
    kills harmonics, adding the signal one period back kills the arm's or leg's stride
    component) gives one upward crossing per step; candidates are credited only in
    a rhythm, and the first ones of a walk are credited back once it is confirmed.
    Direction: with the forward axis known, the sense of the orbit traced by the
    vertical and forward accelerations over each stride (running at the trunk is not
    told); at the ankle or in a front pocket with a gyro, the way the leg swings over
    the last three strides; a walk's direction is held with hysteresis over its strides.
    """

    def __init__(self, rate_hz, lsb_per_g, forward_axis=0, placement=P_UNKNOWN, lsb_per_dps=0):
        from array import array
        if not 12.5 <= rate_hz <= 250:
            raise ValueError("rate_hz must be 12.5 to 250")  # 200 Hz and the 208 Hz ODRs
        if not 256 <= lsb_per_g <= 65536:
            raise ValueError("lsb_per_g must be 256 to 65536")
        if forward_axis not in (0, 1, -1, 2, -2, 3, -3):
            raise ValueError("forward_axis must be 0 or +-1, +-2, +-3")
        if not 0 <= placement < len(PLACEMENTS):
            raise ValueError("unknown placement code")
        if lsb_per_dps and not 8 <= lsb_per_dps <= 1000:
            # (8: a 4000 deg/s range; below it a decimation's sum could leave small ints)
            raise ValueError("lsb_per_dps must be 0 (no gyro) or 8 to 1000")
        self.rate_hz = rate_hz
        self.lsb_per_g = lsb_per_g
        self.forward_axis = forward_axis
        self.placement = placement
        # Walking has nothing above ~10 Hz that counts: decimating by a power of two
        # to 14-28 Hz (12.5 Hz stays) makes a doubled input rate reach the same signal
        # and keeps every buffer at 128 inner samples.
        dec = 1
        while rate_hz / dec >= 28.5:
            dec *= 2
        self._dec = dec
        ri = rate_hz / dec
        # summed raw counts -> g/1024, so squares of 16 g stay small ints on 32-bit ports
        self._mul = (1024 * 4096 + lsb_per_g // 2) // lsb_per_g
        self._shift = 12 + _shift_at_least(dec)
        self._kb = _shift_at_least(ri * 0.7)          # gravity tracker time constant
        self._lmin = int(ri * 0.28)                   # 214 steps/min
        self._lmax = int(ri * 1.05 + 0.999)           # 57 steps/min
        self._top = 2 * self._lmax + 1                # lags up to one slow stride
        self._win = _pow2_at_least(ri * 1.9)          # autocorrelation window, 2.1-4 s
        size = _pow2_at_least(self._win + self._top + 2)
        self._mask = size - 1
        self._hist = array("h", bytes(2 * size))      # recent |a|^2 deviations (clipped)
        self._ac = array("i", bytes(4 * (self._top + 1)))
        self._l95 = int(ri * 0.95)                    # lag bounds of the cadence prior
        self._l80 = int(ri * 0.8)
        self._l65 = int(ri * 0.65)
        # eight times the step period (inner samples) at _RUN_SPM: a shorter one is
        # running, whose direction the trunk does not tell (see _evidence)
        self._prun = int(ri * 8 * 60 / _RUN_SPM)
        self._hold = int(ri * _HOLD_S)
        self._erun = _RUN_E if placement in (P_WAIST, P_LOWER_BACK) else 1 << 29
        # a run of steps whose rhythm faded as it stopped is a short walk, except where
        # the hands make such runs without walking (typing, gestures)
        self._fade = placement > P_UPPER_ARM
        from math import exp, pi
        self._lpc = int(256 * (1 - exp(-2 * pi * _LPF_HZ / ri)) + 0.5)   # the low-pass's coefficient, of 256
        self._fax = forward_axis if forward_axis > 0 else -forward_axis
        self._fsign = 1 if forward_axis > 0 else -1
        self._bias = _STRIDE_BIAS[placement]
        self._dsign = _DIR_SIGN[placement] if forward_axis else 0
        self._dmargin = _DIR_MARGIN[placement]
        # a leg's pitch rate (thigh, shank): gyro counts summed over a decimation -> half deg/s
        self._gmul = 0
        self._swing = placement == P_FRONT_POCKET
        self._box = int(ri * 0.12 + 0.5) if ri * 0.12 >= 2 else 2
        if forward_axis and lsb_per_dps and placement in (P_FRONT_POCKET, P_ANKLE):
            self._gmul = int(2 * 4096 / lsb_per_dps + 0.5)
            self._dsign = _THIGH_SIGN
            self._dmargin = _SWING_MARGIN if self._swing else _THIGH_MARGIN
        # the forward acceleration (a limb's pitch rate) over the history, and the last
        # eight steps' inner indices: a stride's direction is read from them
        self._fh = array("h", bytes(2 * size if forward_axis else 2))
        self._tk = array("i", bytes(32))
        self._arm = placement in (P_WRIST, P_HAND)   # where an arm's gesture is told (_turns)
        self._ev_idx = array("i", bytes(4 * _EV_SIZE))
        self._ev_dir = bytearray(_EV_SIZE)
        self._cand = array("i", bytes(4 * _CAND))
        self._cev = array("h", bytes(2 * _CAND))   # their direction evidence
        self.reset()

    def reset(self):
        self.n = 0
        self.steps = 0
        self.forward = 0
        self.backward = 0
        self.unknown = 0
        self.sense = 0
        self.pending = 0
        self._ev_head = 0
        self._sx = 0
        self._sy = 0
        self._sz = 0
        self._cnt = 0
        self._i = 0               # inner (decimated) sample index
        self._base = -1           # gravity level of |a|^2, fixed point <<4; -1: not started
        self._fbase = 0           # gravity on the forward axis, fixed point <<4
        self._sj = -1             # the step filter's box sums, and where they were taken
        self._sp = 0
        self._s1 = 0
        self._s2 = 0
        self._s3 = 0
        self._period = 0          # step period in inner samples, 0 until a rhythm is seen
        self._corr = 0            # stride autocorrelation, of 1024
        self._walking = 0         # the signal has a rhythm
        self._held = 0            # inner samples it has been followed for
        self._counting = 0        # steps are being credited
        self._amp = 0             # running amplitude of the counting filter
        self._up = 0              # the counting filter is above its threshold
        self._last = 0            # inner index of the last candidate
        self._done = 0            # ... and of the last step counted
        self._ncand = 0           # candidates queued (self._cand, self._cev)
        self._bdir = DIR_UNKNOWN  # the walk's direction, and its running evidence
        self._bsum = 0
        self._bk = 0              # strides of evidence in it (up to four)
        self._tkn = 0             # the last step in self._tk
        self._pp = 0              # a loose rhythm's period (not walking)
        self._nreal = 0           # candidates in the current run, seen, not filled in
        self._nfill = 0           # ... and filled in
        self._eq = 0              # the signal's mean square when the last was queued
        self._run0 = 0            # where the current run starts in the queue
        self._gx = 0              # gyro counts summed over a decimation
        self._gy = 0
        self._gz = 0
        self._ua = 0              # gravity on the two axes across the forward one, <<4
        self._uk = 0
        self._ub = 0
        self._wb = 0              # the pitch rate's offset (the gyro's zero rate), <<4
        self._ux = 0              # the wrist's slow mean acceleration, g/1024 <<4
        self._uy = 0
        self._uz = 0
        self._spin = 0            # how far it turns from it, over _SPIN when positive
        # the history, its autocorrelation, the forward acceleration's, the step times
        # (no tuple of them: reset() allocates nothing)
        a = self._hist
        for i in range(len(a)):
            a[i] = 0
        a = self._ac
        for i in range(len(a)):
            a[i] = 0
        a = self._fh
        for i in range(len(a)):
            a[i] = 0
        a = self._tk
        for i in range(8):
            a[i] = 0

    @micropython.native
    def update_gyro(self, ax, ay, az, gx, gy, gz):
        self._gx += gx
        self._gy += gy
        self._gz += gz
        return self.update(ax, ay, az)

    @micropython.native
    def update(self, ax, ay, az):
        self._sx += ax
        self._sy += ay
        self._sz += az
        self._cnt += 1
        self.n = (self.n + 1) & _IDX_MASK
        if self._cnt == self._dec:
            self._tick()
        return self.pending

    @micropython.native
    def feed(self, buf, count, stride):
        i = 0
        if self._gmul and stride >= 6:
            for _ in range(count):
                self.update_gyro(buf[i], buf[i + 1], buf[i + 2], buf[i + 3], buf[i + 4], buf[i + 5])
                i += stride
            return self.pending
        # update()'s body, inline: a method call per sample would cost a third of the time
        sx = self._sx
        sy = self._sy
        sz = self._sz
        cnt = self._cnt
        dec = self._dec
        n = self.n
        for _ in range(count):
            sx += buf[i]
            sy += buf[i + 1]
            sz += buf[i + 2]
            i += stride
            n += 1
            cnt += 1
            if cnt == dec:
                self._sx = sx
                self._sy = sy
                self._sz = sz
                self._cnt = cnt
                n &= _IDX_MASK
                self.n = n
                self._tick()
                sx = 0
                sy = 0
                sz = 0
                cnt = 0
        self._sx = sx
        self._sy = sy
        self._sz = sz
        self._cnt = cnt
        self.n = n & _IDX_MASK
        return self.pending

    def flush(self):
        """The input ends here (a recording's end, the board going to sleep): a walk too
        short to have been confirmed yet is credited if its steps kept a rhythm."""
        if self._walking:
            self._end(True)
        elif self._pp or self._nreal or self._gmul:
            self._loose()
        return self.pending

    def _loose(self):
        # Activity that was not counted has ended (or the input has). Steps still queued
        # in a rhythm that faded as the walk stopped are a short walk. Failing that, with
        # a loose rhythm's period (a walk with a turn) the step filter runs over the
        # history, and four or more steps in it are a short walk.
        if self._counting:
            return
        if self._fade and self._nreal >= _RUN_END and self._eq >= _E_END:
            self._end()
        else:
            pp = self._pp
            sg = self._dsign
            if not pp and self._gmul:
                # none in |a|^2: a leg's swing may keep it (a short walk with a turn, a
                # turn that blurs its strides' direction too: not told). The lag, a
                # stride long, at which the leg's pitch rate over the last window repeats
                # over _C_LEG of its energy, best; its half is the period.
                self._dsign = 0
                h = self._fh
                mask = self._mask
                i = self._i - 1
                win = self._win
                e = 0
                for k in range(win):
                    x = h[(i - k) & mask]
                    e += x * x
                if e >= _LEG_E * win:
                    best = (e >> 10) * _C_LEG
                    for m in range(self._lmin * 2, self._top):
                        c = 0
                        for k in range(win):
                            c += h[(i - k) & mask] * h[(i - k - m) & mask]
                        if c > best:
                            best = c
                            pp = (m + 1) >> 1
            if not pp:
                self._dsign = sg
                return
            self._period = pp
            if self._nreal >= _RUN_END:
                # a run queued in a rhythm of its own (a stride taken for a step) is
                # dropped: its stretch, since the last step counted, is searched again
                self._last = self._done
            self._drop_queue()
            self._rescan()
            self._end()
            self._dsign = sg
        self._period = 0
        self._pp = 0
        self._drop_queue()

    def _end(self, cut=False):
        # A walk ends (it went quiet, or the input ends: cut): its queued steps are
        # credited if enough of them kept its rhythm. A short walk is over before eight
        # steps could confirm it; its signal has faded by now, unless the input is cut,
        # so its level is the one its last step came with. The next walk is confirmed
        # afresh (its history rescanned) and its direction is its own.
        if not self._counting and self._nreal >= _RUN_END and (
                self._ac[0] >= _E_END * self._win or self._fade and self._eq >= _E_END):
            self._credit(self._run0)
        if cut and self._counting:
            # The input ends mid-walk: the filter finds a step half a period or more
            # after its contact, so the last contacts (those of the last period or so)
            # are still under way. While the signal is as strong as the walk's, they
            # count, a period apart.
            p = self._period
            i = self._i - 1
            mask = self._mask
            h = self._hist
            e = 0
            for k in range(p):
                x = h[(i - k) & mask]
                e += x * x
            if (e // p) * 4 >= self._ac[0] // self._win:
                t = (self._last + p) & _IDX_MASK
                while ((i - t + (p >> 2)) & _IDX_MASK) < (1 << 29):
                    self._emit(t, self._bdir)
                    t = (t + p) & _IDX_MASK
        self._counting = 0
        self._bdir = DIR_UNKNOWN
        self._bsum = 0
        self._bk = 0

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

    def _emit(self, inner, d):
        # inner index -> input sample index, counted back from now; the filter's
        # crossing comes about a quarter period after the foot's contact
        back = (((self._i - 1 - inner) & _IDX_MASK) + (self._period >> 2)) * self._dec + self._cnt
        j = (self._ev_head + self.pending) % _EV_SIZE
        self._ev_idx[j] = (self.n - 1 - back) & _IDX_MASK
        self._ev_dir[j] = d
        self._done = inner
        if self.pending < _EV_SIZE:
            self.pending += 1
        else:
            self._ev_head = (self._ev_head + 1) % _EV_SIZE
        self.steps += 1
        if d == DIR_FORWARD:
            self.forward += 1
        elif d == DIR_BACKWARD:
            self.backward += 1
        else:
            self.unknown += 1

    @micropython.native
    def _tick(self):
        mul = self._mul
        sh = self._shift
        x = (self._sx * mul) >> sh
        y = (self._sy * mul) >> sh
        z = (self._sz * mul) >> sh
        self._sx = 0
        self._sy = 0
        self._sz = 0
        self._cnt = 0
        m = (x * x + y * y + z * z) >> 10
        b = self._base
        if b < 0:
            # the level starts at gravity's (1 g^2), not at the first sample's: a trace
            # may start mid-motion, even on a glitch of several g
            b = 1024 << 4
        d = m - (b >> 4)
        if d > _CLIP:
            d = _CLIP
        elif d < -_CLIP:
            d = -_CLIP
        # the level follows the clipped signal, so impacts beyond the clip leave the
        # deviation centred on zero
        self._base = b + ((d << 4) >> self._kb)
        if self._arm:
            self._turns(x, y, z, m, d)
        if self._gmul:
            self._thigh(x, y, z, self._i & self._mask)
        elif self._fax:
            self._forward(x if self._fax == 1 else (y if self._fax == 2 else z), self._i & self._mask)
        i = self._i
        mask = self._mask
        h = self._hist
        h[i & mask] = d
        # running autocorrelation over the last `win` samples: add the new, drop the old
        # (viper's pointers take the arrays as they are)
        _acorr(self._ac, h, i, self._win, mask, self._lmin, self._top, d)  # pyright: ignore[reportArgumentType]
        self._i = (i + 1) & _IDX_MASK
        if i & 3 == 0:
            self._rhythm()
        p = self._period
        if p:
            self._count(i, p)

    def _turns(self, x, y, z, m, d):
        # How far the wrist's acceleration (x, y, z: g/1024; m: |a|^2, g^2/1024) turns
        # from its slow mean u (g/64), _SPIN: cos^2 of the angle between them, weighted
        # by |a|^2 |u|^2, is q / n. An impact is taken at 8 g, its direction kept, so
        # every product here stays a small int.
        while m > 65536:
            x >>= 1
            y >>= 1
            z >>= 1
            m >>= 2
        k = self._kb
        ux = self._ux + (((x << 4) - self._ux) >> k)
        uy = self._uy + (((y << 4) - self._uy) >> k)
        uz = self._uz + (((z << 4) - self._uz) >> k)
        self._ux = ux
        self._uy = uy
        self._uz = uz
        # (only while the arm moves: a rest after a walk or a wave keeps what it was)
        if -_SPIN_ACT <= d <= _SPIN_ACT:
            return
        ux >>= 8
        uy >>= 8
        uz >>= 8
        q = (x * ux + y * uy + z * uz) >> 9
        n = (m >> 4) * ((ux * ux + uy * uy + uz * uz) >> 4)
        self._spin += ((n >> 6) * _SPIN - q * q - self._spin) >> (k + 1)

    @micropython.native
    def _forward(self, f, j):
        # the forward acceleration about its slow mean, kept for the orbit (_evidence)
        fb = self._fbase
        fb += ((f << 4) - fb) >> self._kb
        self._fbase = fb
        f = (f - (fb >> 4)) * self._fsign * 2
        if f > _CLIP:
            f = _CLIP
        elif f < -_CLIP:
            f = -_CLIP
        self._fh[j] = f

    def _thigh(self, x, y, z, j):
        # The thigh's pitch rate: the gyro about the axis across the forward one and
        # gravity (forward x up), so any roll of the sensor in the pocket is undone. The
        # axes a, b follow the forward one in cyclic order (forward x a = b).
        fax = self._fax
        # (two-name swaps only: a longer tuple assignment allocates)
        if fax == 1:
            va, vb = y, z
            ga, gb = self._gy, self._gz
        elif fax == 2:
            va, vb = z, x
            ga, gb = self._gz, self._gx
        else:
            va, vb = x, y
            ga, gb = self._gx, self._gy
        self._gx = 0
        self._gy = 0
        self._gz = 0
        ua = self._ua
        ub = self._ub
        # The limb's axis across the forward one is fixed in the sensor: gravity over
        # several strides (a mean of everything so far, at first) finds it. A tracker
        # that followed the swing within a stride would tilt the axis late, one way
        # walking forward and the other backward.
        k = self._uk
        if k < _AXIS_KB and self._i >= (1 << k) - 1:
            k += 1
            self._uk = k
        kg = k
        if kg > _AXIS_REST and not self._walking:
            kg = _AXIS_REST     # standing, the sensor reads gravity: follow a new posture
        ua += ((va << 4) - ua) >> kg
        ub += ((vb << 4) - ub) >> kg
        self._ua = ua
        self._ub = ub
        sh = self._shift
        gm = self._gmul
        w = ((ua >> 4) * ((gb * gm) >> sh) - (ub >> 4) * ((ga * gm) >> sh)) >> 10
        if self._fsign < 0:
            w = -w
        # the offset is the mean rate: over whole strides the thigh's angle comes back
        wb = self._wb + (((w << 4) - self._wb) >> k)
        self._wb = wb
        w -= wb >> 4
        if w > _GYRO_CLIP:
            w = _GYRO_CLIP
        elif w < -_GYRO_CLIP:
            w = -_GYRO_CLIP
        self._fh[j] = w

    @micropython.native
    def _rhythm(self):
        ac = self._ac
        e = ac[0]
        if e < (_EMIN_HOLD if self._walking else _EMIN) * self._win:
            if self._walking:
                self._end()
            elif self._pp or self._nreal or (self._gmul and self._corr):
                self._loose()
            self._corr = 0
            self._walking = 0
            return
        scale = (e >> 10) + 1
        if self._walking:
            # a walk keeps its cadence: follow the stride while it still repeats, unless
            # the period followed turns out to be a stride itself
            p0 = self._period
            s0 = p0 * 2
            if s0 + 1 < self._top:
                if ac[s0 + 1] > ac[s0]:
                    s0 += 1
                elif ac[s0 - 1] > ac[s0]:
                    s0 -= 1
                c = ac[s0] // scale
                if c >= _C_OFF:
                    if ac[p0] // scale >= _C_OFF and self._is_stride(p0, e, _SWITCH):
                        s0 = p0
                        c = ac[p0] // scale
                    self._corr = c
                    self._period = (s0 + 1) >> 1
                    self._sustain(e)
                    return
        # The first lag that repeats nearly as well as the best is the step period, or,
        # at the wrist or in a pocket, the stride: then twice it repeats poorly.
        lmin = self._lmin
        top = self._top
        best = 0
        for lag in range(lmin + 1, top):
            v = ac[lag]
            if v > best and v >= ac[lag - 1] and v >= ac[lag + 1]:
                best = v
        if best <= 0:
            self._corr = 0
            self._walking = 0
            return
        pick = 0
        for lag in range(lmin + 1, top):
            v = ac[lag]
            if v * 10 >= best * 6 and v >= ac[lag - 1] and v >= ac[lag + 1]:
                pick = lag
                break
        p0 = self._period if self._walking else 0
        if pick > self._lmax or (pick >> 1) < lmin:
            as_stride = pick > self._lmax
        elif p0 and (pick - p0) * 5 <= p0 and (p0 - pick) * 5 <= p0:
            as_stride = False
        elif p0 and ((pick >> 1) - p0) * 5 <= p0 and (p0 - (pick >> 1)) * 5 <= p0:
            as_stride = True
        else:
            as_stride = self._is_stride(pick, e, 0)
        if as_stride:
            stride = pick
        else:
            stride = pick * 2
            if ac[stride + 1] > ac[stride]:
                stride += 1
            if ac[stride - 1] > ac[stride]:
                stride -= 1
        c = ac[stride] // scale
        self._corr = c
        if not self._walking:
            # a loose rhythm (a short walk with a turn): its period, for when it ends
            self._pp = (stride + 1) >> 1 if c >= _C_LOOSE else 0
        if c >= _C_ON or (self._walking and c >= _C_OFF):
            self._period = (stride + 1) >> 1
            if not self._walking:
                self._walking = 1
                self._held = 0
                if not self._counting:
                    self._rescan()
        else:
            self._walking = 0

    def _is_stride(self, lag, e, margin=0):
        # Is this lag a step or a stride? A stride's half lag still repeats (the other
        # foot's step); a step's half lag is in anti-phase. Where the two readings are
        # close, the cadence decides (55 steps/min is rarer than 110), and so does
        # where the sensor is worn.
        ac = self._ac
        h = lag >> 1
        if h < self._lmin:
            return False
        hv = ac[h] if ac[h] > ac[h + 1] else ac[h + 1]
        if lag >= self._l95:
            t = -300
        elif lag >= self._l80:
            t = 0
        elif lag >= self._l65:
            t = 150
        else:
            t = 350
        pl = self.placement
        if lag >= self._l65 and (pl == P_WRIST or pl == P_HAND_SWINGING):
            t -= e // (self._win * _JOG_E)
        return hv > (e >> 10) * (t + margin - self._bias)

    def _sustain(self, e):
        # A rhythm held for _HOLD_S confirms a walk even when the step filter's
        # candidates are too uneven to (the wrist): the queued ones are credited. A
        # strong one (four times the energy that starts a walk) needs half as long.
        self._held += 4
        held = self._held if e < _EMIN * 4 * self._win else self._held * 2
        if not self._counting and held >= self._hold and self._ncand:
            self._credit(0)

    def _rescan(self):
        # A rhythm was just found: run the step filter, with its period, back over the
        # history it was found in, so the first steps of a walk are candidates too.
        p = self._period
        i = self._i - 1
        start = i - self._mask + 2 * p + 1
        done = (self._last + 1 - start) & _IDX_MASK
        if done < (1 << 29):
            start += done          # not before the last step already seen
        self._up = 1
        j = start
        while ((i - j) & _IDX_MASK) < (1 << 29):
            self._count(j & _IDX_MASK, p)
            j += 1

    def _sums(self, i, p, bw):
        # the step filter's box sums taken afresh (a new period, a replay of the history)
        h = self._hist
        mask = self._mask
        s1 = 0
        s2 = 0
        s3 = 0
        for k in range(bw):
            s1 += h[(i - k) & mask]
            s2 += h[(i - p - k) & mask]
        for k in range(2 * p):
            s3 += h[(i - k) & mask]
        self._sp = p
        self._s1 = s1
        self._s2 = s2
        self._s3 = s3

    @micropython.native
    def _count(self, i, p):
        # Step-rate filter: a box of half a period removes the harmonics; adding the
        # signal one period back cancels the stride component; taking out the stride's
        # mean keeps it centred while the gravity level still settles.
        bw = p >> 1
        if bw < 1:
            bw = 1
        p2 = p * 2
        # box sums over (i - bw, i], (i - p - bw, i - p] and (i - 2p, i]: carried from the
        # last sample, taken afresh from the history when the period or the place changes
        h = self._hist
        mask = self._mask
        if p == self._sp and i == ((self._sj + 1) & _IDX_MASK):
            x = h[i & mask]
            s1 = self._s1 + x - h[(i - bw) & mask]
            s2 = self._s2 + h[(i - p) & mask] - h[(i - p - bw) & mask]
            s3 = self._s3 + x - h[(i - p2) & mask]
            self._s1 = s1
            self._s2 = s2
            self._s3 = s3
        else:
            self._sums(i, p, bw)
            s1 = self._s1
            s2 = self._s2
            s3 = self._s3
        self._sj = i
        f = p2 * (s1 + s2) - 2 * bw * s3
        a = self._amp
        fa = f if f >= 0 else -f
        if fa > a:
            a = fa
        else:
            a -= (a >> 5) + 1
            if a < 0:
                a = 0
        self._amp = a
        th = (a >> 2) + (_FMIN_WALK if self._counting else _FMIN) * bw * p2
        if f > th:
            if not self._up:
                self._up = 1
                t = (i - ((bw + p) >> 1)) & _IDX_MASK
                gap = (t - self._last) & _IDX_MASK
                # (a longer period moves the filter's delay: a step already seen can
                # come again, earlier than the last one; it is not a new step)
                if self._lmin <= gap < (1 << 29):
                    self._last = t
                    k = (self._tkn + 1) & 7
                    self._tkn = k
                    self._tk[k] = t
                    self._step(t, gap, p, self._evidence(t, p))
        elif f < -th:
            self._up = 0

    def _evidence(self, t, p):
        # The orbit over the stride that ends with step t (a leg's swing over the last
        # three), of 1024 of its energy, forward positive; _NOEV where it cannot tell.
        # Whole steps, from step to step: both ends at the same phase of the gait, so no
        # part of a stride is cut off or counted twice.
        sg = self._dsign
        if not sg:
            return _NOEV
        # running at the trunk: its orbit is a backward walk's (spring and mass, not a
        # pendulum). A limb's swing tells in running as well.
        run = p * 8 <= self._prun and not self._gmul
        ns = _THIGH_STRIDES * 2 if self._gmul else 2
        n = (t - self._tk[(self._tkn - ns) & 7]) & _IDX_MASK
        if n * 2 > p * ns * 3 or n * 3 < p * ns * 2:
            if not self._gmul:
                return _NOEV     # a pause, or not in the walk's rhythm
            n = p * ns           # (a limb's skew hardly depends on where it starts)
        warm = 8                 # the filter's settling, before the stride
        mask = self._mask
        if n + warm > mask - ((self._i - 1 - t) & _IDX_MASK):
            return _NOEV
        fh = self._fh
        a = 0
        e = 0
        j = t - n
        if self._gmul:
            if self._swing:
                # the swing's sharpness: where the rate changes fast (the swing and its
                # braking), which way the limb turns. The rate about its mean over the
                # strides, summed over a box of about 120 ms (linear phase: reversal
                # keeps its symmetry); d is its change, sm its midpoint.
                m = 0
                for _ in range(n):
                    j += 1
                    m += fh[j & mask]
                m //= n
                bx = self._box
                j = t - n - bx
                sb = 0
                for _ in range(bx):
                    j += 1
                    sb += fh[j & mask] - m
                for _ in range(n):
                    j += 1
                    s1 = sb + fh[j & mask] - fh[(j - bx) & mask]
                    dd = s1 - sb
                    sm = s1 + sb
                    sb = s1
                    # (clipped: a stride's sums stay small ints)
                    dd = max(-1023, min(1023, dd))
                    sm = max(-4095, min(4095, sm))
                    c = (sm * ((dd * dd) >> 6)) >> 9
                    a += c
                    e += c if c >= 0 else -c
            else:
                for _ in range(n):
                    j += 1
                    w = fh[j & mask]
                    c = ((w * w) >> 4) * w >> 6     # < 2**20: strides of it stay small ints
                    a += c
                    e += c if c >= 0 else -c
        else:
            # two poles at about 5 Hz on both: an impact's ringing traces loops of its own
            h = self._hist
            c = self._lpc
            v1 = 0
            v2 = 0
            f1 = 0
            f2 = 0
            pv = 0
            pf = 0
            j -= warm
            for k in range(n + warm):
                j += 1
                v1 += ((h[j & mask] - v1) * c) >> 8
                v2 += ((v1 - v2) * c) >> 8
                f1 += ((fh[j & mask] - f1) * c) >> 8
                f2 += ((f1 - f2) * c) >> 8
                if k >= warm:
                    a += (pv * f2 - v2 * pf) >> 4
                    e += (v2 * v2 + f2 * f2) >> 5
                pv = v2
                pf = f2
        en = e // n
        e >>= 10
        if e <= 0:
            return _NOEV
        r = a // e
        if sg < 0:
            r = -r
        r = max(-1024, min(1024, r))
        if run:
            # a runner's orbit says backward: forward running; the other way round
            # (backward running?) is not told
            return -r if r < 0 else _NOEV
        if r < 0 and en >= self._erun:
            # a strong stride whose orbit says backward: running (its orbit is
            # a backward walk's), not told
            return _NOEV
        return r

    def _bout(self, r):
        # A walk's direction, held with hysteresis: backward walking is a deliberate,
        # sustained act, so a stride or two of contrary evidence (a turn, a stop) does
        # not switch it; the evidence of the last few steps (a running mean) must.
        if r == _NOEV:
            return DIR_UNKNOWN
        e = self.sense + r
        self.sense = e if -(1 << 28) < e < (1 << 28) else e >> 1
        b = self._bsum
        k = self._bk
        if k < 4:
            # the walk's first strides: their mean, until there are four
            b = (b * k + 4 * r) // (k + 1)
            self._bk = k + 1
        else:
            b += r - (b >> 2)
        self._bsum = b
        d = self._bdir
        if k < 1:
            return d
        m = self._dmargin
        if d != DIR_BACKWARD and b < -4 * (m if d == DIR_UNKNOWN else _SW_MARGIN):
            d = DIR_BACKWARD
        elif d != DIR_FORWARD and b > 4 * (m if d == DIR_UNKNOWN else _SW_MARGIN):
            d = DIR_FORWARD
        self._bdir = d
        return d

    def _step(self, t, gap, p, r):
        # Counted at once inside a confirmed walk; otherwise held until _RUN candidates
        # in a row keep the period while the signal has a rhythm, then all credited
        # with their own times. A step whose swing stayed under the threshold leaves a
        # gap of two or three periods: it is credited too, between its neighbours.
        m = (gap + (p >> 1)) // p
        if m <= 1:
            ok = gap * 10 >= p * 6 and gap * 10 <= p * 15
            m = 1
        else:
            ok = m <= 3 and gap * 10 <= (m * 10 + 3) * p
        if self._counting:
            # inside a walk, a step that keeps the period counts even while the rhythm
            # tracker blinks (a softer step, a moment of uneven signal)
            if (self._walking or (ok and m == 1)) and gap * 10 >= p * 5:
                d = self._bout(r)
                if ok:
                    for k in range(1, m):
                        self._emit((t - gap + gap * k // m) & _IDX_MASK, d)
                self._emit(t, d)
                return
            self._end()
            self._drop_queue()
        if self._walking and self._ncand and gap * 10 < p * 6:
            # an extra crossing inside a rhythm (a heel's double bump): not a step
            return
        if not ok or (m > 1 and self._nfill * 4 >= self._nreal):
            # a rhythm is not yet confirmed: gaps must keep it, few steps filled in. A
            # new run starts here; while the signal has a rhythm the earlier candidates
            # stay queued, for a rhythm held long enough to credit (_sustain).
            if not self._walking:
                self._ncand = 0
            self._run0 = self._ncand
            self._nreal = 0
            self._nfill = 0
        elif self._nreal:
            for k in range(1, m):
                self._queue((t - gap + gap * k // m) & _IDX_MASK, _NOEV)
                self._nfill += 1
        self._queue(t, r)
        self._nreal += 1
        self._eq = self._ac[0] // self._win
        if self._nreal >= _RUN and self._walking:
            self._credit(self._run0)

    def _credit(self, first):
        # a walk is confirmed: credit the queued candidates from `first` on, all with
        # the direction their strides tell together (a walk's first strides, from
        # standing, are no stride's yet). The thigh's is read again now, over the
        # walk's latest strides.
        if self._spin > 0:
            # an arm's gesture (a wave) at the wrist, not a walk: its rhythm is dropped
            self._drop_queue()
            return
        c = self._cand
        ce = self._cev
        if self._gmul:
            # (three strides: enough to start with)
            r = self._evidence(self._last, self._period)
            if r != _NOEV:
                # (taken as the walk's first four strides)
                self._bk = 3
                self._bsum = 4 * r
                self._bout(r)
        else:
            for j in range(first, self._ncand):
                self._bout(ce[j])
        d = self._bdir
        for j in range(first, self._ncand):
            self._emit(c[j], d)
        self._drop_queue()
        self._counting = 1

    def _drop_queue(self):
        self._ncand = 0
        self._nreal = 0
        self._nfill = 0
        self._run0 = 0

    def _queue(self, t, r):
        c = self._cand
        cd = self._cev
        k = self._ncand
        if k == _CAND:
            for j in range(k - 1):
                c[j] = c[j + 1]
                cd[j] = cd[j + 1]
            k -= 1
            if self._run0:
                self._run0 -= 1
        c[k] = t
        cd[k] = r
        self._ncand = k + 1
