"""The GDAL side of GUM's multi-source stack: Sentinel-1 and DEM rasters placed on the Sentinel-2 grid, and slope
and aspect from GDAL's DEM processing."""
import os

from osgeo import gdal

from .raster import RasterReadError, on_grid, raster_info


def s1_band_numbers(path):
    """(VV, VH) band numbers of a Sentinel-1 raster: by band description, else bands 1 and 2."""
    descriptions = [d.strip().upper() for d in raster_info(path).descriptions]
    if len(descriptions) < 2:
        raise RasterReadError("%s has %d band(s); a Sentinel-1 raster needs VV and VH." % (path, len(descriptions)))
    if "VV" in descriptions and "VH" in descriptions:
        return descriptions.index("VV") + 1, descriptions.index("VH") + 1
    return 1, 2


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
