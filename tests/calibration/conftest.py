"""Fixtures of :mod:`tests.calibration.dummies` (the dummy models and data)."""

from tests.calibration.dummies import classifier_data, helpers, regressor_data

__all__ = ["classifier_data", "helpers", "regressor_data"]
