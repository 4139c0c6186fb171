"""Self-contained HTML reports (figures embedded as PNG) for the Processing results viewer."""
import base64
import html
import io


def pyplot():
    """matplotlib's pyplot on the Agg back-end, imported on first use (it is slow to load with QGIS)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt

STYLE = ("body{font-family:sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.25em .6em;"
         "text-align:right}th{background:#eee}td:first-child,th:first-child{text-align:left}"
         "p.note{color:#555;font-size:.9em}")


def figure_html(figure, alt):
    """An <img> with the figure as an embedded PNG; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return '<img alt="%s" src="data:image/png;base64,%s"/>' % (html.escape(alt), data)


def table_html(header, rows):
    """An HTML table; numbers are shown as given (format them before)."""
    head = "".join("<th>%s</th>" % html.escape(str(cell)) for cell in header)
    body = "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % html.escape(str(cell)) for cell in row) for row in rows)
    return "<table><tr>%s</tr>%s</table>" % (head, body)


def write_page(path, title, sections):
    """Write an HTML page of (heading, html) sections."""
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title><style>%s</style></head><body>"
             % (html.escape(title), STYLE), "<h1>%s</h1>" % html.escape(title)]
    for heading, content in sections:
        if heading:
            parts.append("<h2>%s</h2>" % html.escape(heading))
        parts.append(content)
    parts.append("</body></html>")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts))
