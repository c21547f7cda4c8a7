"""Calibration reports: models side by side on held-out data, as HTML, Markdown or JSON.

The report sits above the metrics and the recalibrators: :func:`report` evaluates any fitted uqkit
model (or prediction) with :mod:`uqkit.metrics` and writes a verdict per model; a
:class:`CalibrationReport` holds the result, draws the figures and renders it as HTML, Markdown or
JSON (one module per format).
"""

from uqkit.report._calibration_report import CalibrationReport
from uqkit.report._evaluation import report

__all__ = ["CalibrationReport", "report"]
