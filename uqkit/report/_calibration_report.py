"""The calibration report: the evaluated models, their verdicts and figures, and its exports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uqkit.report._html import render_html
from uqkit.report._json import render_json
from uqkit.report._markdown import render_markdown
from uqkit.report._plots import (
    calibration_curve_figure,
    coverage_figure,
    error_std_figure,
    ood_figure,
    reliability_figure,
    risk_coverage_figure,
)
from uqkit.report._verdict import comparison_sentences

__all__ = ["CalibrationReport", "ModelResult"]


@dataclass
class ModelResult:
    """What a report holds about one model: its metrics, verdict sentences and plotted curves."""

    name: str
    metrics: dict[str, float]
    verdict: list[str]
    curves: dict[str, Any] = field(default_factory=dict)


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
    >>> from uqkit.report import report
    >>> rep = report(ClassificationPrediction(probs), None, [0, 1, 1, 1])
    >>> float(rep.summary().loc["prediction 1", "accuracy"])
    0.75
    """

    def __init__(self, task: str, results: list[ModelResult], *, n_samples: int, n_ood=None):
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
        return comparison_sentences(self.names, [r.metrics for r in self._results], keys)

    # -- figures ------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The report's matplotlib figures by section: ``{section_id: Figure}``."""
        results = self._results
        figures: dict[str, Any] = {}
        if self.task == "classification":
            figures["reliability"] = reliability_figure(
                [(r.name, r.curves["reliability"]) for r in results]
            )
            figures["selective"] = risk_coverage_figure(
                [(r.name, *r.curves["risk_coverage"], r.metrics["aurc"]) for r in results]
            )
        else:
            figures["calibration"] = calibration_curve_figure(
                [(r.name, r.curves["expected"], r.curves["observed"]) for r in results]
            )
            figures["coverage"] = coverage_figure(
                [
                    (r.name, r.curves["coverage_levels"], r.curves["coverage_observed"])
                    for r in results
                ],
                self.n_samples,
            )
            figures["error-vs-std"] = error_std_figure(
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
            figures["ood"] = ood_figure([(r.name, *r.curves["ood"][1:]) for r in results], label)
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
        return render_markdown(self)

    def to_json(self) -> str:
        """The numbers, verdicts and plotted curves as a JSON string (NaN written as null)."""
        return render_json(self)

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
        path.write_text(render_html(self), encoding="utf-8")
        return path

    def _data_line(self) -> str:
        ood = f", {self.n_ood} out-of-distribution inputs" if self.n_ood else ""
        models = ", ".join(self.names)
        return f"{self.n_samples} evaluation samples{ood}; models: {models}."

    def __repr__(self) -> str:
        return f"CalibrationReport(task={self.task!r}, models={self.names}, n={self.n_samples})"
