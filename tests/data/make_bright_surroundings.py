"""Rebuild ``austria_pv/bright_surroundings_1953.npz`` from the shared data (needs GDAL): chip 1953 on three clear
2022 dates whose surroundings are brighter in NDPI than the plant (bare soil in March, harvested fields in June and
August), as the six role bands (DN, int16, (t, rows, cols)), the dates and the reference outline.

Usage: ``python3 tests/data/make_bright_surroundings.py ../shared/data/austria_pv``."""
import datetime
import os
import sys

import numpy as np
from osgeo import gdal

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "austria_pv")
CHIP = "1953"
DATES = (datetime.date(2022, 3, 23), datetime.date(2022, 6, 16), datetime.date(2022, 8, 5))
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


def main(data):
    path = os.path.join(data, "netcdf", "S2_2022_%s.nc" % CHIP)
    first = gdal.Open('NETCDF:"%s":%s' % (path, BANDS[0]))
    days = [int(float(first.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t"))) for i in range(first.RasterCount)]
    wanted = [days.index((date - datetime.date(1990, 1, 1)).days) for date in DATES]
    arrays = {name: gdal.Open('NETCDF:"%s":%s' % (path, name)).ReadAsArray()[wanted].astype(np.int16)
              for name in BANDS}
    arrays["days"] = np.array([days[i] for i in wanted], np.int32)
    arrays["reference"] = gdal.Open(os.path.join(data, "geotiff", "pv_mask_%s.tif" % CHIP)).ReadAsArray() > 0
    np.savez_compressed(os.path.join(HERE, "bright_surroundings_%s.npz" % CHIP), **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
