"""LSM6DS3 / LSM6DS3TR-C / LSM6DSO / LSM6DSOX driver (firmware/imu_lsm6ds.py) against the emulated chips."""
import numpy as np
import pytest

from host_tools import virtual

CHIPS = {  # emulated model -> (WHO_AM_I, name the driver must report)
    "lsm6ds3": (0x69, "LSM6DS3"),
    "lsm6ds3trc": (0x6A, "LSM6DS3TR-C / LSM6DSL"),
    "lsm6dso": (0x6C, "LSM6DSO / LSM6DSOX"),
    "lsm6dsox": (0x6C, "LSM6DSO / LSM6DSOX"),
}
RATES = (12.5, 26, 52, 104, 208)
RANGES = (2, 4, 8, 16)
MG_PER_LSB = (0.061, 0.122, 0.244, 0.488)     # datasheet sensitivity per range


def random_counts(n, cols, seed):
    rng = np.random.default_rng(seed)
    c = rng.integers(-32768, 32768, size=(n, cols))
    c[0, :] = -32768
    c[1, :] = 32767
    return c


@pytest.fixture(scope="module")
def all_configs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lsm")
    jobs, expect = [], []
    for gi, rng_g in enumerate(RANGES):
        counts = random_counts(120, 3, 10 + gi)
        trace = tmp / f"r{rng_g}.csv"
        virtual.write_counts_trace(trace, counts, 1000 / MG_PER_LSB[gi])
        for chip in CHIPS:
            for rate in RATES:
                jobs.append({"chip": chip, "trace": str(trace), "rate_hz": rate, "range_g": rng_g,
                             "step_ms": 150})
                expect.append(counts)
    return jobs, expect, virtual.drivercheck(jobs, tmp)


def test_samples_out_equal_trace_in_at_every_range_and_rate(all_configs):
    jobs, expect, results = all_configs
    assert len(results) == len(CHIPS) * len(RATES) * len(RANGES)
    for job, counts, res in zip(jobs, expect, results):
        assert "error" not in res, (job, res)
        assert res["overflows"] == 0 and res["errors"] == 0
        assert res["rate_hz"] == job["rate_hz"] and res["range_g"] == job["range_g"]
        assert res["lsb_per_g"] == round(1000 / MG_PER_LSB[RANGES.index(job["range_g"])])
        np.testing.assert_array_equal(res["samples_out"], counts, err_msg=str(job))


def test_each_chip_is_named(all_configs):
    jobs, _, results = all_configs
    for job, res in zip(jobs, results):
        who, name = CHIPS[job["chip"]]
        assert res["chip_id"] == who and res["name"] == name


def test_gyro_words_are_sorted_into_place(tmp_path):
    # LSM6DS3 puts gyro words before accel words; the LSM6DSO tags each word
    counts = random_counts(150, 6, 17)
    trace = tmp_path / "g.csv"
    virtual.write_counts_trace(trace, counts, 1000 / 0.122, 1000 / 70)
    jobs = [{"chip": c, "trace": str(trace), "rate_hz": 104, "range_g": 4, "gyro": True, "step_ms": 100}
            for c in ("lsm6ds3", "lsm6dso")]
    for job, res in zip(jobs, virtual.drivercheck(jobs, tmp_path)):
        assert res["stride"] == 6, res
        np.testing.assert_array_equal(res["samples_out"], counts, err_msg=job["chip"])


@pytest.mark.parametrize("chip", ["lsm6ds3trc", "lsm6dso"])
def test_overrun_is_detected_counted_and_reading_goes_on(tmp_path, chip):
    counts = random_counts(1500, 3, 13)
    trace = tmp_path / "o.csv"
    virtual.write_counts_trace(trace, counts, 1000 / 0.122)
    jobs = [{"chip": chip, "trace": str(trace), "rate_hz": 208, "range_g": 4, "step_ms": 300,
             "faults": [[1500, "overflow", 800]]}]
    res = virtual.drivercheck(jobs, tmp_path)[0]
    assert res["overflows"] == 1 and res["dropped"] > 0
    out = res["samples_out"]
    k = next(i for i in range(len(out)) if not np.array_equal(out[i], counts[i]))
    rest = len(out) - k
    np.testing.assert_array_equal(out[:k], counts[:k])
    np.testing.assert_array_equal(out[k:], counts[len(counts) - rest:])


def test_nak_mid_stream_costs_at_most_one_fifo(tmp_path):
    counts = random_counts(400, 3, 14)
    trace = tmp_path / "e.csv"
    virtual.write_counts_trace(trace, counts, 1000 / 0.122)
    jobs = [{"chip": "lsm6dso", "trace": str(trace), "rate_hz": 52, "range_g": 4, "step_ms": 500,
             "faults": [[2000, "nak", 1]]}]
    res = virtual.drivercheck(jobs, tmp_path)[0]
    assert res["errors"] >= 1 and res["reinit"] >= 1
    lost = len(counts) - len(res["samples_out"])
    assert 0 < lost <= res["capacity"]


def test_wrong_chip_id_is_a_clear_error(tmp_path):
    trace = tmp_path / "w.csv"
    virtual.write_counts_trace(trace, random_counts(10, 3, 5), 8192)
    jobs = [{"chip": "lsm6dso", "trace": str(trace), "rate_hz": 52, "range_g": 4, "driver": "bmi160"},
            # this driver's own check: an MPU6050 at 0x68 answers 0x00 at WHO_AM_I (0x0F)
            {"chip": "mpu6050", "trace": str(trace), "rate_hz": 52, "range_g": 4, "driver": "lsm6ds"},
            {"chip": "mpu6050", "trace": str(trace), "rate_hz": 52, "range_g": 4, "family": "lsm6dso"}]
    other, direct, probed = virtual.drivercheck(jobs, tmp_path)
    assert "no BMI160 at 0x6a: CHIP_ID is 0x00, not 0xd1" in other["error"]
    assert "IMUError: no LSM6DS-family chip at 0x68: WHO_AM_I is 0x00" in direct["error"]
    # the probe names what it looked for and what does answer on the bus
    assert "no lsm6dso found; devices at 0x68" in probed["error"]
