"""The PV plant layer: one multipolygon feature per plant, in the image CRS, with its attributes."""
from qgis.core import QgsGeometry

from .outputs import number_or_null
from .tables import make_feature, make_fields
from .vector import ellipsoidal_area, polygonize_plants

#: Fields of the plant layer (README, "Extract PV plants").
PLANT_FIELDS = (("plant_id", "int"), ("area_m2", "double"), ("pixels", "int"), ("source", "string", 9),
                ("method", "string", 8), ("threshold", "double"), ("confidence", "double"), ("refined", "int"))


def plant_fields():
    """Attribute fields of the plant polygons."""
    return make_fields(PLANT_FIELDS)


def plant_features(plant_map, grid, crs, context, is_cancelled):
    """One multipolygon feature per plant of a core ``PlantMap`` on ``grid`` (CRS ``crs``); stops early (with the
    features made so far) when ``is_cancelled()``."""
    fields = plant_fields()
    area = ellipsoidal_area(crs, context)
    features = []
    for plant, outline in zip(plant_map.plants, polygonize_plants(plant_map.labels, plant_map.windows, grid)):
        if is_cancelled():
            break
        geometry = QgsGeometry()
        geometry.fromWkb(outline)
        features.append(make_feature(fields, [
            plant.plant_id, area.measureArea(geometry), plant.pixels, plant.source, plant_map.method,
            number_or_null(plant.threshold), number_or_null(plant.confidence), int(plant.refined)], geometry))
    return features
