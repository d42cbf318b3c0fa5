"""What the IMU drivers share: their error, setting look-ups and the FIFO read contract.

Every driver (imu_mpu6050, imu_lsm6ds, imu_bmi160) offers the same small interface:

    imu = Driver(i2c, addr=None, rate_hz=50, range_g=4, gyro=False)
    imu.init()                 (re)configure the chip; the constructor calls it
    imu.available() -> int     whole samples waiting in the FIFO
    imu.read(out, max_n) -> n  up to max_n samples into `out` (array('h')), raw counts
                               interleaved ax, ay, az[, gx, gy, gz]; 0 after an overflow
    imu.set_watermark(n) -> n  FIFO level (samples) that raises the interrupt pin, if any
    imu.power_down()
    imu.name, imu.chip_id, imu.addr, imu.rate_hz, imu.range_g, imu.lsb_per_g,
    imu.stride (3 or 6), imu.capacity (samples the FIFO holds), imu.has_wm_irq,
    imu.overflows (FIFO overflows seen and flushed)

A bus error surfaces as the OSError the bus raised; the caller re-runs init().
"""
import micropython


class IMUError(Exception):
    """No supported chip where one was expected (missing, or another chip's ID)."""


class Registers:
    """A chip on a bus that is passed in (a machine.I2C): one- and two-byte register
    access through preallocated buffers."""

    def _bus(self, i2c, addr):
        self.i2c = i2c
        self.addr = addr
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)

    def _w(self, reg, val):
        self._b1[0] = val
        self.i2c.writeto_mem(self.addr, reg, self._b1)

    def _r(self, reg):
        self.i2c.readfrom_mem_into(self.addr, reg, self._b1)
        return self._b1[0]


def nearest(table, value):
    """Index of the entry of `table` closest to `value`."""
    best = 0
    for i in range(len(table)):
        if abs(table[i] - value) < abs(table[best] - value):
            best = i
    return best


@micropython.viper
def le16_into(src: ptr8, out: ptr16, n: int, gyro: bool, stride: int):
    """Little-endian int16 samples -> out (array('h')): `n` samples, the gyro's three words
    first in each when `gyro`, stored after the accelerometer's in `out`. Viper: each
    word moves as the 16 bits it is (no integer object per value); on the board this is
    the loop's cost per sample beside the detectors'."""
    j = 0
    o = 0
    for _ in range(n):
        if gyro:
            for k in range(3):
                out[o + 3 + k] = src[j] | (src[j + 1] << 8)
                j += 2
        for k in range(3):
            out[o + k] = src[j] | (src[j + 1] << 8)
            j += 2
        o += stride


@micropython.viper
def be16_into(src: ptr8, out: ptr16, n: int, frame: int, vals: int, stride: int):
    """Big-endian int16 words -> out: `n` frames of `frame` bytes, first `vals` words each."""
    o = 0
    f = 0
    for _ in range(n):
        j = f
        for k in range(vals):
            out[o + k] = (src[j] << 8) | src[j + 1]
            j += 2
        o += stride
        f += frame
