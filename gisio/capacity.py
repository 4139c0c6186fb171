"""Capacity of plant polygons: their area on the ellipsoid and the latitude of their centre, handed to
``core.capacity``."""
from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform

from ..core import capacity
from .outputs import number_or_null
from .vector import ellipsoidal_area

#: The capacity fields every plant layer carries (README, "Capacity"): MWdc and its 80 % interval.
CAPACITY_FIELDS = (("capacity_mwdc", "double"), ("capacity_mwdc_low", "double"), ("capacity_mwdc_high", "double"))
#: The field saying which density was used and why (``fusionpv:capacity``).
BASIS_FIELD = ("capacity_basis", "string", 254)


class PlantMeasure:
    """Area (m², ellipsoidal) and centre latitude (degrees) of polygons in ``crs``."""

    def __init__(self, crs, context):
        self.area = ellipsoidal_area(crs, context)
        self.to_degrees = QgsCoordinateTransform(crs, QgsCoordinateReferenceSystem("EPSG:4326"),
                                                 context.transformContext())

    def latitude(self, geometry):
        """Latitude of the centre of ``geometry`` (0 for an empty one, which has no capacity)."""
        if geometry.isEmpty():
            return 0.0
        return self.to_degrees.transform(geometry.centroid().asPoint()).y()

    def capacity(self, geometry, area_m2, year=None, built_by=False, mount=capacity.UNKNOWN_MOUNT):
        """``core.capacity.Capacity`` of a ground-mounted plant outlined by ``geometry``, of ``area_m2`` (as
        ``self.area`` measures it)."""
        return capacity.plant_capacity(area_m2, self.latitude(geometry), year, mount=mount, built_by=built_by)


def capacity_values(plant_capacity):
    """The :data:`CAPACITY_FIELDS` values of a ``core.capacity.Capacity`` (or NULLs for None)."""
    if plant_capacity is None:
        return [None, None, None]
    return [number_or_null(plant_capacity.mwdc), number_or_null(plant_capacity.low),
            number_or_null(plant_capacity.high)]
