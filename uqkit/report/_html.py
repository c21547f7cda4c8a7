"""The HTML rendering of a calibration report: one self-contained page, plots embedded as PNG."""

from __future__ import annotations

import html

import uqkit
from uqkit.report._definitions import definition, label, reference
from uqkit.report._plots import to_png_base64
from uqkit.report._table import table_groups

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
td.best{font-weight:700;background:#eef7ee}tbody th.group{background:#f7f7f7;text-align:left;
font-weight:600;cursor:default}.headline{background:#f4f7fb;border-left:4px solid #1f5fa8;
padding:.6rem 1rem;margin:1rem 0}.headline p{margin:.3rem 0}.unit{color:#777;font-weight:400}
.table-wrap{overflow-x:auto}
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
        "<div class='headline'>",
        *[f"<p><b>{e(name)}</b>: {e(text)}</p>" for name, text in report._headline()],
        "</div>",
        f"<p class='meta'>{e(report._data_line())} Made with uqkit {e(uqkit.__version__)}.</p>",
        '<nav><a href="#summary">Summary</a> · <a href="#context">Models and data</a> · '
        '<a href="#verdicts">Verdicts</a>',
    ]
    for sid, heading, _ in sections:
        parts.append(f' · <a href="#{sid}">{e(heading)}</a>')
    parts.append(' · <a href="#definitions">Definitions</a></nav>')
    parts.append('<section id="summary"><h2>Summary</h2>')
    parts.append(_table(report))
    parts.append(
        "<p class='meta'>Cells: value [95% bootstrap interval], rounded to the precision the "
        "interval allows. ↓ lower is better, ↑ higher is better, →L% closest to L% is best. Bold: "
        "best beyond noise (the paired bootstrap interval of its difference to every other model "
        "excludes zero).</p>"
    )
    parts.append("</section>")
    parts.append(_context(report))
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
            source = reference(key)
            source = f" <i>{e(source)}</i>" if source else ""
            parts.append(
                f"<dt id='def-{e(key)}'>{e(label(key))} <code>{e(key)}</code></dt>"
                f"<dd>{e(definition(key))}.{source}</dd>"
            )
    parts.append("</dl></section></main></body></html>")
    return "\n".join(parts)


def _table(report) -> str:
    """The grouped summary table; the model best beyond noise on a metric in bold."""
    e = html.escape
    rows = ["<div class='table-wrap'><table><thead><tr><th>metric</th>"]
    rows += [f"<th>{e(n)}</th>" for n in report.names]
    rows.append("</tr></thead><tbody>")
    width = len(report.names) + 1
    for name, group_rows in table_groups(report):
        rows.append(f"<tr><th class='group' colspan='{width}'>{e(name.capitalize())}</th></tr>")
        for row in group_rows:
            cells = [
                f"<td class='best'>{e(c['text'])}</td>" if c["best"] else f"<td>{e(c['text'])}</td>"
                for c in row["cells"]
            ]
            unit = f" <span class='unit'>({e(row['unit'])})</span>" if row["unit"] else ""
            title = e(definition(row["key"]) or "")
            rows.append(
                f"<tr><th title='{title}'><a href='#def-{e(row['key'])}'>{e(row['name'])}</a>"
                f"{unit} {e(row['arrow'])}</th>{''.join(cells)}</tr>"
            )
    rows.append("</tbody></table></div>")
    return "".join(rows)


def _context(report) -> str:
    """The models' settings and the data, as a short list."""
    e = html.escape
    parts = ['<section id="context"><h2>Models and data</h2><ul>']
    data = report.data
    bits = [f"{data.get('rows', report.n_samples)} rows"]
    if data.get("features"):
        bits.append(f"{data['features']} features")
    if data.get("target"):
        bits.append(f"target {data['target']}")
    if report.n_ood:
        bits.append(f"{report.n_ood} out-of-distribution rows")
    description = f" — {data['description']}" if data.get("description") else ""
    parts.append(f"<li><b>Data</b>: {e(', '.join(bits))}{e(description)}</li>")
    for name, context in report.contexts().items():
        parts.append(f"<li><b>{e(name)}</b>: {e(context_line(context))}</li>")
    parts.append("</ul></section>")
    return "".join(parts)


def context_line(context: dict) -> str:
    """One line: class, non-default parameters, members, fit time, wrapper."""
    bits = [context.get("class", "?")]
    if context.get("prediction"):
        bits.append("a prediction passed in (the model's settings are not known to the report)")
        if context.get("members"):
            bits.append(f"{context['members']} members")
        return "; ".join(bits)
    params = context.get("parameters") or {}
    if params:
        bits.append("parameters " + ", ".join(f"{k}={v}" for k, v in params.items()))
    else:
        bits.append("default parameters")
    if context.get("members"):
        bits.append(f"members/samples {context['members']}")
    seconds = context.get("fit_seconds")
    bits.append(f"fit time {seconds:.3g} s" if seconds is not None else "fit time not recorded")
    if context.get("wrapper"):
        bits.append(context["wrapper"])
    return "; ".join(b for b in bits if b)
