"""Figures from the emulated Pico (`retrostep bench`, area `pico`): the real firmware on the
real RP2040 MicroPython in rp2040js (host_tools/pico.py). Skipped, saying why, where it
cannot run (no Node, rp2040js or the Pico's image).

- firmware_fs: what `retrostep deploy --board pico` puts on the Pico's littlefs (the .mpy
  files, main.py and board.json): their bytes, and the 4 KB blocks they take;
- free_heap_after_boot_bytes: the firmware's boot line on the RP2040 with every module
  attached (store, link, retro, fall): gc.mem_free() then;
- detector_cycles_per_sample: the deployed stepdetect.mpy (native armv6m code) fed the
  board's own case, a simulated 100 Hz walk at the waist with boards/pico.json's mount, in
  64-sample chunks on the emulated Pico, timed by its own clock (the emulator runs the core
  at 125 MHz: microseconds x 125), and the share of one core that is at 100 Hz (target: at
  most 2%);
- awake_fraction_100hz_pct: the whole firmware on battery (VBUS low: it lightsleeps between
  batches) with its IMU at 100 Hz (boards/pico.json but rate_hz 100; a BMI160 whose FIFO
  watermark interrupt wakes it about every 850 ms) counting that walk: the share of
  simulated time the core executed instructions rather than waiting (target: at most 5%),
  and the cycles per sample that gives, all of the firmware's work included;
  awake_with_i2c_bus_pct adds the time a 400 kHz bus takes to move the bytes (rp2040js
  moves them at once; MicroPython's blocking I2C keeps the core busy meanwhile).

The emulator's timings follow rp2040js' instruction costs, which are close to the Cortex-M0+'s
but not cycle-exact (flash wait states and the XIP cache are not modelled).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORE_HZ = 125_000_000


def _mpremote(port: str, *args: str, timeout: float = 300) -> str:
    p = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "resume", *args],
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"mpremote {' '.join(args[:2])}: {(p.stderr or p.stdout).strip()[-500:]}")
    return p.stdout


_FILES = """import os
n = b = k = 0
for f in os.listdir('/'):
    if f.endswith('.mpy') or f in ('main.py', 'board.json'):
        s = os.stat(f)[6]
        n += s
        b += (s + 4095) // 4096
        k += 1
print('FILES', k, n, b)
"""

_CYCLES = """import time, stepdetect
from array import array
det = stepdetect.StepDetector(%r, %d, %d, %d)
chunk = array('h', bytes(64 * 6))
mv = memoryview(chunk)
idx = array('i', bytes(4 * 64))
dirs = bytearray(64)
n = 0
us = 0
f = open('samples.bin', 'rb')
while True:
    got = f.readinto(mv) // 6          # 64 samples at most, straight into the chunk
    if not got:
        break
    t = time.ticks_us()
    det.feed(chunk, got, 3)
    det.read(idx, dirs)
    us += time.ticks_diff(time.ticks_us(), t)
    n += got
f.close()
print('CYCLES', n, us, det.steps)
"""


def _value(out: str, key: str) -> list[int]:
    for line in out.splitlines():
        if line.startswith(key + " "):
            return [int(x) for x in line.split()[1:]]
    raise RuntimeError(f"no {key} line in {out[-300:]!r}")


def walk_trace(tmp: Path, quick: bool) -> Path:
    """The board's case: a simulated walk (forward, then backward) at the waist, 100 Hz, with
    boards/pico.json's mount, as its BMI160 would give it."""
    from . import pico
    from .sim import stream, write
    script = "stand 5s, walk 60, retro 40, stand 5s" if quick else "stand 10s, walk 200, turn, retro 120, stand 20s"
    return write(stream(script=script, placement="waist", sensor="bmi160", rate_hz=100, seed=4,
                        mount=pico.board_mount()), tmp, "walk100")


def detector_cycles(port: str, tmp: Path, trace: Path) -> dict:
    from .detector_run import placement_code
    from .trace import read_trace
    from .virtual import chip_scale
    import numpy as np
    tr = read_trace(trace)
    scale, lsb, _ = chip_scale("bmi160", 4)
    counts = np.clip(np.floor(np.asarray(tr.accel, dtype=float) * scale + 0.5), -32768, 32767)
    f = tmp / "samples.bin"
    f.write_bytes(counts.astype("<i2").tobytes())
    _mpremote(port, "cp", str(f), ":samples.bin")
    out = _mpremote(port, "exec", _CYCLES % (100.0, lsb, 1, placement_code("waist")))
    _mpremote(port, "rm", ":samples.bin")
    n, us, steps = _value(out, "CYCLES")
    per = us * (CORE_HZ / 1e6) / n
    return {"detector_input": f"{trace.name}: {n} samples, {steps} steps (waist, forward +x)",
            "detector_cycles_per_sample": round(per),
            "detector_core_share_100hz_pct": round(per * 100 / CORE_HZ * 100, 2),
            "detector_target_pct": 2.0}


def awake_fraction(folder: Path, trace: Path) -> dict:
    """The deployed firmware on battery at 100 Hz, counting `trace` (the flash in `folder`)."""
    from . import pico
    dev = pico.pico_board(folder, trace=trace, usb=False)
    dev.start()
    try:
        total = sum(1 for line in open(trace) if line[:1].isdigit())
        first = None
        deadline = time.monotonic() + 900
        while True:
            st = pico.read_stats(folder)
            made = (st.get("imu") or {}).get("made", 0)
            if first is None and made >= total // 10:
                first = st          # boot and the first seconds left out
            if st.get("at_end") and first is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the emulated Pico did not play its trace")
            time.sleep(0.3)
    finally:
        dev.stop()
    end = st["at_end"]              # the moment the trace ran out
    awake = end["awake_ns"] - first["awake_ns"]
    idle = end["idle_ns"] - first["idle_ns"]
    samples = end["made"] - first["imu"]["made"]
    bus_ns = (end["i2c_bytes"] - first["i2c_bytes"]) * 9 * 1e9 / 400_000
    return {"awake_fraction_100hz_pct": round(awake * 100 / (awake + idle), 2),
            "awake_with_i2c_bus_pct": round((awake + bus_ns) * 100 / (awake + idle), 2),
            "awake_target_pct": 5.0,
            "firmware_cycles_per_sample_100hz": round((end["cycles"] - first["cycles"]) / max(1, samples)),
            "awake_window_s": round((awake + idle) / 1e9, 1),
            "simulated_s_per_wall_s": round(st["sim_ms"] / max(1, st["wall_ms"]), 2)}


def run(quick: bool) -> dict:
    from . import pico
    from .paths import BOARDS
    why = pico.missing()
    if why:
        return {"skipped": f"the emulated Pico cannot run: {why}"}
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="retrostep-benchpico-") as d:
        tmp = Path(d)
        folder = tmp / "board"
        dev = pico.pico_board(folder)
        dev.start()
        try:
            t0 = time.monotonic()
            p = subprocess.run([sys.executable, "-m", "host_tools.cli", "deploy", "--board", "pico",
                                "--port", dev.path], capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                raise RuntimeError(f"deploy failed: {(p.stderr or p.stdout)[-500:]}")
            out["deploy_s"] = round(time.monotonic() - t0, 1)
            text = dev.output.decode(errors="replace")
            boot = [ln for ln in text.splitlines() if ln.startswith("retrostep: modules:")][-1]
            out["boot_line"] = boot.strip()
            out["free_heap_after_boot_bytes"] = int(boot.rsplit("free heap", 1)[1])
            k, n, b = _value(_mpremote(dev.path, "exec", _FILES), "FILES")
            out["firmware_fs"] = {"files": k, "bytes": n, "blocks_4k": b}
            trace = walk_trace(tmp, quick)
            out.update(detector_cycles(dev.path, tmp, trace))
            cfg = json.loads((BOARDS / "pico.json").read_text())
            cfg["imu"]["rate_hz"] = 100
            b = tmp / "board100.json"
            b.write_text(json.dumps(cfg))
            _mpremote(dev.path, "cp", str(b), ":board.json")
        finally:
            dev.stop()
        out.update(awake_fraction(folder, trace))
    return out


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
