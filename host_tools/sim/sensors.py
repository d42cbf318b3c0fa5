"""IMU sensor models: from true specific force and angular rate to a chip's counts.

Each chip has full-scale ranges and their sensitivities, noise density, and the
typical spread of zero offset, sensitivity (scale) error and cross-axis coupling
from its datasheet. A `SensorInstance` draws one device's errors from a seeded
generator (a given seed always gives the same device) and applies, per sample:

    counts = clip(round(lsb * ((I + S) C (M^T x) + b + noise)), -32768, 32767)

M is the mounting rotation (columns: the sensor's axes in the segment frame), C the
cross-axis matrix, S the diagonal scale error, b the offset, `noise` white with the
datasheet noise density over the output bandwidth (rate / 2). Clipping at the 16-bit
limits is the full-scale saturation of every chip here.

Datasheets (typical values; offsets and tolerances are +- ranges):
  MPU-6050: InvenSense PS-MPU-6000A-00 rev 3.4. Accel 400 ug/rtHz, zero-g +-50 mg
    (x, y) +-80 mg (z), sensitivity +-3 %, cross-axis +-2 %. Gyro 0.005 dps/rtHz,
    zero-rate +-20 dps, +-3 %, +-2 %.
  MPU-6500: InvenSense PS-MPU-6500A-01 rev 1.1. Accel 300 ug/rtHz, +-60 mg (z +-80),
    +-3 %, +-2 %. Gyro 0.01 dps/rtHz, +-5 dps, +-3 %, +-2 %.
  MPU-6886: InvenSense DS-000193 rev 1.0 (MPU-6886). Accel 100 ug/rtHz, +-40 mg,
    +-3 %, +-2 %. Gyro 0.004 dps/rtHz, +-1 dps (typical after calibration), +-1 %, +-2 %.
  LSM6DS3: ST DocID026899 rev 10. Accel 0.061 mg/LSB at +-2 g, 90 ug/rtHz, +-40 mg,
    +-1 % (typ.), cross-axis +-1 %. Gyro 8.75 mdps/LSB at 245 dps, 7 mdps/rtHz,
    +-10 dps, +-1 %.
  LSM6DSO: ST DS12140 rev 3. Accel 70 ug/rtHz, +-20 mg, +-1 %. Gyro 3.8 mdps/rtHz,
    +-1 dps, +-1 %.
  BMI160: Bosch BST-BMI160-DS000 rev 0.9. Accel 16384 LSB/g at +-2 g, 180 ug/rtHz,
    +-40 mg, +-1 %, +-1 %. Gyro 16.4 LSB/dps at 2000 dps, 0.007 dps/rtHz, +-3 dps,
    +-1 %, +-1 %.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class SensorSpec:
    name: str
    accel_lsb: dict          # full scale in g -> LSB per g
    gyro_lsb: dict           # full scale in dps -> LSB per dps
    accel_noise_ug: float    # ug / sqrt(Hz)
    gyro_noise_mdps: float   # mdps / sqrt(Hz)
    accel_offset_mg: tuple   # (x, y, z) typical +- range
    gyro_offset_dps: float
    accel_scale: float       # relative sensitivity tolerance
    gyro_scale: float
    cross_axis: float
    default_accel_g: int = 4
    default_gyro_dps: int = 500


_MPU_A = {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0}
_MPU_G = {250: 131.0, 500: 65.5, 1000: 32.8, 2000: 16.4}
_ST_A = {2: 1000 / 0.061, 4: 1000 / 0.122, 8: 1000 / 0.244, 16: 1000 / 0.488}
_ST_G = {125: 1000 / 4.375, 250: 1000 / 8.75, 500: 1000 / 17.5, 1000: 1000 / 35.0, 2000: 1000 / 70.0}
_BMI_G = {125: 262.4, 250: 131.2, 500: 65.6, 1000: 32.8, 2000: 16.4}

SENSORS = {
    "mpu6050": SensorSpec("mpu6050", _MPU_A, _MPU_G, 400, 5.0, (50, 50, 80), 20.0, 0.03, 0.03, 0.02),
    "mpu6500": SensorSpec("mpu6500", _MPU_A, _MPU_G, 300, 10.0, (60, 60, 80), 5.0, 0.03, 0.03, 0.02),
    "mpu6886": SensorSpec("mpu6886", _MPU_A, _MPU_G, 100, 4.0, (40, 40, 40), 1.0, 0.03, 0.01, 0.02),
    "lsm6ds3": SensorSpec("lsm6ds3", _ST_A, _ST_G, 90, 7.0, (40, 40, 40), 10.0, 0.01, 0.01, 0.01),
    "lsm6dso": SensorSpec("lsm6dso", _ST_A, _ST_G, 70, 3.8, (20, 20, 20), 1.0, 0.01, 0.01, 0.01),
    "bmi160": SensorSpec("bmi160", _MPU_A, _BMI_G, 180, 7.0, (40, 40, 40), 3.0, 0.01, 0.01, 0.01),
}
SENSORS["ideal"] = SensorSpec("ideal", _MPU_A, _MPU_G, 0.0, 0.0, (0, 0, 0), 0.0, 0.0, 0.0, 0.0)

AXIS_NAMES = ("+x", "-x", "+y", "-y", "+z", "-z")
_UNIT = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0),
         "+z": (0, 0, 1), "-z": (0, 0, -1)}

# default mounts: (sensor axis that points forward, sensor axis that points up) when the
# wearer stands upright with the arms hanging
#   wrist: a watch on the left wrist, face out to the side, x along the forearm to the hand
#   front_pocket: a board upright in the left front pocket, face forward
#   waist: a clip on the belt at the front, face forward
#   lower_back: a clip at the small of the back, face backward
#   ankle: a strap on the outside of the left ankle, face out to the side
DEFAULT_MOUNTS = {
    "wrist": ("+y", "-x"),
    "front_pocket": ("+z", "+y"),
    "waist": ("+z", "+y"),
    "lower_back": ("-z", "+y"),
    "ankle": ("-x", "+y"),
}


def mount_from_axes(forward: str, up: str) -> np.ndarray:
    """Mounting rotation M (columns: sensor x, y, z in the segment frame) for a device
    whose `forward` axis points forward and `up` axis points up."""
    if forward not in _UNIT or up not in _UNIT:
        raise UserError(f"mount axes must be among {', '.join(AXIS_NAMES)}: got {forward!r}, {up!r}")
    fv = np.array(_UNIT[forward], float)
    uv = np.array(_UNIT[up], float)
    if abs(fv @ uv) > 0.5:
        raise UserError(f"mount: forward {forward} and up {up} must be different sensor axes")
    # sensor->segment: sensor axis `forward` maps to segment x, `up` to segment z
    S = np.zeros((3, 3))   # rows: segment x, y, z expressed in sensor coordinates
    S[0] = fv
    S[2] = uv
    S[1] = np.cross(S[2], S[0])     # y = z cross x
    return S     # S maps sensor coordinates to segment ones: it is M


def rotation_from_euler_deg(roll, pitch, yaw) -> np.ndarray:
    r, p, y = np.radians([roll, pitch, yaw])
    Rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    Ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    Rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def forward_axis_of(M: np.ndarray, max_deg: float = 25.0) -> str | None:
    """The sensor axis pointing forward (segment +x) within `max_deg`, else None."""
    fwd = M.T @ np.array([1.0, 0.0, 0.0])     # segment x in sensor coordinates
    k = int(np.argmax(np.abs(fwd)))
    if abs(fwd[k]) < np.cos(np.radians(max_deg)):
        return None
    return ("+" if fwd[k] > 0 else "-") + "xyz"[k]


def parse_mount(spec, placement: str, rng: np.random.Generator) -> np.ndarray:
    """Mount from None (the placement's default), "random", "fwd=+z,up=+y",
    "tilt=DEG" (the default, misaligned by a random rotation of DEG degrees), a 3x3
    matrix, or (roll, pitch, yaw) degrees applied to the default mount."""
    base = mount_from_axes(*DEFAULT_MOUNTS[placement])
    if spec is None or spec == "default":
        return base
    if isinstance(spec, str):
        s = spec.strip().lower()
        if s == "random":
            return random_rotation(rng)
        parts = dict(p.split("=", 1) for p in s.replace(" ", "").split(",") if "=" in p)
        if s.startswith("tilt="):
            try:
                deg = float(parts["tilt"])
            except ValueError:
                raise UserError(f"mount {spec!r}: tilt must be a number of degrees") from None
            axis = rng.standard_normal(3)
            axis /= np.linalg.norm(axis)
            a = np.radians(deg)
            K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
            R = np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K
            return R @ base
        if "fwd" in parts and "up" in parts:
            return mount_from_axes(parts["fwd"], parts["up"])
        raise UserError(f"mount {spec!r}: use default, random, tilt=DEG or fwd=AXIS,up=AXIS"
                        f" (axes {', '.join(AXIS_NAMES)})")
    arr = np.asarray(spec, dtype=float)
    if arr.shape == (3,):
        return rotation_from_euler_deg(*arr) @ base
    if arr.shape == (3, 3) and np.allclose(arr @ arr.T, np.eye(3), atol=1e-6) and np.linalg.det(arr) > 0:
        return arr
    raise UserError("mount must be a rotation matrix (3x3, orthonormal, det +1) or 3 angles in degrees")


class SensorInstance:
    """One device: a chip model with its drawn errors, ranges and mounting."""

    def __init__(self, spec: SensorSpec, rate_hz: float, rng: np.random.Generator,
                 mount: np.ndarray, accel_range_g=None, gyro_range_dps=None, errors: bool = True):
        self.spec = spec
        self.accel_range_g = int(accel_range_g or spec.default_accel_g)
        self.gyro_range_dps = int(gyro_range_dps or spec.default_gyro_dps)
        if self.accel_range_g not in spec.accel_lsb:
            raise UserError(f"{spec.name}: accelerometer range {accel_range_g} g not available"
                            f" (one of {', '.join(map(str, spec.accel_lsb))})")
        if self.gyro_range_dps not in spec.gyro_lsb:
            raise UserError(f"{spec.name}: gyroscope range {gyro_range_dps} dps not available"
                            f" (one of {', '.join(map(str, spec.gyro_lsb))})")
        self.lsb_per_g = float(spec.accel_lsb[self.accel_range_g])
        self.lsb_per_dps = float(spec.gyro_lsb[self.gyro_range_dps])
        self.mount = mount
        self.rng = rng
        k = 1.0 if errors else 0.0
        # a device's errors: drawn so that the datasheet's +- range is about 2 sigma
        self.acc_off = k * rng.standard_normal(3) * np.array(spec.accel_offset_mg) / 2000.0
        self.gyr_off = k * rng.standard_normal(3) * spec.gyro_offset_dps / 2.0
        self.acc_mat = self._matrix(k * spec.accel_scale, k * spec.cross_axis) @ mount.T
        self.gyr_mat = self._matrix(k * spec.gyro_scale, k * spec.cross_axis) @ mount.T
        # noise from generators of their own: the same samples whatever the chunk size
        self.acc_rng = np.random.Generator(np.random.PCG64(int(rng.integers(0, 2**63))))
        self.gyr_rng = np.random.Generator(np.random.PCG64(int(rng.integers(0, 2**63))))
        bw = rate_hz / 2.0
        self.acc_sigma = spec.accel_noise_ug * 1e-6 * np.sqrt(bw)
        self.gyr_sigma = spec.gyro_noise_mdps * 1e-3 * np.sqrt(bw)

    def _matrix(self, scale, cross):
        S = np.diag(1.0 + self.rng.standard_normal(3) * scale / 2.0)
        C = np.eye(3) + (self.rng.standard_normal((3, 3)) * cross / 2.0) * (1 - np.eye(3))
        return S @ C

    @property
    def forward_axis(self) -> str | None:
        return forward_axis_of(self.mount)

    def measure(self, f_seg: np.ndarray, w_seg: np.ndarray) -> np.ndarray:
        """(n, 6) int32 counts: ax, ay, az, gx, gy, gz."""
        n = len(f_seg)
        a = f_seg @ self.acc_mat.T + self.acc_off + self.acc_rng.standard_normal((n, 3)) * self.acc_sigma
        g = w_seg @ self.gyr_mat.T + self.gyr_off + self.gyr_rng.standard_normal((n, 3)) * self.gyr_sigma
        out = np.empty((n, 6), dtype=np.int32)
        out[:, :3] = np.clip(np.rint(a * self.lsb_per_g), -32768, 32767)
        out[:, 3:] = np.clip(np.rint(g * self.lsb_per_dps), -32768, 32767)
        return out


def sensor_names():
    return tuple(k for k in SENSORS if k != "ideal")
