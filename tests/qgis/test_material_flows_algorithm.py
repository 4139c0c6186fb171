"""fusionpv:materialflows through processing.run: the Kamakura case, plant polygons, errors."""
import csv
import os

import pytest
from osgeo import ogr
from qgis.core import QgsFeature, QgsProcessingException, QgsVectorLayer

from fusion_pv_mapping.core import material_flows as mf
from chip_data import chip_path

KAMAKURA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "solarscope",
                        "kamakura_panel_area.csv")


def run(parameters, feedback):
    import processing
    return processing.run("fusionpv:materialflows", parameters, feedback=feedback)


@pytest.fixture
def kamakura_table():
    layer = QgsVectorLayer("file://%s?type=csv&geomType=none&detectTypes=yes" % KAMAKURA, "kamakura",
                           "delimitedtext")
    assert layer.isValid() and layer.featureCount() == 19
    return layer


def test_kamakura_from_a_table_without_geometry(fusionpv, feedback, tmp_path, kamakura_table):
    report = str(tmp_path / "report.html")
    table = str(tmp_path / "flows.gpkg")
    result = run({"INPUT": kamakura_table, "YEAR_FIELD": "year", "AREA_FIELD": "panel_area_m2",
                  "OUTPUT": table, "OUTPUT_REPORT": report}, feedback)
    expected = {"TOTAL_INFLOW_T": 2125.08, "TOTAL_OUTFLOW_T": 1585.50, "STOCK_END_T": 539.58,
                "RECOVERED_IDEAL_T": 1457.49, "RECOVERED_HIGH_T": 1350.40, "RECOVERED_LOW_T": 813.37}
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, abs=0.01), name
    dataset = ogr.Open(table)
    rows = [feature.items() for feature in dataset.GetLayer(0)]
    first_year = min(int(row["year"]) for row in csv.DictReader(open(KAMAKURA, encoding="utf-8")))
    assert [row["year"] for row in rows] == list(range(first_year, 2051))  # from the first year with PV
    assert rows[0]["inflow_m2"] > 0
    assert sum(row["glass_inflow_t"] for row in rows) == pytest.approx(1310.41, abs=0.01)
    assert rows[-1]["stock_t"] == pytest.approx(539.58, abs=0.01)
    row_2024 = rows[2024 - first_year]
    assert row_2024["stock_mw"] == pytest.approx(row_2024["stock_m2"] * 176 / 1e6, abs=1e-4)
    text = open(report, encoding="utf-8").read()
    assert text.count("<img") == 3 and "1457.49" in text


def outflow_until(table, year):
    dataset = ogr.Open(table)
    return sum(f["outflow_t"] for f in dataset.GetLayer(0) if f["year"] <= year)


def test_irena_early_loss_returns_more_waste_earlier(fusionpv, feedback, tmp_path, kamakura_table):
    common = {"INPUT": kamakura_table, "YEAR_FIELD": "year", "AREA_FIELD": "panel_area_m2"}
    tables = {model: str(tmp_path / ("model%d.gpkg" % model)) for model in (1, 2)}
    for model, table in tables.items():
        run(dict(common, LIFETIME_MODEL=model, OUTPUT=table), feedback)
    assert outflow_until(tables[2], 2030) > 2 * outflow_until(tables[1], 2030)
    regular = run(dict(common, LIFETIME_MODEL=1, OUTPUT=str(tmp_path / "c.gpkg")), feedback)
    shorter = run(dict(common, LIFETIME_MODEL=1, LIFETIME=20, OUTPUT=str(tmp_path / "d.gpkg")), feedback)
    assert shorter["TOTAL_OUTFLOW_T"] > regular["TOTAL_OUTFLOW_T"]


def test_runs_on_extracted_plants_with_a_year_field(fusionpv, feedback, tmp_path):
    import processing
    plants = str(tmp_path / "plants.gpkg")
    processing.run("fusionpv:extractpvplants", {
        "INPUT": chip_path("S2L2A_2022_clearmedian_159.tif"), "TRUSTED_PRIORS": [chip_path("osm_pv_chips.gpkg")],
        "OUTPUT": plants}, feedback=feedback)
    dated = processing.run("native:fieldcalculator", {
        "INPUT": plants, "FIELD_NAME": "year", "FIELD_TYPE": 1, "FORMULA": "2019",
        "OUTPUT": str(tmp_path / "dated.gpkg")}, feedback=feedback)["OUTPUT"]
    result = run({"INPUT": dated, "YEAR_FIELD": "year", "TILT": 30, "OUTPUT": str(tmp_path / "flows.gpkg")},
                 feedback)
    layer = QgsVectorLayer(dated, "dated")
    horizontal = sum(f["area_m2"] for f in layer.getFeatures())
    expected = mf.material_flows({2019: mf.panel_area(horizontal, 30)}, mf.lifetime_model(0))
    assert result["TOTAL_INFLOW_T"] == pytest.approx(expected.total_inflow_t, rel=1e-6)


def test_errors_name_the_problem(fusionpv, feedback, tmp_path, kamakura_table):
    out = str(tmp_path / "flows.gpkg")
    base = {"INPUT": kamakura_table, "YEAR_FIELD": "year", "AREA_FIELD": "panel_area_m2", "OUTPUT": out}
    with pytest.raises(QgsProcessingException, match="2021, 2022, 2023 are after the reference year 2020"):
        run(dict(base, REFERENCE_YEAR=2020), feedback)
    with pytest.raises(QgsProcessingException, match="YEAR_FIELD: INPUT has no field 'built'"):
        run(dict(base, YEAR_FIELD="built"), feedback)
    with pytest.raises(QgsProcessingException, match="AREA_FIELD: INPUT holds no polygons"):
        run(dict(base, AREA_FIELD=None), feedback)
    negative = QgsVectorLayer("None?field=year:integer&field=area:double", "negative", "memory")
    feature = QgsFeature(negative.fields())
    feature.setAttributes([2010, -5.0])
    negative.dataProvider().addFeatures([feature])
    with pytest.raises(QgsProcessingException, match=r"Negative or missing panel area for installation year\(s\) 2010"):
        run({"INPUT": negative, "YEAR_FIELD": "year", "AREA_FIELD": "area", "OUTPUT": out}, feedback)
    assert not os.path.exists(out)


def test_csv_tables_hold_numbers_and_iso_dates(fusionpv, feedback, tmp_path, kamakura_table):
    """A CSV written by the plugin reads back typed in any tool: numbers unquoted, dates YYYY-MM-DD, floats
    rounded to their field's decimals."""
    flows = str(tmp_path / "flows.csv")
    run({"INPUT": kamakura_table, "YEAR_FIELD": "year", "AREA_FIELD": "panel_area_m2", "OUTPUT": flows}, feedback)
    lines = open(flows, encoding="utf-8").read().splitlines()
    first = lines[1].split(",")
    assert first[0] == "2002" and all('"' not in value for value in first)
    assert all(len(value.split(".")[1]) <= 4 for value in first if "." in value)
    import processing
    table = str(tmp_path / "periods.csv")
    processing.run("fusionpv:plantsovertime", {
        "INPUT": [os.path.join(os.path.dirname(KAMAKURA), "..", "austria_pv", "netcdf", "S2_2022_2004.nc")],
        "PERIOD": 1, "TRUSTED_PRIORS": [chip_path("pv_mask_2004.tif")], "OUTPUT": str(tmp_path / "p.gpkg"),
        "OUTPUT_TABLE": table}, feedback=feedback)
    rows = list(csv.reader(open(table, encoding="utf-8")))
    assert rows[0][:3] == ["period", "start", "end"] and rows[1][:3] == ["2022-Q1", "2022-01-01", "2022-03-31"]
    assert '"' not in open(table, encoding="utf-8").read()
