"""Benchmark of replaying a day-long recording (`retrostep bench` runs `run`).

A trace file of 24 h at 100 Hz (8.64 M samples, 267 MB; quick: 2 h) is written to a
temporary folder: ten-minute stretches (a five-minute walk at 110 steps/min between still
stretches), the sensor turned a new way in each (host_tools.testsignal), one hour of them
repeated. `retrostep replay` then runs over it in a process of its own, as a user runs it:

- day_s, day_samples_per_s: its wall time and speed (reading, checking, resampling and
  the detector under CPython);
- day_peak_rss_mb: the peak resident memory of that process (VmHWM of /proc/self/status,
  the new program's own), against hour_peak_rss_mb for a one-hour trace of the same kind:
  the replay streams the file a block at a time, so the two stay close (the step events
  are what grows, 9 bytes a step); held whole, as before, a sample took about 0.5 KB (4 GB
  a day);
- day_steps: the steps it counted (each walk holds about 550).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATE_HZ = 100.0
HOUR = 3600


def _hour_rows(rate_hz: float = RATE_HZ, most: int | None = None) -> list[str]:
    """Up to an hour of samples (the first `most`) as ",ax,ay,az\n" text; the times are
    written with them."""
    import numpy as np

    from .testsignal import walk
    want = int(HOUR * rate_hz) if most is None else min(most, int(HOUR * rate_hz))
    rows: list[str] = []
    k = 0
    while len(rows) < want:   # 10 minutes each: a 5-minute walk between still stretches
        _, acc, _ = walk(rate_hz, 300.0, 110.0, seed=k, still_s=150.0)
        acc = np.round(acc, 4)[: want - len(rows)]
        rows += [f",{a:.4f},{b:.4f},{c:.4f}\n" for a, b, c in acc.tolist()]
        k += 1
    return rows


def write_trace(path: Path, hours: float, rate_hz: float = RATE_HZ) -> int:
    """A trace of `hours` (at 100 Hz unless told) written an hour at a time (flat memory);
    returns its samples."""
    total = round(hours * HOUR * rate_hz)
    rows = _hour_rows(rate_hz, total)
    step = 1000.0 / rate_hz
    n = 0
    with open(path, "w") as f:
        f.write(f"# format: retrostep-trace/1\n# rate_hz: {rate_hz:g}\n# placement: waist\n"
                "# accel_unit: g\n# source: retrostep bench (synthetic day)\nt_ms,ax,ay,az\n")
        while n < total:
            part = rows[:total - n]
            f.write("".join(f"{round((n + i) * step)}{r}" for i, r in enumerate(part)))
            n += len(part)
    return n


# the command in a child that reports its own peak resident memory: VmHWM is the new
# program's (ru_maxrss would carry the bench process's own peak across the fork and exec)
_CHILD = ("import sys\nfrom host_tools.cli import main\nrc = main(sys.argv[1:])\n"
          "sys.stdout.flush()\n"
          "for line in open('/proc/self/status'):\n"
          "    if line.startswith('VmHWM:'):\n"
          "        print('peak_rss_kb', line.split()[1], file=sys.stderr)\n"
          "sys.exit(rc)\n")


def measured(argv: list[str]) -> dict:
    """`retrostep ARGV` in a process of its own: its output, wall time and peak resident
    memory in MB (Linux: /proc/self/status)."""
    import re
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"retrostep {' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")
    m = re.search(r"^peak_rss_kb (\d+)", proc.stderr, re.M)
    return {"out": proc.stdout, "seconds": secs, "peak_rss_mb": int(m.group(1)) / 1024.0 if m else None}


def _replay(path: Path) -> dict:
    import re
    got = measured(["replay", str(path)])
    m = re.search(r"^steps (\d+):", got["out"], re.M)
    got["steps"] = int(m.group(1)) if m else -1
    return got


def run(quick: bool) -> dict:
    hours = 2 if quick else 24
    with tempfile.TemporaryDirectory(prefix="retrostep-bench-replay-") as tmp:
        one = Path(tmp) / "hour.csv"
        write_trace(one, 1)
        hour = _replay(one)
        one.unlink()
        day = Path(tmp) / "day.csv"
        n = write_trace(day, hours)
        size = day.stat().st_size
        got = _replay(day)
    return {"hours": hours, "day_samples": n, "day_file_mb": round(size / 1e6, 1),
            "day_s": round(got["seconds"], 1), "day_samples_per_s": round(n / got["seconds"]),
            "day_peak_rss_mb": round(got["peak_rss_mb"], 1), "day_steps": got["steps"],
            "hour_peak_rss_mb": round(hour["peak_rss_mb"], 1), "hour_s": round(hour["seconds"], 1)}
