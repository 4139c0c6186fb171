import numpy as np

from fusion_pv_mapping.core.ndpi import ndpi, ndpi_from_dn, to_reflectance
from fusion_pv_mapping.core.bands import ROLES
from chip_data import bands_by_role


def test_ndpi_of_one_pixel_by_hand():
    # B11 = 0.30, brightest of the others is B12 = 0.25: (0.30 - 0.25) / (0.30 + 1e-10)
    value = ndpi(*(np.array([v]) for v in (0.10, 0.12, 0.11, 0.20, 0.30, 0.25)))
    assert value[0] == (0.30 - 0.25) / (0.30 + 1e-10)


def test_reflectance_applies_offset_before_scale():
    assert to_reflectance(np.array([1500]), 10000, -1000)[0] == 0.05
    assert to_reflectance(np.array([1500]))[0] == 0.15


def test_offset_changes_the_index():
    dn = {role: np.array([[v]]) for role, v in zip(ROLES, (1200, 1300, 1250, 2000, 3000, 2500))}
    plain, _ = ndpi_from_dn(dn)
    shifted, _ = ndpi_from_dn(dn, offset=-1000)
    assert plain[0, 0] == (0.3 - 0.25) / (0.3 + 1e-10)
    assert np.isclose(shifted[0, 0], (0.2 - 0.15) / (0.2 + 1e-10))


def test_nodata_and_non_positive_swir1_are_invalid():
    dn = {role: np.full((2, 2), 1000, np.int16) for role in ROLES}
    dn["RED"][0, 0] = -32768
    dn["SWIR1"][1, 1] = 0
    index, valid = ndpi_from_dn(dn, nodata_by_role={role: -32768.0 for role in ROLES})
    assert valid.tolist() == [[False, True], [True, False]]
    assert np.isnan(index[0, 0]) and np.isnan(index[1, 1]) and index[0, 1] == 0.0


def test_nan_nodata_in_float_bands():
    dn = {role: np.full((1, 2), 0.1, np.float32) for role in ROLES}
    dn["NIR"][0, 1] = np.nan
    index, valid = ndpi_from_dn(dn, scale=1.0, nodata_by_role={"NIR": float("nan")})
    assert valid.tolist() == [[True, False]]


def test_real_chip_matches_published_band_arithmetic(chips):
    image = chips["median_9"]
    index, valid = ndpi_from_dn(bands_by_role(image))
    reflectance = np.transpose(image, (1, 2, 0)) / 10000
    others = reflectance[:, :, [1, 2, 3, 7, 10]].max(axis=2)
    expected = (reflectance[:, :, 9] - others) / (reflectance[:, :, 9] + 1e-10)
    assert valid.all()
    assert np.array_equal(index, expected)
