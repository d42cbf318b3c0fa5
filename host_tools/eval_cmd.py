"""`retrostep eval DIR [DIR ...]`: the detector against the ground truth of recorded datasets.

Each DIR holds a `manifest.json` and traces (README, "Trace format"). Scoring:
- error = counted - true steps; APE = |error| / true, on recordings with >= 50 true steps
  ("walks"); MAPE is their mean, and the worst one is shown;
- false steps per hour on recordings with < 50 true steps ("short": driving, desk work,
  still, a few steps): sum of max(0, counted - true) over their total duration;
- direction accuracy where the truth has a direction: the share of counted steps labelled
  with the true direction (unknown counts as not right; its share is shown too). For
  `mixed` recordings, counted steps matched to a true step are compared with its label;
- step-time F1 where `step_ms` is given: counted and true steps are paired one to one
  within 250 ms, closest pairs first; precision, recall and F1 from the pairs;
- direction by placement: right / wrong / unknown shares of counted steps for each
  dataset, placement, kind of gait (walking; running) and true direction;
- short walks: recordings of walking with 5 to 20 true steps counted within 2 steps, and
  those of 6 or more counted as nothing; running (8 or more steps): counted against true;
  recordings without steps: false steps per recording, by placement.

`--reverse` adds the time-reversed copy of every recording with steps and a direction
(host_tools/sim/reverse.py: walking backward is close to walking forward played
backwards), as a dataset named `<dataset>~reversed`; `--standing` adds every walk with
the wearer standing still for 4 s before and after it (`<dataset>~standing`: the
recordings end on their last step, where the input ends; at home a short walk ends in
standing); `--retro-day` adds the retro-day figure (host_tools/retro_day.py).

From a script: `evaluate(dirs, interpreter="cpython")` returns the same figures.
"""
from __future__ import annotations

import json
import multiprocessing
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError

WALK_MIN_STEPS = 50
SHORT_WALK = (5, 20)      # true steps of a short walk
SHORT_MISSED_MIN = 6      # a short walk of this many steps must not be missed entirely
RUN_MIN_STEPS = 8
REVERSED = "~reversed"
STANDING = "~standing"
STAND_S = 4.0             # standing still before and after a walk (--standing)
STAND_NOISE_G = 0.003     # an accelerometer's noise at rest, g rms
MATCH_TOL_MS = 250.0
DIR_UNKNOWN, DIR_FORWARD, DIR_BACKWARD = 0, 1, 2


# ---------------------------------------------------------------- scoring

def match_steps(detected_ms, true_ms, tol_ms: float = MATCH_TOL_MS) -> list[tuple[int, int]]:
    """Greedy one-to-one pairing of detected and true step times within tol_ms, closest
    pairs first (ties: earlier detection first). Returns (detected index, true index) pairs."""
    d = np.asarray(detected_ms, dtype=np.float64)
    t = np.asarray(true_ms, dtype=np.float64)
    if len(d) == 0 or len(t) == 0:
        return []
    order = np.argsort(t, kind="stable")
    ts = t[order]
    lo = np.searchsorted(ts, d - tol_ms, side="left")
    hi = np.searchsorted(ts, d + tol_ms, side="right")
    cands = []
    for i in range(len(d)):
        for k in range(lo[i], hi[i]):
            cands.append((abs(d[i] - ts[k]), i, int(order[k])))
    cands.sort()
    used_d: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for _, i, j in cands:
        if i not in used_d and j not in used_t:
            used_d.add(i)
            used_t.add(j)
            pairs.append((i, j))
    pairs.sort()
    return pairs


def f1_scores(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    r = tp / (tp + fn) if tp + fn else (1.0 if fp == 0 else 0.0)
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score_recording(rec, res, duration_s: float) -> dict:
    """Per-recording figures from a manifest Recording and a detector_run.RunResult."""
    true = rec.steps
    out = {
        "error": res.steps - true,
        "ape": abs(res.steps - true) / true * 100.0 if true >= WALK_MIN_STEPS else None,
        "false_steps": max(0, res.steps - true) if true < WALK_MIN_STEPS else None,
        "dir_right": None, "dir_total": None,
        "tp": None, "fp": None, "fn": None, "f1": None,
    }
    pairs = None
    if rec.step_ms is not None:
        pairs = match_steps([t for t, _ in res.events], rec.step_ms)
        tp = len(pairs)
        out.update(tp=tp, fp=len(res.events) - tp, fn=len(rec.step_ms) - tp)
        out["f1"] = f1_scores(tp, out["fp"], out["fn"])[2]
    if rec.direction in ("forward", "backward"):
        want = DIR_FORWARD if rec.direction == "forward" else DIR_BACKWARD
        out["dir_right"] = res.forward if want == DIR_FORWARD else res.backward
        out["dir_total"] = res.steps
    elif rec.direction == "mixed" and pairs is not None and rec.step_dir is not None:
        right = 0
        for i, j in pairs:
            want = DIR_FORWARD if rec.step_dir[j] == "F" else DIR_BACKWARD
            right += res.events[i][1] == want
        out["dir_right"] = right
        out["dir_total"] = len(pairs)
    return out


# ---------------------------------------------------------------- running

@dataclass
class EvalResult:
    recordings: list[dict]
    summary: dict
    datasets: list[str] = field(default_factory=list)

    def table(self) -> str:
        return format_table(self)

    def to_json(self) -> dict:
        return {"recordings": self.recordings, "summary": self.summary}


def reversed_recording(rec, tr):
    """The time-reversed copy of a recording and its trace: directions swap, step times
    are mirrored (host_tools/sim/reverse.py)."""
    import copy
    from dataclasses import replace
    from .sim.reverse import reverse_arrays, reverse_steps
    t0, t1 = float(tr.t_ms[0]), float(tr.t_ms[-1])
    tr2 = copy.copy(tr)
    tr2.t_ms, tr2.data = reverse_arrays(tr.t_ms, tr.data)
    swap = {"forward": "backward", "backward": "forward"}
    step_ms, step_dir = rec.step_ms, rec.step_dir
    if step_ms is not None:
        dirs = step_dir or ["B" if rec.direction == "backward" else "F"] * len(step_ms)
        step_ms, step_dir = reverse_steps(step_ms, t0, t1, dirs)
        step_dir = step_dir if rec.direction == "mixed" else None
    return replace(rec, direction=swap.get(rec.direction, rec.direction), step_ms=step_ms,
                   step_dir=step_dir), tr2


def standing_recording(rec, tr, seconds: float = STAND_S):
    """A walk with the wearer standing still for `seconds` before and after it, as a short
    walk at home is: gravity as the walk's first and last samples have it (scaled to 1 g),
    an accelerometer's noise, the gyro at rest. The trials end on their last step, so
    the walk's end is otherwise the input's end (the detector's flush)."""
    import copy
    import zlib
    from dataclasses import replace
    t, d = tr.t_ms, tr.data
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 10.0
    n = int(round(seconds * 1000.0 / dt))
    rng = np.random.default_rng(zlib.crc32(rec.file.encode()))

    def still(row):
        x = np.zeros(d.shape[1])
        g = row[:3]
        x[:3] = g / max(1e-6, float(np.linalg.norm(g)))
        out = np.tile(x, (n, 1))
        out[:, :3] += rng.normal(0.0, STAND_NOISE_G, (n, 3))
        return out

    tr2 = copy.copy(tr)
    tr2.data = np.vstack([still(d[0]), d, still(d[-1])]).astype(d.dtype)
    shift = n * dt - float(t[0])     # the new trace starts at 0
    tr2.t_ms = np.concatenate([dt * np.arange(n), t + shift, t[-1] + shift + dt * np.arange(1, n + 1)])
    step_ms = None if rec.step_ms is None else [x + shift for x in rec.step_ms]
    return replace(rec, step_ms=step_ms), tr2


def _eval_one(task) -> dict:
    """One recording's row; a recording that cannot be read or run is a row with "failed"
    (the message) instead of its figures, so the others are still scored."""
    import warnings
    dataset, rec, interpreter, rate_hz, keep_events, strict, variant = task
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            row = _score_one(dataset, rec, interpreter, rate_hz, keep_events, strict, variant)
        except UserError as e:
            row = _failed_row(dataset, rec, str(e))
        except Exception as e:   # a bug, but the run's other recordings still count
            row = _failed_row(dataset, rec, f"{type(e).__name__}: {e}")
    if caught:
        row["warnings"] = [str(w.message) for w in caught]
    return row


def _failed_row(dataset, rec, msg: str) -> dict:
    return {"dataset": dataset, "file": rec.file, "placement": rec.placement,
            "activity": rec.activity, "true_steps": rec.steps, "true_direction": rec.direction,
            "failed": msg}


def _score_one(dataset, rec, interpreter, rate_hz, keep_events, strict, variant="") -> dict:
    # variant: "" the recording as it is, REVERSED or STANDING the copy of that name
    from .detector_run import LSB_PER_G, prepare, run_prepared
    from .trace import read_trace
    tr = read_trace(rec.path, strict=strict, cache=True)
    if variant == REVERSED:
        rec, tr = reversed_recording(rec, tr)
    elif variant == STANDING:
        rec, tr = standing_recording(rec, tr)
    placement = rec.placement
    own = tr.meta.get("placement")
    if placement == "unknown":
        placement = tr.placement
    elif own and own != placement:
        raise UserError(f"{rec.path}: the manifest says placement {placement!r} but the trace's"
                        f" header says {own!r}: correct the one that is wrong")
    p = prepare(tr, rate_hz, LSB_PER_G, placement=placement)
    res = run_prepared(p, interpreter)
    row = {
        "dataset": dataset, "file": rec.file, "placement": placement,
        "activity": rec.activity, "true_steps": rec.steps, "steps": res.steps,
        "forward": res.forward, "backward": res.backward, "unknown": res.unknown,
        "true_direction": rec.direction, "duration_s": round(tr.duration_s, 3),
        "rate_hz": p.rate_hz,
    }
    if res.breaks:
        row["breaks"] = res.breaks
    row.update(score_recording(rec, res, tr.duration_s))
    if keep_events:
        row["events_ms"] = [[round(t, 1), d] for t, d in res.events]
    return row


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, enabled: bool, width: int = 30):
        self.total, self.enabled, self.width, self.done = total, enabled, width, 0
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def step(self, label: str):
        self.done += 1
        if not self.enabled:
            return
        filled = self.width * self.done // max(1, self.total)
        el = time.monotonic() - self.t0
        bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {el:5.1f}s"
        if self.tty:
            sys.stderr.write(f"\r{bar} {label[:40]:<40}")
            if self.done == self.total:
                sys.stderr.write("\n")
        elif filled * 10 // self.width != self.shown or self.done == self.total:
            self.shown = filled * 10 // self.width   # a log gets a line per tenth
            sys.stderr.write(bar + "\n")
        sys.stderr.flush()


def reversible(rec) -> bool:
    """A recording whose time-reversed copy is a walk the other way."""
    return rec.steps > 0 and rec.direction in ("forward", "backward")


def is_walk(rec) -> bool:
    """A recording of walking (a bout the wearer can stand still around)."""
    return rec.steps > 0 and gait(rec.activity or "") == "walking"


def evaluate(dirs, interpreter: str = "cpython", workers: int = 2, progress: bool = False,
             rate_hz: float | None = None, keep_events: bool = False,
             strict: bool = True, reverse: bool = False, standing: bool = False) -> EvalResult:
    """Run the detector over every recording listed in each folder's manifest and score it;
    with reverse=True, the time-reversed copies too (dataset `<name>~reversed`); with
    standing=True, every walk with standing still before and after (`<name>~standing`).
    A recording that cannot be read is a row with "failed" (its message); the summary
    scores the others and counts these as n_failed. `strict=False` reads traces leniently."""
    from .trace import read_manifest
    if interpreter not in ("cpython", "micropython"):
        raise UserError(f"--interpreter must be cpython or micropython, not {interpreter!r}")
    t0 = time.monotonic()
    tasks = []
    names = []
    for d in dirs:
        m = read_manifest(d)
        if m.dataset in names:
            raise UserError(f"{d}: dataset {m.dataset!r} given twice")
        names.append(m.dataset)
        for rec in m.recordings:
            tasks.append((m.dataset, rec, interpreter, rate_hz, keep_events, strict, ""))
        for variant, wanted, keep in ((REVERSED, reverse, reversible), (STANDING, standing, is_walk)):
            if wanted:
                names.append(m.dataset + variant)
                tasks += [(m.dataset + variant, rec, interpreter, rate_hz, keep_events, strict, variant)
                          for rec in m.recordings if keep(rec)]
    order = {(t[0], t[1].file): i for i, t in enumerate(tasks)}   # manifest order
    # longest first keeps both workers busy to the end
    tasks.sort(key=lambda t: -t[1].path.stat().st_size)
    bar = Progress(len(tasks), progress)
    rows = []
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            rows.append(_eval_one(t))
            bar.step(t[1].file)
    else:
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ctx.Pool(min(workers, len(tasks))) as pool:
            for row in pool.imap_unordered(_eval_one, tasks):
                rows.append(row)
                bar.step(row["file"])
    rows.sort(key=lambda r: order[(r["dataset"], r["file"])])
    summary = summarise(rows, names)
    from .detector_run import LSB_PER_G, PHONE_RATE_HZ
    summary.update(interpreter=interpreter, lsb_per_g=LSB_PER_G,
                   phone_rate_hz=PHONE_RATE_HZ if rate_hz is None else rate_hz,
                   elapsed_s=round(time.monotonic() - t0, 2))
    return EvalResult(rows, summary, names)


def _dataset_summary(rows: list[dict]) -> dict:
    failed = len([r for r in rows if "failed" in r])
    rows = [r for r in rows if "failed" not in r]
    walks = [r for r in rows if r["ape"] is not None]
    short = [r for r in rows if r["false_steps"] is not None]
    dirs = [r for r in rows if r["dir_total"] is not None]
    timed = [r for r in rows if r["tp"] is not None]
    s: dict = {"n_recordings": len(rows) + failed, "n_walks": len(walks), "n_failed": failed}
    if walks:
        worst = max(walks, key=lambda r: r["ape"])
        s.update(mape=float(np.mean([r["ape"] for r in walks])), worst_ape=worst["ape"],
                 worst_file=worst["file"])
    else:
        s.update(mape=None, worst_ape=None, worst_file=None)
    hours = sum(r["duration_s"] for r in short) / 3600.0
    fs = sum(r["false_steps"] for r in short)
    s.update(n_short=len(short), short_hours=round(hours, 4), false_steps=fs,
             false_steps_per_hour=fs / hours if hours > 0 else None)
    tot = sum(r["dir_total"] for r in dirs)
    right = sum(r["dir_right"] for r in dirs)
    unk = sum(r["unknown"] for r in dirs)
    counted = sum(r["steps"] for r in dirs)
    s.update(direction_accuracy=right / tot if tot else None,
             unknown_share=unk / counted if counted else None)
    if timed:
        tp, fp, fn = (sum(r[k] for r in timed) for k in ("tp", "fp", "fn"))
        p, rc, f = f1_scores(tp, fp, fn)
        s.update(f1=f, precision=p, recall=rc, n_timed=len(timed))
    else:
        s.update(f1=None, precision=None, recall=None, n_timed=0)
    s.update(steps=sum(r["steps"] for r in rows), true_steps=sum(r["true_steps"] for r in rows))
    s["direction_by_placement"] = direction_table(rows)
    s["short_walks"] = short_walk_figures(rows)
    return s


def gait(activity: str) -> str:
    """The kind of gait a manifest's activity names: running or walking."""
    return "running" if "run" in (activity or "") else "walking"


def direction_table(rows: list[dict]) -> dict:
    """Right / wrong / unknown shares of counted steps, keyed "placement gait direction",
    over the recordings with a forward or backward truth."""
    agg: dict = {}
    for r in rows:
        d = r.get("true_direction")
        if d not in ("forward", "backward"):
            continue
        a = agg.setdefault(f"{r['placement']} {gait(r.get('activity', ''))} {d}",
                           {"recordings": 0, "steps": 0, "right": 0, "wrong": 0, "unknown": 0})
        right, wrong = ("forward", "backward") if d == "forward" else ("backward", "forward")
        a["recordings"] += 1
        a["steps"] += r["steps"]
        a["right"] += r[right]
        a["wrong"] += r[wrong]
        a["unknown"] += r["unknown"]
    for a in agg.values():
        n = max(1, a["steps"])
        for k in ("right", "wrong", "unknown"):
            a[k + "_pct"] = round(100.0 * a[k] / n, 2)
    return dict(sorted(agg.items()))


def short_walk_figures(rows: list[dict]) -> dict:
    """Per placement: short walks (walking, 5-20 true steps) counted within 2 steps and
    missed entirely (6 or more true steps, none counted); runs of 8 or more steps counted
    against true; false steps per recording without steps."""
    out: dict = {}
    lo, hi = SHORT_WALK
    for r in rows:
        pl = out.setdefault(r.get("placement", "unknown"), {})
        true, n = r["true_steps"], r["steps"]
        if gait(r.get("activity", "")) == "walking" and lo <= true <= hi and r.get("true_direction") != "none":
            w = pl.setdefault("short_walks", {"recordings": 0, "within_2": 0, "missed": 0})
            w["recordings"] += 1
            w["within_2"] += abs(n - true) <= 2
            w["missed"] += true >= SHORT_MISSED_MIN and n == 0
        elif gait(r.get("activity", "")) == "running" and true >= RUN_MIN_STEPS:
            w = pl.setdefault("runs", {"recordings": 0, "true_steps": 0, "steps": 0})
            w["recordings"] += 1
            w["true_steps"] += true
            w["steps"] += n
        elif true == 0:
            w = pl.setdefault("no_steps", {"recordings": 0, "false_steps": 0})
            w["recordings"] += 1
            w["false_steps"] += n
    for pl in out.values():
        if "short_walks" in pl:
            w = pl["short_walks"]
            w["within_2_pct"] = round(100.0 * w["within_2"] / w["recordings"], 1)
        if "runs" in pl:
            w = pl["runs"]
            w["error_pct"] = round(100.0 * (w["steps"] - w["true_steps"]) / max(1, w["true_steps"]), 1)
        if "no_steps" in pl:
            w = pl["no_steps"]
            w["per_recording"] = round(w["false_steps"] / w["recordings"], 2)
    return {k: v for k, v in sorted(out.items()) if v}


def summarise(rows: list[dict], names: list[str]) -> dict:
    out = {"datasets": {n: _dataset_summary([r for r in rows if r["dataset"] == n]) for n in names}}
    if len(names) > 1:
        out["all"] = _dataset_summary(rows)
    return out


# ---------------------------------------------------------------- printing

def _pct(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def format_table(res: EvalResult) -> str:
    lines = []
    for name in res.datasets:
        rows = [r for r in res.recordings if r["dataset"] == name]
        lines.append(f"== {name} ({len(rows)} recordings)")
        w = max([len(r["file"]) for r in rows] + [4])
        lines.append(f"{'file':<{w}} {'placement':<13} {'true':>6} {'count':>6} {'error':>6} "
                     f"{'APE%':>6} {'fwd':>6} {'bwd':>5} {'unk':>6} {'F1':>5}")
        for r in rows:
            if "failed" in r:
                lines.append(f"{r['file']:<{w}} {r['placement']:<13} {r['true_steps']:>6} failed: {r['failed']}")
                continue
            lines.append(f"{r['file']:<{w}} {r['placement']:<13} {r['true_steps']:>6} {r['steps']:>6} "
                         f"{r['error']:>+6} {_pct(r['ape']):>6} {r['forward']:>6} {r['backward']:>5} "
                         f"{r['unknown']:>6} {_pct(r['f1'], 3):>5}")
        lines.append(_summary_line(res.summary["datasets"][name]))
        lines.append("")
    if "all" in res.summary:
        lines.append("== all datasets")
        lines.append(_summary_line(res.summary["all"]))
    return "\n".join(lines).rstrip() + "\n"


def _summary_line(s: dict) -> str:
    parts = []
    if s.get("n_failed"):
        parts.append(f"{s['n_failed']} of {s['n_recordings']} recordings could not be read"
                     " (marked failed): the figures are of the others")
    if s["n_walks"]:
        parts.append(f"MAPE {s['mape']:.2f}% on {s['n_walks']} walks (worst {s['worst_ape']:.1f}%"
                     f" {s['worst_file']})")
    if s["n_short"]:
        fph = s["false_steps_per_hour"]
        parts.append(f"false steps {s['false_steps']} in {s['short_hours']:.2f} h on {s['n_short']}"
                     f" short recordings = {_pct(fph)} /h")
    if s["direction_accuracy"] is not None:
        parts.append(f"direction right {s['direction_accuracy'] * 100:.1f}%"
                     f" (unknown {s['unknown_share'] * 100:.1f}%)")
    if s["f1"] is not None:
        parts.append(f"step-time F1 {s['f1']:.3f} (P {s['precision']:.3f} R {s['recall']:.3f},"
                     f" {MATCH_TOL_MS:.0f} ms)")
    table = s.get("direction_by_placement") or {}
    if any(k.split()[0] != "unknown" for k in table) and len(table) > 0:
        parts.append("direction by placement (of counted steps: right / wrong / unknown):")
        for k, a in table.items():
            parts.append(f"  {k}: {a['steps']} steps in {a['recordings']} recordings:"
                         f" {a['right_pct']:.1f}% / {a['wrong_pct']:.2f}% / {a['unknown_pct']:.1f}%")
    for pl, f in (s.get("short_walks") or {}).items():
        bits = []
        if "short_walks" in f:
            w = f["short_walks"]
            bits.append(f"short walks {w['within_2_pct']:.1f}% within 2 steps ({w['recordings']},"
                        f" {w['missed']} missed)")
        if "runs" in f:
            w = f["runs"]
            bits.append(f"runs {w['steps']} of {w['true_steps']} steps ({w['error_pct']:+.1f}%)")
        if "no_steps" in f and f["no_steps"]["recordings"] and "short_walks" in f:
            w = f["no_steps"]
            bits.append(f"{w['per_recording']:.2f} false steps per recording without steps"
                        f" ({w['recordings']})")
        if bits:
            parts.append(f"{pl}: " + "; ".join(bits))
    return "  " + "\n  ".join(parts) if parts else "  (nothing to score)"


# ---------------------------------------------------------------- command

def add_parser(sub):
    p = sub.add_parser("eval", help="score the detector against recorded datasets",
                       description="Count the steps in every recording of each dataset folder"
                       " (traces and a manifest.json with the true counts) and compare: the"
                       " error per recording, the mean error over walks, false steps per hour,"
                       " the share of steps given the right direction, and step-time F1. A"
                       " recording that cannot be read is listed as failed; the rest are scored.")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="dataset folder with a manifest.json")
    p.add_argument("--json", metavar="FILE", help="write per-recording results and the summary")
    p.add_argument("--interpreter", choices=("cpython", "micropython"), default="cpython",
                   help="run the detector file under CPython or the MicroPython Unix port")
    p.add_argument("--rate", type=float, default=None, metavar="HZ",
                   help="run the detector at this rate, 12.5 to 200, for every trace (default:"
                        " each trace's rate_hz, or 100 for a phone's irregular timestamps)")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="processes (default 2)")
    p.add_argument("--lenient", action="store_true",
                   help="a trace's last line cut short is dropped, or kept when it parses, with"
                        " a warning, instead of failing that recording")
    p.add_argument("--reverse", action="store_true",
                   help="also score the time-reversed copy of every walk (as backward walking)")
    p.add_argument("--standing", action="store_true",
                   help="also score every walk with the wearer standing still for"
                        f" {STAND_S:.0f} s before and after it (a short walk at home)")
    p.add_argument("--retro-day", action="store_true",
                   help="also splice the walks with a known forward axis into retro days and"
                        " score the backward steps found (host_tools/retro_day.py)")
    return p


def run(args) -> int:
    from .detector_run import check_rate
    from .paths import check_output
    check_rate(args.rate)
    if args.workers < 1:
        raise UserError("--workers must be 1 or more")
    js = check_output(args.json, "--json") if args.json else None
    res = evaluate(args.dirs, interpreter=args.interpreter, workers=args.workers,
                   progress=True, rate_hz=args.rate, strict=not args.lenient,
                   reverse=args.reverse, standing=args.standing)
    for r in res.recordings:
        for w in r.get("warnings", []):
            print(f"retrostep eval: warning: {w}", file=sys.stderr)
    sys.stdout.write(res.table())
    print(f"({len(res.recordings)} recordings, {args.interpreter}, {res.summary['elapsed_s']:.1f} s)")
    if args.retro_day:
        from .retro_day import format_days, retro_days
        days = retro_days(args.dirs, interpreter=args.interpreter, workers=args.workers)
        res.summary["retro_day"] = days
        sys.stdout.write(format_days(days))
    if js:
        try:
            js.write_text(json.dumps(res.to_json(), indent=1) + "\n")
        except OSError as e:
            raise UserError(f"cannot write {args.json}: {e.strerror or e}") from None
    failed = [r for r in res.recordings if "failed" in r]
    if failed:
        print(f"retrostep eval: {len(failed)} recording{'s' if len(failed) > 1 else ''} could"
              " not be read:", file=sys.stderr)
        for r in failed:
            print(f"  {r['failed']}", file=sys.stderr)
        return 1
    return 0
