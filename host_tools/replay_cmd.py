"""`retrostep replay TRACE`: runs the detector over one recorded trace and lists what it found.

Prints the step count, the forward/backward/unknown split and the walking bouts
(steps less than BOUT_GAP_S apart) with their start and end times; `--plot` draws
the acceleration magnitude with every detected step marked by its direction.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import UserError

BOUT_GAP_S = 3.0
DIR_NAMES = ("unknown", "forward", "backward")
DIR_COLOURS = ("tab:gray", "tab:green", "tab:red")


def bouts(events: list[tuple[float, int]], gap_s: float = BOUT_GAP_S) -> list[dict]:
    """Group step events (t_ms, dir) into bouts split by pauses longer than gap_s."""
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


def plot(trace, res, bout_list, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    t = (trace.t_ms - trace.t_ms[0]) / 1000.0
    mag = np.sqrt((trace.accel ** 2).sum(axis=1))
    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    ax.plot(t, mag, lw=0.6, color="tab:blue", label="|a| (g)")
    for b in bout_list:
        ax.axvspan((b["start_ms"] - trace.t_ms[0]) / 1000.0, (b["end_ms"] - trace.t_ms[0]) / 1000.0,
                   color="gold", alpha=0.15, lw=0)
    for code in (1, 2, 0):
        ts = np.array([e[0] for e in res.events if e[1] == code])
        if len(ts):
            y = np.interp(ts, trace.t_ms, mag)
            ax.plot((ts - trace.t_ms[0]) / 1000.0, y, "v", ms=4, color=DIR_COLOURS[code],
                    label=f"{DIR_NAMES[code]} ({len(ts)})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("acceleration magnitude (g)")
    ax.set_title(f"{Path(trace.path).name}: {res.steps} steps")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(out)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        plt.close(fig)


def add_parser(sub):
    p = sub.add_parser("replay", help="run the detector over a recorded trace",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("trace", metavar="TRACE", help="trace file (retrostep-trace/1 CSV)")
    p.add_argument("--plot", metavar="PNG", help="draw the signal with the detected steps")
    p.add_argument("--rate", type=float, default=None, metavar="HZ",
                   help="detector rate (default: the trace's rate_hz, or the phone rate)")
    p.add_argument("--interpreter", choices=("cpython", "micropython"), default="cpython")
    p.add_argument("--json", metavar="FILE", help="write totals, bouts and events as JSON")
    p.add_argument("--lenient", action="store_true",
                   help="drop a truncated last line with a warning instead of failing")
    return p


def run(args) -> int:
    from .detector_run import run_trace
    from .trace import read_trace
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tr = read_trace(args.trace, strict=not args.lenient)
    for w in caught:
        print(f"retrostep replay: warning: {w.message}", file=sys.stderr)
    res = run_trace(tr, interpreter=args.interpreter, rate_hz=args.rate)
    bl = bouts(res.events)
    fa = tr.meta.get("forward_axis", "unknown")
    print(f"{args.trace}: {len(tr)} samples, {tr.duration_s:.1f} s, placement {tr.placement},"
          f" forward axis {fa}, detector at {res.rate_hz:g} Hz")
    print(f"steps {res.steps}: forward {res.forward}, backward {res.backward}, unknown {res.unknown}")
    print(f"bouts {len(bl)} (pauses over {BOUT_GAP_S:g} s split them)")
    for i, b in enumerate(bl, 1):
        print(f"  {i:3d}  {clock(b['start_ms'])} - {clock(b['end_ms'])}  {b['steps']:5d} steps"
              f"  (F {b['forward']}, B {b['backward']}, U {b['unknown']})")
    if args.plot:
        plot(tr, res, bl, Path(args.plot))
        print(f"plot written to {args.plot}")
    if args.json:
        doc = {"file": args.trace, "steps": res.steps, "forward": res.forward,
               "backward": res.backward, "unknown": res.unknown, "rate_hz": res.rate_hz,
               "bouts": bl, "events": [[round(t, 1), DIR_NAMES[d]] for t, d in res.events]}
        try:
            Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
        except OSError as e:
            raise UserError(f"cannot write {args.json}: {e.strerror or e}") from None
    sys.stdout.flush()
    return 0
