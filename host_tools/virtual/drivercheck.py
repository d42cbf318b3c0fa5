"""Plays a trace through an emulated chip and the firmware's driver; writes what came out.

    micropython drivercheck.py JOBS.json
    JOBS.json: [{"chip": "mpu6886", "trace": "t.csv", "rate_hz": 50, "range_g": 4,
                 "gyro": false, "out": "o.bin", "step_ms": 700, "faults": [[ms, kind, n]]}]

Each job builds a fresh emulated chip fed by `trace`, opens it with imu_probe (probe,
ID check, configuration), then lets virtual time pass `step_ms` at a time, reading the
FIFO after each step until the trace is played and the FIFO drained. The samples
(int16 little-endian, interleaved as the driver delivers them) go to `out`; one line per
job on stdout: JSON with the driver's view (name, rate, range, lsb, counts, overflows,
bus errors seen). Needs RETROSTEP_SIM_FAST=2 and host_tools/virtual first on the path.
"""
import json
import sys
from array import array

import time

import imu_probe
from emu_bus import EmuI2C
from simworld import CHIPS, make_chip, make_source


def run(job):
    src = make_source(job["trace"], "exit")
    chip = make_chip(job["chip"], src, job.get("addr"))
    bus = EmuI2C()
    bus.attach(chip)
    args = (job["rate_hz"], job["range_g"], job.get("gyro", False), 64)
    drv = job.get("driver")
    if drv:         # the driver itself, at the chip's address, without the probe
        mod = __import__("imu_" + drv)
        cls = {"mpu6050": "MPU6050", "lsm6ds": "LSM6DS", "bmi160": "BMI160"}[drv]
        imu = getattr(mod, cls)(bus, chip.addr, *args)
    else:
        imu = imu_probe.open_imu(bus, job.get("family"), None, *args)
    imu.set_watermark(imu.capacity // 2)
    buf = array("h", bytes(2 * 6 * 64))
    out = open(job["out"], "wb")
    step = job.get("step_ms", 700)
    faults = job.get("faults") or []
    t0 = time.now_ms()
    got = 0
    errors = 0
    reinit = 0
    while True:
        time.advance(step)
        now = time.now_ms() - t0
        while faults and faults[0][0] <= now:
            f = faults.pop(0)
            if f[1] == "overflow":
                chip.burst(f[2])
            else:
                bus.fail(f[1], f[2])
        try:
            while True:
                n = imu.read(buf, 64)
                if n <= 0:
                    break
                out.write(memoryview(buf)[:n * imu.stride])
                got += n
        except OSError:
            errors += 1
            while True:     # what the loop does: re-initialise, losing that batch
                try:
                    imu.init()
                    reinit += 1
                    break
                except OSError:
                    errors += 1
        chip.sync()
        if chip.exhausted and chip.flen == 0:
            break
    out.close()
    return {"name": imu.name, "chip_id": imu.chip_id, "addr": imu.addr, "rate_hz": imu.rate_hz,
            "range_g": imu.range_g, "lsb_per_g": imu.lsb_per_g, "stride": imu.stride,
            "capacity": imu.capacity, "samples": got, "made": chip.made,
            "overflows": imu.overflows, "dropped": chip.dropped, "errors": errors,
            "reinit": reinit, "transactions": bus.transactions}


def main():
    if not time.PURE:
        raise SystemExit("drivercheck needs RETROSTEP_SIM_FAST=2")
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    for job in jobs:
        if job["chip"] not in CHIPS:
            raise SystemExit("unknown chip " + job["chip"])
        try:
            res = run(job)
        except Exception as e:
            res = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(res))


main()
