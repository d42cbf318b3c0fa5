"""Emulated LSM6DS3 / LSM6DS3TR-C (plain word FIFO) and LSM6DSO / LSM6DSOX (tagged FIFO).

Modelled: WHO_AM_I (0x69, 0x6A, 0x6C); CTRL3_C software reset; live output registers (gyro 0x22, accel
0x28) with STATUS_REG data-ready flags; CTRL1_XL rate and full
scale, CTRL2_G; the FIFO modes bypass (which empties it), FIFO (stops when full) and
continuous (drops its oldest data when full, flagging the overrun); the threshold
(watermark) and its INT1 routing; FIFO_STATUS1/2 with the level in words, threshold,
overrun, full and empty flags. LSM6DS3: 16-bit little-endian words read through
FIFO_DATA_OUT (0x3E/0x3F, the address rolls back), gyro x, y, z before accel x, y, z;
4096 words (2048 on the TR-C/DSL). LSM6DSO: 7-byte words from 0x78 (tag, then x, y, z
little-endian), a gyro word then an accel word per sample, 512 words.
"""
import struct

from emu_chip import EmuChip, counts

_ODR = (0, 12.5, 26, 52, 104, 208, 416, 833, 1660, 3330, 6660)
_MG = {0: 0.061, 2: 0.122, 3: 0.244, 1: 0.488}      # FS_XL code -> mg per LSB
_MDPS = {0: 8.75, 1: 17.5, 2: 35.0, 3: 70.0}        # FS_G code -> mdps per LSB


class _LSM(EmuChip):
    def reset(self):
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        r[0x0F] = self.who
        r[0x12] = 0x04                 # IF_INC on by default
        self.fifo_clear()
        self.ovr = False
        self.drdy = 0

    def period_us(self):
        code = self.regs[0x10] >> 4
        if code == 0 or code >= len(_ODR):
            return 0
        return int(1000000 / _ODR[code] + 0.5)

    def _conv(self, v):
        r = self.regs
        lsb = 1000.0 / _MG[(r[0x10] >> 2) & 3]
        glsb = 1000.0 / _MDPS[(r[0x11] >> 2) & 3]
        return (counts(v[0], lsb), counts(v[1], lsb), counts(v[2], lsb),
                counts(v[3], glsb), counts(v[4], glsb), counts(v[5], glsb))

    def on_overflow(self):
        self.ovr = True

    def on_sample(self, vals):
        # the live output registers and STATUS_REG data-ready flags, FIFO or not
        c = self._conv(vals)
        struct.pack_into("<hhhhhh", self.regs, 0x22, c[3], c[4], c[5], c[0], c[1], c[2])
        self.drdy = 0x03 if self.regs[0x11] >> 4 else 0x01
        if self.collecting():
            self.push(self.pack(vals, c))

    def write_reg(self, reg, val):
        if reg == 0x0F or reg == 0x1E or 0x22 <= reg <= 0x2D or 0x3A <= reg <= 0x3F or reg >= 0x78:
            return
        if reg == 0x12 and val & 0x01:
            self.reset()
            return
        self.regs[reg] = val
        if reg == self._MODE_REG and (self.mode() == 0):
            self.fifo_clear()          # bypass empties the FIFO and ends an overrun
            self.ovr = False

    def live(self, reg):
        if reg == 0x1E:                # STATUS_REG: cleared once the data is read
            return self.drdy
        if reg == 0x2D:
            self.drdy = 0
        return self.regs[reg]

    def int_level(self):
        wm = self.wm_words()
        return bool(self.regs[0x0D] & 0x08) and wm > 0 and self.words() >= wm

    def int_due_us(self, now_us):
        if not (self.regs[0x0D] & 0x08) or not self.collecting():
            return None
        wm = self.wm_words()
        if wm <= 0:
            return None
        t = self.due_after(self.words(), wm, self.words_per_sample())
        return t if t is None or t > 0 else now_us

    @property
    def overflow_policy(self):
        return "newest" if self.mode() == 1 else "oldest"


class EmuLSM6DS3(_LSM):
    """WHO_AM_I 0x69 (LSM6DS3, 8 KB FIFO) or 0x6A (LSM6DS3TR-C / LSM6DSL, 4 KB)."""
    _MODE_REG = 0x0A

    def __init__(self, addr, source, who_am_i=0x69):
        self.who = who_am_i
        self.name = "LSM6DS3" if who_am_i == 0x69 else "LSM6DS3TR-C"
        EmuChip.__init__(self, addr, source, 8192 if who_am_i == 0x69 else 4096)

    def mode(self):
        return self.regs[0x0A] & 7

    def collecting(self):
        r = self.regs
        return self.mode() in (1, 6) and (r[0x0A] >> 3) & 0xF != 0 and bool(r[0x08] & 0x3F)

    def words_per_sample(self):
        r = self.regs
        return (3 if r[0x08] & 0x07 else 0) + (3 if r[0x08] & 0x38 else 0)

    def words(self):
        return self.flen // 2

    def wm_words(self):
        return self.regs[0x06] | ((self.regs[0x07] & 0x0F) << 8)

    def pack(self, v, c=None):
        c = c or self._conv(v)
        r = self.regs
        n = 0
        if r[0x08] & 0x38:
            struct.pack_into("<hhh", self._fb, n, c[3], c[4], c[5])
            n += 6
        if r[0x08] & 0x07:
            struct.pack_into("<hhh", self._fb, n, c[0], c[1], c[2])
            n += 6
        return n

    def is_fifo_reg(self, reg):
        return reg == 0x3E

    def read_reg(self, reg):
        if reg == 0x3A:
            return self.words() & 0xFF
        if reg == 0x3B:
            w = self.words()
            wm = self.wm_words()
            st = (w >> 8) & 0x0F
            if wm and w >= wm:
                st |= 0x80
            if self.ovr:
                st |= 0x40
            if self.flen >= self.fifo_bytes - 12:
                st |= 0x20
            if w == 0:
                st |= 0x10
            return st
        return self.live(reg)


class EmuLSM6DSO(_LSM):
    """WHO_AM_I 0x6C: LSM6DSO / LSM6DSOX, tagged 7-byte FIFO words."""
    _MODE_REG = 0x0A
    name = "LSM6DSO"

    def __init__(self, addr, source, who_am_i=0x6C):
        self.who = who_am_i
        self._cnt = 0
        EmuChip.__init__(self, addr, source, 512 * 7)

    def mode(self):
        return self.regs[0x0A] & 7

    def collecting(self):
        return self.mode() in (1, 6) and bool(self.regs[0x09])

    def words_per_sample(self):
        r = self.regs
        return (1 if r[0x09] & 0x0F else 0) + (1 if r[0x09] & 0xF0 else 0)

    def words(self):
        return self.flen // 7

    def wm_words(self):
        return self.regs[0x07] | ((self.regs[0x08] & 1) << 8)

    def _tag(self, sensor):
        t = (sensor << 3) | (self._cnt << 1)
        p = 0
        x = t
        while x:
            p ^= x & 1
            x >>= 1
        return t | p

    def pack(self, v, c=None):
        # one word per sensor; the base class pushes the frame in one go
        c = c or self._conv(v)
        r = self.regs
        n = 0
        fb = self._fb
        if r[0x09] & 0xF0:
            struct.pack_into("<Bhhh", fb, n, self._tag(1), c[3], c[4], c[5])
            n += 7
        if r[0x09] & 0x0F:
            struct.pack_into("<Bhhh", fb, n, self._tag(2), c[0], c[1], c[2])
            n += 7
        self._cnt = (self._cnt + 1) & 3
        return n

    def is_fifo_reg(self, reg):
        return reg == 0x78

    def read_reg(self, reg):
        if reg == 0x3A:
            return self.words() & 0xFF
        if reg == 0x3B:
            w = self.words()
            wm = self.wm_words()
            st = (w >> 8) & 0x03
            if wm and w >= wm:
                st |= 0x80
            if self.ovr:
                st |= 0x48
            if self.flen >= self.fifo_bytes - 14:
                st |= 0x20
            return st
        return self.live(reg)
