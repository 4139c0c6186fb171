"""``fusionpv:mapregion``: PV plants over many Sentinel-2 tiles in one run, merged, resumable, on all cores or a
Dask cluster."""
import os
from dataclasses import replace

from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsGeometry, QgsProcessing,
                       QgsProcessingException, QgsProcessingParameterCrs, QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber, QgsProcessingParameterString, QgsProcessingUtils)

from ..core import ownership
from ..core.extract import DEFAULT_METHOD, METHOD_PAPER
from ..core.groups import GROUP_MARGIN
from ..gisio.engines import EngineError, run_jobs
from ..gisio.messages import CANCELLED
from ..gisio.outputs import number_or_null
from ..gisio.plant_layer import PLANT_FIELDS, PROVENANCE_FIELDS, provenance_values
from ..gisio.region import DONE, FAILED, REUSED, ResultsFolder, TileJob, plants_in_order, run_tile_job
from ..gisio.region_inputs import prior_files, settings_of, tile_inputs
from ..gisio.tables import make_feature, make_fields
from ..gisio.vector import ellipsoidal_area, holds_plant_polygons
from .base import FusionPvAlgorithm, Group, PlantMapping
from .extract_pv_plants_algorithm import ExtractPvPlantsAlgorithm

#: Fields of OUTPUT_TILES.
TILE_FIELDS = (("tile", "string", 254), ("status", "string", 8), ("plants", "int"), ("seconds", "double"),
               ("error", "string", 254))
#: Fields of OUTPUT: those of Extract PV plants, the tile that decided the plant, and whether the plant reaches an
#: edge of that tile beyond which another tile goes on (1: it may be a piece of a larger plant).
REGION_PLANT_FIELDS = PLANT_FIELDS + PROVENANCE_FIELDS + (("tile", "string", 254), ("at_tile_edge", "int"))


class MapRegionAlgorithm(PlantMapping, FusionPvAlgorithm):
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
        "<p><b>WORKERS</b> processes run tiles side by side (0 = all cores); with fewer tiles than workers, a tile's "
        "groups are shared out. Workers need GDAL and numpy but no QGIS. <b>DASK_SCHEDULER</b> (for example "
        "tcp://10.0.0.5:8786) sends the tiles to a running dask.distributed cluster instead; tiles, priors and the "
        "plugin folder must then be at the same paths on every worker (README, \"Map PV plants over a "
        "region\").</p>"
        "<p><b>Resumable</b>: each finished tile is kept in the folder <i>OUTPUT</i>.tiles beside the output. Run "
        "again with the same settings and only the unfinished tiles are done; other settings clear the folder. A "
        "tile that fails is reported in OUTPUT_TILES (tile, status done / reused / failed, plants, seconds, "
        "error) and the others go on; the groups it owned are then decided by the tiles that own them once it is "
        "left out. Cancel stops handing out tiles; finished ones stay for a resume.</p>")
    INPUT = "INPUT"
    METHOD = "METHOD"
    WORKERS = "WORKERS"
    DASK_SCHEDULER = "DASK_SCHEDULER"
    OUTPUT_CRS = "OUTPUT_CRS"
    OUTPUT_TILES = "OUTPUT_TILES"

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
        self.addParameter(QgsProcessingParameterNumber(
            self.WORKERS, self.tr("Worker processes (0 = all cores)"), QgsProcessingParameterNumber.Type.Integer, 0,
            minValue=0, maxValue=1024))
        self.addParameter(QgsProcessingParameterString(
            self.DASK_SCHEDULER, self.tr("Dask scheduler (empty = this machine)"), optional=True))
        self.addParameter(QgsProcessingParameterCrs(
            self.OUTPUT_CRS, self.tr("CRS of the plants (empty: the first tile's)"), optional=True))
        self.add_scale_and_offset()
        self.add_plants_output(self.tr("PV plants"))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TILES, self.tr("Tiles (status, plants, seconds, error)"), QgsProcessing.SourceType.TypeVector,
            optional=True, createByDefault=False))

    def compute(self, parameters, context, feedback):
        tiles = tile_inputs(self.parameterAsLayerList(parameters, self.INPUT, context), self.INPUT, feedback)
        layers = self.prior_layers(parameters, context)
        method = self.parameterAsEnum(parameters, self.METHOD, context)
        min_area = self.parameterAsInt(parameters, self.MIN_AREA_PIXELS, context)
        scale = self.parameterAsDouble(parameters, self.SCALE, context)
        offset = self.parameterAsDouble(parameters, self.OFFSET, context)
        workers = self.worker_count(parameters, context, feedback)
        scheduler = (self.parameterAsString(parameters, self.DASK_SCHEDULER, context) or "").strip()
        output_crs = self.output_crs(parameters, context, tiles[0].crs)

        folder_path = self.results_folder(parameters, context)
        new_folder = not os.path.exists(folder_path)
        if not ResultsFolder.claim(folder_path):
            raise QgsProcessingException(self.tr(
                "OUTPUT: %s holds files this plugin did not write, and the resumable results of the run go there; "
                "move them, or choose another OUTPUT.") % folder_path)
        try:
            return self.map_tiles(parameters, context, feedback, tiles, layers, method, min_area, scale, offset,
                                  workers, scheduler, output_crs, folder_path)
        except BaseException:
            if new_folder:
                ResultsFolder.discard_if_unused(folder_path)  # a refused or failed run leaves nothing behind
            raise

    def map_tiles(self, parameters, context, feedback, tiles, layers, method, min_area, scale, offset, workers,
                  scheduler, output_crs, folder_path):
        """The run once its parameters are read and its results folder claimed."""
        priors = [prior_files(role_layers, parameter, folder_path, context, feedback)
                  for role_layers, parameter in zip(layers, (self.TRUSTED_PRIORS, self.CANDIDATE_PRIORS))]
        folder = ResultsFolder(folder_path, settings_of(tiles, priors, method, min_area, scale, offset))
        if folder.cleared:
            feedback.pushWarning(self.tr("%d tile result(s) of other settings were cleared from %s.")
                                 % (folder.cleared, folder.folder))
        parts = 1 if method == METHOD_PAPER or scheduler else max(1, workers // len(tiles))
        grids = [tile.grid for tile in tiles]
        threads = 1 if not scheduler and workers > 1 else 0  # processes side by side already fill the cores
        results, jobs = {}, []
        for number, tile in enumerate(tiles):
            reused = folder.complete(number)
            if reused:
                results[number] = [dict(result, status=REUSED) for result in reused]
                continue
            jobs += [TileJob(number, part, parts, tile.path, tile.band_numbers, tile.nodata, scale, offset,
                             priors[0], priors[1], method, min_area, grids, threads) for part in range(parts)]
        feedback.pushInfo(self.tr("%d tile(s): %d already done in %s, %d job(s) to run on %s.") % (
            len(tiles), len(results), folder.folder, len(jobs),
            scheduler or self.tr("%d process(es)") % min(workers, max(len(jobs), 1))))
        feedback.setProgress(5)

        def on_result(result):
            folder.store(result)
            results.setdefault(result["tile"], []).append(result)
            name = tiles[result["tile"]].name
            if result["status"] == FAILED:
                feedback.pushWarning(self.tr("Tile %s failed: %s") % (name, result["error"]))
            else:
                feedback.pushInfo(self.tr("Tile %s (part %d of %d): %d plant(s), %d group(s), %.1f s, peak %.0f MiB.")
                                  % (name, result["part"] + 1, result["parts"], len(result["plants"]),
                                     result["groups"], result["seconds"], result["peak_mib"]))
            feedback.setProgress(5 + 90 * len([r for rs in results.values() for r in rs if r["status"] != REUSED])
                                 / max(len(jobs), 1))

        self.run_or_stop(jobs, workers, scheduler, on_result, feedback, folder)
        failed = sorted(number for number, parts in results.items() if any(r["status"] == FAILED for r in parts))
        if len(failed) == len(tiles):
            raise QgsProcessingException(self.tr("INPUT: every tile failed; the first error: %s") % next(
                result["error"] for rs in results.values() for result in rs if result["error"]))
        done = [result for number in sorted(results) if number not in failed for result in results[number]]
        if failed:
            done += self.decide_for_failed(failed, jobs, tiles, folder, workers, scheduler, feedback)
        feedback.setProgressText(self.tr("Merging the plants of %d tile(s)") % len(tiles))
        plant_counts = {}
        features = self.plant_features(plants_in_order(done), tiles, output_crs, context, plant_counts)
        self.warn_of_pieces(features, feedback)
        feedback.setProgress(98)
        outputs = {self.OUTPUT: self.write_plants_with_fields(parameters, context, features, output_crs)}
        outputs.update(self.write_tiles(parameters, context, tiles, results, plant_counts))
        feedback.pushInfo(self.tr("%d PV plant(s) mapped over %d tile(s).") % (len(features), len(tiles)))
        return outputs

    def run_or_stop(self, jobs, workers, scheduler, on_result, feedback, folder):
        """Run the jobs; an engine that cannot start or a cancel stops the run with a message."""
        try:
            finished = run_jobs(jobs, run_tile_job, workers, scheduler, on_result, feedback.isCanceled)
        except EngineError as error:
            raise QgsProcessingException("%s: %s" % (error.parameter, error))
        if not finished:
            raise QgsProcessingException(CANCELLED + " " + self.tr(
                "Finished tiles are kept in %s; run again to resume.") % folder.folder)

    def decide_for_failed(self, failed, jobs, tiles, folder, workers, scheduler, feedback):
        """The results of a second pass: the groups the ``failed`` tiles owned, each decided by the tile that owns
        it once they are left out (kept in the results folder like the others)."""
        template = jobs[0] if jobs else None
        if template is None:  # every job was reused: nothing failed in this run
            return []
        rescue, results = [], []
        for number, tile in enumerate(tiles):
            if number in failed:
                continue
            job = replace(template, tile=number, part=0, parts=1, path=tile.path, band_numbers=tile.band_numbers,
                          nodata=tile.nodata, failed=tuple(failed))
            stored = folder.load(job.key)
            if stored is not None:
                results.append(stored)
            else:
                rescue.append(job)
        feedback.pushInfo(self.tr("The groups of %d failed tile(s) go to the other tiles that hold them: %d job(s).")
                          % (len(failed), len(rescue)))

        def on_result(result):
            folder.store(result)
            if result["status"] == FAILED:
                feedback.pushWarning(self.tr("Tile %s failed too: %s") % (tiles[result["tile"]].name,
                                                                          result["error"]))
            else:
                results.append(result)

        self.run_or_stop(rescue, workers, scheduler, on_result, feedback, folder)
        return results

    def worker_count(self, parameters, context, feedback):
        """WORKERS, 0 meaning every core, at most the cores of this machine (more processes only wait)."""
        cores = os.cpu_count() or 1
        asked = self.parameterAsInt(parameters, self.WORKERS, context)
        if asked > cores:
            feedback.pushWarning(self.tr("WORKERS: %d asked, this machine has %d core(s): %d worker process(es) "
                                         "run.") % (asked, cores, cores))
        return min(asked or cores, cores)

    def output_crs(self, parameters, context, default):
        """OUTPUT_CRS, or ``default`` when it is empty; a value QGIS does not know, or a CRS that cannot hold
        plant polygons (geocentric), is refused."""
        given = parameters.get(self.OUTPUT_CRS)
        crs = self.parameterAsCrs(parameters, self.OUTPUT_CRS, context)
        if given in (None, "") and not crs.isValid():
            return default
        if not holds_plant_polygons(crs):
            raise QgsProcessingException(self.tr(
                "OUTPUT_CRS: '%s' is not a projected or geographic CRS that QGIS knows; give one such as EPSG:3035 "
                "or EPSG:4326, or leave it empty for the first tile's.") % (
                crs.authid() or crs.description() or given))
        return crs

    def results_folder(self, parameters, context):
        """``<OUTPUT>.tiles`` beside a file output; a fresh temporary folder for a temporary output."""
        destination = self.destination_file(parameters, self.OUTPUT, context)
        if destination is None:
            return os.path.join(QgsProcessingUtils.tempFolder(), "mapregion.tiles")
        return os.path.splitext(os.path.abspath(destination))[0] + ".tiles"

    def plant_features(self, plants, tiles, output_crs, context, plant_counts):
        """Features of the merged plants in ``output_crs``, in raster-like order (north to south, then west to
        east); counts the plants of each tile into ``plant_counts``."""
        fields = make_fields(REGION_PLANT_FIELDS)
        area = ellipsoidal_area(output_crs, context)
        transforms = {}
        placed = []
        for result, wkb, values in plants:
            crs_wkt = result["crs_wkt"]
            if crs_wkt not in transforms:
                transforms[crs_wkt] = QgsCoordinateTransform(QgsCoordinateReferenceSystem.fromWkt(crs_wkt), output_crs,
                                                             context.transformContext())
            geometry = QgsGeometry()
            geometry.fromWkb(wkb)
            geometry.transform(transforms[crs_wkt])
            box = geometry.boundingBox()
            placed.append(((-round(box.yMaximum(), 6), round(box.xMinimum(), 6)), geometry, values, result["tile"]))
        placed.sort(key=lambda item: item[0])
        features = []
        for plant_id, (_, geometry, values, tile) in enumerate(placed, start=1):
            plant_counts[tile] = plant_counts.get(tile, 0) + 1
            features.append(make_feature(fields, [
                plant_id, area.measureArea(geometry), values["pixels"], values["source"], values["method"],
                number_or_null(values["threshold"]), number_or_null(values["confidence"]), values["refined"],
                *provenance_values(values.get("sources", ())), tiles[tile].name, values.get("at_tile_edge", 0)],
                geometry))
        return features

    def warn_of_pieces(self, features, feedback):
        """Warn when plants reach a tile edge beyond which another tile goes on: they may be pieces."""
        pieces = [feature["plant_id"] for feature in features if feature["at_tile_edge"]]
        if pieces:
            feedback.pushWarning(self.tr(
                "%d plant(s) reach the edge of their tile where a neighbouring tile goes on (plant_id %s; field "
                "at_tile_edge = 1): each may be a piece of a larger plant cut by the tile edge. Give tiles that "
                "overlap by more than the largest plant.") % (len(pieces), ", ".join(map(str, pieces[:20]))
                                                            + (" …" if len(pieces) > 20 else "")))

    def write_plants_with_fields(self, parameters, context, features, crs):
        return self.write_plants(parameters, context, make_fields(REGION_PLANT_FIELDS), features, crs)

    def write_tiles(self, parameters, context, tiles, results, plant_counts):
        """OUTPUT_TILES, when asked for: one row per tile."""
        fields = make_fields(TILE_FIELDS)
        rows = []
        for number, tile in enumerate(tiles):
            parts = results.get(number, [])
            failed = [part for part in parts if part["status"] == FAILED]
            status = FAILED if failed else (REUSED if parts and parts[0]["status"] == REUSED else DONE)
            errors = "; ".join(part["error"] for part in parts if part["error"])
            rows.append(make_feature(fields, [tile.name, status, plant_counts.get(number, 0),
                                              sum(part.get("seconds", 0.0) for part in parts), errors[:254]]))
        dest_id = self.write_sink(parameters, self.OUTPUT_TILES, context, fields, rows)
        return {self.OUTPUT_TILES: dest_id} if dest_id is not None else {}
