"""`retrostep bench`: speed, memory and code size of the detector, plus every other area's figures.

Detector figures:
- micropython_samples_per_s / cpython_samples_per_s: feed() throughput over a recorded
  100 Hz walk (a synthetic one when the data folder is absent), same input on both;
  micropython_samples_per_s_by_rate_hz: the same walk averaged down to 50 and 25 Hz;
  micropython_samples_per_s_pocket_gyro: a simulated front-pocket walk at 100 Hz with the
  gyro's counts fed too (the thigh's pitch rate tells direction there);
- heap_bytes_per_sample: gc.mem_alloc() growth under the Unix port over a full pass through
  feed() and through update(), with the collector off, divided by the samples (the larger);
  heap_lock_ok says whether a pass also ran under micropython.heap_lock();
- state_bytes: heap a new detector keeps under the Unix port (gc.mem_alloc after a
  collection: the larger of its growth over construction and what dropping the detector
  frees: the object, its attribute table and arrays); state_bytes_worst: the largest over
  the rates and mounts whose buffers are biggest (STATE_RATES, STATE_MOUNTS);
  state_bytes_cpython sums sys.getsizeof of the object, its __dict__ and each attribute;
  state_bytes_32bit / state_bytes_worst_32bit: the same two under the 32-bit Unix port
  (paths.micropython32_binary), a board's figures (4-byte pointers; the x64 port's
  attribute tables and object headers are twice the size); the target is 2 KB;
- mpy_bytes: mpy-cross output for armv6m (RP2040) and xtensawin (ESP32), for the detector
  file and for every file under firmware/.

Other areas add a module host_tools/bench_<area>.py with `run(quick: bool) -> dict`;
its figures are printed and stored in the JSON under "<area>".
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .errors import UserError
from .paths import FIRMWARE

ARCHES = ("armv6m", "xtensawin")


def _input(quick: bool):
    """Prepared detector input: a recorded 100 Hz phone walk, else a synthetic one."""
    from .detector_run import LSB_PER_G, Prepared, placement_code, prepare, to_counts
    from .paths import data_dir
    rec = data_dir() / "oxford" / "oxford_samsung_dario_hard_frontpocket_1.csv"
    if rec.exists():
        from .trace import read_trace
        p = prepare(read_trace(rec, cache=True), 100.0)
        if quick:
            p.samples = p.samples[:3000]
        return p, f"{rec.name} at 100 Hz"
    from .testsignal import mixed_day
    _, acc = mixed_day(100.0, walks=((20, 110), (30, 95)) if quick else ((40, 110), (120, 95), (8, 150)))
    return (Prepared(to_counts(acc, LSB_PER_G), 100.0, LSB_PER_G, 0, placement_code("front_pocket")),
            "synthetic walk at 100 Hz")


def cpython_figures(p, quick: bool) -> dict:
    from array import array
    from .detector_run import detector
    sd = detector()
    det = sd.StepDetector(p.rate_hz, p.lsb_per_g, p.forward_axis, p.placement)
    src = array("h", p.to_bytes())
    n = len(p.samples)
    idx = array("i", bytes(4 * 64))
    dirs = bytearray(64)
    repeat = 1 if quick else 3
    best = float("inf")
    for _ in range(repeat):
        det.reset()
        t0 = time.perf_counter()
        det.feed(src, n, 3)
        det.read(idx, dirs)
        best = min(best, time.perf_counter() - t0)
    fresh = sd.StepDetector(p.rate_hz, p.lsb_per_g, p.forward_axis, p.placement)
    size = sys.getsizeof(fresh) + sys.getsizeof(fresh.__dict__)
    size += sum(sys.getsizeof(v) for v in fresh.__dict__.values())
    return {"cpython_samples_per_s": round(n / best), "state_bytes_cpython": size}


def micropython_figures(p, quick: bool) -> dict:
    from .mprun import run_script
    with tempfile.TemporaryDirectory(prefix="retrostep-bench-") as tmp:
        f = Path(tmp) / "samples.bin"
        f.write_bytes(p.to_bytes())
        out = run_script("bench_detector.py", [str(f), *p.script_args(), "1" if quick else "5"])
    v = {}
    for line in out.splitlines():
        k, _, val = line.partition(" ")
        v[k] = int(val)
    n = v["n"]
    return {
        "micropython_samples_per_s": round(v["samples"] / max(1, v["us"]) * 1e6),
        "heap_bytes_per_sample": max(v["heap_feed"], v["heap_update"]) / n,
        "heap_lock_ok": bool(v["locked"]),
        "state_bytes": v["state_bytes"],
    }


# Rates whose detector buffers are largest or smallest (each end of every decimation band:
# the inner rate is 14-28 Hz), with no mount and with one (which adds the orbit arrays).
STATE_RATES = (12.5, 14.2, 28.4, 28.5, 56.9, 57.0, 100.0, 104.0, 113.9, 200.0)
# (forward_axis, placement, gyro LSB per dps): none; waist, -z forward; front pocket with
# the gyroscope (the thigh's pitch rate)
STATE_MOUNTS = ((0, 0, 0.0), (-3, 7, 0.0), (3, 5, 16.4))


def state_sizes(specs, binary: str | None = None) -> list[tuple[float, int, int, float, int]]:
    """Unix-port heap held by new detectors: (rate, forward_axis, placement, lsb_per_dps,
    bytes) per spec; `binary`: another Unix port (the 32-bit one)."""
    from .mprun import run_script
    out = run_script("state_size.py", [f"{r!r}:{f}:{p}:{g!r}" for r, f, p, g in specs], binary=binary)
    rows = []
    for line in out.splitlines():
        r, f, p, g, b = line.split()
        rows.append((float(r), int(f), int(p), float(g), int(b)))
    return rows


def worst_state(binary: str | None = None) -> dict:
    """The largest detector state over STATE_RATES x STATE_MOUNTS, and where it occurs."""
    rows = state_sizes([(r, *m) for r in STATE_RATES for m in STATE_MOUNTS], binary)
    r, f, p, g, b = max(rows, key=lambda x: x[4])
    return {"bytes": b, "rate_hz": r, "forward_axis": f, "placement": p, "gyro": g > 0}


def state_32bit(p) -> dict:
    """Detector state under the 32-bit Unix port: the input's configuration and the worst."""
    from .paths import micropython32_binary
    exe = micropython32_binary()
    if exe is None:
        why = "absent: no 32-bit MicroPython Unix port (RETROSTEP_MICROPYTHON32)"
        return {"state_bytes_32bit": why, "state_bytes_worst_32bit": why}
    one = state_sizes([(p.rate_hz, p.forward_axis, p.placement, p.lsb_per_dps)], exe)[0][4]
    return {"state_bytes_32bit": one, "state_bytes_worst_32bit": worst_state(exe)}


def mpy_sizes() -> dict:
    """mpy-cross sizes per architecture: the detector and all of firmware/."""
    from .paths import micropython_binary
    exe = Path(micropython_binary()).with_name("mpy-cross")
    cmd0 = str(exe) if exe.exists() else "mpy-cross"
    files = sorted(FIRMWARE.rglob("*.py"))
    out = {}
    with tempfile.TemporaryDirectory(prefix="retrostep-mpy-") as tmp:
        for arch in ARCHES:
            total = 0
            det = 0
            for src in files:
                dst = Path(tmp) / arch / src.relative_to(FIRMWARE).with_suffix(".mpy")
                dst.parent.mkdir(parents=True, exist_ok=True)
                proc = subprocess.run([cmd0, f"-march={arch}", "-o", str(dst), str(src)],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(f"mpy-cross -march={arch} {src.name}: {proc.stderr.strip()}")
                size = dst.stat().st_size
                total += size
                if src.name == "stepdetect.py":
                    det = size
            out[arch] = {"detector": det, "firmware": total, "files": len(files)}
    return out


def rate_figures(p, quick: bool) -> dict:
    """Unix-port samples/s when the same walk comes at 50 and 25 Hz (pairs, fours averaged,
    as an IMU's own filter would give): fewer input samples share each inner one, so
    lower rates cost more per sample."""
    import numpy as np
    out = {}
    for k in (2, 4):
        n = len(p.samples) // k * k
        s = p.samples[:n].astype(np.int64).reshape(-1, k, 3).mean(axis=1)
        q = type(p)(np.rint(s).astype(np.int16), p.rate_hz / k, p.lsb_per_g, p.forward_axis, p.placement)
        out[f"{p.rate_hz / k:g}"] = micropython_figures(q, quick)["micropython_samples_per_s"]
    return out


def gyro_figure(quick: bool) -> int:
    """Samples per second with the gyro fed (a front pocket, where the thigh's pitch rate
    tells direction): a simulated 100 Hz walk, forward then backward."""
    from .detector_run import from_sim
    from .sim import simulate
    n = 30 if quick else 120
    p = from_sim(simulate(script=f"stand 3s, walk {n}, retro {n}, stand 3s", placement="front_pocket",
                          rate_hz=100.0, seed=1, sensor="lsm6dso"))
    return micropython_figures(p, quick)["micropython_samples_per_s"]


def detector_section(quick: bool) -> dict:
    p, what = _input(quick)
    res = {"input": what, "input_samples": len(p.samples)}
    res.update(micropython_figures(p, quick))
    res["state_bytes_worst"] = worst_state()
    res.update(state_32bit(p))
    res["micropython_samples_per_s_by_rate_hz"] = rate_figures(p, quick)
    res["micropython_samples_per_s_pocket_gyro"] = gyro_figure(quick)
    res.update(cpython_figures(p, quick))
    res["mpy_bytes"] = mpy_sizes()
    return res


def areas() -> list[str]:
    """Names of the bench_<area> modules in host_tools."""
    here = Path(__file__).parent
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)])
                  if m.name.startswith("bench_") and m.name != "bench_cmd")


def _print_section(name: str, figures: dict, indent: str = "  "):
    print(f"[{name}]")
    for k, v in figures.items():
        if isinstance(v, dict):
            print(f"{indent}{k}:")
            for k2, v2 in v.items():
                print(f"{indent}  {k2}: {_fmt(v2)}")
        else:
            print(f"{indent}{k}: {_fmt(v)}")
    sys.stdout.flush()


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return str(v)


def bench(quick: bool = False, only: list[str] | None = None) -> tuple[dict, list[str]]:
    """All figures: the detector's at the top level, each area's under its name."""
    result: dict = {}
    failed: list[str] = []
    if not only or "detector" in only:
        try:
            det = detector_section(quick)
            result.update(det)
            _print_section("detector", det)
        except Exception as e:   # one area failing must not lose the others' figures
            failed.append("detector")
            result["detector_error"] = f"{type(e).__name__}: {e}"
            print(f"[detector]\n  error: {result['detector_error']}", file=sys.stderr)
    for area in areas():
        if only and area not in only:
            continue
        try:
            mod = importlib.import_module(f"host_tools.bench_{area}")
            figures = mod.run(quick)
            if not isinstance(figures, dict):
                raise TypeError(f"bench_{area}.run returned {type(figures).__name__}, not dict")
            result[area] = figures
            _print_section(area, figures)
        except Exception as e:
            failed.append(area)
            result[area] = {"error": f"{type(e).__name__}: {e}"}
            print(f"[{area}]\n  error: {result[area]['error']}", file=sys.stderr)
            traceback.print_exc(limit=3, file=sys.stderr)
    return result, failed


def add_parser(sub):
    p = sub.add_parser("bench", help="detector speed, memory and code size (and other areas')",
                       description="Measure and print the figures the README quotes: the"
                       " detector's speed, memory and code size, and each other area's (firmware"
                       " heap, sync speed, simulator, replay of a day-long trace, ...).")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    p.add_argument("--quick", action="store_true", help="smaller inputs, for a fast check")
    p.add_argument("--only", nargs="+", metavar="AREA",
                   help="only these sections: detector and/or area names")
    return p


def run(args) -> int:
    known = ["detector", *areas()]
    for a in args.only or []:
        if a not in known:
            raise UserError(f"unknown bench section {a!r} (have: {', '.join(known)})")
    result, failed = bench(args.quick, args.only)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        except OSError as e:
            raise UserError(f"cannot write {args.json}: {e.strerror or e}") from None
    if failed:
        print(f"retrostep bench: failed sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
