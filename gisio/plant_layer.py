"""The PV plant layers: one multipolygon feature per plant, in the image CRS, with its attributes (and, over
time, its history), and the per-period table."""
import numpy as np
from qgis.PyQt.QtCore import QDate
from qgis.core import QgsGeometry

from ..core import improved
from ..core.over_time import ABSENT, NO_DATA, PRESENT, STATUS_FROM_START, evidence_text
from .capacity import CAPACITY_FIELDS, PlantMeasure, capacity_values
from .context import CONTEXT_FIELDS
from .outputs import number_or_null
from .raster import RasterWriter, window_grid
from .tables import make_feature, make_fields
from .shapes import polygonize_mask

#: Fields of the plant layer (README, "Extract PV plants").
PLANT_FIELDS = (("plant_id", "int"), ("area_m2", "double"), ("pixels", "int"), ("source", "string", 9),
                ("method", "string", 8), ("threshold", "double"), ("confidence", "double"), ("refined", "int"))
#: Which prior products (layers) overlap each plant, and how many (README, "Extract PV plants").
PROVENANCE_FIELDS = (("sources", "string", 254), ("n_sources", "int"))
#: Of a plant mapped over many tiles: the tile that decided it, and whether it reaches an edge of that tile beyond
#: which another tile goes on (1: it may be a piece of a larger plant).
TILE_PLACE_FIELDS = (("tile", "string", 254), ("at_tile_edge", "int"))


def plant_fields(plant_context=None):
    """Attribute fields of the plant polygons (with the context fields when a ``PlantContext`` is given)."""
    return make_fields(PLANT_FIELDS + PROVENANCE_FIELDS + CAPACITY_FIELDS
                       + (CONTEXT_FIELDS if plant_context is not None else ()))


def provenance_values(sources):
    """The :data:`PROVENANCE_FIELDS` values of a plant overlapped by the prior layers named ``sources``."""
    return [", ".join(sources), len(sources)]


def plant_features(plant_map, grid, crs, context, is_cancelled, plant_context=None):
    """One multipolygon feature per plant of a core ``PlantMap`` on ``grid`` (CRS ``crs``), with its context
    class when ``plant_context`` (a ``gisio.context.PlantContext``) is given; stops early (with the features made
    so far) when ``is_cancelled()``. Their capacity is that of a plant of unknown year and mount."""
    fields = plant_fields(plant_context)
    measure = PlantMeasure(crs, context)
    features = []
    for plant, window, mask in zip(plant_map.plants, plant_map.windows, plant_map.masks):
        if is_cancelled():
            break
        geometry = QgsGeometry()
        geometry.fromWkb(polygonize_mask(mask, window_grid(grid, window)))
        area_m2 = measure.area.measureArea(geometry)
        values = [plant.plant_id, area_m2, plant.pixels, plant.source, plant_map.method,
                  number_or_null(plant.threshold), number_or_null(plant.confidence), int(plant.refined)]
        values += provenance_values(plant.sources) + capacity_values(measure.capacity(geometry, area_m2))
        if plant_context is not None:
            values += plant_context.of_plant(window, mask)
        features.append(make_feature(fields, values, geometry))
    return features


#: The field of a plant's status over time (``core.over_time`` statuses).
STATUS_FIELD = "status"
#: Fields added by plants over time (README, "PV plants over time").
TIME_FIELDS = (("first_seen", "date"), ("first_seen_year", "int"), ("construction_period", "string", 16),
               ("last_seen", "date"), ("periods_present", "int"), ("periods_observed", "int"),
               ("presence", "string"), ("presence_raw", "string"), (STATUS_FIELD, "string", 24),
               ("evidence", "string"), ("built_after", "date"), ("built_before", "date"), ("removed_after", "date"),
               ("removed_before", "date"))
#: The fields holding one character per period.
PRESENCE_FIELDS = ("presence", "presence_raw", "evidence")
#: The widest text field of a Shapefile (dBASE): a presence of more periods needs another format.
SHAPEFILE_TEXT_WIDTH = 254
#: Fields of the per-period table.
PERIOD_FIELDS = (("period", "string", 10), ("start", "date"), ("end", "date"), ("plants_observed", "int"),
                 ("plants_present", "int"), ("pv_area_m2", "double"), ("new_plants", "int"),
                 ("new_area_m2", "double"))


def history_fields(period_count):
    """Attribute fields of the plants-over-time layer: those of the plant layer (provenance included), then
    :data:`TIME_FIELDS`, the presences ``period_count`` characters wide, the capacity, then
    :data:`TILE_PLACE_FIELDS`."""
    time_fields = [(name, kind, period_count) if name in PRESENCE_FIELDS else (name, kind, *size)
                   for name, kind, *size in TIME_FIELDS]
    return make_fields(PLANT_FIELDS + PROVENANCE_FIELDS + tuple(time_fields) + CAPACITY_FIELDS + TILE_PLACE_FIELDS)


def _qdate(day):
    return QDate(day.year, day.month, day.day) if day is not None else None


def history_features(plants, periods, crs, context, is_cancelled):
    """One multipolygon feature per prior component: ``plants`` are (its geometry in ``crs``: its latest outline,
    or the prior itself when it was never seen; its core ``PlantHistory``; the name of its tile; whether it reaches
    a tile edge) with the names of the prior layers it comes from; stops early when ``is_cancelled()``. A plant's
    capacity is that of its year built (:func:`history_capacity`)."""
    fields = history_fields(len(periods))
    measure = PlantMeasure(crs, context)
    features = []
    for plant_id, (geometry, history, tile, at_tile_edge) in enumerate(plants, start=1):
        if is_cancelled():
            break
        outline = history.shown_outline
        result = history.results.get(history.latest)
        first, last = history.first, history.last
        seen = first is not None
        area_m2 = measure.area.measureArea(geometry)
        construction = None
        if seen:
            label = periods[first].label
            construction = label if history.life.built else "by " + label
        features.append(make_feature(fields, [
            plant_id, area_m2, int(outline.sum()), history.source, "improved",
            number_or_null(result.threshold if result else None), number_or_null(result.confidence if result else None),
            int(bool(result and improved.changed(result))),
            *provenance_values(history.sources),
            _qdate(periods[first].start) if seen else None, periods[first].start.year if seen else None,
            construction, _qdate(periods[last].last_day) if seen else None, history.presence.count(PRESENT),
            sum(state != NO_DATA for state in history.raw), history.presence, "".join(history.raw),
            history.status, evidence_text(history.period_evidence), _qdate(history.built_after),
            _qdate(history.built_before), _qdate(history.removed_after), _qdate(history.removed_before),
            *capacity_values(history_capacity(history, periods, geometry, area_m2, measure)), tile, at_tile_edge],
            geometry))
    return features


def history_capacity(history, periods, geometry, area_m2, measure):
    """Capacity of a plant over time: of the year it was first seen, a year it was built by when it was there from
    the first period (the interval widened); None for a plant never seen."""
    if history.first is None:
        return None
    return measure.capacity(geometry, area_m2, periods[history.first].start.year,
                            built_by=history.status == STATUS_FROM_START)


def period_rows(histories, periods, pixel_areas):
    """Per period: [label, start, last day, plants observed, plants present, PV area m², new plants, new area m²];
    areas are pixel counts × the pixel area of each history's grid (``pixel_areas``, m² on a metric grid). A plant
    is new in the period of its first presence when it was seen absent before (status ``built``, or ``removed``
    after being built)."""
    rows = []
    for number, period in enumerate(periods):
        outlines = [(history, outline, pixel_area) for history, pixel_area in zip(histories, pixel_areas)
                    for outline in [history.outline_in(number)]]
        present = [(history, outline, pixel_area) for history, outline, pixel_area in outlines if outline is not None]
        new = [(history, outline, pixel_area) for history, outline, pixel_area in present
               if history.first == number and ABSENT in history.presence[:number]]
        rows.append([period.label, _qdate(period.start), _qdate(period.last_day),
                     sum(history.raw[number] != NO_DATA for history in histories), len(present),
                     sum(int(outline.sum()) * pixel_area for _, outline, pixel_area in present), len(new),
                     sum(int(outline.sum()) * pixel_area for _, outline, pixel_area in new)])
    return rows


#: Description of the last band of the per-period raster.
FIRST_PERIOD_BAND = "first period with PV"


def write_period_bands(histories, periods, grid, path, driver, stage):
    """The per-period raster of ``histories`` on ``grid`` (GDAL ``driver``, staged by ``stage``): one band per
    period, 1 where a plant is there in that period (its outline then, see ``PlantHistory.outline_in``); then a
    band of the first period with PV (its number from 1, 0 = never)."""
    data_type = np.uint8 if len(periods) < np.iinfo(np.uint8).max else np.uint16
    first = np.zeros((grid.height, grid.width), data_type)
    with RasterWriter(path, grid, data_type, driver, descriptions=[period.label for period in periods]
                      + [FIRST_PERIOD_BAND], stage=stage) as writer:
        for number in range(len(periods)):
            band = np.zeros((grid.height, grid.width), data_type)
            for history in histories:
                outline = history.outline_in(number)
                if outline is not None:
                    band[history.window][outline] = 1
            first[(first == 0) & (band == 1)] = number + 1
            writer.write(band, band=number + 1)
        writer.write(first, band=len(periods) + 1)
