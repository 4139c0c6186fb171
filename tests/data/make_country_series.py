"""Rebuild the country data of the region tests of plants over time (needs GDAL and the shared data):

- ``austria_pv/country_series.npz``: the real 2022 series of all 28 Austrian chips, for each chip and month its
  clearest date (the most pixels of SCL classes 4, 5, 6), as int16 DN (fill 32767): per chip ``<id>_<band>``
  (t, rows, cols) for the six role bands and SCL, ``<id>_days`` (days since 1990-01-01), ``<id>_geotransform`` and
  ``<id>_epsg`` (32632 or 32633: two UTM zones).
- ``austria_pv/osm_pv_austria.gpkg``: the OpenStreetMap PV polygons of Austria (the country-wide prior layer).

Usage: ``python3 tests/data/make_country_series.py ../shared/data``."""
import glob
import os
import shutil
import sys

import numpy as np
from osgeo import gdal

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "austria_pv")
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")
CLEAR_CLASSES = (4, 5, 6)
EPSG_BY_ZONE = {"32632": 32632, "32633": 32633}


def month_of(day):
    """Month (1–12) of a day counted from 1990-01-01."""
    import datetime
    return (datetime.date(1990, 1, 1) + datetime.timedelta(days=int(day))).month


def chip_arrays(path):
    """The role bands and SCL of one chip's netCDF at its clearest date of each month."""
    variables = {name: gdal.Open('NETCDF:"%s":%s' % (path, name)) for name in BANDS}
    scl = variables["SCL"].ReadAsArray()
    days = np.array([float(variables["B02"].GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t"))
                     for i in range(scl.shape[0])])
    clear = np.isin(scl, CLEAR_CLASSES).mean(axis=(1, 2))
    picked = sorted(max((t for t in range(len(days)) if month_of(days[t]) == month), key=lambda t: clear[t])
                    for month in sorted({month_of(day) for day in days}))
    arrays = {name: variables[name].ReadAsArray()[picked].astype(np.int16) for name in BANDS}
    arrays["days"] = days[picked].astype(np.int32)
    arrays["geotransform"] = np.array(variables["B02"].GetGeoTransform())
    projection = variables["B02"].GetProjection()
    arrays["epsg"] = np.array(next(code for zone, code in EPSG_BY_ZONE.items() if zone in projection))
    return arrays


def main(data):
    arrays = {}
    for path in sorted(glob.glob(os.path.join(data, "austria_pv", "netcdf", "S2_2022_*.nc"))):
        chip = os.path.basename(path)[len("S2_2022_"):-len(".nc")]
        for name, values in chip_arrays(path).items():
            arrays["%s_%s" % (chip, name)] = values
    np.savez_compressed(os.path.join(HERE, "country_series.npz"), **arrays)
    shutil.copyfile(os.path.join(data, "austria_pv", "labels", "osm_pv_austria.gpkg"),
                    os.path.join(HERE, "osm_pv_austria.gpkg"))


if __name__ == "__main__":
    main(sys.argv[1])
