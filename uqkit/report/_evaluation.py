"""Evaluating models for a report: predictions on the data, metric tables, curves and verdicts."""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import is_classifier

from uqkit.base import UQRegressorMixin
from uqkit.calibration import ConformalRegressor
from uqkit.exceptions import InvalidInputError
from uqkit.interop import predict_uncertainty
from uqkit.metrics import (
    DEFAULT_LEVELS,
    as_classification,
    as_regression,
    binned_error_vs_std,
    calibration_curve,
    classification_metrics,
    level_tag,
    ood_detection,
    pit,
    regression_metrics,
    reliability_curve,
    risk_coverage_curve,
    uncertainty_score,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.report._bootstrap import (
    DEFAULT_B,
    add_interval_replicates,
    bootstrap_indices,
    classification_replicates,
    interval,
    ood_replicates,
    regression_replicates,
)
from uqkit.report._calibration_report import CalibrationReport, ModelResult
from uqkit.report._context import data_context, model_context
from uqkit.report._verdict import (
    bias_sentence,
    confidence_sentence,
    coverage_sentence,
    detection_sentence,
    ood_sentence,
    ranking_sentence,
    reliability_sentences,
    where_sentences,
)

__all__ = ["report"]

_CURVE_LEVELS = np.round(np.arange(1, 20) / 20, 2)
_SCATTER_POINTS = 3000


def report(
    models_or_predictions,
    X=None,
    y=None,
    *,
    X_ood=None,
    names=None,
    levels=DEFAULT_LEVELS,
    n_boot: int = DEFAULT_B,
    random_state: int = 0,
    description: str | None = None,
) -> CalibrationReport:
    """Compare the calibration of one or several models (or predictions) on the same data.

    Parameters
    ----------
    models_or_predictions : model, prediction, list of them, or dict ``{name: model}``
        Fitted models that :func:`uqkit.predict_uncertainty` reads (uqkit estimators, a
        ``Pipeline`` or search around one, scikit-learn models with ``return_std`` or
        ``predict_proba``), or predictions already made on ``X``:
        :class:`RegressionPrediction` / :class:`ClassificationPrediction` objects, a
        ``(mean, std)`` tuple of arrays or an ``(n, C)`` probability matrix. All must be of one
        task (regression or classification).
    X : array-like of shape (n, p), optional
        Features to predict on; not needed when only predictions are given.
    y : array-like of shape (n,)
        The truth.
    X_ood : array-like, prediction or list of predictions, optional
        Out-of-distribution inputs (features for models; the matching OOD prediction, or one per
        entry, for predictions). Adds OOD-detection metrics, a histogram and a verdict.
    names : list of str, optional
        Display names (default: the class names, or the dict keys).
    levels : sequence of float, default (0.5, 0.8, 0.9, 0.95)
        Interval levels in the regression summary.
    n_boot : int, default 1000
        Bootstrap resamples of the evaluation rows behind every metric's 95% percentile interval
        and the paired model comparison (Efron & Tibshirani 1993, ch. 13 and 16); all models are
        scored on the same resamples. ``0`` skips the intervals (then no model is called best).
    random_state : int, default 0
        Seed of the resamples, so the intervals are reproducible.
    description : str, optional
        One line about the evaluation data (where the rows come from, the target's units),
        shown on the page.

    Returns
    -------
    CalibrationReport

    Examples
    --------
    >>> import numpy as np
    >>> from uqkit.prediction import RegressionPrediction
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=500)
    >>> narrow = RegressionPrediction.normal(np.zeros(500), np.full(500, 0.25))
    >>> rep = report(narrow, None, y, names=["narrow"])
    >>> rep.verdicts()["narrow"][0][:14]
    'Over-confident'
    """
    entries, names = _entries(models_or_predictions, names)
    kinds = {_kind(entry) for entry in entries}
    if len(kinds) > 1:
        raise InvalidInputError(
            "All models of a report must be of one task; got both regressors and classifiers."
        )
    task = kinds.pop()
    n_boot = _check_n_boot(n_boot)
    ood_entries = _ood_entries(entries, X_ood)
    n = _n_samples(y)
    # one set of resamples for every model: differences between models are paired
    index = bootstrap_indices(n, n_boot, random_state) if n_boot else None
    results = []
    for entry, name, ood in zip(entries, names, ood_entries):
        pred = _predict(entry, X, name)
        pred_ood = None if ood is None else _predict(ood, _ood_features(ood, X_ood), name)
        if task == "regression":
            result = _regression_result(
                name, entry, pred, y, X, pred_ood, levels, index, random_state
            )
        else:
            result = _classification_result(name, pred, y, pred_ood, index, random_state)
        result.intervals = {
            k: interval(v, result.metrics[k]) if v is not None else (math.nan, math.nan)
            for k, v in ((k, result.replicates.get(k)) for k in result.metrics)
        }
        result.context = model_context(entry)
        results.append(result)
    n_ood = None if ood_entries[0] is None else results[0].curves["n_ood"]
    data = data_context(X, y, description)
    return CalibrationReport(
        task, results, n_samples=n, n_ood=n_ood, n_boot=n_boot, random_state=random_state,
        data=data,
    )


def _check_n_boot(n_boot) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0 or (
        0 < n_boot < 20
    ):
        raise InvalidInputError(
            f"n_boot must be 0 (no intervals) or an integer >= 20; got {n_boot!r}. Use about "
            "1000 for a report, fewer only for quick looks."
        )
    return int(n_boot)


def _ood_features(ood, X_ood):
    """Features for an OOD entry: the OOD features for a model, nothing for a prediction."""
    return None if _is_prediction(ood) else X_ood


def _n_samples(y) -> int:
    return int(np.shape(y)[0]) if np.ndim(y) else 0


def _is_prediction(entry) -> bool:
    return isinstance(entry, (RegressionPrediction, ClassificationPrediction))


def _is_arrays(entry) -> bool:
    """A prediction given as arrays: an (n, C) probability matrix or a (mean, std) pair."""
    def array(value) -> bool:
        return hasattr(value, "__array__") and not hasattr(value, "fit")

    if isinstance(entry, tuple):  # a tuple of two arrays is a pair; a list holds entries
        return len(entry) == 2 and all(array(v) for v in entry)
    return array(entry)


def _entries(models_or_predictions, names):
    if isinstance(models_or_predictions, dict):
        entries = list(models_or_predictions.values())
        default_names = [str(k) for k in models_or_predictions]
    elif isinstance(models_or_predictions, (list, tuple)):
        entries = list(models_or_predictions)
        default_names = None
    else:
        entries = [models_or_predictions]
        default_names = None
    if _is_arrays(models_or_predictions):  # one (mean, std) pair, not a list of two models
        entries = [models_or_predictions]
    entries = [predict_uncertainty(e) if _is_arrays(e) else e for e in entries]
    if not entries:
        raise InvalidInputError("Pass at least one model or prediction to report on.")
    for entry in entries:
        if not (_is_prediction(entry) or hasattr(entry, "predict_uncertainty")
                or hasattr(entry, "predict")):
            raise InvalidInputError(
                "Each entry must be a fitted uqkit model (or a Pipeline or search around one, "
                "or a scikit-learn model with return_std or predict_proba), a "
                "RegressionPrediction/ClassificationPrediction, a (mean, std) pair or a "
                f"probability matrix; got {type(entry).__name__}."
            )
    if names is None:
        names = default_names or _default_names(entries)
    names = [str(n) for n in names]
    if len(names) != len(entries):
        raise InvalidInputError(f"Got {len(names)} names for {len(entries)} models.")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"Model names must be unique; got {names}.")
    return entries, names


def _default_names(entries) -> list[str]:
    raw = [
        f"prediction {i + 1}" if _is_prediction(e) else type(e).__name__
        for i, e in enumerate(entries)
    ]
    names = []
    for i, name in enumerate(raw):
        count = raw[:i].count(name)
        names.append(name if raw.count(name) == 1 else f"{name} #{count + 1}")
    return names


def _kind(entry) -> str:
    if isinstance(entry, RegressionPrediction):
        return "regression"
    if isinstance(entry, ClassificationPrediction):
        return "classification"
    return "classification" if is_classifier(entry) else "regression"


def _ood_entries(entries, X_ood):
    if X_ood is None:
        return [None] * len(entries)
    if all(not _is_prediction(e) for e in entries):
        return list(entries)  # each model predicts on X_ood
    if _is_prediction(X_ood):
        X_ood = [X_ood]
    if not isinstance(X_ood, (list, tuple)) or len(X_ood) != len(entries):
        raise InvalidInputError(
            "When the report is made from predictions, X_ood must be the matching OOD "
            f"prediction(s), one per entry ({len(entries)})."
        )
    out = []
    for entry, ood in zip(entries, X_ood):
        if _is_prediction(entry) and not _is_prediction(ood):
            raise InvalidInputError("X_ood must hold an OOD prediction for each prediction entry.")
        out.append(ood)
    return out


def _predict(entry, X, name):
    if _is_prediction(entry):
        return entry
    if X is None:
        raise InvalidInputError(f"X is required to predict with model {name!r}.")
    return predict_uncertainty(entry, X)


def _interval_function(model, pred: RegressionPrediction, X):
    """The intervals the model itself reports (conformal ones included) and their label."""
    if isinstance(model, ConformalRegressor):
        return (lambda alpha: model.interval(pred, coverage=1.0 - alpha)), "conformal "
    custom = getattr(type(model), "predict_interval", None)
    if custom is not None and custom is not UQRegressorMixin.predict_interval:
        # the curve needs coverages below 50%, which ``alpha`` refuses as a likely misreading
        return (lambda alpha: model.predict_interval(X, coverage=1.0 - alpha)), "model "
    return None, ""


def _subsample(n: int, size: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))


# ------------------------------------------------------------------------------ regression
def _regression_result(name, model, pred, y, X, pred_ood, levels, index, seed) -> ModelResult:
    pred, y = as_regression(pred, y)
    metrics = regression_metrics(pred, y, levels=levels)
    replicates = {} if index is None else regression_replicates(pred, y, index, levels)
    n = len(y)
    interval_fn, source = None, ""
    if not _is_prediction(model):
        interval_fn, source = _interval_function(model, pred, X)
    if interval_fn is None:
        curve_observed = calibration_curve(pred, y, _CURVE_LEVELS, kind="interval")[1]
    else:
        for level in levels:
            lower, upper = interval_fn(1.0 - float(level))
            metrics[f"coverage_{level_tag(level)}"] = float(np.mean((y >= lower) & (y <= upper)))
            metrics[f"width_{level_tag(level)}"] = float(np.mean(upper - lower))
            if index is not None:
                add_interval_replicates(replicates, level, lower, upper, y, index)
        curve_observed = np.asarray(
            [np.mean((y >= lo) & (y <= hi)) for lo, hi in map(interval_fn, 1.0 - _CURVE_LEVELS)]
        )
    expected, observed = calibration_curve(pred, y)
    n_bins = int(min(10, max(2, n // 25)))
    rmv, rmse, counts = binned_error_vs_std(pred, y, n_bins)
    std = np.sqrt(pred.total).reshape(-1)
    abs_error = np.abs(y - pred.mean).reshape(-1)
    keep = _subsample(std.size, _SCATTER_POINTS)
    curves = {
        "expected": expected,
        "observed": observed,
        "coverage_levels": _CURVE_LEVELS,
        "coverage_observed": curve_observed,
        "rmv": rmv,
        "rmse": rmse,
        "bin_counts": counts,
        "std_sample": std[keep],
        "abs_error_sample": abs_error[keep],
        "interval_source": source,
        # PIT histogram counts over 20 equal bins of [0, 1]
        "pit_counts": np.histogram(pit(pred, y).reshape(-1), bins=20, range=(0.0, 1.0))[0],
    }
    ref = min(levels, key=lambda lv: abs(lv - 0.9))
    tag = level_tag(ref)
    verdict = [
        coverage_sentence(
            float(ref), metrics[f"coverage_{tag}"], n, metrics[f"width_{tag}"], source,
            _ci(replicates, f"coverage_{tag}", metrics[f"coverage_{tag}"]),
        )
    ]
    bias = bias_sentence(float(np.mean(pit(pred, y))), n)
    if bias:
        verdict.append(bias)
    verdict += where_sentences(rmv, rmse, counts)
    ranking = ranking_sentence(metrics["error_std_spearman"])
    if ranking:
        verdict.append(ranking)
    if pred_ood is not None:
        _add_ood(metrics, curves, verdict, pred, pred_ood, replicates, index, seed)
    return ModelResult(name, metrics, verdict, curves, replicates=replicates)


def _ci(replicates, key, estimate):
    """The bootstrap interval of one metric, or ``None`` without a bootstrap."""
    return interval(replicates[key], estimate) if key in replicates else None


# ------------------------------------------------------------------------------ classification
def _classification_result(name, pred, y, pred_ood, rows, seed) -> ModelResult:
    probs, index = as_classification(pred, y)
    metrics = classification_metrics(pred, y)
    replicates = {} if rows is None else classification_replicates(pred, probs, index, rows)
    n = len(index)
    curve = reliability_curve(pred, y, 15)
    cov, risk = risk_coverage_curve(pred, y)
    confidence = probs.max(axis=1)
    curves = {"reliability": curve, "risk_coverage": (cov, risk)}
    verdict = [
        confidence_sentence(float(np.mean(confidence)), metrics["accuracy"], n, metrics["ece"])
    ]
    verdict += reliability_sentences(curve.confidence, curve.accuracy, curve.counts, curve.edges)
    detection = detection_sentence(
        metrics["misclassification_auroc"], "wrong from right predictions", "total"
    )
    if detection:
        verdict.append(detection)
    if pred_ood is not None:
        _add_ood(metrics, curves, verdict, pred, pred_ood, replicates, rows, seed)
    return ModelResult(name, metrics, verdict, curves, replicates=replicates)


# ------------------------------------------------------------------------------ OOD
def _add_ood(metrics, curves, verdict, pred, pred_ood, replicates, rows, seed) -> None:
    if type(pred_ood) is not type(pred) and not isinstance(pred_ood, type(pred)):
        raise InvalidInputError("The OOD prediction must be of the same kind as the ID one.")
    for score in ("epistemic", "total"):
        result = ood_detection(pred, pred_ood, score=score)
        metrics[f"ood_auroc_{score}"] = result["auroc"]
        metrics[f"ood_aupr_{score}"] = result["aupr"]
    inside = uncertainty_score(pred, "epistemic")
    has_epistemic = bool(np.any(inside > 0))
    if not has_epistemic:  # a constant zero score ranks nothing: not a 0.5 AUROC worth reporting
        metrics["ood_auroc_epistemic"] = metrics["ood_aupr_epistemic"] = math.nan
    score = "epistemic" if has_epistemic else "total"
    inside = uncertainty_score(pred, score)
    outside = uncertainty_score(pred_ood, score)
    metrics[f"mean_{score}_ood"] = float(np.mean(outside))
    mean_in = float(np.mean(inside))
    ratio = float(np.mean(outside)) / mean_in if mean_in > 0 else math.nan
    curves["ood"] = (score, inside, outside, metrics[f"ood_auroc_{score}"])
    curves["n_ood"] = len(outside)
    if not has_epistemic:
        verdict.append(
            "It has no epistemic component (a single model?); OOD detection below uses its "
            "total uncertainty."
        )
    if rows is not None:
        # ID and OOD rows are two samples: resample each (the OOD rows on their own seed)
        n_out = len(outside)
        out_rows = np.random.default_rng([seed, 1]).integers(
            0, n_out, size=(rows.shape[0], n_out)
        )
        for name in ("epistemic", "total"):
            if not np.isfinite(metrics[f"ood_auroc_{name}"]):
                continue
            reps = ood_replicates(
                uncertainty_score(pred, name), uncertainty_score(pred_ood, name), rows, out_rows
            )
            replicates[f"ood_auroc_{name}"] = reps["auroc"]
            replicates[f"ood_aupr_{name}"] = reps["aupr"]
        replicates[f"mean_{score}_ood"] = outside[out_rows].mean(axis=1)
    sentence = ood_sentence(metrics[f"ood_auroc_{score}"], ratio, score)
    if sentence:
        verdict.append(sentence)
