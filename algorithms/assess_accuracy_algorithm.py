"""``fusionpv:assessaccuracy``: how good is a PV map? Pixel and object metrics against a reference."""
import math

import numpy as np
from qgis.PyQt.QtCore import QVariant
from qgis.core import (QgsCoordinateReferenceSystem, QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsGeometry,
                       QgsMapLayerType, QgsProcessing, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingOutputNumber, QgsProcessingParameterExtent, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterMapLayer,
                       QgsProcessingParameterNumber, QgsRectangle, QgsWkbTypes)

from ..core import accuracy
from ..core.components import label_components
from . import gdal_io
from .html_report import figure_html, pyplot, table_html, write_page
from .outputs import check_writable, number_or_null, style_on_load
from .prior_layers import gdal_wkt, polygons_on_grid, raster_layer_mask
from .texts import tr

#: Largest comparison grid, in pixels (an int32 label raster per map).
MAX_GRID_PIXELS = 400_000_000
SCOPES = ("all",) + tuple(name for name, _, _ in accuracy.SIZE_CLASSES)
TABLE_NUMBERS = ("iou", "f1", "precision", "recall", "kappa", "overall_accuracy", "object_precision",
                 "object_recall")


def table_fields():
    fields = QgsFields()
    fields.append(QgsField("scope", QVariant.String, len=12))
    for name in TABLE_NUMBERS:
        fields.append(QgsField(name, QVariant.Double))
    for name in ("n_reference", "n_prediction", "n_matched", "tp", "fp", "fn", "tn"):
        fields.append(QgsField(name, QVariant.LongLong))
    fields.append(QgsField("note", QVariant.String, len=254))
    return fields


def object_fields():
    fields = QgsFields()
    fields.append(QgsField("map", QVariant.String, len=10))
    fields.append(QgsField("object_id", QVariant.Int))
    fields.append(QgsField("status", QVariant.String, len=14))
    fields.append(QgsField("iou", QVariant.Double))
    fields.append(QgsField("partner_id", QVariant.Int))
    fields.append(QgsField("area_ha", QVariant.Double))
    return fields


def utm_crs(longitude, latitude):
    """The WGS 84 / UTM zone CRS of a place."""
    zone = int((longitude + 180) // 6) + 1
    return QgsCoordinateReferenceSystem("EPSG:%d" % ((32600 if latitude >= 0 else 32700) + min(max(zone, 1), 60)))


class AssessAccuracyAlgorithm(QgsProcessingAlgorithm):
    """IoU, F1, precision, recall, kappa and overall accuracy of the PV class; objects matched one to one."""

    PREDICTION = "PREDICTION"
    REFERENCE = "REFERENCE"
    EXTENT = "EXTENT"
    PIXEL_SIZE = "PIXEL_SIZE"
    MATCH_IOU = "MATCH_IOU"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    OUTPUT_OBJECTS = "OUTPUT_OBJECTS"
    OUTPUT_REPORT = "OUTPUT_REPORT"
    NUMBERS = ("IOU", "F1", "PRECISION", "RECALL", "KAPPA", "OVERALL_ACCURACY", "OBJECT_PRECISION",
               "OBJECT_RECALL", "N_PREDICTION", "N_REFERENCE", "N_MATCHED", "REPAIRED_GEOMETRIES")

    def name(self):
        return "assessaccuracy"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return tr("Assess PV map accuracy")

    def group(self):
        return tr("Accuracy")

    def groupId(self):  # noqa: N802 (QGIS API name)
        return "accuracy"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return tr(
            "<p>Measures how good a PV map (PREDICTION) is against a REFERENCE (your digitising, OSM, another "
            "product). Each is a polygon layer (features are the objects) or a raster mask (non-zero = PV; "
            "8-connected components are the objects), in any CRS.</p>"
            "<p><b>Pixels</b>: both maps are rasterised (pixel-centre rule) or resampled (nearest) onto one grid: "
            "a raster input's own grid, else the reference CRS (a local UTM zone when it is geographic) with "
            "PIXEL_SIZE (10 m), over EXTENT (default: the reference's). Overall accuracy is inflated by the many "
            "non-PV pixels, so the PV class is measured by IoU, F1, precision and recall; kappa corrects overall "
            "accuracy for chance.</p>"
            "<p><b>Objects</b> are matched one to one at IoU ≥ MATCH_IOU, maximising the total IoU (Hungarian "
            "assignment): object precision = matched / prediction objects, object recall = matched / reference "
            "objects. The table repeats the metrics per plant-size class (&lt; 1 ha, 1–10 ha, &gt; 10 ha by "
            "reference area).</p>"
            "<p>A metric whose denominator is zero (no PV in a map, no object) is undefined: it is NULL and the "
            "note says why. Invalid polygons are repaired and counted.</p>")

    def createInstance(self):  # noqa: N802 (QGIS API name)
        return AssessAccuracyAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        for name, label in ((self.PREDICTION, tr("PV map to assess (polygons or raster mask)")),
                            (self.REFERENCE, tr("Reference PV map (polygons or raster mask)"))):
            self.addParameter(QgsProcessingParameterMapLayer(
                name, label, types=[QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeRaster]))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, tr("Extent (default: the reference's)"),
                                                       optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, tr("Pixel size of the comparison grid (default: the raster's, else 10 m)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.0001))
        self.addParameter(QgsProcessingParameterNumber(
            self.MATCH_IOU, tr("IoU for an object match"), QgsProcessingParameterNumber.Double, 0.5,
            minValue=0.0001, maxValue=1.0))
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT_TABLE, tr("Accuracy"),
                                                            QgsProcessing.TypeVector))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_OBJECTS, tr("Matched objects"), QgsProcessing.TypeVectorPolygon, optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, tr("Report"), tr("HTML files (*.html)"), optional=True, createByDefault=False))
        for name in self.NUMBERS:
            self.addOutput(QgsProcessingOutputNumber(name, name.replace("_", " ").capitalize()))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        report = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)
        if report:
            check_writable(self.OUTPUT_REPORT, report)
        layers = {name: self._layer(parameters, name, context) for name in (self.PREDICTION, self.REFERENCE)}
        grid, crs = self._grid(parameters, layers, context)
        feedback.pushInfo(tr("Comparison grid: %d × %d px of %g, %s") % (
            grid.width, grid.height, grid.geotransform[1], crs.authid() or crs.description()))
        objects = {name: self._objects(layer, name, grid, crs, context, feedback) for name, layer in layers.items()}
        if feedback.isCanceled():
            raise QgsProcessingException(tr("Cancelled: no output was written."))
        feedback.setProgress(50)
        result = accuracy.assess(objects[self.PREDICTION][0], objects[self.REFERENCE][0], grid.pixel_area,
                                 self.parameterAsDouble(parameters, self.MATCH_IOU, context))
        for note in result.undefined:
            feedback.pushWarning(tr("Undefined: %s") % note)
        outputs = self._numbers(result, sum(o[2] for o in objects.values()))
        for name in self.NUMBERS:
            feedback.pushInfo("%s = %s" % (name, "undefined" if outputs[name] is None else "%.6g" % outputs[name]))
        outputs[self.OUTPUT_TABLE] = self._write_table(parameters, context, result)
        if parameters.get(self.OUTPUT_OBJECTS):
            outputs[self.OUTPUT_OBJECTS] = self._write_objects(parameters, context, result, objects, grid, crs)
        if report:
            write_report(report, result, outputs)
            outputs[self.OUTPUT_REPORT] = report
        feedback.setProgress(100)
        return outputs

    def _layer(self, parameters, name, context):
        layer = self.parameterAsLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(tr("%s: no layer was given or it cannot be loaded.") % name)
        if not layer.crs().isValid():
            raise QgsProcessingException(tr("%s: layer '%s' has no known coordinate reference system; assign one.")
                                         % (name, layer.name()))
        if layer.type() == QgsMapLayerType.RasterLayer and layer.providerType() != "gdal":
            raise QgsProcessingException(tr("%s: raster '%s' must be a file GDAL reads.") % (name, layer.name()))
        return layer

    def _grid(self, parameters, layers, context):
        """The comparison grid and its CRS (see the help)."""
        rasters = [layers[n] for n in (self.REFERENCE, self.PREDICTION) if layers[n].type() == QgsMapLayerType.RasterLayer]
        size = parameters.get(self.PIXEL_SIZE)
        size = self.parameterAsDouble(parameters, self.PIXEL_SIZE, context) if size not in (None, "") else None
        if rasters:
            base = gdal_io.raster_info(rasters[0].source()).grid
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
            size = size or 10.0
        if parameters.get(self.EXTENT):
            extent = self.parameterAsExtent(parameters, self.EXTENT, context, crs)
        else:
            extent = self._extent_in(layers[self.REFERENCE], crs, context)
        width, height = max(1, math.ceil(extent.width() / size)), max(1, math.ceil(extent.height() / size))
        if width * height > MAX_GRID_PIXELS:
            raise QgsProcessingException(tr(
                "EXTENT, PIXEL_SIZE: the comparison grid would have %d × %d pixels; choose a smaller EXTENT or a "
                "larger PIXEL_SIZE.") % (width, height))
        return gdal_io.RasterGrid(width, height, (extent.xMinimum(), size, 0.0, extent.yMaximum(), 0.0, -size),
                                  gdal_wkt(crs)), crs

    @staticmethod
    def _extent_in(layer, crs, context):
        from qgis.core import QgsCoordinateTransform
        if layer.crs() == crs:
            return QgsRectangle(layer.extent())
        return QgsCoordinateTransform(layer.crs(), crs, context.transformContext()).transformBoundingBox(
            layer.extent())

    def _objects(self, layer, name, grid, crs, context, feedback):
        """(labels int32, WKB per object or None for raster objects, repaired geometries) of a map on the grid."""
        if layer.type() == QgsMapLayerType.VectorLayer:
            polygons = polygons_on_grid(layer, name, grid, crs, context, feedback, repair=True)
            if polygons.repaired:
                feedback.pushWarning(tr("%s: %d invalid polygon(s) repaired.") % (name, polygons.repaired))
            labels, kept = accuracy.compact_labels(gdal_io.rasterize_labels(polygons.wkbs, grid))
            if len(kept) < len(polygons.wkbs):
                feedback.pushInfo(tr("%s: %d polygon(s) cover no pixel centre of the grid and are left out.")
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
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT_TABLE, context, table_fields(),
                                             QgsWkbTypes.NoGeometry)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT_TABLE))
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
        fields = table_fields()
        features = []
        for values in rows:
            feature = QgsFeature(fields)
            feature.setAttributes(values)
            features.append(feature)
        sink.addFeatures(features, QgsFeatureSink.FastInsert)
        return dest_id

    def _write_objects(self, parameters, context, result, objects, grid, crs):
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT_OBJECTS, context, object_fields(),
                                             QgsWkbTypes.MultiPolygon, crs)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT_OBJECTS))
        match = result.objects
        hectares = grid.pixel_area / 10000.0
        fields = object_fields()
        for name, partners, ious, pixels, statuses in (
                ("prediction", match.prediction_partner, match.prediction_iou, match.prediction_pixels,
                 ("false positive", "true positive")),
                ("reference", match.reference_partner, match.reference_iou, match.reference_pixels,
                 ("missed", "matched"))):
            labels, wkbs, _ = objects[self.PREDICTION if name == "prediction" else self.REFERENCE]
            if wkbs is None:
                from scipy import ndimage
                windows = ndimage.find_objects(labels)
                wkbs = [gdal_io.polygonize_mask(labels[w] == i + 1, gdal_io.window_grid(grid, w)) if w else None
                        for i, w in enumerate(windows)]
            for label in range(1, len(pixels)):
                if label > len(wkbs) or wkbs[label - 1] is None:
                    continue
                geometry = QgsGeometry()
                geometry.fromWkb(wkbs[label - 1])
                geometry.convertToMultiType()
                feature = QgsFeature(fields)
                feature.setGeometry(geometry)
                feature.setAttributes([name, label, statuses[int(partners[label] > 0)], number_or_null(ious[label]),
                                       int(partners[label]) or None, float(pixels[label] * hectares)])
                sink.addFeature(feature, QgsFeatureSink.FastInsert)
        style_on_load(context, dest_id, "accuracy_objects.qml")
        return dest_id


def write_report(path, result, numbers):
    """HTML report: the numbers, the confusion matrix, object metrics per size class, object IoU histogram."""
    plt = pyplot()
    p = result.pixels

    def shown(value):
        return "undefined" if value is None or (isinstance(value, float) and math.isnan(value)) else "%.4f" % value

    summary = table_html(("metric", "value"), [(n, shown(numbers[n])) for n in AssessAccuracyAlgorithm.NUMBERS[:8]]
                         + [(n, numbers[n]) for n in AssessAccuracyAlgorithm.NUMBERS[8:]])
    notes = "".join("<p class='note'>Undefined: %s</p>" % n for n in result.undefined)
    confusion = table_html(("", "reference PV", "reference not PV"),
                           [("predicted PV", p.tp, p.fp), ("predicted not PV", p.fn, p.tn)])
    classes = [row["class"] for row in result.by_size]
    figure, axis = plt.subplots(figsize=(6, 3))
    x = np.arange(len(classes))
    for offset, key, colour in ((-0.2, "OBJECT_RECALL", "#1b9e77"), (0.2, "OBJECT_PRECISION", "#7570b3")):
        axis.bar(x + offset, [0 if math.isnan(r[key]) else r[key] for r in result.by_size], 0.4,
                 label=key.replace("_", " ").lower(), color=colour)
    axis.set_xticks(x)
    axis.set_xticklabels(["%s\n(%d ref.)" % (c, r["n_reference"]) for c, r in zip(classes, result.by_size)])
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    size_chart = figure_html(figure, "object metrics per size class")
    by_size = table_html(("class", "reference objects", "prediction objects", "matched", "object recall",
                          "object precision", "pixel IoU"),
                         [(r["class"], r["n_reference"], r["n_prediction"], r["n_matched"], shown(r["OBJECT_RECALL"]),
                           shown(r["OBJECT_PRECISION"]), shown(r["IOU"])) for r in result.by_size])
    figure, axis = plt.subplots(figsize=(6, 3))
    axis.hist([result.objects.reference_iou[1:], result.objects.prediction_iou[1:]], bins=np.linspace(0, 1, 21),
              label=["reference objects", "prediction objects"], color=["#e6ab02", "#66a61e"])
    axis.set_xlabel("IoU with the partner (or best overlap when unmatched)")
    axis.set_ylabel("objects")
    axis.legend(fontsize=8)
    histogram = figure_html(figure, "object IoU histogram")
    write_page(path, "PV map accuracy", [("Summary", summary + notes), ("Confusion matrix (pixels)", confusion),
                                         ("Objects per plant-size class", by_size + size_chart),
                                         ("Object IoU", histogram)])
