"""Rigid-body bits: segment orientation to sensor-frame specific force and angular rate,
and the sagittal-plane link chains (hip-thigh-shank, shoulder-arm-forearm).

Segment lengths are fractions of body height from Winter's anthropometric table
(D. A. Winter, Biomechanics and Motor Control of Human Movement, 4th ed., 2009,
table 4.1): thigh 0.245 H, shank 0.246 H, upper arm 0.186 H, forearm 0.146 H.
"""
from __future__ import annotations

import numpy as np

from .base import G

THIGH = 0.245
SHANK = 0.246
UPPER_ARM = 0.186
FOREARM = 0.146
D2R = np.pi / 180.0
R2D = 180.0 / np.pi


def to_segment(f_body: np.ndarray, yaw, pitch, roll, yaw_d, pitch_d, roll_d):
    """Specific force (n,3, body frame) and Euler angles/rates (rad, rad/s; z-y-x order:
    yaw about z, then pitch about the new y, then roll about the new x) of a segment
    -> (specific force in the segment frame, angular rate in the segment frame in dps).

    Pitch follows the right-hand rule about y (left): a positive pitch tips the segment's
    z axis forwards (and x down). For a limb whose distal end swings forward by angle a,
    the limb's z axis (distal to proximal) tips backwards: pitch = -a.
    """
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    fx, fy, fz = f_body[:, 0], f_body[:, 1], f_body[:, 2]
    # R = Rz(yaw) Ry(pitch) Rx(roll); f_seg = R^T f_body
    ax = cy * fx + sy * fy                # after undoing yaw
    ay = -sy * fx + cy * fy
    bx = cp * ax - sp * fz                # after undoing pitch
    bz = sp * ax + cp * fz
    f = np.empty_like(f_body)
    f[:, 0] = bx
    f[:, 1] = cr * ay + sr * bz           # after undoing roll
    f[:, 2] = -sr * ay + cr * bz
    w = np.empty_like(f_body)
    w[:, 0] = roll_d - yaw_d * sp
    w[:, 1] = pitch_d * cr + yaw_d * cp * sr
    w[:, 2] = -pitch_d * sr + yaw_d * cp * cr
    w *= R2D
    return f, w


def link_accel(length_m: float, a, a_d, a_dd):
    """Acceleration in g (x forward, z up) of a point `length_m` down a link hanging from a
    pivot, the link's distal end swung forward by angle a (rad) with rates a_d, a_dd."""
    c, s = np.cos(a), np.sin(a)
    k = length_m / G
    return k * (a_dd * c - a_d * a_d * s), k * (a_dd * s + a_d * a_d * c)


def spin_about_long_axis(f, w, psi, psi_d, psi_dd, radius):
    """Turn a segment-frame specific force (g) and angular rate (dps) by a rotation psi (rad,
    with its rates) about the segment's long axis (z), for a device `radius` m in front of
    (+x) that axis: it also moves sideways (tangential) and is pulled in (centripetal)."""
    r = radius
    c, s = np.cos(psi), np.sin(psi)
    out = np.empty_like(f)
    out[:, 0] = c * f[:, 0] + s * f[:, 1] - r * psi_d * psi_d / G
    out[:, 1] = -s * f[:, 0] + c * f[:, 1] + r * psi_dd / G
    out[:, 2] = f[:, 2]
    wo = np.empty_like(w)
    wo[:, 0] = c * w[:, 0] + s * w[:, 1]
    wo[:, 1] = -s * w[:, 0] + c * w[:, 1]
    wo[:, 2] = w[:, 2] + psi_d * R2D
    return out, wo
