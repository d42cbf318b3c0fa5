"""`retrostep replay TRACE`: runs the detector over one recorded trace and lists what it found.

Prints the step count, the forward/backward/unknown split and the walking bouts
(steps less than BOUT_GAP_S apart) with their start and end times; `--plot` draws
the acceleration magnitude with every detected step marked by its direction.

The trace streams through a block at a time (detector_run.run_file): a day-long
recording replays in the memory of a short one. The plot keeps a fixed number of points
(Envelope: the lowest and highest magnitude of each stretch of samples).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import UserError

BOUT_GAP_S = 3.0
DIR_NAMES = ("unknown", "forward", "backward")
DIR_COLOURS = ("tab:gray", "tab:green", "tab:red")


def bouts(events, gap_s: float = BOUT_GAP_S) -> list[dict]:
    """Group step events ((t_ms, dir) pairs in time order) into bouts split by pauses
    longer than gap_s."""
    out: list[dict] = []
    for t, d in events:
        if out and t - out[-1]["end_ms"] <= gap_s * 1000.0:
            b = out[-1]
            b["end_ms"] = t
        else:
            b = {"start_ms": t, "end_ms": t, "steps": 0, "forward": 0, "backward": 0, "unknown": 0}
            out.append(b)
        b["steps"] += 1
        b[DIR_NAMES[d] if 0 <= d < 3 else "unknown"] += 1
    return out


def clock(ms: float) -> str:
    s = ms / 1000.0
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{int(h)}:{int(m):02d}:{sec:05.2f}" if h >= 1 else f"{int(m)}:{sec:05.2f}"


class Envelope:
    """|a| over a whole trace in at most `points` (time, low, high) points: when full, each
    two neighbours merge (the first's time, the lower low, the higher high), so steps'
    peaks and a long recording's quiet stretches both stay visible in flat memory."""

    def __init__(self, points: int = 20000):
        import numpy as np
        self.cap = points
        self.t = np.empty(0)
        self.lo = np.empty(0)
        self.hi = np.empty(0)
        self.every = 1          # samples per point
        self._skip = 0          # samples still to fold into the last point

    def __call__(self, t_ms, data):
        import numpy as np
        mag = np.sqrt((data[:, :3] ** 2).sum(axis=1))
        if self._skip:          # finish the last point
            k = min(self._skip, len(mag))
            self.lo[-1] = min(self.lo[-1], mag[:k].min())
            self.hi[-1] = max(self.hi[-1], mag[:k].max())
            t_ms, mag, self._skip = t_ms[k:], mag[k:], self._skip - k
        if not len(mag):
            return
        e = self.every
        n = -(-len(mag) // e)
        pad = n * e - len(mag)
        m = np.concatenate([mag, np.full(pad, np.nan)]).reshape(n, e)
        self.t = np.concatenate([self.t, t_ms[::e]])
        self.lo = np.concatenate([self.lo, np.nanmin(m, axis=1)])
        self.hi = np.concatenate([self.hi, np.nanmax(m, axis=1)])
        self._skip = pad
        while len(self.t) > self.cap:
            n2 = len(self.t) // 2 * 2
            odd = len(self.t) - n2
            self.t = np.concatenate([self.t[:n2:2], self.t[n2:]])
            self.lo = np.concatenate([np.minimum(self.lo[:n2:2], self.lo[1:n2:2]), self.lo[n2:]])
            self.hi = np.concatenate([np.maximum(self.hi[:n2:2], self.hi[1:n2:2]), self.hi[n2:]])
            self.every *= 2
            # an unpaired last point holds fewer samples than the rest: fill it up first
            self._skip += self.every // 2 if odd else 0


def plot_formats() -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backend_bases import FigureCanvasBase
    return sorted(FigureCanvasBase.get_supported_filetypes())


def plot_path(name: str) -> Path:
    """The file --plot writes: its name as given, a PNG when it has no extension; refused
    (before any work) when its type is not one matplotlib writes or its folder is missing."""
    from .paths import check_output
    out = Path(name)
    ext = out.suffix.lower().lstrip(".")
    if not ext:
        out = out.with_name(out.name + ".png")
    elif ext not in plot_formats():
        raise UserError(f"--plot {name}: cannot draw a .{ext} file; use one of"
                        f" {', '.join('.' + f for f in plot_formats())}")
    return check_output(out, "--plot")


def plot(name: str, env: Envelope, res, bout_list, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    t0 = env.t[0] if len(env.t) else 0.0
    t = (env.t - t0) / 1000.0
    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    if env.every > 1:
        ax.fill_between(t, env.lo, env.hi, lw=0, color="tab:blue", alpha=0.5,
                        label=f"|a| (g), range of each {env.every} samples")
    else:
        ax.plot(t, env.hi, lw=0.6, color="tab:blue", label="|a| (g)")
    for b in bout_list:
        ax.axvspan((b["start_ms"] - t0) / 1000.0, (b["end_ms"] - t0) / 1000.0,
                   color="gold", alpha=0.15, lw=0)
    for code in (1, 2, 0):
        ts = np.array([e[0] for e in res.events if e[1] == code])
        if len(ts):
            y = np.interp(ts, env.t, env.hi)
            ax.plot((ts - t0) / 1000.0, y, "v", ms=4, color=DIR_COLOURS[code],
                    label=f"{DIR_NAMES[code]} ({len(ts)})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("acceleration magnitude (g)")
    ax.set_title(f"{name}: {res.steps} steps")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(out, format=out.suffix.lstrip(".").lower())
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        plt.close(fig)


def add_parser(sub):
    p = sub.add_parser("replay", help="count the steps in a recorded trace",
                       description="Run the step detector (the board's own code) over a trace"
                       " file and print the steps it finds: forward, backward and of unknown"
                       " direction, and the walking bouts with their times. Any length: the"
                       " file is read a piece at a time.")
    p.add_argument("trace", metavar="TRACE", help="trace file (retrostep-trace/1 CSV)")
    p.add_argument("--plot", metavar="IMAGE",
                   help="draw the signal with the detected steps (.png unless the name says"
                        " .svg, .pdf, ...)")
    p.add_argument("--rate", type=float, default=None, metavar="HZ",
                   help="detector rate, 12.5 to 200 (default: the trace's rate_hz, or 100 for"
                        " a phone's irregular timestamps)")
    p.add_argument("--interpreter", choices=("cpython", "micropython"), default="cpython",
                   help="run the detector under CPython or the MicroPython Unix port (the same"
                        " steps)")
    p.add_argument("--json", metavar="FILE", help="write totals, bouts and events as JSON")
    p.add_argument("--lenient", action="store_true",
                   help="a last line cut short (a recording stopped mid-write) is dropped, or"
                        " kept when it parses, with a warning, instead of refused")
    return p


def run(args) -> int:
    import warnings

    from .detector_run import BREAK_S, check_rate, run_file
    from .paths import check_output
    check_rate(args.rate)
    out = plot_path(args.plot) if args.plot else None
    js = check_output(Path(args.json), "--json") if args.json else None
    env = Envelope() if out else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res, tr = run_file(args.trace, interpreter=args.interpreter, rate_hz=args.rate,
                               strict=not args.lenient, watch=env)
        finally:
            for w in caught:
                print(f"retrostep replay: warning: {w.message}", file=sys.stderr)
    bl = bouts(res.events)
    fa = tr.meta.get("forward_axis", "unknown")
    print(f"{args.trace}: {len(tr)} samples, {tr.duration_s:.1f} s, placement {tr.placement},"
          f" forward axis {fa}, detector at {res.rate_hz:g} Hz")
    if res.breaks:
        print(f"breaks {res.breaks} (gaps over {BREAK_S:g} s in t_ms: nothing is filled in, the"
              " detector starts afresh after each)")
    print(f"steps {res.steps}: forward {res.forward}, backward {res.backward}, unknown {res.unknown}")
    print(f"bouts {len(bl)} (pauses over {BOUT_GAP_S:g} s split them)")
    for i, b in enumerate(bl, 1):
        print(f"  {i:3d}  {clock(b['start_ms'])} - {clock(b['end_ms'])}  {b['steps']:5d} steps"
              f"  (F {b['forward']}, B {b['backward']}, U {b['unknown']})")
    if out and env is not None:
        plot(Path(args.trace).name, env, res, bl, out)
        print(f"plot written to {out}")
    if js:
        doc = {"file": args.trace, "steps": res.steps, "forward": res.forward,
               "backward": res.backward, "unknown": res.unknown, "rate_hz": res.rate_hz,
               "breaks": res.breaks, "bouts": bl,
               "events": [[round(t, 1), DIR_NAMES[d]] for t, d in res.events]}
        try:
            js.write_text(json.dumps(doc, indent=1) + "\n")
        except OSError as e:
            raise UserError(f"cannot write {js}: {e.strerror or e}") from None
    sys.stdout.flush()
    return 0
