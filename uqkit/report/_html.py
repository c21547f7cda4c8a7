"""The HTML rendering of a calibration report: one self-contained page, plots embedded as PNG."""

from __future__ import annotations

import html

import uqkit
from uqkit.report._definitions import best_index, definition, fmt
from uqkit.report._plots import to_png_base64

__all__ = ["render_html"]

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


def render_html(report) -> str:
    """``report`` (a :class:`~uqkit.report.CalibrationReport`) as one HTML page."""
    e = html.escape
    figures = report.figures()
    sections = report._sections()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>uqkit calibration report ({e(report.task)})</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Calibration report <span class='task'>{e(report.task)}</span></h1>",
        f"<p class='meta'>{e(report._data_line())} Made with uqkit {e(uqkit.__version__)}.</p>",
        '<nav><a href="#summary">Summary</a> · <a href="#verdicts">Verdicts</a>',
    ]
    for sid, heading, _ in sections:
        parts.append(f' · <a href="#{sid}">{e(heading)}</a>')
    parts.append(' · <a href="#definitions">Definitions</a></nav>')
    parts.append('<section id="summary"><h2>Summary</h2>')
    parts.append(_table(report))
    parts.append("</section>")
    parts.append('<section id="verdicts"><h2>Verdicts</h2>')
    for name, sentences in report.verdicts().items():
        parts.append(f"<h3>{e(name)}</h3><ul>")
        parts += [f"<li>{e(s)}</li>" for s in sentences]
        parts.append("</ul>")
    comparison = report.comparison()
    if comparison:
        parts.append("<h3>Comparison</h3><ul>")
        parts += [f"<li>{e(s)}</li>" for s in comparison]
        parts.append("</ul>")
    parts.append("</section>")
    for sid, heading, caption in sections:
        image = to_png_base64(figures[sid])
        parts.append(f'<section id="{sid}"><h2>{e(heading)}</h2>')
        parts.append(
            f'<figure><img src="data:image/png;base64,{image}" alt="{e(heading)}">'
            f"<figcaption>{e(caption)}</figcaption></figure></section>"
        )
    parts.append('<section id="definitions"><h2>Metric definitions</h2><dl>')
    for key, _ in report._metric_rows():
        if definition(key):
            parts.append(f"<dt>{e(key)}</dt><dd>{e(definition(key))}</dd>")
    parts.append("</dl></section></main></body></html>")
    return "\n".join(parts)


def _table(report) -> str:
    """The summary table, the best model of each ranked metric in bold."""
    e = html.escape
    rows = ["<table><thead><tr><th>metric</th>"]
    rows += [f"<th>{e(n)}</th>" for n in report.names]
    rows.append("</tr></thead><tbody>")
    for key, values in report._metric_rows():
        best = best_index(key, values) if len(values) > 1 else None
        cells = [
            f"<td class='best'>{fmt(v)}</td>" if i == best else f"<td>{fmt(v)}</td>"
            for i, v in enumerate(values)
        ]
        title = e(definition(key) or "")
        rows.append(f"<tr><th title='{title}'>{e(key)}</th>{''.join(cells)}</tr>")
    rows.append("</tbody></table>")
    return "".join(rows)
