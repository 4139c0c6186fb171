"""fusionpv:assessaccuracy through processing.run on real chips and real polygon sets."""
import os

import numpy as np
import pytest
from osgeo import gdal, ogr
from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

from fusion_pv_mapping.core.ndpi import ndpi_from_dn
from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.core.paper import paper_fusion
from chip_data import chip_path
from flawed_priors import flawed_priors

POLYGONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "pv_polygons")
KRUITWAGEN = os.path.join(POLYGONS, "kruitwagen2021_aoi064.gpkg")
OSM = os.path.join(POLYGONS, "osm_pv_aoi064.gpkg")


def run(parameters, feedback):
    import processing
    return processing.run("fusionpv:assessaccuracy", parameters, feedback=feedback)


def read(path):
    dataset = gdal.Open(path)
    return dataset.GetRasterBand(1).ReadAsArray()


def paper_output(chip, tmp_path):
    """A paper-method output (grown prior as candidate) written on the chip's grid."""
    dataset = gdal.Open(chip_path("S2L2A_2022_clearmedian_%s.tif" % chip))
    bands = [dataset.GetRasterBand(n).ReadAsArray() for n in (2, 3, 4, 8, 10, 11)]
    index, _ = ndpi_from_dn(dict(zip(ROLES, bands)))
    reference = read(chip_path("pv_mask_%s.tif" % chip)) > 0
    mask = paper_fusion(index, None, flawed_priors(reference)["grown1"]).mask
    path = str(tmp_path / ("output_%s.tif" % chip))
    gdal.Translate(path, chip_path("pv_mask_%s.tif" % chip))
    out = gdal.Open(path, gdal.GA_Update)
    out.GetRasterBand(1).WriteArray(mask.astype(np.uint8))
    out = None
    return path, mask, reference


@pytest.mark.parametrize("chip", ["101", "152", "159", "802"])
def test_pixel_metrics_equal_an_independent_count_on_real_chips(fusionpv, feedback, tmp_path, chip):
    path, mask, reference = paper_output(chip, tmp_path)
    result = run({"PREDICTION": path, "REFERENCE": chip_path("pv_mask_%s.tif" % chip),
                  "OUTPUT_TABLE": str(tmp_path / "table.gpkg")}, feedback)
    tp = np.sum(mask & reference)
    fp = np.sum(mask & ~reference)
    fn = np.sum(~mask & reference)
    tn = np.sum(~mask & ~reference)
    n = tp + fp + fn + tn
    po, pe = (tp + tn) / n, ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / n ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = {"IOU": tp / (tp + fp + fn), "F1": 2 * tp / (2 * tp + fp + fn), "PRECISION": tp / (tp + fp),
                    "RECALL": tp / (tp + fn), "OVERALL_ACCURACY": po, "KAPPA": (po - pe) / (1 - pe)}
    for name, value in expected.items():
        if np.isnan(value):  # the paper method confirmed nothing on this chip: precision is undefined
            assert result[name] is None, name
        else:
            assert result[name] == pytest.approx(value, abs=1e-6), name
    assert mask.any() or chip != "152"


def test_kruitwagen_against_osm_objects_match_one_to_one(fusionpv, feedback, tmp_path):
    objects = str(tmp_path / "objects.gpkg")
    result = run({"PREDICTION": KRUITWAGEN, "REFERENCE": OSM, "EXTENT": "11.80,12.03,50.30,50.42 [EPSG:4326]",
                  "OUTPUT_TABLE": str(tmp_path / "table.gpkg"),
                  "OUTPUT_OBJECTS": objects, "OUTPUT_REPORT": str(tmp_path / "report.html")}, feedback)
    assert any("EPSG:32632" in info for info in feedback.infos)  # a local UTM grid for layers in EPSG:4326
    assert result["N_PREDICTION"] == 18 and result["N_REFERENCE"] == 31
    assert 0 < result["N_MATCHED"] <= 18
    assert result["OBJECT_PRECISION"] == pytest.approx(result["N_MATCHED"] / 18)
    assert result["OBJECT_RECALL"] == pytest.approx(result["N_MATCHED"] / 31)
    dataset = ogr.Open(objects)
    rows = [dict(f.items(), geometry=f.GetGeometryRef().Clone()) for f in dataset.GetLayer(0)]
    predictions = {r["object_id"]: r for r in rows if r["map"] == "prediction"}
    references = {r["object_id"]: r for r in rows if r["map"] == "reference"}
    matched = [r for r in predictions.values() if r["status"] == "true positive"]
    assert len(matched) == result["N_MATCHED"]
    partners = [r["partner_id"] for r in matched]
    assert len(set(partners)) == len(partners)  # one to one
    for prediction in matched:
        reference = references[prediction["partner_id"]]
        assert reference["status"] == "matched" and reference["partner_id"] == prediction["object_id"]
        # the pixel IoU of a match is close to the IoU of the polygons themselves
        a, b = prediction["geometry"], reference["geometry"]
        polygon_iou = a.Intersection(b).GetArea() / a.Union(b).GetArea()
        assert prediction["iou"] >= 0.5 and prediction["iou"] == pytest.approx(polygon_iou, abs=0.08)
    assert all(r["status"] == "false positive" for r in predictions.values() if r["partner_id"] is None)
    text = open(str(tmp_path / "report.html"), encoding="utf-8").read()
    assert text.count("<img") == 2 and "Confusion matrix" in text


def memory_polygons(wkts, crs="EPSG:4326"):
    layer = QgsVectorLayer("Polygon?crs=%s" % crs, "polygons", "memory")
    features = []
    for wkt in wkts:
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromWkt(wkt))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


def test_empty_prediction_and_no_overlap_are_reported_not_divided(fusionpv, feedback, tmp_path):
    table = str(tmp_path / "table.gpkg")
    empty = run({"PREDICTION": memory_polygons([]), "REFERENCE": OSM, "OUTPUT_TABLE": table}, feedback)
    assert empty["PRECISION"] is None and empty["OBJECT_PRECISION"] is None
    assert empty["RECALL"] == 0 and empty["OBJECT_RECALL"] == 0 and empty["IOU"] == 0
    assert any("PRECISION: the prediction has no PV" in w for w in feedback.warnings)
    dataset = ogr.Open(table)
    rows = {f["scope"]: f.items() for f in dataset.GetLayer(0)}
    assert set(rows) == {"all", "< 1 ha", "1–10 ha", "> 10 ha"}
    assert rows["all"]["precision"] is None and "the prediction has no PV" in rows["all"]["note"]
    far = memory_polygons(["POLYGON((11.84 50.33, 11.845 50.33, 11.845 50.333, 11.84 50.333, 11.84 50.33))"])
    disjoint = run({"PREDICTION": far, "REFERENCE": KRUITWAGEN, "OUTPUT_TABLE": str(tmp_path / "t2.gpkg")},
                   feedback)
    assert disjoint["IOU"] == 0 and disjoint["N_MATCHED"] == 0 and disjoint["OBJECT_PRECISION"] == 0


def test_invalid_geometries_are_repaired_and_counted(fusionpv, feedback, tmp_path):
    bow_tie = "POLYGON((11.9 50.35, 11.91 50.36, 11.91 50.35, 11.9 50.36, 11.9 50.35))"
    square = "POLYGON((11.92 50.35, 11.93 50.35, 11.93 50.36, 11.92 50.36, 11.92 50.35))"
    result = run({"PREDICTION": memory_polygons([bow_tie, square]), "REFERENCE": memory_polygons([square]),
                  "EXTENT": "11.89,11.94,50.34,50.37 [EPSG:4326]", "OUTPUT_TABLE": str(tmp_path / "t.gpkg")},
                 feedback)
    assert result["REPAIRED_GEOMETRIES"] == 1
    assert result["N_PREDICTION"] == 2 and result["N_MATCHED"] == 1 and result["OBJECT_RECALL"] == 1.0
    assert any("1 invalid polygon(s) repaired" in w for w in feedback.warnings)


def test_a_raster_map_in_another_crs_is_placed_by_its_own_crs(fusionpv, feedback, tmp_path):
    """A PV mask reprojected to EPSG:4326, scored against the same mask in UTM: nearly the same pixels."""
    reference = chip_path("pv_mask_152.tif")
    moved = str(tmp_path / "mask_wgs84.tif")
    gdal.Warp(moved, reference, dstSRS="EPSG:4326", resampleAlg="near", xRes=2e-5, yRes=2e-5)
    result = run({"PREDICTION": moved, "REFERENCE": reference, "OUTPUT_TABLE": str(tmp_path / "t.gpkg")}, feedback)
    assert result["IOU"] > 0.8 and result["N_MATCHED"] == 1


def test_the_readme_example_gives_the_readme_numbers(fusionpv, feedback, tmp_path):
    """The README's assessaccuracy example, run as written there, gives the numbers it quotes."""
    with open(os.path.join(os.path.dirname(POLYGONS), "..", "..", "README.md"), encoding="utf-8") as readme:
        text = readme.read()
    assert "PREDICTION=tests/data/pv_polygons/kruitwagen2021_aoi064.gpkg" in text
    result = run({"PREDICTION": KRUITWAGEN, "REFERENCE": OSM, "OUTPUT_TABLE": str(tmp_path / "accuracy.csv")},
                 feedback)
    quoted = "gives overall accuracy %.3f, but IoU %.3f, F1 %.3f, object recall %.2f (%d of %d OSM objects matched)" % (
        result["OVERALL_ACCURACY"], result["IOU"], result["F1"], result["OBJECT_RECALL"], result["N_MATCHED"],
        result["N_REFERENCE"])
    assert quoted in " ".join(text.split())
