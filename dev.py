#!/usr/bin/env python3
"""Set-up and entry point for a fresh clone: needs only Python 3.11+.

    python3 dev.py demo     # the main job: a virtual device's day, synced and summarised
    python3 dev.py test     # the test suite
    python3 dev.py bench    # the benchmark figures
    python3 dev.py retrostep ARGS...   # any retrostep command, inside the project's venv

Each call creates `.venv` (once) and installs the project into it in editable mode,
so the host tools run the very files under `firmware/`; with Node.js on the machine it
also installs rp2040js (pinned by host_tools/pico/package-lock.json) for the emulated Pico.
"""
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("RETROSTEP_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".retrostep-installed"


def ensure_venv():
    pyproject = ROOT / "pyproject.toml"
    if STAMP.exists() and STAMP.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    if not (BIN / "python").exists():
        print("creating", VENV, flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing retrostep and its pinned dependencies", flush=True)
    subprocess.check_call([str(BIN / "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", "-e", f"{ROOT}[dev]"])
    # each MicroPython port's stubs in a folder of its own, for the firmware type-check
    subprocess.check_call([str(BIN / "python"), "-c",
                           "from host_tools.typecheck import PORTS, port_stubs\n"
                           "for p in PORTS: port_stubs(p)"], cwd=ROOT)
    STAMP.touch()


PICO = ROOT / "host_tools" / "pico"
PICO_STAMP = PICO / "node_modules" / ".retrostep-installed"


def ensure_node():
    """rp2040js for the emulated Pico (`npm ci`, once per lock file); without Node the
    Pico's tests and figures are skipped, saying why."""
    lock = PICO / "package-lock.json"
    if PICO_STAMP.exists() and PICO_STAMP.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if not npm or not (shutil.which("node") or shutil.which("nodejs")):
        print("Node.js and npm not found: the emulated Pico is skipped (apt-get install nodejs npm)",
              flush=True)
        return
    print("installing rp2040js for the emulated Pico (npm ci)", flush=True)
    if subprocess.call([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PICO) == 0:
        PICO_STAMP.touch()
    else:
        print("npm ci failed: the emulated Pico is skipped until it succeeds", flush=True)


def main(argv):
    if not argv or argv[0] not in ("demo", "test", "bench", "retrostep"):
        print(__doc__)
        return 2
    ensure_venv()
    ensure_node()
    cmd, rest = argv[0], argv[1:]
    if cmd == "test":
        args = [str(BIN / "python"), "-m", "pytest", *rest]
    elif cmd == "retrostep":
        args = [str(BIN / "retrostep"), *rest]
    else:
        args = [str(BIN / "retrostep"), cmd, *rest]
    return subprocess.call(args, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
