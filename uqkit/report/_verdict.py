"""Written verdicts derived from the numbers of a calibration report.

Each statement is triggered by a measured gap that exceeds both a practical threshold and twice
its sampling error under the hypothesis that the model is calibrated (binomial standard errors at
the nominal coverage or at the predicted confidence, the delta-method error of an RMSE for binned
errors), so a well calibrated model on little data is not called miscalibrated by chance.
"""

from __future__ import annotations

import math

import numpy as np

# Practical thresholds below which a gap is not worth a sentence.
_COVERAGE_GAP = 0.02
_CONFIDENCE_GAP = 0.02
_BIN_RATIO = 1.2
_Z = 2.0


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _position(i: int, n_bins: int) -> str:
    share = round(100 / n_bins)
    if i == 0:
        return f"the {share}% of rows with the smallest predicted std"
    if i == n_bins - 1:
        return f"the {share}% of rows with the largest predicted std"
    low, high = round(100 * i / n_bins), round(100 * (i + 1) / n_bins)
    return f"rows ranked {low}–{high}% by predicted std"


def coverage_sentence(
    level: float, observed: float, n: int, width: float, source: str, ci=None
) -> str:
    """Over-/under-confidence of the central ``level`` intervals, with its sampling error.

    With ``ci``, the bootstrap interval of the observed coverage (the number the summary table
    shows), the model is called miscalibrated only when that interval excludes the nominal level;
    without it, when the gap exceeds twice the binomial standard error at the nominal level.
    """
    se = math.sqrt(level * (1 - level) / max(n, 1))
    gap = observed - level
    what = f"its {100 * level:g}% {source}intervals"
    if ci is not None and all(np.isfinite(ci)):
        low, high = ci
        noise = f"95% bootstrap CI {_pct(low)}–{_pct(high)}"
        below = high < level and gap < -_COVERAGE_GAP
        above = low > level and gap > _COVERAGE_GAP
    else:
        noise = f"expected {100 * level:g}% ± {_pct(_Z * se)}"
        below = gap < -max(_Z * se, _COVERAGE_GAP)
        above = gap > max(_Z * se, _COVERAGE_GAP)
    if below:
        return (
            f"Over-confident: {what} cover only {_pct(observed)} of the targets "
            f"({noise}, nominal {100 * level:g}%); the intervals are too narrow."
        )
    if above:
        return (
            f"Under-confident: {what} cover {_pct(observed)} of the targets "
            f"({noise}, nominal {100 * level:g}%); they are wider than needed "
            f"(mean width {width:.4g})."
        )
    return (
        f"Calibrated on average: {what} cover {_pct(observed)} of the targets, within sampling "
        f"error of {100 * level:g}% ({noise})."
    )


def bias_sentence(pit_mean: float, n: int) -> str | None:
    """A sentence when the targets sit systematically above or below the predicted median."""
    se = math.sqrt(1.0 / 12.0 / max(n, 1))
    gap = pit_mean - 0.5
    if abs(gap) <= max(3 * se, 0.03):
        return None
    side = "above" if gap > 0 else "below"
    return (
        f"Biased: the targets tend to lie {side} the predicted distribution (mean PIT "
        f"{pit_mean:.3f}, ideal 0.5), so the {'lower' if gap > 0 else 'upper'} tail is too heavy "
        f"and the {'upper' if gap > 0 else 'lower'} tail too light."
    )


def where_sentences(rmv: np.ndarray, rmse: np.ndarray, counts: np.ndarray) -> list[str]:
    """Where along the predicted std the errors exceed (or fall short of) the predicted std."""
    sentences = []
    n_bins = len(rmv)
    ratios = []
    for i in range(n_bins):
        if counts[i] < 5 or not np.isfinite(rmv[i]) or rmv[i] <= 0:
            ratios.append(np.nan)
            continue
        ratio = rmse[i] / rmv[i]
        noise = _Z / math.sqrt(2.0 * counts[i])  # relative s.e. of an RMSE
        significant = abs(math.log(ratio)) > max(math.log(_BIN_RATIO), noise)
        ratios.append(ratio if significant else np.nan)
    ratios = np.asarray(ratios)
    over = np.flatnonzero(ratios > 1)
    under = np.flatnonzero(ratios < 1)
    if over.size:
        worst = over[np.argmax(ratios[over])]
        sentences.append(
            f"Most over-confident in {_position(worst, n_bins)}: the RMSE there is "
            f"{ratios[worst]:.2f}× the predicted std ({over.size} of {n_bins} std bins are "
            "over-confident)."
        )
    if under.size:
        worst = under[np.argmin(ratios[under])]
        sentences.append(
            f"Most under-confident in {_position(worst, n_bins)}: the RMSE there is only "
            f"{ratios[worst]:.2f}× the predicted std ({under.size} of {n_bins} std bins are "
            "under-confident)."
        )
    if not over.size and not under.size and np.isfinite(rmv).any():
        sentences.append(
            "Errors match the predicted std across the whole uncertainty range (no std bin "
            f"deviates by more than {_BIN_RATIO:.1f}× beyond sampling error)."
        )
    return sentences


def ranking_sentence(rho: float, what: str = "|error| and predicted std") -> str | None:
    """How well the uncertainty ranks errors."""
    if not np.isfinite(rho):
        return None
    if rho < 0.1:
        return (
            f"Its uncertainty barely ranks the errors (Spearman ρ = {rho:.2f} between {what}): "
            "calibrated on average perhaps, but not informative per sample."
        )
    if rho < 0.3:
        return f"Its uncertainty ranks the errors weakly (Spearman ρ = {rho:.2f} between {what})."
    return f"Its uncertainty ranks the errors well (Spearman ρ = {rho:.2f} between {what})."


def confidence_sentence(mean_confidence: float, accuracy: float, n: int, ece: float) -> str:
    """Over-/under-confidence of a classifier on average."""
    # s.e. of the accuracy if the model were calibrated (accuracy = confidence); by Jensen's
    # inequality c(1 - c) at the mean confidence bounds the mean of the per-sample variances
    se = math.sqrt(max(mean_confidence * (1 - mean_confidence), 1.0 / max(n, 1)) / max(n, 1))
    gap = mean_confidence - accuracy
    if gap > max(_Z * se, _CONFIDENCE_GAP):
        return (
            f"Over-confident: mean confidence {mean_confidence:.3f} but accuracy {accuracy:.3f} "
            f"(ECE {ece:.3f})."
        )
    if gap < -max(_Z * se, _CONFIDENCE_GAP):
        return (
            f"Under-confident: mean confidence {mean_confidence:.3f} but accuracy {accuracy:.3f} "
            f"(ECE {ece:.3f})."
        )
    return (
        f"Calibrated on average: mean confidence {mean_confidence:.3f} vs accuracy "
        f"{accuracy:.3f} (ECE {ece:.3f})."
    )


def _confidence_region(low: float, high: float) -> str:
    middle = 0.5 * (low + high)
    if middle >= 0.8:
        return "at high confidence"
    if middle <= 0.5:
        return "at low confidence"
    return "at medium confidence"


def reliability_sentences(confidence, accuracy, counts, edges) -> list[str]:
    """The confidence bins whose accuracy departs most from their confidence, if significantly."""
    sentences = []
    z_scores = np.full(len(counts), np.nan)
    for i, n_b in enumerate(counts):
        if n_b < 10:
            continue
        gap = confidence[i] - accuracy[i]
        # s.e. of the bin's accuracy if the model were calibrated there (accuracy = confidence)
        se = math.sqrt(max(confidence[i] * (1 - confidence[i]), 1.0 / n_b) / n_b)
        if abs(gap) > max(_CONFIDENCE_GAP, _Z * se):
            z_scores[i] = gap / se
    for sign, word in ((1, "over"), (-1, "under")):
        candidates = np.flatnonzero(sign * np.nan_to_num(z_scores) > 0)
        if not candidates.size:
            continue
        worst = candidates[np.argmax(np.abs(z_scores[candidates]))]
        low, high = edges[worst], edges[worst + 1]
        sentences.append(
            f"Most {word}-confident {_confidence_region(low, high)}: predictions made with "
            f"confidence {low:.2f}–{high:.2f} (mean {confidence[worst]:.3f}, {int(counts[worst])} "
            f"samples) are right {_pct(accuracy[worst])} of the time."
        )
    return sentences


def detection_sentence(auroc: float, what: str, score: str) -> str | None:
    """How well a score detects misclassifications or OOD inputs."""
    if not np.isfinite(auroc):
        return None
    if auroc >= 0.9:
        quality = "separates"
        advice = ""
    elif auroc >= 0.7:
        quality = "partly separates"
        advice = ""
    elif auroc > 0.4:
        quality = "does not reliably separate"
        advice = f"; do not rely on it to flag {what}"
    else:
        return (
            f"Its {score} uncertainty ranks {what} the wrong way round (AUROC {auroc:.3f}): it is "
            "usually more certain about them; do not rely on it to flag them."
        )
    return f"Its {score} uncertainty {quality} {what} (AUROC {auroc:.3f}){advice}."


def ood_sentence(auroc: float, ratio: float, score: str) -> str | None:
    """OOD detection quality, with the ratio of mean uncertainty OOD vs ID."""
    base = detection_sentence(auroc, "out-of-distribution inputs", score)
    if base is None:
        return None
    if np.isfinite(ratio) and ratio >= 1:
        base = base[:-1] + f"; mean {score} uncertainty is {ratio:.3g}× higher OOD."
    elif np.isfinite(ratio) and ratio > 0:
        base = base[:-1] + f"; mean {score} uncertainty is {1 / ratio:.3g}× lower OOD."
    return base


def comparison_sentences(names, rows, n_boot: int) -> list[str]:
    """Which model is best on each headline metric, said as best only beyond noise.

    ``rows`` are ``(MetricRow or None, label)``; a row's ``clear`` comes from the paired
    bootstrap differences against its best model.
    """
    sentences = []
    if len(names) < 2:
        return sentences
    for row, label in rows:
        if row is None or row.best is None:
            continue
        best = row.best
        value = row.values[best]
        if row.clear:
            sentences.append(
                f"Best {label}: {names[best]} ({value:.4g}); its advantage over every other model "
                f"is beyond noise (95% paired bootstrap, B = {n_boot})."
            )
            continue
        tied = [
            names[i]
            for i, diff in enumerate(row.differences)
            if i != best and (diff is None or not (diff[0] > 0 or diff[1] < 0))
        ]
        if not n_boot:
            sentences.append(
                f"Lowest {label}: {names[best]} ({value:.4g}); without a bootstrap it is not "
                "called best."
            )
        else:
            sentences.append(
                f"No model is best on {label}: {names[best]} has the best value ({value:.4g}) "
                f"but its difference to {', '.join(tied)} is within noise (95% paired "
                f"bootstrap, B = {n_boot})."
            )
    return sentences
