"""`retrostep bench` section: the detector on simulated walking, where the truth is known.

Public recordings have no backward walking and no known mount, so direction and short
walks are measured on the simulator (host_tools/sim): forward and backward walks at each
placement the simulator models, over people, cadences, sample rates and chips drawn from
a fixed seed, with the mount known (the board config's, tilted a few degrees) and the
gyroscope's counts fed too (only the front pocket uses them), then the same with the mount
unknown, and with the accelerometer alone; short walks of 10 to 40 steps between stands; and five minutes of
each non-walking activity.
"""
from __future__ import annotations

import random

from .sim import Person, simulate

PLACEMENTS = ("waist", "lower_back", "front_pocket", "ankle", "wrist")
SENSORS = ("mpu6050", "lsm6dso", "bmi160")


def _run(tr, mount_known=True, gyro=True):
    from .detector_run import from_sim, run_prepared
    r = run_prepared(from_sim(tr, gyro, mount_known))
    return r.steps, r.forward, r.backward, r.unknown


def _person(rng):
    return Person(height_m=rng.uniform(1.5, 1.95), asymmetry=rng.uniform(0, 0.08),
                  variability=rng.uniform(0.01, 0.05), arm_swing=rng.uniform(0.6, 1.4),
                  impact=rng.uniform(0.6, 1.4))


def direction(quick: bool) -> dict:
    rng = random.Random(2026)
    per = 3 if quick else 10
    out = {}
    for pl in PLACEMENTS:
        row = {}
        for act, truth in (("walk", "forward"), ("retro", "backward")):
            tot = dict(true=0, steps=0, right=0, wrong=0, unknown=0, unknown_without_mount=0,
                       right_without_gyro=0)
            for k in range(per):
                tr = simulate(script=f"stand 3s, {act} 60, stand 3s", placement=pl,
                              rate_hz=rng.choice((25.0, 50.0, 100.0)), seed=rng.randrange(10**6),
                              sensor=rng.choice(SENSORS), cadence_spm=rng.uniform(90, 130),
                              person=_person(rng), mount=f"tilt={rng.randint(0, 10)}")
                n, f, b, u = _run(tr)
                tot["true"] += len(tr.step_ms)
                tot["steps"] += n
                tot["right"] += f if truth == "forward" else b
                tot["wrong"] += b if truth == "forward" else f
                tot["unknown"] += u
                tot["unknown_without_mount"] += _run(tr, mount_known=False)[3]
                _, f0, b0, _ = _run(tr, gyro=False)
                tot["right_without_gyro"] += f0 if truth == "forward" else b0
            s = max(1, tot["steps"])
            row[truth] = {"true_steps": tot["true"], "steps": tot["steps"],
                          "right_pct": round(100 * tot["right"] / s, 1),
                          "wrong_pct": round(100 * tot["wrong"] / s, 1),
                          "unknown_pct": round(100 * tot["unknown"] / s, 1),
                          "unknown_without_mount_pct": round(100 * tot["unknown_without_mount"] / s, 1),
                          "right_without_gyro_pct": round(100 * tot["right_without_gyro"] / s, 1)}
        out[pl] = row
    return out


def short_walks(quick: bool) -> dict:
    rng = random.Random(7)
    per = 4 if quick else 12
    errs = []
    for pl in PLACEMENTS:
        for _ in range(per):
            n_true = rng.randint(10, 40)
            act = rng.choice(("walk", "retro"))
            tr = simulate(script=f"stand 5s, {act} {n_true}, stand 5s", placement=pl,
                          rate_hz=rng.choice((25.0, 50.0, 100.0)), seed=rng.randrange(10**6),
                          person=_person(rng))
            errs.append(_run(tr)[0] - len(tr.step_ms))
    return {"walks": len(errs), "within_2_pct": round(100 * sum(abs(e) <= 2 for e in errs) / len(errs), 1),
            "worst_error": max(errs, key=abs), "mean_abs_error": round(sum(map(abs, errs)) / len(errs), 2)}


def not_walking(quick: bool) -> dict:
    secs = 120 if quick else 300
    out = {}
    for act in ("stand", "desk", "gestures", "drive", "cycle"):
        out[act] = {pl: _run(simulate(activity=act, placement=pl, rate_hz=50.0, seed=3, duration_s=secs))[0]
                    for pl in PLACEMENTS}
    out["seconds_each"] = secs
    return out


def run(quick: bool) -> dict:
    return {"direction_mount_known": direction(quick), "short_walks_10_40": short_walks(quick),
            "false_steps_not_walking": not_walking(quick)}
