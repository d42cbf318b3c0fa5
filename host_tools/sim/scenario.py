"""Scenarios: a list of segments run one after the other through one sensor.

Scripts are comma-separated items `ACTIVITY [AMOUNT]`, e.g.

    "walk 200, turn, retro 150, stand 60s"

AMOUNT is a number of steps (stepping activities) or a duration with a unit
(`s`, `min`, `h`: "desk 2h"). Stepping activities without an amount take 100
steps; others 10 s. `turn` is a 180 degree turn on the spot in 4 steps
(`turn 90` turns 90 degrees to the left, `turn -90` to the right).

Any object with `label` and `samples(ctx)` (see `base.py`) can be a segment, so
other modules add segments of their own, such as stumbles and falls:

    from host_tools.sim import scenario
    segs = scenario.parse_script("walk 50") + [MyFall()] + scenario.parse_script("stand 30s")
    tr = simulate(segments=segs, placement="wrist")

or register a name for scripts: `scenario.register("fall", lambda amount, person: MyFall(...))`.
"""
from __future__ import annotations

import re
from typing import Callable

from ..errors import UserError
from .base import Person
from .gait import Gait, Stepping, default_gait

STEPPING = ("walk", "retro", "run", "stairs_up", "stairs_down")
ACTIVITIES = STEPPING + ("turn", "stand", "desk", "gestures", "drive", "cycle")
ALIASES = {
    "forward": "walk", "walking": "walk", "backward": "retro", "backwards": "retro",
    "retro-walk": "retro", "retro_walk": "retro", "retrowalk": "retro", "running": "run",
    "upstairs": "stairs_up", "stairs-up": "stairs_up", "downstairs": "stairs_down",
    "stairs-down": "stairs_down", "standing": "stand", "typing": "desk", "sit": "desk",
    "gesture": "gestures", "arm": "gestures", "driving": "drive", "cycling": "cycle", "bike": "cycle",
}
_EXTRA: dict[str, Callable] = {}
_AMOUNT = re.compile(r"^([0-9]+(?:\.[0-9]*)?)\s*(s|sec|min|h)?$")


def register(name: str, factory: Callable):
    """Make `name [AMOUNT]` usable in scripts: factory(amount, person) -> segment, where
    amount is None, ("steps", n) or ("s", seconds)."""
    _EXTRA[name.lower()] = factory


def canonical(activity: str) -> str:
    a = activity.strip().lower().replace(" ", "_")
    a = ALIASES.get(a, a)
    if a not in ACTIVITIES and a not in _EXTRA:
        raise UserError(f"unknown activity {activity!r} (one of {', '.join(ACTIVITIES + tuple(_EXTRA))})")
    return a


def make_segment(activity: str, steps=None, duration_s=None, person: Person | None = None,
                 cadence_spm=None, speed=None, turn_deg=None):
    person = person or Person()
    a = canonical(activity)
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 0):
        raise UserError(f"{activity}: steps must be a whole number >= 0, got {steps!r}")
    if duration_s is not None and not duration_s > 0:
        raise UserError(f"{activity}: duration must be positive, got {duration_s!r}")
    if cadence_spm is not None and not 30 <= cadence_spm <= 240:
        raise UserError(f"cadence {cadence_spm} steps/min is outside 30 to 240")
    if speed is not None and not 0.1 <= speed <= 7.0:
        raise UserError(f"speed {speed} m/s is outside 0.1 to 7")
    if a in _EXTRA:
        amount = ("steps", steps) if steps is not None else (("s", duration_s) if duration_s else None)
        return _EXTRA[a](amount, person)
    if a in STEPPING or a == "turn":
        g = default_gait(a, person.height_m, cadence_spm, speed)
        if a == "turn":
            if turn_deg is not None:
                g = Gait(g.kind, g.cadence_spm, g.speed, g.direction, float(turn_deg))
            if steps is None and duration_s is None:
                steps = max(2, int(round(abs(g.turn_deg) / 45.0)))
        if steps is None and duration_s is None:
            steps = 100
        return Stepping(g, steps=steps, duration_s=duration_s if steps is None else None, label=a)
    from . import activities
    if steps:
        raise UserError(f"{a} has no steps: give a duration such as '{a} 30s'")
    return activities.make(a, duration_s or 10.0)


def parse_script(script: str, person: Person | None = None, cadence_spm=None, speed=None):
    """Segments for a script such as "walk 200, turn, retro 150, stand 60s"."""
    items = [s.strip() for s in re.split(r"[,;\n]", script) if s.strip()]
    if not items:
        raise UserError("empty script: give items such as 'walk 200, turn, retro 150, stand 60s'")
    segs = []
    for k, item in enumerate(items, 1):
        words = item.split()
        name = words[0]
        rest = " ".join(words[1:]).strip().lower()
        steps = dur = turn = None
        try:
            a = canonical(name)
        except UserError as e:
            raise UserError(f"script item {k} {item!r}: {e}") from None
        if rest:
            if a == "turn":
                try:
                    turn = float(rest.rstrip("deg").strip())
                except ValueError:
                    raise UserError(f"script item {k} {item!r}: turn takes an angle in degrees") from None
            else:
                m = _AMOUNT.match(rest)
                if not m:
                    raise UserError(f"script item {k} {item!r}: amount must be a step count or a"
                                    " duration such as 30s, 5min, 2h")
                v = float(m.group(1))
                unit = m.group(2)
                if unit is None:
                    if v != int(v):
                        raise UserError(f"script item {k} {item!r}: a step count must be whole")
                    steps = int(v)
                else:
                    dur = v * {"s": 1, "sec": 1, "min": 60, "h": 3600}[unit]
                    if dur <= 0:
                        raise UserError(f"script item {k} {item!r}: duration must be positive")
        try:
            segs.append(make_segment(a, steps, dur, person, cadence_spm if a in STEPPING else None,
                                     speed if a in STEPPING else None, turn))
        except UserError as e:
            raise UserError(f"script item {k} {item!r}: {e}") from None
    return segs
