"""A small real scene for the region tests: the bundled Austrian chips side by side on one UTM 33N grid, each in a
64 × 64 cell whose surroundings mirror the chip's own pixels, with the OSM outlines as priors; and tiles cut from it
that overlap and cut through plants."""
import os

import numpy as np
from osgeo import gdal, ogr, osr
from scipy import ndimage

from chip_data import CHIP_BANDS, CHIPS_NPZ

CELL = 64
#: Chips in their cells (row-major, 3 × 3); the last cell repeats chip 9 turned upside down.
CELLS = ("101", "152", "159", "1913", "398", "454", "802", "9", "9r")
#: Chips whose outline is a candidate prior (the others are trusted), and whose trusted outline is grown by 1 px.
CANDIDATES = ("159", "802")
GROWN = ("101", "1913")
ORIGIN = (500000.0, 5300000.0)
NODATA = -32768


def _chip(chips, name):
    key = name.rstrip("r")
    image, reference = chips["median_" + key], chips["reference_" + key]
    if name.endswith("r"):
        image, reference = image[:, ::-1], reference[::-1]
    return image, reference


def scene_arrays():
    """(11-band int16 image, trusted bool mask, candidate bool mask) of the 192 × 192 scene."""
    chips = np.load(CHIPS_NPZ)
    size = 3 * CELL
    image = np.zeros((len(CHIP_BANDS), size, size), np.int16)
    trusted, candidate = np.zeros((size, size), bool), np.zeros((size, size), bool)
    for number, name in enumerate(CELLS):
        chip, reference = _chip(chips, name)
        height, width = reference.shape
        top, left = (CELL - height) // 2, (CELL - width) // 2
        pad = ((top, CELL - height - top), (left, CELL - width - left))
        cell = (slice(number // 3 * CELL, number // 3 * CELL + CELL), slice(number % 3 * CELL, number % 3 * CELL + CELL))
        image[(slice(None),) + cell] = np.pad(chip, ((0, 0),) + pad, mode="symmetric")
        outline = np.pad(np.asarray(reference, bool), pad)
        if name in GROWN:
            outline = ndimage.binary_dilation(outline, np.ones((3, 3), bool))
        (candidate if name in CANDIDATES else trusted)[cell] |= outline
    return image, trusted, candidate


def _geotransform(left=0, top=0):
    return (ORIGIN[0] + 10 * left, 10.0, 0.0, ORIGIN[1] - 10 * top, 0.0, -10.0)


def write_raster(path, array, geotransform, epsg=32633, nodata=None, descriptions=None):
    bands = array if array.ndim == 3 else array[None]
    kind = gdal.GDT_Int16 if bands.dtype == np.int16 else gdal.GDT_Byte
    dataset = gdal.GetDriverByName("GTiff").Create(path, bands.shape[2], bands.shape[1], bands.shape[0], kind)
    dataset.SetGeoTransform(geotransform)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    dataset.SetProjection(srs.ExportToWkt())
    for number, values in enumerate(bands, start=1):
        band = dataset.GetRasterBand(number)
        band.WriteArray(values)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[number - 1])
    dataset = None
    return path


def polygons(mask_path, path, epsg=4326):
    """The True pixels of a mask raster as polygons in a GeoPackage (in EPSG ``epsg``)."""
    source = gdal.Open(mask_path)
    band = source.GetRasterBand(1)
    memory = gdal.GetDriverByName("Memory").Create("outlines", 0, 0, 0, gdal.GDT_Unknown)
    layer = memory.CreateLayer("outlines", source.GetSpatialRef(), ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    gdal.Polygonize(band, band, layer, 0, [])
    gdal.VectorTranslate(path, memory, format="GPKG", dstSRS="EPSG:%d" % epsg, layerName="priors")
    return path


def build_scene(folder):
    """Write the scene, its priors and four overlapping tiles into ``folder``. Returns a dict of paths: scene,
    trusted, candidate, tiles (top-left, top-right, bottom-left, bottom-right; each 144 px, overlapping by 96 px,
    so the outer plants cross the tile edges)."""
    image, trusted, candidate = scene_arrays()
    scene = write_raster(os.path.join(folder, "scene.tif"), image, _geotransform(), descriptions=CHIP_BANDS)
    paths = dict(scene=scene)
    for name, mask in (("trusted", trusted), ("candidate", candidate)):
        mask_path = write_raster(os.path.join(folder, name + "_mask.tif"), mask.astype(np.uint8), _geotransform())
        paths[name] = polygons(mask_path, os.path.join(folder, name + ".gpkg"))
    tiles = []
    for top, left in ((0, 0), (0, 48), (48, 0), (48, 48)):
        path = os.path.join(folder, "tile_%d_%d.tif" % (top, left))
        gdal.Translate(path, scene, srcWin=[left, top, 144, 144])
        tiles.append(path)
    paths["tiles"] = tiles
    return paths


def reprojected_tile(scene, path, epsg=32632):
    """The right two thirds of the scene warped to another UTM zone (nearest neighbour, 10 m)."""
    dataset = gdal.Open(scene)
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    bounds = (x0 + 64 * dx, y0 + dy * dataset.RasterYSize, x0 + dx * dataset.RasterXSize, y0)
    gdal.Warp(path, scene, dstSRS="EPSG:%d" % epsg, xRes=10, yRes=10, resampleAlg="near", outputBounds=bounds,
              outputBoundsSRS=dataset.GetProjection(), srcNodata=None, dstNodata=NODATA)
    return path


#: The bundled real 2022 series (``austria_pv/series.npz``) of three chips, in the cells of the series scene
#: (row-major, 3 × 3; "r" turned upside down), and the bands of its stacks.
SERIES_CELLS = ("9", "1913", "2004", "2004r", "9r", "1913r", "1913", "2004", "9")
SERIES_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")
SERIES_NPZ = os.path.join(os.path.dirname(CHIPS_NPZ), "series.npz")


def _nearest_dates(days, months):
    """Per month of 2022, the position of the date in ``days`` (days since 1990-01-01) nearest its 15th."""
    import datetime
    epoch = datetime.date(1990, 1, 1)
    return [int(np.argmin(np.abs(days - (datetime.date(2022, month, 15) - epoch).days))) for month in months]


def series_scene_arrays(months):
    """The series scene: per month of ``months`` (its 15th is the scene's date), a (7, 192, 192) int16 stack of
    the role bands and SCL, each chip's date nearest that day in its cell, the surroundings mirrored; and the
    reference outlines as one bool mask."""
    series = np.load(SERIES_NPZ)
    size = 3 * CELL
    stacks = np.zeros((len(months), len(SERIES_BANDS), size, size), np.int16)
    outlines = np.zeros((size, size), bool)
    for number, name in enumerate(SERIES_CELLS):
        key = name.rstrip("r")
        flip = (lambda values: values[..., ::-1, :]) if name.endswith("r") else (lambda values: values)
        reference = flip(series[key + "_reference"])
        height, width = reference.shape
        top, left = (CELL - height) // 2, (CELL - width) // 2
        pad = ((top, CELL - height - top), (left, CELL - width - left))
        cell = (slice(number // 3 * CELL, number // 3 * CELL + CELL), slice(number % 3 * CELL, number % 3 * CELL + CELL))
        picked = _nearest_dates(series[key + "_days"], months)
        for band, band_name in enumerate(SERIES_BANDS):
            values = flip(series["%s_%s" % (key, band_name)])[picked]
            stacks[(slice(None), band) + cell] = np.pad(values, ((0, 0),) + pad, mode="symmetric")
        outlines[cell] |= np.pad(reference, pad)
    return stacks, outlines


def build_series_scene(folder, months=range(1, 13)):
    """Write the series scene into ``folder``: one dated stack per month (``whole/S2L2A_2022MM15.tif``), the
    same cut into the four overlapping tiles of :func:`build_scene` (``tile_<top>_<left>/S2L2A_2022MM15.tif``),
    and the outlines as trusted priors (``trusted.gpkg``). Returns a dict of paths: whole (the dated stacks),
    tiles (every tile's stacks, tile by tile), trusted."""
    stacks, outlines = series_scene_arrays(list(months))
    paths = dict(whole=[], tiles=[])
    os.makedirs(os.path.join(folder, "whole"), exist_ok=True)
    for month, stack in zip(months, stacks):
        paths["whole"].append(write_raster(os.path.join(folder, "whole", "S2L2A_2022%02d15.tif" % month), stack,
                                           _geotransform(), nodata=NODATA, descriptions=SERIES_BANDS))
    for top, left in ((0, 0), (0, 48), (48, 0), (48, 48)):
        tile_folder = os.path.join(folder, "tile_%d_%d" % (top, left))
        os.makedirs(tile_folder, exist_ok=True)
        for path in paths["whole"]:
            paths["tiles"].append(os.path.join(tile_folder, os.path.basename(path)))
            gdal.Translate(paths["tiles"][-1], path, srcWin=[left, top, 144, 144])
    mask_path = write_raster(os.path.join(folder, "outlines.tif"), outlines.astype(np.uint8), _geotransform())
    paths["trusted"] = polygons(mask_path, os.path.join(folder, "trusted.gpkg"))
    return paths


COUNTRY_NPZ = os.path.join(os.path.dirname(CHIPS_NPZ), "country_series.npz")
#: The country-wide prior layer: OpenStreetMap PV polygons of Austria (EPSG:4326).
COUNTRY_PRIORS = os.path.join(os.path.dirname(CHIPS_NPZ), "osm_pv_austria.gpkg")


def build_country_series(folder):
    """Write the real 2022 series of the 28 Austrian chips (``country_series.npz``: each month's clearest date)
    as dated stacks of the role bands and SCL, one folder per chip (``chip_<id>/S2L2A_<yyyymmdd>.tif``, in its own
    UTM zone). Returns {chip id: [its stacks, oldest first]}."""
    import datetime
    series = np.load(COUNTRY_NPZ)
    chips = sorted({name.split("_")[0] for name in series.files}, key=int)
    paths = {}
    for chip in chips:
        chip_folder = os.path.join(folder, "chip_%s" % chip)
        os.makedirs(chip_folder, exist_ok=True)
        stacks = np.stack([series["%s_%s" % (chip, band)] for band in SERIES_BANDS], axis=1)
        paths[chip] = []
        for day, stack in zip(series[chip + "_days"], stacks):
            date = datetime.date(1990, 1, 1) + datetime.timedelta(days=int(day))
            paths[chip].append(write_raster(os.path.join(chip_folder, "S2L2A_%s.tif" % date.strftime("%Y%m%d")),
                                            stack, tuple(series[chip + "_geotransform"]), int(series[chip + "_epsg"]),
                                            nodata=32767, descriptions=SERIES_BANDS))
    return paths
