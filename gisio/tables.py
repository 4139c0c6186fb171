"""Attribute tables of outputs: fields from a short spec, and features from rows of values."""
from qgis.PyQt.QtCore import QVariant
from qgis.core import QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsProcessingException

#: Field kinds of a spec, as QGIS types.
FIELD_TYPES = {"int": QVariant.Int, "long": QVariant.LongLong, "double": QVariant.Double,
               "string": QVariant.String, "date": QVariant.Date}


def make_fields(spec):
    """QgsFields from (name, kind) or (name, kind, length) tuples; kinds are the keys of :data:`FIELD_TYPES`."""
    fields = QgsFields()
    for name, kind, *length in spec:
        fields.append(QgsField(name, FIELD_TYPES[kind], len=length[0] if length else 0))
    return fields


def make_feature(fields, values, geometry=None):
    """A feature of ``fields`` with ``values`` (and ``geometry`` when given)."""
    feature = QgsFeature(fields)
    if geometry is not None:
        feature.setGeometry(geometry)
    feature.setAttributes(list(values))
    return feature


def add_to_sink(sink, features, error):
    """Add ``features`` to a processing sink; raise a QgsProcessingException with ``error`` when it fails."""
    if not sink.addFeatures(list(features), QgsFeatureSink.FastInsert):
        raise QgsProcessingException("%s %s" % (error, sink.lastError()))
