"""fusionpv:multisourcestack: GUM's 10 channels on a real Sentinel-2 chip, with Sentinel-1 and DEM rasters in other
CRSs and resolutions, NaN, and missing inputs."""
import math
import os

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import QgsProcessingException

from fusion_pv_mapping.core import multisource

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "austria_pv")
CHIP = os.path.join(DATA, "S2L2A_2022_clearmedian_152.tif")
#: A plane DEM rising 0.3 m per metre eastwards and 0.4 m per metre southwards: slope atan(0.5), facing north-west.
DEM_EAST, DEM_SOUTH = 0.3, 0.4


def run(parameters, feedback):
    import processing
    return processing.run("fusionpv:multisourcestack", parameters, feedback=feedback)


def chip_bounds():
    dataset = gdal.Open(CHIP)
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    return x0, y0 + dy * dataset.RasterYSize, x0 + dx * dataset.RasterXSize, y0, dataset.GetProjection()


def write(path, arrays, geotransform, wkt, descriptions=None, nodata=None):
    dataset = gdal.GetDriverByName("GTiff").Create(path, arrays[0].shape[1], arrays[0].shape[0], len(arrays),
                                                   gdal.GDT_Float32)
    dataset.SetGeoTransform(geotransform)
    dataset.SetProjection(wkt)
    for number, array in enumerate(arrays, start=1):
        band = dataset.GetRasterBand(number)
        band.WriteArray(array)
        if descriptions:
            band.SetDescription(descriptions[number - 1])
        if nodata is not None:
            band.SetNoDataValue(nodata)
    dataset = None
    return path


@pytest.fixture
def s1_ascending(tmp_path):
    """σ⁰ in WGS 84 at about 20 m around the chip, bands VH then VV (found by description): VV −12 dB with a NaN
    block in the western half, VH −30 dB (below the floor)."""
    xmin, ymin, xmax, ymax, wkt = chip_bounds()
    utm = osr.SpatialReference(wkt=wkt)
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs84 = osr.CoordinateTransformation(utm, wgs84)
    (lon0, lat1, _), (lon1, lat0, _) = (to_wgs84.TransformPoint(xmin - 200, ymax + 200),
                                        to_wgs84.TransformPoint(xmax + 200, ymin - 200))
    step = 0.0002
    cols, rows = int((lon1 - lon0) / step) + 1, int((lat1 - lat0) / step) + 1
    vv = np.full((rows, cols), -12.0, np.float32)
    vv[:, : cols // 2] = np.nan
    vh = np.full((rows, cols), -30.0, np.float32)
    return write(str(tmp_path / "s1_asc.tif"), [vh, vv], (lon0, step, 0, lat1, 0, -step), wgs84.ExportToWkt(),
                 ["VH", "VV"]), lon0 + step * (cols // 2), to_wgs84


@pytest.fixture
def dem(tmp_path):
    """A plane DEM at 30 m in the chip's CRS."""
    xmin, ymin, xmax, ymax, wkt = chip_bounds()
    x0, y0 = xmin - 300, ymax + 300
    cols, rows = int((xmax - xmin + 600) / 30) + 1, int((ymax - ymin + 600) / 30) + 1
    x = x0 + 30 * (np.arange(cols) + 0.5)
    y = y0 - 30 * (np.arange(rows) + 0.5)
    heights = 500 + DEM_EAST * (x[None] - x0) + DEM_SOUTH * (y0 - y[:, None])
    return write(str(tmp_path / "dem.tif"), [heights.astype(np.float32)], (x0, 30, 0, y0, 0, -30), wkt)


def test_channels_follow_gum_formulas(fusionpv, feedback, tmp_path, s1_ascending, dem):
    s1_path, nan_east_of_lon, to_wgs84 = s1_ascending
    output = str(tmp_path / "stack.tif")
    run({"S2_INPUT": CHIP, "S1_ASCENDING": s1_path, "DEM": dem, "OUTPUT": output}, feedback)
    dataset = gdal.Open(output)
    assert [dataset.GetRasterBand(b).GetDescription() for b in range(1, 11)] == list(multisource.CHANNELS)
    stack = dataset.ReadAsArray()
    assert stack.dtype == np.float32 and stack.shape[1:] == (dataset.RasterYSize, dataset.RasterXSize)
    chip = gdal.Open(CHIP)
    by_name = {chip.GetRasterBand(b).GetDescription(): chip.GetRasterBand(b).ReadAsArray() for b in range(1, 12)}
    for channel, band in zip(stack[:4], ("B04", "B03", "B02", "B08")):
        assert np.allclose(channel, np.clip(by_name[band] / 10000.0, 0, 1), atol=1e-6)
    # VV: −12 dB → 13 / 25 east of the NaN block, the floor (0) inside it; VH below the floor → 0
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    lon = np.array([to_wgs84.TransformPoint(x0 + dx * (c + 0.5), y0 + dy * 5)[0] for c in range(dataset.RasterXSize)])
    east, west = lon > nan_east_of_lon + 0.0004, lon < nan_east_of_lon - 0.0004
    assert east.any() and west.any()
    assert np.allclose(stack[4][:, east], 13 / 25, atol=1e-5) and np.all(stack[4][:, west] == 0)
    assert np.all(stack[5] == 0)
    assert np.all(stack[6:8] == 0)  # no descending pass
    inner = (slice(2, -2), slice(2, -2))
    assert np.allclose(stack[8][inner], math.degrees(math.atan(math.hypot(DEM_EAST, DEM_SOUTH))) / 90, atol=1e-3)
    # downhill faces north-west: aspect atan2 of the downhill direction (−0.3 east, +0.4 north), clockwise from north
    expected_aspect = math.degrees(math.atan2(-DEM_EAST, DEM_SOUTH)) % 360
    assert np.allclose(stack[9][inner], expected_aspect / 360, atol=1e-3)


def test_missing_inputs_give_zero_channels(fusionpv, feedback, tmp_path):
    output = str(tmp_path / "s2_only.tif")
    run({"S2_INPUT": CHIP, "OUTPUT": output}, feedback)
    stack = gdal.Open(output).ReadAsArray()
    assert np.all(stack[4:] == 0) and np.all(np.isfinite(stack[:4]))
    assert any("DEM: not given" in line for line in feedback.infos)


def test_one_band_s1_is_refused(fusionpv, feedback, tmp_path, dem):
    output = str(tmp_path / "never.tif")
    with pytest.raises(QgsProcessingException, match="S1_DESCENDING: .* needs VV and VH"):
        run({"S2_INPUT": CHIP, "S1_DESCENDING": dem, "OUTPUT": output}, feedback)
    assert not os.path.exists(output)
