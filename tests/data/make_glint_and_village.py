"""Rebuild two real crops for the tests of plants over time and of the candidate test (needs GDAL and the shared
data):

- ``austria_pv/glint_1309.npz``: chip 1309 on its clear dates of September and November 2022 (six role bands, DN,
  int16, (t, rows, cols); clear mask; days since 1990-01-01; reference outline). In November the plant is 2–6 times
  brighter than its surroundings in every band: the glint of its tilted panels under a low sun.
- ``farmland_flanders/village_plant_179.npz``: the 2018 clear-sky median of the Flanders series (its village of
  streets, red roofs and gravel) with the 2022 median pixels of Austrian plant 179 placed at rows 28, columns 2
  (six role bands, DN, int16, (rows, cols); the plant's outline). Bright surroundings where the plant shows no
  higher NDPI and no lower NIR, only the blue of its panels.

Usage: ``python3 tests/data/make_glint_and_village.py ../shared/data``."""
import datetime
import glob
import os
import sys

import numpy as np
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
CLEAR_CLASSES = (4, 5, 6)
FILL = 32767
EPOCH = datetime.date(1990, 1, 1)
GLINT_CHIP, GLINT_MONTHS = "1309", (9, 11)
VILLAGE_CHIP, VILLAGE_AT, VILLAGE_YEAR = "179", (28, 2), 2018


def netcdf_series(path):
    """(DN by band name (t, rows, cols), clear (t, rows, cols), days) of an openEO netCDF series."""
    first = gdal.Open('NETCDF:"%s":%s' % (path, BANDS[0]))
    days = np.array([int(float(first.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t")))
                     for i in range(first.RasterCount)])
    dn = {name: gdal.Open('NETCDF:"%s":%s' % (path, name)).ReadAsArray() for name in BANDS}
    clear = np.isin(gdal.Open('NETCDF:"%s":SCL' % path).ReadAsArray(), CLEAR_CLASSES)
    clear &= np.all([band != FILL for band in dn.values()], axis=0)
    return dn, clear, days


def glint(data):
    dn, clear, days = netcdf_series(os.path.join(data, "austria_pv", "netcdf", "S2_2022_%s.nc" % GLINT_CHIP))
    months = np.array([(EPOCH + datetime.timedelta(days=int(day))).month for day in days])
    kept = np.isin(months, GLINT_MONTHS) & (clear.mean(axis=(1, 2)) > 0.5)
    arrays = {name: band[kept].astype(np.int16) for name, band in dn.items()}
    reference = os.path.join(data, "austria_pv", "geotiff", "pv_mask_%s.tif" % GLINT_CHIP)
    arrays.update(clear=clear[kept], days=days[kept].astype(np.int32),
                  reference=gdal.Open(reference).ReadAsArray() > 0)
    np.savez_compressed(os.path.join(HERE, "austria_pv", "glint_%s.npz" % GLINT_CHIP), **arrays)


def clear_median(values, clear):
    """Per-pixel median of the clear observations (int16 DN)."""
    data = np.where(clear, values, np.nan)
    return np.round(np.nanmedian(data, axis=0)).astype(np.int16)


def village(data):
    (path,) = glob.glob(os.path.join(data, "farmland_flanders", "S2_flanders_*.nc"))
    dn, clear, days = netcdf_series(path)
    year = np.array([(EPOCH + datetime.timedelta(days=int(day))).year == VILLAGE_YEAR for day in days])
    scene = {name: clear_median(band[year], clear[year]) for name, band in dn.items()}
    median = gdal.Open(os.path.join(data, "austria_pv", "geotiff", "S2L2A_2022_clearmedian_%s.tif" % VILLAGE_CHIP))
    names = [median.GetRasterBand(i + 1).GetDescription() for i in range(median.RasterCount)]
    plant = gdal.Open(os.path.join(data, "austria_pv", "geotiff", "pv_mask_%s.tif" % VILLAGE_CHIP)).ReadAsArray() > 0
    rows, cols = np.nonzero(plant)
    window = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    shape = plant[window]
    top, left = VILLAGE_AT
    placed = (slice(top, top + shape.shape[0]), slice(left, left + shape.shape[1]))
    for name in BANDS:
        pixels = median.GetRasterBand(names.index(name) + 1).ReadAsArray()[window]
        scene[name][placed][shape] = pixels[shape]
    outline = np.zeros(scene[BANDS[0]].shape, bool)
    outline[placed] = shape
    np.savez_compressed(os.path.join(HERE, "farmland_flanders", "village_plant_%s.npz" % VILLAGE_CHIP),
                        outline=outline, **scene)


if __name__ == "__main__":
    glint(sys.argv[1])
    village(sys.argv[1])
