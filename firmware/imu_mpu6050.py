"""MPU6050 family driver (MPU6050, MPU6500, MPU9250/9255, MPU6886 and common clones), FIFO reads.

Interface: see imu_base. The chip is identified by WHO_AM_I (0x75); clones that answer
with another ID (0x70, 0x72, 0x73, 0x98) are accepted and named after what they report.
Samples go through the FIFO at 12.5 to 200 Hz (1 kHz / (1 + SMPLRT_DIV), DLPF on) and
are read in one burst per batch. The family has no FIFO watermark interrupt, so the
loop wakes on a timer.
"""
from micropython import const

from imu_base import IMUError, Registers, be16_into, nearest

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_ACCEL_CONFIG2 = const(0x1D)
_FIFO_EN = const(0x23)
_INT_ENABLE = const(0x38)
_INT_STATUS = const(0x3A)
_USER_CTRL = const(0x6A)
_PWR_MGMT_1 = const(0x6B)
_PWR_MGMT_2 = const(0x6C)
_FIFO_COUNTH = const(0x72)
_FIFO_R_W = const(0x74)
_WHO_AM_I = const(0x75)

_ST_FIFO_OFLOW = const(0x10)
_UC_FIFO_EN = const(0x40)
_UC_FIFO_RESET = const(0x04)

# WHO_AM_I -> (name, FIFO bytes, kind); kind 0: MPU6050, 1: MPU6500 type, 2: MPU6886
CHIPS = {
    0x68: ("MPU6050", 1024, 0),
    0x70: ("MPU6500 (or an MPU6050 clone reporting 0x70)", 512, 1),
    0x71: ("MPU9250", 512, 1),
    0x72: ("MPU6050 clone (WHO_AM_I 0x72)", 512, 0),
    0x73: ("MPU9255 (or an MPU6050 clone reporting 0x73)", 512, 1),
    0x98: ("ICM-20689 (sold as MPU6050, WHO_AM_I 0x98)", 512, 1),
    0x19: ("MPU6886", 1024, 2),
}
ADDRESSES = (0x68, 0x69)

RATES = (12.5, 25, 50, 100, 200)
_DIVS = (79, 39, 19, 9, 4)
_DLPF = (6, 5, 4, 3, 2)        # filter bandwidth just under half the rate
RANGES = (2, 4, 8, 16)


class MPU6050(Registers):
    has_wm_irq = False

    def __init__(self, i2c, addr=None, rate_hz=50, range_g=4, gyro=False, batch=64):
        self._bus(i2c, ADDRESSES[0] if addr is None else addr)
        ri = nearest(RATES, rate_hz)
        self._ri = ri
        self.rate_hz = RATES[ri]
        gi = nearest(RANGES, range_g)
        self._gi = gi
        self.range_g = RANGES[gi]
        self.lsb_per_g = 16384 >> gi
        self.gyro = gyro
        self.stride = 6 if gyro else 3
        self.lsb_per_dps = 16.4          # gyro at +-2000 dps
        self.overflows = 0
        self.name = "?"
        self.chip_id = 0
        self.capacity = 0
        self._kind = 0
        self._frame = 6
        self._cap_bytes = 0
        self._batch = batch
        self._raw = bytearray(batch * (16 if gyro else 8))
        self._mv = memoryview(self._raw)
        self.init()



    def init(self):
        import time
        cid = self._r(_WHO_AM_I)
        info = CHIPS.get(cid)
        if info is None:
            raise IMUError("no MPU6050-family chip at 0x%02x: WHO_AM_I is 0x%02x" % (self.addr, cid))
        self.chip_id = cid
        self.name, self._cap_bytes, self._kind = info
        self._w(_PWR_MGMT_1, 0x80)        # reset every register
        time.sleep_ms(100)
        # with the gyro off the PLL has no reference: run on the internal oscillator
        self._w(_PWR_MGMT_1, 0x01 if self.gyro else 0x00)
        self._w(_PWR_MGMT_2, 0x00 if self.gyro else 0x07)
        self._w(_SMPLRT_DIV, _DIVS[self._ri])
        self._w(_CONFIG, _DLPF[self._ri])   # FIFO_MODE 0: a full FIFO drops its oldest data
        self._w(_ACCEL_CONFIG, self._gi << 3)
        if self._kind:
            self._w(_ACCEL_CONFIG2, _DLPF[self._ri])
        self._w(_GYRO_CONFIG, 3 << 3)
        frame = 6
        en = 0x08
        if self._kind == 2:
            frame += 2                     # the MPU6886 always stores the temperature
        if self.gyro:
            frame += 6
            en |= 0x10 if self._kind == 2 else 0x70
        self._frame = frame
        self.capacity = self._cap_bytes // frame
        self._gofs = frame - 6
        self._w(_INT_ENABLE, _ST_FIFO_OFLOW)
        self._w(_FIFO_EN, en)
        self.reset_fifo()

    def reset_fifo(self):
        self._w(_USER_CTRL, _UC_FIFO_RESET)
        self._w(_USER_CTRL, _UC_FIFO_EN)
        self._r(_INT_STATUS)               # clears a stale overflow flag

    def set_watermark(self, n):
        return min(n, self.capacity)

    def _count(self):
        self.i2c.readfrom_mem_into(self.addr, _FIFO_COUNTH, self._b2)
        return ((self._b2[0] << 8) | self._b2[1]) & 0x1FFF

    def available(self):
        return self._count() // self._frame

    def read(self, out, max_n):
        st = self._r(_INT_STATUS)
        cnt = self._count()
        if st & _ST_FIFO_OFLOW or cnt >= self._cap_bytes or cnt % self._frame:
            # old samples were overwritten and the frames may be misaligned: start clean
            self.overflows += 1
            self.reset_fifo()
            return 0
        n = min(cnt // self._frame, max_n, self._batch)
        if n <= 0:
            return 0
        fr = self._frame
        self.i2c.readfrom_mem_into(self.addr, _FIFO_R_W, self._mv[:n * fr])
        # (a viper function: its ptr8/ptr16 take any buffer)
        be16_into(self._raw, out, n, fr, 3, self.stride)  # pyright: ignore[reportArgumentType]
        if self.gyro:
            be16_into(self._mv[self._gofs:], memoryview(out)[3:], n, fr, 3, 6)  # pyright: ignore[reportArgumentType]
        return n

    def power_down(self):
        self._w(_PWR_MGMT_1, 0x40)
