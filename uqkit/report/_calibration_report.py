"""The calibration report: the evaluated models, their verdicts and figures, and its exports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from uqkit.exceptions import InvalidInputError
from uqkit.report._bootstrap import interval, paired_best
from uqkit.report._definitions import direction, label
from uqkit.report._html import render_html
from uqkit.report._json import render_json
from uqkit.report._markdown import render_markdown
from uqkit.report._plots import (
    calibration_curve_figure,
    confidence_figure,
    coverage_figure,
    error_std_figure,
    ood_figure,
    ood_roc_figure,
    pit_figure,
    reliability_figure,
    risk_coverage_figure,
    sharpness_figure,
)
from uqkit.report._verdict import comparison_sentences

__all__ = ["CalibrationReport", "MetricRow", "ModelResult"]

_HEADLINE = ("nll", "crps", "qce", "ence", "brier", "ece", "aurc", "rmse", "accuracy")


@dataclass
class ModelResult:
    """What a report holds about one model: its metrics, verdict sentences and plotted curves."""

    name: str
    metrics: dict[str, float]
    verdict: list[str]
    curves: dict[str, Any] = field(default_factory=dict)
    replicates: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class MetricRow:
    """One row of the summary table: a metric over the models, with intervals and the best."""

    key: str
    values: list[float]
    intervals: list[tuple[float, float]]
    best: int | None  # the best point estimate
    clear: bool  # best beyond noise against every other model (paired bootstrap)
    differences: list  # per model, CI of (value - best value); None for the best itself


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

    def __init__(self, task: str, results: list[ModelResult], *, n_samples: int, n_ood=None,
                 n_boot: int = 0, random_state: int = 0, data=None):
        self.task = task
        self._results = results
        self.names = [r.name for r in results]
        self.n_samples = n_samples
        self.n_ood = n_ood
        self.n_boot = n_boot
        self.random_state = random_state
        self.data = dict(data or {"rows": n_samples})

    # -- numbers and words ----------------------------------------------------------
    def summary(self):
        """A pandas DataFrame: one row per model, one column per metric."""
        import pandas as pd

        return pd.DataFrame([r.metrics for r in self._results], index=self.names)

    def intervals(self):
        """A pandas DataFrame of the 95% bootstrap intervals: ``(model, metric)`` → ``(lo, hi)``.

        Columns are the metrics; each cell a ``(low, high)`` tuple (NaN without a bootstrap).
        """
        import pandas as pd

        return pd.DataFrame([r.intervals for r in self._results], index=self.names)

    def contexts(self) -> dict[str, dict]:
        """Per model: class, non-default parameters, fit time, members, wrapper."""
        return {r.name: dict(r.context) for r in self._results}

    def best(self) -> dict[str, str | None]:
        """Per ranked metric, the model that is best beyond noise (``None`` when none is).

        A model is best only when the paired bootstrap interval of its difference to every other
        model excludes zero; with one model, or without a bootstrap, none is.
        """
        return {
            row.key: (self.names[row.best] if row.clear else None)
            for row in self._rows()
            if row.best is not None
        }
    def verdicts(self) -> dict[str, list[str]]:
        """The written verdict of each model: a list of sentences, derived from the numbers."""
        return {r.name: list(r.verdict) for r in self._results}

    def comparison(self) -> list[str]:
        """Which model is best on the headline metrics, and whether beyond noise (empty for one)."""
        keys = (
            [("nll", "NLL"), ("crps", "CRPS"), ("qce", "QCE"), ("ence", "ENCE")]
            if self.task == "regression"
            else [("nll", "NLL"), ("brier", "Brier score"), ("ece", "ECE"), ("aurc", "AURC")]
        )
        rows = {row.key: row for row in self._rows()}
        return comparison_sentences(self.names, [(rows.get(k), label) for k, label in keys],
                                    self.n_boot)

    def _rows(self) -> list[MetricRow]:
        """The summary rows: values, intervals and the paired-bootstrap best of each metric."""
        out = []
        for key, values in self._metric_rows():
            intervals = [r.intervals.get(key, (math.nan, math.nan)) for r in self._results]
            replicates = [r.replicates.get(key) for r in self._results]
            sign = direction(key)
            ranked_values, ranked_reps = values, replicates
            if key.startswith("coverage_"):  # closest to nominal is best
                level = float(key.split("_", 1)[1]) / 100
                sign = 1
                ranked_values = [-abs(v - level) for v in values]
                ranked_reps = [None if r is None else -np.abs(r - level) for r in replicates]
            best, clear, differences = None, False, [None] * len(values)
            if sign and len(values) > 1:
                best, clear, _ = paired_best(ranked_values, ranked_reps, sign)
                if best is not None:
                    for i, reps in enumerate(replicates):
                        if i != best and reps is not None and replicates[best] is not None:
                            differences[i] = interval(
                                reps - replicates[best], values[i] - values[best]
                            )
            out.append(MetricRow(key, values, intervals, best, clear, differences))
        return out

    # -- figures ------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The report's matplotlib figures by section: ``{section_id: Figure}``."""
        results = self._results
        figures: dict[str, Any] = {}
        if self.task == "classification":
            figures["reliability"] = reliability_figure(
                [(r.name, r.curves["reliability"]) for r in results]
            )
            figures["confidence"] = confidence_figure(
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
            figures["pit"] = pit_figure(
                [(r.name, r.curves["pit_counts"]) for r in results], self.n_samples
            )
            figures["sharpness"] = sharpness_figure(
                [(r.name, r.curves["std_sample"]) for r in results]
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
            entries = [(r.name, *r.curves["ood"][1:]) for r in results]
            figures["ood"] = ood_figure(entries, label)
            figures["ood-roc"] = ood_roc_figure(entries, label)
        return figures

    # -- exports ------------------------------------------------------------------------
    def _sections(self) -> list[tuple[str, str, str]]:
        """``(id, heading, caption)`` of each figure section, in order."""
        if self.task == "classification":
            sections = [
                (
                    "reliability",
                    "Reliability diagram",
                    "Accuracy per confidence bin; dark red shading marks over-confidence, dark "
                    "violet under-confidence (colours no model is drawn in). The strip below "
                    "shows how many predictions fall in each bin.",
                ),
                (
                    "confidence",
                    "Confidence histogram",
                    "Predictions per confidence bin, right ones in the model's colour and wrong "
                    "ones hatched; a useful confidence puts the wrong ones at the left.",
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
                    "pit",
                    "PIT histogram",
                    "Histogram of F(y), the predicted CDF at the target; flat within the grey band "
                    "when calibrated, U-shaped when over-confident, humped when under-confident, "
                    "sloped when biased.",
                ),
                (
                    "sharpness",
                    "Sharpness",
                    "Distribution of the predicted std over the rows; the black line is the "
                    "sharpness √(mean σ²). Sharper is better only when calibrated.",
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
            sections.append(
                (
                    "ood-roc",
                    "OOD detection ROC",
                    "Share of OOD inputs flagged against the share of in-distribution inputs "
                    "flagged as the uncertainty threshold falls; the dashed line is chance.",
                )
            )
        return sections

    def _metric_rows(self) -> list[tuple[str, list[float]]]:
        keys: list[str] = []
        for r in self._results:
            keys += [k for k in r.metrics if k not in keys]
        return [(k, [r.metrics.get(k, math.nan) for r in self._results]) for k in keys]

    def to_markdown(self, path: str | Path | None = None):
        """The report as Markdown: headline, summary table, context, verdicts, definitions.

        Parameters
        ----------
        path : str or Path, optional
            Where to write it; the figures are then saved as PNG and SVG next to it (in
            ``<stem>_files/``) and linked from the page.

        Returns
        -------
        str or Path
            The Markdown text without ``path``; the written file with it.
        """
        if path is None:
            return render_markdown(self)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = self.save_figures(path.parent / f"{path.stem}_files")
        links = {sid: f"{path.stem}_files/{files[0].name}" for sid, files in saved.items()}
        path.write_text(render_markdown(self, links), encoding="utf-8")
        return path

    def save_figures(self, directory: str | Path) -> dict[str, list[Path]]:
        """Save every figure as PNG and SVG in ``directory``; ``{section_id: [png, svg]}``."""
        import matplotlib.pyplot as plt

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        saved = {}
        for sid, figure in self.figures().items():
            files = [directory / f"{sid}.png", directory / f"{sid}.svg"]
            figure.savefig(files[0], dpi=110, bbox_inches="tight")
            figure.savefig(files[1], bbox_inches="tight")
            plt.close(figure)
            saved[sid] = files
        return saved

    def to_json(self) -> str:
        """The numbers, verdicts and plotted curves as a JSON string (NaN written as null)."""
        return render_json(self)

    def to_html(self, path: str | Path, *, save_figures: bool = False) -> Path:
        """Write the report as one self-contained HTML file (plots embedded as PNG).

        Parameters
        ----------
        path : str or Path
        save_figures : bool, default False
            Also save every figure as PNG and SVG in ``<stem>_files/`` next to the page.

        Returns
        -------
        Path
            The written file.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(self), encoding="utf-8")
        if save_figures:
            self.save_figures(path.parent / f"{path.stem}_files")
        return path

    def write(self, path: str | Path) -> Path:
        """Write the report in the format its extension names: ``.html``, ``.md`` or ``.json``.

        HTML and Markdown also get their figures as PNG/SVG in ``<stem>_files/``.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm"):
            return self.to_html(path, save_figures=True)
        if suffix in (".md", ".markdown"):
            return self.to_markdown(path)
        if suffix == ".json":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.to_json(), encoding="utf-8")
            return path
        raise InvalidInputError(
            f"Cannot tell the report format from {path.name!r}: end the file name in .html, .md "
            "or .json."
        )

    def _data_line(self) -> str:
        ood = f", {self.n_ood} out-of-distribution inputs" if self.n_ood else ""
        features = self.data.get("features")
        features = f", {features} features" if features else ""
        target = self.data.get("target")
        target = f"; target {target!r}" if target else ""
        description = self.data.get("description")
        description = description.strip() if description else ""
        if description and not description.endswith((".", "!", "?")):
            description += "."
        description = f" {description}" if description else ""
        boot = (
            f" Intervals: 95% bootstrap (percentile, bias-shifted), B = {self.n_boot} resamples of "
            "the rows "
            f"(seed {self.random_state}), the same resamples for every model."
            if self.n_boot else " No bootstrap (n_boot=0): no intervals, no model called best."
        )
        return f"{self.n_samples} evaluation rows{features}{ood}{target}.{description}{boot}"

    def _headline(self) -> list[tuple[str, str]]:
        """One sentence per model: calibrated or not (and where), and how it ranks on NLL."""
        rows = {row.key: row for row in self._rows()}
        best = self.best()
        m = len(self.names)
        out = []
        for i, r in enumerate(self._results):
            first = r.verdict[0] if r.verdict else ""
            sentence = first.split(" (", 1)[0].rstrip(".")
            where = next((v for v in r.verdict[1:] if v.startswith("Most ")), None)
            if where:
                sentence += "; " + where.split(":", 1)[0][0].lower() + where.split(":", 1)[0][1:]
            if m > 1 and "nll" in rows and np.isfinite(rows["nll"].values[i]):
                row = rows["nll"]
                rank = 1 + int(np.sum(np.asarray(row.values) < row.values[i]))
                if best.get("nll") == r.name:
                    rank_text = "best NLL of all, beyond noise"
                elif i == row.best:
                    rank_text = "lowest NLL, but not beyond noise"
                else:
                    diff = row.differences[i]
                    clear = diff is not None and np.isfinite(diff[0]) and diff[0] > 0
                    rank_text = f"ranks {rank} of {m} on NLL, " + (
                        "worse than the best beyond noise" if clear
                        else "within noise of the best"
                    )
                sentence += f"; {rank_text}"
            wins = [label(k) for k, name in best.items()
                    if name == r.name and k in _HEADLINE and k != "nll"]
            if wins:
                sentence += "; best beyond noise on " + ", ".join(wins)
            out.append((r.name, sentence + "."))
        return out

    def __repr__(self) -> str:
        return f"CalibrationReport(task={self.task!r}, models={self.names}, n={self.n_samples})"
