"""Sentinel-2 product metadata, band file names and the clear-sky median."""
import datetime

import numpy as np
import pytest

from fusion_pv_mapping.core import composite, s2_products
from safe_metadata import metadata_xml


@pytest.mark.parametrize("level", ["L1C", "L2A"])
def test_metadata_of_baseline_04_gives_the_offsets(level):
    metadata = s2_products.parse_product_metadata(metadata_xml(level, "04.00", datetime.date(2022, 6, 14)))
    assert metadata.level == level and metadata.date == datetime.date(2022, 6, 14)
    assert metadata.baseline == "04.00" and metadata.baseline_at_least_04 and metadata.quantification == 10000
    assert metadata.offsets["B8A"] == -1000 and metadata.offsets["B12"] == -1000 and len(metadata.offsets) == 13


def test_older_baselines_have_no_offset():
    metadata = s2_products.parse_product_metadata(
        metadata_xml("L1C", "02.14", datetime.date(2016, 1, 12), offsets=False))
    assert metadata.offsets == {} and not metadata.baseline_at_least_04


@pytest.mark.parametrize("name, band", [
    ("T33UWP_20220614T100031_B02_10m.jp2", "B02"), ("T33UWP_20220614T100031_B8A_20m.jp2", "B8A"),
    ("T18SVG_20160112T155632_B11.jp2", "B11"), ("s2_B12.tif", "B12"), ("T33UWP_20220614T100031_SCL_20m.jp2", "SCL"),
    ("S2_B04.TIF", "B04"), ("T33UWP_20220614T100031_TCI_10m.jp2", None), ("MTD_TL.xml", None),
    ("T33UWP_20220614T100031_AOT_10m.jp2", None)])
def test_bands_from_file_names(name, band):
    assert s2_products.band_of_file(name) == band


def test_the_finest_file_of_a_band_is_chosen():
    paths = ["R10m/x_B02_10m.jp2", "R20m/x_B02_20m.jp2", "R60m/x_B02_60m.jp2", "R20m/x_B11_20m.jp2",
             "R60m/x_B11_60m.jp2", "R20m/x_SCL_20m.jp2", "R60m/x_SCL_60m.jp2", "R10m/x_TCI_10m.jp2"]
    assert s2_products.choose_band_files(paths) == {"B02": "R10m/x_B02_10m.jp2", "B11": "R20m/x_B11_20m.jp2",
                                                    "SCL": "R20m/x_SCL_20m.jp2"}
    with pytest.raises(ValueError, match="Two files hold B02"):
        s2_products.choose_band_files(["a/B02.tif", "b/B02.tif"], lambda p: 10)
    assert s2_products.stack_order({"SCL", "B12", "B8A", "B08", "B01"}) == ["B01", "B08", "B8A", "B12", "SCL"]


def test_median_of_clear_observations_rounds_half_to_even():
    values = np.array([[[10, 11]], [[13, 12]], [[100, 7]], [[11, 0]]], np.int16)  # (t=4, 1, 2)
    scl = np.array([[[4, 4]], [[5, 6]], [[9, 4]], [[4, 8]]])
    medians, count = composite.composite({"B02": values}, scl)
    # pixel 0: clear 10, 13, 11 -> 11; pixel 1: clear 11, 12, 7 -> 11
    assert medians["B02"].tolist() == [[11, 11]] and count.tolist() == [[3, 3]]
    even = np.array([[[10]], [[13]]], np.int16)  # mean 11.5 -> 12 (half to even)
    odd_mean = np.array([[[10]], [[15]]], np.int16)  # mean 12.5 -> 12
    clear = np.ones((2, 1, 1), int) * 4
    assert composite.composite({"B": even}, clear)[0]["B"][0, 0] == 12
    assert composite.composite({"B": odd_mean}, clear)[0]["B"][0, 0] == 12


def test_pixels_without_clear_observation_get_nodata():
    values = np.array([[[5, 32767]], [[6, 32767]]], np.int16)
    scl = np.array([[[9, 4]], [[3, 5]]])
    medians, count = composite.composite({"B04": values}, scl, nodata=32767)
    assert medians["B04"].tolist() == [[composite.OUTPUT_NODATA, composite.OUTPUT_NODATA]]
    assert count.tolist() == [[0, 2]]  # clear by SCL, though the band itself is nodata there
    keep = np.array([True, False])
    values = np.array([[[5]], [[7]]], np.int16)
    assert composite.composite({"B": values}, np.full((2, 1, 1), 4), keep=keep)[0]["B"][0, 0] == 5
