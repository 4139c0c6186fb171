"""The inputs of a region run, checked in QGIS and handed to workers as plain files: the tiles (with their band
roles) and the prior layers (copied to a GeoPackage when they are not plain files)."""
import os
from dataclasses import dataclass

from qgis.core import (QgsMapLayerType, QgsProcessingException, QgsProviderRegistry, QgsVectorFileWriter,
                       QgsWkbTypes)

from ..core.bands import ROLES, BandLayoutError, detect_band_roles
from .messages import tr
from .priors import check_prior_layer
from .raster import RasterReadError, raster_info
from .region import PriorFile
from .vector import gdal_wkt


@dataclass
class TileInput:
    """A tile of the region: layer ``name``, raster ``path``, QGIS ``crs``, ``grid``, role band numbers (1-based)
    and their nodata values."""
    name: str
    path: str
    crs: object
    grid: object
    band_numbers: dict
    nodata: dict


def tile_inputs(layers, parameter, feedback):
    """The tiles given for ``parameter``, each checked: a GDAL raster with a CRS, north up, with the six role
    bands found from its band descriptions or layout."""
    if not layers:
        raise QgsProcessingException(tr("%s: give at least one Sentinel-2 tile.") % parameter)
    tiles, seen = [], set()
    for layer in layers:
        if layer.providerType() != "gdal" or not layer.crs().isValid():
            raise QgsProcessingException(tr("%s: '%s' must be a raster file that GDAL reads, with a coordinate "
                                            "reference system.") % (parameter, layer.name()))
        path = layer.source()
        if os.path.abspath(path) in seen:
            raise QgsProcessingException(tr("%s: '%s' is given twice.") % (parameter, layer.name()))
        seen.add(os.path.abspath(path))
        try:
            info = raster_info(path)
            roles, _ = detect_band_roles(info.descriptions, {})
        except (RasterReadError, BandLayoutError) as error:
            raise QgsProcessingException(tr("%s: tile '%s': %s") % (parameter, layer.name(), error))
        geotransform = info.grid.geotransform
        if geotransform[2] or geotransform[4] or geotransform[5] >= 0:
            raise QgsProcessingException(tr("%s: tile '%s' is rotated or not north-up; warp it to a north-up grid "
                                            "first (Raster > Projections > Warp).") % (parameter, layer.name()))
        info.grid.crs_wkt = gdal_wkt(layer.crs())
        tiles.append(TileInput(layer.name(), path, layer.crs(), info.grid,
                               {role: roles[role] + 1 for role in ROLES},
                               {role: info.nodata[roles[role]] for role in ROLES}))
    feedback.pushInfo(tr("%s: %d tile(s) in %d CRS.") % (parameter, len(tiles),
                                                        len({tile.grid.crs_wkt for tile in tiles})))
    return tiles


def _plain_ogr_file(layer):
    """(path, layer name) of a vector layer that OGR can open as it is, or None (memory, database, filtered)."""
    if layer.providerType() != "ogr" or layer.subsetString():
        return None
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    path = parts.get("path", "")
    if not path or not os.path.isfile(path):
        return None
    return path, parts.get("layerName") or ""


def prior_files(layers, parameter, folder, context, feedback):
    """The prior ``layers`` of ``parameter`` as :class:`~.region.PriorFile` s; polygon layers that OGR cannot
    open as they are get copied to a GeoPackage in ``folder``."""
    files = []
    for number, layer in enumerate(layers):
        check_prior_layer(layer, parameter)
        crs_wkt = gdal_wkt(layer.crs())
        if layer.type() == QgsMapLayerType.RasterLayer:
            files.append(PriorFile("raster", layer.source(), "", crs_wkt, layer.name()))
            continue
        if layer.geometryType() != QgsWkbTypes.GeometryType.PolygonGeometry:
            raise QgsProcessingException(tr("%s: layer '%s' holds %s geometries; use polygons or a raster mask.") % (
                parameter, layer.name(), QgsWkbTypes.geometryDisplayString(layer.geometryType()).lower()))
        plain = _plain_ogr_file(layer)
        if plain is None:
            plain = (_copy_to_geopackage(layer, os.path.join(folder, "%s_%d.gpkg" % (parameter.lower(), number)),
                                         context), "")
            feedback.pushInfo(tr("%s: '%s' was copied to %s for the workers.") % (parameter, layer.name(),
                                                                                   plain[0]))
            state = "%s %d %s" % (layer.source(), layer.featureCount(), layer.extent().toString())
        else:
            state = ""
        files.append(PriorFile("vector", plain[0], plain[1], crs_wkt, layer.name(), state))
    return files


def _copy_to_geopackage(layer, path, context):
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.attributes = []
    error = QgsVectorFileWriter.writeAsVectorFormatV2(layer, path, context.transformContext(), options)
    if error[0] != QgsVectorFileWriter.WriterError.NoError:
        raise QgsProcessingException(tr("The prior layer '%s' could not be copied to %s: %s")
                                     % (layer.name(), path, error[1]))
    return path


def _file_state(path):
    """(path, size, modification time) of a file: it changed when any of them did."""
    status = os.stat(path)
    return os.path.abspath(path), status.st_size, status.st_mtime_ns


def _prior_states(priors):
    """What the prior files of each role are now: a changed prior changes them."""
    return [(prior.kind, prior.state or _file_state(prior.path), prior.layer, prior.crs_wkt)
            for role in priors for prior in role]


def settings_of(tiles, priors, method, min_area, scale, offset):
    """What the results of a region run depend on: results made with other settings are not reused."""
    return dict(tiles=[_file_state(tile.path) for tile in tiles], priors=_prior_states(priors), method=method,
                min_area=min_area, scale=scale, offset=offset)


def series_settings_of(tiles, priors, **others):
    """What the results of plants over time over tiles depend on: the files of each tile's series (``tiles``:
    ``TimeSeries``; the ``state`` of the items of an ``ItemSeries``), the priors and the ``others`` (periods, dates,
    numbers)."""
    return dict(tiles=[series.state() if hasattr(series, "state") else
                       [_file_state(path) for path in dict.fromkeys(series.files)] for series in tiles],
                priors=_prior_states(priors), **others)
