"""Sentinel-2 band files as users download them (SAFE products, zips, folders of single-band files): finding the
bands and the product metadata, and stacking them into one GeoTIFF."""
import os
import re
from dataclasses import dataclass

import numpy as np
from osgeo import gdal
from qgis.core import QgsProcessingException

from ..core import s2_products
from ..core.ndpi import DEFAULT_SCALE
from .messages import CANCELLED, tr
from .raster import RasterWriter, grid_of, pixel_size, raster_info, read_dataset_rows, warped_band

#: Rows written at once.
STRIP_ROWS = 1024
RASTER_EXTENSIONS = (".jp2", ".tif", ".tiff", ".img", ".vrt")


def _walk(path):
    """Every file below a folder or a ``/vsizip/`` path (GDAL paths)."""
    entries = gdal.ReadDirRecursive(path) or []
    return [path.rstrip("/") + "/" + entry for entry in entries if not entry.endswith("/")]


def product_files(path):
    """(raster files, metadata XML text or None) of a SAFE folder, a SAFE ``.zip``, an ``MTD_MSIL*.xml`` or a folder
    of single-band files. Raster paths are GDAL paths (``/vsizip/…`` inside a zip)."""
    if path.lower().endswith(".zip"):
        root = "/vsizip/" + os.path.abspath(path)
    elif path.lower().endswith(".xml"):
        root = os.path.dirname(os.path.abspath(path))
    else:
        root = os.path.abspath(path)
    # regular files only: a pipe or device named like a band would block the read that opens it
    files = _walk(root) if root.startswith("/vsizip/") else [
        os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names
        if os.path.isfile(os.path.join(folder, name))]
    metadata = None
    for name in files:
        if re.search(r"MTD_MSIL(1C|2A)\.xml$", name):
            handle = gdal.VSIFOpenL(name, "rb")
            if handle is not None:
                try:
                    metadata = gdal.VSIFReadL(1, gdal.VSIStatL(name).size, handle).decode("utf-8")
                finally:
                    gdal.VSIFCloseL(handle)
            break
    rasters = [name for name in files if name.lower().endswith(RASTER_EXTENSIONS)
               and "/QI_DATA/" not in name and "/AUX_DATA/" not in name and "_TCI" not in name.upper()]
    return rasters, metadata


@dataclass
class ProductBands:
    """What a product or band folder offers: band files, metadata, level, date and the offsets to remove."""
    files: dict
    level: str
    date: object
    baseline: str
    offsets: dict
    assumption: str = None


def find_bands(path, feedback):
    """Band files and metadata of INPUT (a SAFE folder, .zip, MTD xml, folder of bands or a band file in one)."""
    if os.path.isfile(path) and not path.lower().endswith((".zip", ".xml")):
        path = os.path.dirname(path)  # a band file chosen in the dialog: its folder holds the bands
    if not os.path.exists(path):
        raise QgsProcessingException(tr("INPUT: %s does not exist.") % path)
    rasters, metadata_text = product_files(path)
    try:
        files = s2_products.choose_band_files(rasters, pixel_size)
    except ValueError as error:
        raise QgsProcessingException(tr("INPUT: %s") % error)
    if not any(band != "SCL" for band in files):
        raise QgsProcessingException(tr(
            "INPUT: no Sentinel-2 band file found in %s. Choose a SAFE product (folder, .zip or MTD_MSIL1C.xml / "
            "MTD_MSIL2A.xml) or a folder of single-band files whose names carry the band (…B02….tif, …B8A….jp2).")
            % path)
    metadata = s2_products.parse_product_metadata(metadata_text) if metadata_text else s2_products.ProductMetadata()
    level = metadata.level or ("L2A" if "L2A" in path.upper() or "SCL" in files else
                               "L1C" if "L1C" in path.upper() else "unknown")
    date = metadata.date or s2_products.date_in_name(path) or \
        next((s2_products.date_in_name(f) for f in files.values() if s2_products.date_in_name(f)), None)
    offsets, assumption = dict(metadata.offsets), None
    if not metadata_text:
        assumption = tr("no product metadata: assuming DN = reflectance × %g with no offset (as before "
                        "processing baseline 04.00, or harmonised)") % DEFAULT_SCALE
    elif not offsets and metadata.baseline_at_least_04:
        offsets = {band: s2_products.BASELINE_04_OFFSET for band in files if band != "SCL"}
        assumption = tr("processing baseline %s but no offset in the metadata: assuming the offset %d of every "
                        "baseline ≥ 04.00 product") % (metadata.baseline, s2_products.BASELINE_04_OFFSET)
    if assumption:
        feedback.pushWarning(tr("INPUT: %s.") % assumption)
    return ProductBands(files, level, date, metadata.baseline, offsets, assumption)


def check_one_crs(product):
    """Raise when the band files are in different CRSs."""
    systems = {}
    for band, path in product.files.items():
        systems.setdefault(raster_info(path).grid.crs_wkt, []).append(band)
    if len(systems) > 1:
        raise QgsProcessingException(tr("INPUT: the band files are in different coordinate reference systems (%s); "
                                        "stack bands of one tile and CRS.") % " / ".join(
            ", ".join(bands) for bands in systems.values()))


def output_grid(product, resolution, bounds=None):
    """The output grid: that of a band of ``resolution`` m (or the finest one resampled), clipped to ``bounds``."""
    native = {band: pixel_size(path) for band, path in product.files.items()}
    reference = min(native, key=lambda band: (abs(native[band] - resolution), band))
    if native[reference] == resolution and bounds is None:
        return grid_of(product.files[reference])
    return grid_of(product.files[reference], resolution, bounds)


def write_stack(product, grid, resolution, path, driver, feedback, progress=(0, 100), stage=None):
    """Write the bands of ``product`` on ``grid`` as one int16 raster (nodata ``STACK_NODATA``), offsets removed;
    returns the finished :class:`RasterWriter` (band descriptions, metadata, nodata shares)."""
    order = s2_products.stack_order(product.files)
    metadata = {"LEVEL": product.level, "DATE": product.date.isoformat() if product.date else "unknown",
                "PROCESSING_BASELINE": product.baseline or "unknown", "RESOLUTION": "%g m" % resolution,
                "OFFSET_REMOVED": ", ".join("%s %+g" % (b, product.offsets[b]) for b in order
                                            if product.offsets.get(b)) or "none",
                "RESAMPLING": "coarser bands: nearest neighbour; finer bands: average"}
    if product.assumption:
        metadata["ASSUMPTION"] = product.assumption
    with RasterWriter(path, grid, np.int16, driver, s2_products.STACK_NODATA, descriptions=order,
                      metadata=metadata, stage=stage) as writer:
        for number, band in enumerate(order, start=1):
            source = product.files[band]
            resampling = "near" if pixel_size(source) >= resolution or band == "SCL" else "average"
            warped = warped_band(source, grid, resampling, s2_products.FILL_DN)
            offset = product.offsets.get(band, 0.0) if band != "SCL" else 0.0
            for top in range(0, grid.height, STRIP_ROWS):
                if feedback.isCanceled():
                    raise QgsProcessingException(CANCELLED)
                rows = slice(top, min(top + STRIP_ROWS, grid.height))
                writer.write(s2_products.stack_dn(read_dataset_rows(warped, rows)[0], offset), rows, band=number)
            feedback.setProgress(progress[0] + (progress[1] - progress[0]) * number / len(order))
    return writer
