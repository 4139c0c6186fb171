"""Real scenes of the shared data folder as arrays, for the benchmarks."""
import glob
import os

import numpy as np
from osgeo import gdal

#: Bands of the Virginia L1C folder (B02…B08 at 10 m, B11 and B12 at 20 m).
VIRGINIA_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


def read_array(path):
    """All bands of a raster as an array (bands first)."""
    dataset = gdal.Open(path)
    return dataset.ReadAsArray()


def virginia_bands(data):
    """The Virginia L1C scene as a (6, rows, cols) uint16 array in B2, B3, B4, B8, B11, B12 order on the 10 m grid
    of B02; the 20 m bands (whose grid starts 10 m further west) resampled by nearest neighbour, by position."""
    folder = os.path.join(os.path.dirname(os.path.normpath(data)), "s2_scenes", "virginia_18SVG_20160112_L1C")
    reference = gdal.Open(os.path.join(folder, "s2_B02.tif"))
    x0, dx, _, y0, _, dy = reference.GetGeoTransform()
    bounds = (x0, y0 + dy * reference.RasterYSize, x0 + dx * reference.RasterXSize, y0)
    bands = []
    for name in VIRGINIA_BANDS:
        warped = gdal.Warp("", os.path.join(folder, "s2_%s.tif" % name), format="MEM", outputBounds=bounds,
                           width=reference.RasterXSize, height=reference.RasterYSize, resampleAlg="near")
        bands.append(warped.ReadAsArray())
    return np.stack(bands)


def austrian_chips(data):
    """[(chip id, {"median": array, "bestdate": array}, reference bool mask)] of ``data``/geotiff."""
    chips = []
    for path in sorted(glob.glob(os.path.join(data, "geotiff", "pv_mask_*.tif"))):
        chip = os.path.basename(path)[len("pv_mask_"):-4]
        images = {"median": read_array(os.path.join(data, "geotiff", "S2L2A_2022_clearmedian_%s.tif" % chip)),
                  "bestdate": read_array(os.path.join(data, "geotiff", "S2L2A_bestdate_%s.tif" % chip))}
        chips.append((chip, images, read_array(path) > 0))
    return chips
