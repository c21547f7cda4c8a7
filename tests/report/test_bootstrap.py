"""Bootstrap intervals of a report's metrics and the paired comparison of models."""

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from uqkit.exceptions import InvalidInputError
from uqkit.metrics import (
    DEFAULT_LEVELS,
    as_classification,
    classification_metrics,
    regression_metrics,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.report import report
from uqkit.report._bootstrap import (
    auroc_aupr,
    classification_replicates,
    paired_best,
    regression_replicates,
)


def _mixture(n=300, seed=0):
    rng = np.random.default_rng(seed)
    center = rng.normal(size=n)
    y = center + rng.normal(size=n)
    members = center + 0.3 * rng.normal(size=(3, n))
    return y, RegressionPrediction.mixture(members, np.full((3, n), 0.8))


def test_replicates_on_the_identity_resample_are_the_metrics():
    """The fast bootstrap (stand-ins, per-row means) reproduces every metric exactly."""
    y, pred = _mixture()
    identity = np.arange(len(y))[None]
    replicates = regression_replicates(pred, y, identity, DEFAULT_LEVELS)
    expected = regression_metrics(pred, y)
    assert set(replicates) == set(expected)
    for key, value in expected.items():
        assert replicates[key][0] == pytest.approx(value, rel=1e-9, abs=1e-12), key

    rng = np.random.default_rng(1)
    members = rng.dirichlet(np.ones(3), size=(2, 200))
    labels = rng.integers(0, 3, 200)
    clf = ClassificationPrediction.from_members(members)
    probs, index = as_classification(clf, labels)
    replicates = classification_replicates(clf, probs, index, np.arange(200)[None])
    for key, value in classification_metrics(clf, labels).items():
        assert replicates[key][0] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_auroc_aupr_match_scikit_learn_with_ties():
    rng = np.random.default_rng(2)
    score = rng.integers(0, 6, 300).astype(float)
    positive = rng.uniform(size=300) < 0.3
    auroc, aupr = auroc_aupr(score, positive)
    assert auroc == pytest.approx(roc_auc_score(positive, score), rel=1e-12)
    assert aupr == pytest.approx(average_precision_score(positive, score), rel=1e-12)
    assert np.isnan(auroc_aupr(score, np.zeros(300, bool))[0])


def test_paired_best_needs_every_difference_beyond_noise():
    base = np.random.default_rng(3).normal(size=500)
    # model 1 is better by 0.5 on every resample: clear; model 2 ties it within noise
    best, clear, _ = paired_best([1.0, 0.5], [base + 1.0, base + 0.5], sign=-1)
    assert (best, clear) == (1, True)
    noise = np.random.default_rng(4).normal(size=500)
    best, clear, diffs = paired_best([1.0, 0.99], [base + 1.0, base + 0.99 + noise], sign=-1)
    assert best == 1 and not clear and diffs[0][0] < 0 < diffs[0][1]


def _normal(mean, std):
    return RegressionPrediction.normal(np.asarray(mean), np.asarray(std) ** 2)


def test_report_calls_best_only_beyond_noise():
    rng = np.random.default_rng(5)
    n = 400
    center = rng.normal(size=n)
    y = center + rng.normal(size=n)
    # two models whose NLLs differ by far less than their sampling noise
    a = _normal(center, np.ones(n))
    b = _normal(center + 0.02 * rng.normal(size=n), np.ones(n))
    rep = report([a, b], None, y, names=["a", "b"], n_boot=200)
    nll = rep.summary()["nll"]
    low, high = rep.intervals().loc["a", "nll"]
    assert abs(nll["a"] - nll["b"]) < 0.1 * (high - low)
    assert rep.best()["nll"] is None
    assert not any(s.startswith("Best NLL") for s in rep.comparison())
    assert any(s.startswith("No model is best on NLL") for s in rep.comparison())
    headline = dict(rep._headline())
    assert not any("best NLL of all" in text for text in headline.values())
    assert sorted("lowest NLL, but not beyond noise" in t for t in headline.values()) == [0, 1]
    assert any("within noise of the best" in text for text in headline.values())
    # a clearly worse model: the better one is best, beyond noise
    c = _normal(center + 0.8, np.full(n, 0.5))
    rep = report([a, c], None, y, names=["a", "c"], n_boot=200)
    assert rep.best()["nll"] == "a"
    assert any(s.startswith("Best NLL: a") for s in rep.comparison())
    headline = dict(rep._headline())
    assert "best NLL of all, beyond noise" in headline["a"]
    assert "ranks 2 of 2 on NLL, worse than the best beyond noise" in headline["c"]
    markdown = rep.to_markdown()
    assert "**" in markdown.split("## Summary")[1].split("## Models")[0]
    # the same seed gives the same intervals; another seed other ones
    again = report([a, c], None, y, names=["a", "c"], n_boot=200)
    assert again.intervals().loc["a", "nll"] == rep.intervals().loc["a", "nll"]
    other = report([a, c], None, y, names=["a", "c"], n_boot=200, random_state=1)
    assert other.intervals().loc["a", "nll"] != rep.intervals().loc["a", "nll"]


def test_json_has_an_interval_for_every_metric_and_formats_by_extension(tmp_path):
    y, pred = _mixture(n=200)
    ood = RegressionPrediction.mixture(5 * np.random.default_rng(6).normal(size=(3, 100)),
                                       np.ones((3, 100)))
    rep = report(pred, None, y, X_ood=ood, names=["m"], n_boot=50, description="synthetic rows")
    document = json.loads(rep.to_json())
    model = document["models"][0]
    assert document["bootstrap"]["resamples"] == 50
    for key, value in model["metrics"].items():
        if value is None:
            continue
        bounds = model["intervals"][key]
        assert bounds["low"] is not None and bounds["high"] is not None, key
        assert bounds["low"] <= bounds["high"]
    assert document["data"]["description"] == "synthetic rows"
    html_path = rep.write(tmp_path / "r.html")
    page = html_path.read_text()
    assert "synthetic rows" in page and "B = 50" in page
    # the headline comes before the table; names link to their definitions
    assert page.index("class='headline'") < page.index('<section id="summary">')
    assert "<a href='#def-nll'>Negative log-likelihood</a>" in page and "id='def-nll'" in page
    assert (tmp_path / "r_files" / "pit.svg").exists()
    md_path = rep.write(tmp_path / "r.md")
    text = md_path.read_text()
    assert "](r_files/calibration.png)" in text
    for sid in ("calibration", "coverage", "error-vs-std", "ood"):
        assert (tmp_path / "r_files" / f"{sid}.png").stat().st_size > 0
        assert (tmp_path / "r_files" / f"{sid}.svg").read_text().lstrip().startswith("<?xml")
    assert json.loads(rep.write(tmp_path / "r.json").read_text())["task"] == "regression"
    with pytest.raises(InvalidInputError, match=r"\.html, \.md or \.json"):
        rep.write(tmp_path / "r.txt")
    with pytest.raises(InvalidInputError, match="n_boot"):
        report(pred, None, y, n_boot=5)
    no_boot = report(pred, None, y, n_boot=0)
    assert "No bootstrap" in no_boot._data_line()


def test_figures_are_wide_and_legends_stay_outside_the_data():
    """Every figure is at least 700 px wide and no legend box overlaps an axes' data area."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from uqkit.report._plots import OVER_COLOR, UNDER_COLOR, color

    y, pred = _mixture(n=100)
    ood = RegressionPrediction.mixture(5 * np.random.default_rng(9).normal(size=(3, 50)),
                                       np.ones((3, 50)))
    # four models: a second row of small multiples
    rep = report({f"m{i}": pred for i in range(4)}, None, y, X_ood=[ood] * 4, n_boot=0)
    rng = np.random.default_rng(7)
    members = rng.dirichlet(np.ones(3), size=(2, 200))
    clf = ClassificationPrediction.from_members(members)
    rep_clf = report({"a": clf, "b": clf}, None, rng.integers(0, 3, 200), n_boot=0)
    for figure in [*rep.figures().values(), *rep_clf.figures().values()]:
        assert figure.get_size_inches()[0] * 100 >= 700  # at the embedded PNGs' 100 dpi
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        renderer = canvas.get_renderer()
        for ax in figure.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            box = legend.get_window_extent(renderer)
            for other in figure.axes:
                assert not box.overlaps(other.get_window_extent(renderer))
        for legend in figure.legends:  # the shared legend of small multiples
            box = legend.get_window_extent(renderer)
            for ax in figure.axes:
                assert not box.overlaps(ax.get_window_extent(renderer))
    assert {OVER_COLOR, UNDER_COLOR}.isdisjoint({color(i) for i in range(8)})


def test_bias_shifted_interval():
    """Unbiased replicates give the percentile interval; biased ones are centred on the estimate."""
    from uqkit.report._bootstrap import interval

    reps = np.random.default_rng(8).normal(size=4000)
    plain = interval(reps)
    assert plain == pytest.approx((-1.96, 1.96), abs=0.1)
    assert interval(reps, float(np.mean(reps))) == pytest.approx(plain, abs=1e-12)
    # replicates biased upward (as a binned |gap| on a resample): the interval moves down by the
    # bias and so contains the estimate again
    low, high = interval(reps + 3.0, 0.0)
    assert (low, high) == pytest.approx((plain[0] - np.mean(reps), plain[1] - np.mean(reps)))
    assert low < 0.0 < high and interval(reps + 3.0)[0] > 0.0
    assert np.isnan(interval(np.full(10, np.nan))[0])
