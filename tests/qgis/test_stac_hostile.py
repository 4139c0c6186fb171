"""``fusionpv:searchimagery`` against STAC APIs that misbehave on purpose (``scripts/misbehaving_server.py``):
servers that trickle, hang, inflate, redirect in circles or page in a loop, and answers that are not what STAC
says. Each ends with a clear message naming the URL or the item, or with the right items and a warning; none
with a traceback, a hang or a silent wrong result."""
import json
import threading
import time

import pytest

import local_servers
from fusion_pv_mapping.gisio import stac_search
from test_algorithms import run, run_fails

QUERY = "https://api.stacspec.org/v1.0.0/item-search#query"
SQUARE = {"type": "Polygon", "coordinates": [[[16.0, 48.0], [16.1, 48.0], [16.1, 48.1], [16.0, 48.1],
                                              [16.0, 48.0]]]}


def item(number, **properties):
    return {"type": "Feature", "stac_version": "1.0.0", "id": "S2B_33UWP_2022060%d_0_L2A" % number,
            "geometry": SQUARE, "bbox": [16.0, 48.0, 16.1, 48.1], "links": [], "assets": {},
            "properties": dict({"datetime": "2022-06-0%dT10:00:00Z" % number, "eo:cloud_cover": 10.0},
                               **properties)}


def page(items, next_link=None, **extra):
    links = [{"rel": "next", "href": next_link, "method": "GET"}] if next_link else []
    return dict({"type": "FeatureCollection", "features": items, "links": links}, **extra)


LANDING = {"json": {"type": "Catalog", "id": "hostile", "conformsTo": [QUERY], "links": []}}


@pytest.fixture
def api(tmp_path):
    """Start a misbehaving STAC API: ``api(routes)``; every one started is stopped afterwards."""
    servers = []

    def start(routes):
        servers.append(local_servers.MisbehavingServer(routes, tmp_path / "server"))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def quick(monkeypatch):
    """Deadlines and retries short enough for a test: 2 s a request, 2 tries, 0.1 s before the retry."""
    monkeypatch.setattr(stac_search, "DEADLINE_SECONDS", 2)
    monkeypatch.setattr(stac_search, "TRIES", 2)
    monkeypatch.setattr(stac_search, "FIRST_RETRY_SECONDS", 0.1)


def search(server, tmp_path, feedback, **parameters):
    return dict({"STAC_API": server.url, "EXTENT": "16,16.2,47.9,48.2 [EPSG:4326]", "START_DATE": "2022-01-01",
                 "END_DATE": "2022-12-31", "OUTPUT": str(tmp_path / "found.json"),
                 "OUTPUT_FOOTPRINTS": str(tmp_path / "footprints.gpkg")}, **parameters)


def found_ids(tmp_path):
    with open(str(tmp_path / "found.json"), encoding="utf-8") as stream:
        return [feature["id"] for feature in json.load(stream)["features"]]


@pytest.mark.parametrize("behaviour", [{"trickle": json.dumps(LANDING["json"]), "seconds_per_byte": 1},
                                       {"hang": True}], ids=["one byte a second", "never answers"])
def test_a_slow_or_silent_server_is_given_up_at_the_deadline_after_every_try(fusionpv, feedback, tmp_path, api,
                                                                            quick, behaviour):
    server = api({"/": behaviour})
    started = time.monotonic()
    message = run_fails("searchimagery", search(server, tmp_path, feedback), feedback)
    assert time.monotonic() - started < 2 * 2 + 3
    assert "STAC_API" in message and server.url in message and "did not answer within 2 s" in message, message
    assert server.requests().count("GET /") == 2, (server.requests(), feedback.warnings, message)  # every try
    assert any("trying again" in warning for warning in feedback.warnings)


def test_cancel_stops_a_request_that_hangs(fusionpv, feedback, tmp_path, api):
    server = api({"/": {"hang": True}})
    threading.Timer(1.0, feedback.cancel).start()
    started = time.monotonic()
    message = run_fails("searchimagery", search(server, tmp_path, feedback), feedback)
    assert "Cancelled" in message and time.monotonic() - started < 5


def test_an_answer_that_inflates_beyond_the_cap_is_refused(fusionpv, feedback, tmp_path, api, quick):
    """200 KB of gzip that would inflate to 200 MB: refused once the cap (64 MB) is passed, not held in memory."""
    server = api({"/": {"gzip_bomb_mb": 0.2}})
    message = run_fails("searchimagery", search(server, tmp_path, feedback), feedback)
    assert "answered more than 64 MB" in message and server.url in message, message
    assert server.requests().count("GET /") == 1  # a retry would get the same


def test_a_redirect_loop_is_named_as_one(fusionpv, feedback, tmp_path, api, quick):
    server = api({"/": {"redirect": "/"}})
    message = run_fails("searchimagery", search(server, tmp_path, feedback), feedback)
    assert "redirect loop" in message and "is it a STAC API" not in message, message


def test_a_next_link_that_loops_ends_the_search_with_a_warning_and_each_item_once(fusionpv, feedback, tmp_path,
                                                                                 api):
    server = api({"/": LANDING, "/search": {"json": page([item(1), item(2)], "{base}/search?page=2")}})
    run("searchimagery", search(server, tmp_path, feedback), feedback)
    assert found_ids(tmp_path) == [item(1)["id"], item(2)["id"]]
    assert any("paging loops" in warning for warning in feedback.warnings), feedback.warnings
    assert len([line for line in server.requests() if "/search" in line]) == 2


@pytest.mark.parametrize("answer, says", [
    ({"json": ["a", "list"]}, "answered a JSON list, not an object"),
    ({"body": "<html>a login page</html>"}, "did not answer JSON"),
], ids=["a list", "HTML"])
def test_a_landing_page_that_is_not_a_json_object_is_refused_naming_the_url(fusionpv, feedback, tmp_path, api,
                                                                             answer, says):
    server = api({"/": answer})
    message = run_fails("searchimagery", search(server, tmp_path, feedback), feedback)
    assert "STAC_API" in message and server.url in message and says in message, message


@pytest.mark.parametrize("answer, says", [
    (page("not a list"), "no FeatureCollection with a list of features"),
    (page([item(1), "text", 3]), "2 feature(s) that are not STAC items"),
    ({"type": "Feature"}, "no FeatureCollection"),
], ids=["features not a list", "features not objects", "not a FeatureCollection"])
def test_a_search_page_that_is_not_an_item_collection_is_refused_naming_the_url(fusionpv, feedback, tmp_path, api,
                                                                                answer, says):
    server = api({"/": LANDING, "/search": {"json": answer}})
    message = run_fails("searchimagery", search(server, tmp_path, feedback), feedback)
    assert server.url + "/search" in message and says in message, message


def test_odd_metadata_of_items_is_told_not_fatal(fusionpv, feedback, tmp_path, api):
    """numberMatched as text, a cloud cover "n/a", an item with an empty geometry, one with properties that are
    a list: the items that can be placed in time are kept, each oddity is warned of naming the items."""
    empty = dict(item(3), geometry={"type": "Polygon", "coordinates": []})
    listed = dict(item(4), properties=["not", "an", "object"])
    server = api({"/": LANDING, "/search": {"json": page([item(1), item(2, **{"eo:cloud_cover": "n/a"}), empty,
                                                          listed], numberMatched="four")}})
    run("searchimagery", search(server, tmp_path, feedback), feedback)
    assert found_ids(tmp_path) == [item(n)["id"] for n in (1, 2, 3)]
    warnings = " ".join(feedback.warnings)
    assert "eo:cloud_cover" in warnings and item(2)["id"] in warnings
    assert "no acquisition date" in warnings and item(4)["id"] in warnings
    assert "no polygon geometry" in warnings and item(3)["id"] in warnings


def test_an_unknown_collection_is_named_as_such(fusionpv, feedback, tmp_path, api):
    server = api({"/": LANDING, "/search": {"json": page([])},
                  "/collections/sentinel-2-l2a": {"json": {"id": "sentinel-2-l2a"}}})
    message = run_fails("searchimagery", search(server, tmp_path, feedback, COLLECTION="sentinel-2-l3a"), feedback)
    assert message.startswith("COLLECTION:") and "sentinel-2-l3a" in message, message
    message = run_fails("searchimagery", search(server, tmp_path, feedback), feedback)
    assert message.startswith("EXTENT, START_DATE, END_DATE"), message


@pytest.mark.parametrize("extent, boxes", [
    ("179,-179,-17,-16 [EPSG:4326]", [[179.0, -17.0, 180.0, -16.0], [-180.0, -17.0, -179.0, -16.0]]),
    ("16,16.2,47.9,48.2 [EPSG:4326]", [[16.0, 47.9, 16.2, 48.2]]),
], ids=["over the antimeridian", "anywhere else"])
def test_an_extent_across_the_antimeridian_is_searched_as_two_boxes(fusionpv, feedback, tmp_path, api, extent,
                                                                    boxes):
    server = api({"/": LANDING, "/search": {"json": page([item(1)])}})
    run("searchimagery", search(server, tmp_path, feedback, EXTENT=extent), feedback)
    asked = [json.loads(line.split(" ", 2)[2])["bbox"] for line in server.requests() if line.startswith("POST")]
    assert [value for box in asked for value in box] == pytest.approx([value for box in boxes for value in box])
    assert found_ids(tmp_path) == [item(1)["id"]]  # found by both searches, kept once


def test_a_projected_extent_across_the_antimeridian_is_two_boxes_too(fusionpv, feedback, tmp_path, api):
    """Around Fiji in the Pacific-centred Mercator EPSG:3832 (centred on 150° E): about 178.5° E to 178.5° W."""
    server = api({"/": LANDING, "/search": {"json": page([item(1)])}})
    run("searchimagery", search(server, tmp_path, feedback, EXTENT="3173000,3506000,-2000000,-1800000 [EPSG:3832]"),
        feedback)
    asked = [json.loads(line.split(" ", 2)[2])["bbox"] for line in server.requests() if line.startswith("POST")]
    assert len(asked) == 2 and asked[0][2] == 180.0 and asked[1][0] == -180.0, asked
    assert 178 < asked[0][0] < 179 and -179 < asked[1][2] < -178
