"""fusionpv:plantsovertime on the real 2022 series of Austrian chips: netCDF and dated GeoTIFFs, outputs, bad
inputs, and the chain to fusionpv:materialflows."""
import datetime
import os
import shutil

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsProcessingException, QgsVectorLayer

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "austria_pv")
NETCDF = os.path.join(DATA, "netcdf")
VARIABLES = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "SCL")


def run(algorithm, parameters, feedback):
    import processing
    return processing.run("fusionpv:" + algorithm, parameters, feedback=feedback)


def netcdf(chip):
    return os.path.join(NETCDF, "S2_2022_%s.nc" % chip)


def features(path):
    layer = QgsVectorLayer(path, "plants", "ogr")
    assert layer.isValid()
    return [{field.name(): feature[field.name()] for field in layer.fields()} for feature in layer.getFeatures()]


def dated_geotiffs(chip, folder):
    """One GeoTIFF per date of a chip's netCDF, bands described B01…B12 and SCL, the date in the file name."""
    first = gdal.Open('NETCDF:"%s":B02' % netcdf(chip))
    days = [float(first.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t")) for i in range(first.RasterCount)]
    values = {name: gdal.Open('NETCDF:"%s":%s' % (netcdf(chip), name)).ReadAsArray() for name in VARIABLES}
    paths = []
    for t, day in enumerate(days):
        date = datetime.date(1990, 1, 1) + datetime.timedelta(days=day)
        path = os.path.join(folder, "S2L2A_%s.tif" % date.strftime("%Y%m%d"))
        dataset = gdal.GetDriverByName("GTiff").Create(path, first.RasterXSize, first.RasterYSize, len(VARIABLES),
                                                       gdal.GDT_Int16)
        dataset.SetGeoTransform(first.GetGeoTransform())
        dataset.SetProjection(first.GetProjection())
        for number, name in enumerate(VARIABLES, start=1):
            band = dataset.GetRasterBand(number)
            band.SetDescription(name)
            if name != "SCL":
                band.SetNoDataValue(32767)
            band.WriteArray(values[name][t].astype(np.int16))
        dataset = None
        paths.append(path)
    return paths


def test_quarters_of_a_plant_built_in_2022(fusionpv, feedback, tmp_path):
    out = {name: str(tmp_path / name) for name in ("plants.gpkg", "periods.tif", "table.csv", "report.html")}
    result = run("plantsovertime", {
        "INPUT": [netcdf("2004")], "PERIOD": 1, "TRUSTED_PRIORS": [os.path.join(DATA, "pv_mask_2004.tif")],
        "OUTPUT": out["plants.gpkg"], "OUTPUT_PERIODS": out["periods.tif"], "OUTPUT_TABLE": out["table.csv"],
        "OUTPUT_REPORT": out["report.html"]}, feedback)
    (plant,) = features(result["OUTPUT"])
    assert plant["presence"] == "0011" and plant["status"] == "built"
    assert (plant["sources"], plant["n_sources"]) == ("pv_mask_2004", 1)  # the fields of Extract PV plants
    assert plant["first_seen"].toPyDate() == datetime.date(2022, 7, 1) and plant["first_seen_year"] == 2022
    assert plant["construction_period"] == "2022-Q3" and plant["last_seen"].toPyDate() == datetime.date(2022, 12, 31)
    assert (plant["periods_present"], plant["periods_observed"]) == (2, 4)
    # the interval of its construction: two real acquisitions, from the fitted monthly life
    after, before = plant["built_after"].toPyDate(), plant["built_before"].toPyDate()
    assert datetime.date(2022, 6, 1) <= after < before <= datetime.date(2022, 9, 30)
    assert not plant["removed_after"] and not plant["removed_before"]
    assert [int(tenths) >= 5 for tenths in plant["evidence"]] == [False, False, True, True]
    reference = gdal.Open(os.path.join(DATA, "pv_mask_2004.tif")).ReadAsArray() > 0
    periods = gdal.Open(out["periods.tif"])
    assert [periods.GetRasterBand(n).GetDescription() for n in range(1, 5)] == ["2022-Q1", "2022-Q2", "2022-Q3",
                                                                               "2022-Q4"]
    assert periods.RasterCount == 5 and periods.GetRasterBand(5).GetDescription() == "first period with PV"
    first = periods.GetRasterBand(5).ReadAsArray()
    bands = periods.ReadAsArray()[:4] > 0
    assert not bands[:2].any() and bands[3].sum() == plant["pixels"]
    assert np.array_equal(first > 0, bands.any(axis=0)) and set(np.unique(first)) <= {0, 3, 4}
    assert np.array_equal(first == 3, bands[2])
    assert np.count_nonzero(bands[3] & reference) / np.count_nonzero(bands[3] | reference) > 0.9
    rows = features(out["table.csv"])
    assert [row["period"] for row in rows] == ["2022-Q1", "2022-Q2", "2022-Q3", "2022-Q4"]
    assert [int(row["plants_present"]) for row in rows] == [0, 0, 1, 1]
    assert [int(row["new_plants"]) for row in rows] == [0, 0, 1, 0]
    assert float(rows[3]["pv_area_m2"]) == pytest.approx(bands[3].sum() * 100)
    assert "PV plants over time" in open(out["report.html"], encoding="utf-8").read()
    assert any("1 prior component(s): built" in line for line in feedback.infos)


def test_dated_geotiffs_give_the_netcdf_result(fusionpv, feedback, tmp_path):
    folder = tmp_path / "dates"
    folder.mkdir()
    paths = dated_geotiffs("9", str(folder))
    prior = [os.path.join(DATA, "pv_mask_9.tif")]
    from_netcdf = run("plantsovertime", {"INPUT": [netcdf("9")], "PERIOD": 1, "CANDIDATE_PRIORS": prior,
                                         "OUTPUT": str(tmp_path / "nc.gpkg"),
                                         "OUTPUT_PERIODS": str(tmp_path / "nc.tif")}, feedback)
    from_tiffs = run("plantsovertime", {"INPUT": paths[::-1], "PERIOD": 1, "CANDIDATE_PRIORS": prior,
                                        "OUTPUT": str(tmp_path / "tif.gpkg"),
                                        "OUTPUT_PERIODS": str(tmp_path / "tif.tif")}, feedback)
    first, second = ([dict(plant, tile=None) for plant in features(run["OUTPUT"])]  # tile: the file names differ
                     for run in (from_netcdf, from_tiffs))
    assert first == second and first[0]["status"] == "present from start" and first[0]["presence"] == "1111"
    assert np.array_equal(gdal.Open(str(tmp_path / "nc.tif")).ReadAsArray(),
                          gdal.Open(str(tmp_path / "tif.tif")).ReadAsArray())


OUTCOME_FIELDS = ("presence", "status", "first_seen", "construction_period", "last_seen", "periods_observed")


@pytest.mark.parametrize("chip", ["2004", "9", "1913", "101"])
def test_the_default_observations_per_month_give_the_every_date_plants(fusionpv, feedback, tmp_path, chip):
    """Each bundled real series by month (a plant built in 2022, plants through snow, a prior never PV): the default
    OBSERVATIONS_PER_MONTH gives the plants, presence, status and periods of every date (0)."""
    prior = [os.path.join(DATA, "pv_mask_%s.tif" % chip)]
    runs = [features(run("plantsovertime", {
        "INPUT": [netcdf(chip)], "PERIOD": 2, "CANDIDATE_PRIORS": prior, "OBSERVATIONS_PER_MONTH": number,
        "OUTPUT": str(tmp_path / ("%s.gpkg" % number))}, feedback)["OUTPUT"]) for number in (0, None)]
    every, default = ([{name: plant[name] for name in OUTCOME_FIELDS} for plant in plants] for plants in runs)
    assert every == default and every


def test_observations_per_month_in_dated_geotiffs_take_the_clearest(fusionpv, feedback, tmp_path):
    """Dated GeoTIFFs of chip 2004 with one observation per month: the plant is still built in 2022-Q3, and the
    dates it was built between are real acquisitions."""
    folder = tmp_path / "dates"
    folder.mkdir()
    paths = dated_geotiffs("2004", str(folder))
    result = run("plantsovertime", {"INPUT": paths, "PERIOD": 1, "OBSERVATIONS_PER_MONTH": 1,
                                    "TRUSTED_PRIORS": [os.path.join(DATA, "pv_mask_2004.tif")],
                                    "OUTPUT": str(tmp_path / "plants.gpkg")}, feedback)
    (plant,) = features(result["OUTPUT"])
    assert plant["status"] == "built" and plant["construction_period"] == "2022-Q3"
    days = {os.path.basename(path)[6:14] for path in paths}
    assert {plant[name].toPyDate().strftime("%Y%m%d") for name in ("built_after", "built_before")} <= days


def test_yearly_composites_without_scl(fusionpv, feedback, tmp_path):
    """Composites exported once a year (no SCL band) are dated by the year in their names."""
    paths = []
    for year in (2021, 2022):
        path = str(tmp_path / ("S2_median_%d.tif" % year))
        shutil.copy(os.path.join(DATA, "S2L2A_2022_clearmedian_101.tif"), path)
        paths.append(path)
    prior = [os.path.join(DATA, "pv_mask_101.tif")]
    result = run("plantsovertime", {"INPUT": paths, "PERIOD": 0, "TRUSTED_PRIORS": prior,
                                    "OUTPUT": str(tmp_path / "plants.gpkg")}, feedback)
    (plant,) = features(result["OUTPUT"])
    assert plant["presence"] == "11" and plant["construction_period"] == "by 2021"
    assert plant["first_seen_year"] == 2021 and plant["status"] == "present from start"
    assert plant["evidence"] == "99" and not plant["built_after"]
    with pytest.raises(QgsProcessingException, match="PERIOD: .*dated by its year only"):
        run("plantsovertime", {"INPUT": paths, "PERIOD": 1, "TRUSTED_PRIORS": prior,
                               "OUTPUT": str(tmp_path / "quarters.gpkg")}, feedback)
    assert not os.path.exists(str(tmp_path / "quarters.gpkg"))


def yearly_composite(chip, months, path):
    """A clear-sky composite of the chip's real 2022 dates in ``months`` (per-pixel median of SCL 4, 5, 6), written
    as a yearly composite would be: 11 bands described B01…B12, no SCL, nodata -32768."""
    first = gdal.Open('NETCDF:"%s":B02' % netcdf(chip))
    days = [float(first.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t")) for i in range(first.RasterCount)]
    wanted = [(datetime.date(1990, 1, 1) + datetime.timedelta(days=day)).month in months for day in days]
    clear = np.isin(gdal.Open('NETCDF:"%s":SCL' % netcdf(chip)).ReadAsArray()[wanted], (4, 5, 6))
    names = [name for name in VARIABLES if name != "SCL"]
    dataset = gdal.GetDriverByName("GTiff").Create(path, first.RasterXSize, first.RasterYSize, len(names),
                                                   gdal.GDT_Int16)
    dataset.SetGeoTransform(first.GetGeoTransform())
    dataset.SetProjection(first.GetProjection())
    for number, name in enumerate(names, start=1):
        values = gdal.Open('NETCDF:"%s":%s' % (netcdf(chip), name)).ReadAsArray()[wanted].astype(float)
        median = np.nanmedian(np.where(clear & (values != 32767), values, np.nan), axis=0)
        band = dataset.GetRasterBand(number)
        band.SetDescription(name)
        band.SetNoDataValue(-32768)
        band.WriteArray(np.where(np.isnan(median), -32768, np.round(median)).astype(np.int16))
    dataset = None
    return path


def test_yearly_composites_date_a_build_to_its_year(fusionpv, feedback, tmp_path):
    """Three yearly composites of real imagery (each standing for its whole year): chip 2004 before it was built
    (its January–June), then twice after (October–December). Built in 2022, between the 2021 and 2022 composites."""
    paths = [yearly_composite("2004", range(1, 7), str(tmp_path / "S2_median_2021.tif"))]
    paths += [yearly_composite("2004", (10, 11, 12), str(tmp_path / ("S2_median_%d.tif" % year)))
              for year in (2022, 2023)]
    result = run("plantsovertime", {"INPUT": paths, "PERIOD": 0, "CANDIDATE_PRIORS": [os.path.join(DATA,
                                    "pv_mask_2004.tif")], "OUTPUT": str(tmp_path / "plants.gpkg")}, feedback)
    (plant,) = features(result["OUTPUT"])
    assert plant["presence_raw"] == "011" and plant["presence"] == "011" and plant["status"] == "built"
    assert plant["construction_period"] == "2022" and plant["first_seen_year"] == 2022
    assert plant["built_after"].toPyDate() == datetime.date(2021, 1, 1)
    assert plant["built_before"].toPyDate() == datetime.date(2022, 1, 1)


def test_chain_to_material_flows(fusionpv, feedback, tmp_path):
    """Plants over time → material flows from first_seen_year; the never-seen floating plant has no year."""
    plants = str(tmp_path / "plants.gpkg")
    run("plantsovertime", {"INPUT": [netcdf("1913")], "PERIOD": 1,
                           "TRUSTED_PRIORS": [os.path.join(DATA, "pv_mask_1913.tif")], "OUTPUT": plants}, feedback)
    (plant,) = features(plants)
    assert plant["status"] == "not seen" and plant["presence"] == "0000" and not plant["first_seen_year"]
    with pytest.raises(QgsProcessingException, match="no feature with an area and a year"):
        run("materialflows", {"INPUT": plants, "YEAR_FIELD": "first_seen_year",
                              "OUTPUT": str(tmp_path / "none.csv")}, feedback)
    built = str(tmp_path / "built.gpkg")
    run("plantsovertime", {"INPUT": [netcdf("2004")], "PERIOD": 1,
                           "TRUSTED_PRIORS": [os.path.join(DATA, "pv_mask_2004.tif")], "OUTPUT": built}, feedback)
    flows = run("materialflows", {"INPUT": built, "YEAR_FIELD": "first_seen_year",
                                  "OUTPUT": str(tmp_path / "flows.csv")}, feedback)
    rows = features(flows["OUTPUT"])
    assert float(next(row for row in rows if int(row["year"]) == 2022)["inflow_m2"]) > 0
    assert not any("present from start" in warning for warning in feedback.warnings)
    stable = str(tmp_path / "stable.gpkg")
    run("plantsovertime", {"INPUT": [netcdf("101")], "PERIOD": 1,
                           "TRUSTED_PRIORS": [os.path.join(DATA, "pv_mask_101.tif")], "OUTPUT": stable}, feedback)
    assert [plant["status"] for plant in features(stable)] == ["present from start"]
    run("materialflows", {"INPUT": stable, "YEAR_FIELD": "first_seen_year", "OUTPUT": str(tmp_path / "s.csv")},
        feedback)
    assert any(warning.startswith("YEAR_FIELD: 1 plant(s) were present from start") for warning in feedback.warnings)


@pytest.mark.parametrize("case", ["undated", "one date", "mixed grids", "mixed crs", "one period"])
def test_bad_time_series_are_refused(fusionpv, feedback, tmp_path, case):
    folder = tmp_path / "dates"
    folder.mkdir()
    paths = dated_geotiffs("9", str(folder))[:6]
    prior = [os.path.join(DATA, "pv_mask_9.tif")]
    period = 1
    if case == "undated":
        os.rename(paths[2], str(folder / "scene.tif"))
        paths[2], message = str(folder / "scene.tif"), "INPUT: .*scene.tif has no date"
    elif case == "one date":
        paths, message = paths[:1], "INPUT: .*single date"
    elif case == "mixed grids":
        paths, message = [netcdf("9"), netcdf("2004")], "OUTPUT_PERIODS: .*2 grids.*needs one"
    elif case == "mixed crs":
        gdal.Warp(str(folder / "S2L2A_20221201.tif"), paths[0], dstSRS="EPSG:32633")  # chip 9 is in UTM 32N
        paths, message = paths + [str(folder / "S2L2A_20221201.tif")], "OUTPUT_PERIODS: .*another grid"
    else:
        period, message = 0, "PERIOD: every date falls in one year"
    output = str(tmp_path / "plants.gpkg")
    with pytest.raises(QgsProcessingException, match=message):
        run("plantsovertime", {"INPUT": paths, "PERIOD": period, "TRUSTED_PRIORS": prior, "OUTPUT": output,
                               "OUTPUT_PERIODS": str(tmp_path / "periods.tif")}, feedback)
    assert not os.path.exists(output) and not os.path.exists(str(tmp_path / "periods.tif"))


def test_the_table_is_whole_as_soon_as_it_is_written(fusionpv, feedback, tmp_path, monkeypatch):
    """The table sink is closed right after its rows are written, not when the garbage collector gets to it: while
    the run goes on (here: when the report is drawn, after the table), the CSV is already complete on disk."""
    from fusion_pv_mapping.algorithms import plants_over_time_algorithm as algorithm
    table = str(tmp_path / "table.csv")
    seen_during_the_run = []

    def report_after_reading_the_table(*arguments):
        with open(table, encoding="utf-8") as written:
            seen_during_the_run.append(written.read().splitlines())
        return draw_report(*arguments)

    draw_report = algorithm.plants_over_time_report
    monkeypatch.setattr(algorithm, "plants_over_time_report", report_after_reading_the_table)
    run("plantsovertime", {"INPUT": [netcdf("2004")], "PERIOD": 1, "TRUSTED_PRIORS": [os.path.join(DATA,
        "pv_mask_2004.tif")], "OUTPUT": str(tmp_path / "plants.gpkg"), "OUTPUT_TABLE": table,
        "OUTPUT_REPORT": str(tmp_path / "report.html")}, feedback)
    (lines,) = seen_during_the_run
    assert len(lines) == 5 and lines[0].startswith("period") and lines[4].split(",")[0].strip('"') == "2022-Q4"
