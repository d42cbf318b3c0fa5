"""The emulated Raspberry Pi Pico (`retrostep emulate --board pico`): the real RP2040
MicroPython image, run by rp2040js (npm) in host_tools/pico/pico.mjs, with its USB serial
port on a pseudo-terminal and an emulated IMU on its I2C pins.

    reason = missing()                  None, or why the emulated Pico cannot run here
    dev = pico_board(folder, trace=..., chip="bmi160", usb=True)   a VirtualDevice
    dev.start(); dev.path               the port: `retrostep deploy --board pico --port PATH`,
                                        mpremote, `retrostep sync` talk to it as to a Pico
    read_stats(folder)                  the emulator's figures (stats.json): simulated time,
                                        cycles, time awake, the IMU's state, resets

What it needs: Node 18 or newer (`node`, Debian's nodejs), rp2040js installed from npm into
host_tools/pico (`python3 dev.py` does it: `npm ci` there, pinned by package-lock.json),
and, found through settings that default beside the clone (host_tools.paths), the
MicroPython image for the Pico (`$RETROSTEP_PICO_FIRMWARE`) and the RP2040 boot ROM
(`$RETROSTEP_PICO_BOOTROM`).

The board is boards/pico.json's: the IMU on I2C0 (SDA GP4, SCL GP5), its interrupt on GP6,
VBUS sense on GP24 (high while a USB host is attached: the firmware then stays awake;
`usb=False` is a board on battery, which lightsleeps between batches), the button on GP15.
The IMU is one of the register-level chip models of host_tools/virtual, fed by a trace,
run by the MicroPython Unix port (host_tools/virtual/picoimu.py) and asked by the emulator
at each I2C byte. The board's flash (firmware and littlefs) is `flash.img` in the folder,
written at each program or erase, so it survives a reset, a killed emulator and a new
one started on the same folder. Idle time is skipped (the board runs faster than real
time while it sleeps) unless `realtime`.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .paths import BOARDS, pico_bootrom, pico_firmware

HERE = Path(__file__).resolve().parent / "pico"
RUNNER = HERE / "pico.mjs"
VIRTUAL = Path(__file__).resolve().parent / "virtual"


def node_binary() -> str | None:
    return shutil.which("node") or shutil.which("nodejs")


def missing() -> str | None:
    """Why the emulated Pico cannot run here (None: it can)."""
    node = node_binary()
    if node is None:
        return "Node.js is not installed (apt-get install nodejs)"
    if not (HERE / "node_modules" / "rp2040js" / "package.json").exists():
        return "rp2040js is not installed (python3 dev.py installs it: npm ci in host_tools/pico)"
    if not pico_firmware().is_file():
        return f"the Pico's MicroPython image is not at {pico_firmware()} (set RETROSTEP_PICO_FIRMWARE)"
    if not pico_bootrom().is_file():
        return f"the RP2040 boot ROM is not at {pico_bootrom()} (set RETROSTEP_PICO_BOOTROM)"
    return None


def board_pins(board: str = "pico") -> dict:
    """The pins of boards/BOARD.json the emulator wires: I2C, the IMU's interrupt, VBUS, button."""
    cfg = json.loads((BOARDS / f"{board}.json").read_text())
    button = cfg.get("button")
    vbus = cfg.get("vbus_pin")
    return {"sda": cfg["i2c"]["sda"], "scl": cfg["i2c"]["scl"], "int": cfg["imu"].get("int_pin"),
            "vbus": vbus.get("pin") if isinstance(vbus, dict) else vbus,
            "button": button.get("pin") if isinstance(button, dict) else button}


def chip_names() -> list[str]:
    """The emulated chips (host_tools/virtual/simworld.py's CHIPS, read from its source: that
    module runs under MicroPython)."""
    import ast
    tree = ast.parse((VIRTUAL / "simworld.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CHIPS":
            return [k.value for k in node.value.keys]       # type: ignore[union-attr]
    raise RuntimeError("simworld.py has no CHIPS table")


def board_mount(board: str = "pico") -> str:
    """The simulator's mount string for boards/BOARD.json's `mount` (traces made for it)."""
    m = json.loads((BOARDS / f"{board}.json").read_text())["mount"]
    return f"fwd={m['forward_axis']},up={m['up_axis']}"


def command(folder: Path, trace=None, chip: str = "bmi160", addr: int = 0, end: str = "exit",
            usb: bool = True, realtime: bool = False, uid: str | None = None) -> list[str]:
    """The emulator's command line for a board whose files live in `folder`."""
    from .paths import micropython_binary
    from .emulate_cmd import flash_uid
    folder = Path(folder)
    imu = [micropython_binary(), str(VIRTUAL / "picoimu.py"), "{req}", "{rep}", chip, str(addr),
           str(Path(trace).resolve()) if trace else "-", end]
    cmd = [node_binary() or "node", str(RUNNER), "--firmware", str(pico_firmware()),
           "--bootrom", str(pico_bootrom()), "--flash", str(folder / "flash.img"),
           "--uid", uid or flash_uid(folder), "--imu", json.dumps(imu),
           "--stats", str(folder / "stats.json"), "--log", str(folder / "pico.log"),
           "--usb", "1" if usb else "0"]
    for k, v in board_pins().items():
        if v is not None:
            cmd += [f"--{k}", str(v)]
    if realtime:
        cmd.append("--realtime")
    return cmd


def pico_board(folder, trace=None, chip: str = "bmi160", addr: int = 0, end: str = "exit",
               usb: bool = True, realtime: bool = False, uid: str | None = None, **kw):
    """A VirtualDevice (emulate_cmd) running the emulated Pico on `folder`; its IMU plays
    `trace` (lying still without one) and, at its end, makes no more samples ("exit"),
    holds still ("rest") or plays it again ("loop")."""
    from .emulate_cmd import VirtualDevice
    why = missing()
    if why:
        raise RuntimeError(f"the emulated Pico cannot run: {why}")
    if chip not in chip_names():
        raise ValueError(f"no emulated chip {chip!r}: have {', '.join(chip_names())}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cmd = command(folder, trace, chip, addr, end, usb, realtime, uid)
    env = {"MICROPYPATH": str(VIRTUAL)}      # the chip models, for picoimu.py
    return VirtualDevice([], folder, env=env, program=cmd, stderr=folder / "pico.log", **kw)


def read_stats(folder) -> dict:
    """The emulator's last figures ({} before the first): see pico.mjs."""
    try:
        return json.loads((Path(folder) / "stats.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_imu_done(folder, timeout: float = 600.0) -> dict:
    """Waits until the emulated IMU's trace has ended and its FIFO has been read empty;
    returns the emulator's figures then."""
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = read_stats(folder)
        imu = st.get("imu") or {}
        if imu.get("exhausted") and imu.get("flen") == 0:
            return st
        time.sleep(0.2)
    raise TimeoutError(f"the emulated Pico's IMU did not finish its trace in {timeout:.0f} s")

