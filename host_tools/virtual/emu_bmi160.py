"""Emulated BMI160 at register level.

Modelled: CHIP_ID 0xD1; live DATA registers (gyro 0x0C, accel 0x12) and STATUS
data-ready flags; the CMD register (soft reset, accelerometer and gyro power
modes, FIFO flush); ACC_CONF rate (100 Hz * 2^(odr-8)), ACC_RANGE and GYR_RANGE;
FIFO_CONFIG_1 (headerless frames: gyro x, y, z then accel x, y, z, little-endian);
FIFO_CONFIG_0 watermark (4-byte units); FIFO_LENGTH; the 1024-byte FIFO, which drops
its oldest frame when full and reads as 0x8000 past its end; INT_STATUS_1 watermark and
full flags; the watermark interrupt on INT1 when enabled, mapped and its output on.
"""
import struct

from emu_chip import EmuChip, counts

_RANGE_LSB = {0x03: 16384, 0x05: 8192, 0x08: 4096, 0x0C: 2048}


class EmuBMI160(EmuChip):
    name = "BMI160"

    def __init__(self, addr, source, chip_id=0xD1):
        self.cid = chip_id
        EmuChip.__init__(self, addr, source, 1024)

    def reset(self):
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        r[0x00] = self.cid
        r[0x40] = 0x28             # 100 Hz, normal filter
        r[0x41] = 0x03             # +-2 g
        r[0x47] = 0x10             # header mode, no sensor: nothing collected
        self.acc_on = False
        self.gyr_on = False
        self.drdy = 0
        self.fifo_clear()

    def period_us(self):
        if not self.acc_on:
            return 0
        odr = self.regs[0x40] & 0x0F
        if odr < 1:
            return 0
        return int(1000000 / (100.0 * 2 ** (odr - 8)) + 0.5)

    def collecting(self):
        return bool(self.regs[0x47] & 0xC0)

    def frame_bytes(self):
        r = self.regs[0x47]
        return (6 if r & 0x80 else 0) + (6 if r & 0x40 else 0)

    def on_sample(self, v):
        r = self.regs
        lsb = _RANGE_LSB.get(r[0x41], 16384)
        glsb = 16.4 * (1 << (r[0x43] & 7))
        g = (counts(v[3], glsb), counts(v[4], glsb), counts(v[5], glsb)) if self.gyr_on else (0, 0, 0)
        a = (counts(v[0], lsb), counts(v[1], lsb), counts(v[2], lsb))
        # live DATA registers (gyro 0x0C, accel 0x12) and STATUS data-ready flags
        struct.pack_into("<hhhhhh", r, 0x0C, g[0], g[1], g[2], a[0], a[1], a[2])
        self.drdy = 0x80 | (0x40 if self.gyr_on else 0)
        if not self.collecting():
            return
        n = 0
        if r[0x47] & 0x80:
            struct.pack_into("<hhh", self._fb, 0, g[0], g[1], g[2])
            n = 6
        if r[0x47] & 0x40:
            struct.pack_into("<hhh", self._fb, n, a[0], a[1], a[2])
            n += 6
        self.push(n)

    def is_fifo_reg(self, reg):
        return reg == 0x24

    def fifo_filler(self, i):
        return 0x80 if i & 1 == 0 else 0x00

    def _wm(self):
        return self.regs[0x46] * 4

    def read_reg(self, reg):
        if reg == 0x22:
            return self.flen & 0xFF
        if reg == 0x23:
            return (self.flen >> 8) & 0x07
        if reg == 0x1D:
            st = 0
            if self._wm() and self.flen >= self._wm():
                st |= 0x40
            if self.flen > self.fifo_bytes - max(1, self.frame_bytes()):
                st |= 0x20
            return st
        if reg == 0x03:
            return (0x10 if self.acc_on else 0) | (0x04 if self.gyr_on else 0)
        if reg == 0x1B:
            return self.drdy
        if reg == 0x17:
            self.drdy = 0          # read to the end of the data: not ready until the next
        return self.regs[reg]

    def write_reg(self, reg, val):
        if reg in (0x00, 0x03, 0x1B, 0x1D, 0x22, 0x23, 0x24) or 0x0C <= reg <= 0x17:
            return
        if reg == 0x7E:
            if val == 0xB6:
                self.reset()
            elif val == 0x11:
                self.acc_on = True
            elif val == 0x10:
                self.acc_on = False
            elif val == 0x15:
                self.gyr_on = True
            elif val == 0x14:
                self.gyr_on = False
            elif val == 0xB0:
                self.fifo_clear()
            return
        if reg == 0x47 and val != self.regs[0x47]:
            self.fifo_clear()          # a new frame layout starts an empty FIFO
        self.regs[reg] = val

    def _int_on(self):
        r = self.regs
        return bool(r[0x51] & 0x40) and bool(r[0x56] & 0x40) and bool(r[0x53] & 0x08)

    def int_level(self):
        wm = self._wm()
        level = self._int_on() and wm > 0 and self.flen >= wm
        if self.regs[0x53] & 0x02:
            return level
        return not level

    def int_due_us(self, now_us):
        if not self._int_on() or not self.collecting() or not self._wm():
            return None
        t = self.due_after(self.flen, self._wm(), self.frame_bytes())
        return t if t is None or t > 0 else now_us
