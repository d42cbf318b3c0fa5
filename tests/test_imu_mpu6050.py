"""MPU6050-family driver (firmware/imu_mpu6050.py) against its emulated chips, on the Unix port."""
import numpy as np
import pytest

from host_tools import virtual

CHIPS = {  # emulated model -> (WHO_AM_I, name the driver must report)
    "mpu6050": (0x68, "MPU6050"),
    "mpu6500": (0x70, "MPU6500 (or an MPU6050 clone reporting 0x70)"),
    "mpu9255": (0x73, "MPU9255 (or an MPU6050 clone reporting 0x73)"),
    "mpu-clone-98": (0x98, "ICM-20689 (sold as MPU6050, WHO_AM_I 0x98)"),
    "mpu6886": (0x19, "MPU6886"),
}
RATES = (12.5, 25, 50, 100, 200)
RANGES = (2, 4, 8, 16)


def random_counts(n, cols, seed):
    rng = np.random.default_rng(seed)
    c = rng.integers(-32768, 32768, size=(n, cols))
    c[0, :] = -32768          # both ends of the scale survive the trip
    c[1, :] = 32767
    return c


@pytest.fixture(scope="module")
def all_configs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mpu")
    jobs, expect = [], []
    for gi, rng_g in enumerate(RANGES):
        counts = random_counts(120, 3, gi)
        trace = tmp / f"r{rng_g}.csv"
        virtual.write_counts_trace(trace, counts, 16384 >> gi)
        for chip in CHIPS:
            for rate in RATES:
                jobs.append({"chip": chip, "trace": str(trace), "rate_hz": rate, "range_g": rng_g,
                             "step_ms": 150})
                expect.append(counts)
    return jobs, expect, virtual.drivercheck(jobs, tmp)


def test_samples_out_equal_trace_in_at_every_range_and_rate(all_configs):
    jobs, expect, results = all_configs
    assert len(results) == len(jobs) == len(CHIPS) * len(RATES) * len(RANGES)
    for job, counts, res in zip(jobs, expect, results):
        assert "error" not in res, (job, res)
        assert res["overflows"] == 0 and res["errors"] == 0
        assert res["rate_hz"] == job["rate_hz"] and res["range_g"] == job["range_g"]
        assert res["lsb_per_g"] == 16384 >> RANGES.index(job["range_g"])
        np.testing.assert_array_equal(res["samples_out"], counts, err_msg=str(job))


def test_each_chip_and_clone_is_named(all_configs):
    jobs, _, results = all_configs
    for job, res in zip(jobs, results):
        who, name = CHIPS[job["chip"]]
        assert res["chip_id"] == who and res["name"] == name


def test_gyro_channels_follow_the_accelerometer(tmp_path):
    counts = random_counts(150, 6, 7)
    trace = tmp_path / "g.csv"
    virtual.write_counts_trace(trace, counts, 8192, 16.4)
    jobs = [{"chip": c, "trace": str(trace), "rate_hz": 100, "range_g": 4, "gyro": True, "step_ms": 100}
            for c in ("mpu6050", "mpu6886", "mpu6500")]
    for job, res in zip(jobs, virtual.drivercheck(jobs, tmp_path)):
        assert res["stride"] == 6
        np.testing.assert_array_equal(res["samples_out"], counts, err_msg=job["chip"])


def test_overflow_is_detected_counted_and_reading_goes_on(tmp_path):
    counts = random_counts(600, 3, 3)
    trace = tmp_path / "o.csv"
    virtual.write_counts_trace(trace, counts, 8192)
    jobs = [{"chip": "mpu6050", "trace": str(trace), "rate_hz": 50, "range_g": 4, "step_ms": 200,
             "faults": [[2000, "overflow", 200]]}]
    res = virtual.drivercheck(jobs, tmp_path)[0]
    assert res["overflows"] == 1 and res["dropped"] > 0
    out = res["samples_out"]
    assert 0 < len(out) < len(counts)
    # what came out is the trace with one gap: everything before it and everything after
    k = next(i for i in range(len(out)) if not np.array_equal(out[i], counts[i]))
    rest = len(out) - k
    np.testing.assert_array_equal(out[:k], counts[:k])
    np.testing.assert_array_equal(out[k:], counts[len(counts) - rest:])


def test_bus_errors_surface_as_oserror_and_cost_at_most_one_fifo(tmp_path):
    counts = random_counts(500, 3, 4)
    trace = tmp_path / "e.csv"
    virtual.write_counts_trace(trace, counts, 8192)
    jobs = [{"chip": "mpu6500", "trace": str(trace), "rate_hz": 50, "range_g": 4, "step_ms": 300,
             "faults": [[3000, "eio", 1], [6000, "timeout", 2]]}]
    res = virtual.drivercheck(jobs, tmp_path)[0]
    assert res["errors"] >= 2 and res["reinit"] >= 2
    lost = len(counts) - len(res["samples_out"])
    assert 0 < lost <= 2 * res["capacity"]


def test_wrong_chip_id_is_a_clear_error(tmp_path):
    trace = tmp_path / "w.csv"
    virtual.write_counts_trace(trace, random_counts(10, 3, 5), 8192)
    jobs = [{"chip": "bmi160", "trace": str(trace), "rate_hz": 50, "range_g": 4, "driver": "mpu6050"},
            {"chip": "bmi160", "trace": str(trace), "rate_hz": 50, "range_g": 4, "family": "mpu6050"}]
    direct, probed = virtual.drivercheck(jobs, tmp_path)
    assert "no MPU6050-family chip at 0x68: WHO_AM_I is 0x00" in direct["error"]
    assert "no mpu6050 found" in probed["error"] and "0x68" in probed["error"]
