"""Emulated MPU6050 family chip (MPU6050, MPU6500, MPU6886 and clones) at register level.

Modelled: WHO_AM_I; PWR_MGMT_1 reset and sleep; SMPLRT_DIV and DLPF_CFG setting the
rate (1 or 8 kHz / (1 + div)); accelerometer and gyro full scale; FIFO_EN, USER_CTRL
FIFO enable and reset; the FIFO in its real byte layout (big-endian accel x, y, z, then
temperature if enabled, always on the MPU6886, then gyro x, y, z) with its size
(1024 bytes, 512 on MPU6500-type chips); FIFO_COUNT; INT_STATUS with FIFO overflow and
data-ready flags, cleared on read; the live data registers ACCEL_XOUT..GYRO_ZOUT.
"""
import struct

from emu_chip import EmuChip, counts

_FIFO_SIZE = {0x68: 1024, 0x19: 1024}
_GYRO_LSB = (131.0, 65.5, 32.8, 16.4)     # counts per dps, +-250 .. +-2000 dps
_TEMP = -3920          # a fixed room-temperature reading (about 25 degC on an MPU6050)


class EmuMPU6050(EmuChip):
    def __init__(self, addr, source, who_am_i=0x68):
        self.who = who_am_i
        self.name = {0x68: "MPU6050", 0x19: "MPU6886"}.get(who_am_i, "MPU6500-type 0x%02x" % who_am_i)
        self.is_6886 = who_am_i == 0x19
        EmuChip.__init__(self, addr, source, _FIFO_SIZE.get(who_am_i, 512))

    def reset(self):
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        r[0x6B] = 0x40            # asleep after reset
        r[0x75] = self.who
        self.fifo_clear()
        self._status = 0
        self.overflowed = False

    def period_us(self):
        r = self.regs
        if r[0x6B] & 0x40:
            return 0
        base = 8000 if (r[0x1A] & 7) in (0, 7) else 1000
        return 1000000 * (1 + r[0x19]) // base

    def collecting(self):
        return bool(self.regs[0x6A] & 0x40) and bool(self.regs[0x23] & 0xF8)

    def pack(self, v):
        r = self.regs
        lsb = 16384 >> ((r[0x1C] >> 3) & 3)
        glsb = _GYRO_LSB[(r[0x1B] >> 3) & 3]
        ax = counts(v[0], lsb)
        ay = counts(v[1], lsb)
        az = counts(v[2], lsb)
        gx = counts(v[3], glsb)
        gy = counts(v[4], glsb)
        gz = counts(v[5], glsb)
        struct.pack_into(">hhhhhhh", r, 0x3B, ax, ay, az, int(_TEMP), gx, gy, gz)
        self._status |= 0x01
        en = r[0x23]
        fb = self._fb
        n = 0
        if en & 0x08:
            struct.pack_into(">hhh", fb, 0, ax, ay, az)
            n = 6
        gyro_bits = (en & 0x10) if self.is_6886 else (en & 0x70)
        if en & 0x80 or (self.is_6886 and (en & 0x18)):
            struct.pack_into(">h", fb, n, int(_TEMP))
            n += 2
        if gyro_bits:
            if self.is_6886 or en & 0x40:
                struct.pack_into(">h", fb, n, gx)
                n += 2
            if self.is_6886 or en & 0x20:
                struct.pack_into(">h", fb, n, gy)
                n += 2
            if self.is_6886 or en & 0x10:
                struct.pack_into(">h", fb, n, gz)
                n += 2
        return n

    def on_sample(self, vals):
        n = self.pack(vals)
        if self.collecting() and n:
            self.push(n)

    def on_overflow(self):
        self._status |= 0x10

    @property
    def overflow_policy(self):
        # MPU6500-type chips can keep their oldest data instead (CONFIG.FIFO_MODE)
        return "newest" if (self.who != 0x68 and self.regs[0x1A] & 0x40) else "oldest"

    def is_fifo_reg(self, reg):
        return reg == 0x74

    def fifo_filler(self, i):
        return 0xFF

    def read_reg(self, reg):
        if reg == 0x3A:
            s = self._status
            self._status = 0
            return s
        if reg == 0x72:
            return (self.flen >> 8) & 0x1F
        if reg == 0x73:
            return self.flen & 0xFF
        return self.regs[reg]

    def write_reg(self, reg, val):
        if reg == 0x75 or reg == 0x3A or 0x3B <= reg <= 0x48 or reg in (0x72, 0x73):
            return                       # read-only
        if reg == 0x6B and val & 0x80:
            self.reset()
            return
        if reg == 0x6A:
            if val & 0x04:
                self.fifo_clear()
            val &= ~0x04 & 0xFF          # reset bits clear themselves
        if reg == 0x74:
            return
        self.regs[reg] = val
