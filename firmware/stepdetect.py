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

# The (vertical, forward) orbit of a stride, per placement: the sign of a forward
# stride's area (0: no model there, direction stays unknown); the area (of 1024 of the
# stride's energy) that parts forward from backward; the margin around it left unknown.
# The orbit's sense flips under time reversal; backward steps are shorter and softer,
# so the boundary is not always at zero. Set from the gait simulator (host_tools/sim).
# A sensor in a front pocket jostles too much for the orbit to tell (simulated: a tenth
# of backward steps called forward at any usable margin): there the gyroscope tells,
# through the thigh (below); without one, as at the hand, arm, neck, bag, back pocket
# and foot, direction is unknown.
_DIR_SIGN = (-1, -1, 0, 0, 0, 0, 0, -1, -1, 0, 0, 1, 0)
_DIR_CENTER = (-174, 0, 0, 0, 0, 0, 0, -174, -174, 0, 0, 0, 0)
_DIR_MARGIN = (50, 50, 0, 0, 0, 0, 0, 50, 50, 0, 0, 50, 0)

# The thigh (front pocket, with a gyroscope): walking forward it swings forward fast
# (flexion in swing, a third of the stride) and back slowly (stance); walking backward
# the other way round. The skew of its pitch rate, sum(w^3) / sum(|w|^3) over three
# strides, flips under time reversal and is hardly touched by the phone's jostle,
# which is brief or slow. Sign, centre and margin (of 1024), set from the simulator.
_THIGH_SIGN = const(1)
_THIGH_CENTER = const(-100)
_THIGH_MARGIN = const(50)
_THIGH_STRIDES = const(3)
_GYRO_CLIP = const(1023)    # pitch rate clip, half degrees/s (512 deg/s)
_GYRO_KB = const(5)         # gyro offset tracker: 32 inner samples, 1.1-2.3 s


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
    vertical and forward accelerations over each stride; in a front pocket with a
    gyro, the skew of the thigh's pitch rate over the last strides; walking only.
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
        self._hist = array("i", bytes(4 * size))      # recent |a|^2 deviations
        self._cs = array("i", bytes(4 * size))        # ... and their running sum (30 bits)
        self._ac = array("i", bytes(4 * (self._top + 1)))
        self._min_gap = self._lmin
        self._l95 = int(ri * 0.95)                    # lag bounds of the cadence prior
        self._l80 = int(ri * 0.8)
        self._l65 = int(ri * 0.65)
        # eight times the step period (inner samples) at 135 steps/min: a shorter one is
        # running, whose direction is not told (see _direction)
        self._prun = int(ri * 8 * 60 / 135)
        self._hold = int(ri * _HOLD_S)
        self._fax = forward_axis if forward_axis > 0 else -forward_axis
        self._fsign = 1 if forward_axis > 0 else -1
        self._bias = _STRIDE_BIAS[placement]
        self._dsign = _DIR_SIGN[placement] if forward_axis else 0
        self._dmargin = _DIR_MARGIN[placement]
        self._dcenter = _DIR_CENTER[placement]
        # the thigh's pitch rate: gyro counts summed over a decimation -> half deg/s
        self._gmul = 0
        if forward_axis and lsb_per_dps and placement == P_FRONT_POCKET:
            self._gmul = int(2 * 4096 / lsb_per_dps + 0.5)
            self._dsign = _THIGH_SIGN
            self._dmargin = _THIGH_MARGIN
            self._dcenter = _THIGH_CENTER
        # per inner sample orbit area and energy, so each step's stride can be summed
        # when it is credited, however late
        osize = size if forward_axis else 1
        self._oa = array("i", bytes(4 * osize))
        self._oe = array("i", bytes(4 * osize))
        self._ev_idx = array("i", bytes(4 * _EV_SIZE))
        self._ev_dir = bytearray(_EV_SIZE)
        self._cand = array("i", bytes(4 * _CAND))
        self._cdir = bytearray(_CAND)
        self.reset()

    def reset(self):
        self.n = 0
        self.steps = 0
        self.forward = 0
        self.backward = 0
        self.unknown = 0
        self.pending = 0
        self._ev_head = 0
        self._sx = 0
        self._sy = 0
        self._sz = 0
        self._cnt = 0
        self._i = 0               # inner (decimated) sample index
        self._base = -1           # gravity level of |a|^2, fixed point <<4; -1: not started
        self._fbase = 0           # gravity on the forward axis, fixed point <<4
        h = self._hist
        for i in range(len(h)):
            h[i] = 0
            self._cs[i] = 0
        self._csum = 0
        a = self._ac
        for i in range(len(a)):
            a[i] = 0
        self._period = 0          # step period in inner samples, 0 until a rhythm is seen
        self._corr = 0            # stride autocorrelation, of 1024
        self._walking = 0         # the signal has a rhythm
        self._held = 0            # inner samples it has been followed for
        self._counting = 0        # steps are being credited
        self._amp = 0             # running amplitude of the counting filter
        self._up = 0              # the counting filter is above its threshold
        self._last = 0            # inner index of the last candidate
        self._ncand = 0           # candidates queued (self._cand, self._cdir)
        self._nreal = 0           # candidates in the current run, seen, not filled in
        self._nfill = 0           # ... and filled in
        self._run0 = 0            # where the current run starts in the queue
        self._pv = 0              # previous vertical and forward samples, for the area
        self._pf = 0
        self._gx = 0              # gyro counts summed over a decimation
        self._gy = 0
        self._gz = 0
        self._ua = 0              # gravity on the two axes across the forward one, <<4
        self._ub = 0
        self._wb = 0              # the pitch rate's offset (the gyro's zero rate), <<4
        self._w1 = 0              # the pitch rate, smoothed once and twice
        self._wl = 0
        o = self._oa
        for i in range(len(o)):
            o[i] = 0
            self._oe[i] = 0

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
            b = m << 4
        d = m - (b >> 4)
        if d > _CLIP:
            d = _CLIP
        elif d < -_CLIP:
            d = -_CLIP
        # the level follows the clipped signal, so impacts beyond the clip leave the
        # deviation centred on zero
        self._base = b + ((d << 4) >> self._kb)
        if self._gmul:
            self._thigh(x, y, z, self._i & self._mask)
        elif self._fax:
            self._orbit(d, x if self._fax == 1 else (y if self._fax == 2 else z), self._i & self._mask)
        i = self._i
        mask = self._mask
        h = self._hist
        h[i & mask] = d
        cs = (self._csum + d) & _IDX_MASK
        self._csum = cs
        self._cs[i & mask] = cs
        # running autocorrelation over the last `win` samples: add the new, drop the old
        win = self._win
        ac = self._ac
        old = h[(i - win) & mask]
        ac[0] += d * d - old * old
        j = i - self._lmin
        k = j - win
        for lag in range(self._lmin, self._top + 1):
            ac[lag] += d * h[j & mask] - old * h[k & mask]
            j -= 1
            k -= 1
        self._i = (i + 1) & _IDX_MASK
        if i & 3 == 0:
            self._rhythm()
        p = self._period
        if p:
            self._count(i, p)

    @micropython.native
    def _orbit(self, v, f, j):
        # area swept by (vertical, forward) between samples: time reversal negates it
        fb = self._fbase
        fb += ((f << 4) - fb) >> self._kb
        self._fbase = fb
        f = (f - (fb >> 4)) * self._fsign * 2
        if f > _CLIP:
            f = _CLIP
        elif f < -_CLIP:
            f = -_CLIP
        self._oa[j] = (self._pv * f - v * self._pf) >> 4
        self._oe[j] = (v * v + f * f) >> 5
        self._pv = v
        self._pf = f

    @micropython.native
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
        if self._i == 0:
            ua = va << 4
            ub = vb << 4
        ua += ((va << 4) - ua) >> self._kb
        ub += ((vb << 4) - ub) >> self._kb
        self._ua = ua
        self._ub = ub
        sh = self._shift
        gm = self._gmul
        w = ((ua >> 4) * ((gb * gm) >> sh) - (ub >> 4) * ((ga * gm) >> sh)) >> 10
        if self._fsign < 0:
            w = -w
        # the offset is the mean rate: over whole strides the thigh's angle comes back
        wb = self._wb + (((w << 4) - self._wb) >> _GYRO_KB)
        self._wb = wb
        w -= wb >> 4
        if w > _GYRO_CLIP:
            w = _GYRO_CLIP
        elif w < -_GYRO_CLIP:
            w = -_GYRO_CLIP
        # two poles at about 2.5 Hz: the stride's first harmonics stay, the phone's
        # rocking in the pocket after each contact (4-5 Hz) goes
        w1 = self._w1 + ((w - self._w1) >> 1)
        self._w1 = w1
        wl = self._wl + ((w1 - self._wl) >> 1)
        self._wl = wl
        c = ((wl * wl) >> 4) * wl >> 4     # < 2**22: strides of it stay small ints
        self._oa[j] = c
        self._oe[j] = c if c >= 0 else -c

    @micropython.native
    def _rhythm(self):
        ac = self._ac
        e = ac[0]
        if e < (_EMIN_HOLD if self._walking else _EMIN) * self._win:
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

    @micropython.native
    def _span(self, a, b):
        # sum of the deviations over inner samples (b, a], from the running-sum ring
        v = (self._cs[a & self._mask] - self._cs[b & self._mask]) & _IDX_MASK
        return v - (1 << 30) if v >= (1 << 29) else v

    @micropython.native
    def _count(self, i, p):
        # Step-rate filter: a box of half a period removes the harmonics; adding the
        # signal one period back cancels the stride component; taking out the stride's
        # mean keeps it centred while the gravity level still settles.
        bw = p >> 1
        if bw < 1:
            bw = 1
        p2 = p * 2
        f = p2 * (self._span(i, i - bw) + self._span(i - p, i - p - bw)) - 2 * bw * self._span(i, i - p2)
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
                if self._min_gap <= gap < (1 << 29):
                    self._last = t
                    self._step(t, gap, p, self._direction(t, p))
        elif f < -th:
            self._up = 0

    def _direction(self, t, p):
        # the orbit over the stride that ends with step t: its sense, when clear
        sg = self._dsign
        if not sg or p * 8 <= self._prun:
            # no model here, or running: its trunk orbit and thigh swing differ from a
            # walk's (simulated forward running read as backward at the waist and in a
            # pocket), and backward running is rare: unknown, not a guess
            return DIR_UNKNOWN
        mask = self._mask
        n = 2 * p
        if self._gmul:
            # the thigh: the strides up to now, even for a step credited late (the first
            # steps of a walk, found again once its rhythm is: from standing, the first
            # swing is no stride's)
            n *= _THIGH_STRIDES
            t = (self._i - 1) & _IDX_MASK
        room = mask - ((self._i - 1 - t) & _IDX_MASK)
        if n > room:
            n = room
        oa = self._oa
        oe = self._oe
        a = 0
        e = 0
        for k in range(n):
            j = (t - k) & mask
            a += oa[j]
            e += oe[j]
        e >>= 10
        if e <= 0:
            return DIR_UNKNOWN
        a -= self._dcenter * e
        if sg < 0:
            a = -a
        m = self._dmargin * e
        if a > m:
            return DIR_FORWARD
        if a < -m:
            return DIR_BACKWARD
        return DIR_UNKNOWN

    def _step(self, t, gap, p, d):
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
                if ok:
                    for k in range(1, m):
                        self._emit((t - gap + gap * k // m) & _IDX_MASK, d)
                self._emit(t, d)
                return
            self._counting = 0
            self._ncand = 0
            self._nreal = 0
            self._nfill = 0
            self._run0 = 0
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
                self._queue((t - gap + gap * k // m) & _IDX_MASK, d)
                self._nfill += 1
        self._queue(t, d)
        self._nreal += 1
        if self._nreal >= _RUN and self._walking:
            self._credit(self._run0)

    def _credit(self, first):
        # a walk is confirmed: credit the queued candidates from `first` on. The thigh's
        # direction is read again now, over the walk's latest strides: as a walk starts
        # (or ends) the swing is no stride's yet
        c = self._cand
        cd = self._cdir
        d = self._direction(self._last, self._period) if self._gmul else 0
        for j in range(first, self._ncand):
            self._emit(c[j], d if self._gmul else cd[j])
        self._ncand = 0
        self._nreal = 0
        self._nfill = 0
        self._run0 = 0
        self._counting = 1

    def _queue(self, t, d):
        c = self._cand
        cd = self._cdir
        k = self._ncand
        if k == _CAND:
            for j in range(k - 1):
                c[j] = c[j + 1]
                cd[j] = cd[j + 1]
            k -= 1
            if self._run0:
                self._run0 -= 1
        c[k] = t
        cd[k] = d
        self._ncand = k + 1
