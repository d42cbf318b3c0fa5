"""`retrostep deploy`: compile the firmware for a board, copy what changed, restart it.

main.py goes as source (boards run main.py at boot); every other firmware file is
compiled with mpy-cross for the board's architecture (`mpy_arch` in boards/NAME.json),
with MPY_CROSS_OPTS;
boards/NAME.json goes as board.json. Files whose SHA-256 on the board already matches are
skipped; a stale NAME.py beside a new NAME.mpy is removed (the .py would shadow it).
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import UserError
from .paths import BOARDS, FIRMWARE

# -O3: no line-number tables in the bytecode (as MicroPython's own frozen packages are
# built): the firmware's code takes about 6% less heap on the board, and a traceback still
# names each function with its first line
MPY_CROSS_OPTS = ("-O3",)

_HASH_SNIPPET = """
import os, hashlib, binascii
def _h(n):
    try:
        f = open(n, 'rb')
    except OSError:
        return '-'
    d = hashlib.sha256()
    while True:
        b = f.read(1024)
        if not b:
            break
        d.update(b)
    f.close()
    return binascii.hexlify(d.digest()).decode()
for _n in %r:
    print('H', _n, _h(_n))
"""


def mpremote(port: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mpremote", "connect", port, "resume", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"{port}: mpremote timed out ({' '.join(args[:2])})") from None


def board_config(name: str) -> dict:
    path = BOARDS / f"{name}.json"
    known = sorted(p.stem for p in BOARDS.glob("*.json"))
    if not path.exists():
        raise UserError(f"unknown board {name!r}: known boards are {', '.join(known)}")
    try:
        cfg = json.loads(path.read_text())
    except ValueError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not cfg.get("mpy_arch"):
        raise UserError(f"{path}: no mpy_arch given")
    return cfg


def build(cfg: dict, board: str, out: Path) -> dict[str, Path]:
    """Remote name -> local file to send."""
    files: dict[str, Path] = {}
    for src in sorted(FIRMWARE.glob("*.py")):
        if src.name == "main.py":
            files["main.py"] = src
            continue
        dst = out / (src.stem + ".mpy")
        r = subprocess.run([sys.executable, "-m", "mpy_cross", *MPY_CROSS_OPTS,
                            f"-march={cfg['mpy_arch']}", "-s", src.name, "-o", str(dst), str(src)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise UserError(f"mpy-cross failed on {src}: {r.stderr.strip()}")
        files[dst.name] = dst
    files["board.json"] = BOARDS / f"{board}.json"
    return files


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def probe_repl(port: str, wait: float = 4.0) -> bool:
    """True when a MicroPython raw REPL answers on the port (quicker than mpremote's 10 s).
    The firmware needs a moment to stop cleanly (it saves its counts), so Ctrl-C and
    Ctrl-A are sent again while waiting."""
    import serial
    want = b"raw REPL; CTRL-B to exit"
    try:
        with serial.Serial(port, 115200, timeout=0.05) as s:
            seen = b""
            end = time.monotonic() + wait
            again = 0.0
            while time.monotonic() < end and want not in seen:
                if time.monotonic() >= again:
                    s.write(b"\r\x03\x03")
                    time.sleep(0.05)
                    s.write(b"\r\x01")
                    again = time.monotonic() + 1.0
                seen = (seen + s.read(256))[-4096:]
            s.write(b"\x02")
            return want in seen
    except (serial.SerialException, OSError) as e:
        raise UserError(f"cannot open serial port {port}: {e}") from None


def check_micropython(port: str) -> str:
    """The board's sys.platform, once probe_repl has stopped it at its REPL (the caller
    restarts it)."""
    r = mpremote(port, "exec", "import sys; print('MPY', sys.implementation.name, sys.platform)",
                 timeout=20)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("MPY ")), None)
    if r.returncode != 0 or not line or "micropython" not in line:
        why = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["no answer"]
        raise UserError(f"{port} is not answering as a MicroPython board ({why[0]}); "
                        "flash MicroPython first (see the README's board section)")
    return line.split()[2]


def deploy(port: str, board: str, log=print) -> dict:
    cfg = board_config(board)
    if not probe_repl(port):
        raise UserError(f"{port} is not answering as a MicroPython board (no REPL); flash "
                        "MicroPython first (see the README's board section)")
    # the probe stopped the firmware at the REPL: whatever happens from here on (a refusal,
    # a failed copy), the board is restarted so that it counts again
    try:
        res = _deploy_stopped(port, board, cfg)
    except BaseException:
        try:
            restart(port)
        except Exception:
            pass    # the first error is the one to report
        raise
    restart(port)
    return res


def _deploy_stopped(port: str, board: str, cfg: dict) -> dict:
    platform = check_micropython(port)
    want = {"esp32": "esp32", "rp2": "rp2", "unix": "linux"}.get(cfg.get("port", ""), None)
    if want and platform != want:
        raise UserError(f"{port} runs MicroPython on {platform}, but board {board!r} is a "
                        f"{cfg.get('port')} board: pick the right --board")
    with tempfile.TemporaryDirectory(prefix="retrostep-deploy-") as tmp:
        files = build(cfg, board, Path(tmp))
        stale = [f[:-4] + ".py" for f in files if f.endswith(".mpy")]
        names = list(files) + stale
        r = mpremote(port, "exec", _HASH_SNIPPET % (names,))
        if r.returncode != 0:
            raise UserError(f"{port}: could not read the board's files: {r.stderr.strip()}")
        have = {}
        for ln in r.stdout.splitlines():
            p = ln.split()
            if len(p) == 3 and p[0] == "H":
                have[p[1]] = p[2]
        changed = [n for n, f in files.items() if have.get(n) != sha256(f)]
        remove = [n for n in stale if have.get(n, "-") != "-"]
        args: list[str] = []
        for n in changed:
            args += ["cp", str(files[n]), ":" + n, "+"]
        for n in remove:
            args += ["rm", ":" + n, "+"]
        if args:
            r = mpremote(port, *args[:-1], timeout=120)
            if r.returncode != 0:
                raise UserError(f"{port}: copying failed: {(r.stderr or r.stdout).strip()}")
    return {"copied": changed, "removed": remove, "skipped": sorted(set(files) - set(changed)),
            "platform": platform}


def restart(port: str):
    """Soft reset from the friendly REPL: the board runs main.py again."""
    import serial
    with serial.Serial(port, 115200, timeout=0.2) as s:
        s.write(b"\r\x03\x03\x02")   # stop whatever runs, leave the raw REPL
        time.sleep(0.2)
        s.write(b"\x04")             # Ctrl-D: soft reset
        time.sleep(0.1)


def add_parser(sub):
    p = sub.add_parser("deploy", help="install the firmware on a board",
                       description="Compile the firmware with mpy-cross for the board's "
                       "architecture, copy what changed with mpremote, and restart the board.")
    p.add_argument("--board", required=True,
                   help="board name: " + ", ".join(sorted(x.stem for x in BOARDS.glob("*.json"))))
    p.add_argument("--port", help="serial port (default: $RETROSTEP_PORT, else the first board"
                   " found by its USB id)")
    return p


def run(args) -> int:
    from .sync_cmd import find_port
    board_config(args.board)
    port = args.port or find_port()
    res = deploy(port, args.board)
    print(f"deployed to {port} ({args.board}, MicroPython on {res['platform']}): "
          f"{len(res['copied'])} copied, {len(res['skipped'])} unchanged, "
          f"{len(res['removed'])} stale removed")
    for n in res["copied"]:
        print(f"  copied {n}")
    from .link_client import LinkClient, LinkError
    time.sleep(0.5)
    try:
        with LinkClient.open(port, timeout=2.0, retries=8) as c:
            info = c.identify()
        print(f"firmware {info.get('fw')} running on {info.get('board')} ({info.get('uid')})")
    except (LinkError, UserError) as e:
        print(f"warning: the board did not answer after the restart ({e})", file=sys.stderr)
        return 1
    return 0
