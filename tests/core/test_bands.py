import pytest

from fusion_pv_mapping.core.bands import (BandLayoutError, detect_band_roles, roles_from_band_count,
                                          sentinel2_band_name)


@pytest.mark.parametrize("description, name", [
    ("B2", "B02"), ("B02", "B02"), ("b8", "B08"), ("B8A", "B8A"), ("b8a", "B8A"), ("B11", "B11"),
    ("B12 (2190 nm)", "B12"), ("S2 B04", "B04"), ("S2_B04", "B04"), ("B13", None), ("", None), (None, None),
    ("B08A", None), ("NDVI", None)])
def test_band_names_are_read_from_descriptions(description, name):
    assert sentinel2_band_name(description) == name


def test_roles_come_from_descriptions_in_any_order():
    descriptions = ["B12", "B11", "B8", "B4", "B3", "B2"]
    roles, how = detect_band_roles(descriptions)
    assert roles == {"BLUE": 5, "GREEN": 4, "RED": 3, "NIR": 2, "SWIR1": 1, "SWIR2": 0}
    assert how == "band descriptions"


def test_b8a_is_not_taken_for_b8():
    descriptions = ["B2", "B3", "B4", "B8A", "B11", "B12"]
    with pytest.raises(BandLayoutError, match=r"NIR \(B08\)"):
        detect_band_roles(descriptions)


@pytest.mark.parametrize("count, swir1, nir", [(12, 10, 7), (13, 11, 7), (11, 9, 7)])
def test_earth_engine_layouts_by_band_count(count, swir1, nir):
    roles, how = detect_band_roles([""] * count)
    assert roles["SWIR1"] == swir1 and roles["NIR"] == nir and roles["SWIR2"] == count - 1
    assert roles["BLUE"] == 1 and roles["GREEN"] == 2 and roles["RED"] == 3
    assert "%d-band Earth Engine layout" % count in how


def test_descriptions_win_over_band_count():
    descriptions = ["B02", "B03", "B04", "B08", "B11", "B12", "x", "y", "z", "u", "v", "w"]
    roles, how = detect_band_roles(descriptions)
    assert roles["SWIR2"] == 5 and how == "band descriptions"


def test_band_numbers_override_detection():
    roles, how = detect_band_roles([""] * 12, {"SWIR1": 1, "BLUE": None})
    assert roles["SWIR1"] == 0 and roles["BLUE"] == 1
    assert "band numbers given for SWIR1" in how
    roles, how = detect_band_roles(["a"] * 6, {r: i + 1 for i, r in enumerate(
        ["BLUE", "GREEN", "RED", "NIR", "SWIR1", "SWIR2"])})
    assert roles["SWIR2"] == 5 and how == "band numbers given"


def test_unknown_layout_names_what_was_found():
    with pytest.raises(BandLayoutError) as error:
        detect_band_roles(["B2", "B3", "B4", "NDVI"])
    message = str(error.value)
    assert "4 band(s)" in message and "[B02, B03, B04, NDVI]" in message
    assert "NIR (B08), SWIR1 (B11), SWIR2 (B12)." in message and "BLUE" not in message


def test_band_number_out_of_range_is_an_error():
    with pytest.raises(BandLayoutError, match="Band 14 was chosen for NIR but the raster has 13"):
        detect_band_roles([""] * 13, {"NIR": 14})


def test_unknown_band_count_has_no_layout():
    assert roles_from_band_count(7) == {}
