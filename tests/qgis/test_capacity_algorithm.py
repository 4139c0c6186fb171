"""fusionpv:capacity on plant layers (built with known areas, and real plants over time of Austrian chips): MWdc
per plant from the ellipsoidal area in any CRS, the year and the mount; the yearly table and chart; and the
capacity fields of the three mappers."""
import os

import pytest
from osgeo import ogr, osr
from qgis.core import QgsVectorLayer

from fusion_pv_mapping.core import capacity

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "austria_pv")
#: A square of 200 m × 200 m near the central meridian of UTM 33N (Austria): 4 ha.
SQUARE_33N = "POLYGON((500000 5300000,500200 5300000,500200 5300200,500000 5300200,500000 5300000))"


def run(algorithm, parameters, feedback):
    import processing
    return processing.run("fusionpv:" + algorithm, parameters, feedback=feedback)


def rows(path):
    layer = QgsVectorLayer(path, "rows", "ogr")
    assert layer.isValid()
    return [{field.name(): feature[field.name()] for field in layer.fields()} for feature in layer.getFeatures()]


def plant_layer(path, epsg, plants):
    """A GeoPackage of ``plants`` = (wkt in EPSG:32633, year or None, mount) in EPSG ``epsg``."""
    source = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    utm, target = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    target.ImportFromEPSG(epsg)
    for srs in (utm, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    layer = source.CreateLayer("plants", target, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("first_seen_year", ogr.OFTInteger))
    layer.CreateField(ogr.FieldDefn("mount", ogr.OFTString))
    for wkt, year, mount in plants:
        feature = ogr.Feature(layer.GetLayerDefn())
        geometry = ogr.CreateGeometryFromWkt(wkt)
        geometry.Transform(osr.CoordinateTransformation(utm, target))
        feature.SetGeometry(geometry)
        if year is not None:
            feature.SetField("first_seen_year", year)
        feature.SetField("mount", mount)
        layer.CreateFeature(feature)
    source = None
    return path


def shifted(wkt, dx):
    geometry = ogr.CreateGeometryFromWkt(wkt)
    for ring in range(geometry.GetGeometryCount()):
        part = geometry.GetGeometryRef(ring)
        for n in range(part.GetPointCount()):
            part.SetPoint_2D(n, part.GetX(n) + dx, part.GetY(n))
    return geometry.ExportToWkt()


PLANTS = [(SQUARE_33N, 2019, "fixed-tilt"), (shifted(SQUARE_33N, 1000), 2021, "tracking"),
          (shifted(SQUARE_33N, 2000), 2021, "carport"), (shifted(SQUARE_33N, 3000), None, "")]


@pytest.mark.parametrize("epsg", [32633, 4326, 3035])
def test_capacity_per_plant_is_the_models_for_its_ellipsoidal_area_in_any_crs(fusionpv, feedback, tmp_path, epsg):
    layer = plant_layer(str(tmp_path / "plants.gpkg"), epsg, PLANTS)
    result = run("capacity", {"INPUT": layer, "MOUNT_FIELD": "mount", "OUTPUT": str(tmp_path / "mw.gpkg")}, feedback)
    got = rows(result["OUTPUT"])
    assert len(got) == 4
    assert any("taken from 'first_seen_year'" in info for info in feedback.infos)
    assert any("carport" in warning for warning in feedback.warnings)  # an unknown mount, named once
    # 4 ha by the square's UTM coordinates; on the ellipsoid within 0.1 % (scale factor 0.9996 near the meridian)
    for row, (_, year, mount) in zip(got, PLANTS):
        expected = capacity.plant_capacity(40000.0 / 0.9996 ** 2, 47.85, year, capacity.mount_of(mount))
        assert row["capacity_mwdc"] == pytest.approx(expected.mwdc, rel=2e-3), row
        assert row["capacity_mwdc_low"] == pytest.approx(expected.low, rel=2e-3)
        assert row["capacity_mwdc_high"] == pytest.approx(expected.high, rel=2e-3)
        assert row["capacity_basis"].split(";")[0] == expected.basis.split(";")[0]
    assert got[0]["capacity_mwdc"] > got[1]["capacity_mwdc"]  # 2019 fixed tilt denser than a 2021 tracker
    assert "year unknown" in got[3]["capacity_basis"]
    assert result["TOTAL_MWDC"] == pytest.approx(sum(row["capacity_mwdc"] for row in got), rel=1e-4)


def test_the_yearly_table_and_chart_add_up(fusionpv, feedback, tmp_path):
    layer = plant_layer(str(tmp_path / "plants.gpkg"), 32633, PLANTS)
    result = run("capacity", {"INPUT": layer, "OUTPUT": str(tmp_path / "mw.gpkg"),
                              "OUTPUT_YEARS": str(tmp_path / "years.csv"), "OUTPUT_REPORT": str(tmp_path / "mw.html")},
                 feedback)
    plants, years = rows(result["OUTPUT"]), rows(result["OUTPUT_YEARS"])
    assert [int(row["year"]) for row in years] == [2019, 2020, 2021]
    assert [int(row["plants"]) for row in years] == [1, 0, 2]
    dated = [plant for plant in plants if plant["first_seen_year"]]
    assert float(years[-1]["cumulative_mwdc"]) == pytest.approx(sum(p["capacity_mwdc"] for p in dated), rel=1e-4)
    assert float(years[-1]["cumulative_mwdc_low"]) < float(years[-1]["cumulative_mwdc"]) < \
        float(years[-1]["cumulative_mwdc_high"])
    assert any("1 plant(s) without a year" in warning for warning in feedback.warnings)
    report = open(result["OUTPUT_REPORT"], encoding="utf-8").read()
    assert "data:image/png;base64," in report and "MWdc built per year" in report


def test_rooftop_panels_use_solarscopes_power_density(fusionpv, feedback, tmp_path):
    layer = plant_layer(str(tmp_path / "panels.gpkg"), 32633, PLANTS[:1])
    result = run("capacity", {"INPUT": layer, "ROOFTOP": True, "TILT": 30, "OUTPUT": str(tmp_path / "mw.gpkg")},
                 feedback)
    (row,) = rows(result["OUTPUT"])
    expected = capacity.rooftop_capacity(40000.0 / 0.9996 ** 2, 30, 176)
    assert row["capacity_mwdc"] == pytest.approx(expected.mwdc, rel=2e-3)
    assert not row["capacity_mwdc_low"] and not row["capacity_mwdc_high"]  # NULL: no interval is known


def test_the_mappers_carry_capacity_and_plants_over_time_feeds_the_yearly_table(fusionpv, feedback, tmp_path):
    """extractpvplants: plants of unknown year; plantsovertime: chip 2004's plant built in 2022, chip 101's
    present from the start (a wider interval); capacity recomputes the fields it finds."""
    extracted = run("extractpvplants", {"INPUT": os.path.join(DATA, "S2L2A_2022_clearmedian_152.tif"),
                                        "TRUSTED_PRIORS": [os.path.join(DATA, "osm_pv_chips.gpkg")],
                                        "OUTPUT": str(tmp_path / "plants.gpkg")}, feedback)
    for plant in rows(extracted["OUTPUT"]):
        density = plant["capacity_mwdc"] / (plant["area_m2"] / 1e4)
        assert 0.4 < density < 1.0 and plant["capacity_mwdc_low"] < plant["capacity_mwdc"] < plant["capacity_mwdc_high"]
    over_time = {}
    for chip in ("2004", "101"):
        path = str(tmp_path / ("over_time_%s.gpkg" % chip))
        run("plantsovertime", {"INPUT": [os.path.join(DATA, "netcdf", "S2_2022_%s.nc" % chip)], "PERIOD": 1,
                               "TRUSTED_PRIORS": [os.path.join(DATA, "pv_mask_%s.tif" % chip)], "OUTPUT": path},
            feedback)
        (over_time[chip],) = rows(path)
    built, stable = over_time["2004"], over_time["101"]
    assert (built["status"], stable["status"]) == ("built", "present from start")
    for plant in (built, stable):
        expected = capacity.plant_capacity(plant["area_m2"], 47.5, 2022, built_by=plant is stable)
        assert plant["capacity_mwdc"] == pytest.approx(expected.mwdc, rel=0.03)
    assert stable["capacity_mwdc_low"] / stable["capacity_mwdc"] < built["capacity_mwdc_low"] / built["capacity_mwdc"]
    result = run("capacity", {"INPUT": str(tmp_path / "over_time_2004.gpkg"), "OUTPUT": str(tmp_path / "mw.gpkg"),
                              "OUTPUT_YEARS": str(tmp_path / "years.csv")}, feedback)
    (again,) = rows(result["OUTPUT"])
    assert again["capacity_mwdc"] == pytest.approx(built["capacity_mwdc"], rel=1e-6)
    (year,) = rows(result["OUTPUT_YEARS"])
    assert int(year["year"]) == 2022 and float(year["mwdc"]) == pytest.approx(built["capacity_mwdc"], rel=1e-4)
    never = str(tmp_path / "never.gpkg")  # chip 1913's floating plant is never seen: no capacity, no year
    run("plantsovertime", {"INPUT": [os.path.join(DATA, "netcdf", "S2_2022_1913.nc")], "PERIOD": 1,
                           "TRUSTED_PRIORS": [os.path.join(DATA, "pv_mask_1913.tif")], "OUTPUT": never}, feedback)
    (unseen,) = rows(never)
    assert unseen["status"] == "not seen" and not unseen["capacity_mwdc"]
    result = run("capacity", {"INPUT": never, "OUTPUT": str(tmp_path / "never_mw.gpkg")}, feedback)
    (again,) = rows(result["OUTPUT"])
    assert not again["capacity_mwdc"] and "no capacity" in again["capacity_basis"] and result["TOTAL_MWDC"] == 0
