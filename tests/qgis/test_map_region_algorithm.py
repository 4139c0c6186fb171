"""``fusionpv:mapregion`` on a real scene cut into overlapping tiles: the whole-scene plants, once each, whatever
the tiling, the workers, the engine or an interruption."""
import csv
import os

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from fusion_pv_mapping.gisio import region
from region_scene import build_scene, reprojected_tile
from test_algorithms import run, run_fails


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return build_scene(str(tmp_path_factory.mktemp("region")))


def region_parameters(scene, output, **extra):
    parameters = {"INPUT": scene["tiles"], "TRUSTED_PRIORS": [scene["trusted"]],
                  "CANDIDATE_PRIORS": [scene["candidate"]], "OUTPUT": output}
    parameters.update(extra)
    return parameters


def plant_rows(path):
    """[(WKT in EPSG:32633, pixels, source)] of a plant layer, and its plants as a raster-like bool mask on the
    scene grid (10 m pixels)."""
    dataset = ogr.Open(path)
    layer = dataset.GetLayer(0)
    to_scene = osr.CoordinateTransformation(layer.GetSpatialRef(), _utm33())
    rows = []
    for feature in layer:
        geometry = feature.GetGeometryRef().Clone()
        geometry.Transform(to_scene)
        rows.append((geometry.ExportToWkb(), feature["pixels"], feature["source"]))
    return rows


def _utm33():
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def plant_mask(rows, scene_path):
    """The plants of ``rows`` burnt (pixel-centre rule) onto the scene grid."""
    scene = gdal.Open(scene_path)
    target = gdal.GetDriverByName("MEM").Create("", scene.RasterXSize, scene.RasterYSize, 1, gdal.GDT_Byte)
    target.SetGeoTransform(scene.GetGeoTransform())
    target.SetProjection(scene.GetProjection())
    memory = ogr.GetDriverByName("Memory").CreateDataSource("plants")
    layer = memory.CreateLayer("plants", _utm33(), ogr.wkbMultiPolygon)
    for wkb, _, _ in rows:
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkb(wkb))
        layer.CreateFeature(feature)
    gdal.RasterizeLayer(target, [1], layer, burn_values=[1])
    return target.GetRasterBand(1).ReadAsArray() > 0


def iou(a, b):
    return np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1)


def tile_table(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def whole(scene, tmp_path_factory, fusionpv):
    """Extract PV plants on the whole scene: the reference."""
    from conftest import RecordingFeedback
    output = str(tmp_path_factory.mktemp("whole") / "whole.gpkg")
    run("extractpvplants", {"INPUT": scene["scene"], "TRUSTED_PRIORS": [scene["trusted"]],
                            "CANDIDATE_PRIORS": [scene["candidate"]], "OUTPUT": output}, RecordingFeedback())
    return plant_rows(output)


@pytest.mark.parametrize("workers", [1, 2])
def test_four_overlapping_tiles_give_the_whole_scene(fusionpv, feedback, scene, whole, tmp_path, workers):
    """Plants crossing the tile edges come out once and whole; the result does not depend on WORKERS."""
    output, tiles = str(tmp_path / "plants.gpkg"), str(tmp_path / "tiles.csv")
    run("mapregion", region_parameters(scene, output, WORKERS=workers, OUTPUT_TILES=tiles), feedback)
    rows = plant_rows(output)
    assert len(rows) == len(whole) >= 9
    assert iou(plant_mask(rows, scene["scene"]), plant_mask(whole, scene["scene"])) >= 0.999
    assert sorted((pixels, source) for _, pixels, source in rows) == sorted((p, s) for _, p, s in whole)
    table = tile_table(tiles)
    assert [row["status"] for row in table] == ["done"] * 4
    assert sum(int(row["plants"]) for row in table) == len(rows)
    crossing = [wkb for wkb, _, _ in rows if _crosses_a_tile_edge(wkb, scene)]
    assert len(crossing) >= 3  # plants that some tile holds only in part
    assert any("4 job(s) to run on %d process(es)" % workers in info for info in feedback.infos)
    names = [os.path.splitext(os.path.basename(scene[role]))[0] for role in ("trusted", "candidate")]
    dataset = ogr.Open(output)  # held while its layer is read
    for feature in dataset.GetLayer(0):
        expected = [name for name, role in zip(names, ("trusted", "candidate"))
                    if role in feature["source"] or feature["source"] == "both"]
        assert feature["sources"] == ", ".join(expected) and feature["n_sources"] == len(expected)
        assert feature["capacity_mwdc"] == pytest.approx(_capacity_of(feature).mwdc, rel=1e-3)
        assert feature["capacity_mwdc_low"] < feature["capacity_mwdc"] < feature["capacity_mwdc_high"]


def _capacity_of(feature):
    """The core's capacity of a plant feature of unknown year and mount, from its area and centre latitude."""
    from fusion_pv_mapping.core.capacity import plant_capacity
    degrees = osr.SpatialReference()
    degrees.ImportFromEPSG(4326)
    degrees.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    centre = feature.GetGeometryRef().Centroid()
    centre.Transform(osr.CoordinateTransformation(feature.GetGeometryRef().GetSpatialReference(), degrees))
    return plant_capacity(feature["area_m2"], centre.GetY())


def test_raster_mask_priors_on_overlapping_tiles_give_the_whole_scene_once(fusionpv, feedback, scene, tmp_path):
    """The priors as raster masks (0/1 on the scene grid) instead of polygons: every plant once, as on the scene."""
    masks = {role: os.path.join(os.path.dirname(scene["scene"]), role + "_mask.tif") for role in ("trusted",
                                                                                                  "candidate")}
    priors = dict(TRUSTED_PRIORS=[masks["trusted"]], CANDIDATE_PRIORS=[masks["candidate"]])
    whole_scene = str(tmp_path / "whole.gpkg")
    run("extractpvplants", dict(INPUT=scene["scene"], OUTPUT=whole_scene, **priors), feedback)
    output = str(tmp_path / "plants.gpkg")
    run("mapregion", region_parameters(scene, output, WORKERS=1, **priors), feedback)
    rows, expected = plant_rows(output), plant_rows(whole_scene)
    assert len(rows) == len(expected) >= 9
    assert sorted((p, s) for _, p, s in rows) == sorted((p, s) for _, p, s in expected)
    assert len([wkb for wkb, _, _ in rows if _crosses_a_tile_edge(wkb, scene)]) >= 3


def test_raster_mask_priors_wider_than_the_overlap_give_one_plant(fusionpv, feedback, scene, tmp_path):
    """Two tiles overlapping by 8 px, cut through the plants of the middle column: as raster masks, each tile sees
    only its piece of such a plant, yet the plants are those of the same priors as polygons, each once."""
    left, right = str(tmp_path / "left.tif"), str(tmp_path / "right.tif")
    gdal.Translate(left, scene["scene"], srcWin=[0, 0, 100, 192])
    gdal.Translate(right, scene["scene"], srcWin=[92, 0, 100, 192])
    masks = {role: os.path.join(os.path.dirname(scene["scene"]), role + "_mask.tif") for role in ("trusted",
                                                                                                  "candidate")}
    as_polygons, as_masks = str(tmp_path / "polygons.gpkg"), str(tmp_path / "masks.gpkg")
    run("mapregion", region_parameters(scene, as_polygons, INPUT=[left, right], WORKERS=1), feedback)
    run("mapregion", region_parameters(scene, as_masks, INPUT=[left, right], WORKERS=1,
                                       TRUSTED_PRIORS=[masks["trusted"]], CANDIDATE_PRIORS=[masks["candidate"]]),
        feedback)
    rows, expected = plant_rows(as_masks), plant_rows(as_polygons)
    assert sorted((p, s) for _, p, s in rows) == sorted((p, s) for _, p, s in expected)


def _crosses_a_tile_edge(wkb, scene):
    geometry = ogr.CreateGeometryFromWkb(wkb)
    for path in scene["tiles"]:
        dataset = gdal.Open(path)
        x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in ((x0, y0), (x0 + 144 * dx, y0), (x0 + 144 * dx, y0 + 144 * dy), (x0, y0 + 144 * dy), (x0, y0)):
            ring.AddPoint_2D(x, y)
        footprint = ogr.Geometry(ogr.wkbPolygon)
        footprint.AddGeometry(ring)
        if geometry.Intersects(footprint) and not footprint.Contains(geometry):
            return True
    return False


def test_one_tile_shared_by_two_workers_gives_the_same_plants(fusionpv, feedback, scene, whole, tmp_path):
    output = str(tmp_path / "plants.gpkg")
    run("mapregion", region_parameters(scene, output, INPUT=[scene["scene"]], WORKERS=2), feedback)
    assert any("2 job(s) to run on 2 process(es)" in info for info in feedback.infos)
    rows = plant_rows(output)
    assert sorted((p, s) for _, p, s in rows) == sorted((p, s) for _, p, s in whole)


def test_tiles_in_two_utm_zones_merge_without_duplicates(fusionpv, feedback, scene, whole, tmp_path):
    """The left third of the scene in UTM 33N and the right two thirds warped to UTM 32N overlap by a third."""
    left = str(tmp_path / "left_33n.tif")
    gdal.Translate(left, scene["scene"], srcWin=[0, 0, 128, 192])
    right = reprojected_tile(scene["scene"], str(tmp_path / "right_32n.tif"))
    output = str(tmp_path / "plants.gpkg")
    run("mapregion", region_parameters(scene, output, INPUT=[left, right], WORKERS=1,
                                       OUTPUT_CRS="EPSG:32633"), feedback)
    assert any("2 tile(s) in 2 CRS" in info for info in feedback.infos)
    rows = plant_rows(output)
    geometries = [ogr.CreateGeometryFromWkb(wkb) for wkb, _, _ in rows]
    for i, a in enumerate(geometries):
        for b in geometries[i + 1:]:
            assert a.Intersection(b).GetArea() < 1.0  # m²: no plant twice
    found = plant_mask(rows, scene["scene"])
    for wkb, _, _ in whole:  # every plant of the whole scene once
        centre = ogr.CreateGeometryFromWkb(wkb).PointOnSurface()
        assert sum(g.Contains(centre) or g.Distance(centre) < 10 for g in geometries) == 1
    assert iou(found, plant_mask(whole, scene["scene"])) >= 0.8  # the warped tile resamples the plants


def test_a_resumed_run_redoes_only_unfinished_tiles(fusionpv, feedback, scene, tmp_path):
    """What a killed run leaves: results of some tiles, and a result half written. The rerun does the others."""
    output, tiles = str(tmp_path / "plants.gpkg"), str(tmp_path / "tiles.csv")
    run("mapregion", region_parameters(scene, output, WORKERS=1, KEEP_RESULTS=True), feedback)
    first = sorted(plant_rows(output))
    folder = str(tmp_path / "plants.tiles")
    results = sorted(name for name in os.listdir(folder) if name.endswith(".result"))
    assert len(results) == 4
    for name in results[1:3]:
        os.remove(os.path.join(folder, name))
    with open(os.path.join(folder, ".tile0001_part1of1.1234abcd.partial.result"), "wb") as handle:
        handle.write(b"half a pickle")
    feedback.infos.clear()
    run("mapregion", region_parameters(scene, output, WORKERS=1, OUTPUT_TILES=tiles), feedback)
    assert any("2 already done" in info and "2 job(s)" in info for info in feedback.infos)
    assert [row["status"] for row in tile_table(tiles)] == ["reused", "done", "done", "reused"]
    assert sorted(plant_rows(output)) == first
    assert not os.path.exists(folder)  # finished without KEEP_RESULTS: only the outputs are left


def test_a_finished_run_leaves_only_its_outputs_unless_asked_to_keep_the_results(fusionpv, feedback, scene,
                                                                                 tmp_path):
    run("mapregion", region_parameters(scene, str(tmp_path / "plants.gpkg"), WORKERS=1), feedback)
    assert sorted(os.listdir(str(tmp_path))) == ["plants.gpkg"]
    run("mapregion", region_parameters(scene, str(tmp_path / "kept.gpkg"), WORKERS=1, KEEP_RESULTS=True), feedback)
    kept = sorted(name for name in os.listdir(str(tmp_path / "kept.tiles")) if name.endswith(".result"))
    assert len(kept) == 4


def test_cancel_keeps_finished_tiles_for_a_resume(fusionpv, feedback, scene, tmp_path):
    output = str(tmp_path / "plants.gpkg")
    # a tile takes 5 to 27.5 %: cancelled in the second tile, which stops at once (the core checks the cancel)
    feedback.progressChanged.connect(lambda percent: feedback.cancel() if percent > 30 else None)
    message = run_fails("mapregion", region_parameters(scene, output, WORKERS=1), feedback)
    assert "cancel" in message.lower() and "resume" in message
    assert not os.path.exists(output)
    kept = [name for name in os.listdir(str(tmp_path / "plants.tiles")) if name.endswith(".result")]
    assert kept == ["tile0000_part1of1.result"]


def test_a_failing_tile_is_reported_and_the_others_go_on(fusionpv, feedback, scene, tmp_path, monkeypatch):
    real_run = region._decide_on_image

    def failing(job, result, progress):
        if job.tile == 2:
            raise RuntimeError("disk on fire")
        real_run(job, result, progress)

    monkeypatch.setattr(region, "_decide_on_image", failing)
    output, tiles = str(tmp_path / "plants.gpkg"), str(tmp_path / "tiles.csv")
    run("mapregion", region_parameters(scene, output, WORKERS=1, OUTPUT_TILES=tiles, KEEP_RESULTS=True), feedback)
    table = tile_table(tiles)
    assert [row["status"] for row in table] == ["done", "done", "failed", "done"]
    assert "disk on fire" in table[2]["error"]
    assert any("failed" in warning and "disk on fire" in warning for warning in feedback.warnings)
    assert len(plant_rows(output)) >= 5
    assert sorted(os.listdir(str(tmp_path / "plants.tiles"))).count("tile0002_part1of1.result") == 0


def test_other_settings_clear_the_kept_tiles(fusionpv, feedback, scene, tmp_path):
    output = str(tmp_path / "plants.gpkg")
    run("mapregion", region_parameters(scene, output, WORKERS=1, KEEP_RESULTS=True), feedback)
    run("mapregion", region_parameters(scene, output, WORKERS=1, MIN_AREA_PIXELS=50), feedback)
    assert any("4 tile result(s) of other settings were cleared" in warning for warning in feedback.warnings)
    assert all(pixels > 50 for _, pixels, _ in plant_rows(output))


def test_dask_cluster_gives_the_identical_result(fusionpv, feedback, scene, tmp_path):
    distributed = pytest.importorskip("distributed")
    local = str(tmp_path / "local.gpkg")
    run("mapregion", region_parameters(scene, local, WORKERS=2), feedback)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = str(tmp_path / "dask.gpkg")
        run("mapregion", region_parameters(scene, on_dask, DASK_SCHEDULER=cluster.scheduler_address), feedback)
    assert plant_rows(on_dask) == plant_rows(local)


def test_a_standalone_dask_scheduler_and_worker_give_the_identical_result(fusionpv, feedback, scene, tmp_path,
                                                                         standalone_dask):
    """The scheduler process cannot import the plugin (only its worker gets it, from the plugin folder): the jobs
    reach the worker without the scheduler unpickling them."""
    local = str(tmp_path / "local.gpkg")
    run("mapregion", region_parameters(scene, local, WORKERS=1), feedback)
    on_dask = str(tmp_path / "dask.gpkg")
    run("mapregion", region_parameters(scene, on_dask, DASK_SCHEDULER=standalone_dask), feedback)
    assert plant_rows(on_dask) == plant_rows(local)


def test_engine_errors_name_their_parameter(fusionpv, feedback, scene, tmp_path):
    output = str(tmp_path / "plants.gpkg")
    try:
        import distributed  # noqa: F401
        expected = "no Dask scheduler answers"
    except ImportError:
        expected = "dask.distributed is not installed"
    for address in ("tcp://127.0.0.1:1", "tls://127.0.0.1:1"):
        message = run_fails("mapregion", region_parameters(scene, output, DASK_SCHEDULER=address), feedback)
        assert "DASK_SCHEDULER" in message and expected in message and "Traceback" not in message
    message = run_fails("mapregion", region_parameters(scene, output, INPUT=[scene["tiles"][0]] * 2), feedback)
    assert "INPUT" in message and "twice" in message


def truncated_copy(path, target):
    """A copy of a tile cut to a third of its bytes: GDAL opens it, reading its pixels fails."""
    with open(path, "rb") as source, open(target, "wb") as copy:
        data = source.read()
        copy.write(data[:len(data) // 3])
    return target


def test_a_tile_that_fails_hands_its_groups_to_the_tiles_that_also_hold_them(fusionpv, feedback, scene, tmp_path):
    """One of the four overlapping tiles is truncated: its job fails. The groups it owned are decided by the next
    best tile, so the plants are those of the run without it; the failure is reported by name."""
    tiles = list(scene["tiles"])
    without = str(tmp_path / "without.gpkg")
    run("mapregion", region_parameters(scene, without, INPUT=tiles[:1] + tiles[2:], WORKERS=1), feedback)
    tiles[1] = truncated_copy(tiles[1], str(tmp_path / "broken_tile.tif"))
    output, table = str(tmp_path / "plants.gpkg"), str(tmp_path / "tiles.csv")
    run("mapregion", region_parameters(scene, output, INPUT=tiles, WORKERS=1, OUTPUT_TILES=table), feedback)
    assert sorted(plant_rows(output)) == sorted(plant_rows(without))
    assert any("broken_tile" in warning and "failed" in warning for warning in feedback.warnings)
    rows = {row["tile"]: row for row in csv.DictReader(open(table))}
    assert rows["broken_tile"]["status"] == "failed" and "cannot read" in rows["broken_tile"]["error"]


def test_an_unreadable_tile_is_named(fusionpv, feedback, scene, tmp_path):
    bad = tmp_path / "not_a_raster.tif"
    bad.write_text("this is not a raster")
    message = run_fails("mapregion", region_parameters(scene, str(tmp_path / "plants.gpkg"),
                                                       INPUT=scene["tiles"] + [str(bad)]), feedback)
    assert "INPUT" in message and "not_a_raster" in message
    assert not any(os.path.basename(tile) in message for tile in scene["tiles"])
    assert not os.path.exists(str(tmp_path / "plants.tiles"))


@pytest.mark.parametrize("split", [None, 10, 33])
def test_a_plant_cut_by_a_tile_edge_is_flagged_and_warned(fusionpv, feedback, tmp_path, split):
    """Chip 159 (a real plant, columns 3–42 of 45) cut into two tiles that only touch: whichever piece each tile
    decides reaches the cut, where the other tile goes on, and says so (field and warning); uncut, nothing is
    flagged."""
    data = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "austria_pv")
    image = os.path.join(data, "S2L2A_2022_clearmedian_159.tif")
    width = gdal.Open(image).RasterXSize
    tiles = [image]
    if split:
        tiles = [str(tmp_path / "west.tif"), str(tmp_path / "east.tif")]
        gdal.Translate(tiles[0], image, srcWin=[0, 0, split, 28])
        gdal.Translate(tiles[1], image, srcWin=[split, 0, width - split, 28])
    output = str(tmp_path / "plants.gpkg")
    run("mapregion", {"INPUT": tiles, "TRUSTED_PRIORS": [os.path.join(data, "osm_pv_chips.gpkg")],
                      "OUTPUT": output}, feedback)
    dataset = ogr.Open(output)
    flags = [(feature["at_tile_edge"], feature["pixels"]) for feature in dataset.GetLayer(0)]
    warned = [warning for warning in feedback.warnings if "edge of their tile" in warning]
    if split:
        assert flags and all(flag == 1 for flag, _ in flags) and warned, (flags, feedback.warnings)
        assert "%d plant(s)" % len(flags) in warned[0]
    else:
        assert flags and all(flag == 0 for flag, _ in flags) and not warned, (flags, feedback.warnings)


@pytest.mark.parametrize("value", ["EPSG:999999", "not a crs", "EPSG:4978"])
def test_an_output_crs_that_cannot_hold_plants_is_refused(fusionpv, feedback, scene, tmp_path, value):
    """An unknown CRS or text is not replaced by the first tile's in silence; a geocentric CRS (XYZ, area 0) is
    refused too; nothing is written."""
    output = str(tmp_path / "plants.gpkg")
    message = run_fails("mapregion", region_parameters(scene, output, OUTPUT_CRS=value), feedback)
    assert "OUTPUT_CRS" in message and "projected or geographic" in message
    assert not os.path.exists(output)


def test_workers_are_capped_by_cores_and_by_jobs(fusionpv, feedback, scene, tmp_path, monkeypatch):
    """WORKERS=1000 on 4 tiles runs at most one process per core and per job, and says so."""
    from fusion_pv_mapping.gisio import engines
    started = []
    real_pool = engines.ThreadPoolExecutor

    def counting_pool(max_workers):
        started.append(max_workers)
        return real_pool(max_workers=max_workers)
    monkeypatch.setattr(engines, "ThreadPoolExecutor", counting_pool)
    run("mapregion", region_parameters(scene, str(tmp_path / "plants.gpkg"), WORKERS=1000), feedback)
    cores = os.cpu_count()
    assert started and max(started) <= min(cores, len(scene["tiles"]))
    assert any("WORKERS: 1000 asked" in warning for warning in feedback.warnings)


def test_a_results_folder_of_the_users_is_never_cleared(fusionpv, feedback, scene, tmp_path):
    """plants.tiles/ beside OUTPUT=plants.gpkg holding the user's files (one even named like a result) is refused,
    its files untouched; the plugin's own folder (marked) is reused and cleared as before."""
    folder = tmp_path / "plants.tiles"
    folder.mkdir()
    (folder / "my_notes.txt").write_text("mine")
    (folder / "old.result").write_text("mine too")
    output = str(tmp_path / "plants.gpkg")
    message = run_fails("mapregion", region_parameters(scene, output), feedback)
    assert "OUTPUT" in message and "did not write" in message
    assert sorted(os.listdir(str(folder))) == ["my_notes.txt", "old.result"] and not os.path.exists(output)
    own = str(tmp_path / "own.gpkg")
    run("mapregion", region_parameters(scene, own, KEEP_RESULTS=True), feedback)
    run("mapregion", region_parameters(scene, own, MIN_AREA_PIXELS=7, KEEP_RESULTS=True), feedback)  # cleared
    assert os.path.exists(str(tmp_path / "own.tiles" / ".made-by-fusion-pv-mapping"))
