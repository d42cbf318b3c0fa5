"""Benchmark of stumble and fall detection (`retrostep bench` runs `run`).

Runs firmware/fall.py, unchanged, over simulated stumbles and falls and over the
activities that must not raise one (sitting down hard, jumping, putting the device on a
table), at the sample rates boards use, and prints detection and false-alarm rates. The
rhythm a stumble breaks comes from the true steps, handed over late as the step detector
credits them; with recordings present, forward walking from the public datasets (with the
step detector's own events) gives false alarms per hour of ordinary walking.
"""
from __future__ import annotations

import json
import time
from array import array

import numpy as np

from .sim import falls as simfalls

LSB_PER_G = 4096            # +-8 g, as the detector's host runs use
STEP_LATE_MS = 1500         # true steps reach the detector this late (the detector's delay)
MATCH_MS = 1500             # an event this close to the true time counts as the detection
BATCH = 25


def _fall_module():
    from .mpcompat import firmware_module
    return firmware_module("fall")


def step_plan(n: int, rate_hz: float, steps_ms=(), steps_dir=(), late_ms: float = STEP_LATE_MS,
              batch: int = BATCH) -> list[list[int]]:
    """When each true step reaches the detector: [batch number, sample index, DIR_*] rows,
    a step handed over with the first batch that ends `late_ms` after it."""
    plan = []
    for t, d in sorted(zip((float(x) for x in steps_ms), (int(x) for x in steps_dir))):
        idx = int(round(t * rate_hz / 1000.0))
        due = idx + int(round(late_ms * rate_hz / 1000.0))
        b = due // batch            # batch b ends with sample b * batch + batch - 1
        if b * batch >= n:
            continue
        plan.append([b, idx, d])
    return plan


def batch_now_ms(last: int, rate_hz: float) -> int:
    """ticks_ms of sample `last` when sample 0 was at 0 (integer: same on both interpreters)."""
    return last * 10000 // int(round(rate_hz * 10))


def run_counts(counts: np.ndarray, rate_hz: float, steps_ms=(), steps_dir=(),
               lsb_per_g: int = LSB_PER_G, late_ms: float = STEP_LATE_MS, mod=None):
    """Feeds int16 samples (n, 3) through FallDetector in batches, the true steps handed over
    `late_ms` after they happened; returns the records it made (times in ms from sample 0)."""
    mod = mod or _fall_module()
    out: list[dict] = []
    fd = mod.FallDetector(rate_hz, lsb_per_g, on_record=out.append)
    flat = array("h", np.ascontiguousarray(counts, dtype=np.int16).ravel().tobytes())
    n = len(counts)
    plan = step_plan(n, rate_hz, steps_ms, steps_dir, late_ms)
    pi = 0
    idx = array("i", [0] * 64)
    dirs = bytearray(64)
    for b, start in enumerate(range(0, n, BATCH)):
        c = min(BATCH, n - start)
        fd.feed(flat[start * 3:(start + c) * 3], c, 3)
        last = start + c - 1                 # index of the newest sample
        k = 0
        while pi < len(plan) and plan[pi][0] <= b and k < 64:
            idx[k] = plan[pi][1]
            dirs[k] = plan[pi][2]
            k += 1
            pi += 1
        if k:
            fd.note_steps(idx, dirs, k, last + 1)    # as det.n: one past the newest
        fd.poll(batch_now_ms(last, rate_hz))
    return out


def run_segment(seg: simfalls.Segment, lsb_per_g: int = LSB_PER_G, mod=None):
    return run_counts(seg.counts(lsb_per_g), seg.rate_hz, seg.steps_ms, seg.steps_dir,
                      lsb_per_g=lsb_per_g, mod=mod)


def score(seg: simfalls.Segment, events: list[dict]) -> dict:
    """detected: an event of the true kind near the true time; false: any other event."""
    hit = None
    if seg.label is not None:
        for e in events:
            if e["kind"] == seg.label and abs(e["t"] - seg.event_ms) <= MATCH_MS:
                hit = e
                break
    extra = [e for e in events if e is not hit]
    return {"detected": hit is not None, "false": len(extra), "event": hit, "extra": extra}


def _walking_false_alarms(mod, quick: bool):
    """Stumbles/falls reported on real recordings of ordinary walking (detector's steps)."""
    from .paths import data_dir
    root = data_dir()
    if not root.exists():
        return None
    from .detector_run import prepare, run_prepared
    from .trace import read_trace
    total_s = 0.0
    n_false = 0
    files = 0
    for ds in ("bangle", "oxford"):
        man = root / ds / "manifest.json"
        if not man.exists():
            continue
        recs = [r for r in json.loads(man.read_text())["recordings"] if r.get("steps", 0) >= 50]
        if quick:
            recs = recs[::8]
        for r in recs:
            p = prepare(read_trace(root / ds / r["file"], cache=True))
            res = run_prepared(p)
            out = run_counts(p.samples, p.rate_hz, [e[0] - p.t0_ms for e in res.events],
                             [e[1] for e in res.events], lsb_per_g=p.lsb_per_g, mod=mod)
            n_false += len(out)
            total_s += len(p.samples) / p.rate_hz
            files += 1
    if not files:
        return None
    return {"recordings": files, "hours": total_s / 3600.0, "false_alarms": n_false,
            "per_hour": n_false / (total_s / 3600.0) if total_s else 0.0}


SCENARIOS = {
    "stumble": ("walk 40, stumble, walk 20", "stumble"),
    "stumble_back": ("retro 40, stumble_back, retro 20", "stumble"),
    "fall": ("walk 30, fall", "fall"),
    "fall_back": ("retro 30, fall_back", "fall"),
    "sit_hard": ("walk 30, sit_hard 15s", None),
    "jump": ("stand 5s, jump 3, stand 5s", None),
    "table": ("walk 20, table 30s", None),
}


def _scenarios(mod, seeds=(0, 1, 2), placements=("waist", "front_pocket", "wrist")):
    """The events as segments of the simulator's scenarios (its own gait and sensor models)."""
    from .sim import simulate
    simfalls.register_script_names()
    out = {}
    for name, (script, kind) in SCENARIOS.items():
        r = {"n": 0, "found": 0, "false": 0}
        for place in placements:
            for seed in seeds:
                tr = simulate(script=script, placement=place, rate_hz=50, seed=seed)
                dirs = [2 if d == "B" else 1 for d in tr.step_dir]
                ev = run_counts(tr.raw[:, :3], tr.rate_hz, tr.step_ms, dirs,
                                lsb_per_g=int(round(tr.lsb_per_g)), mod=mod)
                truth = [t for t, k in tr.events if k == kind] if kind else []
                hit = [e for e in ev if truth and e["kind"] == kind
                       and abs(e["t"] - truth[0]) <= MATCH_MS]
                r["n"] += 1
                r["found"] += bool(hit)
                r["false"] += len(ev) - len(hit[:1])
        out[name] = r
    return out


def run(quick: bool) -> dict:
    mod = _fall_module()
    per_kind = 12 if quick else 60
    rates = (25.0, 50.0) if quick else (12.5, 25.0, 50.0, 100.0)
    t0 = time.perf_counter()
    rows = {}
    by_rate: dict = {}
    for kind in simfalls.ALL_KINDS:
        det = fa = fseg = n = 0
        for rate in rates:
            for seed in range(per_kind):
                place = "pocket" if seed % 3 == 2 else "waist"
                seg = simfalls.make(kind, rate_hz=rate, seed=seed * 101 + int(rate), placement=place)
                s = score(seg, run_segment(seg, mod=mod))
                n += 1
                det += s["detected"]
                fa += s["false"]
                fseg += s["false"] > 0
                r = by_rate.setdefault(rate, {"pos": 0, "hit": 0, "neg": 0, "alarm": 0})
                if seg.label is not None and kind != "fall_soft":
                    r["pos"] += 1
                    r["hit"] += s["detected"]
                elif seg.label is None:
                    r["neg"] += 1
                    r["alarm"] += s["false"] > 0
        rows[kind] = {"n": n, "detected": det, "false": fa, "segments_with_false": fseg}
    elapsed = time.perf_counter() - t0
    pos = [k for k in simfalls.ALL_KINDS if k not in simfalls.NONFALL_KINDS]
    neg = list(simfalls.NONFALL_KINDS)
    summary = {
        "rates_hz": list(rates),
        "per_kind": rows,
        "detection_rate_falls": sum(rows[k]["detected"] for k in pos if k.startswith("fall")
                                    and k != "fall_soft")
        / max(1, sum(rows[k]["n"] for k in pos if k.startswith("fall") and k != "fall_soft")),
        "detection_rate_soft_falls": rows["fall_soft"]["detected"] / max(1, rows["fall_soft"]["n"]),
        "detection_rate_stumbles": sum(rows[k]["detected"] for k in pos if k.startswith("stumble"))
        / max(1, sum(rows[k]["n"] for k in pos if k.startswith("stumble"))),
        "false_alarm_rate_nonfall": sum(rows[k]["segments_with_false"] for k in neg)
        / max(1, sum(rows[k]["n"] for k in neg)),
        "per_rate": {f"{r:g}": {"detection": v["hit"] / max(1, v["pos"]),
                                "false_alarm": v["alarm"] / max(1, v["neg"])}
                     for r, v in sorted(by_rate.items())},
        "elapsed_s": round(elapsed, 2),
    }
    scen = None if quick else _scenarios(mod)
    if scen is not None:
        summary["scenarios"] = scen
    walk = _walking_false_alarms(mod, quick)
    if walk is not None:
        summary["walking_recordings"] = walk
    print("stumble and fall detection (firmware/fall.py on simulated segments, "
          f"{', '.join(f'{r:g}' for r in rates)} Hz, waist and pocket)")
    print(f"  {'kind':18s} {'n':>5s} {'detected':>9s} {'false alarms':>13s}")
    for k, r in rows.items():
        label = "-" if k in neg else f"{100.0 * r['detected'] / r['n']:.1f}%"
        print(f"  {k:18s} {r['n']:5d} {label:>9s} {r['false']:13d}")
    print("  (fall_soft: slumps with a mild impact, outside what the detector is for)")
    print(f"  falls detected {100 * summary['detection_rate_falls']:.1f}% "
          f"(soft falls {100 * summary['detection_rate_soft_falls']:.1f}%), "
          f"stumbles {100 * summary['detection_rate_stumbles']:.1f}%, "
          f"false alarms on non-fall activities {100 * summary['false_alarm_rate_nonfall']:.1f}% "
          f"of segments")
    print("  by rate: " + ", ".join(f"{r} Hz {100 * v['detection']:.0f}% found / "
                                    f"{100 * v['false_alarm']:.0f}% false"
                                    for r, v in summary["per_rate"].items()))
    if scen is not None:
        print("  in simulator scenarios (its gait and sensor models; waist, front pocket, wrist): "
              + ", ".join((f"{k} found {v['found']}/{v['n']}" if SCENARIOS[k][1] else
                           f"{k} {v['false']} alarms in {v['n']}")
                          + (f" (+{v['false']} false)" if v["false"] and SCENARIOS[k][1] else "")
                          for k, v in scen.items()))
    if walk is not None:
        print(f"  ordinary walking ({walk['recordings']} recordings, {walk['hours']:.2f} h): "
              f"{walk['false_alarms']} false alarms ({walk['per_hour']:.2f} per hour)")
    print(f"  ({elapsed:.1f} s)")
    return summary


def replay_guidance(samples: np.ndarray, rate_hz: float, lsb_per_g: int, forward_axis: int = 0,
                    placement: int = 0, settings: dict | None = None, chunk: int = 50):
    """The firmware loop's guidance path on the PC: raw int16 samples (n, 3) in chunks through
    the fall detector, the step detector, the retro tracker and the fall detector's rhythm,
    in the loop's order; returns the records the board would make (`t` in ms from sample 0).
    What the virtual device syncs must match this, field for field."""
    from .mpcompat import firmware_module
    sd = firmware_module("stepdetect")
    retro = firmware_module("retro")
    fmod = firmware_module("fall")
    s = dict(retro.SETTINGS)
    s.update(fmod.SETTINGS)
    s.update(settings or {})
    out: list[dict] = []
    det = sd.StepDetector(rate_hz, lsb_per_g, forward_axis, placement)
    rt = retro.RetroTracker(rate_hz, goal=s["retro_goal"], long_ms=s["retro_long_s"] * 1000,
                            long_steps=s["retro_long_steps"], pause_ms=s["retro_pause_s"] * 1000,
                            on_record=out.append)
    fd = fmod.FallDetector(rate_hz, lsb_per_g, on_record=out.append)
    fd.enabled = bool(s["fall_detect"])
    flat = array("h", np.ascontiguousarray(samples[:, :3], dtype=np.int16).ravel().tobytes())
    idx = array("i", bytes(4 * 64))
    dirs = bytearray(64)
    n = len(samples)
    for start in range(0, n, chunk):
        c = min(chunk, n - start)
        part = flat[start * 3:(start + c) * 3]
        fd.feed(part, c, 3)                 # on_samples comes before the detector
        det.feed(part, c, 3)
        now = batch_now_ms(start + c - 1, rate_hz)
        k = det.read(idx, dirs)
        for i in range(k):                  # as app.ticks_of(idx)
            back = (det.n - 1 - idx[i]) & 0x3FFFFFFF
            rt.step(now - int(back * 1000 / rate_hz), dirs[i])
        if k:
            fd.note_steps(idx, dirs, k, det.n)
        rt.poll(now)
        fd.poll(now)
    rt.flush()
    return out
