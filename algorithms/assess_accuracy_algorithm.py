"""``fusionpv:assessaccuracy``: how good is a PV map? Pixel and object metrics against a reference."""
import math

from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsGeometry, QgsMapLayerType,
                       QgsProcessing, QgsProcessingException, QgsProcessingParameterExtent,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterMapLayer, QgsProcessingParameterNumber, QgsRectangle, QgsWkbTypes)

from ..core import accuracy
from ..core.components import label_components
from ..gisio.outputs import number_or_null, style_on_load
from ..gisio.priors import raster_layer_mask
from ..gisio.raster import RasterGrid, raster_info, window_grid
from ..gisio.reports import accuracy_report
from ..gisio.tables import make_feature, make_fields
from ..gisio.shapes import polygonize_mask, rasterize_labels
from ..gisio.vector import gdal_wkt, polygons_on_grid
from .base import FusionPvAlgorithm, Group

#: Largest comparison grid, in pixels (an int32 label raster per map).
MAX_GRID_PIXELS = 400_000_000
#: Pixel size of the comparison grid when no raster gives one, in metres.
DEFAULT_PIXEL_SIZE = 10.0
TABLE_NUMBERS = ("iou", "f1", "precision", "recall", "kappa", "overall_accuracy", "object_precision",
                 "object_recall")
TABLE_FIELDS = ([("scope", "string", 12)] + [(name, "double") for name in TABLE_NUMBERS] +
                [(name, "long") for name in ("n_reference", "n_prediction", "n_matched", "tp", "fp", "fn", "tn")] +
                [("note", "string", 254)])
OBJECT_FIELDS = (("map", "string", 10), ("object_id", "int"), ("status", "string", 14), ("iou", "double"),
                 ("partner_id", "int"), ("area_ha", "double"))


def utm_crs(longitude, latitude):
    """The WGS 84 / UTM zone CRS of a place."""
    zone = int((longitude + 180) // 6) + 1
    return QgsCoordinateReferenceSystem("EPSG:%d" % ((32600 if latitude >= 0 else 32700) + min(max(zone, 1), 60)))


class AssessAccuracyAlgorithm(FusionPvAlgorithm):
    """IoU, F1, precision, recall, kappa and overall accuracy of the PV class; objects matched one to one."""
    ID = "assessaccuracy"
    DISPLAY_NAME = "Assess PV map accuracy"
    GROUP = Group.ACCURACY
    HELP = (
        "<p>Measures how good a PV map (PREDICTION) is against a REFERENCE (your digitising, OSM, another product). "
        "Each is a polygon layer (features are the objects) or a raster mask (non-zero = PV; 8-connected "
        "components are the objects), in any CRS.</p>"
        "<p><b>Pixels</b>: both maps are rasterised (pixel-centre rule) or resampled (nearest) onto one grid: a "
        "raster input's own grid, else the reference CRS (a local UTM zone when it is geographic) with PIXEL_SIZE "
        "({pixel_size:g} m), over EXTENT (default: the reference's). Overall accuracy is inflated by the many non-PV "
        "pixels, so the PV class is measured by IoU, F1, precision and recall; kappa corrects overall accuracy for "
        "chance.</p>"
        "<p><b>Objects</b> are matched one to one at IoU ≥ MATCH_IOU, maximising the total IoU (Hungarian "
        "assignment): object precision = matched / prediction objects, object recall = matched / reference "
        "objects. The table repeats the metrics per plant-size class ({size_classes} by reference area).</p>"
        "<p>A metric whose denominator is zero (no PV in a map, no object) is undefined: it is NULL and the note "
        "says why. Invalid polygons are repaired and counted.</p>")
    PREDICTION = "PREDICTION"
    REFERENCE = "REFERENCE"
    EXTENT = "EXTENT"
    PIXEL_SIZE = "PIXEL_SIZE"
    MATCH_IOU = "MATCH_IOU"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    OUTPUT_OBJECTS = "OUTPUT_OBJECTS"
    METRICS = ("IOU", "F1", "PRECISION", "RECALL", "KAPPA", "OVERALL_ACCURACY", "OBJECT_PRECISION", "OBJECT_RECALL")
    COUNTS = ("N_PREDICTION", "N_REFERENCE", "N_MATCHED", "REPAIRED_GEOMETRIES")
    NUMBERS = METRICS + COUNTS
    DECIMALS = {"PIXEL_SIZE": 2, "MATCH_IOU": 2}

    def help_values(self):
        return {"pixel_size": DEFAULT_PIXEL_SIZE,
                "size_classes": ", ".join(name for name, _, _ in accuracy.SIZE_CLASSES).replace("<", "&lt;")
                .replace(">", "&gt;")}

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        for name, label in ((self.PREDICTION, self.tr("PV map to assess (polygons or raster mask)")),
                            (self.REFERENCE, self.tr("Reference PV map (polygons or raster mask)"))):
            self.addParameter(QgsProcessingParameterMapLayer(
                name, label, types=[QgsProcessing.SourceType.TypeVectorPolygon, QgsProcessing.SourceType.TypeRaster]))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent (default: the reference's)"),
                                                       optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, self.tr("Pixel size of the comparison grid"),
            QgsProcessingParameterNumber.Type.Double, optional=True, minValue=0.0001, maxValue=100000.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MATCH_IOU, self.tr("IoU for an object match"), QgsProcessingParameterNumber.Type.Double, 0.5,
            minValue=0.0001, maxValue=1.0))
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT_TABLE, self.tr("Accuracy"),
                                                            QgsProcessing.SourceType.TypeVector))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_OBJECTS, self.tr("Matched objects"), QgsProcessing.SourceType.TypeVectorPolygon, optional=True,
            createByDefault=False))
        self.add_report_and_numbers(self.NUMBERS)

    def compute(self, parameters, context, feedback):
        report = self.report_path(parameters, context)
        layers = {name: self._layer(parameters, name, context) for name in (self.PREDICTION, self.REFERENCE)}
        if layers[self.PREDICTION].id() == layers[self.REFERENCE].id() or (
                layers[self.PREDICTION].source() == layers[self.REFERENCE].source()):
            raise QgsProcessingException(self.tr("PREDICTION, REFERENCE: both are '%s'; choose the map to assess and "
                                                 "a different reference map.") % layers[self.REFERENCE].name())
        grid, crs = self._grid(parameters, layers, context)
        feedback.pushInfo(self.tr("Comparison grid: %d × %d px of %g, %s") % (
            grid.width, grid.height, grid.geotransform[1], crs.authid() or crs.description()))
        objects = {name: self._objects(layer, name, grid, crs, context, feedback) for name, layer in layers.items()}
        self.check_cancelled(feedback)
        feedback.setProgress(50)
        result = accuracy.assess(objects[self.PREDICTION][0], objects[self.REFERENCE][0], grid.pixel_area,
                                 self.parameterAsDouble(parameters, self.MATCH_IOU, context))
        for note in result.undefined:
            feedback.pushWarning(self.tr("Undefined: %s") % note)
        outputs = self._numbers(result, sum(o[2] for o in objects.values()))
        for name in self.NUMBERS:
            feedback.pushInfo("%s = %s" % (name, "undefined" if outputs[name] is None else "%.6g" % outputs[name]))
        outputs[self.OUTPUT_TABLE] = self._write_table(parameters, context, result)
        if parameters.get(self.OUTPUT_OBJECTS):
            outputs[self.OUTPUT_OBJECTS] = self._write_objects(parameters, context, result, objects, grid, crs)
        if report:
            accuracy_report(self.staged_file(report), result, outputs, self.METRICS, self.COUNTS)
            outputs[self.OUTPUT_REPORT] = report
        feedback.setProgress(100)
        return outputs

    def _layer(self, parameters, name, context):
        layer = self.parameterAsLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(self.tr("%s: no layer was given or it cannot be loaded.") % name)
        if not layer.crs().isValid():
            raise QgsProcessingException(self.tr("%s: layer '%s' has no known coordinate reference system; assign one.")
                                         % (name, layer.name()))
        if layer.type() == QgsMapLayerType.RasterLayer and layer.providerType() != "gdal":
            raise QgsProcessingException(self.tr("%s: raster '%s' must be a file GDAL reads.") % (name, layer.name()))
        return layer

    def _grid(self, parameters, layers, context):
        """The comparison grid and its CRS (see the help)."""
        rasters = [layers[n] for n in (self.REFERENCE, self.PREDICTION) if layers[n].type() == QgsMapLayerType.RasterLayer]
        size = parameters.get(self.PIXEL_SIZE)
        size = self.parameterAsDouble(parameters, self.PIXEL_SIZE, context) if size not in (None, "") else None
        if rasters:
            base = raster_info(rasters[0].source()).grid
            crs = rasters[0].crs()
            if size is None and not parameters.get(self.EXTENT):
                return base, crs
            size = size or abs(base.geotransform[1])
        else:
            reference = layers[self.REFERENCE]
            crs = reference.crs()
            if crs.isGeographic():
                centre = reference.extent().center()
                crs = utm_crs(centre.x(), centre.y())
            size = size or DEFAULT_PIXEL_SIZE
        if parameters.get(self.EXTENT):
            extent = self.parameterAsExtent(parameters, self.EXTENT, context, crs)
        else:
            extent = self._extent_in(layers[self.REFERENCE], crs, context)
            if extent.isNull() or extent.isEmpty() or not all(map(math.isfinite, (extent.width(), extent.height()))):
                raise QgsProcessingException(self.tr(
                    "REFERENCE: '%s' holds no feature, so it gives no extent to compare over; set EXTENT or choose "
                    "another reference.") % layers[self.REFERENCE].name())
        width, height = max(1, math.ceil(extent.width() / size)), max(1, math.ceil(extent.height() / size))
        if width * height > MAX_GRID_PIXELS:
            raise QgsProcessingException(self.tr(
                "EXTENT, PIXEL_SIZE: the comparison grid would have %d × %d pixels; choose a smaller EXTENT or a "
                "larger PIXEL_SIZE.") % (width, height))
        return RasterGrid(width, height, (extent.xMinimum(), size, 0.0, extent.yMaximum(), 0.0, -size),
                                  gdal_wkt(crs)), crs

    @staticmethod
    def _extent_in(layer, crs, context):
        if layer.crs() == crs:
            return QgsRectangle(layer.extent())
        return QgsCoordinateTransform(layer.crs(), crs, context.transformContext()).transformBoundingBox(
            layer.extent())

    def _objects(self, layer, name, grid, crs, context, feedback):
        """(labels int32, WKB per object or None for raster objects, repaired geometries) of a map on the grid."""
        if layer.type() == QgsMapLayerType.VectorLayer:
            polygons = polygons_on_grid(layer, name, grid, crs, context, feedback, repair=True)
            if polygons.repaired:
                feedback.pushWarning(self.tr("%s: %d invalid polygon(s) repaired.") % (name, polygons.repaired))
            labels, kept = accuracy.compact_labels(rasterize_labels(polygons.wkbs, grid))
            if len(kept) < len(polygons.wkbs):
                feedback.pushInfo(self.tr("%s: %d polygon(s) cover no pixel centre of the grid and are left out.")
                                  % (name, len(polygons.wkbs) - len(kept)))
            return labels, [polygons.wkbs[k - 1] for k in kept], polygons.repaired
        labels, _ = label_components(raster_layer_mask(layer, grid))
        return labels, None, 0

    def _numbers(self, result, repaired):
        numbers = {name: number_or_null(result.pixels.values[name]) for name in accuracy.PIXEL_METRICS}
        numbers.update(OBJECT_PRECISION=number_or_null(result.object_precision),
                       OBJECT_RECALL=number_or_null(result.object_recall),
                       N_PREDICTION=len(result.objects.prediction_pixels) - 1,
                       N_REFERENCE=len(result.objects.reference_pixels) - 1,
                       N_MATCHED=result.objects.matched, REPAIRED_GEOMETRIES=repaired)
        return numbers

    def _write_table(self, parameters, context, result):
        fields = make_fields(TABLE_FIELDS)
        p = result.pixels
        rows = [["all"] + [number_or_null(p.values[n.upper()]) for n in TABLE_NUMBERS[:6]] +
                [number_or_null(result.object_precision), number_or_null(result.object_recall),
                 len(result.objects.reference_pixels) - 1, len(result.objects.prediction_pixels) - 1,
                 result.objects.matched, p.tp, p.fp, p.fn, p.tn, "; ".join(result.undefined)]]
        for row in result.by_size:
            rows.append([row["class"]] + [number_or_null(row[n]) for n in ("IOU", "F1", "PRECISION", "RECALL")] +
                        [None, None, number_or_null(row["OBJECT_PRECISION"]), number_or_null(row["OBJECT_RECALL"]),
                         row["n_reference"], row["n_prediction"], row["n_matched"], None, None, None, None,
                         row["note"]])
        return self.write_sink(parameters, self.OUTPUT_TABLE, context, fields,
                               [make_feature(fields, values) for values in rows])

    def _write_objects(self, parameters, context, result, objects, grid, crs):
        fields = make_fields(OBJECT_FIELDS)
        match = result.objects
        hectares = grid.pixel_area / accuracy.M2_PER_HECTARE
        features = []
        for name, partners, ious, pixels, statuses in (
                ("prediction", match.prediction_partner, match.prediction_iou, match.prediction_pixels,
                 ("false positive", "true positive")),
                ("reference", match.reference_partner, match.reference_iou, match.reference_pixels,
                 ("missed", "matched"))):
            labels, wkbs, _ = objects[self.PREDICTION if name == "prediction" else self.REFERENCE]
            if wkbs is None:
                from scipy import ndimage
                windows = ndimage.find_objects(labels)
                wkbs = [polygonize_mask(labels[w] == i + 1, window_grid(grid, w)) if w else None
                        for i, w in enumerate(windows)]
            for label in range(1, len(pixels)):
                if label > len(wkbs) or wkbs[label - 1] is None:
                    continue
                geometry = QgsGeometry()
                geometry.fromWkb(wkbs[label - 1])
                geometry.convertToMultiType()
                features.append(make_feature(fields, [
                    name, label, statuses[int(partners[label] > 0)], number_or_null(ious[label]),
                    int(partners[label]) or None, float(pixels[label] * hectares)], geometry))
        dest_id = self.write_sink(parameters, self.OUTPUT_OBJECTS, context, fields, features,
                                  QgsWkbTypes.Type.MultiPolygon, crs)
        style_on_load(context, dest_id, "accuracy_objects.qml")
        return dest_id
