"""Calibration reports: one or several models side by side, as a table, HTML, Markdown or JSON."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import is_classifier

from uqkit.base import UQRegressorMixin
from uqkit.calibration._conformal import ConformalRegressor
from uqkit.exceptions import InvalidInputError
from uqkit.metrics._classification import (
    classification_metrics,
    ood_detection,
    reliability_curve,
    risk_coverage_curve,
    uncertainty_score,
)
from uqkit.metrics._regression import (
    DEFAULT_LEVELS,
    _level_tag,
    binned_error_vs_std,
    calibration_curve,
    pit,
    regression_metrics,
)
from uqkit.metrics._validation import as_classification, as_regression
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.report import _plots, _verdict

__all__ = ["CalibrationReport", "report"]

_CURVE_LEVELS = np.round(np.arange(1, 20) / 20, 2)
_SCATTER_POINTS = 3000

# What each metric means, in one line (shown in the report).
_DEFINITIONS = {
    "nll": "mean negative log predictive density/probability of the truth (lower is better)",
    "nll_gaussian": "NLL of the moment-matched Gaussian N(mean, total variance)",
    "crps": "continuous ranked probability score, in units of y (lower is better)",
    "rmse": "root mean squared error of the predictive mean",
    "mae": "mean absolute error of the predictive mean",
    "pinball": "mean pinball loss of the 5%, 10%, ..., 95% predictive quantiles",
    "coverage": "share of targets inside the central L% interval (ideal: L%)",
    "width": "mean width of the central L% interval",
    "qce": "mean |observed − nominal| coverage over levels 5%..95% (Küppers et al. 2022)",
    "qce_binned": "QCE computed within bins of predicted std, weighted by bin size",
    "miscalibration_area": "area between the quantile calibration curve and the diagonal",
    "ence": "mean over std bins of |RMV − RMSE| / RMV (Levi et al.)",
    "uce": "bin-weighted |MSE − mean variance| over variance bins (Laves et al.)",
    "sharpness": "root mean predicted variance (lower is sharper)",
    "error_std_spearman": "rank correlation of |error| with predicted std (higher is better)",
    "mean_aleatoric": "mean aleatoric uncertainty (variance, or expected entropy)",
    "mean_epistemic": "mean epistemic uncertainty (variance, or mutual information)",
    "accuracy": "share of correct top-label predictions",
    "brier": "multi-class Brier score (lower is better)",
    "ece": "expected calibration error of the top label, 15 equal-width bins",
    "ece_equal_mass": "ECE with 15 equal-mass bins",
    "mce": "maximum calibration error over non-empty bins",
    "classwise_ece": "ECE of every class probability, averaged over classes (Kull et al.)",
    "aurc": "area under the risk-coverage curve (lower is better)",
    "misclassification_auroc": "AUROC of total uncertainty for detecting wrong predictions",
    "misclassification_aupr": "AUPR (wrong = positive) of total uncertainty",
    "mean_total": "mean total uncertainty (entropy of the predictive probabilities)",
    "ood_auroc_epistemic": "AUROC of epistemic uncertainty for telling OOD from ID inputs",
    "ood_aupr_epistemic": "AUPR (OOD = positive) of epistemic uncertainty",
    "ood_auroc_total": "AUROC of total uncertainty for telling OOD from ID inputs",
    "ood_aupr_total": "AUPR (OOD = positive) of total uncertainty",
}
_LOWER_IS_BETTER = {
    "nll",
    "nll_gaussian",
    "crps",
    "rmse",
    "mae",
    "pinball",
    "qce",
    "qce_binned",
    "miscalibration_area",
    "ence",
    "uce",
    "brier",
    "ece",
    "ece_equal_mass",
    "mce",
    "classwise_ece",
    "aurc",
}
_HIGHER_IS_BETTER = {
    "accuracy",
    "error_std_spearman",
    "misclassification_auroc",
    "misclassification_aupr",
    "ood_auroc_epistemic",
    "ood_aupr_epistemic",
    "ood_auroc_total",
    "ood_aupr_total",
}


@dataclass
class _ModelResult:
    name: str
    metrics: dict[str, float]
    verdict: list[str]
    curves: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ entry point
def report(
    models_or_predictions,
    X=None,
    y=None,
    *,
    X_ood=None,
    names=None,
    levels=DEFAULT_LEVELS,
) -> CalibrationReport:
    """Compare the calibration of one or several models (or predictions) on the same data.

    Parameters
    ----------
    models_or_predictions : model, prediction, list of them, or dict ``{name: model}``
        Fitted uqkit estimators (anything with ``predict_uncertainty``), or
        :class:`RegressionPrediction` / :class:`ClassificationPrediction` objects already made on
        ``X``. All must be of one task (regression or classification).
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
    ood_entries = _ood_entries(entries, X_ood)
    results = []
    for entry, name, ood in zip(entries, names, ood_entries):
        pred = _predict(entry, X, name)
        pred_ood = None if ood is None else _predict(ood, _ood_features(ood, X_ood), name)
        if task == "regression":
            results.append(_regression_result(name, entry, pred, y, X, pred_ood, levels))
        else:
            results.append(_classification_result(name, pred, y, pred_ood))
    n_ood = None if ood_entries[0] is None else results[0].curves["n_ood"]
    return CalibrationReport(task, results, n_samples=_n_samples(y), n_ood=n_ood)


def _ood_features(ood, X_ood):
    """Features for an OOD entry: the OOD features for a model, nothing for a prediction."""
    return None if _is_prediction(ood) else X_ood


def _n_samples(y) -> int:
    return int(np.shape(y)[0]) if np.ndim(y) else 0


def _is_prediction(entry) -> bool:
    return isinstance(entry, (RegressionPrediction, ClassificationPrediction))


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
    if not entries:
        raise InvalidInputError("Pass at least one model or prediction to report on.")
    for entry in entries:
        if not (_is_prediction(entry) or hasattr(entry, "predict_uncertainty")):
            raise InvalidInputError(
                "Each entry must be a fitted uqkit model (with predict_uncertainty) or a "
                f"RegressionPrediction/ClassificationPrediction; got {type(entry).__name__}."
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
    return entry.predict_uncertainty(X)


def _interval_function(model, pred: RegressionPrediction, X):
    """The intervals the model itself reports (conformal ones included) and their label."""
    if isinstance(model, ConformalRegressor):
        return (lambda alpha: model.interval(pred, alpha)), "conformal "
    custom = getattr(type(model), "predict_interval", None)
    if custom is not None and custom is not UQRegressorMixin.predict_interval:
        return (lambda alpha: model.predict_interval(X, alpha)), "model "
    return None, ""


def _subsample(n: int, size: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))


# ------------------------------------------------------------------------------ regression
def _regression_result(name, model, pred, y, X, pred_ood, levels) -> _ModelResult:
    pred, y = as_regression(pred, y)
    metrics = regression_metrics(pred, y, levels=levels)
    n = len(y)
    interval_fn, source = None, ""
    if not _is_prediction(model):
        interval_fn, source = _interval_function(model, pred, X)
    if interval_fn is None:
        curve_observed = calibration_curve(pred, y, _CURVE_LEVELS, kind="interval")[1]
    else:
        for level in levels:
            lower, upper = interval_fn(1.0 - float(level))
            metrics[f"coverage_{_level_tag(level)}"] = float(np.mean((y >= lower) & (y <= upper)))
            metrics[f"width_{_level_tag(level)}"] = float(np.mean(upper - lower))
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
    }
    ref = min(levels, key=lambda lv: abs(lv - 0.9))
    tag = _level_tag(ref)
    verdict = [
        _verdict.coverage_sentence(
            float(ref), metrics[f"coverage_{tag}"], n, metrics[f"width_{tag}"], source
        )
    ]
    bias = _verdict.bias_sentence(float(np.mean(pit(pred, y))), n)
    if bias:
        verdict.append(bias)
    verdict += _verdict.where_sentences(rmv, rmse, counts)
    ranking = _verdict.ranking_sentence(metrics["error_std_spearman"])
    if ranking:
        verdict.append(ranking)
    if pred_ood is not None:
        _add_ood(metrics, curves, verdict, pred, pred_ood)
    return _ModelResult(name, metrics, verdict, curves)


# ------------------------------------------------------------------------------ classification
def _classification_result(name, pred, y, pred_ood) -> _ModelResult:
    probs, index = as_classification(pred, y)
    metrics = classification_metrics(pred, y)
    n = len(index)
    curve = reliability_curve(pred, y, 15)
    cov, risk = risk_coverage_curve(pred, y)
    confidence = probs.max(axis=1)
    curves = {"reliability": curve, "risk_coverage": (cov, risk)}
    verdict = [
        _verdict.confidence_sentence(
            float(np.mean(confidence)), metrics["accuracy"], n, metrics["ece"]
        )
    ]
    verdict += _verdict.reliability_sentences(
        curve.confidence, curve.accuracy, curve.counts, curve.edges
    )
    detection = _verdict.detection_sentence(
        metrics["misclassification_auroc"], "wrong from right predictions", "total"
    )
    if detection:
        verdict.append(detection)
    if pred_ood is not None:
        _add_ood(metrics, curves, verdict, pred, pred_ood)
    return _ModelResult(name, metrics, verdict, curves)


# ------------------------------------------------------------------------------ OOD
def _add_ood(metrics, curves, verdict, pred, pred_ood) -> None:
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
    sentence = _verdict.ood_sentence(metrics[f"ood_auroc_{score}"], ratio, score)
    if sentence:
        verdict.append(sentence)


# ------------------------------------------------------------------------------ the report
class CalibrationReport:
    """The calibration of one or several models on the same data, with plots and verdicts.

    Made by :func:`report`. ``summary()`` gives the numbers, ``verdicts()`` the written
    assessment, ``figures()`` the matplotlib figures, and ``to_html``, ``to_markdown`` and
    ``to_json`` the whole report.

    Attributes
    ----------
    task : {"regression", "classification"}
    names : list of str
    n_samples : int
    n_ood : int or None

    Examples
    --------
    >>> import numpy as np
    >>> from uqkit.prediction import ClassificationPrediction
    >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    >>> rep = report(ClassificationPrediction(probs), None, [0, 1, 1, 1])
    >>> float(rep.summary().loc["prediction 1", "accuracy"])
    0.75
    """

    def __init__(self, task: str, results: list[_ModelResult], *, n_samples: int, n_ood=None):
        self.task = task
        self._results = results
        self.names = [r.name for r in results]
        self.n_samples = n_samples
        self.n_ood = n_ood

    # -- numbers and words ----------------------------------------------------------
    def summary(self):
        """A pandas DataFrame: one row per model, one column per metric."""
        import pandas as pd

        return pd.DataFrame([r.metrics for r in self._results], index=self.names)

    def verdicts(self) -> dict[str, list[str]]:
        """The written verdict of each model: a list of sentences, derived from the numbers."""
        return {r.name: list(r.verdict) for r in self._results}

    def comparison(self) -> list[str]:
        """Which model is best on the headline metrics (empty for a single model)."""
        keys = (
            [("nll", "NLL"), ("crps", "CRPS"), ("qce", "QCE"), ("ence", "ENCE")]
            if self.task == "regression"
            else [("nll", "NLL"), ("brier", "Brier score"), ("ece", "ECE"), ("aurc", "AURC")]
        )
        return _verdict.comparison_sentences(self.names, [r.metrics for r in self._results], keys)

    # -- figures ------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The report's matplotlib figures by section: ``{section_id: Figure}``."""
        results = self._results
        figures: dict[str, Any] = {}
        if self.task == "classification":
            figures["reliability"] = _plots.reliability_figure(
                [(r.name, r.curves["reliability"]) for r in results]
            )
            figures["selective"] = _plots.risk_coverage_figure(
                [(r.name, *r.curves["risk_coverage"], r.metrics["aurc"]) for r in results]
            )
        else:
            figures["calibration"] = _plots.calibration_curve_figure(
                [(r.name, r.curves["expected"], r.curves["observed"]) for r in results]
            )
            figures["coverage"] = _plots.coverage_figure(
                [
                    (r.name, r.curves["coverage_levels"], r.curves["coverage_observed"])
                    for r in results
                ],
                self.n_samples,
            )
            figures["error-vs-std"] = _plots.error_std_figure(
                [
                    (
                        r.name,
                        r.curves["std_sample"],
                        r.curves["abs_error_sample"],
                        r.curves["rmv"],
                        r.curves["rmse"],
                    )
                    for r in results
                ]
            )
        if all("ood" in r.curves for r in results):
            scores = {r.curves["ood"][0] for r in results}
            label = f"{scores.pop()} uncertainty" if len(scores) == 1 else "uncertainty"
            figures["ood"] = _plots.ood_figure(
                [(r.name, *r.curves["ood"][1:]) for r in results], label
            )
        return figures

    # -- exports ------------------------------------------------------------------------
    def _sections(self) -> list[tuple[str, str, str]]:
        """``(id, heading, caption)`` of each figure section, in order."""
        if self.task == "classification":
            sections = [
                (
                    "reliability",
                    "Reliability diagram",
                    "Accuracy per confidence bin; red shading marks over-confidence, blue "
                    "under-confidence. The strip below shows how many predictions fall in each "
                    "bin.",
                ),
                (
                    "selective",
                    "Selective prediction",
                    "Error rate of the predictions kept when the least certain ones are rejected "
                    "first; a useful uncertainty makes this curve rise late.",
                ),
            ]
        else:
            sections = [
                (
                    "calibration",
                    "Calibration curve",
                    "Share of targets below each predicted quantile against the quantile level; a "
                    "calibrated model follows the diagonal.",
                ),
                (
                    "coverage",
                    "Interval coverage",
                    "Observed coverage of central intervals against their nominal level; below the "
                    "grey band the intervals are too narrow (over-confident).",
                ),
                (
                    "error-vs-std",
                    "Error vs predicted uncertainty",
                    "Each dot is a sample; black squares are the RMSE of bins of predicted std. On "
                    "the dashed line the errors are as large as predicted.",
                ),
            ]
        if all("ood" in r.curves for r in self._results):
            sections.append(
                (
                    "ood",
                    "Out-of-distribution",
                    "Uncertainty on in-distribution inputs against out-of-distribution inputs; "
                    "separated histograms mean the model knows what it does not know.",
                )
            )
        return sections

    def _metric_rows(self) -> list[tuple[str, list[float]]]:
        keys: list[str] = []
        for r in self._results:
            keys += [k for k in r.metrics if k not in keys]
        return [(k, [r.metrics.get(k, math.nan) for r in self._results]) for k in keys]

    def to_markdown(self) -> str:
        """The report as Markdown: summary table (metrics × models), verdicts, definitions."""
        lines = [f"# Calibration report ({self.task})", "", self._data_line(), "", "## Summary", ""]
        lines.append("| metric | " + " | ".join(self.names) + " |")
        lines.append("|---|" + "---|" * len(self.names))
        for key, values in self._metric_rows():
            lines.append(f"| {key} | " + " | ".join(_fmt(v) for v in values) + " |")
        lines += ["", "## Verdicts", ""]
        for name, sentences in self.verdicts().items():
            lines.append(f"### {name}")
            lines.append("")
            lines += [f"- {s}" for s in sentences]
            lines.append("")
        comparison = self.comparison()
        if comparison:
            lines += ["## Comparison", ""] + [f"- {s}" for s in comparison] + [""]
        lines += ["## Metric definitions", ""]
        lines += [f"- **{k}**: {_definition(k)}" for k, _ in self._metric_rows() if _definition(k)]
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        """The numbers, verdicts and plotted curves as a JSON string (NaN written as null)."""
        models = []
        for r in self._results:
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
                elif key in ("std_sample", "abs_error_sample"):
                    continue
                else:
                    curves[key] = value.tolist() if isinstance(value, np.ndarray) else value
            models.append(
                {"name": r.name, "metrics": r.metrics, "verdict": r.verdict, "curves": curves}
            )
        document = {
            "task": self.task,
            "n_samples": self.n_samples,
            "n_ood": self.n_ood,
            "models": models,
            "comparison": self.comparison(),
        }
        return json.dumps(_clean(document), indent=1, allow_nan=False)

    def to_html(self, path: str | Path) -> Path:
        """Write the report as one self-contained HTML file (plots embedded as PNG).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
            The written file.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self._render_html(), encoding="utf-8")
        return path

    def _data_line(self) -> str:
        ood = f", {self.n_ood} out-of-distribution inputs" if self.n_ood else ""
        models = ", ".join(self.names)
        return f"{self.n_samples} evaluation samples{ood}; models: {models}."

    def _render_html(self) -> str:
        from uqkit import __version__

        e = html.escape
        figures = self.figures()
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>uqkit calibration report ({e(self.task)})</title>",
            f"<style>{_CSS}</style></head><body><main>",
            f"<h1>Calibration report <span class='task'>{e(self.task)}</span></h1>",
            f"<p class='meta'>{e(self._data_line())} Made with uqkit {e(__version__)}.</p>",
            '<nav><a href="#summary">Summary</a> · <a href="#verdicts">Verdicts</a>',
        ]
        for sid, heading, _ in self._sections():
            parts.append(f' · <a href="#{sid}">{e(heading)}</a>')
        parts.append(' · <a href="#definitions">Definitions</a></nav>')
        parts.append('<section id="summary"><h2>Summary</h2>')
        parts.append(self._html_table())
        parts.append("</section>")
        parts.append('<section id="verdicts"><h2>Verdicts</h2>')
        for name, sentences in self.verdicts().items():
            parts.append(f"<h3>{e(name)}</h3><ul>")
            parts += [f"<li>{e(s)}</li>" for s in sentences]
            parts.append("</ul>")
        comparison = self.comparison()
        if comparison:
            parts.append("<h3>Comparison</h3><ul>")
            parts += [f"<li>{e(s)}</li>" for s in comparison]
            parts.append("</ul>")
        parts.append("</section>")
        for sid, heading, caption in self._sections():
            image = _plots.to_png_base64(figures[sid])
            parts.append(f'<section id="{sid}"><h2>{e(heading)}</h2>')
            parts.append(
                f'<figure><img src="data:image/png;base64,{image}" alt="{e(heading)}">'
                f"<figcaption>{e(caption)}</figcaption></figure></section>"
            )
        parts.append('<section id="definitions"><h2>Metric definitions</h2><dl>')
        for key, _ in self._metric_rows():
            if _definition(key):
                parts.append(f"<dt>{e(key)}</dt><dd>{e(_definition(key))}</dd>")
        parts.append("</dl></section></main></body></html>")
        return "\n".join(parts)

    def _html_table(self) -> str:
        e = html.escape
        rows = ["<table><thead><tr><th>metric</th>"]
        rows += [f"<th>{e(n)}</th>" for n in self.names]
        rows.append("</tr></thead><tbody>")
        for key, values in self._metric_rows():
            best = _best_index(key, values) if len(values) > 1 else None
            cells = [
                f"<td class='best'>{_fmt(v)}</td>" if i == best else f"<td>{_fmt(v)}</td>"
                for i, v in enumerate(values)
            ]
            title = e(_definition(key) or "")
            rows.append(f"<tr><th title='{title}'>{e(key)}</th>{''.join(cells)}</tr>")
        rows.append("</tbody></table>")
        return "".join(rows)

    def __repr__(self) -> str:
        return f"CalibrationReport(task={self.task!r}, models={self.names}, n={self.n_samples})"


_DECILES = np.linspace(0.0, 1.0, 11)
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;margin:0;
background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:1.5rem 2rem 3rem;background:#fff}
h1{font-size:1.7rem;margin-bottom:.2rem}.task{font-size:1rem;color:#666;font-weight:400}
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.meta{color:#555}nav{margin:.8rem 0;font-size:.95rem}a{color:#1f5fa8}
table{border-collapse:collapse;font-size:.9rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid #e2e2e2;padding:.25rem .6rem;text-align:right}
thead th{background:#f2f4f7}tbody th{text-align:left;font-weight:500;cursor:help}
td.best{font-weight:700;background:#eef7ee}
figure{margin:1rem 0}img{max-width:100%;height:auto}figcaption{color:#555;font-size:.9rem}
dt{font-weight:600;margin-top:.4rem}dd{margin-left:1.2rem;color:#444}
li{margin:.25rem 0}
"""


def _definition(key: str) -> str | None:
    if key in _DEFINITIONS:
        return _DEFINITIONS[key]
    for prefix in ("coverage", "width"):
        if key.startswith(prefix + "_"):
            level = key.split("_", 1)[1]
            return _DEFINITIONS[prefix].replace("L%", f"{level}%")
    if key.startswith("mean_") and key.endswith("_ood"):
        return f"mean {key[5:-4]} uncertainty on the out-of-distribution inputs"
    return None


def _best_index(key: str, values: list[float]) -> int | None:
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).any():
        return None
    if key in _LOWER_IS_BETTER:
        return int(np.nanargmin(array))
    if key in _HIGHER_IS_BETTER:
        return int(np.nanargmax(array))
    if key.startswith("coverage_"):
        level = float(key.split("_", 1)[1]) / 100
        return int(np.nanargmin(np.abs(array - level)))
    return None


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.4g}"


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
