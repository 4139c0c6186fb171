"""Rebuild ``austria_pv/series.npz`` from the bundled netCDF time series (needs GDAL): per chip the six role bands
and SCL as (t, rows, cols) arrays, the dates (days since 1990-01-01) and the reference outline, so the core tests
of plants over time run without GDAL."""
import os

import numpy as np
from osgeo import gdal

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "austria_pv")
CHIPS = ("9", "1913", "2004")
VARIABLES = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")


def main():
    arrays = {}
    for chip in CHIPS:
        path = os.path.join(HERE, "netcdf", "S2_2022_%s.nc" % chip)
        for name in VARIABLES:
            dataset = gdal.Open('NETCDF:"%s":%s' % (path, name))
            arrays["%s_%s" % (chip, name)] = dataset.ReadAsArray().astype(np.int16)
        days = [float(dataset.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t")) for i in range(dataset.RasterCount)]
        arrays["%s_days" % chip] = np.array(days, np.int32)
        arrays["%s_reference" % chip] = gdal.Open(os.path.join(HERE, "pv_mask_%s.tif" % chip)).ReadAsArray() > 0
    np.savez_compressed(os.path.join(HERE, "series.npz"), **arrays)


if __name__ == "__main__":
    main()
