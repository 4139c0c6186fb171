"""Stacking Sentinel-2 band files (SAFE products, zips, folders of single-band files) into one GeoTIFF."""
import os
from dataclasses import dataclass

import numpy as np
from qgis.core import QgsProcessingException

from ..core import s2_products
from ..core.composite import OUTPUT_NODATA
from . import gdal_io
from .texts import tr

#: Rows written at once.
STRIP_ROWS = 1024
RESAMPLING_HELP = (
    "Bands are resampled onto the grid of a band of the chosen resolution: coarser bands (20 and 60 m) by nearest "
    "neighbour, which repeats each measured value over the finer pixels it covers — no spectra are invented, and "
    "the PV index, which compares bands pixel by pixel, sees only measured values; finer bands (10 m onto 20 m) by "
    "averaging, which integrates the signal the coarser pixel covers.")


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
    rasters, metadata_text = gdal_io.product_files(path)
    try:
        files = s2_products.choose_band_files(rasters, gdal_io.pixel_size)
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
        assumption = tr("no product metadata: assuming DN = reflectance × 10000 with no offset (as before "
                        "processing baseline 04.00, or harmonised)")
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
        systems.setdefault(gdal_io.raster_info(path).grid.crs_wkt, []).append(band)
    if len(systems) > 1:
        raise QgsProcessingException(tr("INPUT: the band files are in different coordinate reference systems (%s); "
                                        "stack bands of one tile and CRS.") % " / ".join(
            ", ".join(bands) for bands in systems.values()))


def output_grid(product, resolution, bounds=None):
    """The output grid: that of a band of ``resolution`` m (or the finest one resampled), clipped to ``bounds``."""
    native = {band: gdal_io.pixel_size(path) for band, path in product.files.items()}
    reference = min(native, key=lambda band: (abs(native[band] - resolution), band))
    if native[reference] == resolution and bounds is None:
        return gdal_io.grid_of(product.files[reference])
    return gdal_io.grid_of(product.files[reference], resolution, bounds)


def write_stack(product, grid, resolution, path, driver, feedback, progress=(0, 100)):
    """Write the bands of ``product`` on ``grid`` as one int16 raster (nodata −32768), offsets removed."""
    order = s2_products.stack_order(product.files)
    metadata = {"LEVEL": product.level, "DATE": product.date.isoformat() if product.date else "unknown",
                "PROCESSING_BASELINE": product.baseline or "unknown", "RESOLUTION": "%g m" % resolution,
                "OFFSET_REMOVED": ", ".join("%s %+g" % (b, product.offsets[b]) for b in order
                                            if product.offsets.get(b)) or "none",
                "RESAMPLING": "coarser bands: nearest neighbour; finer bands: average"}
    if product.assumption:
        metadata["ASSUMPTION"] = product.assumption
    writer = gdal_io.RasterWriter(path, grid, np.int16, driver, OUTPUT_NODATA, descriptions=order,
                                  metadata=metadata)
    try:
        for number, band in enumerate(order, start=1):
            source = product.files[band]
            resampling = "near" if gdal_io.pixel_size(source) >= resolution or band == "SCL" else "average"
            warped = gdal_io.warped_band(source, grid, resampling)
            offset = product.offsets.get(band, 0.0) if band != "SCL" else 0.0
            for top in range(0, grid.height, STRIP_ROWS):
                if feedback.isCanceled():
                    raise QgsProcessingException(tr("Cancelled: no output was written."))
                rows = slice(top, min(top + STRIP_ROWS, grid.height))
                values = warped.GetRasterBand(1).ReadAsArray(0, top, grid.width, rows.stop - top).astype(np.int32)
                fill = values == 0  # the Sentinel-2 fill value
                values = np.clip(values + int(round(offset)), -32767, 32767)
                values[fill] = OUTPUT_NODATA
                writer.write(values.astype(np.int16), rows, band=number)
            feedback.setProgress(progress[0] + (progress[1] - progress[0]) * number / len(order))
        writer.commit()
    except BaseException:
        writer.discard()
        raise
    return order, metadata
