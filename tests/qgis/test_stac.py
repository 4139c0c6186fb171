"""Sentinel-2 from a STAC catalogue: ``fusionpv:searchimagery`` against a real STAC API (`rustac serve`), and
``plantsovertime`` / ``clearcomposite`` reading the COGs of its items window by window from a real HTTP server
(nginx, Range requests). The catalogue holds the real 2022 series of the 28 Austrian chips in the asset keys and
offset conventions of Earth Search and Planetary Computer (``stac_catalogue.py``)."""
import collections
import glob
import json
import os

import numpy as np
import pytest
from osgeo import gdal, ogr

from region_scene import COUNTRY_PRIORS, build_country_series
from stac_catalogue import build_catalogue, write_item_collection
from test_algorithms import run, run_fails
from test_plants_over_time_region import country_rows

#: One chip's date whose assets are striped GeoTIFFs, not COGs (chip, date index).
UNTILED = ("101", 3)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory, nginx_server):
    """The 28 chips' catalogue served by nginx: {"folder", "items" (hrefs over HTTP), "path", "server"}."""
    folder = tmp_path_factory.mktemp("catalogue")
    server = nginx_server(folder, tmp_path_factory.mktemp("nginx"))
    items = build_catalogue(str(folder), base_url=server.url, untiled=(UNTILED,))
    return dict(folder=folder, items=items, path=str(folder / "items.json"), server=server)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    """The same series as dated stacks, one folder per chip: {chip: [paths]}."""
    return build_country_series(str(tmp_path_factory.mktemp("stacks")))


def items_of(catalogue, chips):
    return [item for item in catalogue["items"] if item["id"].split("CHIP")[1].split("_")[0] in chips]


def chip_of_tile(tile):
    """The chip of a tile name: a catalogue's (33CHIP101) or a stack series' (chip_101/S2L2A_…)."""
    return tile.split("CHIP")[1] if "CHIP" in tile else tile.split("/")[0][len("chip_"):]


def rows_by_chip(path):
    return {chip_of_tile(tile): plants for tile, plants in country_rows(path).items()}


def test_plants_over_time_over_http_equal_the_series_the_cogs_were_made_from(fusionpv, feedback, catalogue, stacks,
                                                                             tmp_path):
    """All 28 chips (two UTM zones, four offset conventions, 20 m and 10 m assets, one untiled date), read over
    HTTP with two workers, give the plants and histories of the same series given as stacks. What was fetched is
    logged, and matches what nginx served."""
    from conftest import RecordingFeedback
    reference = str(tmp_path / "stacks.gpkg")
    run("plantsovertime", {"INPUT": [path for paths in stacks.values() for path in paths], "PERIOD": 1,
                           "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": reference, "WORKERS": 2},
        RecordingFeedback())
    served_before = catalogue["server"].served()
    output = str(tmp_path / "stac.gpkg")
    run("plantsovertime", {"INPUT": [catalogue["path"]], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                           "OUTPUT": output, "WORKERS": 2}, feedback)
    assert rows_by_chip(output) == rows_by_chip(reference)
    assert len(rows_by_chip(output)) >= 26
    conventions = {item["properties"]["fusionpv:convention"] for item in catalogue["items"]}
    assert conventions == {"before-04", "applied", "flag-wrong", "flag-false-applied", "c1", "planetary"}
    wrong = [item["id"] for item in catalogue["items"]
             if item["properties"]["fusionpv:convention"] in ("flag-wrong", "flag-false-applied")]
    assert wrong and all(any(name in warning and "pixels are trusted" in warning for warning in feedback.warnings)
                         for name in wrong)
    fetched = [info for info in feedback.infos if info.startswith("Fetched ")]
    assert len(fetched) == 1, feedback.infos
    requests, sent = (a - b for a, b in zip(catalogue["server"].served(), served_before))
    megabytes, count = float(fetched[0].split()[1]), int(fetched[0].split(" in ")[1].split()[0])
    assert abs(megabytes - sent / 1e6) <= 0.05 + 0.02 * sent / 1e6 and 0 < count <= requests


def test_clear_composite_over_http_equals_the_composite_of_the_stacks(fusionpv, feedback, catalogue, stacks,
                                                                      tmp_path):
    """Chip 101 (20 m assets, the untiled date, every offset convention of its items): the same composite and
    count as from its stacks."""
    path = write_item_collection(str(tmp_path / "chip101.json"), items_of(catalogue, ("101",)))
    outputs = {}
    for name, source in (("stac", [path]), ("stacks", stacks["101"])):
        outputs[name] = run("clearcomposite", {"INPUT": source, "OUTPUT": str(tmp_path / (name + ".tif")),
                                               "OUTPUT_COUNT": str(tmp_path / (name + "_count.tif"))}, feedback)
    for key in ("OUTPUT", "OUTPUT_COUNT"):
        got, want = (gdal.Open(outputs[name][key]).ReadAsArray() for name in ("stac", "stacks"))
        assert got.shape == want.shape and (got == want).all()
    assert gdal.Open(outputs["stac"]["OUTPUT_COUNT"]).ReadAsArray().max() >= 5
    assert any(info.startswith("Fetched ") for info in feedback.infos)
    assert gdal.GetConfigOption("GDAL_HTTP_MULTIRANGE") is None  # the HTTP settings were restored


def with_href(items, item_id, band_key, href):
    """A copy of ``items`` where asset ``band_key`` of item ``item_id`` points at ``href``."""
    copied = json.loads(json.dumps(items))
    for item in copied:
        if item["id"] == item_id:
            item["assets"][band_key]["href"] = href
    return copied


def test_a_missing_or_broken_file_is_left_out_with_a_warning_naming_item_and_url(fusionpv, feedback, catalogue,
                                                                                  tmp_path):
    """One item's SWIR asset is missing on the server (404), another's is not a GeoTIFF: a rerun would read the
    same, so the run finishes, each date is left out where it was needed, and a warning names the item and the
    URL and says why."""
    items = items_of(catalogue, ("9",))
    broken, missing = items[4], items[7]
    (catalogue["folder"] / "not_a_tif.tif").write_text("an HTML error page saved as a GeoTIFF")
    key = next(key for key in ("swir16", "B11") if key in broken["assets"])
    broken_url = catalogue["server"].url + "/not_a_tif.tif"
    items = with_href(items, broken["id"], key, broken_url)
    key = next(key for key in ("swir22", "B12") if key in missing["assets"])
    missing_url = catalogue["server"].url + "/9/no-such-date/B12.tif"
    items = with_href(items, missing["id"], key, missing_url)
    path = write_item_collection(str(tmp_path / "items.json"), items)
    output = str(tmp_path / "plants.gpkg")
    run("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": output,
                           "WORKERS": 1}, feedback)
    for item, url in ((broken, broken_url), (missing, missing_url)):
        assert any(item["id"] in warning and url in warning and "left out" in warning and "a rerun would read the "
                   "same" in warning for warning in feedback.warnings), feedback.warnings
    assert ogr.Open(output).GetLayer(0).GetFeatureCount() >= 1


def test_a_server_that_answers_503_stops_the_tile_and_keeps_nothing_of_it(fusionpv, feedback, catalogue, tmp_path):
    """A 503 (after GDAL's retries) is a server that may answer later: the tile is not stored as done, the run
    stops naming the item and URL."""
    items = items_of(catalogue, ("9",))
    key = next(key for key in ("swir16", "B11") if key in items[4]["assets"])
    broken_url = catalogue["server"].url + "/broken/B11.tif"
    path = write_item_collection(str(tmp_path / "items.json"), with_href(items, items[4]["id"], key, broken_url))
    output = str(tmp_path / "plants.gpkg")
    message = run_fails("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                                           "OUTPUT": output, "WORKERS": 1}, feedback)
    assert items[4]["id"] in message and broken_url in message and "did not answer" in message, message
    assert not os.path.exists(output) and not glob.glob(str(tmp_path / "plants.tiles" / "*.result"))
    assert kept_periods(tmp_path / "plants.tiles") == {0}  # only the quarter decided before the failed read


def kept_periods(folder):
    """The last period of each row batch that the checkpoints in a results folder keep."""
    import pickle
    periods = set()
    for path in glob.glob(os.path.join(str(folder), "*.checkpoints", "*.pickle")):
        with open(path, "rb") as stream:
            periods.add(pickle.load(stream)[0])
    return periods


def test_a_server_that_dies_inside_a_tile_keeps_nothing_degraded_and_the_rerun_is_clean(
        fusionpv, catalogue, nginx_server, tmp_path_factory, tmp_path):
    """Chip 9's later dates on a second server that is gone when they are read (the first dates read fine): the
    tile is not stored, the run stops; with the server back at the same address, the rerun gives the plants of
    a clean run, not a tile missing half its dates."""
    from conftest import RecordingFeedback
    folder = tmp_path_factory.mktemp("nginx_late")
    server = nginx_server(catalogue["folder"], folder)
    items = items_of(catalogue, ("9",))
    late = json.loads(json.dumps(items[len(items) // 2:]).replace(catalogue["server"].url, server.url))
    path = write_item_collection(str(tmp_path / "items.json"), items[:len(items) // 2] + late)
    clean = str(tmp_path / "clean.gpkg")
    run("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": clean},
        RecordingFeedback())
    server.stop()
    gdal.VSICurlClearCache()
    output = str(tmp_path / "plants.gpkg")
    message = run_fails("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                                           "OUTPUT": output}, RecordingFeedback())
    assert server.url in message and "did not answer" in message and not os.path.exists(output), message
    nginx_server(catalogue["folder"], folder, server.port)  # back, at the same address
    again = RecordingFeedback()
    run("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": output},
        again)
    assert any("1 tile(s): 0 already done" in info for info in again.infos), again.infos  # nothing degraded kept
    assert rows_by_chip(output) == rows_by_chip(clean), (again.warnings, again.infos)


def test_an_item_without_a_band_asset_is_left_out_with_a_warning(fusionpv, feedback, catalogue, tmp_path):
    items = json.loads(json.dumps(items_of(catalogue, ("9",))))
    key = next(key for key in ("scl", "SCL") if key in items[2]["assets"])
    del items[2]["assets"][key]
    path = write_item_collection(str(tmp_path / "items.json"), items)
    run("clearcomposite", {"INPUT": [path], "OUTPUT": str(tmp_path / "composite.tif")}, feedback)
    assert any(items[2]["id"] in warning and "no asset for SCL" in warning for warning in feedback.warnings)
    assert any("%d item(s)" % (len(items) - 1) in info for info in feedback.infos)


def test_a_server_that_dies_mid_run_stops_the_run_naming_item_and_url(fusionpv, catalogue, nginx_server,
                                                                      tmp_path_factory, tmp_path):
    """The COGs of 3 chips on their own nginx, killed once the first tile is done: the run stops with a message
    naming an item and its URL, writes no output, and keeps the finished tile for a rerun."""
    from conftest import RecordingFeedback
    server = nginx_server(catalogue["folder"], tmp_path_factory.mktemp("nginx_dies"))
    items = json.loads(json.dumps(items_of(catalogue, ("9", "101", "1913"))).replace(
        catalogue["server"].url, server.url))
    path = write_item_collection(str(tmp_path / "items.json"), items)

    class KillAfterFirstTile(RecordingFeedback):
        def pushInfo(self, info):  # noqa: N802 (QGIS API name)
            super().pushInfo(info)
            if info.startswith("Tile ") and "plant(s)" in info:
                server.stop()
                gdal.VSICurlClearCache()  # the chips' files are small enough to be in GDAL's cache whole
    feedback = KillAfterFirstTile()
    output = str(tmp_path / "plants.gpkg")
    message = run_fails("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                                           "OUTPUT": output, "WORKERS": 1}, feedback)
    assert "could not be read" in message and server.url in message and "_L2A" in message, message
    assert "run again to resume" in message
    assert not os.path.exists(output)
    assert len([name for name in os.listdir(output[:-len(".gpkg")] + ".tiles") if name.endswith(".result")]) == 1


def test_every_item_unreachable_fails_with_the_url(fusionpv, feedback, catalogue, tmp_path):
    from conftest import free_port
    dead = "http://127.0.0.1:%d" % free_port()
    items = json.loads(json.dumps(items_of(catalogue, ("9",))).replace(catalogue["server"].url, dead))
    path = write_item_collection(str(tmp_path / "items.json"), items)
    message = run_fails("clearcomposite", {"INPUT": [path], "OUTPUT": str(tmp_path / "composite.tif")}, feedback)
    assert dead in message and "did not answer" in message and "nothing was written" in message
    assert not os.path.exists(str(tmp_path / "composite.tif"))


def test_not_an_item_collection_is_refused(fusionpv, feedback, tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"type": "Feature", "properties": {}}))
    message = run_fails("clearcomposite", {"INPUT": [str(path)], "OUTPUT": str(tmp_path / "c.tif")}, feedback)
    assert "INPUT" in message and "not a STAC ItemCollection" in message


# ---- searchimagery against a real STAC API ----

@pytest.fixture(scope="module")
def api(catalogue, stac_server, tmp_path_factory):
    return stac_server(catalogue["path"], tmp_path_factory.mktemp("rustac"))


def search(parameters, feedback, tmp_path):
    output = str(tmp_path / "found.json")
    result = run("searchimagery", dict({"OUTPUT": output, "OUTPUT_FOOTPRINTS": str(tmp_path / "footprints.gpkg")},
                                       **parameters), feedback)
    with open(output, encoding="utf-8") as stream:
        return json.load(stream)["features"], result


def test_search_follows_every_page_and_keeps_the_scenes_under_max_cloud(fusionpv, feedback, catalogue, api,
                                                                        tmp_path):
    """Over chips 1913 and 9 (two UTM zones) in 2022, 5 items a page: every item of the area, dates and
    collection whose cloud cover is at most MAX_CLOUD, once; footprints with their fields."""
    chips = items_of(catalogue, ("1913", "9"))
    west = min(item["bbox"][0] for item in chips)
    south = min(item["bbox"][1] for item in chips)
    east = max(item["bbox"][2] for item in chips)
    north = max(item["bbox"][3] for item in chips)
    extent = "%.6f,%.6f,%.6f,%.6f [EPSG:4326]" % (west, east, south, north)
    found, result = search({"STAC_API": api.url, "COLLECTION": "sentinel-2-l2a", "EXTENT": extent,
                            "START_DATE": "2022-01-01", "END_DATE": "2022-11-30", "MAX_CLOUD": 30, "PAGE_SIZE": 5},
                           feedback, tmp_path)

    def inside(item):
        bbox = item["bbox"]
        return bbox[0] <= east and west <= bbox[2] and bbox[1] <= north and south <= bbox[3]
    expected = {item["id"] for item in catalogue["items"]
                if item["collection"] == "sentinel-2-l2a" and inside(item)
                and item["properties"]["datetime"][:10] <= "2022-11-30"
                and item["properties"]["eo:cloud_cover"] <= 30}
    cloudy = {item["id"] for item in catalogue["items"] if item["collection"] == "sentinel-2-l2a" and inside(item)
              and item["properties"]["datetime"][:10] <= "2022-11-30"} - expected
    assert expected and cloudy  # the filter has work to do
    assert [item["id"] for item in found] and {item["id"] for item in found} == expected
    assert len(found) == len(expected)
    pages = [info for info in feedback.infos if info.startswith("Page ")]
    assert len(pages) >= 3
    dataset = ogr.Open(result["OUTPUT_FOOTPRINTS"])
    layer = dataset.GetLayer(0)
    assert layer.GetFeatureCount() == len(expected)
    feature = layer.GetNextFeature()
    assert {name: feature[name] is not None for name in ("id", "date", "cloud_cover", "tile", "platform",
                                                         "baseline")} == dict.fromkeys(
        ("id", "date", "cloud_cover", "tile", "platform", "baseline"), True)


def test_search_then_plants_over_time_over_http(fusionpv, feedback, catalogue, api, tmp_path):
    """The user's path: search the area of chip 101 for 2022, then plants over time on what was found."""
    chip = items_of(catalogue, ("101",))[0]
    west, south, east, north = chip["bbox"]
    found, result = search({"STAC_API": api.url, "COLLECTION": "sentinel-2-l2a",
                            "EXTENT": "%.6f,%.6f,%.6f,%.6f [EPSG:4326]" % (west, east, south, north),
                            "START_DATE": "2022-01-01", "END_DATE": "2022-12-31"}, feedback, tmp_path)
    assert found
    output = str(tmp_path / "plants.gpkg")
    run("plantsovertime", {"INPUT": [result["OUTPUT"]], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                           "OUTPUT": output, "WORKERS": 1}, feedback)
    assert ogr.Open(output).GetLayer(0).GetFeatureCount() >= 1


def test_search_errors_name_the_url(fusionpv, feedback, catalogue, tmp_path):
    from conftest import free_port
    dead = "http://127.0.0.1:%d" % free_port()
    extent = "14,15,47,48 [EPSG:4326]"
    message = run_fails("searchimagery", {"STAC_API": dead, "EXTENT": extent,
                                          "OUTPUT": str(tmp_path / "a.json")}, feedback)
    assert dead in message and "could not be reached" in message and "proxy" in message
    broken = catalogue["server"].url + "/broken"
    message = run_fails("searchimagery", {"STAC_API": broken, "EXTENT": extent,
                                          "OUTPUT": str(tmp_path / "b.json")}, feedback)
    assert broken in message and "HTTP 503" in message
    assert sum("trying again" in warning for warning in feedback.warnings) >= 3
    message = run_fails("searchimagery", {"STAC_API": "earth-search", "EXTENT": extent,
                                          "OUTPUT": str(tmp_path / "c.json")}, feedback)
    assert "STAC_API" in message and "http" in message
    assert not any(os.path.exists(str(tmp_path / name)) for name in ("a.json", "b.json", "c.json"))


def test_the_pixel_rule_of_the_boa_offset_is_never_wrong_on_the_real_dates():
    """On every date of the real series (harmonised DN) with enough vegetation, the rule never says "offset", and
    with the offset added never says "none"; it decides at least 95 % of those dates both ways."""
    from fusion_pv_mapping.gisio.stac_items import BOA_ADD, MIN_VEGETATION_PIXELS, offset_of_vegetation
    data = np.load(os.path.join(os.path.dirname(COUNTRY_PRIORS), "country_series.npz"))
    decided = {0: 0, BOA_ADD: 0}
    dates = 0
    for name in (name for name in data.files if name.endswith("_B02")):
        for blue, scl in zip(data[name], data[name[:-3] + "SCL"]):
            vegetation = blue[(scl == 4) & (blue != 32767)].astype(np.int32)
            if vegetation.size < MIN_VEGETATION_PIXELS:
                continue
            dates += 1
            for added in decided:
                seen = offset_of_vegetation(vegetation + added)
                assert seen in (None, added)
                decided[added] += seen == added
    assert dates >= 200 and min(decided.values()) >= 0.95 * dates


def test_cancel_stops_between_reads(fusionpv, catalogue, tmp_path):
    """Cancelled while the first tile reads its dates: the run stops at once, reports the cancel, writes nothing."""
    from conftest import RecordingFeedback
    path = write_item_collection(str(tmp_path / "items.json"), items_of(catalogue, ("9", "101", "1913")))

    class CancelInFirstTile(RecordingFeedback):
        def setProgress(self, progress):  # noqa: N802 (QGIS API name)
            super().setProgress(progress)
            if 5 < progress < 35:
                self.cancel()
    feedback = CancelInFirstTile()
    output = str(tmp_path / "plants.gpkg")
    message = run_fails("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                                           "OUTPUT": output, "WORKERS": 1}, feedback)
    assert "ancel" in message and not os.path.exists(output)
    assert not glob.glob(output[:-len(".gpkg")] + ".tiles/*.result")  # no tile was finished


def test_one_acquisition_processed_twice_counts_once(fusionpv, feedback, catalogue, stacks, tmp_path):
    """An item repeated under another id with an older baseline (a product reprocessed): the newer is used, the
    composite is that of the stacks."""
    items = json.loads(json.dumps(items_of(catalogue, ("101",))))
    twin = json.loads(json.dumps(items[5]))
    twin["id"] += "_reprocessed_earlier"
    twin["properties"]["s2:processing_baseline"] = "02.00"
    path = write_item_collection(str(tmp_path / "items.json"), items + [twin])
    outputs = {name: run("clearcomposite", {"INPUT": source, "OUTPUT": str(tmp_path / (name + ".tif"))},
                         feedback)["OUTPUT"] for name, source in (("stac", [path]), ("stacks", stacks["101"]))}
    assert (gdal.Open(outputs["stac"]).ReadAsArray() == gdal.Open(outputs["stacks"]).ReadAsArray()).all()
    assert any(twin["id"] in info and "one acquisition" in info and items[5]["id"] + " (the newer" in info
               for info in feedback.infos), feedback.infos


def test_the_bands_of_a_date_without_a_clear_pixel_are_not_fetched(fusionpv, feedback, catalogue, tmp_path):
    """Chip 9's fully clouded dates (SCL: no clear pixel) cost their SCL and the header the plan of the run reads
    (one request: these small files whole): none of their band files is requested again by the workers (two
    processes), while the bands of its clear dates are."""
    items = items_of(catalogue, ("9",))
    clouded = [item for item in items if item["properties"]["eo:cloud_cover"] == 100.0]
    clear = [item for item in items if item["properties"]["eo:cloud_cover"] == 0.0]
    assert clouded and clear
    path = write_item_collection(str(tmp_path / "items.json"), items)
    gdal.VSICurlClearCache()  # what earlier tests fetched of these files
    first = len(catalogue["server"].requests())
    run("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                           "OUTPUT": str(tmp_path / "plants.gpkg"), "WORKERS": 2}, feedback)
    fetched = {request_path for _, request_path, _, _ in catalogue["server"].requests()[first:]}
    gets = collections.Counter(request_path for method, request_path, _, _ in catalogue["server"].requests()[first:]
                               if method == "GET")
    read = {request_path for request_path, count in gets.items() if count > 1}  # the plan GETs each file once

    def bands_in(item, request_paths):
        """The asset keys of ``item`` whose files are among ``request_paths``."""
        return {key for key, asset in item["assets"].items() if asset["href"].split(":", 2)[2].split("/", 1)[1]
                in {request_path.lstrip("/") for request_path in request_paths}}
    for item in clouded:
        assert bands_in(item, read) <= {"scl", "SCL"} and len(bands_in(item, fetched)) == 7, item["id"]
    for item in clear:
        assert len(bands_in(item, read)) == 7, item["id"]



@pytest.mark.parametrize("properties, raster_offset, expected", [
    ({"s2:processing_baseline": "05.09"}, -0.1, (1000, False)),  # sentinel-2-c1-l2a: raster:bands trusted
    ({"s2:processing_baseline": "03.01", "earthsearch:boa_offset_applied": False}, -0.1, (0, False)),
    ({"s2:processing_baseline": "04.00", "earthsearch:boa_offset_applied": True}, -0.1, (0, True)),
    ({"s2:processing_baseline": "04.00", "earthsearch:boa_offset_applied": False}, -0.1, (1000, True)),
    ({"sentinel:processing_baseline": "04.00", "sentinel:boa_offset_applied": True}, None, (0, True)),
    ({"s2:processing_baseline": "05.00"}, None, (1000, True)),  # Planetary Computer: no word on it
    ({"s2:product_uri": "S2B_MSIL2A_20200110T053549_N0213_R005_T43QDB_20200110T090121.SAFE"}, None, (0, False)),
])
def test_the_metadata_rule_of_the_boa_offset(properties, raster_offset, expected):
    """What the metadata alone says of an item's offset, and whether the pixels must confirm it."""
    from fusion_pv_mapping.gisio.stac_items import offset_of_metadata
    asset = {"href": "red.tif"}
    if raster_offset is not None:
        asset["raster:bands"] = [{"scale": 0.0001, "offset": raster_offset}]
    offset, _, check = offset_of_metadata({"id": "item", "properties": properties, "assets": {"red": asset}})
    assert (offset, check) == expected


def test_a_composite_of_items_on_several_tiles_is_refused_naming_them(fusionpv, feedback, catalogue, tmp_path):
    path = write_item_collection(str(tmp_path / "items.json"), items_of(catalogue, ("9", "101")))
    message = run_fails("clearcomposite", {"INPUT": [path], "OUTPUT": str(tmp_path / "c.tif")}, feedback)
    assert "INPUT" in message and "lie on 2 tiles" in message and "32CHIP9" in message and "33CHIP101" in message
    assert not os.path.exists(str(tmp_path / "c.tif"))


def test_items_without_a_date_are_told_apart():
    """An API may answer an item whose datetime is missing or not a date: it is left out of the items found (the
    footprints need its date), by id."""
    from fusion_pv_mapping.gisio.stac_search import dated_items, footprint_rows
    geometry = {"type": "Polygon", "coordinates": [[[14, 47], [15, 47], [15, 48], [14, 47]]]}
    items = [{"id": "good", "geometry": geometry, "properties": {"datetime": "2022-06-01T10:00:00Z"}},
             {"id": "none", "geometry": geometry, "properties": {"datetime": None}},
             {"id": "garbled", "geometry": geometry, "properties": {"datetime": "June"}}]
    dated, undated = dated_items(items)
    assert [item["id"] for item in dated] == ["good"] and undated == ["none", "garbled"]
    rows, without = footprint_rows(dated)
    assert [values[0] for _, values in rows] == ["good"] and without == []



def test_metadata_out_of_range_or_contradicting_its_file_leaves_the_item_out_with_a_warning(fusionpv, catalogue,
                                                                                            tmp_path):
    """Chip 9's items, four of them spoilt: a raster:bands offset of −100 (a DN offset of 10⁶), one of Infinity, a
    proj:epsg of the other UTM zone than its files, a proj:transform shifted by 5 m. Each is left out with a
    warning naming it, the run goes on, and the plants are those of the series without them."""
    from conftest import RecordingFeedback
    items = json.loads(json.dumps(items_of(catalogue, ("9",))))
    c1 = [item for item in items if "raster:bands" in next(iter(item["assets"].values()))
          and "earthsearch:boa_offset_applied" not in item["properties"]]
    plain = [item for item in items if item not in c1]
    spoilt = {c1[0]["id"]: "offset", c1[1]["id"]: "infinity", plain[2]["id"]: "epsg", plain[3]["id"]: "shift"}
    for item in items:
        how = spoilt.get(item["id"])
        for asset in item["assets"].values():
            if how in ("offset", "infinity") and "raster:bands" in asset:
                asset["raster:bands"][0]["offset"] = -100.0 if how == "offset" else float("inf")
            if how == "epsg":
                asset["proj:epsg"] = 32633 if asset["proj:epsg"] == 32632 else 32632
            if how == "shift":
                asset["proj:transform"][2] += 5.0
        if how == "epsg":
            item["properties"]["proj:epsg"] = next(iter(item["assets"].values()))["proj:epsg"]
    # a file in another CRS than its item says, on the same origin and pixel size: left out when read
    other = plain[4]
    key = next(key for key in ("nir", "B08") if key in other["assets"])
    source = gdal.Open(str(catalogue["folder"]) + other["assets"][key]["href"][len(catalogue["server"].url):])
    zone_32 = "32632" in source.GetProjection() or "zone 32" in source.GetProjection()
    gdal.Translate(str(catalogue["folder"] / "other_crs_b08.tif"), source,
                   outputSRS="EPSG:32633" if zone_32 else "EPSG:32632")
    other["assets"][key]["href"] = catalogue["server"].url + "/other_crs_b08.tif"
    spoilt[other["id"]] = "file crs"
    path = write_item_collection(str(tmp_path / "spoilt.json"), items)
    feedback = RecordingFeedback()
    output = str(tmp_path / "plants.gpkg")
    run("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": output},
        feedback)
    for item_id in spoilt:
        assert any(item_id in warning for warning in feedback.warnings), (item_id, feedback.warnings)
    clean = str(tmp_path / "clean.gpkg")
    run("plantsovertime", {"INPUT": [write_item_collection(str(tmp_path / "clean.json"), [
        item for item in items if item["id"] not in spoilt])], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
        "OUTPUT": clean}, RecordingFeedback())
    assert rows_by_chip(output) == rows_by_chip(clean), feedback.warnings


def test_several_item_collections_are_read_as_one(fusionpv, feedback, catalogue, tmp_path):
    """Chip 9's items in two files, one item in both: the plants of the one file with them all."""
    from conftest import RecordingFeedback
    items = items_of(catalogue, ("9",))
    half = len(items) // 2
    first = write_item_collection(str(tmp_path / "first.json"), items[:half + 1])
    second = write_item_collection(str(tmp_path / "second.json"), items[half:])
    whole = write_item_collection(str(tmp_path / "whole.json"), items)
    outputs = [str(tmp_path / "two.gpkg"), str(tmp_path / "one.gpkg")]
    run("plantsovertime", {"INPUT": [first, second], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                           "OUTPUT": outputs[0]}, feedback)
    run("plantsovertime", {"INPUT": [whole], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": outputs[1]},
        RecordingFeedback())
    assert any("%d item(s)" % len(items) in info for info in feedback.infos), feedback.infos
    assert rows_by_chip(outputs[0]) == rows_by_chip(outputs[1])


@pytest.fixture
def qgis_proxy():
    """Set QGIS's proxy (as Settings > Options > Network does) to a forwarding proxy on 127.0.0.1; restored
    afterwards."""
    import local_servers
    from qgis.PyQt.QtNetwork import QNetworkProxy
    from qgis.core import QgsNetworkAccessManager
    import tempfile
    manager = QgsNetworkAccessManager.instance()
    before = manager.fallbackProxy()
    proxy = local_servers.ForwardingProxy(tempfile.mkdtemp(prefix="proxy-"))
    manager.setFallbackProxyAndExcludes(QNetworkProxy(QNetworkProxy.ProxyType.HttpProxy, "127.0.0.1", proxy.port),
                                        [], [])
    yield proxy
    manager.setFallbackProxyAndExcludes(before, [], [])
    proxy.stop()


def test_the_cogs_are_read_through_qgis_proxy_in_worker_processes_too(fusionpv, feedback, catalogue, qgis_proxy,
                                                                     tmp_path):
    """Chips 9 and 101 with two worker processes: every COG read goes through the proxy QGIS is set to, and the
    plants are those read directly."""
    from conftest import RecordingFeedback
    path = write_item_collection(str(tmp_path / "items.json"), items_of(catalogue, ("9", "101")))
    output = str(tmp_path / "proxied.gpkg")
    run("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": output,
                           "WORKERS": 2}, feedback)
    through = qgis_proxy.urls()
    assert len(through) >= 20 and all(url.startswith(catalogue["server"].url) for url in through)
    assert any("/9/" in url for url in through) and any("/101/" in url for url in through)
    from qgis.PyQt.QtNetwork import QNetworkProxy
    from qgis.core import QgsNetworkAccessManager
    QgsNetworkAccessManager.instance().setFallbackProxyAndExcludes(QNetworkProxy(), [], [])
    direct = str(tmp_path / "direct.gpkg")
    run("plantsovertime", {"INPUT": [path], "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": direct,
                           "WORKERS": 2}, RecordingFeedback())
    assert len(qgis_proxy.urls()) == len(through)
    assert rows_by_chip(output) == rows_by_chip(direct)


def test_s3_hrefs_are_read_unsigned_from_a_public_bucket(fusionpv, feedback, catalogue, nginx_server,
                                                         tmp_path_factory, tmp_path, monkeypatch):
    """Chip 9's items with s3://bucket/… hrefs, the bucket served on 127.0.0.1 (AWS_S3_ENDPOINT, as for any S3
    endpoint): read with unsigned requests, the plants those of the HTTP hrefs."""
    from conftest import RecordingFeedback
    root = tmp_path_factory.mktemp("s3")
    os.symlink(str(catalogue["folder"]), str(root / "bucket"))
    server = nginx_server(root, tmp_path_factory.mktemp("nginx_s3"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_NO_SIGN_REQUEST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_S3_ENDPOINT", "127.0.0.1:%d" % server.port)
    monkeypatch.setenv("AWS_HTTPS", "NO")
    monkeypatch.setenv("AWS_VIRTUAL_HOSTING", "FALSE")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws/credentials
    items = items_of(catalogue, ("9",))
    on_s3 = json.loads(json.dumps(items).replace(catalogue["server"].url, "s3://bucket"))
    output = str(tmp_path / "s3.gpkg")
    run("plantsovertime", {"INPUT": [write_item_collection(str(tmp_path / "s3.json"), on_s3)], "PERIOD": 1,
                           "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": output, "WORKERS": 2}, feedback)
    asked = server.requests()
    assert asked and all(path.startswith("/bucket/") for _, path, _, _ in asked)
    assert all(status in (200, 206) for _, _, status, _ in asked), asked
    http = str(tmp_path / "http.gpkg")
    run("plantsovertime", {"INPUT": [write_item_collection(str(tmp_path / "http.json"), items)], "PERIOD": 1,
                           "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": http, "WORKERS": 2}, RecordingFeedback())
    assert rows_by_chip(output) == rows_by_chip(http) and rows_by_chip(output)


@pytest.mark.parametrize("lifetime, renewed", [(3600, False), (60, True)], ids=["token for an hour",
                                                                                 "token about to expire"])
def test_planetary_computer_hrefs_are_signed_with_tokens_renewed_before_they_expire(
        fusionpv, feedback, catalogue, tmp_path, monkeypatch, lifetime, renewed):
    """Chips 9 and 101 on storage that answers 403 without a valid SAS token (nginx under /signed/), the tokens
    from a local server that plays Planetary Computer's token endpoint, two worker processes: every read is
    signed, the plants are those of the open hrefs. A token with less than 5 minutes left is asked anew."""
    import datetime
    import local_servers
    from conftest import RecordingFeedback
    from fusion_pv_mapping.gisio import sas
    expiry = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)).isoformat()
    endpoint = local_servers.MisbehavingServer({"/api/sas/v1/token/127.0.0.1/signed": {"json": {
        "token": "st=2024&se=2024&sp=rl&sig=valid-token", "msft:expiry": expiry.replace("+00:00", "Z")}}},
        tmp_path / "endpoint")
    try:
        monkeypatch.setattr(sas, "TOKEN_URL", endpoint.url + "/api/sas/v1/token")
        monkeypatch.setattr(sas, "STORAGE_HOST_SUFFIX", "127.0.0.1")
        items = items_of(catalogue, ("9", "101"))
        signed = json.loads(json.dumps(items).replace(catalogue["server"].url, catalogue["server"].url + "/signed"))
        before = len(catalogue["server"].requests())
        output = str(tmp_path / "signed.gpkg")
        run("plantsovertime", {"INPUT": [write_item_collection(str(tmp_path / "signed.json"), signed)], "PERIOD": 1,
                               "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": output, "WORKERS": 2}, feedback)
        reads = [request for request in catalogue["server"].requests()[before:] if request[1].startswith("/signed/")]
        assert reads and all(status in (200, 206) for _, _, status, _ in reads), reads[:5]
        asked = len([line for line in endpoint.requests() if "/token/" in line])
        # without renewal: once in QGIS's process (the offset checks) and once in each worker at most
        assert (asked > 3) if renewed else (1 <= asked <= 3), asked
        assert not any("left out" in warning for warning in feedback.warnings), feedback.warnings
    finally:
        endpoint.stop()
        monkeypatch.undo()
    open_hrefs = str(tmp_path / "open.gpkg")
    run("plantsovertime", {"INPUT": [write_item_collection(str(tmp_path / "open.json"), items)], "PERIOD": 1,
                           "TRUSTED_PRIORS": [COUNTRY_PRIORS], "OUTPUT": open_hrefs, "WORKERS": 2},
        RecordingFeedback())
    assert rows_by_chip(output) == rows_by_chip(open_hrefs) and len(rows_by_chip(output)) == 2


def test_a_token_endpoint_that_does_not_answer_stops_the_run_naming_it(fusionpv, feedback, catalogue, tmp_path,
                                                                       monkeypatch):
    from conftest import free_port
    from fusion_pv_mapping.gisio import sas
    dead = "http://127.0.0.1:%d/api/sas/v1/token" % free_port()
    monkeypatch.setattr(sas, "TOKEN_URL", dead)
    monkeypatch.setattr(sas, "STORAGE_HOST_SUFFIX", "127.0.0.1")
    signed = json.loads(json.dumps(items_of(catalogue, ("9",))).replace(
        catalogue["server"].url, catalogue["server"].url + "/signed"))
    message = run_fails("plantsovertime", {"INPUT": [write_item_collection(str(tmp_path / "signed.json"), signed)],
                                           "PERIOD": 1, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                                           "OUTPUT": str(tmp_path / "plants.gpkg")}, feedback)
    assert message.startswith("INPUT:") and dead in message and "run again" in message, message


def test_estimate_only_gives_the_plan_of_the_run_and_writes_nothing(fusionpv, catalogue, tmp_path):
    """Chips 9 and 2004 by month: ESTIMATE_ONLY logs the plan a run logs before it reads a pixel (items, tiles,
    windows, dates, bytes from the COG headers), returns the planned MB, and writes no output and no results
    folder; the run says what it fetched against the plan."""
    from conftest import RecordingFeedback
    path = write_item_collection(str(tmp_path / "items.json"), items_of(catalogue, ("9", "2004")))
    parameters = {"INPUT": [path], "PERIOD": 2, "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                  "OUTPUT": str(tmp_path / "plants.gpkg")}
    estimate, run_log = RecordingFeedback(), RecordingFeedback()
    result = run("plantsovertime", dict(parameters, ESTIMATE_ONLY=True), estimate)
    assert not os.path.exists(parameters["OUTPUT"]) and not os.path.exists(str(tmp_path / "plants.tiles"))
    planned = [info for info in estimate.infos if info.startswith("Plan: ")]
    assert len(planned) == 1 and "24 item(s) on 2 tile(s), 2 window(s)" in planned[0], estimate.infos
    assert 0 < result["PLANNED_MB"] and "%.1f MB" % result["PLANNED_MB"] in planned[0]
    run("plantsovertime", parameters, run_log)
    assert [info for info in run_log.infos if info.startswith("Plan: ")] == planned
    assert any(info.startswith("Against the plan: ") for info in run_log.infos), run_log.infos


def test_estimate_only_of_files_is_refused_naming_the_parameter(fusionpv, feedback, stacks, tmp_path):
    message = run_fails("plantsovertime", {"INPUT": stacks["9"], "PERIOD": 1, "ESTIMATE_ONLY": True,
                                           "TRUSTED_PRIORS": [COUNTRY_PRIORS],
                                           "OUTPUT": str(tmp_path / "plants.gpkg")}, feedback)
    assert "ESTIMATE_ONLY" in message and "catalogue" in message
