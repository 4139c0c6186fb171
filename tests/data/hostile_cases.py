"""Hostile and awkward inputs for every algorithm, shared by the processing.run and qgis_process suites.

:func:`build_workspace` writes small real and broken files into a folder; :data:`CASES` says, for each case, the
algorithm, its parameters (``{ws}`` stands for the workspace folder) and what must happen: an error whose message
names a parameter, or a run that succeeds and writes its outputs (and, where said, warns). Whatever happens, no
input may change and no partial file may be left behind.
"""
import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal, ogr, osr

from chip_data import AUSTRIA
from onnx_builder import model as build_model, nan_model, node, two_output_model
from safe_fixture import make_safe

MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "resources",
                     "models", "pv_segmenter.onnx")
SOLARSCOPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "solarscope", "kamakura_panel_area.csv")
POLYGONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pv_polygons")


@dataclass
class Case:
    """One hostile run: ``error`` names the parameter the message must name (None: the run must succeed and
    write ``outputs``); ``warning`` is a fragment the log must show."""
    name: str
    algorithm: str
    parameters: dict
    error: str = None
    outputs: tuple = ()
    warning: str = None
    absent: tuple = field(default=())

    def resolved(self, workspace):
        """The parameters with ``{ws}`` replaced by the workspace folder."""
        def fill(value):
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value.replace("{ws}", workspace) if isinstance(value, str) else value
        return {name: fill(value) for name, value in self.parameters.items()}


# --- the workspace ------------------------------------------------------------------------------------------------

def _copy_chip(name, target):
    shutil.copy(os.path.join(AUSTRIA, name), target)


def _vector(path, geometry_type, wkts, srs_epsg, fields=(), rows=None):
    """A GeoPackage layer of ``wkts`` with ``fields`` (name, OGR type) and their ``rows`` of values."""
    source = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(srs_epsg)
    layer = source.CreateLayer("layer", srs, geometry_type)
    for name, kind in fields:
        layer.CreateField(ogr.FieldDefn(name, kind))
    for number, wkt in enumerate(wkts):
        feature = ogr.Feature(layer.GetLayerDefn())
        if wkt:
            feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        for (name, _), value in zip(fields, (rows or [[]] * len(wkts))[number]):
            if value is not None:
                feature.SetField(name, value)
        layer.CreateFeature(feature)
    source = None


def _chip_centre(path):
    dataset = gdal.Open(path)
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    return x0 + dx * dataset.RasterXSize / 2, y0 + dy * dataset.RasterYSize / 2, dataset


def _write_like(path, template, arrays, nodata=None, descriptions=None, srs=True, data_type=gdal.GDT_Int16,
                geotransform=None, epsg=None):
    """A GeoTIFF of ``data_type`` on ``template``'s grid holding ``arrays`` (bands); ``geotransform`` and ``epsg``
    place it elsewhere or in another CRS, ``srs=False`` leaves it without one."""
    bands = len(arrays)
    target = gdal.GetDriverByName("GTiff").Create(path, template.RasterXSize, template.RasterYSize, bands,
                                                   data_type)
    target.SetGeoTransform(geotransform or template.GetGeoTransform())
    if epsg:
        reference = osr.SpatialReference()
        reference.ImportFromEPSG(epsg)
        target.SetProjection(reference.ExportToWkt())
    elif srs:
        target.SetProjection(template.GetProjection())
    for number, array in enumerate(arrays, start=1):
        band = target.GetRasterBand(number)
        band.WriteArray(array)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[number - 1])
    target = None


def _text(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def build_workspace(folder):
    """Write every input file the cases use into ``folder``; returns ``folder``."""
    os.makedirs(folder, exist_ok=True)
    join = lambda name: os.path.join(folder, name)  # noqa: E731
    _copy_chip("S2L2A_2022_clearmedian_101.tif", join("s2.tif"))
    _copy_chip("S2L2A_2022_clearmedian_9.tif", join("s2_other.tif"))
    _copy_chip("pv_mask_101.tif", join("prior.tif"))
    _copy_chip("osm_pv_chips.gpkg", join("osm.gpkg"))
    shutil.copy(os.path.join(AUSTRIA, "netcdf", "S2_2022_101.nc"), join("series.nc"))
    shutil.copy(os.path.join(AUSTRIA, "netcdf", "S2_2022_101.nc"), join("series_copy.nc"))
    shutil.copy(os.path.join(AUSTRIA, "netcdf", "S2_2022_102.nc"), join("series_elsewhere.nc"))
    shutil.copy(os.path.join(POLYGONS, "osm_pv_aoi064.gpkg"), join("reference.gpkg"))
    shutil.copy(os.path.join(POLYGONS, "kruitwagen2021_aoi064.gpkg"), join("prediction.gpkg"))

    x, y, chip = _chip_centre(join("s2.tif"))
    epsg = int(osr.SpatialReference(wkt=chip.GetProjection()).GetAuthorityCode(None))
    image = chip.ReadAsArray()
    _vector(join("curved.gpkg"), ogr.wkbCurvePolygon,
            ["CURVEPOLYGON(CIRCULARSTRING(%f %f,%f %f,%f %f))" % (x - 60, y, x + 60, y, x - 60, y)], epsg)
    _vector(join("points.gpkg"), ogr.wkbPoint, ["POINT(%f %f)" % (x, y)], epsg)
    _vector(join("lines.gpkg"), ogr.wkbLineString, ["LINESTRING(%f %f,%f %f)" % (x - 50, y, x + 50, y)], epsg)
    _vector(join("empty.gpkg"), ogr.wkbPolygon, [], epsg)
    _vector(join("far.gpkg"), ogr.wkbPolygon, ["POLYGON((0 0,0 100,100 100,100 0,0 0))"], epsg)
    _text(join("truncated.tif"), "")
    with open(join("s2.tif"), "rb") as handle:
        data = handle.read()
    with open(join("truncated.tif"), "wb") as handle:
        handle.write(data[: len(data) // 3])
    _text(join("garbage.tif"), "this is not a raster\n" * 20)
    _text(join("garbage.nc"), "this is not netCDF\n" * 20)
    _text(join("notes.txt"), "some notes\n")
    _text(join("feature.json"), '{"type": "Feature", "properties": {}}')
    _text(join("no_items.json"), '{"type": "FeatureCollection", "features": []}')
    _text(join("lost_items.json"), json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "stac_version": "1.0.0", "id": "S2A_LOST_%d" % day, "geometry": None,
         "properties": {"datetime": "2022-0%d-15T10:00:00Z" % day, "s2:processing_baseline": "03.01"},
         "assets": {key: {"href": "lost/%s_%d.tif" % (key, day), "proj:epsg": 32633, "proj:shape": [20, 20],
                          "proj:transform": [10.0, 0.0, 500000.0, 0.0, -10.0, 5300000.0]}
                    for key in ("blue", "green", "red", "nir", "swir16", "swir22", "scl")}} for day in (3, 6)]}))
    _text(join("missing_source.vrt"), '<VRTDataset rasterXSize="10" rasterYSize="10"><VRTRasterBand '
          'dataType="Int16" band="1"><SimpleSource><SourceFilename relativeToVRT="1">gone.tif</SourceFilename>'
          '<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>')
    _write_like(join("one_band.tif"), chip, [image[0]])
    _write_like(join("no_crs.tif"), chip, list(image), descriptions=[chip.GetRasterBand(n + 1).GetDescription()
                                                                    for n in range(chip.RasterCount)], srs=False)
    _write_like(join("all_nodata.tif"), chip, [np.full(image.shape[1:], -32768, np.int16)] * chip.RasterCount,
                nodata=-32768, descriptions=[chip.GetRasterBand(n + 1).GetDescription()
                                             for n in range(chip.RasterCount)])
    _write_like(join("stack_without_scl.tif"), chip, list(image[:6]),
                descriptions=["B01", "B02", "B03", "B04", "B05", "B06"])
    gdal.Warp(join("prior_4326.tif"), join("prior.tif"), dstSRS="EPSG:4326")
    shutil.copy(MODEL, join("model.onnx"))
    _text(join("garbage.onnx"), "this is not a model\n" * 20)
    with open(MODEL, "rb") as handle:
        model = handle.read()
    with open(join("truncated.onnx"), "wb") as handle:
        handle.write(model[: len(model) // 3])

    _build_products(folder)
    _build_material_inputs(folder, x, y, epsg)
    _build_series_inputs(folder, chip, image)
    _build_awkward_names(folder)
    _build_models(folder, chip, image)
    _build_sentinel1(folder, chip, image)
    return folder


def _build_sentinel1(folder, chip, image):
    """Sentinel-1 σ⁰ rasters (dB) as they should be and as they go wrong, a DEM of nodata, and an S2 stack of
    the four bands GUM uses only."""
    join = lambda name: os.path.join(folder, name)  # noqa: E731
    rng = np.random.default_rng(3)
    shape = image.shape[1:]
    vv, vh = -11 + rng.normal(0, 2, shape), -18 + rng.normal(0, 2, shape)
    db = dict(descriptions=("VV", "VH"), data_type=gdal.GDT_Float32)
    _write_like(join("s1.tif"), chip, [vv, vh], **db)
    x0, dx, rx, y0, ry, dy = chip.GetGeoTransform()
    _write_like(join("s1_elsewhere.tif"), chip, [vv, vh], geotransform=(x0 + 5e5, dx, rx, y0, ry, dy), **db)
    _write_like(join("s1_wrong_crs.tif"), chip, [vv, vh], epsg=4326, **db)
    _write_like(join("s1_nan.tif"), chip, [np.full(shape, np.nan)] * 2, **db)
    _write_like(join("s1_vv_hh.tif"), chip, [vv, vh], descriptions=("VV", "HH"), data_type=gdal.GDT_Float32)
    _write_like(join("s1_linear.tif"), chip, [10 ** (vv / 10), 10 ** (vh / 10)], **db)
    _write_like(join("dem_nodata.tif"), chip, [np.full(shape, -9999.0)], nodata=-9999.0, data_type=gdal.GDT_Float32)
    descriptions = [chip.GetRasterBand(n + 1).GetDescription() for n in range(chip.RasterCount)]
    four = [descriptions.index(name) for name in ("B04", "B03", "B02", "B08")]
    _write_like(join("s2_four_bands.tif"), chip, [image[number] for number in four],
                descriptions=["B04", "B03", "B02", "B08"])


def _build_models(folder, chip, image):
    """Models that are awkward to run, and rasters whose bands a model cannot find by name."""
    join = lambda name: os.path.join(folder, name)  # noqa: E731
    rng = np.random.default_rng(7)
    with open(join("two_outputs.onnx"), "wb") as handle:
        handle.write(two_output_model())
    with open(join("nan.onnx"), "wb") as handle:
        handle.write(nan_model())
    with open(join("fixed_32.onnx"), "wb") as handle:
        handle.write(build_model([node("Conv", ["input", "w"], ["output"], kernel_shape=[1, 1])], [1, 6, 32, 32],
                                 [1, 2, 32, 32], {"w": rng.normal(size=(2, 6, 1, 1))}))
    _write_like(join("s2_undescribed.tif"), chip, list(image))  # an 11-band Earth Engine export
    _write_like(join("seven_undescribed.tif"), chip, list(image[:7]))


def _build_series_inputs(folder, chip, image):
    """Two dated stacks without B12, and the netCDF series in a folder whose name holds a double quote."""
    descriptions = [chip.GetRasterBand(n + 1).GetDescription() for n in range(chip.RasterCount)]
    os.makedirs(os.path.join(folder, "without_b12"))
    kept = [number for number, name in enumerate(descriptions) if name in ("B02", "B03", "B04", "B08", "B11")]
    for day in ("20220301", "20220901"):
        _write_like(os.path.join(folder, "without_b12", "S2_%s.tif" % day), chip,
                    [image[number] for number in kept] + [np.full(image.shape[1:], 4, np.int16)],
                    descriptions=[descriptions[number] for number in kept] + ["SCL"])
    quoted = os.path.join(folder, 'export "2022"')
    os.makedirs(quoted)
    shutil.copy(os.path.join(folder, "series.nc"), os.path.join(quoted, "series.nc"))


def _build_awkward_names(folder):
    """A band folder with a named pipe called like a band, and a folder for outputs of very long names."""
    os.makedirs(os.path.join(folder, "mine.tiles"))  # a folder of the user's, named as mapregion's results
    _text(os.path.join(folder, "mine.tiles", "field_notes.result"), "the user's, not a result\n")
    _text(os.path.join(folder, "blocked.tiles"), "a file where the results folder would go\n")
    fifo = os.path.join(folder, "bands_fifo")
    shutil.copytree(os.path.join(folder, "bands"), fifo)
    os.mkfifo(os.path.join(fifo, "T18SVG_20220614T155632_B05_20m.tif"))


def copy_workspace(template, target):
    """Copy a workspace as :func:`build_workspace` wrote it, named pipes made anew (never opened)."""
    def copy(source, destination):
        if stat.S_ISFIFO(os.lstat(source).st_mode):
            os.mkfifo(destination)
        else:
            shutil.copy2(source, destination)
    shutil.copytree(template, target, copy_function=copy)


def _build_products(folder):
    """A SAFE product, its zip with a corrupt band, band folders (one with a band covering a corner only)."""
    safe = make_safe(os.path.join(folder, "products"))
    bands = os.path.join(folder, "bands")
    os.makedirs(bands)
    for path in _files(safe, ".jp2"):
        if "SCL" not in path:
            gdal.Translate(os.path.join(bands, os.path.basename(path).replace(".jp2", ".tif")), path)
    corner = os.path.join(folder, "bands_corner")
    shutil.copytree(bands, corner)
    b11 = [p for p in _files(corner, ".tif") if "B11" in p][0]
    source = gdal.Open(b11)
    x0, dx, _, y0, _, dy = source.GetGeoTransform()
    gdal.Translate(b11 + ".tmp.tif", source, srcWin=[0, 0, 2, 2])
    source = None
    os.replace(b11 + ".tmp.tif", b11)
    twice = os.path.join(folder, "bands_twice")
    shutil.copytree(bands, twice)
    b02 = [p for p in _files(twice, ".tif") if "B02" in p][0]
    shutil.copy(b02, b02.replace(".tif", "_copy.tif"))
    corrupt = os.path.join(folder, "corrupt_safe")
    shutil.copytree(safe, os.path.join(corrupt, os.path.basename(safe)))
    for path in _files(corrupt, ".jp2"):
        if "B04" in path:
            with open(path, "r+b") as handle:
                handle.truncate(200)
    shutil.make_archive(os.path.join(folder, "corrupt_product"), "zip", corrupt)
    shutil.rmtree(corrupt)
    os.makedirs(os.path.join(folder, "empty_folder"))


def _files(folder, extension):
    return sorted(os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
                  if name.endswith(extension))


def _build_material_inputs(folder, x, y, epsg):
    """Plant polygons with good and bad year fields, point and empty geometries, and broken material tables."""
    square = "POLYGON((%f %f,%f %f,%f %f,%f %f,%f %f))" % (x, y, x + 100, y, x + 100, y + 100, x, y + 100, x, y)
    fields = (("year", ogr.OFTInteger), ("year_null", ogr.OFTInteger), ("year_text", ogr.OFTString),
              ("year_fraction", ogr.OFTReal), ("area_bad", ogr.OFTReal))
    rows = [[2015, None, "soon", 2015.5, -5.0], [2018, 2018, "2018", 2018.0, float("nan")]]
    with open(SOLARSCOPE, encoding="utf-8") as handle:
        table = [line.strip().split(",") for line in handle.read().splitlines()[1:] if line.strip()]
    _vector(os.path.join(folder, "kamakura.gpkg"), ogr.wkbNone, [None] * len(table), epsg,
            (("year", ogr.OFTInteger), ("panel_area_m2", ogr.OFTReal)), [[int(y), float(a)] for y, a in table])
    _vector(os.path.join(folder, "plants_years.gpkg"), ogr.wkbPolygon, [square, square], epsg, fields, rows)
    _vector(os.path.join(folder, "plant_points.gpkg"), ogr.wkbPoint, ["POINT(%f %f)" % (x, y)], epsg,
            (("year", ogr.OFTInteger),), [[2015]])
    _vector(os.path.join(folder, "plants_some_empty.gpkg"), ogr.wkbPolygon, [square, None], epsg,
            (("year", ogr.OFTInteger),), [[2015], [2016]])
    tables = {"materials_nan.csv": "material,kg_per_m2,recovery_rate\nGlass,nan,1\n",
              "materials_duplicate.csv": "material,kg_per_m2,recovery_rate\nGlass,9.3,1\nglass,1,1\n",
              "materials_huge.csv": "material,kg_per_m2,recovery_rate\nGlass,4e19,1\n",
              "materials_text.csv": "material,kg_per_m2,recovery_rate\nGlass,heavy,1\n",
              "materials_columns.csv": "name,mass\nGlass,9.3\n",
              "materials_empty.csv": "",
              "materials_recovery.csv": "material,kg_per_m2,recovery_rate\nGlass,9.3,1.5\n"}
    for name, text in tables.items():
        _text(os.path.join(folder, name), text)


# --- inputs unchanged, nothing partial left ----------------------------------------------------------------------

def snapshot(folder):
    """{relative path: sha256} of every file below ``folder`` ("pipe" for a named pipe, which is never opened)."""
    digests = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            if not os.path.isfile(path):
                digests[os.path.relpath(path, folder)] = "pipe"
                continue
            with open(path, "rb") as handle:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(handle.read()).hexdigest()
    return digests


def leftovers(folder):
    """Partial or temporary files the plugin may have left below ``folder``."""
    return [name for root, _, names in os.walk(folder) for name in names
            if ".partial" in name or name.startswith(".fusionpv-")]


# --- the cases ----------------------------------------------------------------------------------------------------

def _cases():
    ws = "{ws}/"
    s2, out, mask = ws + "s2.tif", ws + "out/ndpi.tif", ws + "out/mask.tif"
    plants = ws + "out/plants.gpkg"
    cases = []

    def add(name, algorithm, parameters, error=None, outputs=(), warning=None, absent=()):
        cases.append(Case(name, algorithm, parameters, error, tuple(outputs), warning, tuple(absent)))

    # fusionpv:andpi
    andpi = lambda **p: dict({"INPUT": s2, "OUTPUT": out}, **p)  # noqa: E731
    add("andpi ok", "andpi", andpi(), outputs=[out])
    add("andpi output is the input", "andpi", andpi(OUTPUT=s2), "OUTPUT")
    add("andpi output in a missing folder", "andpi", andpi(OUTPUT=ws + "missing/ndpi.tif"), "OUTPUT")
    add("andpi output in /proc", "andpi", andpi(OUTPUT="/proc/ndpi.tif"), "OUTPUT")
    for extension in ("png", "jpg", "asc"):
        add("andpi output as .%s" % extension, "andpi", andpi(OUTPUT=ws + "out/ndpi." + extension), "OUTPUT")
    for name in ("truncated.tif", "garbage.tif", "missing_source.vrt", "does_not_exist.tif", "notes.txt",
                 "one_band.tif", "no_crs.tif", "all_nodata.tif", "osm.gpkg"):
        add("andpi input %s" % name, "andpi", andpi(INPUT=ws + name), "INPUT")
    for value in ("nan", "0", "-5", "1e30", "inf"):
        add("andpi SCALE=%s" % value, "andpi", andpi(SCALE=value), "SCALE")
    for value in ("nan", "inf", "-1e12"):
        add("andpi OFFSET=%s" % value, "andpi", andpi(OFFSET=value), "OFFSET")
    add("andpi band number beyond the bands", "andpi", andpi(BAND_BLUE=99), "BAND_BLUE")
    add("andpi negative band number", "andpi", andpi(BAND_NIR=-1), "BAND_NIR")

    # fusionpv:extractpvplants
    extract = lambda **p: dict({"INPUT": s2, "OUTPUT": plants}, **p)  # noqa: E731
    add("extract ok, trusted raster prior", "extractpvplants", extract(TRUSTED_PRIORS=[ws + "prior.tif"],
                                                                       OUTPUT_MASK=mask), outputs=[plants, mask])
    add("extract ok, paper method", "extractpvplants", extract(CANDIDATE_PRIORS=[ws + "osm.gpkg"], METHOD=0),
        outputs=[plants])
    add("extract ok, prior in EPSG:4326", "extractpvplants", extract(TRUSTED_PRIORS=[ws + "prior_4326.tif"]),
        outputs=[plants])
    add("extract ok, curved polygon prior", "extractpvplants", extract(TRUSTED_PRIORS=[ws + "curved.gpkg"]),
        outputs=[plants], warning=None)
    add("extract prior far away", "extractpvplants", extract(TRUSTED_PRIORS=[ws + "far.gpkg"]),
        outputs=[plants], warning="does not overlap")
    add("extract empty prior layer", "extractpvplants", extract(CANDIDATE_PRIORS=[ws + "empty.gpkg"]),
        outputs=[plants], warning="does not overlap")
    add("extract without priors", "extractpvplants", extract(), "TRUSTED_PRIORS")
    add("extract mask is the input", "extractpvplants", extract(TRUSTED_PRIORS=[ws + "prior.tif"], OUTPUT_MASK=s2),
        "OUTPUT_MASK")
    add("extract mask is the prior", "extractpvplants",
        extract(TRUSTED_PRIORS=[ws + "prior.tif"], OUTPUT_MASK=ws + "prior.tif"), "OUTPUT_MASK")
    add("extract plants overwrite the prior GeoPackage", "extractpvplants",
        extract(CANDIDATE_PRIORS=[ws + "osm.gpkg"], OUTPUT=ws + "osm.gpkg"), "OUTPUT")
    add("extract plants in /proc after the mask", "extractpvplants",
        extract(TRUSTED_PRIORS=[ws + "prior.tif"], OUTPUT="/proc/p.gpkg", OUTPUT_MASK=mask), "OUTPUT",
        absent=[mask])
    add("extract mask as .png", "extractpvplants",
        extract(TRUSTED_PRIORS=[ws + "prior.tif"], OUTPUT_MASK=ws + "out/mask.png"), "OUTPUT_MASK")
    add("extract mask in a missing folder", "extractpvplants",
        extract(TRUSTED_PRIORS=[ws + "prior.tif"], OUTPUT_MASK=ws + "missing/mask.tif"), "OUTPUT_MASK")
    add("extract plants in a missing folder", "extractpvplants",
        extract(TRUSTED_PRIORS=[ws + "prior.tif"], OUTPUT=ws + "missing/plants.gpkg"), "OUTPUT")
    for name, parameter in (("points.gpkg", "CANDIDATE_PRIORS"), ("lines.gpkg", "CANDIDATE_PRIORS"),
                            ("no_crs.tif", "TRUSTED_PRIORS"), ("truncated.tif", "TRUSTED_PRIORS"),
                            ("garbage.tif", "TRUSTED_PRIORS"), ("missing_source.vrt", "TRUSTED_PRIORS"),
                            ("does_not_exist.gpkg", "CANDIDATE_PRIORS")):
        add("extract prior %s" % name, "extractpvplants", extract(**{parameter: [ws + name]}), parameter)
    for name in ("truncated.tif", "all_nodata.tif", "garbage.tif"):
        add("extract input %s" % name, "extractpvplants", extract(INPUT=ws + name, TRUSTED_PRIORS=[ws + "prior.tif"]),
            "INPUT")
    for parameter, value in (("MIN_AREA_PIXELS", -1), ("MIN_AREA_PIXELS", "1e12"), ("METHOD", 5), ("SCALE", "nan"),
                             ("OFFSET", "nan"), ("MIN_AREA_PIXELS", "nan")):
        add("extract %s=%s" % (parameter, value), "extractpvplants",
            extract(TRUSTED_PRIORS=[ws + "prior.tif"], **{parameter: value}), parameter)

    # fusionpv:stackbands
    stack = ws + "out/stack.tif"
    add("stack ok, band folder", "stackbands", {"INPUT": ws + "bands", "OUTPUT": stack}, outputs=[stack])
    add("stack band covering a corner", "stackbands", {"INPUT": ws + "bands_corner", "OUTPUT": stack},
        outputs=[stack], warning="nodata")
    add("stack missing input", "stackbands", {"INPUT": ws + "nothing_here", "OUTPUT": stack}, "INPUT")
    add("stack empty folder", "stackbands", {"INPUT": ws + "empty_folder", "OUTPUT": stack}, "INPUT")
    add("stack text file", "stackbands", {"INPUT": ws + "notes.txt", "OUTPUT": stack}, "INPUT")
    add("stack corrupt JPEG 2000 in a zip", "stackbands", {"INPUT": ws + "corrupt_product.zip", "OUTPUT": stack},
        "INPUT")
    add("stack two files of one band", "stackbands", {"INPUT": ws + "bands_twice", "OUTPUT": stack}, "INPUT")
    add("stack output onto a band file", "stackbands",
        {"INPUT": ws + "bands", "OUTPUT": ws + "bands/T18SVG_20220614T155632_B02_10m.tif"}, "OUTPUT")
    add("stack output as .png", "stackbands", {"INPUT": ws + "bands", "OUTPUT": ws + "out/stack.png"}, "OUTPUT")
    add("stack extent elsewhere", "stackbands",
        {"INPUT": ws + "bands", "OUTPUT": stack, "EXTENT": "0,10,0,10 [EPSG:32618]"}, "EXTENT")
    add("stack resolution 7", "stackbands", {"INPUT": ws + "bands", "OUTPUT": stack, "RESOLUTION": 7},
        "RESOLUTION")

    # fusionpv:clearcomposite
    composite, count = ws + "out/composite.tif", ws + "out/count.tif"
    series = lambda **p: dict({"INPUT": [ws + "series.nc"], "OUTPUT": composite}, **p)  # noqa: E731
    add("composite ok", "clearcomposite", series(OUTPUT_COUNT=count), outputs=[composite, count])
    add("composite two netCDF files of one area", "clearcomposite",
        series(INPUT=[ws + "series.nc", ws + "series_copy.nc"]), outputs=[composite])
    add("composite netCDF files of two areas", "clearcomposite",
        series(INPUT=[ws + "series.nc", ws + "series_elsewhere.nc"]), "INPUT")
    add("composite only defective pixels", "clearcomposite", series(CLEAR_CLASSES="1"), outputs=[composite],
        warning="nodata")
    for name in ("missing.nc", "garbage.nc", "notes.txt", "stack_without_scl.tif"):
        add("composite input %s" % name, "clearcomposite", series(INPUT=[ws + name]), "INPUT")
    add("composite netCDF mixed with a stack", "clearcomposite", series(INPUT=[ws + "series.nc", s2]), "INPUT")
    add("composite output is the count", "clearcomposite", series(OUTPUT_COUNT=composite), "OUTPUT_COUNT")
    add("composite output is the input", "clearcomposite", series(OUTPUT=ws + "series.nc"), "OUTPUT")
    add("composite output as .png", "clearcomposite", series(OUTPUT=ws + "out/composite.png"), "OUTPUT")
    for value in ("abc", "99", "-1", ""):
        add("composite CLEAR_CLASSES=%r" % value, "clearcomposite", series(CLEAR_CLASSES=value), "CLEAR_CLASSES")
    add("composite dates in the wrong order", "clearcomposite",
        series(START_DATE="2022-12-01", END_DATE="2022-01-01"), "START_DATE")

    # fusionpv:assessaccuracy
    table = ws + "out/accuracy.csv"
    assess = lambda **p: dict({"PREDICTION": ws + "prediction.gpkg", "REFERENCE": ws + "reference.gpkg",  # noqa
                               "OUTPUT_TABLE": table}, **p)
    add("assess ok with report", "assessaccuracy", assess(OUTPUT_REPORT=ws + "out/report.html"),
        outputs=[table, ws + "out/report.html"])
    add("assess curved prediction", "assessaccuracy",
        assess(PREDICTION=ws + "curved.gpkg", REFERENCE=ws + "prior.tif"), outputs=[table])
    add("assess both maps the same", "assessaccuracy", assess(PREDICTION=ws + "reference.gpkg"), "PREDICTION")
    add("assess empty reference", "assessaccuracy", assess(REFERENCE=ws + "empty.gpkg"), "REFERENCE")
    add("assess point prediction", "assessaccuracy", assess(PREDICTION=ws + "points.gpkg"), "PREDICTION")
    add("assess truncated reference", "assessaccuracy", assess(REFERENCE=ws + "truncated.tif"), "REFERENCE")
    for value in ("nan", "0", "2", "inf"):
        add("assess MATCH_IOU=%s" % value, "assessaccuracy", assess(MATCH_IOU=value), "MATCH_IOU")
    for value in ("0", "-1", "nan", "1e9"):
        add("assess PIXEL_SIZE=%s" % value, "assessaccuracy", assess(PIXEL_SIZE=value), "PIXEL_SIZE")
    add("assess grid too large", "assessaccuracy", assess(PIXEL_SIZE="0.001"), "PIXEL_SIZE")
    add("assess report in a missing folder", "assessaccuracy", assess(OUTPUT_REPORT=ws + "missing/r.html"),
        "OUTPUT_REPORT")
    add("assess report onto the prediction", "assessaccuracy", assess(OUTPUT_REPORT=ws + "prediction.gpkg"),
        "OUTPUT_REPORT")
    add("assess table in /proc", "assessaccuracy", assess(OUTPUT_TABLE="/proc/accuracy.csv"), "OUTPUT_TABLE")
    add("assess table onto the reference", "assessaccuracy", assess(OUTPUT_TABLE=ws + "reference.gpkg"),
        "OUTPUT_TABLE")

    # fusionpv:materialflows
    flows = ws + "out/flows.csv"
    kamakura = ws + "kamakura.gpkg"
    material = lambda **p: dict({"INPUT": kamakura, "YEAR_FIELD": "year", "AREA_FIELD": "panel_area_m2",  # noqa
                                 "OUTPUT": flows}, **p)
    add("flows ok with report", "materialflows", material(OUTPUT_REPORT=ws + "out/flows.html"),
        outputs=[flows, ws + "out/flows.html"])
    polygons = lambda **p: dict({"INPUT": ws + "plants_years.gpkg", "YEAR_FIELD": "year", "OUTPUT": flows}, **p)  # noqa
    add("flows ok from polygons", "materialflows", polygons(), outputs=[flows])
    for field_name in ("year_text", "year_fraction", "fid"):
        add("flows YEAR_FIELD=%s" % field_name, "materialflows", polygons(YEAR_FIELD=field_name), "YEAR_FIELD")
    add("flows YEAR_FIELD=year_null", "materialflows", polygons(YEAR_FIELD="year_null"), outputs=[flows],
        warning="without an installation year")
    add("flows area NaN or negative", "materialflows", polygons(AREA_FIELD="area_bad"), "AREA_FIELD")
    add("flows points without an area", "materialflows", polygons(INPUT=ws + "plant_points.gpkg"), "AREA_FIELD")
    add("flows empty geometries", "materialflows", polygons(INPUT=ws + "plants_some_empty.gpkg"), outputs=[flows],
        warning="without geometry")
    for parameter, value in (("END_YEAR", "2000000000"), ("REFERENCE_YEAR", "1990"), ("SHAPE", "nan"),
                             ("SHAPE", "1e9"), ("LIFETIME", "0"), ("LIFETIME", "inf"), ("TILT", "90"),
                             ("TILT", "nan"), ("POWER_DENSITY", "1e9"), ("LIFETIME_MODEL", 9)):
        add("flows %s=%s" % (parameter, value), "materialflows", material(**{parameter: value}), parameter)
    for name in ("nan", "duplicate", "huge", "text", "columns", "empty", "recovery"):
        add("flows materials %s" % name, "materialflows", material(MATERIALS=ws + "materials_%s.csv" % name),
            "MATERIALS")
    add("flows table in /proc", "materialflows", material(OUTPUT="/proc/flows.csv"), "OUTPUT")
    add("flows report onto the input", "materialflows", polygons(OUTPUT_REPORT=ws + "plants_years.gpkg"),
        "OUTPUT_REPORT")
    add("flows table and report one file", "materialflows", material(OUTPUT_REPORT=flows), "OUTPUT_REPORT")

    # fusionpv:runmodel
    classes, probabilities = ws + "out/classes.tif", ws + "out/probabilities.tif"
    model = lambda **p: dict({"INPUT": s2, "MODEL": ws + "model.onnx", "OUTPUT": classes}, **p)  # noqa: E731
    add("runmodel ok", "runmodel", model(OUTPUT_PROBABILITIES=probabilities), outputs=[classes, probabilities])
    for name in ("garbage.onnx", "truncated.onnx", "does_not_exist.onnx", "notes.txt"):
        add("runmodel MODEL %s" % name, "runmodel", model(MODEL=ws + name), "MODEL")
    for name in ("garbage.tif", "truncated.tif", "does_not_exist.tif"):
        add("runmodel INPUT %s" % name, "runmodel", model(INPUT=ws + name), "INPUT")
    add("runmodel one-band input", "runmodel", model(INPUT=ws + "one_band.tif"), "BANDS")
    add("runmodel band beyond the bands", "runmodel", model(BANDS=[1, 2, 3, 4, 5, 99]), "BANDS")
    add("runmodel all nodata", "runmodel", model(INPUT=ws + "all_nodata.tif"), outputs=[classes],
        warning="nodata")
    for value in ("0", "nan", "-1"):
        add("runmodel INPUT_SCALE=%s" % value, "runmodel", model(INPUT_SCALE=value), "INPUT_SCALE")
    add("runmodel overlap eats the tile", "runmodel", model(TILE_SIZE=8, OVERLAP=4), "OVERLAP")
    add("runmodel patches on a segmenter", "runmodel", model(MODE=1), "MODE")
    add("runmodel output is the input", "runmodel", model(OUTPUT=s2), "OUTPUT")
    add("runmodel both outputs one file", "runmodel", model(OUTPUT_PROBABILITIES=classes), "OUTPUT_PROBABILITIES")
    add("runmodel two outputs and no class names", "runmodel", model(MODEL=ws + "two_outputs.onnx"), "MODEL")
    add("runmodel a model answering NaN", "runmodel", model(MODEL=ws + "nan.onnx"), outputs=[classes],
        warning="NaN or infinite")
    add("runmodel a fixed 32 px model with the default overlap", "runmodel", model(MODEL=ws + "fixed_32.onnx"),
        outputs=[classes])
    add("runmodel an 11-band export without band descriptions", "runmodel", model(INPUT=ws + "s2_undescribed.tif"),
        outputs=[classes])
    add("runmodel 7 bands without descriptions", "runmodel", model(INPUT=ws + "seven_undescribed.tif"), "BANDS")

    # fusionpv:multisourcestack
    stack = ws + "out/stack.tif"
    multi = lambda **p: dict({"S2_INPUT": s2, "OUTPUT": stack}, **p)  # noqa: E731
    add("multisource ok, a 4326 raster as DEM and an 11-band S1", "multisourcestack",
        multi(DEM=ws + "prior_4326.tif", S1_ASCENDING=s2), outputs=[stack])
    add("multisource S1 of one band", "multisourcestack", multi(S1_DESCENDING=ws + "one_band.tif"),
        "S1_DESCENDING")
    add("multisource DEM without CRS", "multisourcestack", multi(DEM=ws + "no_crs.tif"), "DEM")
    add("multisource S2 without the role bands", "multisourcestack", multi(S2_INPUT=ws + "stack_without_scl.tif"),
        "S2_INPUT")
    add("multisource S2 garbage", "multisourcestack", multi(S2_INPUT=ws + "garbage.tif"), "S2_INPUT")
    add("multisource ok, S1 both passes", "multisourcestack",
        multi(S1_ASCENDING=ws + "s1.tif", S1_DESCENDING=ws + "s1.tif"), outputs=[stack])
    add("multisource S2 of B04 B03 B02 B08 only (GUM needs no SWIR)", "multisourcestack",
        multi(S2_INPUT=ws + "s2_four_bands.tif"), outputs=[stack])
    for name, warning in (("s1_elsewhere.tif", "does not overlap"), ("s1_wrong_crs.tif", "does not overlap"),
                          ("s1_nan.tif", "all nodata or NaN"), ("s1_vv_hh.tif", "not VV and VH"),
                          ("s1_linear.tif", "looks linear"), ("s2.tif", "Sentinel-2 bands")):
        add("multisource S1 %s" % name, "multisourcestack", multi(S1_ASCENDING=ws + name), outputs=[stack],
            warning=warning)
    add("multisource DEM all nodata", "multisourcestack", multi(DEM=ws + "dem_nodata.tif"), outputs=[stack],
        warning="every value is nodata")

    # fusionpv:plantsovertime
    over_time = ws + "out/over_time.gpkg"
    overtime = lambda **p: dict({"INPUT": [ws + "series.nc"], "TRUSTED_PRIORS": [ws + "prior.tif"],  # noqa: E731
                                 "PERIOD": 1, "OUTPUT": over_time}, **p)
    add("overtime ok", "plantsovertime", overtime(), outputs=[over_time])
    add("overtime netCDF in a folder whose name has a double quote", "plantsovertime",
        overtime(INPUT=[ws + 'export "2022"/series.nc']), outputs=[over_time])
    add("overtime stacks without B12", "plantsovertime",
        overtime(INPUT=[ws + "without_b12/S2_20220301.tif", ws + "without_b12/S2_20220901.tif"]), "INPUT")
    add("overtime no clear observation at all", "plantsovertime", overtime(CLEAR_CLASSES="1"), outputs=[over_time],
        warning="no clear observation in any period")
    add("overtime 23 years of months", "plantsovertime",
        overtime(PERIOD=2, START_DATE="2000-01-01", END_DATE="2022-12-31"), outputs=[over_time])
    add("overtime 23 years of months into a Shapefile", "plantsovertime",
        overtime(PERIOD=2, START_DATE="2000-01-01", END_DATE="2022-12-31", OUTPUT=ws + "out/over_time.shp"),
        "PERIOD", absent=[ws + "out/over_time.shp"])

    for name in ("feature.json", "no_items.json"):
        add("overtime ItemCollection %s" % name, "plantsovertime", overtime(INPUT=[ws + name]), "INPUT")
    add("overtime an ItemCollection and a netCDF file", "plantsovertime",
        overtime(INPUT=[ws + "lost_items.json", ws + "series.nc"]), "INPUT")
    add("composite ItemCollection whose files are lost", "clearcomposite",
        {"INPUT": [ws + "lost_items.json"], "OUTPUT": ws + "out/composite.tif"}, "reads failed",
        absent=[ws + "out/composite.tif"])

    # fusionpv:searchimagery (the servers it talks to are in tests/qgis/test_stac.py)
    search = lambda **p: dict({"EXTENT": "14,15,47,48 [EPSG:4326]", "OUTPUT": ws + "out/found.json"}, **p)  # noqa
    add("searchimagery STAC_API not a URL", "searchimagery", search(STAC_API="earth-search"), "STAC_API",
        absent=[ws + "out/found.json"])
    add("searchimagery no COLLECTION", "searchimagery", search(COLLECTION=" "), "COLLECTION")
    add("searchimagery dates reversed", "searchimagery", search(START_DATE="2023-01-01", END_DATE="2022-01-01"),
        "START_DATE")
    add("searchimagery OUTPUT in /proc", "searchimagery", search(OUTPUT="/proc/found.json"), "OUTPUT")

    # fusionpv:mapregion, and the engine settings it shares with fusionpv:plantsovertime
    region = lambda **p: dict({"INPUT": [s2], "TRUSTED_PRIORS": [ws + "prior.tif"], "OUTPUT": plants}, **p)  # noqa
    add("mapregion ok", "mapregion", region(), outputs=[plants])
    for algorithm, parameters, output in (("mapregion", region, plants), ("plantsovertime", overtime, over_time)):
        results = os.path.splitext(output)[0] + ".tiles"
        add("%s WORKERS=1000" % algorithm, algorithm, parameters(WORKERS=1000), outputs=[output],
            warning="WORKERS: 1000 asked")
        for value in ("EPSG:999999", "not a crs", "EPSG:4978"):
            add("%s OUTPUT_CRS=%s" % (algorithm, value), algorithm, parameters(OUTPUT_CRS=value), "OUTPUT_CRS",
                absent=[output, results])
        add("%s results beside OUTPUT in a folder of the user's" % algorithm, algorithm,
            parameters(OUTPUT=ws + "mine.gpkg"), "OUTPUT", absent=[ws + "mine.gpkg"])
        add("%s results folder cannot be made" % algorithm, algorithm, parameters(OUTPUT=ws + "blocked.gpkg"),
            "OUTPUT", absent=[ws + "blocked.gpkg"])
        add("%s finished leaves only its outputs" % algorithm, algorithm, parameters(), outputs=[output],
            absent=[results])
        add("%s DASK_SCHEDULER=tls://127.0.0.1:1" % algorithm, algorithm,
            parameters(DASK_SCHEDULER="tls://127.0.0.1:1"), "DASK_SCHEDULER", absent=[output, results])
    add("mapregion a file that is not a raster among the tiles", "mapregion", region(INPUT=[s2, ws + "garbage.tif"]),
        "INPUT", absent=[plants, ws + "out/plants.tiles"])
    add("mapregion a truncated tile listed first", "mapregion", region(INPUT=[ws + "truncated.tif", s2]),
        "INPUT", absent=[plants, ws + "out/plants.tiles"])

    # outputs anywhere
    add("extract OUTPUT is a folder", "extractpvplants", extract(TRUSTED_PRIORS=[ws + "prior.tif"], OUTPUT=ws + "out/"),
        "OUTPUT", absent=[ws + "out/.gpkg"])
    long_name = ws + "out/" + "p" * 240 + ".gpkg"
    add("extract OUTPUT of a 245-byte name", "extractpvplants",
        extract(TRUSTED_PRIORS=[ws + "prior.tif"], OUTPUT=long_name, OUTPUT_MASK=ws + "out/" + "m" * 240 + ".tif"),
        outputs=[long_name, ws + "out/" + "m" * 240 + ".tif"])
    add("stack a pipe named like a band", "stackbands", {"INPUT": ws + "bands_fifo", "OUTPUT": stack},
        outputs=[stack])

    # the CONTEXT of fusionpv:extractpvplants
    add("extract CONTEXT in another CRS", "extractpvplants",
        extract(TRUSTED_PRIORS=[ws + "prior.tif"], CONTEXT=ws + "prior_4326.tif"), outputs=[plants])
    add("extract CONTEXT without CRS", "extractpvplants",
        extract(TRUSTED_PRIORS=[ws + "prior.tif"], CONTEXT=ws + "no_crs.tif"), "CONTEXT")
    add("extract CONTEXT garbage", "extractpvplants",
        extract(TRUSTED_PRIORS=[ws + "prior.tif"], CONTEXT=ws + "garbage.tif"), "CONTEXT")

    # fusionpv:capacity
    mw = ws + "out/capacity.gpkg"
    capacity = lambda **p: dict({"INPUT": ws + "plants_years.gpkg", "YEAR_FIELD": "year", "OUTPUT": mw}, **p)  # noqa
    add("capacity ok with years table and report", "capacity",
        capacity(OUTPUT_YEARS=ws + "out/mw.csv", OUTPUT_REPORT=ws + "out/mw.html"),
        outputs=[mw, ws + "out/mw.csv", ws + "out/mw.html"])
    add("capacity points", "capacity", capacity(INPUT=ws + "plant_points.gpkg"), "INPUT")
    add("capacity table without geometry", "capacity", capacity(INPUT=ws + "kamakura.gpkg"), "INPUT")
    for field in ("year_text", "year_fraction", "fid"):
        add("capacity YEAR_FIELD=%s" % field, "capacity", capacity(YEAR_FIELD=field), "YEAR_FIELD", absent=[mw])
    add("capacity YEAR_FIELD=year_null", "capacity", capacity(YEAR_FIELD="year_null"), outputs=[mw],
        warning="without a year")
    add("capacity empty geometries", "capacity", capacity(INPUT=ws + "plants_some_empty.gpkg"), outputs=[mw],
        warning="no area")
    add("capacity MOUNT_FIELD of other values", "capacity", capacity(MOUNT_FIELD="year_text"), outputs=[mw],
        warning="unknown mount")
    add("capacity output onto the input", "capacity", capacity(OUTPUT=ws + "plants_years.gpkg"), "OUTPUT")
    return cases


CASES = _cases()

#: The cases that also run through ``qgis_process``: what only the command line shows. processing.run runs every
#: case; the command line adds parsing every kind of value from text (numbers such as nan and 1e12, enum indices,
#: repeated layers, extents, CRS, dates, field names and comma lists, paths with quotes, very long names and named
#: pipes), the exit code with the message on an error, and the outputs and warnings it prints: per algorithm one
#: run that succeeds and one that is refused, plus the text forms above.
COMMAND_LINE_CASE_NAMES = (
    "andpi ok", "andpi SCALE=nan", "andpi OFFSET=inf", "andpi band number beyond the bands", "andpi output as .png",
    "extract ok, trusted raster prior", "extract without priors", "extract METHOD=5", "extract MIN_AREA_PIXELS=1e12",
    "extract prior far away", "extract OUTPUT is a folder", "extract OUTPUT of a 245-byte name",
    "extract CONTEXT in another CRS",
    "stack ok, band folder", "stack extent elsewhere", "stack resolution 7", "stack a pipe named like a band",
    "composite ok", "composite CLEAR_CLASSES='abc'", "composite dates in the wrong order",
    "composite ItemCollection whose files are lost",
    "assess ok with report", "assess MATCH_IOU=nan",
    "flows ok with report", "flows YEAR_FIELD=year_text", "flows YEAR_FIELD=year_null", "flows LIFETIME_MODEL=9",
    "runmodel ok", "runmodel MODEL garbage.onnx",
    "multisource ok, S1 both passes", "multisource S1 s1_nan.tif",
    "overtime ok", "overtime netCDF in a folder whose name has a double quote",
    "overtime 23 years of months into a Shapefile",
    "searchimagery STAC_API not a URL", "searchimagery dates reversed",
    "mapregion ok", "mapregion WORKERS=1000", "mapregion OUTPUT_CRS=not a crs",
    "mapregion DASK_SCHEDULER=tls://127.0.0.1:1", "plantsovertime results beside OUTPUT in a folder of the user's",
    "capacity ok with years table and report", "capacity points", "capacity YEAR_FIELD=year_text",
    "capacity YEAR_FIELD=year_null", "mapregion results folder cannot be made",
    "plantsovertime finished leaves only its outputs",
)


def command_line_cases():
    """The :data:`CASES` named in :data:`COMMAND_LINE_CASE_NAMES` (a name that names no case is an error)."""
    by_name = {case.name: case for case in CASES}
    unknown = [name for name in COMMAND_LINE_CASE_NAMES if name not in by_name]
    if unknown:
        raise KeyError("COMMAND_LINE_CASE_NAMES names no case: %s" % ", ".join(unknown))
    return [by_name[name] for name in COMMAND_LINE_CASE_NAMES]
