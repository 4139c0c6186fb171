"""``fusionpv:searchimagery``: Sentinel-2 L2A items of a STAC API over an area and dates, as an ItemCollection
that Plants over time and Clear-sky composite read window by window."""
from qgis.core import (QgsCoordinateReferenceSystem, QgsProcessing, QgsProcessingException,
                       QgsProcessingParameterExtent, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterString, QgsWkbTypes)

from ..gisio import stac_search
from ..gisio.tables import make_feature, make_fields
from .base import DateRange, FusionPvAlgorithm, Group

#: Earth Search v1 (Element 84): Sentinel-2 L2A COGs on AWS, no account needed.
EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
DEFAULT_COLLECTION = "sentinel-2-l2a"
#: Scene cloud cover (%) kept by default: the per-pixel SCL mask does the real work.
DEFAULT_MAX_CLOUD = 80.0
DEFAULT_PAGE_SIZE = 100


class SearchImageryAlgorithm(DateRange, FusionPvAlgorithm):
    """Search a STAC API for Sentinel-2 L2A items over EXTENT between START_DATE and END_DATE."""
    ID = "searchimagery"
    DISPLAY_NAME = "Find Sentinel-2 imagery (STAC)"
    GROUP = Group.SENTINEL2_INPUT
    HELP = (
        "<p>Finds the Sentinel-2 L2A acquisitions over EXTENT between START_DATE and END_DATE in a STAC API "
        "(default: Element 84's Earth Search, free and without an account; Microsoft Planetary Computer's links are "
        "signed with its SAS tokens when they are read) and writes them as a STAC ItemCollection (OUTPUT, .json). "
        "Give that file as INPUT to <i>PV plants over time</i> or <i>Clear-sky composite</i>: they read the "
        "Cloud-Optimised GeoTIFFs over HTTP, only in the "
        "windows around the priors, with the clear pixels of SCL, and log the bytes fetched. Nothing is "
        "downloaded here.</p>"
        "<p>MAX_CLOUD keeps scenes with at most that cloud cover (% of the scene, default {max_cloud:g}: the "
        "per-pixel SCL mask does the real work, and a cloudy scene may be clear over your plants). OUTPUT_FOOTPRINTS "
        "shows which acquisitions exist: id, date, cloud cover, tile, platform, processing baseline.</p>"
        "<p>Requests go through QGIS's network settings (proxy, authentication); every page of results is followed; "
        "a failed request is tried {tries} times with a growing wait, each with {timeout} s in all. The BOA offset of "
        "each item (processing baseline 04.00 and later) is decided when the items are read; see the README.</p>")
    STAC_API = "STAC_API"
    COLLECTION = "COLLECTION"
    EXTENT = "EXTENT"
    MAX_CLOUD = "MAX_CLOUD"
    PAGE_SIZE = "PAGE_SIZE"
    OUTPUT = "OUTPUT"
    OUTPUT_FOOTPRINTS = "OUTPUT_FOOTPRINTS"

    def help_values(self):
        return {"max_cloud": DEFAULT_MAX_CLOUD, "tries": stac_search.TRIES, "timeout": stac_search.DEADLINE_SECONDS}

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.addParameter(QgsProcessingParameterString(self.STAC_API, self.tr("STAC API"), EARTH_SEARCH))
        self.addParameter(QgsProcessingParameterString(self.COLLECTION, self.tr("Collection"), DEFAULT_COLLECTION))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Area")))
        self.add_date_parameters()
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_CLOUD, self.tr("Largest scene cloud cover (%)"), QgsProcessingParameterNumber.Type.Double,
            DEFAULT_MAX_CLOUD, minValue=0, maxValue=100))
        self.add_advanced([QgsProcessingParameterNumber(
            self.PAGE_SIZE, self.tr("Items per page of results"), QgsProcessingParameterNumber.Type.Integer,
            DEFAULT_PAGE_SIZE, minValue=1, maxValue=10000)])
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, self.tr("Items found (STAC ItemCollection)"), self.tr("JSON files (*.json)")))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_FOOTPRINTS, self.tr("Footprints of the items"), QgsProcessing.SourceType.TypeVectorPolygon,
            optional=True))

    def compute(self, parameters, context, feedback):
        root = self.parameterAsString(parameters, self.STAC_API, context).strip()
        if not root.lower().startswith(("http://", "https://")):
            raise QgsProcessingException(self.tr("STAC_API: give the URL of a STAC API (http:// or https://), e.g. "
                                                 "%s; got '%s'.") % (EARTH_SEARCH, root))
        collection = self.parameterAsString(parameters, self.COLLECTION, context).strip()
        if not collection:
            raise QgsProcessingException(self.tr("COLLECTION: give a collection id, e.g. %s.") % DEFAULT_COLLECTION)
        boxes = self._boxes(parameters, context)
        start, end = self.date_limits(parameters, context)
        if start and end and start > end:
            raise QgsProcessingException(self.tr("START_DATE, END_DATE: %s is after %s.") % (start, end))
        max_cloud = self.parameterAsDouble(parameters, self.MAX_CLOUD, context)
        api = stac_search.StacApi(root, feedback)
        with_query = stac_search.has_query_extension(api.conforms_to())
        items, pages = [], 0
        for box in boxes:
            body = stac_search.search_body(collection, box, start, end, max_cloud,
                                           self.parameterAsInt(parameters, self.PAGE_SIZE, context), with_query)
            found, box_pages = api.search(body)
            known = {item["id"] for item in items}
            items += [item for item in found if item["id"] not in known]
            pages += box_pages
        within, unreadable = stac_search.within_cloud_cover(items, max_cloud)
        if unreadable:
            feedback.pushWarning(self.tr("%d item(s) give an eo:cloud_cover that is not a number from 0 to 100; "
                                         "they are kept as of unknown cloud cover: %s.") % (
                len(unreadable), ", ".join(unreadable[:5])))
        kept, undated = stac_search.dated_items(within)
        if undated:
            feedback.pushWarning(self.tr("%d item(s) have no acquisition date and are left out: %s.")
                                 % (len(undated), ", ".join(undated[:5])))
        feedback.pushInfo(self.tr("%s: %d item(s) of %s in %d page(s) (%d request(s)); %d with at most %g %% cloud "
                                  "cover%s.") % (root, len(items), collection, pages, api.requests, len(kept),
                                                 max_cloud, "" if with_query else
                                                 self.tr(" (filtered here: the API has no query extension)")))
        if not kept:
            if not api.has_collection(collection):
                raise QgsProcessingException(self.tr("COLLECTION: %s has no collection '%s'; Sentinel-2 L2A is %s "
                                                     "on Earth Search.") % (root, collection, DEFAULT_COLLECTION))
            raise QgsProcessingException(self.tr(
                "EXTENT, START_DATE, END_DATE, MAX_CLOUD: %s has no item of %s there and then with at most %g %% "
                "cloud cover; widen the dates or raise MAX_CLOUD.") % (root, collection, max_cloud))
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        stac_search.write_item_collection(self.staged_file(output), kept)
        results = {self.OUTPUT: output}
        fields = make_fields(stac_search.FOOTPRINT_FIELDS)
        rows, without = stac_search.footprint_rows(kept)
        if without and self.parameterAsOutputLayer(parameters, self.OUTPUT_FOOTPRINTS, context):
            feedback.pushWarning(self.tr("OUTPUT_FOOTPRINTS: %d item(s) have no polygon geometry and no footprint "
                                         "(they are in OUTPUT): %s.") % (len(without), ", ".join(without[:5])))
        footprints = self.write_sink(
            parameters, self.OUTPUT_FOOTPRINTS, context, fields,
            [make_feature(fields, values, geometry) for geometry, values in rows],
            QgsWkbTypes.Type.MultiPolygon, QgsCoordinateReferenceSystem("EPSG:4326"))
        if footprints is not None:
            results[self.OUTPUT_FOOTPRINTS] = footprints
        return results

    def _boxes(self, parameters, context):
        """EXTENT as boxes (west, south, east, north) in WGS 84: two where it crosses the antimeridian."""
        extent = self.parameterAsExtent(parameters, self.EXTENT, context)
        crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        if extent.isNull() or extent.isEmpty():
            raise QgsProcessingException(self.tr("EXTENT: give the area to search (an extent with a size)."))
        given = extent_text_longitudes(parameters.get(self.EXTENT))
        if given is not None and crs.authid() == "EPSG:4326" and given[0] > given[1]:
            west, east = given  # "179,-179,…": from 179° east over the antimeridian to 179° west
            return stac_search.antimeridian_boxes(west, extent.yMinimum(), east + 360, extent.yMaximum())
        outline = self.parameterAsExtentGeometry(parameters, self.EXTENT, context,
                                                 QgsCoordinateReferenceSystem("EPSG:4326"))
        points = [outline.vertexAt(number) for number in range(outline.constGet().nCoordinates())]
        return stac_search.boxes_of_points([(point.x(), point.y()) for point in points])


def extent_text_longitudes(value):
    """(xmin, xmax) as written in an extent text "xmin,xmax,ymin,ymax [CRS]", or None."""
    if not isinstance(value, str):
        return None
    try:
        numbers = [float(part) for part in value.split("[")[0].split(",")]
    except ValueError:
        return None
    return (numbers[0], numbers[1]) if len(numbers) == 4 else None
