"""BMI160 driver: headerless FIFO reads, watermark interrupt on INT1.

Interface: see imu_base. CHIP_ID (0x00) must read 0xD1. Rates 12.5 to 200 Hz
(25 Hz at least with the gyro, whose slowest rate that is). Headerless frames are the
gyro's x, y, z then the accelerometer's, little-endian. The FIFO holds 1024 bytes and
keeps its newest data when full, so a full FIFO means samples were lost.
"""
from micropython import const

from imu_base import IMUError, Registers, le16_into, nearest

_CHIP_ID = const(0x00)
_FIFO_LENGTH_0 = const(0x22)
_FIFO_DATA = const(0x24)
_ACC_CONF = const(0x40)
_ACC_RANGE = const(0x41)
_GYR_CONF = const(0x42)
_GYR_RANGE = const(0x43)
_FIFO_CONFIG_0 = const(0x46)
_FIFO_CONFIG_1 = const(0x47)
_INT_EN_1 = const(0x51)
_INT_OUT_CTRL = const(0x53)
_INT_LATCH = const(0x54)
_INT_MAP_1 = const(0x56)
_CMD = const(0x7E)

_CMD_SOFTRESET = const(0xB6)
_CMD_ACC_NORMAL = const(0x11)
_CMD_GYR_NORMAL = const(0x15)
_CMD_FIFO_FLUSH = const(0xB0)
_FIFO_BYTES = const(1024)
_ID = const(0xD1)

ADDRESSES = (0x68, 0x69)
RATES = (12.5, 25, 50, 100, 200)       # ODR codes 5..9
RANGES = (2, 4, 8, 16)
_RANGE_CODES = (0x03, 0x05, 0x08, 0x0C)


class BMI160(Registers):
    has_wm_irq = True

    def __init__(self, i2c, addr=None, rate_hz=50, range_g=4, gyro=False, batch=64):
        self._bus(i2c, ADDRESSES[0] if addr is None else addr)
        ri = nearest(RATES, rate_hz)
        if gyro and ri == 0:
            ri = 1
        self._ri = ri
        self.rate_hz = RATES[ri]
        self._gi = nearest(RANGES, range_g)
        self.range_g = RANGES[self._gi]
        self.lsb_per_g = 16384 >> self._gi
        self.gyro = gyro
        self.stride = 6 if gyro else 3
        self.lsb_per_dps = 16.4
        self._frame = 12 if gyro else 6
        self.capacity = _FIFO_BYTES // self._frame
        self.overflows = 0
        self.name = "BMI160"
        self.chip_id = 0
        self._wm = self.capacity // 2
        self._batch = batch
        self._raw = bytearray(batch * self._frame)
        self._mv = memoryview(self._raw)
        self.init()

    def _w(self, reg, val):
        import time
        self._b1[0] = val
        self.i2c.writeto_mem(self.addr, reg, self._b1)
        time.sleep_us(500)      # writes in suspend mode need 450 us between them


    def init(self):
        import time
        cid = self._r(_CHIP_ID)
        if cid != _ID:
            raise IMUError("no BMI160 at 0x%02x: CHIP_ID is 0x%02x, not 0xd1" % (self.addr, cid))
        self.chip_id = cid
        self._w(_CMD, _CMD_SOFTRESET)
        time.sleep_ms(15)
        odr = self._ri + 5
        self._w(_ACC_CONF, 0x20 | odr)          # normal filter mode
        self._w(_ACC_RANGE, _RANGE_CODES[self._gi])
        if self.gyro:
            self._w(_GYR_CONF, 0x20 | odr)
            self._w(_GYR_RANGE, 0)              # +-2000 dps
        # FIFO and interrupt first, so the first sample after power-up is kept
        self._w(_FIFO_CONFIG_1, 0xC0 if self.gyro else 0x40)   # headerless
        self.set_watermark(self._wm)
        self._w(_INT_OUT_CTRL, 0x0A)            # INT1 push-pull, active high
        self._w(_INT_LATCH, 0)
        self._w(_INT_MAP_1, 0x40)               # watermark -> INT1
        self._w(_INT_EN_1, 0x40)
        self.reset_fifo()
        if self.gyro:
            self._w(_CMD, _CMD_GYR_NORMAL)
            time.sleep_ms(80)
        self._w(_CMD, _CMD_ACC_NORMAL)
        time.sleep_ms(5)

    def reset_fifo(self):
        self._w(_CMD, _CMD_FIFO_FLUSH)

    def set_watermark(self, n):
        n = max(1, min(n, self.capacity - 1))
        self._wm = n
        self._w(_FIFO_CONFIG_0, (n * self._frame + 3) >> 2)    # in 4-byte units
        return n

    def _length(self):
        self.i2c.readfrom_mem_into(self.addr, _FIFO_LENGTH_0, self._b2)
        return ((self._b2[1] & 0x07) << 8) | self._b2[0]

    def available(self):
        return self._length() // self._frame

    def read(self, out, max_n):
        length = self._length()
        if length > _FIFO_BYTES - self._frame:
            # full: the chip has been dropping its oldest frames
            self.overflows += 1
            self.reset_fifo()
            return 0
        n = min(length // self._frame, max_n, self._batch)
        if n <= 0:
            return 0
        self.i2c.readfrom_mem_into(self.addr, _FIFO_DATA, self._mv[:n * self._frame])
        # gyro words first in each; (a viper function: its ptr8/ptr16 take any buffer)
        le16_into(self._raw, out, n, self.gyro, self.stride)  # pyright: ignore[reportArgumentType]
        return n

    def power_down(self):
        self._w(_CMD, 0x10)     # accelerometer suspend
        self._w(_CMD, 0x14)     # gyro suspend
