"""Figures of the calibration report, drawn with matplotlib's object API (no pyplot state).

Every function takes already computed curves, one entry per model, and returns a
:class:`matplotlib.figure.Figure`; :func:`to_png_base64` turns one into an embeddable PNG.
"""

from __future__ import annotations

import base64
import io

import numpy as np

# Okabe & Ito's colour-blind-safe palette (Color Universal Design, 2008), one colour per model.
_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
# Gap shading of the reliability diagram: dark shades no model is drawn in.
OVER_COLOR, UNDER_COLOR = "#99000D", "#3F007D"
# Full page width (at the 100 dpi of the embedded PNGs, 1100 px).
_MIN_WIDTH = 11.0
_STYLES = ("-", "--", "-.", ":")
_PANEL = (4.0, 3.6)


def color(i: int) -> str:
    """The colour of the ``i``-th model, the same in every figure."""
    return _COLORS[i % len(_COLORS)]


def linestyle(i: int) -> str:
    """The line style of the ``i``-th model, so that identical curves stay visible."""
    return _STYLES[i % len(_STYLES)]


def _figure(n_panels: int = 1, rows: int = 1, height_ratios=None):
    from matplotlib.figure import Figure

    columns = max(1, n_panels)
    size = (max(_MIN_WIDTH, _PANEL[0] * columns + 0.4), 4.2 * (1.25 if rows > 1 else 1.0))
    fig = Figure(figsize=size, layout="constrained")
    grid = fig.add_gridspec(rows, columns, height_ratios=height_ratios)
    return fig, grid


_MAX_COLUMNS = 3
_PAGE_WIDTH = 11.0  # inches: 1100 px at the embedded 100 dpi, the page's text width


def _small_multiples(n: int, *, strip: bool = False, sharey: bool = True):
    """One panel per model on a grid of at most three columns, all axes shared.

    With ``strip`` each panel has a short count strip below it. Returns the figure and, per
    model, its axes (or ``(axes, strip_axes)``).
    """
    from matplotlib.figure import Figure

    columns = min(max(n, 1), _MAX_COLUMNS)
    rows = -(-max(n, 1) // columns)
    height = (3.9 if strip else 3.1) * rows + 0.7
    fig = Figure(figsize=(_PAGE_WIDTH, height), layout="constrained")
    ratios = [3, 1] * rows if strip else None
    grid = fig.add_gridspec(rows * (2 if strip else 1), columns, height_ratios=ratios)
    panels, first, first_strip = [], None, None
    for i in range(n):
        r, c = divmod(i, columns)
        row = 2 * r if strip else r
        ax = fig.add_subplot(grid[row, c], sharex=first, sharey=first if sharey else None)
        first = first or ax
        if strip:
            below = fig.add_subplot(grid[row + 1, c], sharex=first, sharey=first_strip)
            first_strip = first_strip or below
            panels.append((ax, below))
        else:
            panels.append(ax)
    return fig, panels


def _figure_legend(fig, handles) -> None:
    """One legend for all panels, outside them on the right."""
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)


def _outside_legend(ax) -> None:
    """The legend to the right of the axes, so that it never covers plotted data."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def _log_axis(ax, which: str) -> None:
    """Log scale with plain-number labels and no minor labels (mathtext labels are slow)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(LogLocator(base=10.0, numticks=6))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_locator(NullLocator())


def _diagonal(ax, low: float = 0.0, high: float = 1.0) -> None:
    ax.plot([low, high], [low, high], color="0.45", linestyle="--", linewidth=1, label="ideal")


def to_png_base64(fig, dpi: int = 100) -> str:
    """PNG bytes of ``fig``, base64-encoded (for ``<img src="data:image/png;base64,...">``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# ------------------------------------------------------------------------------ classification
def reliability_figure(entries):
    """Reliability diagrams, one panel per model (shared axes).

    ``entries``: list of ``(name, ReliabilityResult)``. Bars show the accuracy of each confidence
    bin in the model's colour; the shaded part up to the bin's mean confidence is the gap (dark
    red: over-confident, dark violet: under-confident, colours no model is drawn in). The strip
    below gives the number of predictions per bin, written on each bar.
    """
    from matplotlib.patches import Patch

    fig, panels = _small_multiples(len(entries), strip=True)
    for i, ((name, curve), (top, bottom)) in enumerate(zip(entries, panels)):
        edges = curve.edges
        centers, widths = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
        filled = curve.counts > 0
        acc = np.where(filled, curve.accuracy, 0.0)
        conf = np.where(filled, curve.confidence, 0.0)
        top.bar(centers, acc, width=widths, color=color(i), alpha=0.85, edgecolor="white")
        gap = conf - acc
        top.bar(
            centers[filled],
            gap[filled],
            bottom=acc[filled],
            width=widths[filled],
            color=np.where(gap[filled] > 0, OVER_COLOR, UNDER_COLOR),
            edgecolor="white",
            hatch="///",
            linewidth=0,
        )
        _diagonal(top)
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.set_ylabel("accuracy")
        top.set_title(name)
        bottom.bar(centers, curve.counts, width=widths, color="0.6", edgecolor="white")
        for x, count in zip(centers[filled], curve.counts[filled]):
            bottom.text(x, 0, f"{int(count)}", ha="center", va="bottom", fontsize=6,
                        rotation=90)
        bottom.set_xlabel("confidence (top label)")
        bottom.set_ylabel("count")
    _figure_legend(
        fig,
        [
            Patch(color="0.5", label="accuracy (model colour)"),
            Patch(facecolor=OVER_COLOR, edgecolor="white", hatch="///",
                  label="over-confident gap"),
            Patch(facecolor=UNDER_COLOR, edgecolor="white", hatch="///",
                  label="under-confident gap"),
            _line_handle("ideal"),
        ],
    )
    fig.suptitle("Reliability diagram")
    return fig


def _line_handle(label: str, **style):
    from matplotlib.lines import Line2D

    style = {"color": "0.45", "linestyle": "--", "linewidth": 1, **style}
    return Line2D([], [], label=label, **style)


def confidence_figure(entries):
    """How many predictions fall at each confidence, right and wrong, one panel per model.

    ``entries``: list of ``(name, ReliabilityResult)``; the bins are the reliability diagram's.
    """
    from matplotlib.patches import Patch

    fig, panels = _small_multiples(len(entries))
    for i, ((name, curve), ax) in enumerate(zip(entries, panels)):
        edges = curve.edges
        centers, widths = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
        right = np.rint(np.nan_to_num(curve.accuracy) * curve.counts)
        wrong = curve.counts - right
        ax.bar(centers, right, width=widths, color=color(i), edgecolor="white")
        ax.bar(centers, wrong, bottom=right, width=widths, color="0.75", edgecolor="white",
               hatch="//")
        ax.set_xlim(0, 1)
        ax.set_xlabel("confidence (top label)")
        ax.set_ylabel("predictions")
        ax.set_title(name)
    _figure_legend(
        fig,
        [Patch(color="0.5", label="right (model colour)"),
         Patch(facecolor="0.75", hatch="//", label="wrong")],
    )
    fig.suptitle("Confidence histogram")
    return fig


def risk_coverage_figure(entries):
    """Selective risk against coverage; ``entries``: list of ``(name, coverage, risk, aurc)``."""
    fig, grid = _figure(1)
    ax = fig.add_subplot(grid[0, 0])
    for i, (name, cov, risk, area) in enumerate(entries):
        step = max(1, len(cov) // 400)
        ax.plot(
            cov[::step],
            risk[::step],
            color=color(i),
            linestyle=linestyle(i),
            label=f"{name} (AURC {area:.3f})",
        )
    ax.set_xlabel("coverage (share of most certain predictions kept)")
    ax.set_ylabel("error rate of kept predictions")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    _outside_legend(ax)
    ax.set_title("Risk-coverage curve")
    return fig


# ------------------------------------------------------------------------------ regression
def calibration_curve_figure(entries):
    """Observed vs expected proportion of targets below the predicted quantile.

    ``entries``: list of ``(name, expected, observed)``.
    """
    fig, grid = _figure(1)
    ax = fig.add_subplot(grid[0, 0])
    _diagonal(ax)
    for i, (name, expected, observed) in enumerate(entries):
        ax.plot(expected, observed, color=color(i), linestyle=linestyle(i), linewidth=2, label=name)
        ax.fill_between(expected, expected, observed, color=color(i), alpha=0.12)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("expected proportion (quantile level p)")
    ax.set_ylabel("observed proportion of targets below it")
    _outside_legend(ax)
    ax.set_title("Regression calibration curve")
    return fig


def coverage_figure(entries, n: int):
    """Observed coverage of central intervals against their nominal level.

    ``entries``: list of ``(name, levels, observed)``; the grey band is ±2 binomial standard
    errors for ``n`` targets around the ideal.
    """
    fig, grid = _figure(1)
    ax = fig.add_subplot(grid[0, 0])
    grid_levels = np.linspace(0.0, 1.0, 101)
    band = 2.0 * np.sqrt(grid_levels * (1 - grid_levels) / max(n, 1))
    ax.fill_between(
        grid_levels,
        grid_levels - band,
        grid_levels + band,
        color="0.85",
        label="±2 s.e. of an ideal model",
    )
    _diagonal(ax)
    for i, (name, levels, observed) in enumerate(entries):
        ax.plot(
            levels,
            observed,
            marker="o",
            markersize=3,
            color=color(i),
            linestyle=linestyle(i),
            label=name,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nominal level of the central interval")
    ax.set_ylabel("observed coverage (PICP)")
    _outside_legend(ax)
    ax.set_title("Interval coverage vs nominal level")
    return fig


def error_std_figure(entries):
    """|error| against predicted std, one panel per model (shared axes).

    ``entries``: list of ``(name, std, abs_error, rmv, rmse)``; dots are samples, black squares
    the RMSE of each bin of predicted std at its root mean variance. On the dashed line the
    errors are as large as the model says.
    """
    all_std = np.concatenate([e[1] for e in entries])
    all_error = np.concatenate([e[2] for e in entries])
    positive = all_error[all_error > 0]
    # start at the 2% quantile of the errors: a few near-zero ones would squash a log plot
    floor = float(np.quantile(positive, 0.02)) if positive.size else np.inf
    low = min(float(np.min(all_std)), floor)
    high = max(float(np.max(all_std)), float(np.max(all_error)))
    logscale = high / max(low, 1e-300) > 30 and low > 0
    fig, panels = _small_multiples(len(entries))
    for i, ((name, std, abs_error, rmv, rmse), ax) in enumerate(zip(entries, panels)):
        ax.scatter(std, abs_error, s=5, alpha=0.25, color=color(i), linewidths=0)
        keep = np.isfinite(rmv) & np.isfinite(rmse)
        ax.plot(rmv[keep], rmse[keep], marker="s", markersize=6, color="black")
        line = [low, high] if logscale else [0.0, high]
        ax.plot(line, line, color="0.45", linestyle="--", linewidth=1)
        ax.set_xlabel("predicted std")
        ax.set_ylabel("|error|")
        ax.set_title(name)
    if logscale:
        _log_axis(panels[0], "x")
        _log_axis(panels[0], "y")
        panels[0].set_ylim(low / 1.5, high * 1.5)
    _figure_legend(
        fig,
        [
            _line_handle("samples (model colour)", color="0.5", marker="o", linestyle="none",
                         markersize=3),
            _line_handle("binned RMSE vs RMV", color="black", marker="s", linestyle="-"),
            _line_handle("RMSE = predicted std"),
        ],
    )
    fig.suptitle("Error vs predicted uncertainty")
    return fig


def pit_figure(entries, n: int):
    """Histograms of the PIT values F(y), one panel per model (shared axes).

    ``entries``: list of ``(name, counts)`` over equal-width bins of [0, 1]. A calibrated model
    has a flat histogram (Dawid 1984; Gneiting et al., JRSS-B 2007, Sec. 3.1); the grey band is
    ±2 binomial standard errors of a flat one for ``n`` targets. A U shape means over-confident,
    a hump under-confident, a slope bias.
    """
    n_bins = len(entries[0][1]) if entries else 20
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    share = 1.0 / n_bins
    band = 2.0 * np.sqrt(share * (1 - share) / max(n, 1)) / share
    fig, panels = _small_multiples(len(entries))
    for i, ((name, counts), ax) in enumerate(zip(entries, panels)):
        density = np.asarray(counts, float) / max(np.sum(counts), 1) / share
        ax.axhspan(1 - band, 1 + band, color="0.88")
        ax.stairs(density, edges, fill=True, color=color(i), alpha=0.8)
        ax.axhline(1.0, color="0.45", linestyle="--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("PIT value F(y)")
        ax.set_ylabel("density")
        ax.set_title(name)
    from matplotlib.patches import Patch

    _figure_legend(
        fig,
        [Patch(color="0.5", label="PIT density (model colour)"),
         _line_handle("uniform (calibrated)"),
         Patch(color="0.88", label="±2 s.e. of a uniform")],
    )
    fig.suptitle("PIT histogram")
    return fig


def sharpness_figure(entries):
    """Histograms of the predicted std, one panel per model (shared axes and bins).

    ``entries``: list of ``(name, std)``. Sharper models put their mass further left; a spread
    of std across rows means the model tells easy rows from hard ones.
    """
    values = np.concatenate([np.asarray(e[1], float) for e in entries])
    values = values[np.isfinite(values)]
    positive = values[values > 0]
    wide = positive.size > 0 and positive.max() / positive.min() > 30
    if wide:
        bins = np.geomspace(positive.min(), positive.max(), 41)
    else:
        low, high = (values.min(), values.max()) if values.size else (0.0, 1.0)
        bins = np.linspace(low, high + max(1e-12, 1e-9 * abs(high)), 41)
    fig, panels = _small_multiples(len(entries))
    for i, ((name, std), ax) in enumerate(zip(entries, panels)):
        counts, _ = np.histogram(np.clip(std, bins[0], bins[-1]), bins=bins)
        ax.stairs(counts / max(counts.sum(), 1), bins, fill=True, color=color(i), alpha=0.8)
        ax.axvline(float(np.sqrt(np.mean(np.square(std)))), color="black", linewidth=1)
        ax.set_xlabel("predicted std")
        ax.set_ylabel("share of rows")
        ax.set_title(name)
    if wide:
        _log_axis(panels[0], "x")
    _figure_legend(
        fig,
        [_line_handle("sharpness √(mean σ²)", color="black", linestyle="-")],
    )
    fig.suptitle("Sharpness: predicted std")
    return fig


# ------------------------------------------------------------------------------ both
def ood_figure(entries, label: str):
    """Histograms of an uncertainty score in- and out-of-distribution, one panel per model.

    ``entries``: list of ``(name, id_values, ood_values, auroc)``; shared axes and bins.
    """
    from matplotlib.patches import Patch

    values = np.concatenate([np.concatenate([e[1], e[2]]) for e in entries])
    positive = values[values > 0]
    wide = positive.size > 0 and positive.max() / positive.min() > 100
    if wide:
        floor = positive.min()
        bins = np.geomspace(floor, positive.max(), 40)
    else:
        floor = None
        bins = np.linspace(values.min(), values.max() + 1e-12, 40)
    fig, panels = _small_multiples(len(entries))
    for i, ((name, inside, outside, auroc), ax) in enumerate(zip(entries, panels)):
        if floor is not None:
            inside, outside = np.maximum(inside, floor), np.maximum(outside, floor)
        for values_, shade in ((inside, color(i)), (outside, "0.35")):
            counts, _ = np.histogram(values_, bins=bins)
            ax.stairs(counts / max(counts.sum(), 1), bins, fill=True, alpha=0.5, color=shade)
        ax.set_xlabel(label)
        ax.set_ylabel("share of inputs")
        ax.set_title(name if not np.isfinite(auroc) else f"{name} (AUROC {auroc:.3f})")
    if wide:
        _log_axis(panels[0], "x")
    _figure_legend(
        fig,
        [Patch(color="0.5", alpha=0.5, label="in-distribution (model colour)"),
         Patch(color="0.35", alpha=0.5, label="out-of-distribution")],
    )
    fig.suptitle(f"{label}: in- vs out-of-distribution")
    return fig


def ood_roc_figure(entries, label: str):
    """ROC curves of an uncertainty score for telling OOD (positive) from ID inputs.

    ``entries``: list of ``(name, id_values, ood_values, auroc)``; one panel, one curve per model.
    """
    from sklearn.metrics import roc_curve

    fig, grid = _figure(1)
    ax = fig.add_subplot(grid[0, 0])
    ax.plot([0, 1], [0, 1], color="0.45", linestyle="--", linewidth=1, label="chance")
    for i, (name, inside, outside, auroc) in enumerate(entries):
        scores = np.concatenate([inside, outside])
        positive = np.concatenate([np.zeros(len(inside)), np.ones(len(outside))])
        fpr, tpr, _ = roc_curve(positive, scores)
        ax.plot(fpr, tpr, color=color(i), linestyle=linestyle(i), linewidth=2,
                label=f"{name} (AUROC {auroc:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("share of ID inputs flagged (false positive rate)")
    ax.set_ylabel("share of OOD inputs flagged (true positive rate)")
    ax.set_title(f"ROC of {label} for OOD detection")
    _outside_legend(ax)
    return fig
