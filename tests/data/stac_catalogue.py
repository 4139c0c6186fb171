"""A STAC catalogue of the real 2022 series of the 28 Austrian chips (``country_series.npz``), as Earth Search and
Planetary Computer publish Sentinel-2 L2A: one single-band Cloud-Optimised GeoTIFF per band and date (uint16,
nodata 0), asset keys, properties and offset conventions of each catalogue. Each chip stands for a tile.

How each item stores its DN (the series holds them harmonised: reflectance × 10000):

- acquired before 25 January 2022: processing baseline 03.01, harmonised (Earth Search ``sentinel-2-l2a``), or
  where a DN ≤ 0 cannot be stored so, ``c1`` (the collection reprocessed at baseline 05.09, with the offset);
- later, by turns (chip number + month) among:
  ``applied`` (Earth Search ``sentinel-2-l2a``, baseline 04.00, ``earthsearch:boa_offset_applied`` true, DN
  harmonised; where a DN ≤ 0 cannot be stored so, ``flag-wrong``), ``flag-wrong`` (the same flag, but the offset
  is still in the DN), ``flag-false-applied`` (the flag false, but the DN harmonised: Earth Search issues 66 and
  71), ``c1`` (``sentinel-2-c1-l2a``: DN + 1000 and ``raster:bands`` offset −0.1), ``planetary`` (Planetary
  Computer: band-name keys, baseline 05.00, DN + 1000, no word on the offset). Earth Search's ``sentinel-2-l2a``
  items carry ``raster:bands`` offset −0.1 whatever their DN hold, and so do these.

The 20 m bands (B11, B12, SCL) are 20 m assets on chips whose series repeats each 20 m pixel on 2 × 2 pixels from
the chip's corner, 10 m assets elsewhere."""
import datetime
import json
import os

import numpy as np
from osgeo import gdal, osr

from fusion_pv_mapping.gisio.stac_items import offset_of_vegetation
from region_scene import COUNTRY_NPZ

gdal.UseExceptions()
SERIES_FILL = 32767
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")
EARTH_SEARCH_KEYS = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B11": "swir16", "B12": "swir22",
                     "SCL": "scl"}
TWENTY_METRE = ("B11", "B12", "SCL")
BASELINE_04_DAY = datetime.date(2022, 1, 25)
CONVENTIONS = ("applied", "flag-wrong", "flag-false-applied", "c1", "planetary")
#: Conventions whose DN are harmonised (the offset removed, or never added).
HARMONISED = ("before-04", "applied", "flag-false-applied")
#: Conventions whose flag says the opposite of the DN.
WRONG_FLAG = ("flag-wrong", "flag-false-applied")
CLOUD_CLASSES = (3, 8, 9, 10)


def load_series(chips=None):
    """{chip: {band: (t, h, w) int16, "days": dates, "geotransform", "epsg"}} of ``country_series.npz``."""
    data = np.load(COUNTRY_NPZ)
    names = sorted({name.split("_")[0] for name in data.files}, key=int)
    series = {}
    for chip in names if chips is None else chips:
        arrays = {band: data["%s_%s" % (chip, band)] for band in BANDS}
        arrays["dates"] = [datetime.date(1990, 1, 1) + datetime.timedelta(days=int(day))
                           for day in data[chip + "_days"]]
        arrays["geotransform"] = tuple(float(value) for value in data[chip + "_geotransform"])
        arrays["epsg"] = int(data[chip + "_epsg"])
        series[chip] = arrays
    return series


def repeats_twenty_metre(arrays):
    """True when every 20 m band of the chip repeats each value on 2 × 2 pixels from the chip's corner."""
    for band in TWENTY_METRE:
        values = arrays[band]
        height, width = values.shape[1] // 2 * 2, values.shape[2] // 2 * 2
        if not ((values[:, :height:2] == values[:, 1:height:2]).all()
                and (values[:, :, :width:2] == values[:, :, 1:width:2]).all()):
            return False
    return True


def convention_of(chip, date, values, scl, step=1):
    """How the item of ``chip`` at ``date`` stores its DN (see the module's docstring); ``values``: its bands,
    ``scl`` its scene classification (every ``step``-th pixel: as its asset has it). A wrong flag is given only to
    items whose pixels can show it (the others get ``c1``)."""
    fits_harmonised = not any((band[band != SERIES_FILL] <= 0).any() for band in values)
    if date < BASELINE_04_DAY:
        return "before-04" if fits_harmonised else "c1"
    convention = CONVENTIONS[(int(chip) + date.month) % len(CONVENTIONS)]
    if convention in HARMONISED and not fits_harmonised:
        convention = "flag-wrong"
    blue = values[0][:scl.shape[0] * step:step, :scl.shape[1] * step:step][scl == 4].astype(np.int32)
    stored = blue if convention in HARMONISED else blue + 1000
    if convention in WRONG_FLAG and offset_of_vegetation(stored) is None:
        convention = "c1"
    return convention


def stored_dn(values, offset):
    """uint16 DN as the catalogue stores them: ``offset`` added, the series' fill → 0. (A DN of −1000 with the
    offset is 0 in the product itself: its fill; the series has 4 such water pixels, on chips 1913 and 1933.)"""
    stored = values.astype(np.int32) + offset
    stored[values == SERIES_FILL] = 0
    if (stored < 0).any() or stored.max() > 65535:
        raise ValueError("a DN does not fit the catalogue's uint16 with offset %d" % offset)
    return stored.astype(np.uint16)


def write_cog(path, values, geotransform, epsg, tiled=True):
    """A single-band uint16 GeoTIFF with nodata 0: a COG (tiled, DEFLATE), or a plain striped GeoTIFF."""
    memory = gdal.GetDriverByName("MEM").Create("", values.shape[1], values.shape[0], 1, gdal.GDT_UInt16)
    memory.SetGeoTransform(geotransform)
    reference = osr.SpatialReference()
    reference.ImportFromEPSG(epsg)
    memory.SetProjection(reference.ExportToWkt())
    memory.GetRasterBand(1).WriteArray(values)
    memory.GetRasterBand(1).SetNoDataValue(0)
    if tiled:
        gdal.Translate(path, memory, format="COG", creationOptions=["COMPRESS=DEFLATE", "BLOCKSIZE=256"])
    else:
        gdal.Translate(path, memory, format="GTiff", creationOptions=["TILED=NO", "COMPRESS=DEFLATE"])
    return path


def footprint(geotransform, width, height, epsg):
    """(GeoJSON polygon, bbox) in WGS 84 of a grid."""
    source, target = osr.SpatialReference(), osr.SpatialReference()
    source.ImportFromEPSG(epsg)
    target.ImportFromEPSG(4326)
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(source, target)
    x0, dx, _, y0, _, dy = geotransform
    corners = [(x0, y0), (x0 + dx * width, y0), (x0 + dx * width, y0 + dy * height), (x0, y0 + dy * height)]
    points = [transform.TransformPoint(x, y)[:2] for x, y in corners]
    ring = [list(point) for point in points] + [list(points[0])]
    xs, ys = [point[0] for point in points], [point[1] for point in points]
    return {"type": "Polygon", "coordinates": [ring]}, [min(xs), min(ys), max(xs), max(ys)]


def build_catalogue(folder, base_url=None, chips=None, untiled=()):
    """Write the COGs (``folder/<chip>/<date>/<band>.tif``) and the items of the chips (all 28 when ``chips`` is
    None) into ``folder``; hrefs are ``base_url`` + the path in ``folder`` (relative paths when ``base_url`` is
    None). ``untiled``: (chip, date index) whose assets are plain striped GeoTIFFs. Returns the items, oldest
    first per chip; also written as ``folder/items.json`` (an ItemCollection)."""
    items = []
    for chip, arrays in load_series(chips).items():
        height, width = arrays["B02"].shape[1:]
        twenty = repeats_twenty_metre(arrays)
        geometry, bbox = footprint(arrays["geotransform"], width, height, arrays["epsg"])
        for number, date in enumerate(arrays["dates"]):
            values = {band: arrays[band][number] for band in BANDS}
            step = 2 if twenty else 1
            convention = convention_of(chip, date, [values[band] for band in BANDS if band != "SCL"],
                                       values["SCL"][::step, ::step], step)
            item = _item(chip, number, date, convention, arrays, geometry, bbox)
            for band in BANDS:
                offset = 0 if band == "SCL" or convention in HARMONISED else 1000
                band_values, transform = values[band], arrays["geotransform"]
                if twenty and band in TWENTY_METRE:
                    band_values = band_values[::2, ::2]
                    transform = (transform[0], transform[1] * 2, 0.0, transform[3], 0.0, transform[5] * 2)
                relative = os.path.join(chip, date.isoformat(), band + ".tif")
                os.makedirs(os.path.join(folder, os.path.dirname(relative)), exist_ok=True)
                write_cog(os.path.join(folder, relative), stored_dn(band_values, offset), transform, arrays["epsg"],
                          tiled=(chip, number) not in untiled)
                key = band if convention == "planetary" else EARTH_SEARCH_KEYS[band]
                asset = {"href": (base_url.rstrip("/") + "/" + relative) if base_url else relative,
                         "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"],
                         "proj:epsg": arrays["epsg"], "proj:shape": list(band_values.shape),
                         "proj:transform": [transform[1], 0.0, transform[0], 0.0, transform[5], transform[3]]}
                if convention in ("c1", "applied", "flag-wrong", "flag-false-applied") and band != "SCL":
                    # Earth Search's sentinel-2-l2a items say −0.1 whatever their DN hold (its issues 66, 71)
                    asset["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "scale": 0.0001,
                                              "offset": -0.1}]
                item["assets"][key] = asset
            items.append(item)
    write_item_collection(os.path.join(folder, "items.json"), items)
    return items


def _item(chip, number, date, convention, arrays, geometry, bbox):
    """A STAC item (without assets) of one date of a chip."""
    platform = "sentinel-2a" if number % 2 == 0 else "sentinel-2b"
    tile = "%dCHIP%s" % (arrays["epsg"] % 100, chip)
    scl = arrays["SCL"][number]
    cloud = 100.0 * float(np.isin(scl, CLOUD_CLASSES).mean())
    baseline = {"before-04": "03.01", "planetary": "05.00", "c1": "05.09"}.get(convention, "04.00")
    properties = {"datetime": "%sT10:%02d:00Z" % (date.isoformat(), number), "platform": platform,
                  "constellation": "sentinel-2", "eo:cloud_cover": round(cloud, 2), "s2:mgrs_tile": tile,
                  "s2:processing_baseline": baseline, "proj:epsg": arrays["epsg"]}
    if convention in ("before-04", "applied", "flag-wrong", "flag-false-applied"):
        properties["earthsearch:boa_offset_applied"] = convention in ("applied", "flag-wrong")
    collection = {"c1": "sentinel-2-c1-l2a"}.get(convention, "sentinel-2-l2a")
    return {"type": "Feature", "stac_version": "1.0.0", "stac_extensions": [], "collection": collection,
            "id": "S2%s_%s_%s_%d_L2A" % (platform[-1].upper(), tile, date.strftime("%Y%m%d"), number),
            "geometry": geometry, "bbox": bbox, "properties": dict(properties, **{"fusionpv:convention": convention}),
            "links": [], "assets": {}}


def write_item_collection(path, items):
    with open(path, "w", encoding="utf-8") as stream:
        json.dump({"type": "FeatureCollection", "features": items}, stream)
    return path
