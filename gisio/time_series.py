"""Sentinel-2 L2A time series: one or more openEO netCDF files, or several stacks or products on one grid."""
import datetime
import os

import numpy as np
from qgis.core import QgsProcessingException

from ..core import composite
from ..core.bands import S2_BANDS, sentinel2_band_name
from ..core.s2_products import date_in_name
from .messages import tr
from .raster import RasterReadError, band_nodata, grid_of_dataset, open_raster, raster_info, read_rows
from .s2_files import check_one_crs, find_bands, output_grid, write_stack

#: Time units of openEO netCDF files, with their epoch.
EPOCHS = {"days since 1990-01-01": datetime.date(1990, 1, 1), "days since 1970-01-01": datetime.date(1970, 1, 1)}


class TimeSeries:
    """A time series: for each band name (and for SCL) the (GDAL path, band number or None = all bands) sources
    whose bands, in order, are the dates; with the dates, the grid and the input nodata."""

    def __init__(self, sources, scl, dates, grid, nodata=None):
        self.sources, self.scl, self.dates, self.grid, self.nodata = sources, scl, dates, grid, nodata

    def read(self, name, rows):
        """(t, rows, cols) values of a band (or "SCL") for the rows ``rows``."""
        sources = self.scl if name == "SCL" else self.sources[name]
        return np.concatenate([read_rows(path, rows, band) for path, band in sources], axis=0)


def netcdf_variables(path):
    """The variables (subdatasets) of an openEO netCDF time series: {name: GDAL path}, the grid, and the time
    values of its bands (from ``NETCDF_DIM_t``) with their units."""
    dataset = open_raster(path)
    variables = {name.rsplit(":", 1)[-1]: name for name, _ in dataset.GetSubDatasets()}
    if not variables:
        raise RasterReadError("%s holds no netCDF variables." % path)
    first = open_raster(next(iter(variables.values())))
    times = [float(first.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t") or "nan")
             for i in range(first.RasterCount)]
    return variables, grid_of_dataset(first), times, first.GetMetadataItem("t#units") or ""


def netcdf_series(paths, parameter="INPUT"):
    """A :class:`TimeSeries` of one or more openEO netCDF files (variables B01…B12, SCL; dims t, y, x) on one
    grid, their dates in file order."""
    series = [one_netcdf_series(path, parameter) for path in paths]
    first = series[0]
    for other, path in zip(series[1:], paths[1:]):
        if other.grid != first.grid or set(other.sources) != set(first.sources):
            raise QgsProcessingException(tr("%s: %s is on another grid or holds other bands than %s; give netCDF "
                                            "files of one area and band set.") % (parameter, path, paths[0]))
    sources = {name: [source for one in series for source in one.sources[name]] for name in first.sources}
    return TimeSeries(sources, [source for one in series for source in one.scl],
                      [date for one in series for date in one.dates], first.grid, first.nodata)


def one_netcdf_series(path, parameter="INPUT"):
    """A :class:`TimeSeries` of one openEO netCDF file."""
    try:
        variables, grid, times, units = netcdf_variables(path)
    except RasterReadError as error:
        raise QgsProcessingException(tr("%s: %s is not a netCDF time series GDAL can read (%s).")
                                     % (parameter, path, error))
    if "SCL" not in variables:
        raise QgsProcessingException(tr("%s: %s has no variable SCL (the scene classification); it is needed to "
                                        "tell clear observations. Found: %s.") % (parameter, path,
                                                                                 ", ".join(variables)))
    bands = {name: [(variables[name], None)] for name in S2_BANDS if name in variables}
    if not bands:
        raise QgsProcessingException(tr("%s: %s has no Sentinel-2 band variable (B01…B12). Found: %s.")
                                     % (parameter, path, ", ".join(variables)))
    epoch = EPOCHS.get(units.strip())
    dates = [epoch + datetime.timedelta(days=t) if epoch and t == t else None for t in times]
    nodata = band_nodata(next(iter(bands.values()))[0][0])
    return TimeSeries(bands, [(variables["SCL"], None)], dates, grid, nodata)


def stacks_series(paths, feedback, folder, parameter="INPUT"):
    """A :class:`TimeSeries` of several stacks (GeoTIFFs with band descriptions and SCL) or L2A products; products
    are stacked into ``folder`` first."""
    stacks = []
    for number, path in enumerate(paths):
        if path.lower().endswith(".nc"):
            raise QgsProcessingException(tr("%s: give either netCDF files or stacks / products, not both (%s).")
                                         % (parameter, path))
        if path.lower().endswith((".zip", ".xml")) or os.path.isdir(path):
            product = find_bands(path, feedback)
            check_one_crs(product)
            stacked = os.path.join(folder, "stack_%d.tif" % number)
            write_stack(product, output_grid(product, 10), 10, stacked, "GTiff", feedback)
            path = stacked
        stacks.append(path)
    infos = [raster_info(path) for path in stacks]  # a file GDAL cannot read: the algorithm names its parameter
    if any(info.grid != infos[0].grid for info in infos[1:]):
        raise QgsProcessingException(tr("%s: the stacks are on different grids (CRS, extent or pixel size); "
                                        "build them on one grid (Build Sentinel-2 stack, same EXTENT).") % parameter)
    sources, scl, dates = {}, [], []
    for path, info in zip(stacks, infos):
        names = [("SCL" if (d or "").upper() == "SCL" else sentinel2_band_name(d)) for d in info.descriptions]
        if "SCL" not in names:
            raise QgsProcessingException(tr("%s: %s has no SCL band (scene classification); clear observations "
                                            "cannot be told. Use L2A stacks.") % (parameter, path))
        for number, name in enumerate(names, start=1):
            if name == "SCL":
                scl.append((path, number))
            elif name:
                sources.setdefault(name, []).append((path, number))
        date = info.metadata.get("DATE")
        dates.append(datetime.date.fromisoformat(date) if date and date != "unknown" else date_in_name(path))
    common = [name for name in S2_BANDS if name in sources and len(sources[name]) == len(stacks)]
    return TimeSeries({name: sources[name] for name in common}, scl, dates, infos[0].grid, composite.OUTPUT_NODATA)
