"""SolarScope's material flow model: the published Kamakura case and the lifetime presets."""
import math

import numpy as np
import pytest
from scipy import stats

from fusion_pv_mapping.core import material_flows as mf

#: Kamakura panel areas (m², already divided by cos 33°) from the SolarScope notebook.
KAMAKURA = {
    2002: 3276.924, 2003: 30.9974, 2004: 1830.9932, 2005: 1259.2296, 2006: 1786.8119, 2007: 3027.3126,
    2009: 2833.3411, 2012: 29648.1449, 2013: 117.5707, 2014: 20371.7698, 2015: 18861.3261, 2016: 63.3808,
    2017: 4651.4642, 2018: 16406.2081, 2019: 6749.5276, 2020: 13595.9674, 2021: 8007.8142, 2022: 6766.3452,
    2023: 565.1814}


@pytest.fixture(scope="module")
def kamakura():
    return mf.material_flows(KAMAKURA, mf.lifetime_model(0), 2024, 2050)


def test_kamakura_totals_match_the_notebook(kamakura):
    assert kamakura.total_inflow_t == pytest.approx(2125.08, abs=0.01)
    assert kamakura.stock_end_t == pytest.approx(539.58, abs=0.01)
    assert kamakura.total_outflow_t == pytest.approx(1585.50, abs=0.01)
    assert kamakura.total_recovered_t("ideal") == pytest.approx(1457.49, abs=0.01)
    assert kamakura.total_recovered_t("high") == pytest.approx(1350.40, abs=0.01)
    assert kamakura.total_recovered_t("low") == pytest.approx(813.37, abs=0.01)


def test_kamakura_material_inflows(kamakura):
    names = [m.name for m in kamakura.materials]
    inflow = kamakura.material_t(kamakura.inflow_m2).sum(axis=0)
    assert inflow[names.index("Ag")] == pytest.approx(1.49, abs=0.01)
    assert inflow[names.index("Glass")] == pytest.approx(1310.41, abs=0.01)


def test_mass_balance(kamakura):
    assert kamakura.stock_m2[-1] == pytest.approx(kamakura.inflow_m2.sum() - kamakura.outflow_m2.sum())
    # what the map shows is what survives in the reference year: inflow × survival, summed
    reference = list(kamakura.years).index(2024)
    assert kamakura.inflow_m2[:reference].sum() > sum(KAMAKURA.values())
    # nothing is recovered up to the reference year
    assert not kamakura.recovered_t["ideal"][: reference + 1].any()


def test_solarscope_lifetime_has_a_mean_of_30_years():
    lifetime = mf.lifetime_model(0)
    assert lifetime.scale == pytest.approx(30 / math.gamma(1 + 1 / 5.37))
    assert stats.weibull_min(5.37, scale=lifetime.scale).mean() == pytest.approx(30.0)


@pytest.mark.parametrize("index, shape", [(1, 5.3759), (2, 2.4928)])
def test_irena_presets_are_the_closed_form_weibull(index, shape):
    lifetime = mf.lifetime_model(index)
    ages = np.array([1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 60.0])
    assert lifetime.shape == shape and lifetime.scale == 30.0
    assert np.allclose(lifetime.survival(ages), np.exp(-(ages / 30.0) ** shape), rtol=1e-12)
    assert np.allclose(lifetime.density(ages), stats.weibull_min(shape, scale=30.0).pdf(ages), rtol=1e-10)
    # at the scale, 1/e survives, whatever the shape
    assert lifetime.survival(30.0) == pytest.approx(math.exp(-1))


def test_overrides_and_ages_outside_the_support():
    lifetime = mf.lifetime_model(0, shape=3.0, lifetime=25.0)
    assert lifetime.mean == pytest.approx(25.0)
    assert mf.lifetime_model(1, lifetime=20.0).scale == 20.0
    assert lifetime.survival(-3.0) == 1.0 and lifetime.density(0.0) == 0.0
    with pytest.raises(mf.FlowModelError, match="shape must be within 0.1–20"):
        mf.lifetime_model(0, shape=0.0)


def test_collection_scenarios():
    high, low = mf.COLLECTION_SCENARIOS["high"], mf.COLLECTION_SCENARIOS["low"]
    assert high(2025) == 0.15 and low(2024) == 0.10
    assert high(2026) == pytest.approx(1 / (1 + math.exp(-0.3457 * (2026 - 2030.022))))
    assert low(2050) == pytest.approx(0.6 / (1 + math.exp(-0.3406 * (2050 - 2029.724))))
    assert mf.COLLECTION_SCENARIOS["ideal"](2030) == 1.0


def test_bad_cohorts_are_named():
    lifetime = mf.lifetime_model(0)
    with pytest.raises(mf.FlowModelError, match="2026, 2030 are after the reference year 2024"):
        mf.material_flows({2020: 1.0, 2026: 1.0, 2030: 2.0}, lifetime)
    with pytest.raises(mf.FlowModelError, match="1995 are before 2000"):
        mf.material_flows({1995: 1.0}, lifetime)
    with pytest.raises(mf.FlowModelError, match="Negative or missing panel area for installation year"):
        mf.material_flows({2010: -5.0}, lifetime)
    with pytest.raises(mf.FlowModelError, match="end year 2020 is before"):
        mf.material_flows({2010: 5.0}, lifetime, 2024, 2020)


def test_tilt_and_materials_file(tmp_path):
    assert mf.panel_area(100.0, 33.0) == pytest.approx(100 / math.cos(math.radians(33)))
    with pytest.raises(mf.FlowModelError, match="tilt"):
        mf.panel_area(1.0, 90.0)
    path = tmp_path / "materials.csv"
    path.write_text("material,kg_per_m2,recovery_rate\nGlass,10,0.9\nAl,2,1\n")
    materials = mf.read_materials(str(path))
    assert materials == (mf.Material("Glass", 10.0, 0.9), mf.Material("Al", 2.0, 1.0))
    result = mf.material_flows({2020: 1000.0}, mf.lifetime_model(0), materials=materials)
    assert result.mass_per_m2_kg == 12.0
    path.write_text("material,kg\nGlass,10\n")
    with pytest.raises(mf.FlowModelError, match="columns"):
        mf.read_materials(str(path))
