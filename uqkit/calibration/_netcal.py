"""netcal's classifier calibrators behind uqkit's recalibrator interface (Küppers et al., 2020).

netcal (a core dependency) is imported inside the methods that need it, not at import time.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from uqkit.base import UQClassifierMixin, check_fitted
from uqkit.calibration._wrapper import Recalibrator
from uqkit.exceptions import InvalidInputError, ModelFileError
from uqkit.metrics import as_classification, as_classification_prediction
from uqkit.prediction import ClassificationPrediction

__all__ = ["NetcalCalibrator"]

logger = logging.getLogger(__name__)

METHODS = ("beta", "bbq", "enir", "histogram", "logistic")

# netcal's scaling methods run through Pyro, whose parameter store and plate stack are global to
# the process: two threads inside netcal at once fail ("duplicate plate 'data'"), whichever
# calibrator objects they use. One process-wide lock therefore guards every call into netcal.
_NETCAL_LOCK = threading.Lock()


def _netcal_model(method: str, bins: int):
    """A new, unfitted netcal calibrator for ``method``."""
    if method == "histogram":
        from netcal.binning import HistogramBinning

        return HistogramBinning(bins=bins)
    if method == "bbq":
        from netcal.binning import BBQ

        return BBQ()
    if method == "enir":
        from netcal.binning import ENIR

        return ENIR()
    if method == "beta":
        from netcal.scaling import BetaCalibration

        return BetaCalibration()
    from netcal.scaling import LogisticCalibration

    return LogisticCalibration()


@contextlib.contextmanager
def _quiet(method: str):
    """One call into netcal at a time; its progress output (``print`` and tqdm bars) goes to
    the debug log instead of the terminal."""
    out, err = io.StringIO(), io.StringIO()
    with _NETCAL_LOCK, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield
    text = (out.getvalue() + err.getvalue()).strip()
    if text:
        logger.debug("netcal %s: %s", method, text[-500:])


class NetcalCalibrator(UQClassifierMixin, Recalibrator):
    """Recalibrate a classifier's probabilities with one of netcal's calibrators.

    ``method`` chooses the calibration map, fitted on held-out data:

    - ``"logistic"``: logistic (Platt) scaling of the logits (Platt, 1999; for several classes
      the multinomial form of Guo et al., ICML 2017, Sec. 4.2, "matrix scaling");
    - ``"beta"``: beta calibration, :math:`\\sigma(a \\log p - b \\log(1-p) + c)` (Kull, Silva
      Filho & Flach, AISTATS 2017, Eq. 3);
    - ``"histogram"``: histogram binning, each confidence replaced by its bin's frequency
      (Zadrozny & Elkan, ICML 2001);
    - ``"bbq"``: Bayesian binning into quantiles, a Bayesian average over binnings (Naeini,
      Cooper & Hauskrecht, AAAI 2015, Eq. 1);
    - ``"enir"``: ensemble of near-isotonic regressions (Naeini & Cooper, ICDM 2016).

    netcal's conventions are kept: for two classes the map is fitted on the probability of the
    second class and the result is ``[1 - q, q]``; for more classes the binning methods calibrate
    each class one-vs-all and renormalise the rows, and the scaling methods (logistic, beta) fit
    a multiclass map of the probabilities. The output is the calibrated
    :class:`~uqkit.prediction.ClassificationPrediction` (without the member axis: netcal maps
    the averaged probabilities).

    netcal's fitted objects are Python objects that uqkit's files (JSON + tensors, no pickle)
    cannot hold: ``save`` refuses with :class:`~uqkit.exceptions.ModelFileError`; refit instead
    (the fit takes well under a second), or use :class:`TemperatureScaling` or
    :class:`IsotonicCalibration`, which save.

    Parameters
    ----------
    estimator : fitted classifier, optional
        A uqkit classifier, or any fitted scikit-learn classifier with ``predict_proba``.
    method : {"logistic", "beta", "histogram", "bbq", "enir"}, default "beta"
    bins : int, default 10
        Number of equal-width bins of ``method="histogram"`` (the other methods choose their own
        binning or have none).

    Attributes
    ----------
    calibrator_ : netcal calibrator
        The fitted netcal object.
    classes_ : ndarray of shape (C,)
    n_calibration_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.5, 1.0, size=2000)  # confidence of class 0
    >>> probs = np.c_[p, 1 - p]
    >>> y = (rng.uniform(size=2000) > p ** 2).astype(int)  # the model is over-confident
    >>> calibrated = NetcalCalibrator(method="histogram").fit_prediction(probs, y).calibrate(probs)
    >>> from uqkit.metrics import expected_calibration_error as ece
    >>> bool(ece(calibrated, y) < 0.5 * ece(probs, y))
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "method": [StrOptions(set(METHODS))],
        "bins": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, estimator=None, method: str = "beta", bins: int = 10):
        self.estimator = estimator
        self.method = method
        self.bins = bins

    def _base_prediction(self, X) -> ClassificationPrediction:
        """The wrapped model's prediction on ``X``: its ``predict_uncertainty`` when it is a uqkit
        model, else its ``predict_proba`` with its ``classes_``."""
        return as_classification_prediction(self._fitted_model().predict_uncertainty(X))

    @staticmethod
    def _netcal_input(probs: np.ndarray) -> np.ndarray:
        return probs[:, 1] if probs.shape[1] == 2 else probs

    def _fit(self, pred, y) -> None:
        pred = as_classification_prediction(pred)
        probs, index = as_classification(pred, y)
        if probs.shape[1] < 2:
            raise InvalidInputError(
                f"{type(self).__name__} needs at least two classes; got {probs.shape[1]}."
            )
        calibrator = _netcal_model(self.method, self.bins)
        with _quiet(self.method):
            calibrator.fit(self._netcal_input(probs), index)
        self.calibrator_ = calibrator
        self.classes_ = (np.asarray(pred.classes) if pred.classes is not None
                         else np.arange(probs.shape[1]))
        self.n_calibration_ = len(index)

    def calibrate(self, pred) -> ClassificationPrediction:
        """The calibrated prediction (netcal's ``transform`` of the probabilities)."""
        check_fitted(self, "calibrator_")
        pred = as_classification_prediction(pred)
        probs = np.asarray(pred.probs, dtype=np.float64)
        if probs.shape[1] != len(self.classes_):
            raise InvalidInputError(
                f"The prediction has {probs.shape[1]} classes but the calibrator was fitted on "
                f"{len(self.classes_)}."
            )
        with _quiet(self.method):
            out = np.asarray(self.calibrator_.transform(self._netcal_input(probs)),
                             dtype=np.float64)
        if out.ndim == 1:
            out = np.c_[1.0 - out, out]
        total = out.sum(axis=1, keepdims=True)
        bad = ~np.isfinite(total[:, 0]) | (total[:, 0] <= 0)
        if np.any(bad):
            # one-vs-all binning can map every class of a row to 0; netcal then divides 0 by 0
            raise InvalidInputError(
                f"netcal's {self.method!r} calibrator gives no probability mass to any class "
                f"for {int(bad.sum())} of {len(out)} rows (its one-vs-all maps are all 0 there). "
                "Fit it on more held-out data, or use method='histogram', 'bbq', 'beta' or "
                "'logistic'."
            )
        out = out / total  # netcal's float32 rows sum to 1 +- 1e-7
        return ClassificationPrediction(probs=out, classes=pred.classes)

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """The calibrated prediction of the wrapped model on ``X``."""
        check_fitted(self, "calibrator_")
        return self.calibrate(self._base_prediction(X))

    def save(self, path):
        """Refused: netcal's fitted calibrators cannot be stored in a uqkit file (see above)."""
        raise ModelFileError(
            f"{type(self).__name__} cannot be saved: netcal's fitted {self.method!r} calibrator "
            "is a Python object, and uqkit files hold only JSON and tensors (no pickle). Refit "
            "it on the held-out data after loading the wrapped model, or use "
            "TemperatureScaling / IsotonicCalibration, which save."
        )
