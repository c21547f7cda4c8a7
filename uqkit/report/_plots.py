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
OVER_COLOR, UNDER_COLOR = "#7F0000", "#2D004B"
# Full page width (at the 100 dpi of the embedded PNGs, 900 px).
_MIN_WIDTH = 9.0
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
    size = (max(_MIN_WIDTH, _PANEL[0] * columns + 0.4), _PANEL[1] * (1.25 if rows > 1 else 1.0))
    fig = Figure(figsize=size, layout="constrained")
    grid = fig.add_gridspec(rows, columns, height_ratios=height_ratios)
    return fig, grid


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
    """Reliability diagrams, one panel per model.

    ``entries``: list of ``(name, ReliabilityResult)``. Bars show the accuracy of each confidence
    bin; the shaded part up to the diagonal is the gap to the bin's mean confidence (red: over-
    confident, blue: under-confident). The lower strip shows the share of samples per bin.
    """
    fig, grid = _figure(len(entries), rows=2, height_ratios=(3, 1))
    for i, (name, curve) in enumerate(entries):
        top = fig.add_subplot(grid[0, i])
        bottom = fig.add_subplot(grid[1, i], sharex=top)
        edges = curve.edges
        centers, widths = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
        filled = curve.counts > 0
        acc = np.where(filled, curve.accuracy, 0.0)
        conf = np.where(filled, curve.confidence, 0.0)
        top.bar(
            centers,
            acc,
            width=widths,
            color=color(i),
            alpha=0.85,
            edgecolor="white",
            label="accuracy",
        )
        gap = conf - acc
        top.bar(
            centers[filled],
            gap[filled],
            bottom=acc[filled],
            width=widths[filled],
            color=np.where(gap[filled] > 0, OVER_COLOR, UNDER_COLOR),
            alpha=0.3,
            edgecolor="none",
            label="gap to confidence",
        )
        _diagonal(top)
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.set_ylabel("accuracy")
        top.set_title(name)
        _outside_legend(top)
        share = curve.counts / max(curve.counts.sum(), 1)
        bottom.bar(centers, share, width=widths, color="0.5", edgecolor="white")
        bottom.set_xlabel("confidence (top label)")
        bottom.set_ylabel("share")
    fig.suptitle("Reliability diagram")
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
    """|error| against predicted std, one panel per model.

    ``entries``: list of ``(name, std, abs_error, rmv, rmse)``; dots are samples, large markers
    the RMSE of each bin of predicted std at its root mean variance. On the dashed line the
    errors are as large as the model says.
    """
    fig, grid = _figure(len(entries))
    for i, (name, std, abs_error, rmv, rmse) in enumerate(entries):
        ax = fig.add_subplot(grid[0, i])
        ax.scatter(std, abs_error, s=5, alpha=0.25, color=color(i), linewidths=0, label="samples")
        keep = np.isfinite(rmv) & np.isfinite(rmse)
        ax.plot(
            rmv[keep],
            rmse[keep],
            marker="s",
            markersize=6,
            color="black",
            label="binned RMSE vs RMV",
        )
        positive = abs_error[abs_error > 0]
        # start at the 2% quantile of the errors: a few near-zero ones would squash a log plot
        floor = float(np.quantile(positive, 0.02)) if positive.size else np.inf
        low = min(float(np.min(std)), floor)
        high = max(float(np.max(std)), float(np.max(abs_error)))
        logscale = high / max(low, 1e-300) > 30 and low > 0
        if logscale:
            _log_axis(ax, "x")
            _log_axis(ax, "y")
            ax.set_ylim(low / 1.5, high * 1.5)
        ax.plot(
            [low, high] if logscale else [0.0, high],
            [low, high] if logscale else [0.0, high],
            color="0.45",
            linestyle="--",
            linewidth=1,
            label="RMSE = predicted std",
        )
        ax.set_xlabel("predicted std")
        ax.set_ylabel("|error|")
        ax.set_title(name)
        _outside_legend(ax)
    fig.suptitle("Error vs predicted uncertainty")
    return fig


# ------------------------------------------------------------------------------ both
def ood_figure(entries, label: str):
    """Histograms of an uncertainty score in- and out-of-distribution, one panel per model.

    ``entries``: list of ``(name, id_values, ood_values, auroc)``.
    """
    fig, grid = _figure(len(entries))
    for i, (name, inside, outside, auroc) in enumerate(entries):
        ax = fig.add_subplot(grid[0, i])
        values = np.concatenate([inside, outside])
        positive = values[values > 0]
        wide = positive.size > 0 and positive.max() / positive.min() > 100
        if wide:
            floor = positive.min()
            bins = np.geomspace(floor, positive.max(), 40)
            inside, outside = np.maximum(inside, floor), np.maximum(outside, floor)
            _log_axis(ax, "x")
        else:
            bins = np.linspace(values.min(), values.max() + 1e-12, 40)
        for values_, shade, label_ in (
            (inside, color(i), "in-distribution"),
            (outside, "0.35", "out-of-distribution"),
        ):
            counts, _ = np.histogram(values_, bins=bins)
            share = counts / max(counts.sum(), 1)
            ax.stairs(share, bins, fill=True, alpha=0.5, color=shade, label=label_)
        ax.set_xlabel(label)
        ax.set_ylabel("share of inputs")
        title = name if not np.isfinite(auroc) else f"{name} (AUROC {auroc:.3f})"
        ax.set_title(title)
        _outside_legend(ax)
    fig.suptitle(f"{label}: in- vs out-of-distribution")
    return fig
