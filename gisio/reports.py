"""Self-contained HTML reports (figures embedded as PNG) for the Processing results viewer."""
import base64
import html
import io
import math

import numpy as np

from ..core.material_flows import SCENARIOS


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


def accuracy_report(path, result, numbers, metric_names, count_names):
    """HTML report of an accuracy assessment: the numbers (``metric_names`` as ratios, ``count_names`` as counts), the confusion matrix, object metrics per size class, object IoU histogram."""
    plt = pyplot()
    p = result.pixels

    def shown(value):
        return "undefined" if value is None or (isinstance(value, float) and math.isnan(value)) else "%.4f" % value

    summary = table_html(("metric", "value"), [(n, shown(numbers[n])) for n in metric_names]
                         + [(n, numbers[n]) for n in count_names])
    notes = "".join("<p class='note'>Undefined: %s</p>" % n for n in result.undefined)
    confusion = table_html(("", "reference PV", "reference not PV"),
                           [("predicted PV", p.tp, p.fp), ("predicted not PV", p.fn, p.tn)])
    classes = [row["class"] for row in result.by_size]
    figure, axis = plt.subplots(figsize=(6, 3))
    x = np.arange(len(classes))
    for offset, key, colour in ((-0.2, "OBJECT_RECALL", "#1b9e77"), (0.2, "OBJECT_PRECISION", "#7570b3")):
        axis.bar(x + offset, [0 if math.isnan(r[key]) else r[key] for r in result.by_size], 0.4,
                 label=key.replace("_", " ").lower(), color=colour)
    axis.set_xticks(x)
    axis.set_xticklabels(["%s\n(%d ref.)" % (c, r["n_reference"]) for c, r in zip(classes, result.by_size)])
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    size_chart = figure_html(figure, "object metrics per size class")
    by_size = table_html(("class", "reference objects", "prediction objects", "matched", "object recall",
                          "object precision", "pixel IoU"),
                         [(r["class"], r["n_reference"], r["n_prediction"], r["n_matched"], shown(r["OBJECT_RECALL"]),
                           shown(r["OBJECT_PRECISION"]), shown(r["IOU"])) for r in result.by_size])
    figure, axis = plt.subplots(figsize=(6, 3))
    axis.hist([result.objects.reference_iou[1:], result.objects.prediction_iou[1:]], bins=np.linspace(0, 1, 21),
              label=["reference objects", "prediction objects"], color=["#e6ab02", "#66a61e"])
    axis.set_xlabel("IoU with the partner (or best overlap when unmatched)")
    axis.set_ylabel("objects")
    axis.legend(fontsize=8)
    histogram = figure_html(figure, "object IoU histogram")
    write_page(path, "PV map accuracy", [("Summary", summary + notes), ("Confusion matrix (pixels)", confusion),
                                         ("Objects per plant-size class", by_size + size_chart),
                                         ("Object IoU", histogram)])


def material_flows_report(path, result, lifetime, power_density):
    """HTML report: stacked areas of stock and end-of-life flows by material, recovered mass per scenario."""
    plt = pyplot()
    names = [m.name for m in result.materials]
    order = np.argsort([-m.kg_per_m2 for m in result.materials])
    years = result.years
    charts = []
    for flow, title in (("stock", "Material stock in panels (t)"),
                        ("outflow", "End-of-life flows per year (t)")):
        tonnes = result.material_t(getattr(result, flow + "_m2"))
        figure, axis = plt.subplots(figsize=(8, 3.6))
        axis.stackplot(years, tonnes[:, order].T, labels=[names[i] for i in order],
                       colors=plt.cm.tab20(np.linspace(0, 1, 20))[: len(names)])
        axis.axvline(result.reference_year, color="k", linestyle=":", linewidth=1)
        axis.set_xlabel("year")
        axis.set_ylabel("t")
        axis.legend(ncol=5, fontsize=7, loc="upper left")
        charts.append((title, figure_html(figure, title)))
    figure, axis = plt.subplots(figsize=(5, 3))
    totals = [result.total_recovered_t(s) for s in SCENARIOS]
    axis.bar([s.capitalize() for s in SCENARIOS], totals, color=["#1a9850", "#91cf60", "#fc8d59"])
    axis.set_ylabel("t recovered %d–%d" % (result.reference_year + 1, years[-1]))
    charts.append(("Recovered material per collection scenario", figure_html(figure, "recovered per scenario")))
    summary = table_html(("quantity", "tonnes"), [
        ("Inflow, all cohorts", "%.2f" % result.total_inflow_t),
        ("End-of-life outflow to %d" % years[-1], "%.2f" % result.total_outflow_t),
        ("Stock in %d" % years[-1], "%.2f" % result.stock_end_t)] + [
        ("Recovered %d–%d, %s collection" % (result.reference_year + 1, years[-1], s), "%.2f" % t)
        for s, t in zip(SCENARIOS, totals)])
    reference = list(years).index(result.reference_year)
    notes = ("<p class='note'>Weibull lifetime: shape %.4g, scale %.4g y (mean %.1f y). Reference year %d: stock "
             "%.0f m² of panel, %.2f MW at %.0f W/m².</p>" % (
                 lifetime.shape, lifetime.scale, lifetime.mean, result.reference_year,
                 result.stock_m2[reference], result.stock_m2[reference] * power_density / 1e6, power_density))
    write_page(path, "PV material stock and end-of-life flows",
               [("Summary", summary + notes)] + charts)


def integer_ticks():
    """A matplotlib tick locator that puts ticks on whole numbers only (counts)."""
    from matplotlib.ticker import MaxNLocator
    return MaxNLocator(integer=True)


def plants_over_time_report(path, rows, status_counts):
    """HTML report of plants over time: PV area and plant count per period (chart and table), and how many plants
    have each status. ``rows`` are :func:`~.plant_layer.period_rows`."""
    plt = pyplot()
    labels = [row[0] for row in rows]
    figure, area_axis = plt.subplots(figsize=(8, 3.4))
    x = np.arange(len(rows))
    area_axis.bar(x, [row[5] / 1e4 for row in rows], color="#fdb863", label="PV area (ha)")
    area_axis.bar(x, [row[7] / 1e4 for row in rows], color="#e66101", label="of it new (ha)")
    area_axis.set_ylabel("ha")
    area_axis.set_xticks(x)
    area_axis.set_xticklabels(labels, rotation=45 if len(rows) > 8 else 0, fontsize=8)
    count_axis = area_axis.twinx()
    count_axis.plot(x, [row[4] for row in rows], "o-", color="#5e3c99", label="plants present")
    count_axis.set_ylabel("plants")
    count_axis.set_ylim(bottom=0)
    count_axis.yaxis.set_major_locator(integer_ticks())  # plants are counted: no 0.5 plant
    handles = area_axis.get_legend_handles_labels()[0] + count_axis.get_legend_handles_labels()[0]
    area_axis.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
    chart = figure_html(figure, "PV area and plants per period")
    table = table_html(("period", "plants observed", "plants present", "PV area (m²)", "new plants",
                        "new area (m²)"),
                       [(row[0], row[3], row[4], "%.0f" % row[5], row[6], "%.0f" % row[7]) for row in rows])
    statuses = table_html(("status", "plants"), sorted(status_counts.items()))
    write_page(path, "PV plants over time", [("PV area and plants per period", chart + table),
                                             ("Plants by status", statuses)])


def capacity_report(path, year_rows, undated):
    """HTML report of capacity: MWdc built per year (bars with their bounds) and the cumulative MWdc (line and band),
    and the table. ``year_rows`` are the rows of ``fusionpv:capacity``'s OUTPUT_YEARS; ``undated`` plants without a
    year are in the totals only."""
    plt = pyplot()
    years = [row[0] for row in year_rows]
    built, low, high = (np.array([row[i] for row in year_rows]) for i in (3, 4, 5))
    cumulative, cumulative_low, cumulative_high = (np.array([row[i] for row in year_rows]) for i in (6, 7, 8))
    figure, built_axis = plt.subplots(figsize=(max(5, min(10, 3 + 0.5 * len(years))), 3.6))
    built_axis.bar(years, built, width=0.6, color="#fdb863", label="MWdc built")
    built_axis.errorbar(years, built, yerr=[built - low, high - built], fmt="none", ecolor="#b35806", capsize=3,
                        label="80 % interval")
    built_axis.set_ylabel("MWdc built in the year")
    built_axis.set_xlabel("year")
    built_axis.set_xticks(years if len(years) <= 15 else years[::max(1, len(years) // 10)])
    built_axis.set_xlim(years[0] - 0.7, years[-1] + 0.7)
    built_axis.set_ylim(bottom=0)
    total_axis = built_axis.twinx()
    total_axis.fill_between(years, cumulative_low, cumulative_high, color="#5e3c99", alpha=0.15)
    total_axis.plot(years, cumulative, "o-", color="#5e3c99", label="cumulative MWdc")
    total_axis.set_ylabel("cumulative MWdc")
    total_axis.set_ylim(bottom=0)
    handles = built_axis.get_legend_handles_labels()[0] + total_axis.get_legend_handles_labels()[0]
    built_axis.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
    chart = figure_html(figure, "MWdc built per year and cumulative")
    table = table_html(("year", "plants", "area (ha)", "MWdc built", "low", "high", "cumulative MWdc", "low",
                        "high"), [(row[0], row[1]) + tuple("%.2f" % v for v in row[2:]) for row in year_rows])
    note = ("<p class='note'>Bounds are the sums of the plants' 80 %% intervals (as if their errors were shared). "
            "%d plant(s) without a year are in the totals, not in the years.</p>" % undated)
    write_page(path, "PV capacity built per year", [("MWdc built per year", chart + table + note)])
