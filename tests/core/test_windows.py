"""Window-by-window processing equals the whole-image computation (several windows on small real rasters)."""
import time

import numpy as np
import pytest

from fusion_pv_mapping.core.ndpi import ndpi_from_dn
from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.core.bandsource import ArrayBands
from fusion_views import per_pixel
from fusion_pv_mapping.core.windows import block_grid, occupied_windows, read_shape
from fusion_pv_mapping.core.extract import METHOD_IMPROVED, METHOD_PAPER, extract_pv_plants, fuse, gather_prior_ndpi
from fusion_pv_mapping.core.paper import paper_fusion
from fusion_pv_mapping.core.parallel import WORKERS
from fusion_pv_mapping.core.progress import Cancelled, Progress
from chip_data import bands_by_role
from flawed_priors import flawed_priors

NODATA = -32768
MOSAIC_CHIPS = ("9", "101", "159", "454")


def mosaic(chips, kind="median", gap=9):
    """The chips side by side in one raster, ``gap`` nodata pixels apart: DN by role, reference, chip offsets."""
    parts = [(bands_by_role(chips["%s_%s" % (kind, c)]), chips["reference_" + c]) for c in MOSAIC_CHIPS]
    height = max(ref.shape[0] for _, ref in parts) + 2 * gap
    width = sum(ref.shape[1] + gap for _, ref in parts) + gap
    dn = {role: np.full((height, width), NODATA, np.int16) for role in ROLES}
    reference = np.zeros((height, width), bool)
    offsets, left = [], gap
    for bands, ref in parts:
        window = (slice(gap, gap + ref.shape[0]), slice(left, left + ref.shape[1]))
        for role in ROLES:
            dn[role][window] = bands[role]
        reference[window] = ref
        offsets.append(window)
        left += ref.shape[1] + gap
    return dn, reference, offsets


def test_occupied_windows_cover_each_mask_pixel_once():
    mask = np.random.default_rng(5).random((37, 29)) > 0.93
    windows = occupied_windows(mask, (8, 6))
    covered = np.zeros(mask.shape, int)
    for rows, cols in windows:
        covered[rows, cols] += 1
        assert mask[rows, cols].any()
    assert (covered[mask] == 1).all() and covered.max() == 1
    assert sum(1 for _ in block_grid(mask.shape, (8, 6))) == 5 * 5
    assert read_shape((1, 29), (37, 29)) == (37, 29) and read_shape((16, 16), (1000, 20)) == (512, 20)


def test_prior_ndpi_gathered_by_windows_is_the_whole_image_ndpi(chips):
    dn, reference, _ = mosaic(chips)
    nodata = {role: NODATA for role in ROLES}
    index, _ = ndpi_from_dn(dn, nodata_by_role=nodata)
    prior = flawed_priors(reference)["grown1"]
    [(flat, values)], valid_read, windows = gather_prior_ndpi(ArrayBands(dn, nodata, (8, 8), read_target=8), [prior])
    assert windows > 4 and valid_read > 0
    assert np.array_equal(flat, np.flatnonzero(prior))
    assert np.array_equal(values, index.ravel()[flat], equal_nan=True)


@pytest.mark.parametrize("prior_kind", ["exact", "grown1", "generalised20m"])
def test_paper_method_by_blocks_equals_the_whole_image(chips, prior_kind):
    """One histogram per role over all four plants, whether read in 8 × 8 blocks or whole."""
    dn, reference, _ = mosaic(chips)
    nodata = {role: NODATA for role in ROLES}
    index, _ = ndpi_from_dn(dn, nodata_by_role=nodata)
    prior = flawed_priors(reference)[prior_kind]
    candidate = np.roll(prior, 3, axis=1)
    for trusted, candidates in ((prior, None), (None, prior), (prior, candidate)):
        whole = paper_fusion(index, trusted, candidates)
        blocks = fuse(ArrayBands(dn, nodata, (8, 8), read_target=8), trusted, candidates, method=METHOD_PAPER)
        assert np.array_equal(blocks.mask, whole.mask)
        assert np.array_equal(blocks.source, whole.source)
        assert np.array_equal(per_pixel(blocks, "threshold"), per_pixel(whole, "threshold"), equal_nan=True)


def test_improved_method_in_a_mosaic_equals_each_chip_alone(chips):
    """The improved method reads only a window around each prior component: a plant's result does not depend on
    the rest of the image, and nodata around it counts like the image edge."""
    dn, reference, offsets = mosaic(chips)
    nodata = {role: NODATA for role in ROLES}
    priors = flawed_priors(reference)
    together = fuse(ArrayBands(dn, nodata, (8, 8), read_target=8), priors["grown1"], None, method=METHOD_IMPROVED)
    for chip, window in zip(MOSAIC_CHIPS, offsets):
        alone = fuse(bands_by_role(chips["median_" + chip]), flawed_priors(chips["reference_" + chip])["grown1"],
                     None, method=METHOD_IMPROVED)
        assert np.array_equal(together.mask[window], alone.mask), chip
        assert np.array_equal(per_pixel(together, "confidence")[window], per_pixel(alone, "confidence"),
                              equal_nan=True), chip


def test_plants_are_labelled_once_across_windows(chips):
    dn, reference, offsets = mosaic(chips)
    nodata = {role: NODATA for role in ROLES}
    plant_map = extract_pv_plants(ArrayBands(dn, nodata, (8, 8), read_target=8), reference, None, method=METHOD_PAPER)
    assert len(plant_map.plants) == len(plant_map.windows) == len(plant_map.masks) >= 4
    assert sum(p.pixels for p in plant_map.plants) == np.count_nonzero(plant_map.mask())


def test_progress_moves_per_window_and_cancel_stops_within_one(chips):
    dn, reference, _ = mosaic(chips)
    nodata = {role: NODATA for role in ROLES}
    seen = []
    fuse(ArrayBands(dn, nodata, (8, 8), read_target=8), reference, None, method=METHOD_PAPER,
         progress=Progress(lambda p, m: seen.append(p)))
    assert len(set(seen)) >= 10
    reads = []

    class SlowBands(ArrayBands):
        """Reads take 50 ms, like large windows of a big file."""
        def read(self, rows, cols):
            reads.append(1)
            time.sleep(0.05)
            return super().read(rows, cols)

    for method in (METHOD_PAPER, METHOD_IMPROVED):
        reads.clear()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            fuse(SlowBands(dn, nodata, (8, 8), read_target=8), reference, None, method=method,
                 progress=Progress(None, lambda: len(reads) >= 2))
        assert time.monotonic() - started < 1.0
        assert len(reads) <= 2 + WORKERS  # reads already under way finish, no new one starts
