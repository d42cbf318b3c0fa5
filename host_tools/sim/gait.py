"""Body motion while walking (forwards and backwards), running and on stairs.

The model is phase-locked to foot contacts: every sample gets the stride phase
phi (0 at the contact of the left foot, 0.5 at the right's), and each signal is a
smooth periodic waveform of phi (a sum of stride harmonics: `tables.Wave`), times a
per-step amplitude that carries speed, left/right asymmetry and step-to-step
variation. Sharp foot-contact transients are added on top, at each contact.

Sources for shapes and amplitudes
---------------------------------
Trunk (lower back, L3, and the waist):
  * Zijlstra W, Hof AL (2003). Assessment of spatio-temporal gait parameters from
    trunk accelerations during human walking. Gait Posture 18(2):1-10. Initial
    contact coincides with the peak forward (AP) acceleration, followed by a sharp
    deceleration; the vertical acceleration rises steeply after contact and is
    lowest in mid single support (the inverted pendulum over the stance leg).
  * Moe-Nilssen R, Helbostad JL (2004). Estimation of gait cycle characteristics by
    trunk accelerometry. J Biomech 37(1):121-126; and Moe-Nilssen R (1998), Clin
    Biomech 13:320-327 (RMS grows about in proportion to speed: modelled so).
  * Menz HB, Lord SR, Fitzpatrick RC (2003). Acceleration patterns of the head and
    pelvis when walking on level and irregular surfaces. Gait Posture 18(1):35-46.
    Pelvis RMS at preferred speed about 0.2 g vertical, 0.13 g AP, 0.1 g ML; harmonic
    ratios about 3 (V, AP: even harmonics dominate) and 2.5 (ML: odd ones dominate).
  The key points below put the events at the phases those papers describe (contact
  at 0, contralateral toe-off at the end of double support, mid-stance minimum);
  the waveforms are then scaled to the RMS above. They are time-asymmetric the way
  the recordings are: AP rises slowly through single support and drops sharply
  after contact; V rises sharply after contact and sinks slowly.
Pelvis rotation (+-4 deg), obliquity (+-3.5 deg), tilt (+-1.5 deg): Perry J,
  Burnfield JM, Gait Analysis, 2nd ed. (2010), ch. 7.
Thigh and knee angles over the stride: Winter DA (1991), The Biomechanics and Motor
  Control of Human Gait, 2nd ed., normative adult data (hip 20-25 deg flexion at
  contact, 10 deg extension before toe-off; knee 15-20 deg loading flexion, 60 deg
  peak in swing). Shank swing peak rate 300-400 deg/s: Aminian K et al. (2002), J
  Biomech 35:689-699.
Ankle strap: the shank's own inclination (SHANK_WALK) and the knee's path with the foot
  planted in stance and hanging from the knee in swing (_leg_path); Perry & Burnfield
  (2010), Aminian et al. (2002), Winter DA (1992), Can J Sport Sci 17:3; stride averages
  of the mocap_dev ankle recordings (virtual sensors on the shanks of motion-captured
  walkers).
Arm swing: Meyns P, Bruijn SM, Duysens J (2013). The how and why of arm swing during
  human walking. Gait Posture 38(4):555-562 (shoulder +-15 deg around the vertical,
  the arm forward with the contralateral leg, elbow 20-30 deg flexed and flexing
  more in forward swing); Collins SH et al. (2009), Proc R Soc B 276:3679.
Phone in a front pocket (rotation of the thigh about its long axis, the hip joint's
  lever on the pelvis, the phone ringing, rocking and sliding in the pocket): pocket.py.
Forearm rotation with the arm swing (the watch turns about the forearm's axis, pronating
  as the arm swings forward: a few degrees; amount fitted to the Bangle recordings'
  quietest axis, 0.45 deg per degree of swing).
Foot-contact transients: heel-strike shock at the shank of 2-5 g and at the lower
  back of a few tenths of g, rising within 10-20 ms: Lafortune MA et al. (1996),
  J Biomech 29:1531; Voloshin A (2000), in Handbook of Human Factors in Sport.
Running: spring-mass stance (Blickhan R 1989, J Biomech 22:1217; McMahon TA, Cheng
  GC 1990, J Biomech 23:65): vertical force a half sine over contact whose mean over
  the step is body weight, flight in free fall (0 g).
Stairs: Riener R, Rabuffetti M, Frigo C (2002). Stair ascent and descent at
  different inclinations. Gait Posture 15(1):32-44 (hip flexion to 60 deg, knee to
  90 deg ascending; larger impacts descending).
Backward walking: close to forward walking played backwards in time (Winter DA,
  Pluck N, Yang JF 1989, J Mot Behav 21:291-305; Grasso R, Bianchi L, Lacquaniti F
  1998, J Neurophysiol 80:1868), with shorter steps at about the same cadence, longer
  double support and a soft toe-first contact (Thorstensson A 1986, Exp Brain Res
  61:664; Hoogkamer W, Meyns P, Duysens J 2014, Exerc Sport Sci Rev 42:23-29). The
  model therefore reverses the forward waveforms in time (accelerations keep their
  sign, angular rates flip) about the toe-off, which becomes the contact, and adds
  its own softer contact transients at the new contacts: the braking at contact
  opposes the motion, so the AP transient of a backward step points forward.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .base import BodyChunk, Context, OU, chunk_ranges, smoothstep
from .kinematics import (D2R, FOREARM, SHANK, THIGH, UPPER_ARM, link_accel, spin_about_long_axis,
                         to_segment)
from .pocket import CREASE_TILT, SKIN_RADIUS, Pocket, crease_tilt, hip_lever
from .tables import Wave

REF_SPEED = 1.3          # m/s, speed at which the trunk RMS targets hold
ANKLE_STRAP_M = 0.10     # an ankle strap's sensor above the ankle joint, on the shank
HEEL_ROCK = 0.3          # the ankle's forward speed as the heel lands, in walking speeds
                         # (mocap_dev: 0.2-0.35 in the stride's last 4 %)
# Step-to-step irregularity of the trunk's waveform, as a share of TRUNK_RMS per axis: each
# step adds half-sines of 1, 2 and 3 half-waves (zero at both contacts) with random weights.
# It carries the odd stride harmonics of V and AP and the even ones of ML that left/right
# differences give real pelvises: with it the simulated lower back and waist have Menz et
# al.'s (2003) harmonic ratios (about 3 for V and AP, even over odd; 2.5-3 for ML, odd over
# even) instead of 6-9 (tests/test_sim_core.py). The wrist and pocket models were fitted
# to recordings with their irregularity in them, so it is added at the trunk placements.
TRUNK_IRREGULARITY = 0.4
IRREGULAR_HALF_WAVES = (1, 2, 3)
TRUNK_RMS = (0.13, 0.10, 0.20)   # AP, ML, V in g at REF_SPEED (Menz et al. 2003)
# How the body's accelerations grow with speed, per placement: in proportion, except at
# the wrist, whose recordings (bangle, 75-119 steps/min) grow about as speed^0.7: the
# arm, not the trunk, sets how much of the bounce reaches the hand
SPEED_EXP = {"wrist": 0.7}
FORWARD_DS = 0.20        # double support as a fraction of a step, forward walking
BACKWARD_DS = 0.30       # longer double support walking backwards (Thorstensson 1986)
BACKWARD_STEP = 0.65     # backward step length relative to forward at the same cadence


# ----------------------------------------------------------------------------- waveforms

def _warp(p: float, to: float) -> float:
    """Move stride key points given for toe-off at 0.6 to toe-off at `to`."""
    return p * to / 0.6 if p < 0.6 else to + (p - 0.6) * (1.0 - to) / 0.4


@dataclass(frozen=True)
class Waves:
    ap: Wave
    ml: Wave
    v: Wave
    thigh: Wave       # deg, knee forward of hip positive
    shank: Wave       # deg, ankle forward of knee positive (the shank's inclination)
    arm: Wave         # deg, upper arm forward positive (left arm)
    elbow: Wave       # deg of flexion
    abduct: Wave      # deg, arm out to the side
    p_yaw: Wave       # pelvis rotation, deg
    p_roll: Wave      # pelvis obliquity, deg
    p_pitch: Wave     # pelvis tilt, deg
    knee_x: Wave      # the knee's path in stride lengths, forward of a point moving at the speed
    knee_z: Wave      # (up), with the foot planted in stance (_leg_path)
    stance: float     # stance fraction of the stride (toe-off phase of the left foot)
    t_rot: Wave | None = None   # deg, thigh rotation about its long axis (internal positive)
    shank_len: float = SHANK / 0.82   # the shank's length in stride lengths, for knee_x, knee_z

    def all(self):
        return (self.ap, self.ml, self.v, self.thigh, self.shank, self.arm, self.elbow,
                self.abduct, self.p_yaw, self.p_roll, self.p_pitch, self.knee_x, self.knee_z)

    def reversed(self) -> "Waves":
        """Played backwards in time about the left toe-off, which becomes the contact."""
        at = self.stance
        return Waves(*(w.reversed(at) for w in self.all()), stance=at,
                     t_rot=self.t_rot.reversed(at) if self.t_rot is not None else None,
                     shank_len=self.shank_len)


# The shank's inclination over the stride (deg, ankle forward of the knee positive; contact
# at 0, toe-off at 0.6), at the ankle placement: 11 deg ahead of the knee at initial contact
# and rotating back fast as the foot comes down and the knee flexes (loading response),
# leaning 5 deg forward through mid stance, carried forward over the forefoot with the heel
# rise to 42 deg at toe-off; it swings through in mid-swing to 29 deg ahead of the knee and
# is pulled back in terminal swing, so that its pitch rate passes its negative peak at the
# heel strike (Aminian K et al. 2002, J Biomech 35:689, who mark initial contact so). Phases
# after Perry & Burnfield (2010). Angles: the pitch rate of the mocap_dev ankle recordings
# of normal, youthful, masculine, feminine and active walking (strides of 1.1 to 1.5 m),
# averaged over strides and integrated, from the shank's posture when standing (14.5 deg
# off that data's shank axis). The shank was the thigh's angle less the knee's (Winter
# 1991): the same swing, but each event about 6 % of a stride later after contact, the
# shank still swinging forward as the heel struck; the thigh's table below is the pocket's.
SHANK_WALK = [(0.00, 11.2), (0.04, 3.2), (0.08, -1.8), (0.12, -4.4), (0.16, -5.4), (0.24, -5.5),
              (0.28, -6.3), (0.32, -8.6), (0.36, -12.5), (0.40, -17.6), (0.44, -23.2),
              (0.48, -29.3), (0.52, -35.5), (0.56, -39.9), (0.60, -41.7), (0.64, -39.4),
              (0.68, -32.2), (0.72, -21.2), (0.76, -7.2), (0.80, 8.2), (0.84, 21.8),
              (0.88, 28.8), (0.92, 27.2), (0.96, 20.3)]


def _difference(a_points, b_points, harmonics: int) -> Wave:
    """A waveform a - b from two sets of key points (the shank from thigh and knee angles)."""
    grid = np.arange(128) / 128.0
    wa, wb = Wave.from_points(a_points, harmonics), Wave.from_points(b_points, harmonics)
    return Wave.from_points(list(zip(grid, wa(grid) - wb(grid))), harmonics)


def _trunk_step_points(ds: float):
    """Lower-back accelerations over one step (contact at 0), g, before RMS scaling."""
    v = [(0.00, -0.12), (0.05, 0.16), (0.11, 0.36), (ds + 0.02, 0.22), (ds + 0.15, -0.04),
         (0.55, -0.26), (0.75, -0.22), (0.93, -0.16)]
    ap = [(0.00, 0.16), (0.025, 0.18), (0.08, 0.02), (0.14, -0.16), (ds, -0.18),
          (ds + 0.12, -0.10), (0.5, -0.02), (0.7, 0.06), (0.9, 0.13)]
    # medio-lateral, body y (left) during the left step: the stance leg pushes the body
    # towards the other side; the next step mirrors it
    ml = [(0.00, 0.05), (0.06, -0.02), (0.15, -0.09), (0.35, -0.11), (0.6, -0.08), (0.85, -0.02)]
    return ap, ml, v


def _scale_rms(w: Wave, target: float) -> Wave:
    w = w.zero_mean()
    return w.scaled(target / w.rms())


@lru_cache(maxsize=32)
def walking_waves(ds: float = FORWARD_DS) -> Waves:
    ap, ml, v = _trunk_step_points(ds)
    to = 0.5 + ds / 2.0
    thigh = [(0.0, 22), (0.10, 20), (0.20, 12), (0.30, 4), (0.40, -4), (0.50, -10), (0.55, -11),
             (0.60, -8), (0.65, -2), (0.70, 6), (0.75, 14), (0.80, 20), (0.87, 24), (0.93, 23)]
    thigh = [(_warp(p, to), a) for p, a in thigh]
    shank = [(_warp(p, to), a) for p, a in SHANK_WALK]
    grid = np.arange(64) / 64.0
    arm = [(p, -2.0 + 15.0 * np.cos(2 * np.pi * (p - 0.52))) for p in grid]
    elbow = [(p, 24.0 + 8.0 * np.cos(2 * np.pi * (p - 0.55))) for p in grid]
    abduct = [(p, 6.0 + 8.0 * np.cos(2 * np.pi * (p - 0.55))) for p in grid]
    p_yaw = [(p, -4.0 * np.cos(2 * np.pi * p)) for p in grid]
    p_roll = [(p, 3.5 * np.cos(2 * np.pi * (p - 0.15))) for p in grid]
    p_pitch = [(p, 1.5 * np.cos(4 * np.pi * (p - 0.1))) for p in grid]
    shank_w = Wave.from_points(shank, 8)
    kx, kz = _leg_path(to, shank_w, SHANK / 0.82)
    # thigh rotation about its long axis relative to the body (hip rotation plus the
    # pelvis' own): internal through loading and stance, external in pre-swing and
    # swing, about 12 deg over the stride (Kadaba et al. 1990; Perry & Burnfield 2010)
    t_rot = [(0.0, 0.0), (0.08, 4.0), (0.18, 5.5), (0.35, 3.0), (0.50, 0.5), (to, -3.0),
             (0.72, -6.5), (0.82, -5.0), (0.93, -2.0)]
    return Waves(
        ap=_scale_rms(Wave.stride(ap), TRUNK_RMS[0]),
        ml=_scale_rms(Wave.stride(ml, -1.0), TRUNK_RMS[1]),
        v=_scale_rms(Wave.stride(v), TRUNK_RMS[2]),
        thigh=Wave.from_points(thigh, 8), shank=shank_w,
        arm=Wave.from_points(arm, 3), elbow=Wave.from_points(elbow, 3),
        abduct=Wave.from_points(abduct, 3),
        p_yaw=Wave.from_points(p_yaw, 3), p_roll=Wave.from_points(p_roll, 3),
        p_pitch=Wave.from_points(p_pitch, 3), knee_x=kx, knee_z=kz, stance=to,
        t_rot=Wave.from_points(t_rot, 5))


def _hermite(p0, p1, v0, v1, u, span):
    """Cubic from p0 (rate v0) at u = 0 to p1 (rate v1) at u = 1, rates per unit of span."""
    u2, u3 = u * u, u * u * u
    return ((2 * u3 - 3 * u2 + 1) * p0 + (u3 - 2 * u2 + u) * span * v0
            + (3 * u2 - 2 * u3) * p1 + (u3 - u2) * span * v1)


def _leg_path(to: float, shank: Wave, shank_len: float, lift: float = 0.08, rock: float = HEEL_ROCK,
              roll: float = 1.0):
    """The knee's path over the stride (contact at 0, toe-off at `to`), in stride lengths:
    forward relative to a point moving on at the walking speed (so that its second
    derivative is the knee's acceleration), and up. `shank_len`: the shank in stride lengths.

    In stance the knee is where the shank puts it above the ankle, and the ankle is the
    foot's: planted from contact until the heel rises in terminal stance (Perry & Burnfield
    2010), then rolling forward and up over the forefoot, fastest in pre-swing, to leave the
    ground at twice the walking speed, `lift` above where it stood. In swing the foot hangs
    from the knee, which moves on smoothly (a cubic from its state at toe-off to the one
    at the next contact), and swings with the shank: the sensor's accelerations come from
    the same rotation the gyroscope sees, its centripetal pull towards the knee at the
    swing's peak rate and its tangential one as the swing is braked in terminal swing,
    which brings the foot almost to rest before the heel lands (Winter DA 1992, Can J Sport
    Sci 17:3). The heel lands with the ankle still moving forward at HEEL_ROCK walking
    speeds, the foot rolling down about the heel (the heel rocker), and the foot is still
    within the loading response (`rock`: the ankle's speed as the heel lands, of the walking
    speed; `roll` scales its speeds as the heel rises). Heel-rise and landing speeds and
    heights: stride averages of the mocap_dev ankle recordings (as SHANK_WALK; lift 0.04 to
    0.13 stride lengths)."""
    n = 1024
    grid = np.arange(n) / n
    heel = min(0.26, 0.43 * to)                # heel-off to toe-off (terminal stance, pre-swing)
    # the ankle's forward speed (walking speed 1) as the heel lands and rolls down, and its
    # speed and height (of `lift`) as the heel rises
    ks = [1.0, 0.77, 0.62, 0.46, 0.31, 0.15, 0.0]
    vs = [0.0, 0.27, 0.57, 1.17, 1.9, 2.07, 2.14]
    zs = [0.0, 0.12, 0.25, 0.45, 0.66, 0.84, 1.0]
    at = [to - k * heel for k in ks]
    land = [(0.0, rock), (0.04 * to / 0.6, 0.05 * rock), (0.08 * to / 0.6, 0.0)]
    v = np.interp(grid, [p for p, _ in land] + at, [x for _, x in land] + [x * roll for x in vs])
    ax = np.cumsum(v) / n                                     # (carried on past toe-off,
    az = np.interp(grid, at, zs, left=0.0) * lift             # for the rates there)
    b = shank(grid) * D2R
    kx = ax - shank_len * np.sin(b) - grid     # knee, relative to the walking speed
    kz = az + shank_len * np.cos(b)
    dkx, dkz = np.gradient(kx, 1.0 / n), np.gradient(kz, 1.0 / n)
    i = int(round(to * n))
    u = (grid[i:] - grid[i]) / (1.0 - grid[i])
    # swing: to the next contact's knee (one stride on, so the same place relative to it)
    kx[i:] = _hermite(kx[i], kx[0], dkx[i], dkx[0], u, 1.0 - grid[i])
    kz[i:] = _hermite(kz[i], kz[0], dkz[i], dkz[0], u, 1.0 - grid[i])
    return Wave.from_points(list(zip(grid, kx)), 12), Wave.from_points(list(zip(grid, kz)), 12)


@lru_cache(maxsize=8)
def backward_waves() -> Waves:
    return walking_waves(BACKWARD_DS).reversed()


@lru_cache(maxsize=8)
def running_waves(contact: float = 0.68) -> Waves:
    """Spring-mass running; `contact` is ground contact time as a fraction of a step."""
    n = 128
    ps = np.arange(n) / n
    st = ps < contact
    peak = np.pi / (2.0 * contact)               # mean vertical force over the step = 1 g
    v = np.where(st, peak * np.sin(np.pi * np.minimum(ps / contact, 1.0)), 0.0) - 1.0
    ap = np.where(st, -0.35 * np.sin(2 * np.pi * np.minimum(ps / contact, 1.0)), 0.0)
    ml = np.where(st, -0.15 * np.sin(np.pi * np.minimum(ps / contact, 1.0)), 0.0)
    w = walking_waves(0.02)
    to = contact / 2.0
    thigh = [(_warp(p, to), a) for p, a in [(0.0, 25), (0.15, 12), (0.35, -8), (0.5, -18), (0.6, -14),
                                             (0.75, 20), (0.87, 38), (0.95, 32)]]
    knee = [(_warp(p, to), a) for p, a in [(0.0, 15), (0.12, 38), (0.3, 20), (0.55, 30), (0.7, 90),
                                            (0.8, 105), (0.9, 60), (0.97, 25)]]
    grid = np.arange(64) / 64.0
    shank = _difference(thigh, knee, 8)
    ls = SHANK / (0.82 * 1.6)                   # strides 1.6 times the walking ones
    # the foot lands under the body (its transient is the shock) and leaves the ground at
    # about 1.3 times the running speed: walking's roll (2.1 times) in running's short
    # stance put 10 g at the ankle, twice what the mocap_dev runs show (4 g at the 99th
    # percentile, without impacts)
    kx, kz = _leg_path(to, shank, ls, 0.05, rock=0.0, roll=0.6)
    return Waves(
        ap=Wave.stride(list(zip(ps, ap)), 1.0, 40), ml=Wave.stride(list(zip(ps, ml)), -1.0, 40),
        v=Wave.stride(list(zip(ps, v)), 1.0, 40),
        thigh=Wave.from_points(thigh, 8), shank=shank,
        arm=Wave.from_points([(p, 5.0 + 25.0 * np.cos(2 * np.pi * (p - 0.52))) for p in grid], 3),
        elbow=Wave.from_points([(p, 85.0 + 10.0 * np.cos(2 * np.pi * (p - 0.55))) for p in grid], 3),
        abduct=w.abduct, p_yaw=w.p_yaw.scaled(1.5), p_roll=w.p_roll, p_pitch=w.p_pitch.scaled(1.5),
        knee_x=kx, knee_z=kz, stance=to, shank_len=ls,
        t_rot=w.t_rot.scaled(1.3) if w.t_rot is not None else None)


@lru_cache(maxsize=8)
def stairs_waves(up: bool) -> Waves:
    w = walking_waves(0.30)
    ls = SHANK / (0.82 * 0.5)                   # steps half the walking ones
    if up:
        shank = w.shank.scaled(1.5, 12.0)
        kx, kz = _leg_path(w.stance, shank, ls, 0.16)
        return Waves(ap=w.ap.scaled(0.55), ml=w.ml.scaled(1.1), v=w.v.scaled(1.25),
                     thigh=w.thigh.scaled(1.5, 18.0), shank=shank,
                     arm=w.arm.scaled(0.6), elbow=w.elbow, abduct=w.abduct, p_yaw=w.p_yaw,
                     p_roll=w.p_roll, p_pitch=w.p_pitch, knee_x=kx, knee_z=kz,
                     stance=w.stance, t_rot=w.t_rot, shank_len=ls)
    shank = w.shank.scaled(1.25, -3.0)          # (the thigh's swing 1.1 times, the knee's 1.4)
    kx, kz = _leg_path(w.stance, shank, ls, 0.12)
    return Waves(ap=w.ap.scaled(0.7), ml=w.ml.scaled(1.2), v=w.v.scaled(1.35),
                 thigh=w.thigh.scaled(1.1, 5.0), shank=shank,
                 arm=w.arm.scaled(0.6), elbow=w.elbow, abduct=w.abduct, p_yaw=w.p_yaw,
                 p_roll=w.p_roll, p_pitch=w.p_pitch, knee_x=kx, knee_z=kz,
                 stance=w.stance, t_rot=w.t_rot, shank_len=ls)


# ----------------------------------------------------------------------------- gaits

@dataclass(frozen=True)
class Gait:
    """One way of stepping. `direction` is the label of its steps ("F" or "B")."""
    kind: str                 # walk, retro, run, stairs_up, stairs_down, turn
    cadence_spm: float
    speed: float              # m/s along the direction of travel
    direction: str = "F"
    turn_deg: float = 0.0     # heading change over the whole segment (+ = to the left)

    @property
    def step_s(self) -> float:
        return 60.0 / self.cadence_spm

    def waves(self) -> Waves:
        if self.kind == "retro":
            return backward_waves()
        if self.kind == "run":
            return running_waves(min(0.8, max(0.5, 0.24 / self.step_s)))
        if self.kind in ("stairs_up", "stairs_down"):
            return stairs_waves(self.kind == "stairs_up")
        return walking_waves()


def default_gait(kind: str, height_m: float, cadence_spm=None, speed=None) -> Gait:
    """Typical cadence and speed for a kind of stepping, scaled by height where it applies
    (step length about 0.41 x height at preferred speed)."""
    base = {"walk": 108.0, "retro": 108.0, "run": 165.0, "stairs_up": 95.0, "stairs_down": 105.0,
            "turn": 90.0}[kind]
    cad = float(cadence_spm) if cadence_spm else base
    if speed is None:
        step = 0.41 * height_m * {"walk": 1.0, "retro": BACKWARD_STEP, "run": 1.6,
                                  "stairs_up": 0.5, "stairs_down": 0.5, "turn": 0.45}[kind]
        if kind in ("walk", "retro"):
            step *= (cad / 108.0) ** 0.5      # faster cadence goes with longer steps
        speed = step * cad / 60.0
    return Gait(kind, cad, float(speed), "B" if kind == "retro" else "F",
                180.0 if kind == "turn" else 0.0)


# transient amplitudes (g) per placement: (vertical, AP, ML), time constant (s); for the
# foot on the sensor's side and for the other foot
_SHOCK = {
    "lower_back": ((0.35, -0.20, 0.08), (0.35, -0.20, 0.08), 0.012),
    "waist": ((0.35, -0.20, 0.08), (0.33, -0.18, 0.08), 0.012),
    # the other leg's contact reaches a pocket through the pelvis (0.35 g there) and the hip
    "front_pocket": ((2.20, -1.20, 0.90), (0.20, -0.10, 0.08), 0.015),
    "ankle": ((2.50, -1.50, 0.30), (0.15, -0.08, 0.02), 0.008),
    "wrist": ((0.30, -0.12, 0.06), (0.30, -0.12, 0.06), 0.025),
}


def _shock_integral(t, tau):
    """Running integral of the zero-mean contact pulse (t/tau) e^(1-t/tau) - (1/4)(t/4tau)e^(1-t/4tau)."""
    t = np.maximum(t, 0.0)
    t2 = 4.0 * tau
    a = tau * (1.0 - np.exp(-t / tau) * (1.0 + t / tau))
    b = 0.25 * t2 * (1.0 - np.exp(-t / t2) * (1.0 + t / t2))
    return np.e * (a - b)


def shock(dt_s, tau, period):
    """The contact pulse (peak 1) averaged over one sample period ending at dt_s after contact:
    the anti-alias filter of a real sensor spreads it likewise."""
    return (_shock_integral(dt_s, tau) - _shock_integral(dt_s - period, tau)) / period


# ----------------------------------------------------------------------------- segment

class Stepping:
    """A bout of steps of one gait: `steps` steps, or as many as fit in `duration_s`.

    Starts and ends standing: the oscillation ramps up over the step before the first
    contact and fades over the step after the last one. Every labelled contact is a
    step (foot contact) with the gait's direction.
    """

    def __init__(self, gait: Gait, steps: int | None = None, duration_s: float | None = None,
                 label: str | None = None):
        if (steps is None) == (duration_s is None):
            raise ValueError("give steps or duration_s")
        self.gait = gait
        self.n_steps = steps
        self.duration_s = duration_s
        self.label = label or gait.kind

    # step times ------------------------------------------------------------
    def _contacts(self, ctx: Context, t0: float):
        p = ctx.person
        g = self.gait
        T = g.step_s
        rng = ctx.rng
        first = t0 + T + 0.4          # stand still a moment, then set off
        n_max = self.n_steps if self.n_steps is not None else \
            max(0, int((self.duration_s - (first - t0) - 1.6 * T) / T * 1.2) + 2)
        e = rng.standard_normal(n_max + 4)
        # step time: AR(1) fluctuation with the person's coefficient of variation
        ar = np.empty_like(e)
        acc = 0.0
        for k in range(len(e)):
            acc = 0.6 * acc + 0.8 * e[k]
            ar[k] = acc
        side = np.where(np.arange(n_max + 4) % 2 == 0, 1.0, -1.0)
        dur = T * (1.0 + 0.5 * p.asymmetry * side) * (1.0 + p.variability * ar)
        dur = np.clip(dur, 0.5 * T, 1.5 * T)
        times = first + np.concatenate([[0.0], np.cumsum(dur[:-1])])
        if self.n_steps is not None:
            c = times[:self.n_steps]
        else:
            c = times[times <= t0 + self.duration_s - 1.6 * T]
        amp = (1.0 + p.asymmetry * side[:len(c)]) * (1.0 + 0.06 * rng.standard_normal(len(c)))
        return c, amp, T

    def samples(self, ctx: Context):
        g = self.gait
        rate = ctx.rate_hz
        t0 = ctx.i0 / rate
        c, amp_steps, T = self._contacts(ctx, t0)
        n = len(c)
        if n:
            last = c[-1]
            end = last + 1.6 * T
        else:            # no steps at all: the wearer just stands (2 s, or the duration)
            end = t0 + (self.duration_s or 2.0)
            last = t0 - 10.0
        if self.duration_s is not None:
            end = t0 + self.duration_s
        # virtual contacts around the labelled ones keep the phase defined everywhere
        k_pre = int(np.ceil((c[0] - t0) / T)) + 2 if n else 0
        k_post = int(np.ceil((end - last) / T)) + 2 if n else 0
        if n:
            cv = np.concatenate([c[0] - T * np.arange(k_pre, 0, -1), c, last + T * np.arange(1, k_post + 1)])
            av = np.concatenate([np.full(k_pre, amp_steps[0]), amp_steps, np.full(k_post, amp_steps[-1])])
            real = np.concatenate([np.zeros(k_pre), np.ones(n), np.zeros(k_post)])
        waves = g.waves()
        speed_gain = np.clip(g.speed / REF_SPEED, 0.2, 4.0)
        speed_gain = float(speed_gain) ** SPEED_EXP.get(ctx.placement, 1.0)
        ref_step = 0.41 * ctx.person.height_m
        angle_gain = float(np.clip(g.speed * g.step_s / ref_step, 0.3, 2.0)) ** 0.8
        if g.kind == "run":
            speed_gain = 1.0
            angle_gain = 1.0
        sway = _Sway(ctx)
        pocket = None
        strength = np.zeros(0)
        if ctx.placement == "front_pocket" and n:
            # drawn after everything else, so that other placements keep their traces
            pocket = Pocket(ctx.rng, len(cv))
            strength = av * ctx.person.impact * min(2.0, speed_gain) ** 0.5
        i_end = ctx.index(end)
        shock_amp, shock_other, tau = _SHOCK.get(ctx.placement, _SHOCK["waist"])
        if g.kind == "retro":
            shock_scale = np.array([0.45, -0.45, 0.45]) * ctx.person.impact
            tau *= 1.8
        elif g.kind == "run":
            shock_scale = np.array([2.5, 1.5, 1.5]) * ctx.person.impact
        elif g.kind == "stairs_down":
            shock_scale = np.array([1.6, 1.0, 1.2]) * ctx.person.impact
        elif g.kind == "stairs_up":
            shock_scale = np.array([0.5, 0.5, 0.6]) * ctx.person.impact
        else:
            shock_scale = np.array([1.0, 1.0, 1.0]) * ctx.person.impact * min(2.0, speed_gain) ** 0.7
        total_turn = g.turn_deg * D2R
        emitted = 0
        irregular = None
        if n and ctx.placement in ("lower_back", "waist"):
            irregular = (ctx.rng.standard_normal((len(cv), 3, len(IRREGULAR_HALF_WAVES)))
                         * TRUNK_IRREGULARITY * np.array(TRUNK_RMS)[:, None])
        for i, m in chunk_ranges(ctx.i0, i_end, ctx.chunk):
            t = ctx.t(i, m)
            steps = []
            while emitted < n and c[emitted] < (i + m) / rate:
                steps.append((int(round(c[emitted] * 1000.0)), g.direction))
                emitted += 1
            if not n:
                f, w = standing_motion(ctx, t, sway)
                yield BodyChunk(f, w, steps)
                continue
            idx = np.clip(np.searchsorted(cv, t, side="right") - 1, 0, len(cv) - 2)
            Td = cv[idx + 1] - cv[idx]
            p = np.clip((t - cv[idx]) / Td, 0.0, 0.999999)
            foot = (idx - k_pre) % 2                      # 0: left (the sensor's side)
            phi = (foot + p) * 0.5
            phid = 0.5 / Td
            amp = (av[idx] * (1.0 - p) + av[idx + 1] * p) * speed_gain
            env = smoothstep((t - (c[0] - T)) / T) * (1.0 - smoothstep((t - last) / (1.3 * T)))
            # contact transients, current and previous contact
            sh = np.zeros((m, 3))
            for back in (0, 1):
                j = np.maximum(idx - back, 0)
                dt = t - cv[j]
                pulse = shock(dt, tau, 1.0 / rate) * real[j]
                same = ((j - k_pre) % 2 == 0)
                base = np.where(same[:, None], np.array(shock_amp), np.array(shock_other))
                side = np.where(same, -1.0, 1.0)          # lateral pulse away from the stance foot
                sh[:, 0] += pulse * base[:, 1] * shock_scale[1] * av[j]
                sh[:, 1] += pulse * base[:, 2] * shock_scale[2] * side
                sh[:, 2] += pulse * base[:, 0] * shock_scale[0] * av[j]
            if irregular is not None:
                scale = (av[idx] * speed_gain * env)[:, None]
                for kk, k in enumerate(IRREGULAR_HALF_WAVES):
                    sh += irregular[idx, :, kk] * np.sin(np.pi * k * p)[:, None] * scale
            # heading change for turns, spread over the labelled steps
            if total_turn:
                span = max(last - c[0], T)
                yaw_rate = total_turn / span * (smoothstep((t - c[0] + 0.3 * T) / (0.6 * T))
                                                - smoothstep((t - last) / (0.6 * T)))
            else:
                yaw_rate = np.zeros(m)
            pk = None
            if pocket is not None:
                own_j = np.where(foot == 0, idx, np.maximum(idx - 1, 0))
                pk = pocket.contacts(t, cv, idx, own_j, real, strength)
            f, w = walking_motion(ctx, waves, phi, phid, amp, env, angle_gain, sh, yaw_rate,
                                  g.speed, sway, t, pk, amp / speed_gain)
            yield BodyChunk(f, w, steps)


class _Sway:
    """Quiet-standing sway of the whole body: small tilts with a 1-2 s time constant
    (Winter DA 1995, Human balance and posture control during standing and walking,
    Gait Posture 3:193-214: sway of a few tenths of a degree)."""

    def __init__(self, ctx: Context, scale: float = 1.0):
        dt = 1.0 / ctx.rate_hz
        self.ap = OU(ctx.rng, dt, 1.5, 0.35 * D2R * scale)
        self.ml = OU(ctx.rng, dt, 1.2, 0.25 * D2R * scale)
        self.arm = OU(ctx.rng, dt, 2.5, 1.5 * D2R * scale)
        self._prev = {}

    def take(self, m):
        return self.ap.take(m), self.ml.take(m), self.arm.take(m)

    def deriv(self, key, x, dt):
        """Rate of change by backward differences, carried across chunks (the sample
        before a chunk is the last one of the chunk before), so a streamed trace is the
        same whatever its chunk size."""
        if not len(x):
            return np.zeros_like(x)
        prev = self._prev.get(key, x[0])
        self._prev[key] = x[-1]
        return np.diff(x, prepend=prev) / dt


WRIST_PRONATION = 0.45     # forearm rotation per degree of arm swing
WATCH_RADIUS = 0.03        # m, watch above the forearm's axis


def _pocket_motion(W: Waves, phi, phid, env, f, yaw, yaw_d, pitch, pitch_d, ml_quiet, ml_quiet_d, dt, pocket):
    """The phone in the front pocket: the thigh's swing (pitch, given), its ab/adduction and
    rotation about its long axis, the hip joint's lever on the pelvis and, when walking with
    contacts, the phone's own motion in the pocket (pocket.py)."""
    # ab/adduction follows the pelvis' obliquity with the hip's own, in phase: about twice
    # the pelvis' +-3.5 deg (Kadaba et al. 1990)
    k_r = 2.0
    roll = W.p_roll(phi) * D2R * env * k_r + ml_quiet
    roll_d = W.p_roll.deriv(phi) * phid * D2R * env * k_r + ml_quiet_d
    # the hip joint rides on the pelvis, to the side of its centre
    hx, hz = hip_lever(W.p_roll.deriv2(phi) * phid * phid * D2R * env,
                       W.p_yaw.deriv2(phi) * phid * phid * D2R * env)
    f = f.copy()
    f[:, 0] += hx
    f[:, 2] += hz
    acc = None
    if pocket is not None:
        # the phone tilts in the pocket as the hip flexes (the thigh's flexion is -pitch)
        c, c_d = crease_tilt(-pitch, -pitch_d, env)
        roll = roll + CREASE_TILT[0] * c
        roll_d = roll_d + CREASE_TILT[0] * c_d
        pitch = pitch + CREASE_TILT[1] * c
        pitch_d = pitch_d + CREASE_TILT[1] * c_d
        acc, (k_roll, k_pitch), (s, s_d), (sr, sr_d, sp, sp_d) = pocket
        roll = roll + k_roll * D2R * s + sr
        roll_d = roll_d + k_roll * D2R * s_d + sr_d
        pitch = pitch + k_pitch * D2R * s + sp
        pitch_d = pitch_d + k_pitch * D2R * s_d + sp_d
    fs, ws = to_segment(f, yaw, pitch, roll, yaw_d, pitch_d, roll_d)
    if acc is not None:
        fs += acc
    if W.t_rot is not None:
        psi = W.t_rot(phi) * D2R * env
        psi_d = W.t_rot.deriv(phi) * phid * D2R * env
        psi_dd = W.t_rot.deriv2(phi) * phid * phid * D2R * env
        fs, ws = spin_about_long_axis(fs, ws, psi, psi_d, psi_dd, SKIN_RADIUS)
    return fs, ws


def standing_motion(ctx: Context, t, sway: _Sway):
    """Standing still: upright, arms hanging, the body swaying a little."""
    m = len(t)
    dt = 1.0 / ctx.rate_hz
    ap, ml, arm = sway.take(m)
    f = np.zeros((m, 3))
    f[:, 2] = 1.0
    pitch = -ap + (-arm if ctx.placement == "wrist" else 0.0)
    roll = ml
    z = np.zeros(m)
    return to_segment(f, z, pitch, roll, z, sway.deriv("pitch", pitch, dt), sway.deriv("roll", roll, dt))


def walking_motion(ctx: Context, W: Waves, phi, phid, amp, env, angle_gain, shock_g, yaw_rate,
                   speed, sway: _Sway, t, pocket=None, step_len=1.0):
    """Specific force and angular rate of the placement's segment while stepping.
    `step_len`: each step's length relative to the gait's (the ankle's path)."""
    m = len(phi)
    dt = 1.0 / ctx.rate_hz
    pl = ctx.placement
    H = ctx.person.height_m
    ea = env * amp
    trunk = np.empty((m, 3))
    trunk[:, 0] = W.ap(phi) * ea
    trunk[:, 1] = W.ml(phi) * ea
    trunk[:, 2] = W.v(phi) * ea
    # turning: centripetal acceleration towards the inside of the turn
    turn_g = speed * yaw_rate / 9.80665
    trunk[:, 1] += turn_g
    sap, sml, sarm = sway.take(m)
    quiet = 1.0 - env
    yaw = W.p_yaw(phi) * D2R * env
    pelvis_yaw_d = W.p_yaw.deriv(phi) * phid * D2R * env
    yaw_d = pelvis_yaw_d + yaw_rate
    if pl in ("lower_back", "waist"):
        f = trunk + shock_g
        f[:, 2] += 1.0
        pitch = W.p_pitch(phi) * D2R * env - sap * quiet
        pitch_d = W.p_pitch.deriv(phi) * phid * D2R * env + sway.deriv("ap", -sap * quiet, dt)
        roll = W.p_roll(phi) * D2R * env + sml * quiet
        roll_d = W.p_roll.deriv(phi) * phid * D2R * env + sway.deriv("ml", sml * quiet, dt)
        return to_segment(f, yaw, pitch, roll, yaw_d, pitch_d, roll_d)
    if pl == "front_pocket":
        g_ang = angle_gain * env
        th0 = 2.0 * D2R
        a = th0 + (W.thigh(phi) * D2R - th0) * g_ang
        a_d = W.thigh.deriv(phi) * phid * D2R * g_ang
        a_dd = W.thigh.deriv2(phi) * phid * phid * D2R * g_ang
        # a phone rides in the upper thigh, 0.1-0.15 m below the hip joint
        px, pz = link_accel(0.30 * THIGH * H, a, a_d, a_dd)
        f = trunk + shock_g
        f[:, 0] += px
        f[:, 2] += pz + 1.0
        pitch = -a - sap * quiet
        pitch_d = -a_d + sway.deriv("ap", -sap * quiet, dt)
        return _pocket_motion(W, phi, phid, env, f, yaw, yaw_d, pitch, pitch_d, sml * quiet,
                              sway.deriv("ml", sml * quiet, dt), dt, pocket)
    if pl == "ankle":
        # the shank's inclination (standing: the thigh's 2 deg less the knee's 3)
        g_ang = angle_gain * env
        s0 = -1.0 * D2R
        b = s0 + (W.shank(phi) * D2R - s0) * g_ang
        b_d = W.shank.deriv(phi) * phid * D2R * g_ang
        b_dd = W.shank.deriv2(phi) * phid * phid * D2R * g_ang
        # the knee's path (with the foot planted in stance: not the trunk's bounce), in stride
        # lengths, each step's as long as the step; the strap rides on the shank below it,
        # ANKLE_STRAP_M above the ankle joint, and swings with it about the knee
        S = 2.0 * speed * (0.5 / phid) * env * step_len
        lx, lz = link_accel(SHANK * H - ANKLE_STRAP_M, b, b_d, b_dd)
        f = shock_g.copy()
        f[:, 0] += W.knee_x.deriv2(phi) * phid * phid * S / 9.80665 + lx
        f[:, 1] += turn_g
        f[:, 2] += W.knee_z.deriv2(phi) * phid * phid * S / 9.80665 + lz + 1.0
        pitch = -b - sap * quiet
        pitch_d = -b_d + sway.deriv("ap", -sap * quiet, dt)
        # the shank also abducts and rotates about its long axis a little
        roll = W.p_roll(phi) * D2R * env * 0.5 + sml * quiet
        roll_d = W.p_roll.deriv(phi) * phid * D2R * env * 0.5 + sway.deriv("ml", sml * quiet, dt)
        return to_segment(f, yaw, pitch, roll, yaw_d, pitch_d, roll_d)
    if pl == "wrist":
        # arm swing varies less with speed than the legs do, and more between people
        sw = ctx.person.arm_swing * 1.3 * angle_gain ** 0.5 * env
        u0 = -2.0 * D2R
        u = u0 + (W.arm(phi) * D2R - u0) * sw + sarm * quiet
        u_d = W.arm.deriv(phi) * phid * D2R * sw + sway.deriv("arm", sarm * quiet, dt)
        u_dd = W.arm.deriv2(phi) * phid * phid * D2R * sw
        e0 = 15.0 * D2R
        e = e0 + (W.elbow(phi) * D2R - e0) * env
        e_d = W.elbow.deriv(phi) * phid * D2R * env
        e_dd = W.elbow.deriv2(phi) * phid * phid * D2R * env
        ux, uz = link_accel(UPPER_ARM * H, u, u_d, u_dd)
        b, b_d, b_dd = u + e, u_d + e_d, u_dd + e_dd
        fx, fz = link_accel(0.9 * FOREARM * H, b, b_d, b_dd)
        # the shoulders bounce like the pelvis vertically (Menz et al. 2003: head and pelvis
        # vertical RMS alike) and a little less fore-aft and sideways
        f = trunk * np.array([0.85, 0.85, 1.0]) + shock_g
        f[:, 0] += ux + fx
        f[:, 2] += uz + fz + 1.0
        ab = W.abduct(phi) * D2R * sw
        ab_d = W.abduct.deriv(phi) * phid * D2R * sw
        # the arm swings a little across the body: lateral acceleration of the wrist
        L = (UPPER_ARM + 0.9 * FOREARM) * H
        f[:, 1] += L / 9.80665 * W.abduct.deriv2(phi) * phid * phid * D2R * sw
        # the shoulders counter-rotate against the pelvis
        fs, ws = to_segment(f, -0.5 * yaw, -b, ab, -0.5 * pelvis_yaw_d + yaw_rate, -b_d, ab_d)
        # the forearm turns about its long axis with the swing (pronating as the arm comes
        # forward, about +-7 deg), carrying the watch around it
        k = WRIST_PRONATION * sw
        psi = (W.arm(phi) - float(W.arm.v.mean())) * D2R * k
        return spin_about_long_axis(fs, ws, psi, W.arm.deriv(phi) * phid * D2R * k,
                                    W.arm.deriv2(phi) * phid * phid * D2R * k, WATCH_RADIUS)
    raise ValueError(f"unknown placement {pl!r}")

