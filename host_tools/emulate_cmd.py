"""`retrostep emulate`: the virtual device on a pseudo-terminal.

The virtual device is the real firmware (firmware/main.py, `sim` board, emulated IMU) run
by the MicroPython Unix port. Its stdin/stdout sit on one pseudo-terminal; a relay copies
bytes between that one and a second pseudo-terminal whose path is what host tools open.
So the port stays put while the device process is killed (a power cut) and started again,
and faults can be injected on the wire in either direction.

An unplug (`VirtualDevice.unplug()`, or SIGUSR1 to `retrostep emulate`) is a pulled USB
cable: the host's pseudo-terminal is closed under whoever holds it open (their reads and
writes fail) and what is in flight is lost, while the firmware keeps counting; a fresh one
is opened at once (a new /dev/pts path), and the symlink `VirtualDevice.link` always
points to the current one. The device process dies with the emulator (Linux).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .paths import FIRMWARE, micropython_binary


@dataclass
class WireFaults:
    """Damage injected by the relay: each byte is flipped with probability `flip`; after a
    newline a garbage line is inserted with probability `garbage`."""
    flip: float = 0.0
    garbage: float = 0.0
    seed: int = 1
    injected: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self):
        self.rng.seed(self.seed)

    def apply(self, data: bytes) -> bytes:
        if not (self.flip or self.garbage):
            return data
        out = bytearray()
        for b in data:
            if self.flip and self.rng.random() < self.flip:
                b ^= 1 << self.rng.randrange(7)
                if b in (3, 1, 2, 4, 5):   # keep the REPL's control bytes out of the noise
                    b = 0x21
                self.injected += 1
            out.append(b)
            if b == 10 and self.garbage and self.rng.random() < self.garbage:
                n = self.rng.randrange(1, 40)
                out += bytes(self.rng.choice(b"~ABCxyz0123+/=#!") for _ in range(n)) + b"\n"
                self.injected += 1
        return bytes(out)


def _die_with_parent():
    """A preexec_fn: the child is SIGKILLed when the thread that started it ends (Linux;
    elsewhere nothing), so a killed emulator leaves no device process behind."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def pre():
        prctl(1, signal.SIGKILL, 0, 0, 0)    # PR_SET_PDEATHSIG
        if os.getppid() != parent:            # the parent died before that
            os._exit(1)
    return pre


def _nonblock(fd: int):
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)


class VirtualDevice:
    """A MicroPython Unix port process behind a stable pseudo-terminal.

    `argv`: the micropython script and its arguments; `cwd`: the device's flash directory;
    `env`: extra environment. The process restarts by itself when it exits (a reboot),
    unless stopped. `to_host` / `to_device`: WireFaults for each direction. `program`:
    another device than the Unix port (the emulated Pico: host_tools/pico.py), its whole
    command line before `argv`; `stderr`: a file for its diagnostics, which would otherwise
    share the port with its output."""

    def __init__(self, argv: list[str], cwd: Path, env: dict | None = None,
                 pythonpath: list[str] | None = None, heapsize: str | None = None,
                 interactive: bool = True, log=None, link: Path | None = None,
                 program: list[str] | None = None, stderr: Path | None = None):
        self.argv = argv
        self.program = program
        self.stderr = stderr
        self.cwd = Path(cwd)
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env["MICROPYPATH"] = os.pathsep.join(pythonpath if pythonpath is not None
                                                  else [".frozen", str(FIRMWARE)])
        self.env.update(env or {})
        self.heapsize = heapsize
        self.interactive = interactive
        self.to_host = WireFaults()
        self.to_device = WireFaults()
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.output = bytearray()   # what the device wrote (last 64 KB), for diagnostics
        self._dev_master = -1
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.auto_restart = True
        # the host's side: stable for the whole life of the virtual device, until unplugged
        self._own_link = None
        if link is None:
            import tempfile
            self._own_link = Path(tempfile.mkdtemp(prefix="retrostep-port-"))
            link = self._own_link / "tty"
        self.link = Path(link)
        self.unplugs = 0
        self._unplug = threading.Event()
        self._replugged = threading.Event()
        self._host_master = self._host_slave = -1
        self._plug()
        self._relay = threading.Thread(target=self._run_relay, daemon=True)

    def _plug(self):
        """A fresh host-side pseudo-terminal; self.link points to it."""
        self._host_master, self._host_slave = os.openpty()
        tty.setraw(self._host_slave)
        _nonblock(self._host_master)
        self.path = os.ttyname(self._host_slave)
        tmp = self.link.with_name(self.link.name + f".{os.getpid()}.new")
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        os.symlink(self.path, tmp)
        os.replace(tmp, self.link)

    def unplug(self, timeout: float = 5.0) -> str:
        """Pulls the cable and plugs it in again: the host's pseudo-terminal is closed (the
        holder's reads and writes fail, bytes in flight are lost), the firmware keeps
        running, and a new one is opened. Returns the new path (self.link points to it)."""
        if not self._relay.is_alive():
            self._replug_now()
            return self.path
        self._replugged.clear()
        self._unplug.set()
        if not self._replugged.wait(timeout):
            raise RuntimeError("the relay did not replug the port")
        return self.path

    def _replug_now(self):
        for fd in (self._host_master, self._host_slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._plug()
        self.unplugs += 1

    # ---- process ---------------------------------------------------------------------
    def start(self):
        self._spawn()
        self._relay.start()
        return self

    def _spawn(self):
        master, slave = os.openpty()
        tty.setraw(slave)
        _nonblock(master)
        if self.program:
            cmd = [*self.program, *self.argv]
        else:
            cmd = [micropython_binary()]
            if self.heapsize:
                cmd += ["-X", f"heapsize={self.heapsize}"]
            if self.interactive:
                cmd.append("-i")
            cmd += self.argv
        err = open(self.stderr, "ab") if self.stderr else None
        try:
            proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=err or slave, cwd=self.cwd,
                                    env=self.env, close_fds=True, start_new_session=True,
                                    preexec_fn=_die_with_parent())
        finally:
            if err:
                err.close()
        os.close(slave)
        with self._lock:
            old = self._dev_master
            self._dev_master = master
            self.proc = proc
            self.starts += 1
        if old >= 0:
            os.close(old)

    def power_cut(self):
        """SIGKILL: the process dies wherever it is, as at a power cut; no restart."""
        with self._lock:
            proc = self.proc
            self.auto_restart = False
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()

    def power_on(self):
        self.auto_restart = True
        self._spawn()

    def stop(self):
        self._stop.set()
        self.power_cut()
        if self._relay.is_alive():
            self._relay.join(2)
        for fd in (self._dev_master, self._host_master, self._host_slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._dev_master = self._host_master = self._host_slave = -1
        try:
            if self.link.is_symlink():
                self.link.unlink()
            if self._own_link:
                self._own_link.rmdir()
        except OSError:
            pass

    def __enter__(self):
        return self if self._relay.is_alive() else self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- relay -----------------------------------------------------------------------
    def _run_relay(self):
        pending_to_dev = b""
        while not self._stop.is_set():
            if self._unplug.is_set():
                self._unplug.clear()
                self._replug_now()      # only this thread uses the host's descriptors
                self._replugged.set()
            with self._lock:
                dev = self._dev_master
                proc = self.proc
            fds = [self._host_master] + ([dev] if dev >= 0 else [])
            try:
                r, _, _ = select.select(fds, [], [], 0.05)
            except (OSError, ValueError):
                if self._stop.is_set():
                    return
                continue
            if dev in r:
                try:
                    data = os.read(dev, 65536)
                except OSError:
                    data = b""  # EIO: the process is gone; EBADF: it was just restarted
                if data:
                    self.output += data
                    del self.output[:-65536]
                    if self.log:
                        self.log.write(data)
                    self._write_all(self._host_master, self.to_host.apply(data), drop=True)
                elif proc is not None and proc.poll() is not None:
                    self._device_exited(proc)
            if self._host_master in r:
                try:
                    data = os.read(self._host_master, 65536)
                except OSError:
                    data = b""
                if data and dev >= 0:
                    self._write_all(dev, self.to_device.apply(data), drop=False)
            if proc is not None and proc.poll() is not None and dev not in r:
                self._device_exited(proc)

    def _device_exited(self, proc):
        with self._lock:
            if proc is not self.proc:
                return
            again = self.auto_restart and not self._stop.is_set()
            if self._dev_master >= 0:
                os.close(self._dev_master)
                self._dev_master = -1
        if again:
            self._spawn()   # the board reboots

    def _write_all(self, fd: int, data: bytes, drop: bool):
        end = time.monotonic() + 2.0
        while data:
            try:
                n = os.write(fd, data)
                data = data[n:]
            except BlockingIOError:
                if drop or time.monotonic() > end:
                    return  # nobody reading: a board's USB drops it too
                time.sleep(0.002)
            except OSError:
                return


# The sim board's power-on, as a board's: run main.py from the flash (the working
# directory). A Ctrl-C or a crash leaves the REPL (micropython -i), so mpremote works; a
# reset (SystemExit) ends the process at once and the emulator powers it up again.
BOOT = """import os
def _on_flash(n):
    try:
        os.stat(n)
        return True
    except OSError:
        return False
try:
    if _on_flash("main.py") or _on_flash("main.mpy"):
        import main
except SystemExit:
    os.system("kill -9 $PPID")
"""

VIRTUAL = Path(__file__).resolve().parent / "virtual"


def boot_script() -> Path:
    """The boot script, alone in a folder of its own: the Unix port puts a script's folder
    first on the import path, so any stray `stepdetect.py` beside it would shadow the
    firmware's."""
    import hashlib
    import tempfile
    d = Path(tempfile.gettempdir()) / f"retrostep-boot-{hashlib.sha1(BOOT.encode()).hexdigest()[:10]}"
    p = d / "boot.py"
    if not p.exists():
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f"boot.{os.getpid()}.tmp"
        tmp.write_text(BOOT)
        tmp.replace(p)
    return p


def install_firmware(flash: Path, board: str = "sim") -> Path:
    """Copies the repository's firmware and boards/BOARD.json (as board.json) onto a virtual
    device's flash directory, as `retrostep deploy` would onto a board."""
    import shutil
    from .paths import BOARDS
    flash = Path(flash)
    flash.mkdir(parents=True, exist_ok=True)
    for f in sorted(FIRMWARE.glob("*.py")):
        shutil.copyfile(f, flash / f.name)
    shutil.copyfile(BOARDS / f"{board}.json", flash / "board.json")
    return flash


def sim_board(flash: Path, trace: str | Path | None = None, fast: bool = False,
              end: str = "rest", usb: bool = True, env: dict | None = None,
              heapsize: str | None = None, **kw) -> VirtualDevice:
    """A VirtualDevice that boots the sim board from `flash` (see install_firmware), its
    emulated IMU fed by `trace` (lying still without one). Its unique id comes from the
    flash folder (stable per virtual device) unless RETROSTEP_SIM_UID is set."""
    e = {"RETROSTEP_SIM_FAST": "1" if fast else "0", "RETROSTEP_SIM_END": end,
         "RETROSTEP_SIM_USB": "1" if usb else "0"}
    if trace:
        e["RETROSTEP_SIM_TRACE"] = str(Path(trace).resolve())
    e.update(env or {})
    if not (e.get("RETROSTEP_SIM_UID") or os.environ.get("RETROSTEP_SIM_UID")):
        e["RETROSTEP_SIM_UID"] = flash_uid(flash)
    return VirtualDevice([str(boot_script())], flash, env=e, heapsize=heapsize,
                         pythonpath=[str(VIRTUAL), "", ".frozen"], **kw)


def flash_uid(flash: Path) -> str:
    """A virtual device's unique id (8 bytes, hex, as a board's): from its flash folder."""
    return hashlib.sha256(str(Path(flash).resolve()).encode()).hexdigest()[:16]


def add_parser(sub):
    p = sub.add_parser("emulate", help="run the virtual device on a pseudo-terminal",
                       description="Start a virtual device: the real firmware running on this PC"
                       " (MicroPython's Unix port) with a simulated IMU, on a serial port of its"
                       " own; or with --board pico an emulated Raspberry Pi Pico (the real RP2040"
                       " MicroPython in rp2040js; install the firmware on it with `retrostep"
                       " deploy --board pico --port PATH`). The first line printed is that port's"
                       " path: use it as --port of sync, record or deploy, or with mpremote. Runs"
                       " until Ctrl-C.")
    p.add_argument("--board", choices=("sim", "pico"), default="sim",
                   help="sim (default): the firmware on the Unix port, fast; pico: the emulated "
                   "Pico, its USB serial port on the pseudo-terminal")
    p.add_argument("--chip", default="bmi160",
                   help="--board pico: the emulated IMU (host_tools/virtual/simworld.py names them)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--scenario", metavar="SCRIPT",
                   help='what the IMU feels: a simulator script, e.g. "walk 200, retro 150"')
    g.add_argument("--trace", metavar="FILE",
                   help="a trace file the IMU plays (checked first), over and over")
    p.add_argument("--flash", type=Path, default=None, metavar="DIR",
                   help="folder holding the device's flash, kept between runs (default: a "
                   "temporary one, removed at the end); the firmware is installed if missing")
    return p


def check_trace_for_device(path):
    """The emulated IMU plays a trace line by line and the firmware would crash at boot on a
    bad one (a NaN, a binary file): it is read through once, in flat memory, before the
    device starts. A last line cut short is played if it parses, refused if not."""
    import warnings

    from .trace import TruncatedLineWarning, check_trace
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rd = check_trace(path, strict=False)
    for w in caught:
        if issubclass(w.category, TruncatedLineWarning) and str(w.message).endswith("; dropped"):
            raise UserError(str(w.message).removesuffix("; dropped") + ": the emulated IMU cannot"
                            " play it; complete or delete that line")
        print(f"retrostep emulate: warning: {w.message}", file=sys.stderr)
    return rd


def run(args) -> int:
    import shutil
    import tempfile
    trace = args.trace
    if trace:
        check_trace_for_device(trace)
    if args.flash is not None and args.flash.exists() and not args.flash.is_dir():
        raise UserError(f"--flash {args.flash}: is a file; the device's flash is a folder (new or"
                        " one an earlier emulate used)")
    if args.board == "pico":
        from . import pico
        why = pico.missing()
        if why:
            raise UserError(f"the emulated Pico cannot run: {why}")
        if args.chip not in pico.chip_names():
            raise UserError(f"no emulated chip {args.chip!r}: have {', '.join(pico.chip_names())}")
    own = None if args.flash else Path(tempfile.mkdtemp(prefix="retrostep-emulate-"))
    flash = args.flash or own / "flash"
    try:
        if args.scenario:
            mount = pico.board_mount() if args.board == "pico" else None
            trace = scenario_trace(args.scenario, (own or flash.parent) / f"{flash.name}-scenario",
                                   mount)
        if args.board == "pico":
            # a Pico as it comes: MicroPython alone until the firmware is deployed on it
            dev = pico.pico_board(flash, trace=trace, chip=args.chip, end="loop" if trace else "rest",
                                  realtime=True)
            what = (f"emulated Pico running (its flash and log in {flash}); deploy the firmware "
                    f"with `retrostep deploy --board pico --port {dev.path}`")
        else:
            if not (flash / "main.py").exists():
                try:
                    install_firmware(flash)
                except OSError as e:
                    raise UserError(f"--flash {flash}: cannot put the firmware there:"
                                    f" {e.strerror or e}") from None
            dev = sim_board(flash, trace=trace, fast=False, end="loop" if trace else "rest")
            what = f"virtual device running (flash in {flash})"
        dev.start()
        print(dev.path, flush=True)
        print(f"{what}; Ctrl-C to stop; SIGUSR1 unplugs and replugs its USB: {dev.link} always "
              "points to its port", file=sys.stderr, flush=True)
        stop = threading.Event()
        unplug = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGUSR1, lambda *a: unplug.set())
        try:
            while not stop.wait(0.05):
                if unplug.is_set():
                    unplug.clear()
                    dev.unplug()
                    print(f"unplugged and replugged: now {dev.path}", file=sys.stderr,
                          flush=True)
        except KeyboardInterrupt:
            pass
        finally:
            dev.stop()
    finally:
        if own:
            shutil.rmtree(own, ignore_errors=True)   # a flash of its own: gone with it
    return 0


def scenario_trace(name: str, folder: Path, mount: str | None = None) -> Path:
    """A simulator scenario (a name from host_tools.sim, or a script such as
    "walk 200, retro 150, stand 60s") written as a trace for the emulated IMU; `mount`: the
    device's (the simulator's waist mount, the sim board's, by default)."""
    from . import sim
    folder.mkdir(parents=True, exist_ok=True)
    scenarios = getattr(sim, "SCENARIOS", {})
    kw = scenarios.get(name)
    try:
        if kw is not None:
            tr = sim.simulate(**kw) if isinstance(kw, dict) else sim.simulate(script=kw)
        elif "," in name or " " in name:
            tr = sim.simulate(script=name, placement="waist", sensor="bmi160", seed=1, mount=mount)
        else:
            tr = sim.simulate(activity=name, placement="waist", sensor="bmi160", seed=1,
                              duration_s=120, mount=mount)
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"unknown scenario {name!r}: {e}") from None
    sim.write(tr, folder, "scenario")
    return folder / "scenario.csv"
