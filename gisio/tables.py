"""Attribute tables of outputs: fields from a short spec, and features from rows of values."""
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QMetaType
from qgis.core import Qgis, QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsProcessingException

#: Field kinds of a spec, as Qt meta types (the field type API of QGIS ≥ 3.38 and of QGIS 4 / Qt6).
FIELD_TYPES = {"int": QMetaType.Type.Int, "long": QMetaType.Type.LongLong, "double": QMetaType.Type.Double,
               "string": QMetaType.Type.QString, "date": QMetaType.Type.QDate}

#: First QGIS version whose QgsField constructor takes a QMetaType.Type.
QMETATYPE_FIELDS_VERSION = 33800


def make_field(name, kind, length=0):
    """A QgsField of ``kind`` (a key of :data:`FIELD_TYPES`), ``length`` characters wide for strings (0: any)."""
    meta_type = FIELD_TYPES[kind]
    if Qgis.QGIS_VERSION_INT >= QMETATYPE_FIELDS_VERSION:
        return QgsField(name, meta_type, len=length)
    # QGIS < 3.38 (Qt5 only) takes the QVariant type, whose numbers are the meta type's for these kinds.
    from qgis.PyQt import QtCore
    return QgsField(name, QtCore.QVariant.Type(int(meta_type)), len=length)


def make_fields(spec):
    """QgsFields from (name, kind) or (name, kind, length) tuples; kinds are the keys of :data:`FIELD_TYPES`."""
    fields = QgsFields()
    for name, kind, *length in spec:
        fields.append(make_field(name, kind, length[0] if length else 0))
    return fields


def make_feature(fields, values, geometry=None):
    """A feature of ``fields`` with ``values`` (and ``geometry`` when given)."""
    feature = QgsFeature(fields)
    if geometry is not None:
        feature.setGeometry(geometry)
    feature.setAttributes(list(values))
    return feature


def write_and_close(sink, features, error):
    """Add ``features`` to a processing sink, then flush and close it, so that its file is whole when this returns
    (a sink left to the garbage collector stays open, its file empty, as long as anything holds the caller's frame).
    Raises a QgsProcessingException with ``error`` when writing fails."""
    try:
        if not sink.addFeatures(list(features), QgsFeatureSink.Flag.FastInsert) or not sink.flushBuffer():
            raise QgsProcessingException("%s %s" % (error, sink.lastError()))
    finally:
        sip.delete(sink)
