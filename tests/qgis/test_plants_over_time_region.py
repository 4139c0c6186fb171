"""``fusionpv:plantsovertime`` over many tiles: the real series scene (three Austrian chips' 2022 series in nine
cells) cut into four overlapping tiles gives the plants and histories of the whole scene, once each, whatever
WORKERS, and a run stopped half-way resumes with the unfinished tiles only."""
import os

import pytest
from osgeo import gdal, ogr

from region_scene import COUNTRY_PRIORS, build_country_series, build_series_scene
from test_algorithms import run, run_fails
from test_map_region_algorithm import iou, plant_mask, tile_table

#: The fields of a plant's history compared between runs.
HISTORY = ("pixels", "source", "presence", "presence_raw", "status", "evidence", "first_seen", "built_after",
           "built_before", "removed_after", "removed_before")


@pytest.fixture(scope="module")
def series_scene(tmp_path_factory):
    return build_series_scene(str(tmp_path_factory.mktemp("series_region")))


@pytest.fixture(scope="module")
def whole_history(series_scene, tmp_path_factory, fusionpv):
    """Plants over time on the whole scene: the reference."""
    from conftest import RecordingFeedback
    output = str(tmp_path_factory.mktemp("whole") / "whole.gpkg")
    run("plantsovertime", {"INPUT": series_scene["whole"], "PERIOD": 1, "TRUSTED_PRIORS": [series_scene["trusted"]],
                           "OUTPUT": output, "WORKERS": 1}, RecordingFeedback())
    return histories(output)


def histories(path):
    """[(WKB, {field: value of HISTORY}, tile, at_tile_edge)] of a plants-over-time layer."""
    dataset = ogr.Open(path)
    rows = []
    for feature in dataset.GetLayer(0):
        rows.append((feature.GetGeometryRef().ExportToWkb(), {name: feature[name] for name in HISTORY},
                     feature["tile"], feature["at_tile_edge"]))
    return rows


def cut_out(folder, tiles):
    """Dated stacks of tiles cut from the scene's: ``tiles`` are (folder name, the scene stacks of its dates, left
    column, width), each tile the full height. Returns the paths, tile by tile."""
    paths = []
    for name, stacks, left, width in tiles:
        (folder / name).mkdir()
        for path in stacks:
            paths.append(str(folder / name / os.path.basename(path)))
            gdal.Translate(paths[-1], path, srcWin=[left, 0, width, 192])
    return paths


def same_histories(rows, reference, scene):
    """Do two runs give the same plants (outlines within one pixel-exact mask) with the same histories?"""
    key = lambda row: sorted(row[1].items())  # noqa: E731
    assert sorted(map(key, rows)) == sorted(map(key, reference))
    as_rows = lambda items: [(wkb, 0, "") for wkb, *_ in items]  # noqa: E731
    assert iou(plant_mask(as_rows(rows), scene), plant_mask(as_rows(reference), scene)) == 1.0


@pytest.mark.parametrize("workers", [1, 2])
def test_four_overlapping_tiles_of_a_series_give_the_whole_scene(fusionpv, feedback, series_scene, whole_history,
                                                                 tmp_path, workers):
    output, tiles = str(tmp_path / "plants.gpkg"), str(tmp_path / "tiles.csv")
    run("plantsovertime", {"INPUT": series_scene["tiles"], "PERIOD": 1, "TRUSTED_PRIORS": [series_scene["trusted"]],
                           "OUTPUT": output, "OUTPUT_TILES": tiles, "WORKERS": workers}, feedback)
    rows = histories(output)
    assert len(rows) == len(whole_history) >= 9
    same_histories(rows, whole_history, series_scene["whole"][0])
    statuses = {row[1]["status"] for row in rows}
    assert "present from start" in statuses and len(statuses) >= 2  # 2004 is built during 2022, in three cells
    table = tile_table(tiles)
    assert [row["status"] for row in table] == ["done"] * 4
    assert sum(int(row["plants"]) for row in table) == len(rows)
    assert len({row[2] for row in rows}) >= 3  # plants decided by several tiles
    assert not any(row[3] for row in rows)  # every plant whole in the tile that decided it
    assert any("4 job(s) to run on %d process(es)" % workers in info for info in feedback.infos)


def test_a_stopped_series_run_resumes_with_the_unfinished_tiles(fusionpv, feedback, series_scene, whole_history,
                                                                tmp_path):
    output = str(tmp_path / "plants.gpkg")
    parameters = {"INPUT": series_scene["tiles"], "PERIOD": 1, "TRUSTED_PRIORS": [series_scene["trusted"]],
                  "OUTPUT": output, "WORKERS": 1}
    # a tile takes 5 to 27.5 %: stopped inside the second tile, which stops at once (the core checks the cancel)
    feedback.progressChanged.connect(lambda percent: feedback.cancel() if percent > 30 else None)
    message = run_fails("plantsovertime", parameters, feedback)
    assert "cancel" in message.lower() and "resume" in message and not os.path.exists(output)
    kept = sorted(name for name in os.listdir(str(tmp_path / "plants.tiles")) if name.endswith(".result"))
    assert kept == ["tile0000_part1of1.result"]
    from conftest import RecordingFeedback
    again = RecordingFeedback()
    run("plantsovertime", parameters, again)
    assert any("4 tile(s): 1 already done" in info and "3 job(s)" in info for info in again.infos)
    same_histories(histories(output), whole_history, series_scene["whole"][0])
    assert not os.path.exists(str(tmp_path / "plants.tiles"))  # a finished run leaves only its outputs


def test_several_grids_with_a_periods_raster_are_refused_before_the_work(fusionpv, feedback, series_scene,
                                                                         tmp_path):
    message = run_fails("plantsovertime", {
        "INPUT": series_scene["tiles"], "PERIOD": 1, "TRUSTED_PRIORS": [series_scene["trusted"]],
        "OUTPUT": str(tmp_path / "plants.gpkg"), "OUTPUT_PERIODS": str(tmp_path / "periods.tif")}, feedback)
    assert message.startswith("OUTPUT_PERIODS: the time series lies on 4 grids")
    assert not os.path.exists(str(tmp_path / "plants.tiles"))


def test_a_dask_cluster_gives_the_whole_scene(fusionpv, feedback, series_scene, whole_history, tmp_path):
    """Through a LocalCluster and through a standalone `dask scheduler` + `dask worker` (the workers import the
    plugin from its folder; the series jobs reach them as bytes)."""
    distributed = pytest.importorskip("distributed")
    parameters = {"INPUT": series_scene["tiles"], "PERIOD": 1, "TRUSTED_PRIORS": [series_scene["trusted"]]}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        output = str(tmp_path / "local_cluster.gpkg")
        run("plantsovertime", dict(parameters, OUTPUT=output, DASK_SCHEDULER=cluster.scheduler_address), feedback)
    same_histories(histories(output), whole_history, series_scene["whole"][0])


def test_a_standalone_dask_cluster_gives_the_whole_scene(fusionpv, feedback, series_scene, whole_history, tmp_path,
                                                         standalone_dask):
    output = str(tmp_path / "standalone.gpkg")
    run("plantsovertime", {"INPUT": series_scene["tiles"], "PERIOD": 1, "TRUSTED_PRIORS": [series_scene["trusted"]],
                           "OUTPUT": output, "DASK_SCHEDULER": standalone_dask}, feedback)
    same_histories(histories(output), whole_history, series_scene["whole"][0])


@pytest.fixture(scope="module")
def country(tmp_path_factory, fusionpv):
    """The 28 Austrian chips' series (two UTM zones) and their 28 separate runs with the country-wide OSM layer."""
    from conftest import RecordingFeedback
    folder = tmp_path_factory.mktemp("country")
    chips = build_country_series(str(folder))
    separate = {}
    for chip, paths in chips.items():
        output = str(folder / ("alone_%s.gpkg" % chip))
        run("plantsovertime", {"INPUT": paths, "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": output,
                               "WORKERS": 1}, RecordingFeedback())
        separate[chip] = country_rows(output)
    return chips, separate


def country_rows(path):
    """{tile: sorted [(pixels, presence, presence_raw, status, evidence, dates…, area_m2 in m²)]} of a layer."""
    dataset = ogr.Open(path)
    rows = {}
    for feature in dataset.GetLayer(0):
        rows.setdefault(feature["tile"], []).append(tuple(feature[name] for name in HISTORY) +
                                                    (round(feature["area_m2"], 1),))
    return {tile: sorted(plants) for tile, plants in rows.items()}


def one_run_equals_separate_runs(output, separate, chips):
    """Every chip of the one run has the plants and histories of its own run. Chips 801 and 802 overlap and show
    one plant (its OSM outline from either side): the one run gives it once, from the chip that holds it deeper;
    the 802 run alone gives it again, with the same history and area within 1 %. (The country layer has no
    polygon on chip 398: neither run has a plant there.)"""
    together = country_rows(output)
    alone = {tile: plants for rows in separate.values() for tile, plants in rows.items()}
    for tile, plants in together.items():
        assert plants == alone[tile]
    missing = set(alone) - set(together)
    assert len(missing) == 1 and len(together) == 26 and sum(map(len, together.values())) >= 26
    for tile in missing:
        chip = tile.split("/")[0][len("chip_"):]
        twins = [plant for other in overlapping_chips(chips, chip)
                 for plant in together.get(tile_of(separate, other), [])]
        for plant in alone[tile]:
            assert any(twin[1:-1] == plant[1:-1] and abs(twin[-1] - plant[-1]) <= 0.01 * plant[-1] for twin in twins)
    statuses = {plant[4] for plants in together.values() for plant in plants}
    assert {"present from start", "built", "not seen"} <= statuses


def tile_of(separate, chip):
    (tile,) = separate[chip]
    return tile


def overlapping_chips(chips, chip):
    """The chips whose footprint overlaps that of ``chip`` (both in one CRS)."""
    def footprint(name):
        dataset = gdal.Open(chips[name][0])
        x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
        return dataset.GetProjection(), (x0, x0 + dx * dataset.RasterXSize, y0 + dy * dataset.RasterYSize, y0)
    crs, (left, right, bottom, top) = footprint(chip)
    found = []
    for other in chips:
        other_crs, (l2, r2, b2, t2) = footprint(other)
        if other != chip and other_crs == crs and l2 < right and left < r2 and b2 < top and bottom < t2:
            found.append(other)
    return found


def test_28_chips_in_two_utm_zones_in_one_run_equal_28_separate_runs(fusionpv, feedback, country, tmp_path):
    chips, separate = country
    output = str(tmp_path / "austria.gpkg")
    run("plantsovertime", {"INPUT": [path for paths in chips.values() for path in paths], "PERIOD": 1,
                           "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": output, "OUTPUT_CRS": "EPSG:3035",
                           "WORKERS": 2}, feedback)
    one_run_equals_separate_runs(output, separate, chips)
    assert any("28 tile(s): 0 already done" in info and "28 job(s) to run on 2 process(es)" in info
               for info in feedback.infos)


def test_28_chips_through_a_dask_cluster_equal_28_separate_runs(fusionpv, feedback, country, tmp_path):
    distributed = pytest.importorskip("distributed")
    chips, separate = country
    output = str(tmp_path / "austria_dask.gpkg")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run("plantsovertime", {"INPUT": [path for paths in chips.values() for path in paths], "PERIOD": 1,
                               "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": output,
                               "DASK_SCHEDULER": cluster.scheduler_address}, feedback)
    one_run_equals_separate_runs(output, separate, chips)


def test_plants_cut_by_tiles_without_overlap_are_flagged_and_warned(fusionpv, feedback, series_scene, tmp_path):
    """The scene cut into two halves that only touch, through the middle column of cells: no tile holds the
    windows of the three plants there, each is decided once, by the half that holds its centre deeper, as a piece,
    and says so (at_tile_edge = 1, and a warning naming its plant_id)."""
    halves = cut_out(tmp_path, [("half_0", series_scene["whole"], 0, 96), ("half_96", series_scene["whole"], 96, 96)])
    output = str(tmp_path / "plants.gpkg")
    run("plantsovertime", {"INPUT": halves, "PERIOD": 1, "TRUSTED_PRIORS": [series_scene["trusted"]],
                           "OUTPUT": output, "WORKERS": 1}, feedback)
    rows = histories(output)
    cut = [row for row in rows if row[3]]
    assert len(cut) == 3 and len({row[2] for row in cut}) == 2  # a piece per plant, on both sides of the cut
    assert any("reach the edge of their tile" in warning and "at_tile_edge = 1" in warning
               for warning in feedback.warnings)


def test_a_group_in_an_overlap_is_decided_with_the_dates_of_both_tiles(fusionpv, feedback, series_scene,
                                                                       whole_history, tmp_path):
    """Two overlapping tiles on one grid, seen on different dates (the left one in odd months, the right one in
    even months, as tiles of two orbits): the three plants of the middle column of cells, whose windows both tiles
    hold, get the history of the whole scene seen every month; the plants of the left column, which only the left
    tile holds, are decided on its odd months alone, and differ."""
    inputs = cut_out(tmp_path, [("left", series_scene["whole"][0::2], 0, 144),
                                ("right", series_scene["whole"][1::2], 48, 144)])
    output = str(tmp_path / "plants.gpkg")
    run("plantsovertime", {"INPUT": inputs, "PERIOD": 1, "TRUSTED_PRIORS": [series_scene["trusted"]],
                           "OUTPUT": output, "WORKERS": 1}, feedback)
    rows = histories(output)

    def in_column(items, column):
        """The histories of the plants whose centre lies in ``column`` (0–2) of the scene's cells."""
        x0 = gdal.Open(series_scene["whole"][0]).GetGeoTransform()[0]
        found = []
        for wkb, history, *_ in items:
            centre = ogr.CreateGeometryFromWkb(bytes(wkb)).Centroid().GetX()
            if x0 + 640 * column <= centre < x0 + 640 * (column + 1):
                found.append(sorted(history.items()))
        return sorted(found)

    middle = in_column(rows, 1)
    assert len(middle) == 3 and middle == in_column(whole_history, 1)
    assert in_column(rows, 0) != in_column(whole_history, 0)
