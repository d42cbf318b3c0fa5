"""`retrostep record`: stream raw IMU samples from a board into a trace file.

The board keeps counting while it streams. Sample times come from the board's sample
index (index * 1000 / rate), so a frame lost on the wire leaves a gap in the timestamps
instead of shifting everything after it. `--seconds` is the span of samples recorded
(counted by their index, not by the PC's clock), so even half a second is recorded
whole although the board sends its samples about once a second.

Nothing received is lost. `-o` and `--seconds` are checked before the board is asked for
anything. Samples are written as they arrive (each frame's lines, flushed) to
`OUT.partial`, which is renamed OUT only when the recording ends cleanly. A Ctrl-C or
SIGTERM, a board that stops sending (STALL_S), or a port that goes away ends it early:
what arrived stays in OUT.partial, a complete trace (every line whole), and the message
says so. Killed outright, the process leaves OUT.partial holding every frame it wrote.
"""
from __future__ import annotations

import math
import os
import signal
import struct
import sys
import time
from pathlib import Path

import numpy as np

from .errors import UserError

_IDX_WRAP = 1 << 30      # the detector's sample index wraps here
STALL_S = 5.0            # no sample for this long: the board (or its IMU) stopped


class StreamDecoder:
    """STREAM payloads, in arrival order -> (unwrapped sample indices, int counts (k, ch))."""

    def __init__(self):
        self.base = 0
        self.lost = 0               # frames missing from the sequence numbers
        self._prev_first: int | None = None
        self._prev_seq: int | None = None

    def decode(self, seq: int, p: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        if len(p) < 5:
            return None
        first, ch = struct.unpack_from("<IB", p)
        if ch < 3 or (len(p) - 5) % (2 * ch):
            return None
        vals = np.frombuffer(p, dtype="<i2", offset=5).reshape(-1, ch).astype(np.int32)
        if self._prev_first is not None and first < self._prev_first \
                and self._prev_first - first > _IDX_WRAP // 2:
            self.base += _IDX_WRAP
        self._prev_first = first
        if self._prev_seq is not None and seq != (self._prev_seq + 1) & 0xFFFF:
            self.lost += (seq - self._prev_seq - 1) & 0xFFFF
        self._prev_seq = seq
        return self.base + first + np.arange(len(vals)), vals


class StreamedTrace:
    """A trace written as its samples arrive: the header with the first frame (its
    channels say whether the gyro's columns are there), then each frame's lines, flushed.
    The file is OUT.partial until finish() renames it OUT."""

    def __init__(self, partial: Path, head: dict, rate: float, lsb: float,
                 lsb_dps: float | None, want: int):
        self.partial = partial
        self.head = head
        self.rate = rate
        self.lsb = lsb
        self.lsb_dps = lsb_dps
        self.want = want            # samples of the span asked for
        # unbuffered: each frame's lines go to the file in one write, so a kill at any
        # moment leaves whole lines; "x": never over an earlier recording
        self.f = open(partial, "xb", buffering=0)
        self.cols = 0
        self.samples = 0
        self.gaps = 0
        self.idx0: int | None = None
        self.last: int | None = None

    @property
    def done(self) -> bool:
        return self.last is not None and self.last - self.idx0 >= self.want - 1

    @property
    def seconds(self) -> float:
        return 0.0 if self.last is None else (self.last - self.idx0) / self.rate

    def add(self, idx: np.ndarray, vals: np.ndarray):
        from .trace import FORMAT
        if self.idx0 is None:
            self.idx0 = int(idx[0])
            self.cols = 6 if vals.shape[1] >= 6 and self.lsb_dps else 3
            meta = {"format": FORMAT, **self.head, "accel_unit": "g"}
            if self.cols == 6:
                meta["gyro_unit"] = "dps"
                meta["lsb_per_dps"] = f"{self.lsb_dps:g}"
            lines = [f"# {k}: {v}" for k, v in meta.items()]
            lines.append("t_ms,ax,ay,az" + (",gx,gy,gz" if self.cols == 6 else ""))
            self.f.write(("\n".join(lines) + "\n").encode())
        if vals.shape[1] < self.cols:
            return                  # a frame without the gyro's values: cannot fill its columns
        keep = idx - self.idx0 < self.want
        if self.last is not None:
            keep &= idx > self.last     # a sample sent twice
        idx, vals = idx[keep], vals[keep]
        if not len(idx):
            return
        prev = self.last if self.last is not None else idx[0] - 1
        self.gaps += int((np.diff(np.concatenate(([prev], idx))) > 1).sum())
        t = np.round((idx - self.idx0) * 1000.0 / self.rate, 1)
        g = vals[:, :3] / self.lsb
        cols = [g] if self.cols == 3 else [g, vals[:, 3:6] / self.lsb_dps]
        v = np.hstack(cols)
        rows = []
        for ti, row in zip(t, v):
            ts = str(int(ti)) if ti == int(ti) else repr(float(ti))
            rows.append(ts + "," + ",".join(f"{x:.5f}" for x in row) + "\n")
        self.f.write("".join(rows).encode())
        self.samples += len(idx)
        self.last = int(idx[-1])

    def close(self):
        if not self.f.closed:
            self.f.close()

    def finish(self, out: Path):
        os.fsync(self.f.fileno())
        self.close()
        os.replace(self.partial, out)

    def discard(self):
        """Nothing arrived: no file is left behind."""
        self.close()
        self.partial.unlink(missing_ok=True)


def check_seconds(seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds > 0):
        raise UserError(f"--seconds {seconds:g}: give how long to record, in seconds above 0"
                        " (e.g. 60); Ctrl-C stops a recording early and keeps what arrived")
    return seconds


def check_output(out: Path) -> tuple[Path, Path]:
    """(OUT, OUT.partial), refused before anything starts when OUT cannot be written or
    would replace a recording."""
    from .paths import check_output as writable
    out = writable(out, "-o")
    partial = out.with_name(out.name + ".partial")
    if out.exists():
        raise UserError(f"-o {out}: a file of that name exists; choose another name (or remove"
                        " it first)")
    if partial.exists():
        raise UserError(f"-o {out}: {partial.name} exists, a recording that did not end cleanly;"
                        " rename or remove it first")
    return out, partial


class Stopped(Exception):
    """The recording ended before its time (the message says why)."""


def record(client, seconds: float, out: Path, partial: Path, label: str | None = None,
           log=None) -> dict:
    """Records `seconds` of samples into `partial` as they arrive, then renames it `out`.
    Raises Stopped (the partial file keeps what arrived) or KeyboardInterrupt."""
    info = client.wake(log=log)
    meta = client.stream_start()
    rate = float(meta.get("rate_hz") or 0)
    lsb = float(meta.get("lsb_per_g") or 0)
    if rate <= 0 or lsb <= 0:
        _stop_stream(client)
        raise UserError(f"the board reported no usable rate/scale ({meta})")
    head = {"rate_hz": f"{rate:g}", "placement": meta.get("placement") or "unknown",
            "source": f"retrostep record from {info.get('board')} {info.get('uid')} "
                      f"({meta.get('imu')})", "lsb_per_g": f"{lsb:g}"}
    if meta.get("forward_axis"):
        head["forward_axis"] = meta["forward_axis"]
    if label:
        head["label"] = label
    lsb_dps = float(meta["lsb_per_dps"]) if meta.get("lsb_per_dps") else None
    rec = StreamedTrace(partial, head, rate, lsb, lsb_dps, max(1, math.ceil(seconds * rate - 1e-9)))
    dec = StreamDecoder()
    heard = time.monotonic()
    try:
        while not rec.done:
            fr = client.next_stream(time.monotonic() + 0.25)
            if fr is None:
                if time.monotonic() - heard > STALL_S:
                    what = ("sent no samples" if not rec.samples else
                            f"stopped sending samples after {rec.seconds:.1f} s")
                    hint = (": is its IMU working? (`retrostep sync` shows its faults)"
                            if not rec.samples else " (it may have reset or lost power)")
                    raise Stopped(f"the board {what}: nothing for {STALL_S:g} s{hint}")
                continue
            got = dec.decode(*fr)
            if got is not None:
                heard = time.monotonic()
                rec.add(*got)
    except BaseException:
        _stop_stream(client, tries=1)
        rec.close()
        if not rec.samples:
            rec.discard()
        raise
    ok = _stop_stream(client)
    rec.finish(out)
    return {"samples": rec.samples, "seconds": rec.seconds, "gaps": rec.gaps,
            "lost_frames": dec.lost, "rate_hz": rate, "path": out, "stopped": ok}


def _stop_stream(client, tries: int = 3) -> bool:
    """Asks the board to stop streaming; False when it does not answer (gone, or busy)."""
    from .link_client import C_STREAM_STOP
    try:
        client.request(C_STREAM_STOP, tries=tries)
        return True
    except Exception:
        return False


def add_parser(sub):
    p = sub.add_parser("record", help="record raw IMU samples from a board into a trace",
                       description="Stream the board's raw accelerometer (and gyro) samples "
                       "into a trace file (see the trace format), for your own test sets. The "
                       "samples are saved as they arrive, in FILE.partial until the recording "
                       "ends; Ctrl-C stops early and keeps what arrived.")
    p.add_argument("--port", help="serial port (default: $RETROSTEP_PORT, else the first board"
                   " found by its USB id)")
    p.add_argument("--seconds", type=float, required=True, metavar="S",
                   help="how long to record (the span of the samples), e.g. 60")
    p.add_argument("--label", metavar="TEXT",
                   help="free text kept in the trace header (e.g. 'backward 100')")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                   help="trace file to write (a new name)")
    return p


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args) -> int:
    import serial

    from .link_client import LinkClient, LinkError
    from .sync_cmd import find_port
    check_seconds(args.seconds)
    out, partial = check_output(args.output)
    port = args.port or find_port()
    old = signal.signal(signal.SIGTERM, _interrupt)   # a kill asks to stop, as Ctrl-C does
    kept = f"what arrived is kept in {partial} (a complete trace: rename it to use it)"
    try:
        with LinkClient.open(port) as c:
            try:
                res = record(c, args.seconds, out, partial, args.label,
                             log=lambda m: print(f"retrostep record: {m}", file=sys.stderr))
            except Stopped as e:
                raise UserError(f"{port}: {e}; " + (kept if partial.exists() else
                                                    "nothing was recorded")) from None
            except LinkError as e:
                raise UserError(f"{port}: {e}; " + (kept if partial.exists() else
                                                    "nothing was recorded")) from None
            except (serial.SerialException, OSError) as e:
                raise UserError(f"{port}: the port went away ({e}); " + (
                    kept if partial.exists() else "nothing was recorded")) from None
    except KeyboardInterrupt:
        print("retrostep record: stopped; " + (kept if partial.exists() else
                                                "nothing had arrived, no file written"),
              file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old)
    print(f"recorded {res['samples']} samples ({res['seconds']:.1f} s at {res['rate_hz']:g} Hz) "
          f"into {res['path']}")
    if res["gaps"]:
        print(f"warning: {res['gaps']} gaps ({res['lost_frames']} frames lost on the wire); "
              "timestamps stay exact", file=sys.stderr)
    if not res["stopped"]:
        print("warning: the board did not confirm the end of streaming: it may still be sending"
              " samples (a reset or replugging it stops that)", file=sys.stderr)
    return 0
