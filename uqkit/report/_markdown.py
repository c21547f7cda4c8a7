"""The Markdown rendering of a calibration report."""

from __future__ import annotations

from uqkit.report._definitions import definition, fmt

__all__ = ["render_markdown"]


def render_markdown(report) -> str:
    """Summary table (metrics × models), verdicts, comparison and definitions of ``report``.

    ``report`` is a :class:`~uqkit.report.CalibrationReport`.
    """
    rows = report._metric_rows()
    lines = [f"# Calibration report ({report.task})", "", report._data_line(), "", "## Summary", ""]
    lines.append("| metric | " + " | ".join(report.names) + " |")
    lines.append("|---|" + "---|" * len(report.names))
    for key, values in rows:
        lines.append(f"| {key} | " + " | ".join(fmt(v) for v in values) + " |")
    lines += ["", "## Verdicts", ""]
    for name, sentences in report.verdicts().items():
        lines.append(f"### {name}")
        lines.append("")
        lines += [f"- {s}" for s in sentences]
        lines.append("")
    comparison = report.comparison()
    if comparison:
        lines += ["## Comparison", ""] + [f"- {s}" for s in comparison] + [""]
    lines += ["## Metric definitions", ""]
    lines += [f"- **{k}**: {definition(k)}" for k, _ in rows if definition(k)]
    return "\n".join(lines) + "\n"
