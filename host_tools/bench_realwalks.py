"""`retrostep bench` section: direction, short walks and retro days on real walks.

The recordings with a known forward axis (`ipol_dev`: lower back; `mocap_dev`: waist,
front pocket, ankle, wrist) as `retrostep eval --reverse --retro-day` scores them:
right / wrong / unknown shares of counted steps for forward walking and for the same
walks time-reversed (backward), short walks of 5 to 20 steps (as recorded, and with
the wearer standing still before and after: `--standing`), runs, arm gestures, and
the retro days spliced from them (host_tools/retro_day.py). Skipped, saying so, when the
data folder is absent.
"""
from __future__ import annotations

SETS = ("ipol_dev", "mocap_dev")


def run(quick: bool) -> dict:
    from .eval_cmd import REVERSED, STANDING, evaluate
    from .paths import data_dir
    from .retro_day import DAY_STEPS, retro_days
    dirs = [data_dir() / s for s in SETS if (data_dir() / s / "manifest.json").exists()]
    if not dirs:
        return {"skipped": f"no ipol_dev or mocap_dev under {data_dir()}"}
    res = evaluate(dirs, reverse=True, standing=True)
    out: dict = {}
    for name, s in res.summary["datasets"].items():
        back = name.endswith(REVERSED)
        if name.endswith(STANDING):
            for pl, f in s["short_walks"].items():
                if "short_walks" in f:
                    w = f["short_walks"]
                    out[f"{name.replace(STANDING, '')} {pl} short walks ending in standing, within 2"] = \
                        f"{w['within_2_pct']:.1f}% of {w['recordings']} ({w['missed']} missed)"
            continue
        for key, a in s["direction_by_placement"].items():
            pl, gait, _ = key.split()
            if pl == "wrist" and gait == "running":
                continue
            label = f"{name.replace(REVERSED, '')} {pl} {gait} {'reversed' if back else 'forward'}"
            out[label] = f"{a['right_pct']:.1f} / {a['wrong_pct']:.2f} / {a['unknown_pct']:.1f} % of {a['steps']}"
        if not back:
            for pl, f in s["short_walks"].items():
                if "short_walks" in f:
                    w = f["short_walks"]
                    out[f"{name} {pl} short walks within 2 steps"] = \
                        f"{w['within_2_pct']:.1f}% of {w['recordings']} ({w['missed']} missed)"
                if "runs" in f:
                    out[f"{name} {pl} runs of 8+ steps"] = f"{f['runs']['error_pct']:+.1f}%"
                if "no_steps" in f and f["no_steps"]["recordings"]:
                    out[f"{name} {pl} false steps per gesture"] = f["no_steps"]["per_recording"]
    days = retro_days(dirs, seeds=(1,) if quick else (1, 2), day_steps=DAY_STEPS // 2 if quick else DAY_STEPS)
    for k, a in days.items():
        out[f"retro day {k}"] = (f"backward {a['backward']} of {a['true_backward']}"
                                 f" ({a['backward_error_pct']:+.1f}%),"
                                 f" {a['false_backward_per_1000']:.2f} false per 1,000 forward,"
                                 f" forward alone at most {a['forward_only_backward_max']} a day")
    return out
