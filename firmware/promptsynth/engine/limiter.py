"""Master soft limiter: a period-rate peak limiter followed by a soft clipper as the last guard.

Below the threshold it is exactly transparent (gain 1, no shaping), so a single note plays the
sound bit for bit; above it the gain falls within one period and recovers over ~150 ms, and any
peak that gets past the gain ramp is bent smoothly towards (never beyond) full scale.
"""

from __future__ import annotations

import math

import numpy as np


class SoftLimiter:
    def __init__(
        self, rate: int, period: int, threshold_db: float = -1.0, release_ms: float = 150.0, knee: float = 0.9
    ):
        self.threshold = 10 ** (threshold_db / 20.0)
        self.knee = knee
        self.release = 1.0 - math.exp(-period / (release_ms * rate / 1000.0))
        # the changing state, in an array the compiled kernel (engine/kernel/) updates in place
        self.state = np.array([1.0, 0.0])  # gain now, periods the soft clipper acted in
        self._ramp = ((np.arange(period) + 1) / period).astype(np.float32)[:, None]
        self._abs = np.empty((period, 2), np.float32)
        self._g = np.empty((period, 1), np.float32)

    @property
    def gain(self) -> float:
        return float(self.state[0])

    @gain.setter
    def gain(self, value: float) -> None:
        self.state[0] = value

    @property
    def clipped(self) -> int:
        """Periods in which the soft clipper had to act."""
        return int(self.state[1])

    def process(self, x: np.ndarray) -> float:
        """Limit ``x`` (period, 2) in place; return its peak after limiting."""
        np.abs(x, out=self._abs)
        peak = float(self._abs.max())
        g0 = self.gain
        target = 1.0 if peak <= self.threshold else self.threshold / peak
        g1 = target if target < g0 else g0 + (target - g0) * self.release
        if g1 > 0.99999:
            g1 = 1.0
        self.gain = g1
        if g0 != 1.0 or g1 != 1.0:
            np.multiply(self._ramp, g1 - g0, out=self._g)
            self._g += g0
            x *= self._g
            np.abs(x, out=self._abs)
            peak = float(self._abs.max())
        if peak > self.knee:
            self.state[1] += 1
            k = self.knee
            a = np.abs(x)
            over = a > k
            bent = k + (1.0 - k) * np.tanh((a[over] - k) / (1.0 - k))
            x[over] = np.copysign(bent, x[over]).astype(np.float32)
            peak = float(np.abs(x).max())
        return peak
