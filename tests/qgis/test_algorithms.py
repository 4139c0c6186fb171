"""fusionpv algorithms through processing.run on real chips."""
import os
import re

import numpy as np
import pytest
from osgeo import gdal, ogr
from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsProcessingException, QgsRasterLayer,
                       QgsVectorLayer)

from fusion_pv_mapping.core.ndpi import ndpi_from_dn
from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.core.extract import METHOD_IMPROVED, fuse
from fusion_pv_mapping.core.paper import paper_fusion
from chip_data import chip_path as chip
from flawed_priors import flawed_priors, generalised_20m
from fusion_views import per_pixel

MEDIAN = "S2L2A_2022_clearmedian_%s.tif"
#: Chips whose OSM outlines are in osm_pv_chips.gpkg (the reference masks rasterise exactly these).
CHIPS_WITH_OUTLINES = ("9", "101", "152", "159", "454", "802")


def read(path, band=1):
    dataset = gdal.Open(path)  # held while its band is read: GDAL frees bands with their dataset
    return dataset.GetRasterBand(band).ReadAsArray()


def chip_ndpi(chip_id):
    """NDPI of a bundled chip by the core, from bands read with GDAL (B02 B03 B04 B08 B11 B12 = 2 3 4 8 10 11)."""
    bands = [read(chip(MEDIAN % chip_id), n) for n in (2, 3, 4, 8, 10, 11)]
    return ndpi_from_dn(dict(zip(ROLES, bands)))[0]


def write_prior(path, chip_id, mask):
    """Write a bool ``mask`` as a uint8 raster prior on the grid of chip ``chip_id``; returns ``path``."""
    gdal.Translate(path, chip("pv_mask_%s.tif" % chip_id))
    dataset = gdal.Open(path, gdal.GA_Update)
    dataset.GetRasterBand(1).WriteArray(mask.astype(np.uint8))
    dataset = None
    return path


def features(path):
    dataset = ogr.Open(path)
    layer = dataset.GetLayer(0)
    rows = [dict(f.items(), geometry=f.GetGeometryRef().ExportToWkt()) for f in layer]
    return rows, layer.GetSpatialRef().GetAuthorityCode(None)


def processing():
    """QGIS's processing module; importable once the ``fusionpv`` fixture has initialised processing."""
    import processing as module
    return module


def run(algorithm, parameters, feedback):
    return processing().run("fusionpv:" + algorithm, parameters, feedback=feedback)


def run_fails(algorithm, parameters, feedback):
    """Run, expect a QgsProcessingException, and return every error message the user saw."""
    with pytest.raises(QgsProcessingException) as error:
        run(algorithm, parameters, feedback)
    return " ".join(feedback.errors + [str(error.value)])


def test_every_help_text_renders_with_the_constants_it_shows(fusionpv):
    """The dialog shows shortHelpString(): a constant it names that is gone would raise inside QGIS's dialog
    (a modal error on the desktop), so each must render, with no placeholder left."""
    for algorithm in QgsApplication.processingRegistry().providerById("fusionpv").algorithms():
        text = algorithm.shortHelpString()
        assert len(text) > 200 and "{" not in text, algorithm.id()


def test_provider_offers_both_algorithms(fusionpv):
    registry = QgsApplication.processingRegistry()
    assert registry.providerById("fusionpv").name() == "Fusion PV Mapping"
    for algorithm_id, name in (("fusionpv:andpi", "PV index (NDPI)"),
                               ("fusionpv:extractpvplants", "Extract PV plants (ANDPI fusion)")):
        algorithm = registry.algorithmById(algorithm_id)
        assert algorithm.displayName() == name and algorithm.shortHelpString()
    parameters = [p.name() for p in registry.algorithmById("fusionpv:extractpvplants").parameterDefinitions()]
    for name in ("INPUT", "SCALE", "OFFSET", "TRUSTED_PRIORS", "CANDIDATE_PRIORS", "METHOD", "MIN_AREA_PIXELS",
                 "OUTPUT", "OUTPUT_MASK"):
        assert name in parameters


def test_andpi_writes_the_index_on_the_input_grid(fusionpv, feedback, tmp_path):
    output = str(tmp_path / "ndpi.tif")
    result = run("andpi", {"INPUT": chip(MEDIAN % "101"), "OUTPUT": output}, feedback)
    assert result["OUTPUT"] == output
    written, source = gdal.Open(output), gdal.Open(chip(MEDIAN % "101"))
    assert written.GetGeoTransform() == source.GetGeoTransform()
    assert written.GetProjection() == source.GetProjection()
    assert written.GetRasterBand(1).DataType == gdal.GDT_Float32
    assert written.GetRasterBand(1).GetNoDataValue() == -9999
    assert np.array_equal(read(output), chip_ndpi("101").astype(np.float32))
    assert any("band descriptions" in info for info in feedback.infos)


def test_andpi_offset_and_band_numbers(fusionpv, feedback, tmp_path):
    # the six bands in reverse order and without descriptions: detection must fail, band numbers must work
    source = gdal.Open(chip(MEDIAN % "9"))
    reordered = str(tmp_path / "reordered.tif")
    gdal.Translate(reordered, source, bandList=[11, 10, 8, 4, 3, 2])
    for n in range(1, 7):
        dataset = gdal.Open(reordered, gdal.GA_Update)
        dataset.GetRasterBand(n).SetDescription("")
        dataset = None
    message = run_fails("andpi", {"INPUT": reordered, "OUTPUT": str(tmp_path / "x.tif")}, feedback)
    assert "INPUT" in message and "6 band(s)" in message and "BAND_BLUE" in message
    output = str(tmp_path / "ndpi.tif")
    run("andpi", {"INPUT": reordered, "OUTPUT": output, "OFFSET": -1000, "BAND_BLUE": 6, "BAND_GREEN": 5,
                  "BAND_RED": 4, "BAND_NIR": 3, "BAND_SWIR1": 2, "BAND_SWIR2": 1}, feedback)
    bands = [source.GetRasterBand(n).ReadAsArray() for n in (2, 3, 4, 8, 10, 11)]
    expected, valid = ndpi_from_dn(dict(zip(ROLES, bands)), offset=-1000)
    written = read(output)
    assert np.array_equal(written == -9999, ~valid)
    assert np.allclose(written[valid], expected[valid], rtol=1e-6)
    assert not np.allclose(written[valid], chip_ndpi("9")[valid], atol=1e-3)


@pytest.mark.parametrize("chip_id", CHIPS_WITH_OUTLINES)
def test_osm_polygons_in_wgs84_land_on_the_reference_pixels(fusionpv, feedback, tmp_path, chip_id):
    """Vector priors in EPSG:4326 rasterised onto the UTM chip equal the reference mask made from them."""
    mask_path = str(tmp_path / "mask.tif")
    run("extractpvplants", {"INPUT": chip(MEDIAN % chip_id), "CANDIDATE_PRIORS": [chip("osm_pv_chips.gpkg")],
                            "METHOD": 0, "OUTPUT": str(tmp_path / "plants.gpkg"), "OUTPUT_MASK": mask_path},
        feedback)
    reference = read(chip("pv_mask_%s.tif" % chip_id)) > 0
    expected = paper_fusion(chip_ndpi(chip_id), None, reference).mask
    assert np.array_equal(read(mask_path) > 0, expected)


def test_trusted_and_candidate_outputs_are_georeferenced_and_attributed(fusionpv, feedback, tmp_path):
    reference = read(chip("pv_mask_101.tif")) > 0
    trusted_path = write_prior(str(tmp_path / "trusted.tif"), "101", flawed_priors(reference)["grown1"])
    plants_path, mask_path = str(tmp_path / "plants.gpkg"), str(tmp_path / "mask.tif")
    result = run("extractpvplants", {
        "INPUT": chip(MEDIAN % "101"), "TRUSTED_PRIORS": [trusted_path],
        "CANDIDATE_PRIORS": [chip("osm_pv_chips.gpkg")], "METHOD": 0, "OUTPUT": plants_path,
        "OUTPUT_MASK": mask_path}, feedback)
    assert result["OUTPUT"] == plants_path and result["OUTPUT_MASK"] == mask_path
    expected = paper_fusion(chip_ndpi("101"), flawed_priors(reference)["grown1"], reference)
    mask = read(mask_path)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert np.array_equal(mask > 0, expected.mask)
    assert gdal.Open(mask_path).GetGeoTransform() == gdal.Open(chip(MEDIAN % "101")).GetGeoTransform()
    rows, epsg = features(plants_path)
    assert epsg == "32633"
    assert sum(row["pixels"] for row in rows) == expected.mask.sum()
    assert [row["plant_id"] for row in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        # ellipsoidal area of whole 10 m pixels: UTM scale factor within 0.1 % here
        assert row["area_m2"] == pytest.approx(row["pixels"] * 100, rel=2e-3)
        assert row["source"] in ("trusted", "candidate", "both") and row["method"] == "paper"
        assert row["threshold"] == pytest.approx(expected.trusted.choice.threshold, abs=5e-5)  # 4 decimals kept
        assert row["refined"] == 0  # the 80 % guard keeps the grown prior whole
        assert row["geometry"].startswith("MULTIPOLYGON")


@pytest.mark.parametrize("method", [0, 1])
def test_plants_name_the_three_prior_layers_that_support_them(fusionpv, feedback, tmp_path, method):
    """OSM outlines (a vector layer named in the project), GlobalPV (a shifted raster, named in the project) and a
    candidate raster given by its path (named by its file): every plant of chip 101 lists all three."""
    reference = read(chip("pv_mask_101.tif")) > 0
    flawed = flawed_priors(reference)
    global_pv = QgsRasterLayer(write_prior(str(tmp_path / "global.tif"), "101", flawed["shifted1"]), "GlobalPV")
    osm = QgsVectorLayer(chip("osm_pv_chips.gpkg"), "OSM", "ogr")
    candidate = write_prior(str(tmp_path / "tz_sam.tif"), "101", flawed["grown1"])
    plants_path = str(tmp_path / "plants.gpkg")
    run("extractpvplants", {"INPUT": chip(MEDIAN % "101"), "TRUSTED_PRIORS": [osm, global_pv],
                            "CANDIDATE_PRIORS": [candidate], "METHOD": method, "OUTPUT": plants_path}, feedback)
    rows, _ = features(plants_path)
    assert rows and all(row["sources"] == "OSM, GlobalPV, tz_sam" and row["n_sources"] == 3 for row in rows)
    only_osm = str(tmp_path / "osm_only.gpkg")
    run("extractpvplants", {"INPUT": chip(MEDIAN % "101"), "TRUSTED_PRIORS": [osm], "METHOD": method,
                            "OUTPUT": only_osm}, feedback)
    rows, _ = features(only_osm)
    assert rows and all(row["sources"] == "OSM" and row["n_sources"] == 1 for row in rows)


def test_improved_method_is_the_default_and_equals_the_core(fusionpv, feedback, tmp_path):
    """Default METHOD: the improved fusion, with the per-plant confidence and threshold in the attributes."""
    plants_path, mask_path = str(tmp_path / "plants.gpkg"), str(tmp_path / "mask.tif")
    reference = read(chip("pv_mask_159.tif")) > 0
    prior_path = write_prior(str(tmp_path / "grown.tif"), "159", flawed_priors(reference)["grown1"])
    run("extractpvplants", {"INPUT": chip(MEDIAN % "159"), "TRUSTED_PRIORS": [prior_path],
                            "CANDIDATE_PRIORS": [chip("osm_pv_chips.gpkg")], "OUTPUT": plants_path,
                            "OUTPUT_MASK": mask_path}, feedback)
    bands = [read(chip(MEDIAN % "159"), n) for n in (2, 3, 4, 8, 10, 11)]
    expected = fuse(dict(zip(ROLES, bands)), flawed_priors(reference)["grown1"], reference, method=METHOD_IMPROVED)
    assert np.array_equal(read(mask_path) > 0, expected.mask)
    rows, _ = features(plants_path)
    assert rows and all(row["method"] == "improved" for row in rows)
    for row in rows:
        assert 0 <= row["confidence"] <= 1
        assert row["threshold"] == pytest.approx(float(np.nanmean(per_pixel(expected, "threshold")[expected.mask])),
                                                 abs=5e-5)  # 4 decimals kept
        assert row["refined"] == 1  # the grown prior was peeled
    assert any("peeled 1, grew 0 layer(s)" in info for info in feedback.infos)


def test_twenty_metre_raster_prior_is_resampled_nearest(fusionpv, feedback, tmp_path):
    """A GlobalPV-like 20 m raster prior on the chip's grid origin gives the 2 × 2 replicated mask."""
    reference = read(chip("pv_mask_159.tif")) > 0
    coarse = generalised_20m(reference)[::2, ::2].astype(np.uint8)
    source = gdal.Open(chip("pv_mask_159.tif"))
    x0, _, _, y0, _, _ = source.GetGeoTransform()
    prior_path = str(tmp_path / "prior20m.tif")
    prior = gdal.GetDriverByName("GTiff").Create(prior_path, coarse.shape[1], coarse.shape[0], 1, gdal.GDT_Byte)
    prior.SetGeoTransform((x0, 20.0, 0.0, y0, 0.0, -20.0))
    prior.SetProjection(source.GetProjection())
    prior.GetRasterBand(1).WriteArray(coarse)
    prior = None
    mask_path = str(tmp_path / "mask.tif")
    run("extractpvplants", {"INPUT": chip(MEDIAN % "159"), "TRUSTED_PRIORS": [prior_path], "METHOD": 0,
                            "OUTPUT": str(tmp_path / "plants.gpkg"), "OUTPUT_MASK": mask_path}, feedback)
    expected = paper_fusion(chip_ndpi("159"), generalised_20m(reference), None).mask
    assert np.array_equal(read(mask_path) > 0, expected)


def test_raster_prior_in_another_crs_is_reprojected(fusionpv, feedback, tmp_path):
    prior_path = str(tmp_path / "prior_wgs84.tif")
    gdal.Warp(prior_path, chip("pv_mask_152.tif"), dstSRS="EPSG:4326", resampleAlg="near", xRes=2e-5, yRes=2e-5)
    mask_path = str(tmp_path / "mask.tif")
    run("extractpvplants", {"INPUT": chip(MEDIAN % "152"), "CANDIDATE_PRIORS": [prior_path], "METHOD": 0,
                            "MIN_AREA_PIXELS": 0, "OUTPUT": str(tmp_path / "plants.gpkg"),
                            "OUTPUT_MASK": mask_path}, feedback)
    reference = read(chip("pv_mask_152.tif")) > 0
    mask = read(mask_path) > 0
    assert mask.any() and np.count_nonzero(mask & ~reference) <= 0.05 * mask.sum()


def test_prior_that_misses_the_image_is_a_warning(fusionpv, feedback, tmp_path):
    plants_path = str(tmp_path / "plants.gpkg")
    result = run("extractpvplants", {"INPUT": chip(MEDIAN % "9"), "TRUSTED_PRIORS": [chip("pv_mask_101.tif")],
                                     "OUTPUT": plants_path}, feedback)
    assert any("does not overlap the image" in w and "TRUSTED_PRIORS" in w for w in feedback.warnings)
    assert features(result["OUTPUT"])[0] == []


@pytest.fixture
def polygon_layer_without_crs():
    layer = QgsVectorLayer("Polygon", "no crs", "memory")
    layer.setCrs(QgsCoordinateReferenceSystem())
    assert not layer.crs().isValid()
    return layer


def test_errors_name_the_parameter_and_the_fix(fusionpv, feedback, tmp_path, polygon_layer_without_crs):
    image = chip(MEDIAN % "9")
    out = str(tmp_path / "plants.gpkg")
    assert "give at least one PV prior" in run_fails("extractpvplants", {"INPUT": image, "OUTPUT": out}, feedback)

    points = QgsVectorLayer("Point?crs=EPSG:4326", "points", "memory")
    message = run_fails("extractpvplants", {"INPUT": image, "TRUSTED_PRIORS": [points], "OUTPUT": out}, feedback)
    assert "TRUSTED_PRIORS" in message and "point geometries" in message

    message = run_fails("extractpvplants", {"INPUT": image, "CANDIDATE_PRIORS": [polygon_layer_without_crs],
                                            "OUTPUT": out}, feedback)
    assert "CANDIDATE_PRIORS" in message and "no known coordinate reference system" in message

    message = run_fails("extractpvplants", {"INPUT": image, "TRUSTED_PRIORS": [chip("pv_mask_9.tif")],
                                            "OUTPUT": "/nonexistent/folder/plants.gpkg"}, feedback)
    assert "OUTPUT" in message and "does not exist" in message
    assert not os.path.exists("/nonexistent/folder")


def test_missing_bands_and_all_nodata_input(fusionpv, feedback, tmp_path):
    four_bands = str(tmp_path / "four.tif")
    gdal.Translate(four_bands, chip(MEDIAN % "9"), bandList=[2, 3, 4, 8])
    message = run_fails("andpi", {"INPUT": four_bands, "OUTPUT": str(tmp_path / "x.tif")}, feedback)
    assert "INPUT" in message and "SWIR1 (B11)" in message and "[B02, B03, B04, B08]" in message

    empty = str(tmp_path / "empty.tif")
    gdal.Translate(empty, chip(MEDIAN % "9"))
    dataset = gdal.Open(empty, gdal.GA_Update)
    for n in range(1, dataset.RasterCount + 1):
        dataset.GetRasterBand(n).Fill(-32768)
    dataset = None
    out = str(tmp_path / "plants.gpkg")
    message = run_fails("extractpvplants", {"INPUT": empty, "TRUSTED_PRIORS": [chip("pv_mask_9.tif")],
                                            "OUTPUT": out}, feedback)
    assert "INPUT" in message and "no valid pixel" in message
    assert not os.path.exists(out)


def test_cancel_leaves_no_output(fusionpv, feedback, tmp_path):
    out, mask = str(tmp_path / "plants.gpkg"), str(tmp_path / "mask.tif")
    feedback.cancel()
    message = run_fails("extractpvplants", {"INPUT": chip(MEDIAN % "9"), "TRUSTED_PRIORS": [chip("pv_mask_9.tif")],
                                            "OUTPUT": out, "OUTPUT_MASK": mask}, feedback)
    assert "Cancelled" in message
    assert not os.path.exists(out) and not os.path.exists(mask)


def test_progress_reaches_the_end(fusionpv, feedback, tmp_path):
    run("extractpvplants", {"INPUT": chip(MEDIAN % "9"), "TRUSTED_PRIORS": [chip("pv_mask_9.tif")],
                            "OUTPUT": str(tmp_path / "plants.gpkg")}, feedback)
    assert feedback.progress[-1] == 100 and len(set(feedback.progress)) >= 6
    assert feedback.progress == sorted(feedback.progress)


def test_outputs_load_styled(fusionpv, tmp_path):
    results = processing().runAndLoadResults("fusionpv:extractpvplants", {
        "INPUT": chip(MEDIAN % "9"), "TRUSTED_PRIORS": [chip("pv_mask_9.tif")],
        "OUTPUT": str(tmp_path / "plants.gpkg"), "OUTPUT_MASK": str(tmp_path / "mask.tif")})
    from qgis.core import QgsProject
    plants = QgsProject.instance().mapLayer(results["OUTPUT"]) or \
        [layer for layer in QgsProject.instance().mapLayers().values() if layer.source().startswith(
            str(tmp_path / "plants.gpkg"))][0]
    assert QgsProject.instance().layerTreeRoot().findLayer(plants.id()) is not None  # shown in the layer tree
    assert plants.renderer().type() == "categorizedSymbol"
    assert {c.value() for c in plants.renderer().categories()} == {"trusted", "candidate", "both"}
    mask = [layer for layer in QgsProject.instance().mapLayers().values()
            if isinstance(layer, QgsRasterLayer) and layer.source() == str(tmp_path / "mask.tif")][0]
    assert mask.renderer().type() == "paletted"
    assert QgsCoordinateReferenceSystem("EPSG:32632") == plants.crs()


@pytest.mark.parametrize("method", [0, 1])
def test_small_gdal_blocks_give_the_whole_image_result(fusionpv, feedback, tmp_path, monkeypatch, method):
    """A GeoTIFF tiled in 16 × 16 blocks, read in 16-pixel windows on two threads, equals the in-memory run."""
    from fusion_pv_mapping.core.bandsource import BandSource
    monkeypatch.setattr(BandSource, "read_target", 16)
    tiled = str(tmp_path / "tiled.tif")
    gdal.Translate(tiled, chip(MEDIAN % "159"), creationOptions=["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"])
    reference = read(chip("pv_mask_159.tif")) > 0
    prior = write_prior(str(tmp_path / "grown.tif"), "159", flawed_priors(reference)["grown1"])
    mask_path = str(tmp_path / "mask.tif")
    run("extractpvplants", {"INPUT": tiled, "TRUSTED_PRIORS": [prior], "CANDIDATE_PRIORS": [chip("pv_mask_159.tif")],
                            "METHOD": method, "OUTPUT": str(tmp_path / "plants.gpkg"), "OUTPUT_MASK": mask_path},
        feedback)
    bands = [read(chip(MEDIAN % "159"), n) for n in (2, 3, 4, 8, 10, 11)]
    expected = fuse(dict(zip(ROLES, bands)), flawed_priors(reference)["grown1"], reference, method=method)
    assert np.array_equal(read(mask_path) > 0, expected.mask)


def test_every_help_button_opens_its_readme_section(fusionpv):
    """The dialog's Help button opens README.md#fusionpv<id>: the anchor must be there for every algorithm."""
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "README.md"), encoding="utf-8") as readme:
        anchors = set(re.findall(r'<a id="([^"]+)"></a>', readme.read()))
    algorithms = QgsApplication.processingRegistry().providerById("fusionpv").algorithms()
    assert len(algorithms) >= 10
    for algorithm in algorithms:
        assert algorithm.helpUrl().split("#")[1] in anchors, algorithm.id()


#: Characters of a label, " [optional]" included, that fit the algorithm dialog at its default width (688 px,
#: QGIS 3.22 under Xvfb: 54 fit, 56 gave a horizontal scrollbar; see make screenshots).
DIALOG_LABEL_CHARACTERS = 54


def shown_label(definition):
    """A parameter's label as the dialog shows it."""
    optional = definition.flags() & definition.Flag.FlagOptional
    return definition.description() + (" [optional]" if optional else "")


def test_every_label_fits_the_dialog(fusionpv):
    """Long labels are cut in the dialog and give it a horizontal scrollbar; details belong in the help."""
    too_long = ["%s %s: %s" % (algorithm.id(), definition.name(), shown_label(definition))
                for algorithm in QgsApplication.processingRegistry().providerById("fusionpv").algorithms()
                for definition in algorithm.parameterDefinitions()
                if len(shown_label(definition)) > DIALOG_LABEL_CHARACTERS]
    assert not too_long, "\n".join(too_long)
