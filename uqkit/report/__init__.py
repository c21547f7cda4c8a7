"""Calibration reports: models side by side on held-out data, as HTML, Markdown or JSON.

The report sits above the metrics and the recalibrators: it evaluates any fitted uqkit model (or
prediction) with :mod:`uqkit.metrics`, draws the figures and writes a verdict per model.
"""

from uqkit.report._report import CalibrationReport, report

__all__ = ["CalibrationReport", "report"]
