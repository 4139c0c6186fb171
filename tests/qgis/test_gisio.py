"""The GIS I/O layer on real chips: band reading, grids, atomic writing, rasterise/polygonise, output checks."""
import os

import numpy as np
import pytest
from osgeo import gdal, ogr
from qgis.core import QgsProcessingException

from fusion_pv_mapping.core.bandsource import ArrayBands
from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.gisio import outputs, raster, shapes
from chip_data import chip_path as chip

MEDIAN = chip("S2L2A_2022_clearmedian_101.tif")
#: Band numbers of B2, B3, B4, B8, B11, B12 in the 12-band chips.
ROLE_NUMBERS = dict(zip(ROLES, (2, 3, 4, 8, 10, 11)))


def test_gdal_bands_read_the_same_windows_and_index_as_arrays():
    source = gdal.Open(MEDIAN)
    arrays = {role: source.GetRasterBand(n).ReadAsArray() for role, n in ROLE_NUMBERS.items()}
    bands = raster.GdalBands(MEDIAN, ROLE_NUMBERS, {role: None for role in ROLES}, scale=10000.0, offset=-1000.0)
    in_memory = ArrayBands(arrays, scale=10000.0, offset=-1000.0)
    window = (slice(3, 17), slice(5, 25))
    read = bands.read(*window)
    assert all(np.array_equal(read[role], arrays[role][window]) for role in ROLES)
    assert np.array_equal(bands.ndpi(read)[0], in_memory.ndpi(in_memory.read(*window))[0], equal_nan=True)
    clone = bands.clone()
    assert (clone.scale, clone.offset, clone.shape) == (10000.0, -1000.0, bands.shape)


@pytest.mark.parametrize("compression", ["NONE", "DEFLATE"])
def test_gdal_bands_map_uncompressed_geotiffs_and_renew_the_mapping_row_band_by_row_band(tmp_path, monkeypatch,
                                                                                          compression):
    copy = str(tmp_path / "chip.tif")
    gdal.Translate(copy, MEDIAN, creationOptions=["INTERLEAVE=PIXEL", "COMPRESS=" + compression])
    source = gdal.Open(MEDIAN)  # held while its bands are read
    arrays = {role: source.GetRasterBand(n).ReadAsArray() for role, n in ROLE_NUMBERS.items()}
    monkeypatch.setattr(raster, "MAPPED_ROWS", 8)
    bands = raster.GdalBands(copy, ROLE_NUMBERS, {role: None for role in ROLES})
    assert bands.mapped == (compression == "NONE")
    first = bands.dataset
    for window in ((slice(0, 6), slice(0, 9)), (slice(5, 14), slice(3, 28)), (slice(17, 23), slice(0, 12))):
        read = bands.read(*window)
        assert all(np.array_equal(read[role], arrays[role][window]) for role in ROLES)
    assert (bands.dataset is not first) == (compression == "NONE")  # rows 16-23: a new mapping
    assert bands.mapped_rows == (2 if compression == "NONE" else 0)


def test_grid_window_and_snapped_resolution():
    grid = raster.raster_info(MEDIAN).grid
    x0, dx, _, y0, _, dy = grid.geotransform
    sub = raster.window_grid(grid, (slice(4, 10), slice(2, 7)))
    assert (sub.width, sub.height) == (5, 6)
    assert sub.geotransform[0] == x0 + 2 * dx and sub.geotransform[3] == y0 + 4 * dy
    coarse = raster.grid_of(MEDIAN, 20)
    assert coarse.geotransform[1] == 20 and coarse.width == int(np.ceil(grid.width / 2))
    assert coarse.bounds[0] == grid.bounds[0] and coarse.bounds[3] == grid.bounds[3]


def test_read_rows_of_one_band_and_of_all():
    source = gdal.Open(MEDIAN)
    one = raster.read_dataset_rows(source, slice(2, 5), band=4)
    assert one.shape == (1, 3, source.RasterXSize)
    assert np.array_equal(one[0], source.GetRasterBand(4).ReadAsArray()[2:5])
    assert raster.read_dataset_rows(source, slice(0, 1)).shape == (source.RasterCount, 1, source.RasterXSize)


def test_writer_moves_its_file_in_place_only_on_success(tmp_path):
    grid = raster.raster_info(MEDIAN).grid
    path = str(tmp_path / "out.tif")
    values = np.arange(grid.width * grid.height, dtype=np.float32).reshape(grid.height, grid.width)
    with pytest.raises(ValueError):
        with raster.RasterWriter(path, grid, np.float32, nodata=-1.0, description="x") as writer:
            writer.write(values)
            raise ValueError("failed half-way")
    assert os.listdir(tmp_path) == []
    with raster.RasterWriter(path, grid, np.float32, nodata=-1.0, description="x") as writer:
        writer.write(values[:5], slice(0, 5))
        writer.write(values[5:], slice(5, None))
    written = gdal.Open(path)
    assert os.listdir(tmp_path) == ["out.tif"]
    assert np.array_equal(written.GetRasterBand(1).ReadAsArray(), values)
    assert written.GetRasterBand(1).GetDescription() == "x" and written.GetRasterBand(1).GetNoDataValue() == -1
    assert written.GetGeoTransform() == grid.geotransform


def test_rasterise_and_polygonise_round_trip():
    grid = raster.raster_info(MEDIAN).grid
    mask = np.zeros((grid.height, grid.width), bool)
    mask[3:9, 4:12] = True
    mask[5:7, 6:8] = False  # a hole
    mask[12, 15] = mask[13, 16] = True  # touching at a corner only
    outline = shapes.polygonize_mask(mask, grid)
    assert ogr.CreateGeometryFromWkb(outline).GetGeometryCount() == 3
    assert np.array_equal(shapes.rasterize_geometries([outline], grid), mask)
    labels = shapes.rasterize_labels([outline, outline], grid)
    assert set(np.unique(labels)) == {0, 2}


def test_file_destination_and_writable_checks(tmp_path):
    assert outputs.file_destination("ogr:dbname='/a/b.gpkg' table=\"x\" (geom)") == "/a/b.gpkg"
    assert outputs.file_destination("/a/b.gpkg|layername=x") == "/a/b.gpkg"
    assert outputs.file_destination("memory:plants") is None
    outputs.check_writable("OUTPUT", str(tmp_path / "x.tif"))
    with pytest.raises(QgsProcessingException, match="OUTPUT: the folder .* does not exist"):
        outputs.check_writable("OUTPUT", str(tmp_path / "missing" / "x.tif"))
    assert outputs.raster_driver("OUTPUT", "x.tif") == "GTiff"
    with pytest.raises(QgsProcessingException, match="OUTPUT: no raster format"):
        outputs.raster_driver("OUTPUT", "x.unknownext")


def test_count_axes_tick_whole_numbers_only():
    """The report's plant-count axis: one plant present gives ticks 0 and 1, never 0.2, 0.4…"""
    from fusion_pv_mapping.gisio.reports import integer_ticks
    ticks = integer_ticks().tick_values(0, 1)
    assert len(ticks) >= 2 and all(float(tick).is_integer() for tick in ticks)


def test_a_long_series_keeps_few_files_open_and_reads_every_date(tmp_path):
    """Reading date after date through a series of many files: at most OPEN_DATASETS files stay open (GDAL holds
    memory per open file), and each date reads its own values."""
    from fusion_pv_mapping.gisio.series import OPEN_DATASETS, TimeSeries
    paths = []
    for day in range(OPEN_DATASETS * 3):
        path = str(tmp_path / ("date_%02d.tif" % day))
        dataset = gdal.GetDriverByName("GTiff").Create(path, 8, 6, 1, gdal.GDT_Int16)
        dataset.SetGeoTransform((0, 10, 0, 60, 0, -10))
        dataset.GetRasterBand(1).Fill(day)
        dataset = None
        paths.append(path)
    series = TimeSeries({"B02": [(path, 1) for path in paths]}, [None] * len(paths), list(range(len(paths))),
                        raster.grid_of(paths[0]), [None] * len(paths))
    for day, entry in enumerate(series.sources["B02"]):
        values = series.read_entries([entry], slice(1, 4), slice(2, 5))
        assert values.shape == (1, 3, 3) and (values == day).all()
        assert len(series._datasets) <= OPEN_DATASETS
    assert (series.read("B02", slice(0, 6))[:, 0, 0] == np.arange(len(paths))).all()


def test_work_folders_are_made_on_first_use_and_those_of_killed_runs_removed(tmp_path, monkeypatch):
    """A run that writes nothing temporary makes no folder; one that does removes it at its end; a folder left by
    a process that is gone (a SIGKILLed run) is removed when the next run starts, one of a running process kept."""
    import subprocess
    import tempfile
    from fusion_pv_mapping.gisio import workspace
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with workspace.WorkFolder("overtime"):
        pass
    assert os.listdir(str(tmp_path)) == []
    with workspace.WorkFolder("overtime") as folder:
        made = os.path.join(folder, "stack_0.tif")
        assert os.path.isdir(os.path.dirname(made))
    assert os.listdir(str(tmp_path)) == []
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / ("%s%d-overtime-abc" % (workspace.PREFIX, gone.pid))).mkdir()
    (tmp_path / ("%s%d-overtime-def" % (workspace.PREFIX, os.getpid()))).mkdir()
    (tmp_path / "someone-elses").mkdir()
    with workspace.WorkFolder("composite"):
        assert sorted(os.listdir(str(tmp_path))) == ["%s%d-overtime-def" % (workspace.PREFIX, os.getpid()),
                                                     "someone-elses"]


def test_sas_tokens_are_kept_out_of_messages():
    from fusion_pv_mapping.gisio.sas import SasSigner, without_tokens
    said = "GDAL cannot open /vsicurl/https://acct.blob.core.windows.net/c/x.tif?st=2024&se=x&sig=abc%2F: HTTP 403"
    assert without_tokens(said) == "GDAL cannot open /vsicurl/https://acct.blob.core.windows.net/c/x.tif?<token>: " \
                                   "HTTP 403"
    signer = SasSigner()
    assert signer.signs("/vsicurl/https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/x/B02.tif")
    assert signer._container("/vsicurl/https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/x/B02.tif") == \
        ("sentinel2l2a01", "sentinel2-l2")
    assert not signer.signs("/vsicurl/https://sentinel-cogs.s3.us-west-2.amazonaws.com/x/B02.tif")
    assert not signer.signs("/data/B02.tif")
