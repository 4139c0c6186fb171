"""Rebuild ``farmland_flanders/flanders_series.npz`` from the shared data (needs GDAL): the real Sentinel-2 L2A
series of Flanders farmland and a village (WorldCereal test resources, MIT; see ATTRIBUTION.md), no PV in it. Kept:
the acquisitions with a clear observation (SCL 4, 5 or 6) of at least a tenth of the patch, as the six role bands
(DN, int16, (t, rows, cols)), the clear mask, the dates (days since 1990-01-01) and the parcel register (crop codes).

Usage: ``python3 tests/data/make_flanders_arrays.py ../shared/data/farmland_flanders``."""
import datetime
import glob
import os
import sys

import numpy as np
from osgeo import gdal

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "farmland_flanders")
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
CLEAR_CLASSES = (4, 5, 6)
FILL = 32767
MIN_CLEAR_SHARE = 0.1


def main(folder):
    (path,) = glob.glob(os.path.join(folder, "S2_flanders_*.nc"))
    (labels,) = glob.glob(os.path.join(folder, "crop_type_*.tif"))
    first = gdal.Open('NETCDF:"%s":%s' % (path, BANDS[0]))
    days = np.array([float(first.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t"))
                     for i in range(first.RasterCount)])
    dn = {name: gdal.Open('NETCDF:"%s":%s' % (path, name)).ReadAsArray() for name in BANDS}
    clear = np.isin(gdal.Open('NETCDF:"%s":SCL' % path).ReadAsArray(), CLEAR_CLASSES)
    clear &= np.all([band != FILL for band in dn.values()], axis=0)
    kept = clear.mean(axis=(1, 2)) >= MIN_CLEAR_SHARE
    arrays = {name: band[kept].astype(np.int16) for name, band in dn.items()}
    arrays.update(clear=clear[kept], days=days[kept].astype(np.int32),
                  crop_type=gdal.Open(labels).ReadAsArray().astype(np.uint16))
    os.makedirs(HERE, exist_ok=True)
    np.savez_compressed(os.path.join(HERE, "flanders_series.npz"), **arrays)
    dates = [datetime.date(1990, 1, 1) + datetime.timedelta(days=int(day)) for day in arrays["days"]]
    print("%d of %d acquisitions kept, %s to %s" % (kept.sum(), kept.size, min(dates), max(dates)))


if __name__ == "__main__":
    main(sys.argv[1])
