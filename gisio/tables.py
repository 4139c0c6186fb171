"""Attribute tables of outputs: fields from a short spec, and features from rows of values."""
import math

from qgis.PyQt import sip
from qgis.PyQt.QtCore import QMetaType
from qgis.core import Qgis, QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsProcessingException

#: Field kinds of a spec, as Qt meta types (the field type API of QGIS ≥ 3.38 and of QGIS 4 / Qt6).
FIELD_TYPES = {"int": QMetaType.Type.Int, "long": QMetaType.Type.LongLong, "double": QMetaType.Type.Double,
               "string": QMetaType.Type.QString, "date": QMetaType.Type.QDate}

#: First QGIS version whose QgsField constructor takes a QMetaType.Type.
QMETATYPE_FIELDS_VERSION = 33800
#: Decimals kept of a double field unless its spec says otherwise (areas to 1 cm², tonnes to 0.1 kg, shares…).
DOUBLE_DECIMALS = 4
#: GDAL's CSV writer: numbers unquoted, text quoted only where it must be.
CSV_LAYER_OPTIONS = ["STRING_QUOTING=IF_NEEDED"]


def make_field(name, kind, size=0):
    """A QgsField of ``kind`` (a key of :data:`FIELD_TYPES`): ``size`` is the width of a string (0: any) or the
    decimals of a double (0: :data:`DOUBLE_DECIMALS`)."""
    meta_type = FIELD_TYPES[kind]
    length, precision = (size, 0) if kind != "double" else (0, size or DOUBLE_DECIMALS)
    if Qgis.QGIS_VERSION_INT >= QMETATYPE_FIELDS_VERSION:
        return QgsField(name, meta_type, len=length, prec=precision)
    # QGIS < 3.38 (Qt5 only) takes the QVariant type, whose numbers are the meta type's for these kinds.
    from qgis.PyQt import QtCore
    return QgsField(name, QtCore.QVariant.Type(int(meta_type)), len=length, prec=precision)


def make_fields(spec):
    """QgsFields from (name, kind) or (name, kind, size) tuples (see :func:`make_field`); kinds are the keys of
    :data:`FIELD_TYPES`."""
    fields = QgsFields()
    for name, kind, *size in spec:
        fields.append(make_field(name, kind, size[0] if size else 0))
    return fields


def make_feature(fields, values, geometry=None):
    """A feature of ``fields`` with ``values`` (and ``geometry`` when given); floats are rounded to their double
    field's decimals."""
    feature = QgsFeature(fields)
    if geometry is not None:
        feature.setGeometry(geometry)
    feature.setAttributes([round(value, field.precision()) if isinstance(value, float) and field.precision() > 0
                           and math.isfinite(value) else value for field, value in zip(fields, values)])
    return feature


def for_csv(fields, features):
    """(fields, features) for a CSV file: dates as ISO 8601 text (YYYY-MM-DD), which GDAL's CSV writer, with its
    YYYY/MM/DD, does not give."""
    date_type = make_field("date", "date").type()
    dates = [index for index, field in enumerate(fields) if field.type() == date_type]
    if not dates:
        return fields, features
    csv_fields = QgsFields()
    for index, field in enumerate(fields):
        csv_fields.append(make_field(field.name(), "string", len("YYYY-MM-DD")) if index in dates else field)
    converted = []
    for feature in features:
        values = feature.attributes()
        for index in dates:
            values[index] = values[index].toString("yyyy-MM-dd") if values[index] else None
        converted.append(make_feature(csv_fields, values, feature.geometry() if feature.hasGeometry() else None))
    return csv_fields, converted


def write_and_close(sink, features, error):
    """Add ``features`` to a processing sink, then flush and close it, so that its file is whole when this returns
    (a sink left to the garbage collector stays open, its file empty, as long as anything holds the caller's frame).
    Raises a QgsProcessingException with ``error`` when writing fails."""
    try:
        if not sink.addFeatures(list(features), QgsFeatureSink.Flag.FastInsert) or not sink.flushBuffer():
            raise QgsProcessingException("%s %s" % (error, sink.lastError()))
    finally:
        sip.delete(sink)
