"""Minimal SAFE products built from real band files (the bundled Virginia L1C crops), for the tests.

The band values are real; the product structure and metadata (level, baseline, offsets) are what a test needs.
"""
import datetime
import os

import numpy as np
from osgeo import gdal

from safe_metadata import metadata_xml

CROP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "s2_scenes", "virginia_18SVG_20160112_L1C_crop")
CROP_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


def crop_band(name, roll=0):
    """A real band of the Virginia crop (rows rolled by ``roll`` to make another 'date'), and its dataset."""
    dataset = gdal.Open(os.path.join(CROP, "s2_%s.tif" % name))
    return np.roll(dataset.ReadAsArray(), roll, axis=0), dataset


def write_band(path, array, template, driver="JP2OpenJPEG"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    memory = gdal.GetDriverByName("MEM").Create("", array.shape[1], array.shape[0], 1, gdal.GDT_UInt16
                                                if array.dtype != np.uint8 else gdal.GDT_Byte)
    memory.SetGeoTransform(template.GetGeoTransform())
    memory.SetProjection(template.GetProjection())
    memory.GetRasterBand(1).WriteArray(array)
    options = ["QUALITY=100", "REVERSIBLE=YES"] if driver == "JP2OpenJPEG" else []
    gdal.Translate(path, memory, format=driver, creationOptions=options)


def make_safe(folder, level="L2A", baseline="04.00", date=datetime.date(2022, 6, 14), offsets=True, roll=0):
    """Write a minimal SAFE folder (JPEG 2000 bands, metadata); returns its path."""
    stamp = date.strftime("%Y%m%d")
    safe = os.path.join(folder, "S2A_MSI%s_%sT155632_N%s_R111_T18SVG_%sT180000.SAFE" % (
        level, stamp, baseline.replace(".", ""), stamp))
    image = os.path.join(safe, "GRANULE", "%s_T18SVG_A000001_%sT155632" % (level, stamp), "IMG_DATA")
    prefix = "T18SVG_%sT155632" % stamp
    for band in CROP_BANDS:
        values, template = crop_band(band, roll)
        resolution = 10 if template.GetGeoTransform()[1] == 10 else 20
        name = ("R%dm/%s_%s_%dm.jp2" % (resolution, prefix, band, resolution)) if level == "L2A" else \
            "%s_%s.jp2" % (prefix, band)
        write_band(os.path.join(image, name), values, template)
    if level == "L2A":
        b11, template = crop_band("B11", roll)
        b12, _ = crop_band("B12", roll)
        scl = np.where(b11 > b12, 5, 4).astype(np.uint8)  # a scene classification of not vegetated / vegetation
        scl[:3] = 9  # the top rows 'cloudy'
        write_band(os.path.join(image, "R20m", "%s_SCL_20m.jp2" % prefix), scl, template)
    with open(os.path.join(safe, "MTD_MSI%s.xml" % level), "w") as handle:
        handle.write(metadata_xml(level, baseline, date, offsets))
    return safe
