"""Finds which supported IMU is on the bus, and at which address, then opens its driver.

    chip, addr, chip_id = find(i2c, chip=None, addr=None)
    imu = open_imu(i2c, chip=None, addr=None, rate_hz=50, range_g=4, gyro=False)
    connect(app) -> bool   the counting loop's (re)connection: clocks a stuck bus free,
                           opens the IMU of board.json,
                           sets its watermark and interrupt, builds the detector
    recover_bus(hw)        clocks SCL by hand so a chip holding SDA low lets go
    reinit(app)            after an I2C error: re-initialises the chip (recovering the
                           bus if need be); app.imu = None when it is gone
    report(app, kind, msg) an IMU fault the loop counted (app.faults[kind]): printed, and
                           recorded at most once a minute per kind (with how many since)

The loop imports this module only to connect, recover or report, and drops it afterwards.

`chip` is a family name ("mpu6050", "lsm6ds", "bmi160", or a model name such as
"mpu6886" or "lsm6dsox", which selects its family); None tries them all. Raises
IMUError, whose message says what the bus answered, when nothing supported is found.
"""
import time
from array import array

from micropython import const

from imu_base import IMUError

# family -> (ID register, accepted IDs, addresses). The MPU family first: it shares
# 0x68/0x69 with the BMI160, whose register 0x75 is reserved (reads 0), while the BMI160's
# ID register (0x00) is a factory-trimmed offset on an MPU and could read anything
_FAMILIES = (
    ("mpu6050", 0x75, (0x68, 0x70, 0x71, 0x72, 0x73, 0x98, 0x19), (0x68, 0x69)),
    ("bmi160", 0x00, (0xD1,), (0x68, 0x69)),
    ("lsm6ds", 0x0F, (0x69, 0x6A, 0x6C), (0x6A, 0x6B)),
)
_ALIASES = {"mpu6500": "mpu6050", "mpu6886": "mpu6050", "mpu9250": "mpu6050",
            "lsm6ds3": "lsm6ds", "lsm6dso": "lsm6ds", "lsm6dsox": "lsm6ds", "lsm6dsl": "lsm6ds"}


def family(chip):
    if chip is None:
        return None
    c = chip.lower()
    return _ALIASES.get(c, c)


def find(i2c, chip=None, addr=None):
    fam = family(chip)
    try:
        present = i2c.scan()
    except OSError as e:
        raise IMUError("I2C bus does not respond (%s): check wiring and pull-ups" % e)
    seen = []
    b = bytearray(1)
    for name, reg, ids, addrs in _FAMILIES:
        if fam is not None and name != fam:
            continue
        for a in addrs:
            if (addr is not None and a != addr) or a not in present:
                continue
            try:
                i2c.readfrom_mem_into(a, reg, b)
            except OSError:
                continue
            if b[0] in ids:
                return name, a, b[0]
            seen.append("0x%02x reg 0x%02x = 0x%02x" % (a, reg, b[0]))
    if not present:
        raise IMUError("no device answers on the I2C bus: check wiring, power and pull-ups")
    found = ", ".join("0x%02x" % a for a in present)
    detail = ("; IDs read: " + ", ".join(seen)) if seen else ""
    want = chip or "supported IMU"
    raise IMUError("no %s found; devices at %s%s" % (want, found, detail))


def open_imu(i2c, chip=None, addr=None, rate_hz=50, range_g=4, gyro=False, batch=64):
    name, a, _ = find(i2c, chip, addr)
    if name == "mpu6050":
        from imu_mpu6050 import MPU6050 as cls
    elif name == "lsm6ds":
        from imu_lsm6ds import LSM6DS as cls
    else:
        from imu_bmi160 import BMI160 as cls
    return cls(i2c, a, rate_hz, range_g, gyro, batch)


_BATCH = const(64)          # samples per FIFO burst (the loop's chunk)
_MAX_WAKE_MS = const(2000)  # longest wait between two batches
_FAULT_GAP_MS = const(60000)  # one fault record per kind per minute at most


def recover_bus(hw):
    # nine clocks free a chip stuck mid-byte; then a STOP (SDA rising while SCL high)
    import machine
    c = hw.cfg["i2c"]
    scl = machine.Pin(c["scl"], machine.Pin.OPEN_DRAIN, value=1)
    sda = machine.Pin(c["sda"], machine.Pin.OPEN_DRAIN, value=1)
    for _ in range(9):
        scl.value(0)
        time.sleep_us(5)
        scl.value(1)
        time.sleep_us(5)
    sda.value(0)
    time.sleep_us(5)
    sda.value(1)


def connect(app):
    from board import axis_code
    c = app.cfg["imu"]
    hw = app.hw
    try:
        # a chip left holding SDA low (the board reset mid-read) lets go only when SCL is
        # clocked: a new I2C object alone would find an empty bus forever
        recover_bus(hw)
        # in a front pocket the gyro tells the walking direction (the thigh's swing)
        gyro = c.get("gyro", False) or app.cfg.get("placement") == "front_pocket"
        imu = open_imu(hw.i2c(), c.get("chip"), c.get("address"), c.get("rate_hz", 50),
                       c.get("range_g", 4), gyro, _BATCH)
    except (OSError, IMUError) as e:
        app.faults["no_imu"] += 1
        report(app, "no_imu", "no IMU: %s" % e)
        return False
    # wake about once a second, and well before the FIFO can fill up
    wm = min(imu.capacity // 2, max(1, int(imu.rate_hz)), _BATCH * 4)
    wm = imu.set_watermark(wm)
    app.batch_ms = min(_MAX_WAKE_MS, int(wm * 1000 / imu.rate_hz))
    pin = hw.int_pin
    app._irq = False
    if imu.has_wm_irq and pin is not None:
        app._irq = True
        # the handler is the loop's own method: nothing here may outlive the connection,
        # or this module's code would stay on the heap
        pin.irq(app._on_int, pin.IRQ_RISING)
    fwd = axis_code(app.settings.get("forward_axis") or app.cfg.get("mount", {}).get("forward_axis"))
    dps = imu.lsb_per_dps if imu.stride >= 6 else 0
    if (app.det is None or app.rate_hz != imu.rate_hz or app.lsb_per_g != imu.lsb_per_g
            or app.forward_axis != fwd or app.lsb_per_dps != dps):
        app._new_detector(imu.rate_hz, imu.lsb_per_g, fwd, dps)
    app.stride = imu.stride
    if len(app._buf) < imu.stride * _BATCH:
        app._buf = array("h", bytes(2 * imu.stride * _BATCH))
    # set last, once the detector and buffers exist: a connection cut short (MemoryError)
    # leaves the loop looking for the IMU again, never half connected
    app.imu = imu
    print("retrostep: %s at 0x%02x, %s Hz, +-%d g, wake every %d ms%s" % (
        imu.name, imu.addr, imu.rate_hz, imu.range_g, app.batch_ms,
        " on INT" if app._irq else ""))
    return True


def reinit(app):
    imu = app.imu
    if imu is None:
        return
    hw = app.hw
    for attempt in range(3):
        try:
            if attempt:
                recover_bus(hw)
                imu.i2c = hw.i2c()
            imu.init()
            app.faults["reinit"] += 1
            return
        except (OSError, IMUError):
            pass
    app.imu = None          # back to looking for it, with the blink code


def report(app, kind, msg):
    now = time.ticks_ms()
    app._fault_n[kind] = app._fault_n.get(kind, 0) + 1
    last = app._fault_t.get(kind)
    if kind == "no_imu":
        print("retrostep:", msg, "(retrying)")     # the reason, at every attempt
    if last is None or time.ticks_diff(now, last) >= _FAULT_GAP_MS:
        if kind != "no_imu":
            print("retrostep:", msg)
        app._fault_t[kind] = now
        app.record({"type": "fault", "t": now, "ago_ms": 0, "kind": kind,
                    "n": app._fault_n[kind], "msg": msg[:60]})
        app._fault_n[kind] = 0
