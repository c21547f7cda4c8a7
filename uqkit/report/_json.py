"""The JSON rendering of a calibration report: numbers, verdicts and plotted curves."""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["render_json"]

_DECILES = np.linspace(0.0, 1.0, 11)
# Scatter samples are drawn in the figures only; the JSON keeps the binned curves.
_SKIPPED = ("std_sample", "abs_error_sample")


def render_json(report) -> str:
    """``report`` (a :class:`~uqkit.report.CalibrationReport`) as JSON, NaN written as null."""
    models = []
    for r in report._results:
        curves = {}
        for key, value in r.curves.items():
            if key == "reliability":
                curves[key] = {k: getattr(value, k).tolist() for k in value._fields}
            elif key == "risk_coverage":
                step = max(1, len(value[0]) // 200)
                curves[key] = {
                    "coverage": value[0][::step].tolist(),
                    "risk": value[1][::step].tolist(),
                }
            elif key == "ood":
                curves[key] = {
                    "score": value[0],
                    "in_distribution_quantiles": np.quantile(value[1], _DECILES).tolist(),
                    "ood_quantiles": np.quantile(value[2], _DECILES).tolist(),
                }
            elif key not in _SKIPPED:
                curves[key] = value.tolist() if isinstance(value, np.ndarray) else value
        intervals = {
            k: {"low": lo, "high": hi} for k, (lo, hi) in r.intervals.items()
        }
        models.append(
            {"name": r.name, "metrics": r.metrics, "intervals": intervals, "verdict": r.verdict,
             "context": r.context, "curves": curves}
        )
    document = {
        "task": report.task,
        "n_samples": report.n_samples,
        "n_ood": report.n_ood,
        "data": report.data,
        "bootstrap": {
            "resamples": report.n_boot, "seed": report.random_state, "confidence": 0.95,
            "method": "percentile of bias-shifted replicates; paired (the same resamples for "
            "every model)",
        },
        "models": models,
        "best": report.best(),
        "comparison": report.comparison(),
    }
    return json.dumps(_clean(document), indent=1, allow_nan=False)


def _clean(value):
    """Plain JSON values: numpy scalars as Python numbers, non-finite floats as None."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
