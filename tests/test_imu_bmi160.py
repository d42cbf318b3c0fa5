"""BMI160 driver (firmware/imu_bmi160.py) against the emulated chip, and the auto-probe."""
import numpy as np
import pytest

from host_tools import virtual

RATES = (12.5, 25, 50, 100, 200)
RANGES = (2, 4, 8, 16)


def random_counts(n, cols, seed):
    rng = np.random.default_rng(seed)
    c = rng.integers(-32768, 32768, size=(n, cols))
    c[0, :] = -32768
    c[1, :] = 32767
    return c


def test_samples_out_equal_trace_in_at_every_range_and_rate(tmp_path):
    jobs, expect = [], []
    for gi, rng_g in enumerate(RANGES):
        counts = random_counts(150, 3, 20 + gi)
        trace = tmp_path / f"r{rng_g}.csv"
        virtual.write_counts_trace(trace, counts, 16384 >> gi)
        for rate in RATES:
            jobs.append({"chip": "bmi160", "trace": str(trace), "rate_hz": rate, "range_g": rng_g,
                         "step_ms": 150})
            expect.append(counts)
    results = virtual.drivercheck(jobs, tmp_path)
    assert len(results) == len(RATES) * len(RANGES)
    for job, counts, res in zip(jobs, expect, results):
        assert "error" not in res, (job, res)
        assert res["name"] == "BMI160" and res["chip_id"] == 0xD1
        assert res["rate_hz"] == job["rate_hz"] and res["range_g"] == job["range_g"]
        assert res["lsb_per_g"] == 16384 >> RANGES.index(job["range_g"])
        assert res["overflows"] == 0 and res["errors"] == 0
        np.testing.assert_array_equal(res["samples_out"], counts, err_msg=str(job))


def test_gyro_frames(tmp_path):
    counts = random_counts(150, 6, 27)
    trace = tmp_path / "g.csv"
    virtual.write_counts_trace(trace, counts, 8192, 16.4)
    res = virtual.drivercheck([{"chip": "bmi160", "trace": str(trace), "rate_hz": 100, "range_g": 4,
                                "gyro": True, "step_ms": 100}], tmp_path)[0]
    np.testing.assert_array_equal(res["samples_out"], counts)


def test_full_fifo_is_an_overflow_and_reading_goes_on(tmp_path):
    counts = random_counts(800, 3, 23)
    trace = tmp_path / "o.csv"
    virtual.write_counts_trace(trace, counts, 8192)
    res = virtual.drivercheck([{"chip": "bmi160", "trace": str(trace), "rate_hz": 100, "range_g": 4,
                                "step_ms": 300, "faults": [[1000, "overflow", 300]]}], tmp_path)[0]
    assert res["overflows"] == 1 and res["dropped"] > 0
    out = res["samples_out"]
    k = next(i for i in range(len(out)) if not np.array_equal(out[i], counts[i]))
    rest = len(out) - k
    np.testing.assert_array_equal(out[:k], counts[:k])
    np.testing.assert_array_equal(out[k:], counts[len(counts) - rest:])


def test_nak_and_timeout_mid_stream_cost_at_most_their_fifo(tmp_path):
    counts = random_counts(600, 3, 24)
    trace = tmp_path / "e.csv"
    virtual.write_counts_trace(trace, counts, 8192)
    res = virtual.drivercheck([{"chip": "bmi160", "trace": str(trace), "rate_hz": 50, "range_g": 4,
                                "step_ms": 400, "faults": [[2000, "nak", 1], [6000, "timeout", 2]]}],
                              tmp_path)[0]
    assert "error" not in res, res
    # one failed read each, then a failed init for the second: three errors, two re-inits
    assert res["errors"] == 3 and res["reinit"] == 2
    out = res["samples_out"]
    lost = len(counts) - len(out)
    assert 0 < lost <= 2 * res["capacity"]
    # what came through is the trace in order, gaps only where the FIFO was flushed
    j = 0
    for row in out:
        while not np.array_equal(counts[j], row):
            j += 1
        j += 1


@pytest.mark.parametrize("chip,family,addr", [
    ("bmi160", "bmi160", 0x68), ("mpu6050", "mpu6050", 0x68), ("mpu6886", "mpu6050", 0x68),
    ("lsm6ds3", "lsm6ds", 0x6A), ("lsm6dsox", "lsm6ds", 0x6A)])
def test_probe_finds_each_family_without_being_told(tmp_path, chip, family, addr):
    counts = random_counts(40, 3, 1)
    trace = tmp_path / "p.csv"
    virtual.write_counts_trace(trace, counts, 8192 if family != "lsm6ds" else 1000 / 0.122)
    res = virtual.drivercheck([{"chip": chip, "trace": str(trace), "rate_hz": 50, "range_g": 4}], tmp_path)[0]
    assert "error" not in res, res
    assert res["addr"] == addr
    np.testing.assert_array_equal(res["samples_out"], counts)


def test_probe_at_the_other_address(tmp_path):
    counts = random_counts(30, 3, 2)
    trace = tmp_path / "p.csv"
    virtual.write_counts_trace(trace, counts, 8192)
    res = virtual.drivercheck([{"chip": "bmi160", "addr": 0x69, "trace": str(trace), "rate_hz": 50,
                                "range_g": 4}], tmp_path)[0]
    assert res["addr"] == 0x69
    np.testing.assert_array_equal(res["samples_out"], counts)


LIVE = r"""
import json, time
from array import array
import imu_probe
from emu_bus import EmuI2C
from simworld import make_chip, make_source
chip = make_chip(CHIP, make_source(TRACE, "exit"))
bus = EmuI2C()
bus.attach(chip)
imu = imu_probe.open_imu(bus, None, None, 50, 4, False, 64)
b = bytearray(1)
six = bytearray(6)
out = []
for i in range(3):
    time.advance(20)
    bus.readfrom_mem_into(chip.addr, STATUS, b)
    ready = b[0] & MASK
    bus.readfrom_mem_into(chip.addr, DATA, six)
    live = [int.from_bytes(six[k:k + 2], ORDER) for k in (0, 2, 4)]
    live = [v - 65536 if v > 32767 else v for v in live]
    bus.readfrom_mem_into(chip.addr, STATUS, b)
    out.append([ready, b[0] & MASK, live])
print(json.dumps(out))
"""


@pytest.mark.parametrize("chip,status,mask,data,order", [
    ("bmi160", 0x1B, 0x80, 0x12, "little"),
    ("lsm6dso", 0x1E, 0x01, 0x28, "little"),
    ("lsm6ds3", 0x1E, 0x01, 0x28, "little"),
    ("mpu6050", 0x3A, 0x01, 0x3B, "big")])
def test_live_registers_and_data_ready(tmp_path, chip, status, mask, data, order):
    import json
    import subprocess

    from host_tools.paths import micropython_binary
    counts = random_counts(10, 3, 9)
    trace = tmp_path / "l.csv"
    lsb = 1000 / 0.122 if chip.startswith("lsm") else 8192
    virtual.write_counts_trace(trace, counts, lsb)
    code = (LIVE.replace("CHIP", repr(chip)).replace("TRACE", repr(str(trace)))
            .replace("STATUS", str(status)).replace("MASK", str(mask)).replace("DATA", str(data))
            .replace("ORDER", repr(order)))
    p = subprocess.run([micropython_binary(), "-c", code], env=virtual.env_for(fast=True),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout.strip().splitlines()[-1])
    start = next(i for i in range(len(counts)) if list(counts[i]) == rows[0][2])
    for k, (ready, after, live) in enumerate(rows):
        # the status says new data, reading the data clears it, and the data is the next sample
        assert ready and not after
        assert live == list(counts[start + k])
