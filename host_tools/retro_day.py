"""Retro days: real forward walks and their time-reversed copies spliced into day-like traces.

No public recording holds a day with backward walking in it, so one is made from real
walks: the recordings of a dataset with a known forward axis (`ipol_dev`, `mocap_dev`)
at one placement are strung together into bouts of 10 to 400 steps with standing
between them, in a day's order (mostly forward walking, a few backward sessions among
it), about BACKWARD_SHARE of the steps backward. A backward bout is made of
time-reversed copies of forward walks (host_tools/sim/reverse.py). Standing between
bouts holds the last walk's mean posture (gravity as the sensor saw it walking) and
turns to the next walk's start over a second, as a wearer who stops and sets off again.

Scored against the splice's own truth:
- backward_error_pct: backward steps counted against the true ones;
- false_backward_per_1000: backward steps counted inside forward bouts (or in the
  standing after them) per 1,000 true forward steps;
- forward_only_backward: the same day with every backward bout replaced by forward
  walks: the backward steps counted then, which must stay under the daily retro goal
  (RETRO_GOAL) so that forward walking alone never reaches it.
"""
from __future__ import annotations

import multiprocessing
import sys
from dataclasses import dataclass

import numpy as np

PLACEMENTS = ("lower_back", "waist", "front_pocket", "ankle")
BACKWARD_SHARE = 0.05
DAY_STEPS = 8000
BOUT_STEPS = (10, 400)
BACKWARD_BOUT_STEPS = (10, 150)
PAUSE_S = (5.0, 90.0)
TURN_S = 1.0
RETRO_GOAL = 400          # the firmware's default daily retro goal (firmware/retro.py)
SEEDS = (1, 2)


@dataclass
class Piece:
    t_ms: np.ndarray          # from 0
    data: np.ndarray
    step_ms: np.ndarray


def _pieces(folder, placement: str, rate_hz: float):
    """The forward walks (not runs) at `placement` with a known forward axis, on a common
    grid, and their time-reversed copies: ([forward], [backward], forward_axis)."""
    from .eval_cmd import gait
    from .sim.reverse import reverse_arrays, reverse_steps
    from .trace import read_manifest, read_trace, resample
    fwd, bwd, axis = [], [], None
    for rec in read_manifest(folder).recordings:
        if (rec.placement != placement or rec.direction != "forward" or gait(rec.activity) != "walking"
                or not rec.step_ms or rec.steps < 5):
            continue
        tr = read_trace(rec.path, cache=True)
        if not tr.forward_axis or tr.gyro is None:
            continue
        axis = axis or tr.meta["forward_axis"].strip()
        if tr.meta["forward_axis"].strip() != axis:
            continue
        for rev in (False, True):
            t, d, s = tr.t_ms, tr.data[:, :6], np.asarray(rec.step_ms, float)
            if rev:
                t, d = reverse_arrays(t, d)
                s = np.asarray(reverse_steps(s, float(tr.t_ms[0]), float(tr.t_ms[-1]))[0], float)
            grid, x = resample(t, d, rate_hz)
            (bwd if rev else fwd).append(Piece(grid - grid[0], x, s - grid[0]))
    return fwd, bwd, axis


def _plan(rng, backward: bool = True, day_steps: int = DAY_STEPS):
    """Bouts as (direction, steps): a day's order, forward walking with backward sessions
    among it, until day_steps; about BACKWARD_SHARE of the steps backward."""
    bouts, total, back = [], 0, 0
    while total < day_steps:
        if backward and back < BACKWARD_SHARE * (total + 50) and rng.random() < 0.5:
            n = int(rng.integers(*BACKWARD_BOUT_STEPS))
            bouts.append(("B", n))
            back += n
        else:
            lo, hi = np.log(BOUT_STEPS[0]), np.log(BOUT_STEPS[1])
            n = int(np.exp(rng.uniform(lo, hi)))
            bouts.append(("F", n))
        total += n
    return bouts


def splice(fwd, bwd, bouts, rate_hz: float, rng):
    """The day's samples and truth: (data, step_ms, step_dir, bout spans [(t0, t1, dir)])."""
    dt = 1000.0 / rate_hz
    chunks, steps, dirs, spans = [], [], [], []
    t = 0.0
    last = None
    for d, n in bouts:
        pool = bwd if d == "B" else fwd
        got = 0
        first = True
        t_start = t
        while got < n:
            p = pool[int(rng.integers(len(pool)))]
            if first and last is not None:
                # stand (gravity as over the last walk), then turn to this walk's start
                # over TURN_S
                k_stand = int(rng.uniform(*PAUSE_S) * rate_hz)
                k_turn = int(TURN_S * rate_hz)
                a = last.mean(axis=0)
                b = p.data[0]
                w = 0.5 - 0.5 * np.cos(np.pi * np.arange(k_turn) / k_turn)
                pause = np.vstack([np.repeat(a[None, :], k_stand, 0),
                                   a[None, :] * (1 - w[:, None]) + b[None, :] * w[:, None]])
                pause[:, 3:] = 0.0
                chunks.append(pause)
                t += len(pause) * dt
                t_start = t
            first = False
            chunks.append(p.data)
            steps.extend(t + p.step_ms)
            dirs.extend([d] * len(p.step_ms))
            t += len(p.data) * dt
            got += len(p.step_ms)
            last = p.data
        spans.append((t_start, t, d))
    return np.vstack(chunks), np.asarray(steps), dirs, spans


def _score(events, step_dir, spans):
    """Backward steps counted in backward and forward bouts (a bout's span runs to the
    next bout's start, so steps credited late stay with their bout)."""
    starts = np.array([s[0] for s in spans])
    kind = [s[2] for s in spans]
    found = false = 0
    for t, d in events:
        if d != 2:
            continue
        k = max(0, int(np.searchsorted(starts, t, side="right")) - 1)
        if kind[k] == "B":
            found += 1
        else:
            false += 1
    true_b = sum(1 for x in step_dir if x == "B")
    true_f = len(step_dir) - true_b
    return true_b, true_f, found, false


def _one_day(task):
    folder, placement, seed, rate_hz, interpreter, day_steps = task
    from .detector_run import run_trace
    from .trace import Trace
    fwd, bwd, axis = _pieces(folder, placement, rate_hz)
    if len(fwd) < 3:
        return None
    out = {}
    for mixed in (True, False):
        rng = np.random.default_rng(seed)
        bouts = _plan(rng, backward=mixed, day_steps=day_steps)
        data, step_ms, step_dir, spans = splice(fwd, bwd, bouts, rate_hz, rng)
        t_ms = np.arange(len(data)) * 1000.0 / rate_hz
        meta = {"format": "retrostep-trace/1", "rate_hz": f"{rate_hz:g}", "placement": placement,
                "forward_axis": axis}
        tr = Trace(f"retro day {placement} {seed}", meta, t_ms, data,
                   ("t_ms", "ax", "ay", "az", "gx", "gy", "gz"))
        res = run_trace(tr, interpreter)
        true_b, true_f, found, false = _score(res.events, step_dir, spans)
        if mixed:
            out.update(hours=round(len(data) / rate_hz / 3600.0, 2), true_steps=len(step_dir),
                       steps=res.steps, true_backward=true_b, backward=res.backward,
                       backward_in_backward_bouts=found, backward_in_forward_bouts=false,
                       true_forward=true_f, bouts=len(bouts),
                       backward_bouts=sum(1 for d, _ in bouts if d == "B"))
        else:
            out["forward_only_backward"] = res.backward
    return out


def retro_days(dirs, interpreter: str = "cpython", workers: int = 2, seeds=SEEDS,
               day_steps: int = DAY_STEPS) -> dict:
    """Retro-day figures per dataset and placement (those with walks and a forward axis):
    one day per seed, of about day_steps steps."""
    from .detector_run import detector_rate
    from .trace import read_manifest, read_trace
    tasks = []
    for folder in dirs:
        m = read_manifest(folder)
        for pl in PLACEMENTS:
            recs = [r for r in m.recordings if r.placement == pl and r.direction == "forward"]
            if not recs:
                continue
            rate = detector_rate(read_trace(recs[0].path, cache=True))
            tasks += [(folder, pl, s, rate, interpreter, day_steps) for s in seeds]
    if not tasks:
        return {}
    if workers > 1 and len(tasks) > 1:
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ctx.Pool(min(workers, len(tasks))) as pool:
            days = pool.map(_one_day, tasks)
    else:
        days = [_one_day(t) for t in tasks]
    out: dict = {}
    for (folder, pl, *_), d in zip(tasks, days):
        if d is None:
            continue
        key = f"{read_manifest(folder).dataset} {pl}"
        a = out.setdefault(key, {"days": 0, "forward_only_backward_max": 0})
        a["days"] += 1
        for k, v in d.items():
            if k == "forward_only_backward":
                a["forward_only_backward_max"] = max(a["forward_only_backward_max"], v)
            else:
                a[k] = round(a.get(k, 0) + v, 2)
    for a in out.values():
        tb = max(1, a["true_backward"])
        a["backward_error_pct"] = round(100.0 * (a["backward"] - a["true_backward"]) / tb, 1)
        a["backward_found_pct"] = round(100.0 * a["backward_in_backward_bouts"] / tb, 1)
        a["false_backward_per_1000"] = round(1000.0 * a["backward_in_forward_bouts"]
                                             / max(1, a["true_forward"]), 2)
        a["goal_reached_forward_only"] = a["forward_only_backward_max"] >= RETRO_GOAL
    return out


def format_days(days: dict, day_steps: int = DAY_STEPS) -> str:
    if not days:
        return "== retro days: no walks with a known forward axis in these folders\n"
    lines = [f"== retro days ({day_steps} steps a day, about {BACKWARD_SHARE:.0%} backward in bouts"
             f" of {BACKWARD_BOUT_STEPS[0]}-{BACKWARD_BOUT_STEPS[1]}, forward bouts of"
             f" {BOUT_STEPS[0]}-{BOUT_STEPS[1]}; real walks and their time-reversed copies)"]
    for k, a in days.items():
        lines.append(f"  {k}: {a['days']} days, {a['hours']:.1f} h, {a['true_steps']} steps:"
                     f" backward {a['backward']} counted of {a['true_backward']}"
                     f" ({a['backward_error_pct']:+.1f}%, {a['backward_found_pct']:.1f}% found in"
                     f" backward bouts), {a['false_backward_per_1000']:.2f} false backward per 1,000"
                     f" forward; forward walking alone: at most {a['forward_only_backward_max']}"
                     f" backward a day (goal {RETRO_GOAL}"
                     f" {'REACHED' if a['goal_reached_forward_only'] else 'not reached'})")
    return "\n".join(lines) + "\n"
