"""The Markdown rendering of a calibration report (figures as PNG files next to it)."""

from __future__ import annotations

from uqkit.report._definitions import definition, label, reference
from uqkit.report._html import context_line
from uqkit.report._table import table_groups

__all__ = ["render_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(report, figures: dict[str, str] | None = None) -> str:
    """Headline, grouped summary table, context, verdicts, figures and definitions.

    ``report`` is a :class:`~uqkit.report.CalibrationReport`; ``figures`` maps a section id to
    the relative path of its image file (omitted: no figures).
    """
    lines = [f"# Calibration report ({report.task})", ""]
    lines += [f"- **{name}**: {text}" for name, text in report._headline()]
    lines += ["", report._data_line(), "", "## Summary", ""]
    lines.append("| metric | " + " | ".join(_cell(n) for n in report.names) + " |")
    lines.append("|---|" + "---|" * len(report.names))
    for group, rows in table_groups(report):
        lines.append(f"| *{group.capitalize()}* |" + " |" * len(report.names))
        for row in rows:
            unit = f" ({row['unit']})" if row["unit"] else ""
            cells = [f"**{c['text']}**" if c["best"] else c["text"] for c in row["cells"]]
            name = f"[{row['name']}](#{row['key'].replace('_', '-')}){unit} {row['arrow']}"
            lines.append(f"| {_cell(name)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Cells: value [95% bootstrap interval]. ↓ lower is better, ↑ higher is better, →L% "
        "closest to L%. Bold: best beyond noise (paired bootstrap).",
        "",
        "## Models and data",
        "",
    ]
    lines += [f"- **{name}**: {context_line(c)}" for name, c in report.contexts().items()]
    lines += ["", "## Verdicts", ""]
    for name, sentences in report.verdicts().items():
        lines.append(f"### {name}")
        lines.append("")
        lines += [f"- {s}" for s in sentences]
        lines.append("")
    comparison = report.comparison()
    if comparison:
        lines += ["## Comparison", ""] + [f"- {s}" for s in comparison] + [""]
    if figures:
        headings = {sid: heading for sid, heading, _ in report._sections()}
        captions = {sid: caption for sid, _, caption in report._sections()}
        for sid, path in figures.items():
            lines += [f"## {headings[sid]}", "", f"![{headings[sid]}]({path})", "",
                      captions[sid], ""]
    lines += ["## Metric definitions", ""]
    for key, _ in report._metric_rows():
        if definition(key):
            lines.append(f"<a id=\"{key.replace('_', '-')}\"></a>")
            source = f" *{reference(key)}*" if reference(key) else ""
            lines.append(f"- **{label(key)}** (`{key}`): {definition(key)}.{source}")
    return "\n".join(lines) + "\n"
