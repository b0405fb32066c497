"""Summaries of timing samples, shared by the benchmarks."""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np


def summary_us(samples_s: Sequence[float], budget_s: float = 0.0) -> Dict[str, float]:
    """Median, 99th percentile and max of timings given in seconds, in microseconds.

    With a budget (the period's duration), also each as a share of it in percent.
    """
    a = np.asarray(samples_s, dtype=np.float64) * 1e6
    out = {
        "n": int(a.size),
        "median_us": round(float(np.median(a)), 1),
        "p99_us": round(float(np.percentile(a, 99)), 1),
        "max_us": round(float(a.max()), 1),
    }
    if budget_s:
        b = budget_s * 1e6
        out.update(
            {
                "median_pct": round(100 * out["median_us"] / b, 2),
                "p99_pct": round(100 * out["p99_us"] / b, 2),
                "max_pct": round(100 * out["max_us"] / b, 2),
            }
        )
    return out
