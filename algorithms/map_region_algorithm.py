"""``fusionpv:mapregion``: PV plants over many Sentinel-2 tiles in one run, merged, resumable, on all cores or a
Dask cluster."""
from qgis.core import QgsProcessing, QgsProcessingParameterEnum, QgsProcessingParameterMultipleLayers

from ..core import ownership
from ..core.extract import DEFAULT_METHOD, METHOD_PAPER
from ..core.groups import GROUP_MARGIN
from ..gisio.capacity import CAPACITY_FIELDS, PlantMeasure, capacity_values
from ..gisio.outputs import number_or_null
from ..gisio.plant_layer import PLANT_FIELDS, PROVENANCE_FIELDS, TILE_PLACE_FIELDS, provenance_values
from ..gisio.region import ResultsFolder, TileJob, plants_in_order, run_tile_job
from ..gisio.region_inputs import prior_files, settings_of, tile_inputs
from ..gisio.tables import make_feature, make_fields
from ..gisio.vector import InCrs
from .base import FusionPvAlgorithm, Group, PlantMapping, RegionMapping
from .extract_pv_plants_algorithm import ExtractPvPlantsAlgorithm

#: Fields of OUTPUT: those of Extract PV plants, the tile that decided the plant, and whether the plant reaches an
#: edge of that tile beyond which another tile goes on (1: it may be a piece of a larger plant).
REGION_PLANT_FIELDS = PLANT_FIELDS + PROVENANCE_FIELDS + CAPACITY_FIELDS + TILE_PLACE_FIELDS


class MapRegionAlgorithm(RegionMapping, PlantMapping, FusionPvAlgorithm):
    """Extract PV plants over many tiles; each prior group is decided once, in the tile that holds it best."""
    ID = "mapregion"
    DISPLAY_NAME = "Map PV plants over a region"
    GROUP = Group.PV_MAPPING
    HELP = (
        "<p>Runs the fusion of <i>Extract PV plants</i> over many Sentinel-2 tiles (INPUT; they may overlap and lie "
        "in different UTM zones) and merges the plants into one layer in OUTPUT_CRS (default: the first tile's "
        "CRS). Band roles are detected in each tile (band descriptions or the usual Earth Engine layouts).</p>"
        "<p><b>Each prior group is decided once.</b> Priors closer than {margin} pixels form a group. Of the tiles "
        "whose footprint holds the whole group window (the group and {margin} pixels around it, apart from what "
        "lies outside every tile), the tile where the group's centre lies deepest decides it, with the same "
        "surroundings as in one image of the whole region: plants across tile borders and in overlaps come out "
        "once and whole, and the result does not depend on the tiling or on WORKERS. Tiles on one pixel grid (one "
        "UTM zone) agree exactly; across zones a group can be decided by two tiles (a slack of {slack:g} pixels), "
        "and the merge keeps the one decided deeper in its tile. With the paper method the NDPI thresholds are "
        "chosen per tile, from the groups that tile decides.</p>"
        "<p><b>Priors are read per tile</b> through a spatial filter on the tile's extent and burnt only around "
        "themselves: a country-wide layer is never rasterised whole. Layers that are not plain files (memory "
        "layers, databases, filtered layers) are first copied to a GeoPackage in the results folder.</p>"
        + RegionMapping.ENGINE_HELP)

    INPUT = "INPUT"
    METHOD = "METHOD"

    def help_values(self):
        return dict(margin=GROUP_MARGIN, slack=ownership.CROSS_GRID_TOLERANCE)

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUT, self.tr("Sentinel-2 tiles"), QgsProcessing.SourceType.TypeRaster))
        self.add_prior_parameters()
        methods = ExtractPvPlantsAlgorithm.METHODS
        self.addParameter(QgsProcessingParameterEnum(
            self.METHOD, self.tr("Method"), [self.tr(methods[m]) for m in sorted(methods)], defaultValue=DEFAULT_METHOD))
        self.add_min_area_parameter()
        self.add_engine_parameters(self.tr("CRS of the plants (empty: the first tile's)"))
        self.add_scale_and_offset()
        self.add_plants_output(self.tr("PV plants"))
        self.add_tiles_output(self.tr("Tiles (status, plants, seconds, error)"))

    def compute(self, parameters, context, feedback):
        tiles = tile_inputs(self.parameterAsLayerList(parameters, self.INPUT, context), self.INPUT, feedback)
        layers = self.prior_layers(parameters, context)
        method = self.parameterAsEnum(parameters, self.METHOD, context)
        min_area = self.parameterAsInt(parameters, self.MIN_AREA_PIXELS, context)
        scale = self.parameterAsDouble(parameters, self.SCALE, context)
        offset = self.parameterAsDouble(parameters, self.OFFSET, context)
        engine = self.engine(parameters, context, feedback)
        output_crs = self.output_crs(parameters, context, tiles[0].crs)
        return self.in_results_folder(parameters, context, lambda folder_path: self.map_tiles(
            parameters, context, feedback, tiles, layers, method, min_area, scale, offset, engine, output_crs,
            folder_path))

    def map_tiles(self, parameters, context, feedback, tiles, layers, method, min_area, scale, offset, engine,
                  output_crs, folder_path):
        """The run once its parameters are read and its results folder claimed."""
        priors = [prior_files(role_layers, parameter, folder_path, context, feedback)
                  for role_layers, parameter in zip(layers, (self.TRUSTED_PRIORS, self.CANDIDATE_PRIORS))]
        folder = ResultsFolder(folder_path, settings_of(tiles, priors, method, min_area, scale, offset))
        workers, scheduler = engine
        parts = 1 if method == METHOD_PAPER or scheduler else max(1, workers // len(tiles))
        grids = [tile.grid for tile in tiles]
        threads = 1 if not scheduler and workers > 1 else 0  # processes side by side already fill the cores

        def make_job(number, part, parts, failed=()):
            tile = tiles[number]
            return TileJob(number, part, parts, tile.path, tile.band_numbers, tile.nodata, scale, offset, priors[0],
                           priors[1], method, min_area, grids, threads, failed)

        names = [tile.name for tile in tiles]
        done, results = self.run_region(names, make_job, run_tile_job, folder, engine, parts, feedback)
        feedback.setProgressText(self.tr("Merging the plants of %d tile(s)") % len(tiles))
        plants = plants_in_order(done)
        features = self.plant_features(plants, names, output_crs, context)
        self.warn_of_pieces(features, feedback)
        feedback.setProgress(98)
        outputs = {self.OUTPUT: self.write_plants(parameters, context, make_fields(REGION_PLANT_FIELDS), features,
                                                  output_crs)}
        outputs.update(self.write_tiles(parameters, context, names, results, plants))
        feedback.pushInfo(self.tr("%d PV plant(s) mapped over %d tile(s).") % (len(features), len(tiles)))
        return outputs

    def plant_features(self, plants, names, output_crs, context):
        """Features of the merged plants in ``output_crs``, in raster-like order (north to south, then west to
        east)."""
        fields = make_fields(REGION_PLANT_FIELDS)
        measure = PlantMeasure(output_crs, context)
        in_crs = InCrs(output_crs, context)
        placed = []
        for result, wkb, values in plants:
            geometry = in_crs.geometry(wkb, result["crs_wkt"])
            box = geometry.boundingBox()
            placed.append(((-round(box.yMaximum(), 6), round(box.xMinimum(), 6)), geometry, values, result["tile"]))
        placed.sort(key=lambda item: item[0])
        features = []
        for plant_id, (_, geometry, values, tile) in enumerate(placed, start=1):
            area_m2 = measure.area.measureArea(geometry)
            features.append(make_feature(fields, [
                plant_id, area_m2, values["pixels"], values["source"], values["method"],
                number_or_null(values["threshold"]), number_or_null(values["confidence"]), values["refined"],
                *provenance_values(values.get("sources", ())), *capacity_values(measure.capacity(geometry, area_m2)),
                names[tile], values.get("at_tile_edge", 0)],
                geometry))
        return features
