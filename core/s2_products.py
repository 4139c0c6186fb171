"""Sentinel-2 products as people have them: SAFE metadata and band files, without GDAL.

Product metadata (``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml``) give the level, the sensing date, the processing baseline
and, from baseline 04.00 (25 January 2022) on, a radiometric offset per band: reflectance = (DN + offset) /
quantification, offset −1000 (``RADIO_ADD_OFFSET`` for L1C, ``BOA_ADD_OFFSET`` for L2A). Removing it (DN + offset)
gives DN = reflectance × 10000 as before 04.00, so every later step can use offset 0.
"""
import datetime
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

import numpy as np

from .bands import S2_BANDS, sentinel2_band_name

#: Band order of the ``band_id`` attributes in the metadata (when no Spectral_Information maps them).
BAND_ID_ORDER = S2_BANDS
#: Offset of every product of processing baseline 04.00 or later (ESA, Sentinel-2 products specification).
BASELINE_04_OFFSET = -1000
#: DN of Sentinel-2 band files where there is no data.
FILL_DN = 0
#: Nodata of the int16 stacks and composites this plugin writes.
STACK_NODATA = -32768

_RESOLUTION_IN_NAME = re.compile(r"_(10|20|60)m(?![0-9])", re.IGNORECASE)
_SCL_IN_NAME = re.compile(r"(?<![A-Za-z0-9])SCL(?![A-Za-z0-9])", re.IGNORECASE)
_DATE_IN_NAME = re.compile(r"(20\d\d)(\d\d)(\d\d)(?:T\d{6})?")


@dataclass
class ProductMetadata:
    """What the metadata file says (None where it says nothing)."""
    level: str = None
    date: datetime.date = None
    baseline: str = None
    quantification: float = None
    offsets: dict = field(default_factory=dict)  # band name -> offset added to DN

    @property
    def baseline_at_least_04(self):
        try:
            return self.baseline is not None and float(self.baseline) >= 4.0
        except ValueError:
            return False


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def parse_product_metadata(xml_text):
    """:class:`ProductMetadata` from the text of an ``MTD_MSIL1C.xml`` or ``MTD_MSIL2A.xml`` file."""
    root = ElementTree.fromstring(xml_text)
    metadata = ProductMetadata()
    band_of_id = {str(i): band for i, band in enumerate(BAND_ID_ORDER)}
    raw_offsets = {}
    for element in root.iter():
        tag, text = _local(element.tag), (element.text or "").strip()
        if tag == "PROCESSING_LEVEL":
            metadata.level = "L2A" if "2A" in text else "L1C" if "1C" in text else text
        elif tag == "PRODUCT_TYPE" and metadata.level is None:
            metadata.level = "L2A" if "2A" in text else "L1C" if "1C" in text else None
        elif tag in ("PRODUCT_START_TIME", "DATATAKE_SENSING_START") and metadata.date is None and text:
            metadata.date = datetime.date.fromisoformat(text[:10])
        elif tag == "PROCESSING_BASELINE":
            metadata.baseline = text
        elif tag in ("QUANTIFICATION_VALUE", "BOA_QUANTIFICATION_VALUE") and text:
            metadata.quantification = float(text)
        elif tag in ("RADIO_ADD_OFFSET", "BOA_ADD_OFFSET") and text:
            raw_offsets[element.get("band_id")] = float(text)
        elif tag == "Spectral_Information" and element.get("bandId") is not None:
            band_of_id[element.get("bandId")] = sentinel2_band_name(element.get("physicalBand")) or \
                band_of_id.get(element.get("bandId"))
    metadata.offsets = {band_of_id[i]: value for i, value in raw_offsets.items() if i in band_of_id}
    return metadata


def band_of_file(name):
    """The Sentinel-2 band (``B02``, ``B8A``, ``SCL``) a file name holds, else None."""
    stem = name.rsplit("/", 1)[-1]
    if _SCL_IN_NAME.search(stem):
        return "SCL"
    return sentinel2_band_name(_RESOLUTION_IN_NAME.sub("", stem.rsplit(".", 1)[0]))


def resolution_in_name(name):
    """The resolution (m) written in a SAFE L2A file name (``…_B02_10m.jp2``), else None."""
    match = _RESOLUTION_IN_NAME.search(name.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def date_in_name(name):
    """The first date (YYYYMMDD) in a path, else None."""
    match = _DATE_IN_NAME.search(name)
    if not match:
        return None
    try:
        return datetime.date(*map(int, match.groups()))
    except ValueError:
        return None


def choose_band_files(paths, resolution_of=None):
    """{band: path} of the files holding Sentinel-2 bands, the finest resolution of each when a band comes at
    several; ``resolution_of(path)`` gives a file's pixel size when its name does not. Raises ValueError when two
    files hold the same band at the same resolution."""
    chosen = {}
    for path in sorted(paths):
        band = band_of_file(path)
        if band is None:
            continue
        resolution = resolution_in_name(path) or (resolution_of(path) if resolution_of else None) or 0
        if band in chosen:
            if chosen[band][0] == resolution:
                raise ValueError("Two files hold %s at the same resolution: %s and %s"
                                 % (band, chosen[band][1], path))
            if chosen[band][0] <= resolution:
                continue
        chosen[band] = (resolution, path)
    return {band: path for band, (_, path) in chosen.items()}


def stack_order(bands):
    """Bands in wavelength order (``B8A`` after ``B08``), then ``SCL``."""
    return [b for b in S2_BANDS if b in bands] + (["SCL"] if "SCL" in bands else [])


def stack_dn(dn, offset=0.0):
    """int16 DN of a band file for a stack: the product's ``offset`` added (so DN = reflectance × 10000), clipped to
    the int16 range, the fill value (:data:`FILL_DN`) replaced by :data:`STACK_NODATA`."""
    fill = dn == FILL_DN
    values = np.clip(np.asarray(dn, np.int32) + int(round(offset)), STACK_NODATA + 1, np.iinfo(np.int16).max)
    values[fill] = STACK_NODATA
    return values.astype(np.int16)
