"""The GDAL side of GUM's multi-source stack: Sentinel-1 and DEM rasters placed on the Sentinel-2 grid, and slope
and aspect from GDAL's DEM processing."""
import os

import numpy as np
from osgeo import gdal, osr

from ..core.bands import sentinel2_band_name
from .raster import RasterReadError, on_grid, open_raster, raster_info

#: Side (pixels) of the decimated read that the input checks look at.
SAMPLE_SIDE = 512
#: σ⁰ of land in dB lies mostly between −30 and +5; values all within [0, LINEAR_SIGMA0_MAX] are linear power.
LINEAR_SIGMA0_MAX = 1.5
#: Values above this are no σ⁰ in dB (Sentinel-2 DN are hundreds to thousands).
DB_MAX = 50.0


def s1_band_numbers(path):
    """(VV, VH) band numbers of a Sentinel-1 raster: by band description, else bands 1 and 2."""
    descriptions = [d.strip().upper() for d in raster_info(path).descriptions]
    if len(descriptions) < 2:
        raise RasterReadError("%s has %d band(s); a Sentinel-1 raster needs VV and VH." % (path, len(descriptions)))
    if "VV" in descriptions and "VH" in descriptions:
        return descriptions.index("VV") + 1, descriptions.index("VH") + 1
    return 1, 2


def _sample(path, band_number):
    """Finite, non-nodata values of a band read decimated to at most :data:`SAMPLE_SIDE` pixels a side (no
    statistics are written beside the file)."""
    dataset = open_raster(path)
    band = dataset.GetRasterBand(band_number)
    values = band.ReadAsArray(buf_xsize=min(dataset.RasterXSize, SAMPLE_SIDE),
                              buf_ysize=min(dataset.RasterYSize, SAMPLE_SIDE)).astype(np.float64)
    nodata = band.GetNoDataValue()
    keep = np.isfinite(values) & ((values != nodata) if nodata is not None else True)
    return values[keep]


def overlaps_grid(info, crs_wkt, grid):
    """Does a raster (its ``raster_info``, in ``crs_wkt``) reach ``grid``? Its corners are compared in the grid's
    CRS."""
    source, target = osr.SpatialReference(), osr.SpatialReference()
    source.ImportFromWkt(crs_wkt)
    target.ImportFromWkt(grid.crs_wkt)
    for reference in (source, target):
        reference.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    xmin, ymin, xmax, ymax = info.grid.bounds
    transform = osr.CoordinateTransformation(source, target)
    try:
        corners = [transform.TransformPoint(x, y)[:2] for x in (xmin, xmax) for y in (ymin, ymax)]
    except RuntimeError:
        return False
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    if not all(np.isfinite(xs + ys)):
        return False
    gxmin, gymin, gxmax, gymax = grid.bounds
    return min(xs) < gxmax and max(xs) > gxmin and min(ys) < gymax and max(ys) > gymin


def s1_problems(path, crs_wkt, grid):
    """What looks wrong with a Sentinel-1 σ⁰ raster for the stack (messages to warn with; empty when nothing)."""
    problems = []
    info = raster_info(path)
    if not overlaps_grid(info, crs_wkt, grid):
        problems.append("it does not overlap S2_INPUT (compared in the image's CRS): check its CRS; its channels "
                        "are 0.")
    descriptions = [d.strip() for d in info.descriptions]
    upper = [d.upper() for d in descriptions]
    if any(sentinel2_band_name(d) for d in descriptions):
        problems.append("its bands are described as Sentinel-2 bands (%s): give Sentinel-1 σ⁰ (VV, VH)."
                        % ", ".join(descriptions))
    elif not ("VV" in upper and "VH" in upper) and ({"HH", "HV"} & set(upper)):
        problems.append("its bands are described %s, not VV and VH: band 1 is read as VV and band 2 as VH."
                        % ", ".join(descriptions))
    for number, polarisation in zip(s1_band_numbers(path), ("VV", "VH")):
        values = _sample(path, number)
        if values.size == 0:
            problems.append("band %d (%s) is all nodata or NaN: its channel is 0." % (number, polarisation))
        elif np.percentile(values, 50) > DB_MAX:
            problems.append("band %d (%s) has values up to %g: not σ⁰ in dB (a Sentinel-2 stack?)."
                            % (number, polarisation, values.max()))
        elif values.min() >= 0 and np.percentile(values, 99) <= LINEAR_SIGMA0_MAX:
            problems.append("band %d (%s) lies within [0, %g]: σ⁰ looks linear, not in dB; convert it with "
                            "10 · log10(σ⁰)." % (number, polarisation, LINEAR_SIGMA0_MAX))
    return problems


def dem_problems(path, crs_wkt, grid):
    """What looks wrong with a DEM for the stack (messages to warn with)."""
    problems = []
    if not overlaps_grid(raster_info(path), crs_wkt, grid):
        problems.append("it does not overlap S2_INPUT (compared in the image's CRS): check its CRS.")
    if _sample(path, 1).size == 0:
        problems.append("every value is nodata or NaN: slope and aspect cannot be computed.")
    return problems


def s1_on_grid(path, grid, crs_wkt):
    """(dataset, (VV, VH) band numbers) of a Sentinel-1 σ⁰ raster resampled bilinearly onto ``grid`` (NaN where
    nodata or outside it)."""
    return on_grid(path, grid, crs_wkt, "bilinear", gdal.GDT_Float32), s1_band_numbers(path)


def slope_and_aspect(dem_path, crs_wkt, grid, folder):
    """(slope, aspect) datasets in degrees on ``grid`` (a metric grid): the DEM resampled bilinearly onto it, then
    GDAL's DEM processing (edges computed, aspect 0 on flat ground). Files are written in ``folder``."""
    dem = gdal.Warp(os.path.join(folder, "dem.tif"), on_grid(dem_path, grid, crs_wkt, "bilinear", gdal.GDT_Float32),
                    format="GTiff")
    dem.GetRasterBand(1).SetNoDataValue(float("nan"))
    dem.FlushCache()
    slope = gdal.DEMProcessing(os.path.join(folder, "slope.tif"), dem, "slope", computeEdges=True,
                               slopeFormat="degree")
    aspect = gdal.DEMProcessing(os.path.join(folder, "aspect.tif"), dem, "aspect", computeEdges=True,
                                zeroForFlat=True)
    return slope, aspect
