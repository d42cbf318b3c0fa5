"""`retrostep simulate`: labelled traces of simulated forward/backward walking and other activities.

Writes <out>/<name>.csv in the trace format plus its entry (per-step times and
directions) in <out>/manifest.json. `--reverse TRACE` instead writes the
time-reversed copy of a forward-walking trace (recorded or simulated).
"""
from __future__ import annotations

import re
import sys
import time

from .errors import UserError

_DUR = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*(s|sec|min|h)?\s*$")


def _duration(text: str) -> float:
    m = _DUR.match(text or "")
    if not m:
        raise UserError(f"duration {text!r}: use seconds or a unit, e.g. 90, 90s, 5min, 24h")
    v = float(m.group(1)) * {None: 1, "s": 1, "sec": 1, "min": 60, "h": 3600}[m.group(2)]
    if v <= 0:
        raise UserError(f"duration {text!r} must be positive")
    return v


def add_parser(sub):
    from .sim.base import PLACEMENTS
    from .sim.scenario import ACTIVITIES
    from .sim.sensors import SENSORS
    p = sub.add_parser("simulate", help="write simulated labelled traces (forward and backward walking, ...)",
                       description="Write a simulated recording of walking forward or backward"
                       " (or other activities) as a trace file, with its true steps (times and"
                       " directions) in the folder's manifest.json, ready for replay and eval."
                       " --reverse TRACE writes the time-reversed copy of a forward walk"
                       " instead: a labelled backward walk.")
    what = p.add_mutually_exclusive_group()
    what.add_argument("-a", "--activity", help=f"one of: {', '.join(ACTIVITIES)} (default walk)")
    what.add_argument("--script", help='a mix, e.g. "walk 200, turn, retro 150, stand 60s"')
    what.add_argument("--reverse", metavar="TRACE", help="time-reverse a forward-walking trace")
    # defaults are applied in run() (DEFAULTS), so that --reverse can tell which options were given
    p.add_argument("-p", "--placement", help=f"one of: {', '.join(PLACEMENTS)} (default waist)")
    p.add_argument("--sensor", help=f"one of: {', '.join(SENSORS)} (default mpu6050)")
    p.add_argument("-r", "--rate", help="sample rate in Hz, 10 to 1000 (default 50)")
    p.add_argument("--seed", help="random seed, a whole number (default 0)")
    n = p.add_mutually_exclusive_group()
    n.add_argument("-n", "--steps", help="number of steps")
    n.add_argument("-d", "--duration", help="duration: seconds or e.g. 90s, 5min, 24h")
    p.add_argument("--cadence", type=float, help="steps per minute")
    p.add_argument("--speed", type=float, help="walking speed in m/s")
    p.add_argument("--height", type=float, help="wearer's height in m (default 1.72)")
    p.add_argument("--asymmetry", type=float, help="left/right step difference (default 0.03)")
    p.add_argument("--variability", type=float, help="step time CV (default 0.02)")
    p.add_argument("--arm-swing", type=float, help="arm swing scale (default 1)")
    p.add_argument("--impact", type=float, help="foot-contact shock scale (default 1)")
    p.add_argument("--mount", help="default | random | tilt=DEG | fwd=AXIS,up=AXIS (e.g. fwd=+z,up=+y)")
    p.add_argument("--accel-range", type=int, help="accelerometer full scale in g (default 4)")
    p.add_argument("--gyro-range", type=int, help="gyroscope full scale in dps (default 500)")
    p.add_argument("--ideal-sensor", action="store_true", help="no offset/scale/cross-axis errors")
    p.add_argument("-o", "--out", default="sim", metavar="DIR", help="output folder (default ./sim)")
    p.add_argument("--name", help="trace file name without .csv (default from the options)")
    return p


# option defaults (None in the parser: see add_parser)
DEFAULTS = {"placement": "waist", "sensor": "mpu6050", "rate": "50", "seed": "0", "height": 1.72,
            "asymmetry": 0.03, "variability": 0.02, "arm_swing": 1.0, "impact": 1.0}

# the options that shape a simulation, none of which applies to --reverse (which takes -o and --name)
SIM_OPTIONS = (("activity", "-a/--activity"), ("script", "--script"), ("placement", "-p/--placement"),
               ("sensor", "--sensor"), ("rate", "-r/--rate"), ("seed", "--seed"), ("steps", "-n/--steps"),
               ("duration", "-d/--duration"), ("cadence", "--cadence"), ("speed", "--speed"),
               ("height", "--height"), ("asymmetry", "--asymmetry"), ("variability", "--variability"),
               ("arm_swing", "--arm-swing"), ("impact", "--impact"), ("mount", "--mount"),
               ("accel_range", "--accel-range"), ("gyro_range", "--gyro-range"),
               ("ideal_sensor", "--ideal-sensor"))


def _int(text, what, lo=None):
    try:
        v = int(text)
    except (TypeError, ValueError):
        raise UserError(f"{what} {text!r} is not a whole number") from None
    if lo is not None and v < lo:
        raise UserError(f"{what} {v} must be at least {lo}")
    return v


def _given(args) -> list[str]:
    return [flag for key, flag in SIM_OPTIONS if getattr(args, key, None) not in (None, False)]


def _check_values(args, rate, seed, person):
    """Refuse bad option values that a simulation would refuse (used for --reverse, which runs none)."""
    import numpy as np

    from .sim import MAX_RATE, MIN_RATE, PLACEMENTS, SENSORS
    from .sim.sensors import parse_mount
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UserError(f"rate {rate:g} Hz is outside {MIN_RATE:g} to {MAX_RATE:g} Hz")
    if args.placement not in PLACEMENTS:
        raise UserError(f"unknown placement {args.placement!r} (one of {', '.join(PLACEMENTS)})")
    if args.sensor not in SENSORS:
        raise UserError(f"unknown sensor {args.sensor!r} (one of {', '.join(SENSORS)})")
    person.check()
    parse_mount(args.mount, args.placement, np.random.default_rng(seed))


def run(args) -> int:
    from .sim import Person, stream, write
    given = _given(args)
    for k, v in DEFAULTS.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    try:
        rate = float(args.rate)
    except ValueError:
        raise UserError(f"rate {args.rate!r} is not a number") from None
    seed = _int(args.seed, "seed", 0)
    steps = _int(args.steps, "steps", 0) if args.steps is not None else None
    dur = _duration(args.duration) if args.duration is not None else None
    person = Person(args.height, args.asymmetry, args.variability, args.arm_swing, args.impact)
    if args.reverse is not None:
        # values are checked first (the usual errors), then options that have no effect refused
        _check_values(args, rate, seed, person)
        if given:
            raise UserError(f"--reverse takes only -o/--out and --name; these do not apply to it:"
                            f" {', '.join(given)}")
        from .sim.reverse import reverse_trace
        path = reverse_trace(args.reverse, args.out, args.name)
        print(f"wrote {path} (time-reversed {args.reverse})")
        return 0
    kw = dict(placement=args.placement, sensor=args.sensor, rate_hz=rate, seed=seed,
              cadence_spm=args.cadence, speed=args.speed, person=person, mount=args.mount,
              accel_range_g=args.accel_range, gyro_range_dps=args.gyro_range,
              sensor_errors=not args.ideal_sensor)
    if args.script is not None:
        # stumbles, falls and their look-alikes can be named in a script too
        from .sim.falls import register_script_names
        register_script_names()
        s = stream(script=args.script, **kw, **({"steps": steps} if steps is not None else {}),
                   **({"duration_s": dur} if dur is not None else {}))
        label = "mix"
    else:
        act = args.activity or "walk"
        s = stream(activity=act, steps=steps, duration_s=dur, **kw)
        label = act
    name = args.name or f"sim_{label}_{args.placement}_{args.sensor}_{rate:g}hz_s{seed}"
    t0 = time.perf_counter()
    path = write(s, args.out, name)
    dt = time.perf_counter() - t0
    nf = s.step_dir.count("F")
    nb = s.step_dir.count("B")
    secs = s.n_samples / s.rate_hz
    print(f"wrote {path}: {s.n_samples} samples ({secs:.0f} s at {s.rate_hz:g} Hz), {nf + nb} steps"
          f" ({nf} forward, {nb} backward), forward_axis {s.forward_axis or 'unknown'}; {dt:.1f} s",
          file=sys.stdout)
    return 0
