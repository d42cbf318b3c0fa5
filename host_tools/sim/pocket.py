"""A phone in a front trouser pocket: what it adds to the motion of the thigh it rides on.

A phone in a pocket is not strapped to the thigh. Besides the thigh's sagittal swing
(gait.py), the recordings of phones in front pockets (the Oxford step-counter data set:
Salvi D et al., github Oxford-step-counter/DataSet, CC BY 4.0) show on the two axes
across the thigh two to three times the acceleration a rigid mount would, spread from
the step frequency up to about 20 Hz, and a magnitude whose odd stride harmonics are
almost as strong as its even ones (harmonic ratio 1.0-1.3, against about 3 at the
pelvis). The model adds, all in the thigh's frame and all of it the same for forward
and backward steps (a causal response to each foot contact, or a function of the
stride's own waveforms, which backward walking plays in reverse like the rest).
Only the sagittal swing of the thigh is left as gait.py makes it:

* Thigh rotation about its long axis (internal in loading and stance, external in
  swing, 10-15 deg over the stride) and ab/adduction: Kadaba MP, Ramakrishnan HK,
  Wootten ME (1990), Measurement of lower extremity kinematics during level walking,
  J Orthop Res 8:383-392; Perry J, Burnfield JM (2010), Gait Analysis, 2nd ed., ch. 7
  and 8. The phone sits on the front of the thigh, about 0.07 m from the femur's axis,
  so the rotation also moves it sideways.
* The hip joint sits about 0.09 m to the side of the pelvis' centre (Bell AL, Pedersen
  DR, Brand RA 1990, J Biomech 23:617-621): pelvic obliquity (+-3.5 deg) lifts and
  drops it once per stride, pelvic rotation (+-4 deg) moves it fore and aft; with the
  pelvis' medio-lateral sway (trunk model) this reaches the pocket as it is.
* A damped secondary oscillation after every foot contact: the heel-strike shock sets
  the soft tissue of the thigh ringing, strongly damped (Wakeling JM, Nigg BM 2001,
  Modification of soft tissue vibrations in the leg by muscular activity, J Appl Physiol
  90:412-420; Wakeling JM, Liphardt AM, Nigg BM 2003, Muscle activity reduces soft-tissue
  resonance at heel-strike during walking, J Biomech 36:1761-1769), and the phone, a
  150-200 g mass held by fabric on that tissue, rings with it at a lower frequency. Two
  modes: 7 Hz (phone on fabric and tissue) and 14 Hz (the tissue). The fabric presses the
  phone onto the thigh, and tissue is stiffer and more damped normal to the skin than
  along it (Wakeling & Nigg 2001), so the phone moves less out of the skin than sideways
  or along the thigh (0.7 times: at 0.5 the recordings' quietest axis was quieter than
  any phone's, tests/test_sim_validation.py). Its own leg's contact moves it most; the other leg's
  reaches it through the pelvis (0.35 g there, lower_back model) and the hip, weaker.
  Frequencies, damping and amplitudes are fitted to the Oxford recordings (their
  magnitude spectra peak at 6-9 Hz; the phones' across-thigh axes carry 0.1-0.2 g in
  each band from 1.3 to 20 Hz, and most of it is not repeated from stride to stride).
  Each contact meets the phone a little differently (how it lies, how the fabric is
  folded): strength and direction are drawn per contact, symmetric about zero.
* Rocking and sliding: the phone tilts in the pocket after its own leg's contact (a
  slower damped rocking), tilts as the hip flexes (the fabric over the front of the hip
  tightens and pushes its top out: a smooth one-sided function of the thigh's angle), and
  wanders slowly as it slides (a few degrees over seconds: below 0.5 Hz, under the
  stride frequency; what moves the phone within a stride is the contacts' rocking and
  ringing above, so the slide does not add a second, random jostle in the gait band).

Direction. Nothing here depends on the walking direction: the contact responses follow
each contact in time for forward and backward steps alike, and the tilts are functions
of the thigh's angle or of the stride waveforms, which backward walking plays in reverse
like everything else. The random directions have no preferred sense. The jostle does
blur the (vertical, forward) orbit of single strides, as it does on a real phone: an
out-of-skin ring whose sign varies from contact to contact adds area of either sign.
"""
from __future__ import annotations

import numpy as np

from .base import G
from .kinematics import D2R

HIP_OFFSET = 0.09        # m, hip joint centre to the side of the pelvis' centre (Bell et al. 1990)
SKIN_RADIUS = 0.07       # m, the phone's distance from the femur's long axis
# secondary oscillation of the phone on the thigh after a foot contact (fitted, see above)
# two modes: the phone on the fabric and tissue (slower) and the soft tissue itself;
# (natural frequency Hz, damping ratio, peak g after the pocket's own leg's contact,
# peak g after the other leg's), for a typical impact at 1.3 m/s
RINGS = ((7.0, 0.15, 2.2, 0.25), (14.0, 0.2, 0.8, 0.15))
RING_AXIAL = 0.8         # spread along the thigh relative to sideways
RING_NORMAL = 0.7        # spread normal to the skin relative to sideways
# rocking of the phone in the pocket after its own leg's contact
ROCK_HZ = 4.5
ROCK_TAU = 0.15          # s
ROCK_DEG = (10.0, 6.0)   # about the thigh's forward axis (sideways tilt), about its side axis
# tilt of the phone as the hip flexes (about the thigh's forward axis, about its side
# axis, per radian of flexion beyond CREASE_DEG; fitted to the recordings' 1-3 Hz content)
CREASE_DEG = 5.0
CREASE_TILT = (0.4, 0.8)
CREASE_MEAN = 0.06       # rad, about the mean of the one-sided flexion over a stride
# slow sliding of the phone in the pocket
SLIDE_DEG = 2.5          # RMS per axis
SLIDE_HZ = (0.05, 0.5)
SLIDE_WAVES = 4


class Pocket:
    """Per-bout state of a phone in a front pocket: per-contact variation drawn once (so the
    trace does not depend on the chunk size) and the sliding processes."""

    def __init__(self, rng: np.random.Generator, n_contacts: int):
        self.gain = np.exp(0.3 * rng.standard_normal(n_contacts))
        ang = rng.uniform(0.0, 2.0 * np.pi, n_contacts)
        d = np.column_stack([RING_NORMAL * np.cos(ang), np.sin(ang),
                             RING_AXIAL * rng.standard_normal(n_contacts)])
        self.dir = d / np.linalg.norm(d, axis=1)[:, None]
        self.rock = np.exp(0.25 * rng.standard_normal(n_contacts))
        # slow wander: a few sinusoids of random frequency and phase per axis, a smooth
        # function of time (the same whatever the chunks, with exact rates)
        k = SLIDE_WAVES
        self.sl_f = 2 * np.pi * rng.uniform(*SLIDE_HZ, (2, k))
        self.sl_p = rng.uniform(0.0, 2 * np.pi, (2, k))
        self.sl_a = SLIDE_DEG * D2R * np.sqrt(2.0 / k) * np.exp(0.3 * rng.standard_normal((2, k)))

    def contacts(self, t, cv, idx, own_j, real, strength):
        """Response to the current and previous contact: (m, 3) acceleration in g (thigh
        frame: x forward/out of the skin, y to the side, z along the thigh) and the rocking
        angles and rates (sideways, fore-aft; rad, rad/s) and the slow wander (sideways and
        fore-aft angles with their rates). `strength` per contact scales the impact (the same
        rule for every gait)."""
        m = len(t)
        acc = np.zeros((m, 3))
        for back in (0, 1):
            j = np.maximum(idx - back, 0)
            dt = np.maximum(t - cv[j], 0.0)
            own = j == own_j
            k = self.gain[j] * real[j] * strength[j]
            ring = np.zeros(m)
            for hz, zeta, a_own, a_other in RINGS:
                wd = 2 * np.pi * hz * np.sqrt(1.0 - zeta * zeta)
                ring += np.where(own, a_own, a_other) * np.exp(-2 * np.pi * hz * zeta * dt) * np.sin(wd * dt)
            acc += (k * ring)[:, None] * self.dir[j]
        # rocking after the own leg's contact (the phone tilts and settles back)
        dt = np.maximum(t - cv[own_j], 0.0)
        e = np.exp(-dt / ROCK_TAU) * real[own_j] * strength[own_j] * self.rock[own_j]
        om = 2 * np.pi * ROCK_HZ
        s = e * np.sin(om * dt)
        s_d = e * (om * np.cos(om * dt) - np.sin(om * dt) / ROCK_TAU)
        arg = t[:, None, None] * self.sl_f + self.sl_p              # (m, 2, k)
        slide = (np.sin(arg) * self.sl_a).sum(axis=2)
        slide_d = (np.cos(arg) * self.sl_a * self.sl_f).sum(axis=2)
        return acc, ROCK_DEG, (s, s_d), (slide[:, 0], slide_d[:, 0], slide[:, 1], slide_d[:, 1])


def hip_lever(roll_dd, yaw_dd):
    """Acceleration (g; forward, up) of the left hip joint from the second derivatives of
    pelvic obliquity and rotation (rad/s^2, small angles): it sits HIP_OFFSET to the left of
    the pelvis' centre, so a roll lifts it and a yaw to the left moves it back."""
    k = HIP_OFFSET / G
    return -k * yaw_dd, k * roll_dd


def crease_tilt(a, a_d, env):
    """Tilt of the phone in the pocket (rad, rad/s) from the thigh's flexion a (rad): the
    fabric over the front of the hip tightens as the hip flexes past CREASE_DEG and pushes
    the phone's top out; a smooth one-sided function of the angle, so it follows the thigh
    (and its time reversal) exactly. Centred so that walking keeps the phone's mean tilt."""
    w = 3.0 * D2R
    u = (a - CREASE_DEG * D2R) / w
    tilt = (w * np.logaddexp(0.0, u) - CREASE_MEAN) * env
    return tilt, a_d / (1.0 + np.exp(-u)) * env
