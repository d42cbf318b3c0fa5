"""Smooth periodic waveforms from key points, looked up fast over millions of samples.

A waveform is given as (phase, value) key points over one cycle (phase 0..1). It is
joined linearly, then low-passed by tapering the Fourier terms beyond about `harmonics`,
which gives a smooth curve whose first and second derivatives are exact (taken in
the Fourier domain). Lookups interpolate a 1024-point table, so a whole day of
samples costs a few array operations.
"""
from __future__ import annotations

import numpy as np

N = 1024


class Wave:
    """A smooth periodic function of phase with its first two phase derivatives."""

    __slots__ = ("v", "d1", "d2", "coef", "h")

    def __init__(self, values: np.ndarray, harmonics: int, taper: bool = True):
        f = np.fft.rfft(np.asarray(values, dtype=np.float64))
        k = np.arange(len(f))
        # a Gaussian taper instead of a hard cut: no ringing around sharp key points
        if taper:
            f *= np.exp(-0.5 * (k / max(harmonics, 1)) ** 2)
        f[3 * harmonics + 1:] = 0.0
        self.h = harmonics
        self.coef = f
        self.v = np.fft.irfft(f, N)
        self.d1 = np.fft.irfft(f * (2j * np.pi * k), N)
        self.d2 = np.fft.irfft(f * -(2 * np.pi * k) ** 2, N)

    @classmethod
    def from_points(cls, points, harmonics: int = 10) -> "Wave":
        pts = sorted((p % 1.0, v) for p, v in points)
        xs = np.array([p for p, _ in pts])
        ys = np.array([v for _, v in pts])
        xs = np.concatenate([xs - 1.0, xs, xs + 1.0])
        ys = np.concatenate([ys, ys, ys])
        grid = np.arange(N) / N
        return cls(np.interp(grid, xs, ys), harmonics)

    @classmethod
    def stride(cls, step_points, ds_sign: float = 1.0, harmonics: int = 20) -> "Wave":
        """A stride waveform from one step's key points: the second step repeats the first,
        times `ds_sign` (-1 for medio-lateral signals, which swap side each step)."""
        pts = [(p / 2.0, v) for p, v in step_points] + [((p + 1.0) / 2.0, v * ds_sign) for p, v in step_points]
        return cls.from_points(pts, harmonics)

    def reversed(self, at: float) -> "Wave":
        """The same motion played backwards in time: w'(phi) = w(at - phi)."""
        grid = np.arange(N) / N
        return Wave(self(at - grid), self.h, taper=False)   # already smooth

    def scaled(self, gain: float, offset: float = 0.0) -> "Wave":
        out = Wave.__new__(Wave)
        out.h = self.h
        out.coef = self.coef * gain
        out.coef[0] += offset * N
        out.v = self.v * gain + offset
        out.d1 = self.d1 * gain
        out.d2 = self.d2 * gain
        return out

    def rms(self) -> float:
        return float(np.sqrt(np.mean((self.v - self.v.mean()) ** 2)))

    def zero_mean(self) -> "Wave":
        return self.scaled(1.0, -float(self.v.mean()))

    def _lookup(self, table: np.ndarray, phase) -> np.ndarray:
        x = (np.asarray(phase, dtype=np.float64) % 1.0) * N
        i = x.astype(np.int64)
        fr = x - i
        i %= N
        j = (i + 1) % N
        return table[i] * (1.0 - fr) + table[j] * fr

    def __call__(self, phase) -> np.ndarray:
        return self._lookup(self.v, phase)

    def deriv(self, phase) -> np.ndarray:
        return self._lookup(self.d1, phase)

    def deriv2(self, phase) -> np.ndarray:
        return self._lookup(self.d2, phase)


def harmonic_ratio(signal: np.ndarray, odd_dominant: bool = False, nharm: int = 10) -> float:
    """Harmonic ratio of one stride of a signal (Menz et al. 2003; Moe-Nilssen & Helbostad 2004):
    sum of even over sum of odd stride-harmonic amplitudes (the inverse for the medio-lateral
    axis, `odd_dominant=True`)."""
    f = np.abs(np.fft.rfft(signal - np.mean(signal)))[1:nharm * 2 + 1]
    even = f[1::2].sum()
    odd = f[0::2].sum()
    if odd_dominant:
        even, odd = odd, even
    return float(even / odd) if odd > 0 else float("inf")
