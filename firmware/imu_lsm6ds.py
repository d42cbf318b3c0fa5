"""LSM6DS3 / LSM6DS3TR-C / LSM6DSL and LSM6DSO / LSM6DSOX driver, FIFO reads.

Interface: see imu_base. WHO_AM_I (0x0F) tells the two FIFO designs apart:
0x69 (LSM6DS3) and 0x6A (LSM6DS3TR-C, LSM6DSL) store plain 16-bit words read through
FIFO_DATA_OUT (0x3E), gyro words before accelerometer words; 0x6C (LSM6DSO, LSM6DSOX)
stores 7-byte words, a tag byte then one sensor's x, y, z, read from 0x78. Rates are
12.5 to 208 Hz; INT1 goes high at the FIFO watermark, so the board can sleep until then.
Low-pass: the rate sets it (the accelerometer's filter chain follows ODR, bandwidth about
half the rate, LPF2 left off), as the MPU driver's DLPF sits just under half the rate.
"""
from micropython import const

from imu_base import IMUError, Registers, le16_into, nearest

_FIFO_CTRL1 = const(0x06)     # LSM6DS3: threshold, words
_FIFO_CTRL3 = const(0x08)     # LSM6DS3: decimation per sensor
_FIFO_CTRL5 = const(0x0A)     # LSM6DS3: FIFO rate and mode
_O_FIFO_CTRL1 = const(0x07)   # LSM6DSO: watermark, words
_O_FIFO_CTRL3 = const(0x09)   # LSM6DSO: batch rates
_O_FIFO_CTRL4 = const(0x0A)   # LSM6DSO: mode
_INT1_CTRL = const(0x0D)
_WHO_AM_I = const(0x0F)
_CTRL1_XL = const(0x10)
_CTRL2_G = const(0x11)
_CTRL3_C = const(0x12)
_FIFO_STATUS1 = const(0x3A)
_FIFO_DATA_OUT_L = const(0x3E)
_O_FIFO_DATA_OUT_TAG = const(0x78)

_MODE_BYPASS = const(0)
_MODE_CONTINUOUS = const(6)
_ST2_OVR = const(0x40)
_TAG_GYRO = const(0x01)
_TAG_ACCEL = const(0x02)

# WHO_AM_I -> (name, FIFO words, tagged FIFO)
CHIPS = {
    0x69: ("LSM6DS3", 4096, False),
    0x6A: ("LSM6DS3TR-C / LSM6DSL", 2048, False),
    0x6C: ("LSM6DSO / LSM6DSOX", 512, True),
}
ADDRESSES = (0x6A, 0x6B)

RATES = (12.5, 26, 52, 104, 208)       # ODR codes 1..5
RANGES = (2, 4, 8, 16)
_FS = (0, 2, 3, 1)                     # FS_XL code per range
_MG_PER_LSB = (0.061, 0.122, 0.244, 0.488)


class LSM6DS(Registers):
    has_wm_irq = True

    def __init__(self, i2c, addr=None, rate_hz=52, range_g=4, gyro=False, batch=64):
        self._bus(i2c, ADDRESSES[0] if addr is None else addr)
        self._ri = nearest(RATES, rate_hz)
        self.rate_hz = RATES[self._ri]
        self._gi = nearest(RANGES, range_g)
        self.range_g = RANGES[self._gi]
        self.lsb_per_g = int(1000 / _MG_PER_LSB[self._gi] + 0.5)
        self.gyro = gyro
        self.stride = 6 if gyro else 3
        self.lsb_per_dps = 1000 / 70      # gyro at +-2000 dps
        self.overflows = 0
        self.name = "?"
        self.chip_id = 0
        self.capacity = 0
        self._tagged = False
        self._words = 0
        self._wm = 0
        self._batch = batch
        self._raw = bytearray(batch * (14 if gyro else 7))
        self._mv = memoryview(self._raw)
        self.init()



    def init(self):
        import time
        cid = self._r(_WHO_AM_I)
        info = CHIPS.get(cid)
        if info is None:
            raise IMUError("no LSM6DS-family chip at 0x%02x: WHO_AM_I is 0x%02x" % (self.addr, cid))
        self.chip_id = cid
        self.name, self._words, self._tagged = info
        self._w(_CTRL3_C, 0x01)                  # software reset
        time.sleep_ms(20)
        self._w(_CTRL3_C, 0x44)                  # block data update, address auto-increment
        odr = self._ri + 1
        self._w(_CTRL1_XL, (odr << 4) | (_FS[self._gi] << 2))
        self._w(_CTRL2_G, ((odr << 4) | 0x0C) if self.gyro else 0)
        per = 2 if self.gyro else 1
        if self._tagged:
            self.capacity = self._words // per
            self._w(_O_FIFO_CTRL3, ((odr << 4) if self.gyro else 0) | odr)
        else:
            self.capacity = self._words // (3 * per)
            self._w(_FIFO_CTRL3, 0x09 if self.gyro else 0x01)   # no decimation
        self.set_watermark(self._wm or self.capacity // 2)
        self._w(_INT1_CTRL, 0x08)                # INT1 on the FIFO threshold
        self.reset_fifo()

    def _mode(self, mode):
        if self._tagged:
            self._w(_O_FIFO_CTRL4, mode)
        else:
            self._w(_FIFO_CTRL5, ((self._ri + 1) << 3) | mode)

    def reset_fifo(self):
        self._mode(_MODE_BYPASS)                 # empties the FIFO
        self._mode(_MODE_CONTINUOUS)

    def set_watermark(self, n):
        n = max(1, min(n, self.capacity - 1))
        self._wm = n
        words = n * (2 if self.gyro else 1) if self._tagged else n * self.stride
        self._b2[0] = words & 0xFF
        self._b2[1] = words >> 8
        self.i2c.writeto_mem(self.addr, _O_FIFO_CTRL1 if self._tagged else _FIFO_CTRL1, self._b2)
        return n

    def _status(self):
        self.i2c.readfrom_mem_into(self.addr, _FIFO_STATUS1, self._b2)
        return self._b2[1], ((self._b2[1] & 0x0F) << 8) | self._b2[0]

    def available(self):
        words = self._status()[1]
        if self._tagged:
            return words // (2 if self.gyro else 1)
        return words // self.stride

    def read(self, out, max_n):
        st2, words = self._status()
        if self._tagged:
            words &= 0x3FF
        if st2 & _ST2_OVR:
            self.overflows += 1
            self.reset_fifo()
            return 0
        if self._tagged:
            return self._read_tagged(out, min(max_n, self._batch), words)
        n = min(words // self.stride, max_n, self._batch)
        if n <= 0:
            return 0
        nb = n * self.stride * 2
        self.i2c.readfrom_mem_into(self.addr, _FIFO_DATA_OUT_L, self._mv[:nb])
        # gyro words first in each; (a viper function: its ptr8/ptr16 take any buffer)
        le16_into(self._raw, out, n, self.gyro, self.stride)  # pyright: ignore[reportArgumentType]
        return n

    def _read_tagged(self, out, max_n, words):
        per = 2 if self.gyro else 1
        take = min(words, max_n * per)
        take -= take % per               # whole samples only
        if take <= 0:
            return 0
        self.i2c.readfrom_mem_into(self.addr, _O_FIFO_DATA_OUT_TAG, self._mv[:take * 7])
        raw = self._raw
        n = 0
        have = 0          # bit 1: accel of sample n stored, bit 2: gyro
        j = 0
        for _ in range(take):
            tag = raw[j] >> 3
            if tag == _TAG_ACCEL:
                base = n * self.stride
                have |= 1
            elif tag == _TAG_GYRO and self.gyro:
                base = n * self.stride + 3
                have |= 2
            else:
                j += 7
                continue
            for k in range(3):
                v = raw[j + 1 + 2 * k] | (raw[j + 2 + 2 * k] << 8)
                out[base + k] = v - 65536 if v & 0x8000 else v
            j += 7
            if have == (3 if self.gyro else 1):
                n += 1
                have = 0
        return n

    def power_down(self):
        self._w(_CTRL1_XL, 0)
        self._w(_CTRL2_G, 0)
