"""Where the direction boundaries come from: the detector's stride evidence on real walks.

    python -m host_tools.fit_direction [DATA_DIR]

For each placement with a known forward axis in `ipol_dev` (lower back) and `mocap_dev`
(waist, front pocket, ankle), runs the firmware's detector over the real forward walks
and their time-reversed copies (walking backward is close to walking forward played
backwards) and collects the evidence it reads at each step (of 1024: the orbit's area
over a stride at the trunk, the shank's pitch-rate skew at the ankle, the thigh's swing
sharpness in a pocket; positive is forward). It prints their spread, fits the boundary
that best parts forward from reversed strides on the fit part, and scores that boundary
and the detector's own (zero) on the held-out part:

- held out: `ipol_dev` subjects 8 and 9; `mocap_dev` styles `youthful` and `elderly`;
- fit: the rest.

The detector's boundaries are zero: fitted, they come out within a few hundredths of
1024 of it (the forward and reversed spreads mirror each other), and zero keeps a
reversed walk the exact mirror of its forward one.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SETS = (("ipol_dev", "lower_back"), ("mocap_dev", "waist"), ("mocap_dev", "front_pocket"),
        ("mocap_dev", "ankle"))
HELD_OUT_IPOL = ("8-", "9-")
HELD_OUT_STYLES = ("youthful", "elderly")


def held_out(dataset: str, rec) -> bool:
    if dataset == "ipol_dev":
        return rec.file.split("_")[1].startswith(HELD_OUT_IPOL)
    return rec.extra.get("style") in HELD_OUT_STYLES


def stride_evidence(rec, trace, reverse: bool) -> list[int]:
    """The evidence the detector reads at each step of one walk (not the steps it could
    not read: a pause, running at the trunk, a walk's first strides)."""
    from .detector_run import detector, prepare, run_prepared
    from .eval_cmd import reversed_recording
    sd = detector()
    if reverse:
        rec, trace = reversed_recording(rec, trace)
    got: list[int] = []
    base = sd.StepDetector._evidence

    def evidence(self, t, p):
        r = base(self, t, p)
        if r != -32768:
            got.append(r)
        return r
    sd.StepDetector._evidence = evidence
    try:
        run_prepared(prepare(trace))
    finally:
        sd.StepDetector._evidence = base
    return got


def collect(data: Path):
    """{(dataset, placement): {"fit"|"held": (forward evidence, reversed evidence)}}."""
    from .eval_cmd import gait
    from .trace import read_manifest, read_trace
    out: dict = {}
    for ds, pl in SETS:
        folder = data / ds
        if not (folder / "manifest.json").exists():
            continue
        parts = {"fit": ([], []), "held": ([], [])}
        for rec in read_manifest(folder).recordings:
            if rec.placement != pl or rec.direction != "forward" or gait(rec.activity) != "walking":
                continue
            tr = read_trace(rec.path, cache=True)
            part = parts["held" if held_out(ds, rec) else "fit"]
            part[0].extend(stride_evidence(rec, tr, False))
            part[1].extend(stride_evidence(rec, tr, True))
        out[(ds, pl)] = parts
    return out


def best_boundary(fwd, rev) -> int:
    """The boundary (of 1024) with the fewest strides on the wrong side, both ways alike."""
    f, r = np.asarray(fwd), np.asarray(rev)
    cands = np.arange(-300, 301, 5)
    err = [np.mean(f <= c) + np.mean(r >= c) for c in cands]
    return int(cands[int(np.argmin(err))])


def wrong_share(fwd, rev, c: int) -> tuple[float, float]:
    f, r = np.asarray(fwd), np.asarray(rev)
    return 100.0 * float(np.mean(f <= c)), 100.0 * float(np.mean(r >= c))


def main(argv=None) -> int:
    from .paths import data_dir
    argv = sys.argv[1:] if argv is None else argv
    data = Path(argv[0]) if argv else data_dir()
    found = collect(data)
    if not found:
        print(f"no ipol_dev or mocap_dev under {data}")
        return 1
    print("per-step evidence (of 1024, positive forward); strides on the wrong side of a"
          " boundary, forward / reversed")
    for (ds, pl), parts in found.items():
        (ff, fr), (hf, hr) = parts["fit"], parts["held"]
        c = best_boundary(ff, fr)
        q = np.percentile(ff, [5, 50, 95]).round().astype(int)
        print(f"{ds} {pl}: fit {len(ff)}+{len(fr)} steps, forward 5/50/95% {q[0]} {q[1]} {q[2]};"
              f" fitted boundary {c:+d}")
        for name, b in (("fitted", c), ("detector's", 0)):
            w1, w2 = wrong_share(hf, hr, b)
            print(f"  held out ({len(hf)}+{len(hr)} steps), {name} boundary {b:+d}:"
                  f" {w1:.2f}% / {w2:.2f}% of strides wrong")
    return 0


if __name__ == "__main__":
    sys.exit(main())
