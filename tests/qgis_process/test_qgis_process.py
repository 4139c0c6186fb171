"""End to end through the ``qgis_process`` command, with the plugin installed the way QGIS finds plugins."""
import os
import sys

import numpy as np
import pytest
from osgeo import gdal, ogr

from fusion_pv_mapping.core.ndpi import ndpi_from_dn
from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.core.paper import paper_fusion

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from qgisprocess import QgisProcess, qgis_process_command  # noqa: E402
from chip_data import AUSTRIA as DATA  # noqa: E402

pytestmark = pytest.mark.skipif(qgis_process_command() is None, reason="qgis_process is not installed")


@pytest.fixture(scope="module")
def qgis(tmp_path_factory):
    """``qgis_process`` with the repository installed as the plugin ``fusion_pv_mapping``."""
    return QgisProcess(home=str(tmp_path_factory.mktemp("qgis")))


def run_json(qgis, algorithm, **parameters):
    completed, result = qgis.run_algorithm(algorithm, parameters)
    assert result is not None, completed.stderr + completed.stdout
    return result


def test_list_shows_both_algorithms(qgis):
    listing = qgis.run("list").stdout
    assert "Fusion PV Mapping" in listing
    assert "fusionpv:andpi\tPV index (NDPI)" in listing
    assert "fusionpv:extractpvplants\tExtract PV plants (ANDPI fusion)" in listing
    assert "fusionpv:materialflows\tPV material stock and end-of-life flows" in listing
    assert "fusionpv:assessaccuracy\tAssess PV map accuracy" in listing
    assert "fusionpv:stackbands\tBuild Sentinel-2 stack" in listing
    assert "fusionpv:plantsovertime\tPV plants over time" in listing
    assert "fusionpv:clearcomposite\tClear-sky composite" in listing
    assert "fusionpv:runmodel\tRun ONNX model" in listing
    assert "fusionpv:multisourcestack\tMulti-source stack (GlobalUrbanMapper input)" in listing
    assert "fusionpv:searchimagery\tFind Sentinel-2 imagery (STAC)" in listing


def test_help_documents_the_parameters(qgis):
    text = qgis.run("help", "fusionpv:extractpvplants").stdout
    for name in ("INPUT", "TRUSTED_PRIORS", "CANDIDATE_PRIORS", "METHOD", "MIN_AREA_PIXELS", "OUTPUT_MASK"):
        assert name + ":" in text
    assert "0: Paper (Zeng et al. 2025)" in text and "1: Improved" in text
    assert "80 %" in text


def test_run_with_a_vector_prior(qgis, tmp_path):
    """The default (improved) method on OSM polygons in EPSG:4326: trusted priors are only trimmed."""
    plants = str(tmp_path / "plants.gpkg")
    result = run_json(qgis, "fusionpv:extractpvplants",
                      INPUT=os.path.join(DATA, "S2L2A_2022_clearmedian_152.tif"),
                      TRUSTED_PRIORS=os.path.join(DATA, "osm_pv_chips.gpkg"), OUTPUT=plants)
    assert result["results"]["OUTPUT"] == plants
    dataset = ogr.Open(plants)
    layer = dataset.GetLayer(0)
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32633"
    rows = [feature.items() for feature in layer]
    assert rows and all(row["source"] == "trusted" and row["method"] == "improved" for row in rows)
    assert all(0 <= row["confidence"] <= 1 and row["threshold"] is not None for row in rows)
    reference_dataset = gdal.Open(os.path.join(DATA, "pv_mask_152.tif"))
    reference = reference_dataset.GetRasterBand(1).ReadAsArray()
    assert 0.9 * reference.sum() <= sum(row["pixels"] for row in rows) <= reference.sum()


def test_run_with_a_raster_prior_and_the_index(qgis, tmp_path):
    image = os.path.join(DATA, "S2L2A_2022_clearmedian_802.tif")
    mask_path, index_path = str(tmp_path / "mask.tif"), str(tmp_path / "ndpi.tif")
    run_json(qgis, "fusionpv:extractpvplants", INPUT=image, METHOD=0,
             CANDIDATE_PRIORS=os.path.join(DATA, "pv_mask_802.tif"), OUTPUT=str(tmp_path / "plants.gpkg"),
             OUTPUT_MASK=mask_path)
    run_json(qgis, "fusionpv:andpi", INPUT=image, OUTPUT=index_path)
    mask_dataset, index_dataset = gdal.Open(mask_path), gdal.Open(index_path)
    mask = mask_dataset.GetRasterBand(1).ReadAsArray()
    index = index_dataset.GetRasterBand(1).ReadAsArray()
    reference_dataset = gdal.Open(os.path.join(DATA, "pv_mask_802.tif"))
    reference = reference_dataset.GetRasterBand(1).ReadAsArray() > 0
    assert mask_dataset.GetGeoTransform() == reference_dataset.GetGeoTransform()
    image_dataset = gdal.Open(image)
    bands = [image_dataset.GetRasterBand(n).ReadAsArray() for n in (2, 3, 4, 8, 10, 11)]
    expected_index, valid = ndpi_from_dn(dict(zip(ROLES, bands)))
    assert np.array_equal(mask > 0, paper_fusion(expected_index, None, reference).mask)
    assert np.array_equal(index[valid], expected_index[valid].astype(np.float32))


def test_errors_exit_non_zero_with_the_reason(qgis, tmp_path):
    completed = qgis.run("run", "fusionpv:extractpvplants", "--",
                             "INPUT=" + os.path.join(DATA, "S2L2A_2022_clearmedian_9.tif"),
                             "OUTPUT=" + str(tmp_path / "plants.gpkg"))
    assert completed.returncode != 0
    assert "TRUSTED_PRIORS, CANDIDATE_PRIORS: give at least one PV prior" in completed.stderr
    assert not (tmp_path / "plants.gpkg").exists()


def test_time_series_to_material_flows(qgis, tmp_path):
    """The chain of the README through qgis_process: plants over time by quarter, then material flows from the year
    each plant was first seen (chip 2004, a plant built in 2022)."""
    plants = str(tmp_path / "plants.gpkg")
    result = run_json(qgis, "fusionpv:plantsovertime", INPUT=os.path.join(DATA, "netcdf", "S2_2022_2004.nc"),
                      PERIOD=1, TRUSTED_PRIORS=os.path.join(DATA, "pv_mask_2004.tif"), OUTPUT=plants)
    dataset = ogr.Open(result["results"]["OUTPUT"])
    (feature,) = list(dataset.GetLayer(0))
    assert (feature["presence"], feature["status"], feature["first_seen_year"]) == ("0011", "built", 2022)
    flows = run_json(qgis, "fusionpv:materialflows", INPUT=plants, YEAR_FIELD="first_seen_year",
                     OUTPUT=str(tmp_path / "flows.csv"))
    table = ogr.Open(flows["results"]["OUTPUT"])
    inflow = {int(row["year"]): float(row["inflow_m2"]) for row in table.GetLayer(0)}
    assert inflow[2022] == pytest.approx(feature["area_m2"], rel=0.01) and inflow.get(2021, 0) == 0
    megawatts = run_json(qgis, "fusionpv:capacity", INPUT=plants, OUTPUT=str(tmp_path / "mw.gpkg"),
                         OUTPUT_YEARS=str(tmp_path / "mw.csv"), OUTPUT_REPORT=str(tmp_path / "mw.html"))
    years = ogr.Open(megawatts["results"]["OUTPUT_YEARS"])
    (row,) = [(int(r["year"]), float(r["mwdc"]), float(r["cumulative_mwdc"])) for r in years.GetLayer(0)]
    assert row[0] == 2022 and row[1] == pytest.approx(feature["capacity_mwdc"], rel=1e-3) == row[2]
    assert megawatts["results"]["TOTAL_MWDC"] == pytest.approx(row[1], rel=1e-3)


def test_stac_search_to_plants_over_time_to_material_flows(qgis, tmp_path):
    """The README's path from free imagery: find chip 2004's dates in a STAC API (`rustac serve`), read their COGs
    over HTTP (nginx) into plants over time, then material flows: the plant built in 2022 is found built in 2022,
    as from the netCDF."""
    import local_servers
    from stac_catalogue import build_catalogue, write_item_collection
    if not os.path.exists(local_servers.NGINX) or not local_servers.rustac_command():
        pytest.skip("nginx or rustac is not installed (make test installs both)")
    folder = tmp_path / "catalogue"
    folder.mkdir()
    files = local_servers.Nginx(str(folder), str(tmp_path / "nginx"))
    try:
        items = build_catalogue(str(folder), base_url=files.url, chips=["2004", "9"])
        for item in items:  # one collection, as a user searches one (its items keep their offset conventions)
            item["collection"] = "sentinel-2-l2a"
        api = local_servers.StacServer(write_item_collection(str(tmp_path / "items.json"), items), str(tmp_path))
        try:
            west, south, east, north = next(item["bbox"] for item in items if "CHIP2004" in item["id"])
            found = run_json(qgis, "fusionpv:searchimagery", STAC_API=api.url, COLLECTION="sentinel-2-l2a",
                             EXTENT="%f,%f,%f,%f [EPSG:4326]" % (west, east, south, north),
                             START_DATE="2022-01-01", END_DATE="2022-12-31", OUTPUT=str(tmp_path / "found.json"))
        finally:
            api.stop()
        plants = str(tmp_path / "plants.gpkg")
        completed, result = qgis.run_algorithm("fusionpv:plantsovertime", dict(
            INPUT=found["results"]["OUTPUT"], PERIOD=1, TRUSTED_PRIORS=os.path.join(DATA, "pv_mask_2004.tif"),
            OUTPUT=plants))
        assert result is not None, completed.stderr + completed.stdout
        assert "Fetched " in completed.stdout + completed.stderr
    finally:
        files.stop()
    dataset = ogr.Open(plants)
    (feature,) = list(dataset.GetLayer(0))
    assert (feature["status"], feature["first_seen_year"]) == ("built", 2022)
    flows = run_json(qgis, "fusionpv:materialflows", INPUT=plants, YEAR_FIELD="first_seen_year",
                     OUTPUT=str(tmp_path / "flows.csv"))
    table = ogr.Open(flows["results"]["OUTPUT"])
    inflow = {int(row["year"]): float(row["inflow_m2"]) for row in table.GetLayer(0)}
    assert inflow[2022] == pytest.approx(feature["area_m2"], rel=0.01)


def test_graphical_model_chains_the_shipped_model_into_extract(qgis, tmp_path):
    """resources/models/model_prior_plants.model3: Run ONNX model (the shipped PV segmenter) → Extract PV plants with
    the PV probability as candidate prior and the class raster as CONTEXT, on a real chip the model never saw."""
    plants = str(tmp_path / "plants.gpkg")
    result = run_json(qgis, os.path.join(ROOT, "resources", "models", "model_prior_plants.model3"),
                      image=os.path.join(DATA, "S2L2A_2022_clearmedian_152.tif"),
                      onnx_model=os.path.join(ROOT, "resources", "models", "pv_segmenter.onnx"),
                      **{"extractpvplants:plants": plants})
    assert any("Executed 2 algorithm" in line for line in result["log"]["info"])  # "algorithm(s)" from 3.40 on
    dataset = ogr.Open(plants)
    rows = [feature.items() for feature in dataset.GetLayer(0)]
    assert rows and all(row["source"] == "candidate" and row["context_name"] == "PV" for row in rows)
    reference_dataset = gdal.Open(os.path.join(DATA, "pv_mask_152.tif"))
    reference = int(reference_dataset.GetRasterBand(1).ReadAsArray().sum())
    assert 0.7 * reference <= sum(row["pixels"] for row in rows) <= 1.3 * reference


def kill_once_a_job_is_kept(qgis, algorithm, parameters, env):
    """Run ``algorithm`` through qgis_process and SIGKILL it as soon as its results folder (``OUTPUT``.tiles)
    holds a finished job."""
    import glob
    import signal
    import subprocess
    import time
    output = next(value for value in parameters if value.startswith("OUTPUT="))[len("OUTPUT="):]
    results = os.path.join(os.path.splitext(output)[0] + ".tiles", "*.result")
    killed = subprocess.Popen([qgis.command, "run", algorithm, "--", *parameters], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not glob.glob(results):
        assert killed.poll() is None and time.time() < deadline, "the run ended before any job was kept"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()


def test_a_killed_region_run_leaves_no_worker_files_and_resumes(qgis, tmp_path):
    """mapregion with two worker processes, killed (SIGKILL) once some tiles are done: its orphaned workers leave
    nothing in TMPDIR, and the rerun does only the tiles that were not finished, with the plants of a clean run."""
    import glob
    import shutil
    import time
    from region_scene import build_scene
    scene = build_scene(str(tmp_path))
    tiles = list(scene["tiles"])
    for copy in range(8):  # more jobs than the run needs, so that it is still under way when killed
        tiles.append(shutil.copy(tiles[copy % 4], str(tmp_path / ("copy_%d.tif" % copy))))
    parameters = ["INPUT=%s" % tile for tile in tiles] + [
        "TRUSTED_PRIORS=%s" % scene["trusted"], "CANDIDATE_PRIORS=%s" % scene["candidate"], "WORKERS=2"]
    output = str(tmp_path / "plants.gpkg")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    kill_once_a_job_is_kept(qgis, "fusionpv:mapregion", parameters + ["OUTPUT=" + output],
                            dict(qgis.env, TMPDIR=str(temporary)))
    kept = len(glob.glob(str(tmp_path / "plants.tiles" / "*.result")))
    assert not os.path.exists(output) and kept < len(tiles)
    time.sleep(5)  # the orphaned workers finish their jobs, or fail to hand their results back
    assert not glob.glob(str(temporary / "fusionpv-job-*"))
    completed = qgis.run("run", "fusionpv:mapregion", "--", *parameters, "OUTPUT=" + output)
    assert completed.returncode == 0, completed.stderr
    assert "%d tile(s): " % len(tiles) in completed.stdout and " already done in " in completed.stdout
    clean = str(tmp_path / "clean.gpkg")
    assert qgis.run("run", "fusionpv:mapregion", "--", *parameters, "OUTPUT=" + clean).returncode == 0

    def plants(path):
        dataset = ogr.Open(path)  # held while its layer is read
        return sorted((feature.GetGeometryRef().ExportToWkt(), feature["pixels"]) for feature in dataset.GetLayer(0))
    assert plants(output) == plants(clean)


def test_a_killed_series_run_redoes_only_the_unfinished_tiles(qgis, tmp_path):
    """plantsovertime over the 28 Austrian chips' series with two worker processes, killed (SIGKILL) once some
    tiles are kept: the rerun runs only the jobs of the tiles not kept, and gives the histories of a clean run."""
    import glob
    import re
    import subprocess
    import time
    from region_scene import COUNTRY_PRIORS, build_country_series
    chips = build_country_series(str(tmp_path / "country"))
    parameters = ["INPUT=%s" % path for paths in chips.values() for path in paths] + [
        "TRUSTED_PRIORS=%s" % COUNTRY_PRIORS, "PERIOD=1", "WORKERS=2"]
    output = str(tmp_path / "plants.gpkg")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = dict(qgis.env, TMPDIR=str(temporary))
    kill_once_a_job_is_kept(qgis, "fusionpv:plantsovertime", parameters + ["OUTPUT=" + output], env)
    time.sleep(2)  # orphaned workers may still hand a result in
    kept = len(glob.glob(str(tmp_path / "plants.tiles" / "*.result")))
    assert not os.path.exists(output) and 1 <= kept < len(chips)
    completed = subprocess.run([qgis.command, "run", "fusionpv:plantsovertime", "--", *parameters,
                                "OUTPUT=" + output], env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    done, jobs = map(int, re.search(r"\d+ tile\(s\): (\d+) already done in .*?, (\d+) job\(s\)",
                                    completed.stdout).groups())
    assert done == kept and jobs == len(chips) - kept
    assert not os.path.exists(str(tmp_path / "plants.tiles"))  # the finished run leaves only its outputs
    assert not glob.glob(str(temporary / "fusionpv-*")), os.listdir(str(temporary))
    clean = str(tmp_path / "clean.gpkg")
    assert qgis.run("run", "fusionpv:plantsovertime", "--", *parameters, "OUTPUT=" + clean).returncode == 0

    def plants(path):
        dataset = ogr.Open(path)  # held while its layer is read
        return sorted((feature.GetGeometryRef().ExportToWkt(), feature["presence"], feature["status"],
                       feature["evidence"]) for feature in dataset.GetLayer(0))
    assert plants(output) == plants(clean)


def test_a_run_killed_inside_a_tile_fetches_again_only_the_dates_in_flight(qgis, tmp_path, monkeypatch):
    """Chip 2004's catalogue by month (one tile, shared by two worker processes), its April and May COGs served
    slowly (a tenth of a second an answer): SIGKILLed while it reads them, once the checkpoints keep March. The
    rerun reads no file of a month kept (it GETs each file's header once, for its plan), and gives the plants of
    a clean run; the finished run leaves no checkpoint behind."""
    import collections
    import glob
    import pickle
    import signal
    import subprocess
    import time
    import local_servers
    import stac_catalogue
    if not os.path.exists(local_servers.NGINX):
        pytest.skip("nginx is not installed (make test installs it)")
    monkeypatch.setattr(stac_catalogue, "convention_of", lambda *arguments: "c1")  # offsets from metadata alone
    folder = tmp_path / "catalogue"
    folder.mkdir()
    files = local_servers.Nginx(str(folder), str(tmp_path / "nginx"))
    items = stac_catalogue.build_catalogue(str(folder), base_url=files.url, chips=["2004"])
    month_of, slow_routes = {}, {}
    for item in items:
        month = int(item["properties"]["datetime"][5:7])
        for asset in item["assets"].values():
            relative = asset["href"][len(files.url):]
            month_of[relative] = month
            if month in (4, 5):
                slow_routes["/slow" + relative] = {"file": str(folder) + relative, "delay_seconds": 0.1}
    slow = local_servers.MisbehavingServer(slow_routes, tmp_path / "slow")
    try:
        for item in items:
            for asset in item["assets"].values():
                if "/slow" + asset["href"][len(files.url):] in slow_routes:
                    asset["href"] = slow.url + "/slow" + asset["href"][len(files.url):]
        path = stac_catalogue.write_item_collection(str(tmp_path / "items.json"), items)
        parameters = ["INPUT=" + path, "PERIOD=2", "TRUSTED_PRIORS=" + os.path.join(DATA, "pv_mask_2004.tif"),
                      "WORKERS=2"]  # in worker processes: GDAL's cache of what the plan read is not theirs
        output = str(tmp_path / "plants.gpkg")
        checkpoints = os.path.join(str(tmp_path / "plants.tiles"), "*.checkpoints", "*.pickle")

        def kept_month():
            months = []
            for kept in glob.glob(checkpoints):
                with open(kept, "rb") as stream:
                    months.append(pickle.load(stream)[0] + 1)  # periods are the months of 2022, from 0
            return min(months) if months else 0

        def gets(first):
            """GETs of each file since the ``first`` requests of each server."""
            paths = [request_path for method, request_path, _, _ in files.requests()[first[0]:] if method == "GET"]
            paths += [line.split()[1][len("/slow"):] for line in slow.requests()[first[1]:]
                      if line.startswith("GET ")]
            return collections.Counter(paths)
        killed = subprocess.Popen([qgis.command, "run", "fusionpv:plantsovertime", "--", *parameters,
                                   "OUTPUT=" + output], env=qgis.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while kept_month() < 3:
            assert killed.poll() is None and time.time() < deadline, "the run ended before March was kept"
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        kept = kept_month()
        assert 3 <= kept < 5 and not os.path.exists(output)
        first = (len(files.requests()), len(slow.requests()))
        completed = qgis.run("run", "fusionpv:plantsovertime", "--", *parameters, "OUTPUT=" + output)
        assert completed.returncode == 0, completed.stderr
        # besides its plan, each worker GETs the first item's headers (the layout of its blocks)
        again = {month_of[request_path] for request_path, count in gets(first).items() if count > 1} - {1}
        assert again and min(again) > kept, (kept, sorted(again))
        assert not os.path.exists(str(tmp_path / "plants.tiles"))
        clean = str(tmp_path / "clean.gpkg")
        assert qgis.run("run", "fusionpv:plantsovertime", "--", *parameters, "OUTPUT=" + clean).returncode == 0
    finally:
        files.stop()
        slow.stop()

    def plants(path):
        dataset = ogr.Open(path)  # held while its layer is read
        return sorted((feature["presence"], feature["status"], feature["evidence"], str(feature["built_after"]),
                       str(feature["built_before"])) for feature in dataset.GetLayer(0))
    assert plants(output) == plants(clean) and plants(clean)


def test_a_search_against_a_broken_api_exits_non_zero_naming_the_url(qgis, tmp_path):
    """A landing page that is a JSON list and a redirect loop, through the command line: exit code 1, the reason
    with the URL on stderr, no traceback, no output."""
    import local_servers
    server = local_servers.MisbehavingServer({"/": {"json": ["not", "a", "catalog"]}, "/loop/": {"redirect": "/loop/"}},
                                             tmp_path / "server")
    try:
        for root, says in ((server.url, "answered a JSON list"), (server.url + "/loop", "redirect loop")):
            completed = qgis.run("run", "fusionpv:searchimagery", "--", "STAC_API=" + root,
                                 "EXTENT=16,16.2,47.9,48.2 [EPSG:4326]", "OUTPUT=" + str(tmp_path / "found.json"))
            said = completed.stdout + completed.stderr
            assert completed.returncode != 0 and says in said and "STAC_API" in said, said
            assert "Traceback" not in said and not (tmp_path / "found.json").exists()
    finally:
        server.stop()
