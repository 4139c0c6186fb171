"""fusionpv:stackbands and fusionpv:clearcomposite on real files, and the eo-learn scenes through fusionpv:andpi."""
import datetime
import os
import shutil
import statistics

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import QgsProcessingException

from fusion_pv_mapping.core.ndpi import ndpi_from_dn
from fusion_pv_mapping.core.bands import ROLES
from safe_fixture import CROP, crop_band, make_safe

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
NETCDF = os.path.join(DATA, "austria_pv", "netcdf")
EOLEARN = os.path.join(DATA, "s2_scenes", "reference_scene_0.tif")


def run(algorithm, parameters, feedback):
    import processing
    return processing.run("fusionpv:" + algorithm, parameters, feedback=feedback)


def bands_of(path):
    dataset = gdal.Open(path)
    return {dataset.GetRasterBand(i + 1).GetDescription(): dataset.GetRasterBand(i + 1).ReadAsArray()
            for i in range(dataset.RasterCount)}, dataset


def nearest_20m(band_20m, shape):
    """20 m values on the crop's 10 m grid by position: the 20 m grid starts 10 m west of the 10 m one."""
    rows = np.arange(shape[0]) // 2
    cols = (np.arange(shape[1]) + 1) // 2
    return band_20m[rows][:, cols]


def test_virginia_folder_stacks_with_bit_identical_10m_bands(fusionpv, feedback, tmp_path):
    output = str(tmp_path / "stack.tif")
    run("stackbands", {"INPUT": CROP, "OUTPUT": output}, feedback)
    bands, dataset = bands_of(output)
    assert list(bands) == ["B02", "B03", "B04", "B08", "B11", "B12"]
    for name in ("B02", "B03", "B04", "B08"):
        source, template = crop_band(name)
        assert np.array_equal(bands[name], source.astype(np.int16))
    assert dataset.GetGeoTransform() == template.GetGeoTransform()
    b11, _ = crop_band("B11")
    assert np.array_equal(bands["B11"], nearest_20m(b11, bands["B02"].shape).astype(np.int16))
    metadata = dataset.GetMetadata()
    assert metadata["LEVEL"] == "L1C" and metadata["DATE"] == "2016-01-12" and metadata["OFFSET_REMOVED"] == "none"
    assert dataset.GetRasterBand(1).GetNoDataValue() == -32768
    assert any("no product metadata" in w for w in feedback.warnings)


def test_twenty_metre_stack_keeps_20m_bands_and_averages_10m_ones(fusionpv, feedback, tmp_path):
    output = str(tmp_path / "stack20.tif")
    run("stackbands", {"INPUT": CROP, "RESOLUTION": 1, "OUTPUT": output}, feedback)
    bands, dataset = bands_of(output)
    b11, template = crop_band("B11")
    assert dataset.GetGeoTransform() == template.GetGeoTransform()
    assert np.array_equal(bands["B11"], b11.astype(np.int16))
    b02, _ = crop_band("B02")  # 20 m pixel (1, 1) covers 10 m rows 2–3, columns 1–2
    assert abs(bands["B02"][1, 1] - b02[2:4, 1:3].mean()) <= 0.5  # GDAL's average, rounded


@pytest.mark.parametrize("level", ["L2A", "L1C"])
def test_baseline_04_offset_is_removed_exactly(fusionpv, feedback, tmp_path, level):
    safe = make_safe(str(tmp_path), level, "04.00")
    stacks = {}
    for form in ("folder", "zip", "xml"):
        path = {"folder": safe, "xml": os.path.join(safe, "MTD_MSI%s.xml" % level),
                "zip": shutil.make_archive(str(tmp_path / "product"), "zip", str(tmp_path),
                                           os.path.basename(safe))}[form]
        output = str(tmp_path / ("stack_%s.tif" % form))
        run("stackbands", {"INPUT": path, "OUTPUT": output}, feedback)
        stacks[form], dataset = bands_of(output)
    for name in ("B02", "B08"):
        source, _ = crop_band(name)
        expected = np.where(source == 0, -32768, source.astype(np.int32) - 1000)
        assert np.array_equal(stacks["folder"][name], expected)
    assert all(np.array_equal(stacks["folder"][b], stacks[f][b]) for f in ("zip", "xml") for b in stacks[f])
    assert dataset.GetMetadata()["LEVEL"] == level and "B02 -1000" in dataset.GetMetadata()["OFFSET_REMOVED"]
    assert ("SCL" in stacks["folder"]) == (level == "L2A")
    if level == "L2A":
        assert set(np.unique(stacks["folder"]["SCL"])) <= {4, 5, 9}  # no offset on the classification


def test_older_baseline_keeps_the_values(fusionpv, feedback, tmp_path):
    safe = make_safe(str(tmp_path), "L1C", "02.14", datetime.date(2016, 1, 12), offsets=False)
    output = str(tmp_path / "stack.tif")
    run("stackbands", {"INPUT": safe, "OUTPUT": output}, feedback)
    bands, dataset = bands_of(output)
    assert np.array_equal(bands["B04"], crop_band("B04")[0].astype(np.int16))
    assert dataset.GetMetadata()["OFFSET_REMOVED"] == "none" and not feedback.warnings


def test_baseline_04_without_offsets_warns_and_assumes_minus_1000(fusionpv, feedback, tmp_path):
    safe = make_safe(str(tmp_path), "L2A", "04.00", offsets=False)
    output = str(tmp_path / "stack.tif")
    run("stackbands", {"INPUT": safe, "OUTPUT": output}, feedback)
    bands, _ = bands_of(output)
    assert bands["B03"][50, 50] == int(crop_band("B03")[0][50, 50]) - 1000  # a Python int: no uint16 wrap
    assert any("assuming the offset -1000" in w for w in feedback.warnings)


def test_extent_clips_the_stack(fusionpv, feedback, tmp_path):
    _, template = crop_band("B02")
    x0, _, _, y0, _, _ = template.GetGeoTransform()
    output = str(tmp_path / "clip.tif")
    run("stackbands", {"INPUT": CROP, "OUTPUT": output,
                       "EXTENT": "%f,%f,%f,%f [EPSG:32618]" % (x0 + 100, x0 + 600, y0 - 800, y0 - 300)}, feedback)
    bands, dataset = bands_of(output)
    assert bands["B02"].shape == (50, 50) and dataset.GetGeoTransform()[0] == x0 + 100
    assert np.array_equal(bands["B02"], crop_band("B02")[0][30:80, 10:60].astype(np.int16))


def test_stack_errors(fusionpv, feedback, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing here")
    with pytest.raises(QgsProcessingException, match="no Sentinel-2 band file found"):
        run("stackbands", {"INPUT": str(tmp_path / "empty"), "OUTPUT": str(tmp_path / "a.tif")}, feedback)
    mixed = tmp_path / "mixed"
    shutil.copytree(CROP, str(mixed))
    gdal.Warp(str(mixed / "s2_B12.tif"), os.path.join(CROP, "s2_B12.tif"), dstSRS="EPSG:4326")
    with pytest.raises(QgsProcessingException, match="different coordinate reference systems"):
        run("stackbands", {"INPUT": str(mixed), "OUTPUT": str(tmp_path / "b.tif")}, feedback)
    assert not os.path.exists(str(tmp_path / "b.tif"))


def test_eolearn_reflectance_scene_through_andpi(fusionpv, feedback, tmp_path):
    """13-band L1C reflectance (0–1) from eo-learn: roles from its band descriptions, SCALE = 1."""
    output = str(tmp_path / "ndpi.tif")
    run("andpi", {"INPUT": EOLEARN, "SCALE": 1, "OUTPUT": output}, feedback)
    bands, _ = bands_of(EOLEARN)
    expected, valid = ndpi_from_dn(dict(zip(ROLES, (bands[b] for b in ("B02", "B03", "B04", "B08", "B11", "B12")))),
                                   scale=1.0)
    written = bands_of(output)[0]["NDPI"]
    assert valid.all() and np.allclose(written, expected, rtol=1e-6)


def independent_median(path, clear_classes=(4, 5, 6), keep=None):
    """Per-pixel median of clear observations with Python's statistics.median, band by band."""
    scl = gdal.Open('NETCDF:"%s":SCL' % path).ReadAsArray()
    out = {}
    for band in ("B02", "B04", "B11"):
        values = gdal.Open('NETCDF:"%s":%s' % (path, band)).ReadAsArray()
        result = np.full(values.shape[1:], -32768)
        for r in range(values.shape[1]):
            for c in range(values.shape[2]):
                clear = [int(values[t, r, c]) for t in range(values.shape[0])
                         if scl[t, r, c] in clear_classes and values[t, r, c] != 32767
                         and (keep is None or keep[t])]
                if clear:
                    result[r, c] = round(statistics.median(clear))
        out[band] = result
    return out


@pytest.mark.parametrize("chip", ["101", "102", "1285"])
def test_netcdf_composite_equals_an_independent_median(fusionpv, feedback, tmp_path, chip):
    path = os.path.join(NETCDF, "S2_2022_%s.nc" % chip)
    output, count = str(tmp_path / "composite.tif"), str(tmp_path / "count.tif")
    run("clearcomposite", {"INPUT": [path], "OUTPUT": output, "OUTPUT_COUNT": count}, feedback)
    bands, dataset = bands_of(output)
    assert list(bands)[:4] == ["B01", "B02", "B03", "B04"] and "SCL" not in bands
    source = gdal.Open('NETCDF:"%s":B02' % path)
    assert osr.SpatialReference(wkt=dataset.GetProjection()).IsSame(osr.SpatialReference(wkt=source.GetProjection()))
    assert dataset.GetGeoTransform() == source.GetGeoTransform()
    expected = independent_median(path)
    for band, values in expected.items():
        valid = values != -32768
        assert np.array_equal(bands[band] == -32768, ~valid)
        assert np.abs(bands[band][valid].astype(int) - values[valid]).max() <= 1
    scl = gdal.Open('NETCDF:"%s":SCL' % path).ReadAsArray()
    assert np.array_equal(bands_of(count)[0]["clear observations"], np.isin(scl, (4, 5, 6)).sum(axis=0))


def test_date_range_and_missing_scl(fusionpv, feedback, tmp_path):
    path = os.path.join(NETCDF, "S2_2022_102.nc")
    output = str(tmp_path / "summer.tif")
    run("clearcomposite", {"INPUT": [path], "START_DATE": "2022-06-01", "END_DATE": "2022-08-31",
                           "OUTPUT": output}, feedback)
    days = [float(v) for v in gdal.Open('NETCDF:"%s":B02' % path).GetMetadataItem("NETCDF_DIM_t_VALUES")
            .strip("{}").split(",")]
    dates = [datetime.date(1990, 1, 1) + datetime.timedelta(days=d) for d in days]
    keep = [datetime.date(2022, 6, 1) <= d <= datetime.date(2022, 8, 31) for d in dates]
    assert 0 < sum(keep) < len(keep)
    expected = independent_median(path, keep=keep)["B04"]
    written = bands_of(output)[0]["B04"]
    valid = expected != -32768
    assert np.array_equal(written == -32768, ~valid) and np.abs(written[valid] - expected[valid]).max() <= 1
    no_scl = str(tmp_path / "no_scl.nc")
    gdal.MultiDimTranslate(no_scl, path, format="netCDF", arraySpecs=["B02", "B03", "B04", "B08", "B11", "B12"])
    with pytest.raises(QgsProcessingException, match="has no variable SCL"):
        run("clearcomposite", {"INPUT": [no_scl], "OUTPUT": str(tmp_path / "x.tif")}, feedback)


def test_composite_of_two_l2a_products(fusionpv, feedback, tmp_path):
    first = make_safe(str(tmp_path / "a"), "L2A", "04.00", datetime.date(2022, 6, 14))
    second = make_safe(str(tmp_path / "b"), "L2A", "04.00", datetime.date(2022, 7, 4), roll=7)
    output, count = str(tmp_path / "composite.tif"), str(tmp_path / "count.tif")
    run("clearcomposite", {"INPUT": [first, second], "OUTPUT": output, "OUTPUT_COUNT": count}, feedback)
    bands, _ = bands_of(output)
    a = crop_band("B02")[0].astype(int) - 1000
    b = crop_band("B02", 7)[0].astype(int) - 1000  # the second 'date': the same rows rolled by 7
    clear = np.broadcast_to(np.arange(a.shape[0])[:, None] >= 6, a.shape)  # SCL rows 0–2 (20 m) cloudy in both
    assert np.array_equal(bands["B02"][clear], np.round((a[clear] + b[clear]) / 2).astype(int))
    assert (bands["B02"][~clear] == -32768).all()
    counts = bands_of(count)[0]["clear observations"]
    assert (counts[clear] == 2).all() and (counts[~clear] == 0).all()


def test_composites_and_stacks_feed_the_pv_algorithms(fusionpv, feedback, tmp_path):
    """The band descriptions of both outputs give the band roles: no band numbers needed."""
    median = str(tmp_path / "median.tif")
    run("clearcomposite", {"INPUT": [os.path.join(NETCDF, "S2_2022_101.nc")], "OUTPUT": median}, feedback)
    plants = str(tmp_path / "plants.gpkg")
    run("extractpvplants", {"INPUT": median, "TRUSTED_PRIORS": [os.path.join(DATA, "austria_pv", "pv_mask_101.tif")],
                            "OUTPUT": plants}, feedback)
    assert any("Band roles from band descriptions" in info for info in feedback.infos)
    stack = str(tmp_path / "stack.tif")
    run("stackbands", {"INPUT": CROP, "OUTPUT": stack}, feedback)
    ndpi = str(tmp_path / "ndpi.tif")
    run("andpi", {"INPUT": stack, "OUTPUT": ndpi}, feedback)
    assert bands_of(ndpi)[0]["NDPI"].shape == (200, 200)
