"""The real firmware (firmware/main.py) on the sim board under the MicroPython Unix port.

The emulated IMU is fed by simulated traces; the clock is virtual, so a day runs in
seconds. Faults are injected through RETROSTEP_SIM_FAULTS (see host_tools/virtual/simworld.py).
"""
import json
import struct

import pytest

from host_tools import virtual
from host_tools.paths import micropython32_binary

OPTIONAL = ("store", "link", "retro", "fall")
WAIST_FWD = 3          # the sim board is the simulator's waist device: forward +z


def sim_trace(folder, name, script, sensor="bmi160", rate_hz=50, seed=1):
    from host_tools.sim import stream, write
    s = stream(script=script, placement="waist", sensor=sensor, rate_hz=rate_hz, seed=seed)
    return write(s, folder, name)


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("traces")
    return {
        "day": sim_trace(d, "day", "stand 2min, walk 400, turn, retro 300, walk 200, drive 10min, "
                                   "desk 10min, walk 150, stand 2min"),
        "walk": sim_trace(d, "walk", "stand 20s, walk 120, stand 10s", seed=2),
        "calib": sim_trace(d, "calib", "stand 10s, walk 60, stand 5s", seed=3),
    }


def check_same_as_pc(res, trace, **kw):
    assert res.returncode == 0, res.stderr[-2000:]
    ref = virtual.pc_reference(trace, forward_axis=WAIST_FWD, placement="waist", **kw)
    got = {k: res.stopped[k] for k in ("steps", "forward", "backward", "unknown", "samples")}
    assert got == ref
    return ref


# Free heap the counting loop alone (driver, detector, counting, no optional module) gets
# in the tests of its faults and the calibration (x64 Unix port): it needs 62 KB there.
CORE_HEAP_KB = 68

# The heap budgets, per Unix port: x64 (the fast default) and x86, the 32-bit port whose
# figures are a board's (4-byte pointers). The target is the 32-bit one: the whole
# firmware (store, link, retro, fall) counts and serves a sync in 64 KB of free heap; it
# needs 63 KB there (88 KB on x64), the loop alone 40 KB (62 on x64); see the README,
# section Memory, and `retrostep bench`.
CORE_KB = {"x64": CORE_HEAP_KB, "x86": 44}
WHOLE_KB = {"x64": 92, "x86": 64}
WHOLE_HEAP_KB = WHOLE_KB["x64"]
ARCHES = ("x64", "x86")


def port_or_skip(arch):
    if arch == "x86" and micropython32_binary() is None:
        pytest.skip("the 32-bit MicroPython Unix port is not there (../shared/tools/micropython32/"
                    "micropython, or set RETROSTEP_MICROPYTHON32)")


@pytest.mark.parametrize("arch", ARCHES)
def test_simulated_day_counts_what_the_pc_detector_counts(tmp_path, traces, arch):
    # the counting loop, detector and driver
    port_or_skip(arch)
    flash = virtual.make_flash(tmp_path)
    res = virtual.run(flash, trace=traces["day"], heap_kb=CORE_KB[arch], without=OPTIONAL, arch=arch)
    ref = check_same_as_pc(res, traces["day"])
    world = res.world
    print("day:", ref, "world:", world)
    assert ref["steps"] > 500 and ref["samples"] > 100000
    assert world["made"] == ref["samples"] and world["dropped"] == 0
    assert res.stopped["faults"] == {"i2c": 0, "overflow": 0, "no_imu": 0, "reinit": 0, "listener": 0}
    assert world["lightsleeps"] > 1000          # asleep between batches: no USB host


@pytest.mark.parametrize("arch", ARCHES)
def test_whole_firmware_day_counts_the_same(tmp_path, traces, arch):
    # with every optional module on the flash (store, link, retro, fall) as deployed
    port_or_skip(arch)
    flash = virtual.make_flash(tmp_path)
    res = virtual.run(flash, trace=traces["day"], heap_kb=WHOLE_KB[arch], heaplog=True, arch=arch)
    check_same_as_pc(res, traces["day"])
    assert "not started" not in res.stdout and "MemoryError" not in res.stdout + res.stderr
    assert "retrostep: modules: store link retro fall;" in res.stdout, res.stdout[-2000:]
    assert res.stopped["faults"]["listener"] == 0, res.stdout[-2000:]
    world = res.world
    print(f"whole firmware ({arch}): least free heap between batches", world["min_free"], "bytes of",
          WHOLE_KB[arch] * 1024)
    assert world["made"] == res.stopped["samples"] and world["dropped"] == 0
    assert 0 < world["min_free"] < WHOLE_KB[arch] * 1024
    # the store saved the day on the flash: its step bins sum to the steps counted
    from synckit import flash_records
    recs = flash_records(flash)
    bins = [r for r in recs if r.kind == 1]
    got = (sum(r.fwd for r in bins), sum(r.bwd for r in bins), sum(r.unk for r in bins))
    assert got == (res.stopped["forward"], res.stopped["backward"], res.stopped["unknown"])


@pytest.mark.parametrize("arch,kb", [("x64", 64), ("x86", 56)])
def test_whole_firmware_short_of_heap_counts_and_names_the_modules_left_out(tmp_path, traces, arch, kb):
    # every module on the flash, less heap than they all need: the loop and the IMU come
    # first, each optional module attaches only if the heap it leaves can still reconnect
    # the IMU and serve a host; the others are counted (and named), and the walk is counted
    # as the PC counts it
    port_or_skip(arch)
    flash = virtual.make_flash(tmp_path)
    res = virtual.run(flash, trace=traces["walk"], heap_kb=kb, arch=arch)
    check_same_as_pc(res, traces["walk"])
    # the boot line, and a later one if the IMU opened only after boot (no heap for it then)
    from host_tools.bench_firmware import attached_modules
    assert "retrostep: modules:" in res.stdout, res.stdout[-2000:]
    attached = attached_modules(res.stdout)
    left = [m for m in OPTIONAL if m not in attached]
    print(f"{kb} KB ({arch}): attached", attached, "left out", left)
    assert left, f"all fit in {kb} KB: lower this test's heap"
    # each is counted; named on the console when there is heap left for the line
    named = [m for m in OPTIONAL if "module %s not started" % m in res.stdout]
    assert named and set(named) <= set(left)
    assert res.stopped["faults"]["listener"] == len(left)
    assert "Traceback" not in res.stdout + res.stderr
    world = res.world
    assert world["made"] == res.stopped["samples"] and world["dropped"] == 0


def test_without_an_imu_at_boot_retro_and_fall_wait_for_it(tmp_path, traces):
    # the IMU answers only from 20 s on: the store and the link attach at boot, retro
    # guidance and fall detection (which work on its samples) once it is open
    flash = virtual.make_flash(tmp_path)
    res = virtual.run(flash, trace=traces["walk"], heap_kb=WHOLE_HEAP_KB, faults="absent@0+20000")
    check_same_as_pc(res, traces["walk"])
    out = res.stdout
    assert "retrostep: modules: store link;" in out, out[-2000:]
    assert "retrostep: modules now: fall link retro store" in out
    assert out.index("retrostep: modules now:") > out.index("BMI160 at 0x68")
    assert res.stopped["faults"]["listener"] == 0 and res.stopped["faults"]["no_imu"] >= 1


HALFWAY = """
import counting


class _Half:
    def on_samples(self, buf, n, stride, t_ms):
        raise RuntimeError("should have been unplugged")


def attach(app):
    import helper_of_halfway  # noqa: F401
    app.add_listener(_Half())
    app.add_reader(counting.IrqFlag(), lambda: None)
    raise MemoryError("halfway")
"""

UNDO_SCRIPT = r"""
import sys, json
sys.path.insert(0, "")
app.start_imu()
n = [len(x) for x in (app._l_samples, app._l_steps, app._l_batch, app._l_record, app._l_shutdown, app._readers)]
got = plugins.attach(app, "halfway")
res = {"returned": got, "modules": sorted(app.modules), "listener_faults": app.faults["listener"],
       "loaded": [m for m in ("halfway", "helper_of_halfway") if m in sys.modules],
       "lists_same": n == [len(x) for x in (app._l_samples, app._l_steps, app._l_batch, app._l_record, app._l_shutdown, app._readers)]}
res["store"] = plugins.attach(app, "store") is not None
res["room"] = plugins.room(app)
# leave less than a session needs: link attaches, then room() says no and it is undone
plugins.attach(app, "link")
res["link_room"] = plugins.room(app)
hold = [None] * 2000
i = 0
try:
    while i < 2000:
        hold[i] = bytearray(256)
        i += 1
except MemoryError:
    pass
for k in range(1, 13):
    hold[i - k] = None
res["room_tight"] = plugins.room(app)
res["retro_tight"] = plugins.attach(app, "retro", plugins.room) is not None
hold = None
print(json.dumps(res))
app.run_forever()
"""


def test_a_module_that_fails_midway_leaves_nothing_behind(tmp_path, traces):
    flash = virtual.make_flash(tmp_path)
    (flash / "halfway.py").write_text(HALFWAY)
    (flash / "helper_of_halfway.py").write_text("X = 1\n")
    env = virtual.env_for(fast=True, trace=traces["walk"])
    p = run_with_app(flash, UNDO_SCRIPT, env, "-X", "heapsize=400K", input="", text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1])
    print(res)
    assert res["returned"] is None and res["modules"] == [] and res["listener_faults"] == 1
    assert res["loaded"] == [] and res["lists_same"]
    assert "module halfway not started: MemoryError('halfway'" in p.stdout
    assert res["store"] and res["room"] and res["link_room"]
    assert res["room_tight"] is False and res["retro_tight"] is False
    res_run = virtual.SimResult(0, p.stdout, p.stderr, virtual.parse_stopped(p.stdout))
    check_same_as_pc(res_run, traces["walk"])


def test_awake_with_usb_host_counts_the_same_without_lightsleep(tmp_path, traces):
    flash = virtual.make_flash(tmp_path)
    res = virtual.run(flash, trace=traces["walk"], usb=True, without=OPTIONAL, heap_kb=CORE_HEAP_KB)
    check_same_as_pc(res, traces["walk"])
    assert res.world["lightsleeps"] == 0


@pytest.mark.parametrize("chip,rate", [("mpu6050", 50), ("mpu6886", 50), ("lsm6dso", 52), ("lsm6ds3", 52)])
def test_every_chip_family_through_the_whole_loop(tmp_path, traces, chip, rate):
    flash = virtual.make_flash(tmp_path, chip=None)       # the firmware probes for it
    res = virtual.run(flash, trace=traces["walk"], chip=chip, without=OPTIONAL, heap_kb=CORE_HEAP_KB, max_s=3600)
    check_same_as_pc(res, traces["walk"], chip=chip, rate_hz=rate)
    assert ("on INT" in res.stdout) == chip.startswith("lsm")   # MPUs wake on a timer


@pytest.mark.parametrize("chip,rate,dps", [("bmi160", 50, 16.4), ("lsm6dso", 52, 1000 / 70), ("mpu6050", 50, 16.4)])
def test_front_pocket_reads_the_gyro_and_tells_direction(tmp_path, chip, rate, dps):
    # a board in a front pocket turns its gyro on: the thigh's swing gives the direction,
    # step for step what the detector gives on the PC for the chip's gyro counts too
    from host_tools.sim import stream, write
    tr = write(stream(script="stand 20s, walk 60, stand 5s, retro 50, stand 10s", placement="front_pocket",
                      sensor=chip, rate_hz=rate, seed=5), tmp_path, "pocket")
    flash = virtual.make_flash(tmp_path / "flash", placement="front_pocket", chip=chip, rate_hz=rate)
    res = virtual.run(flash, trace=tr, chip=chip, without=OPTIONAL, heap_kb=CORE_HEAP_KB, max_s=3600)
    assert res.returncode == 0, res.stderr[-2000:]
    ref = virtual.pc_reference(tr, chip=chip, rate_hz=rate, forward_axis=WAIST_FWD,
                               placement="front_pocket", gyro_lsb_per_dps=dps)
    got = {k: res.stopped[k] for k in ("steps", "forward", "backward", "unknown", "samples")}
    assert got == ref
    assert got["forward"] >= 55 and got["backward"] >= 45 and got["unknown"] <= 3


def test_no_imu_blinks_reports_and_keeps_retrying(tmp_path, traces):
    flash = virtual.make_flash(tmp_path)
    res = virtual.run(flash, trace=traces["walk"], faults="absent@0+16000", without=OPTIONAL, heap_kb=CORE_HEAP_KB)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "retrostep: no IMU: no device answers on the I2C bus" in res.stdout
    assert res.stopped["faults"]["no_imu"] >= 3
    assert res.world["led_changes"] >= 3 * 6            # three blinks per round
    # the chip was never started while missing, so nothing of the trace was lost
    check_same_as_pc(res, traces["walk"])


def test_i2c_errors_mid_stream_reinit_and_lose_at_most_their_batch(tmp_path, traces):
    flash = virtual.make_flash(tmp_path)
    faults = "eio@20000,nak@35000,timeout@50000x3,stuck@65000"
    res = virtual.run(flash, trace=traces["walk"], faults=faults, without=OPTIONAL, heap_kb=CORE_HEAP_KB)
    assert res.returncode == 0, res.stderr[-2000:]
    f = res.stopped["faults"]
    world = res.world
    print("faults:", f, "world:", world)
    assert world["faults_done"] == 4
    assert f["i2c"] >= 4 and f["reinit"] >= 3
    lost = world["made"] - res.stopped["samples"]
    assert 0 < lost <= 4 * 60            # each fault costs at most one batch (~1 s, 50 samples)
    assert "I2C error" in res.stdout


def test_bus_stuck_at_power_up_is_clocked_free_and_counting_starts(tmp_path, traces):
    # a chip left holding SDA low (the board reset mid-read) answers nothing until SCL is
    # clocked nine times: re-creating the I2C object alone does not free it
    flash = virtual.make_flash(tmp_path)
    res = virtual.run(flash, trace=traces["walk"], faults="stuck@0", without=OPTIONAL, heap_kb=CORE_HEAP_KB)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.world["faults_done"] == 1
    assert res.stopped["faults"]["no_imu"] == 0, res.stdout[-2000:]
    assert res.world["made"] == res.stopped["samples"]
    check_same_as_pc(res, traces["walk"])


def test_stuck_bus_mid_stream_is_recovered_by_clocking_scl(tmp_path, traces):
    flash = virtual.make_flash(tmp_path)
    res = virtual.run(flash, trace=traces["walk"], faults="stuck@40000", without=OPTIONAL, heap_kb=CORE_HEAP_KB)
    assert res.returncode == 0, res.stderr[-2000:]
    f = res.stopped["faults"]
    assert f["i2c"] >= 1 and f["reinit"] == 1 and f["no_imu"] == 0, f
    lost = res.world["made"] - res.stopped["samples"]
    assert 0 <= lost <= 60          # at most the batch the bus hung in


def test_fifo_overflow_is_detected_logged_and_counted(tmp_path, traces):
    flash = virtual.make_flash(tmp_path)
    res = virtual.run(flash, trace=traces["walk"], faults="overflow@50000", without=OPTIONAL, heap_kb=CORE_HEAP_KB)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stopped["faults"]["overflow"] == 1
    assert "IMU FIFO overflowed" in res.stdout
    assert res.world["dropped"] > 0
    assert res.stopped["samples"] < res.world["made"]


def test_hang_is_caught_by_the_watchdog(tmp_path, traces):
    flash = virtual.make_flash(tmp_path)
    res = virtual.run(flash, trace=traces["walk"], faults="hang@30000", without=OPTIONAL, heap_kb=CORE_HEAP_KB)
    assert res.returncode == virtual.EXIT_WDT, res.stderr[-2000:]
    assert "watchdog reset" in res.stderr


def test_long_press_calibrates_the_forward_axis_and_stores_it(tmp_path, traces):
    flash = virtual.make_flash(tmp_path)
    cfg = json.loads((flash / "board.json").read_text())
    cfg["mount"]["forward_axis"] = "+x"        # wrong: the device is worn with +z forward
    (flash / "board.json").write_text(json.dumps(cfg))
    res = virtual.run(flash, trace=traces["calib"], faults="press@8000+3000", without=OPTIONAL, heap_kb=CORE_HEAP_KB)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "forward axis calibrated: +z" in res.stdout, res.stdout[-2000:]
    assert json.loads((flash / "settings.json").read_text())["forward_axis"] == "+z"
    assert res.stopped["samples"] == res.world["made"]     # counting went on throughout
    # and the next boot uses it
    res2 = virtual.run(flash, trace=traces["walk"], without=OPTIONAL, heap_kb=CORE_HEAP_KB)
    check_same_as_pc(res2, traces["walk"])


# the counting loop made as main.py makes it, for the scripts below that drive it by hand
MAKE_APP = r"""
import board, counting, hardware, plugins
cfg = board.load()
app = counting.Pedometer(cfg, hardware.Hardware(cfg))
"""


def run_with_app(flash, script, env, *flags, **kw):
    """`script`, after MAKE_APP, under the Unix port in the virtual device's flash."""
    import subprocess

    from host_tools.paths import micropython_binary
    return subprocess.run([micropython_binary(), *flags, "-c", MAKE_APP + script], cwd=flash,
                          env=env, capture_output=True, **kw)


WRAP_SCRIPT = r"""
import time, json
app.start_imu()
res = {}
# a batch whose newest sample was read 5 ms before ticks_ms wraps at 2**30
app.t_last = (1 << 30) - 5
app.n_last = 1000
res["back_1s"] = time.ticks_diff(app.t_last, app.ticks_of(1000 - 1 - 50))      # 50 samples back
res["across"] = time.ticks_diff(app.ticks_of(999), app.ticks_of(999 - 25))      # 25 samples apart
res["idx_wrap"] = time.ticks_diff(app.t_last, app.ticks_of((999 - 10) & 0x3FFFFFFF))
app.n_last = 5                    # the detector's index wrapped at 2**30 too
res["idx_wrap2"] = time.ticks_diff(app.t_last, app.ticks_of((1 << 30) - 6))    # 10 samples back
# host traffic seen just before the wrap still counts as recent just after it
app._host_t = (1 << 30) - 1000
real = time.ticks_ms
time.ticks_ms = lambda: 2000
counting.time = time
res["host_recent"] = app.usb_host()
time.ticks_ms = lambda: 400000
res["host_stale"] = app.usb_host()
print(json.dumps(res))
"""


def test_ticks_arithmetic_survives_the_wrap(tmp_path):
    flash = virtual.make_flash(tmp_path)
    cfg = json.loads((flash / "board.json").read_text())
    cfg["vbus_pin"] = None            # host presence from traffic, not from VBUS
    (flash / "board.json").write_text(json.dumps(cfg))
    env = virtual.env_for(fast=True, without=OPTIONAL)
    p = run_with_app(flash, WRAP_SCRIPT, env, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res == {"back_1s": 1000, "across": 500, "idx_wrap": 200, "idx_wrap2": 200,
                   "host_recent": True, "host_stale": False}


LINK_SCRIPT = r"""
import gc, sys, json
app.start_imu()
plugins.attach(app, "store")
w = plugins.attach(app, "link")
res = {}
def heap():
    gc.collect()
    return gc.mem_free()
res["idle_loaded"] = "link_session" in sys.modules
idle = heap()
while w.on_input():         # the host's requests, waiting on stdin
    pass
res["talking_loaded"] = "link_session" in sys.modules and w.lk is not None
talking = heap()
for i in range(9):
    w.on_batch(0)
res["after_9_quiet"] = w.lk is not None
w.on_batch(0)
res["after_10_quiet"] = w.lk is not None or "link_session" in sys.modules or "store_io" in sys.modules
res["session_bytes"] = idle - talking
res["given_back"] = heap() - talking
sys.stderr.write(json.dumps(res) + "\n")
"""


def test_link_session_is_loaded_by_the_host_and_dropped_when_quiet(tmp_path):
    # between syncs the link holds no session: its code (link_session, store_io) and
    # buffers come with the host's first byte and leave ten quiet batches later
    from host_tools import link_client as lc
    flash = virtual.make_flash(tmp_path)
    env = virtual.env_for(fast=True)
    reqs = [(lc.C_IDENTIFY, b""), (lc.C_RECORDS, struct.pack("<IHB", 0, 1024, 1))]
    data = b"".join(lc.encode_frame(i + 1, c, p) for i, (c, p) in enumerate(reqs))
    p = run_with_app(flash, LINK_SCRIPT, env, input=data, timeout=60)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    res = json.loads(p.stderr.decode().strip().splitlines()[-1])
    replies = [lc.decode_frame(ln) for ln in p.stdout.splitlines() if ln.startswith(b"~")]
    assert [(r[1], r[2]) for r in replies] == [(1, lc.C_IDENTIFY | 0x80), (2, lc.C_RECORDS | 0x80)]
    print(res)
    assert res["idle_loaded"] is False and res["talking_loaded"] is True
    assert res["after_9_quiet"] is True and res["after_10_quiet"] is False
    assert res["session_bytes"] > 6000              # code and buffers of a session...
    assert res["given_back"] > res["session_bytes"] - 1024     # ...back in the heap after it


FAILING_LISTENER_SCRIPT = r"""
app.start_imu()


class ShortOfHeap:
    # a listener that finds no heap at every call, plugged in ahead of the others
    def on_samples(self, buf, n, stride, t_ms):
        raise MemoryError("on_samples")

    def on_steps(self, idx, dirs, k, t_ms):
        raise MemoryError("on_steps")

    def on_batch(self, t_ms):
        raise MemoryError("on_batch")


app.add_listener(ShortOfHeap())
for name in ("fall", "store", "retro"):
    plugins.attach(app, name)
print("modules:", " ".join(sorted(app.modules)))
app.run_forever()
"""


def test_a_listener_short_of_heap_costs_the_others_nothing(tmp_path):
    # every call into one listener raises MemoryError: each is counted, and the detector,
    # the store (its saved totals), retro guidance and fall detection still get every batch
    import shutil

    from host_tools.link_client import parse_records
    from host_tools.mpcompat import firmware_module
    trace = sim_trace(tmp_path, "retro", "stand 20s, walk 40, turn, retro 60, stand 30s", seed=4)
    flash = virtual.make_flash(tmp_path / "flash")
    env = virtual.env_for(fast=True, trace=trace)
    p = run_with_app(flash, FAILING_LISTENER_SCRIPT, env, "-X", "heapsize=1M", text=True, timeout=120)
    assert "modules: fall retro store" in p.stdout, p.stdout[-2000:] + p.stderr[-2000:]
    res = virtual.SimResult(p.returncode, p.stdout, p.stderr, virtual.parse_stopped(p.stdout))
    check_same_as_pc(res, trace)
    stopped = res.stopped
    batches = p.stdout.count("MemoryError('on_batch'")
    assert batches > 60 and stopped["faults"]["listener"] >= batches
    assert "stopped:" not in p.stdout.replace("retrostep: stopped:", "")   # no module gave up
    data = tmp_path / "data"
    shutil.copytree(flash / "data", data)
    st = firmware_module("store").Store(str(data), lambda: 0)
    assert st.totals() == (stopped["forward"], stopped["backward"], stopped["unknown"])
    buf = bytearray(4096)
    _, used = st.read_since(0, buf)
    sessions = [r.data for r in parse_records(bytes(buf[:used])) if r.kind == 2
                and r.data.get("type") == "retro_session"]
    assert len(sessions) == 1 and sessions[0]["backward"] >= stopped["backward"] - 2


CUT_SHORT_SCRIPT = r"""
import json, time
real = app._new_detector


def short_of_heap(*a):
    raise MemoryError


app._new_detector = short_of_heap       # the heap runs out half-way through connecting
res = {"first": app.start_imu(), "imu_first": app.imu is not None}
app._new_detector = real
res["second"] = app.start_imu()
time.wait(3000)
res["samples"] = app.service()
res["faults"] = app.faults
print(json.dumps(res))
"""


def test_a_connection_cut_short_by_the_heap_is_made_again(tmp_path, traces):
    # a MemoryError after the driver is up but before the detector exists must leave the
    # loop looking for the IMU (counted as no_imu), not half connected and never counting
    flash = virtual.make_flash(tmp_path)
    env = virtual.env_for(fast=True, trace=traces["walk"], without=OPTIONAL)
    p = run_with_app(flash, CUT_SHORT_SCRIPT, env, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "not enough memory to open the IMU" in p.stdout
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["first"] is None and res["imu_first"] is False     # None: no heap for it
    assert res["second"] is True and res["samples"] > 100
    assert res["faults"]["no_imu"] == 1


BOARD_NAMES = ("esp32_devkitc", "esp32s3_devkitc", "xiao_esp32s3", "m5stickc_plus", "pico", "pico_w",
               "pico2", "xiao_rp2040", "sim")
ARCH = {"esp32": "xtensawin", "unix": "x64"}


def test_board_configs_are_complete_and_consistent():
    import re

    from host_tools.mpcompat import firmware_module
    from host_tools.paths import BOARDS
    placements = firmware_module("stepdetect").PLACEMENTS
    assert sorted(p.stem for p in BOARDS.glob("*.json")) == sorted(BOARD_NAMES)
    for name in BOARD_NAMES:
        cfg = json.loads((BOARDS / f"{name}.json").read_text())
        assert cfg["name"] == name
        want = ARCH.get(cfg["port"]) or ("armv7emsp" if name == "pico2" else "armv6m")
        assert cfg["mpy_arch"] == want, name
        assert {"scl", "sda", "freq", "id"} <= set(cfg["i2c"]), name
        assert {"int_pin", "address", "chip"} <= set(cfg["imu"]), name
        for key in ("led", "buzzer", "vibration", "button", "vbus_pin"):
            assert key in cfg, (name, key)
        fwd, up = cfg["mount"]["forward_axis"], cfg["mount"]["up_axis"]
        assert re.fullmatch(r"[+-][xyz]", fwd) and re.fullmatch(r"[+-][xyz]", up) and fwd[1] != up[1]
        assert cfg["placement"] in placements
        assert all(re.fullmatch(r"[0-9A-F]{4}:[0-9A-F]{4}", u) for u in cfg["usb"])
        pins = [cfg["i2c"]["scl"], cfg["i2c"]["sda"], cfg["imu"]["int_pin"]]
        for key in ("led", "buzzer", "vibration", "button", "vbus_pin"):
            v = cfg[key]
            pins.append(v.get("pin") if isinstance(v, dict) else v)
        used = [p for p in pins if p is not None]
        assert len(used) == len(set(used)), f"{name}: a pin is used twice: {used}"


@pytest.mark.parametrize("arch", sorted({"xtensawin", "armv6m", "armv7emsp", "x64", "x86"}))
def test_firmware_compiles_for_every_board_architecture(tmp_path, arch):
    # as `deploy` compiles it; x64 and x86: the virtual device's Unix ports, on a PC with no
    # flash to fit (their native code, the detectors' hot paths, is the bulkiest)
    import subprocess

    from host_tools.deploy_cmd import MPY_CROSS_OPTS
    from host_tools.paths import FIRMWARE
    for f in sorted(FIRMWARE.glob("*.py")):
        p = subprocess.run([virtual.mpy_cross(), *MPY_CROSS_OPTS, f"-march={arch}", "-s", f.name, "-o",
                            str(tmp_path / (f.stem + ".mpy")), str(f)], capture_output=True, text=True)
        assert p.returncode == 0, f"{f.name} for {arch}: {p.stderr}"
    total = sum(p.stat().st_size for p in tmp_path.glob("*.mpy"))
    print(f"{arch}: {total} bytes of .mpy")
    if arch not in ("x64", "x86"):
        assert total < 64 * 1024


@pytest.mark.parametrize("arch", ARCHES)
def test_whole_firmware_serves_a_sync_in_its_heap_budget(tmp_path, traces, arch):
    # a host's requests are waiting on the serial port at boot: the link loads the commands'
    # code (link_session, store_io, and link_more for the settings change) beside everything
    # else, answers each request, and counting goes on unchanged
    import subprocess

    from host_tools import link_client as lc
    from host_tools.bench_firmware import sync_requests
    port_or_skip(arch)
    flash = virtual.make_flash(tmp_path)
    reqs, data = sync_requests()
    cmd, env = virtual.command(flash, heap_kb=WHOLE_KB[arch], trace=traces["walk"], arch=arch)
    p = subprocess.run(cmd, cwd=flash, env=env, input=data, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    replies = [lc.decode_frame(ln) for ln in p.stdout.splitlines() if ln.startswith(b"~")]
    assert [(r[1], r[2]) for r in replies] == [(i + 1, c | 0x80) for i, (c, _) in enumerate(reqs)]
    info = json.loads(replies[0][3])
    assert info["board"] == "sim" and info["proto"] == 1
    assert lc.parse_records(replies[2][3][4:])          # the boot record at least
    assert json.loads(replies[4][3])["retro_goal"] == 300
    assert json.loads((flash / "settings.json").read_text())["retro_goal"] == 300
    text = p.stdout.decode(errors="replace")
    assert "retrostep: modules: store link retro fall;" in text
    check_same_as_pc(virtual.SimResult(p.returncode, text, p.stderr.decode(),
                                       virtual.parse_stopped(text)), traces["walk"])


def test_a_month_old_store_still_leaves_room_for_everything_in_64kb_32bit(tmp_path, traces):
    # a month without a sync (30 days of full 5-minute bins: 8760 records in 4 KB segments)
    # costs the store heap for its index of segments: the whole firmware still attaches
    # every module in the 32-bit target, syncs the month and counts the walk as the PC does
    import subprocess

    from host_tools import link_client as lc
    from host_tools.bench_sync import prefill_month
    port_or_skip("x86")
    flash = virtual.make_flash(tmp_path)
    total = prefill_month(flash / "data")
    reqs = [(lc.C_IDENTIFY, b""), (lc.C_RECORDS, struct.pack("<IHB", 0, 1024, 1)),
            (lc.C_RECORDS, struct.pack("<IHB", total - 20, 1024, 0))]
    data = b"".join(lc.encode_frame(i + 1, c, q) for i, (c, q) in enumerate(reqs))
    cmd, env = virtual.command(flash, heap_kb=WHOLE_KB["x86"], trace=traces["walk"], arch="x86")
    p = subprocess.run(cmd, cwd=flash, env=env, input=data, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    text = p.stdout.decode(errors="replace")
    assert "retrostep: modules: store link retro fall;" in text, text[-2000:]
    replies = [lc.decode_frame(ln) for ln in p.stdout.splitlines() if ln.startswith(b"~")]
    assert [(r[1], r[2]) for r in replies] == [(i + 1, c | 0x80) for i, (c, _) in enumerate(reqs)]
    assert json.loads(replies[0][3])["first_seq"] == 1
    first = lc.parse_records(replies[1][3][4:])
    last = lc.parse_records(replies[2][3][4:])
    assert first[0].seq == 1 and last[0].seq == total - 19
    check_same_as_pc(virtual.SimResult(p.returncode, text, p.stderr.decode(),
                                       virtual.parse_stopped(text)), traces["walk"])
