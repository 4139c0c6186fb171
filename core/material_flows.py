"""Material stock and end-of-life flows of mapped PV: the dynamic material flow model of SolarScope.

After Jiang et al. (SolarScope, ``Peijin-Jiang/SolarScope``). Panel lifetimes follow a Weibull distribution with
survival S(a) = exp(−(a/scale)^k) and density f(a) = (k/scale)(a/scale)^(k−1) S(a), a in years. The mapped panel
area of cohort y (installed in year y) is what survives in the reference year R, so

* inflow[y] = area[y] / S(R − y);
* outflow[t] = Σ over cohorts y < t of inflow[y] · f(t − y) (density at whole-year ages);
* stock[t] = stock[t−1] + inflow[t] − outflow[t], from :data:`FIRST_YEAR` to the end year.

Material flows are area flows × kg/m². Recovered mass in year t (R < t ≤ end) = outflow[t] · collection rate(t) ·
material recovery rate, for three collection scenarios (:data:`COLLECTION_SCENARIOS`). Masses are in tonnes.
"""
import csv
import math
from dataclasses import dataclass

import numpy as np

FIRST_YEAR = 2000
#: The model runs at most this many years (end year − first year).
MAX_YEARS = 300
#: Bounds of the Weibull parameters and of a material's mass per m² of panel (a glass-glass panel is ~20 kg/m²).
SHAPE_RANGE = (0.1, 20.0)
LIFETIME_RANGE = (1.0, 200.0)
MAX_KG_PER_M2 = 100.0


@dataclass(frozen=True)
class Material:
    """A panel material: mass per m² of panel (kg) and the share recovered from collected panels (0–1)."""
    name: str
    kg_per_m2: float
    recovery_rate: float


#: SolarScope's 13 materials of a crystalline-silicon panel (kg/m², material recovery rate).
SOLARSCOPE_MATERIALS = (
    Material("Ag", 0.0106, 0.95), Material("Al", 2.32, 1.0), Material("Cu", 0.106, 1.0),
    Material("Mg", 0.0802, 0.37), Material("Ni", 0.000163, 0.41), Material("Pb", 0.00072, 0.96),
    Material("Si", 0.861, 1.0), Material("Sn", 0.00905, 0.32), Material("Ti", 8.01e-7, 0.52),
    Material("Zn", 1.2e-6, 0.27), Material("EVA", 0.924, 0.0), Material("Glass", 9.3, 1.0),
    Material("Steel", 1.47, 0.95),
)

#: SolarScope's power density of panels, W per m² of panel; no panel exceeds the solar constant's 1361 W/m².
SOLARSCOPE_POWER_DENSITY = 176.0
MAX_POWER_DENSITY = 1361.0


class FlowModelError(ValueError):
    """The input cannot be used by the model (the message says why)."""


@dataclass(frozen=True)
class WeibullLifetime:
    """Panel lifetime distribution: Weibull with ``shape`` k and ``scale`` (years)."""
    shape: float
    scale: float

    @classmethod
    def from_mean(cls, shape, mean):
        """The Weibull of a given shape whose mean life is ``mean`` years: scale = mean / Γ(1 + 1/k)."""
        return cls(shape, mean / math.gamma(1.0 + 1.0 / shape))

    def survival(self, age):
        """Share of panels still in use at ``age`` years (1 at age ≤ 0)."""
        age = np.clip(np.asarray(age, dtype=float), 0.0, None)
        return np.exp(-(age / self.scale) ** self.shape)

    def density(self, age):
        """Probability density of reaching end of life at ``age`` years (0 at age ≤ 0)."""
        age = np.asarray(age, dtype=float)
        positive = np.clip(age, 0.0, None)
        value = (self.shape / self.scale) * (positive / self.scale) ** (self.shape - 1) * self.survival(positive)
        return np.where(age > 0, value, 0.0)

    @property
    def mean(self):
        return self.scale * math.gamma(1.0 + 1.0 / self.shape)


#: Lifetime models by enum index, as (name, shape, lifetime in years, whether the lifetime is the mean or the scale).
LIFETIME_MODELS = (
    ("SolarScope (k 5.37, mean life 30 y)", 5.37, 30.0, "mean"),
    ("IRENA regular loss (k 5.3759, scale 30 y)", 5.3759, 30.0, "scale"),
    ("IRENA early loss (k 2.4928, scale 30 y)", 2.4928, 30.0, "scale"),
)


def lifetime_model(index, shape=None, lifetime=None):
    """The Weibull of lifetime model ``index`` (see :data:`LIFETIME_MODELS`), with optional overrides of its shape
    and of its lifetime (the mean life for SolarScope, the scale for the IRENA models)."""
    _, default_shape, default_lifetime, kind = LIFETIME_MODELS[index]
    shape = default_shape if shape is None else shape
    lifetime = default_lifetime if lifetime is None else lifetime
    if not (SHAPE_RANGE[0] <= shape <= SHAPE_RANGE[1] and LIFETIME_RANGE[0] <= lifetime <= LIFETIME_RANGE[1]):
        raise FlowModelError("The Weibull shape must be within %g–%g and the lifetime within %g–%g years (got %g "
                             "and %g)." % (SHAPE_RANGE + LIFETIME_RANGE + (shape, lifetime)))
    return WeibullLifetime.from_mean(shape, lifetime) if kind == "mean" else WeibullLifetime(shape, lifetime)


def logistic_collection(capacity, rate, midpoint, early_rate, early_until):
    """A collection-rate curve: ``early_rate`` up to ``early_until``, then K / (1 + exp(−r (t − t0)))."""
    def collection(year):
        if year <= early_until:
            return early_rate
        return capacity / (1.0 + math.exp(-rate * (year - midpoint)))
    return collection


#: End-of-life collection rates (share of panels collected) by scenario, as SolarScope defines them.
COLLECTION_SCENARIOS = {
    "ideal": lambda year: 1.0,
    "high": logistic_collection(1.0, 0.3457, 2030.022, 0.15, 2025),
    "low": logistic_collection(0.6, 0.3406, 2029.724, 0.10, 2024),
}
SCENARIOS = tuple(COLLECTION_SCENARIOS)


@dataclass
class FlowResult:
    """Yearly area flows (m² of panel) and material flows (t), from :data:`FIRST_YEAR` to the end year."""
    years: np.ndarray
    inflow_m2: np.ndarray
    outflow_m2: np.ndarray
    stock_m2: np.ndarray
    materials: tuple
    reference_year: int
    recovered_t: dict  # scenario -> (years, materials) array of recovered tonnes

    def material_t(self, area_flow):
        """(years, materials) tonnes of an area flow."""
        return area_flow[:, None] * np.array([m.kg_per_m2 for m in self.materials])[None, :] / 1000.0

    @property
    def mass_per_m2_kg(self):
        return sum(m.kg_per_m2 for m in self.materials)

    @property
    def total_inflow_t(self):
        return float(self.inflow_m2.sum() * self.mass_per_m2_kg / 1000.0)

    @property
    def total_outflow_t(self):
        return float(self.outflow_m2.sum() * self.mass_per_m2_kg / 1000.0)

    @property
    def stock_end_t(self):
        return float(self.stock_m2[-1] * self.mass_per_m2_kg / 1000.0)

    def total_recovered_t(self, scenario):
        return float(self.recovered_t[scenario].sum())


def check_cohorts(area_by_year, reference_year, end_year):
    """Raise :class:`FlowModelError` for cohorts the model cannot take, naming them."""
    if end_year < reference_year:
        raise FlowModelError("The end year %d is before the reference year %d." % (end_year, reference_year))
    if end_year - FIRST_YEAR > MAX_YEARS:
        raise FlowModelError("The end year %d is more than %d years after %d, where the model starts."
                             % (end_year, MAX_YEARS, FIRST_YEAR))
    late = sorted(y for y in area_by_year if y > reference_year)
    if late:
        raise FlowModelError("Installation year(s) %s are after the reference year %d: the map cannot show them."
                             % (", ".join(map(str, late)), reference_year))
    early = sorted(y for y in area_by_year if y < FIRST_YEAR)
    if early:
        raise FlowModelError("Installation year(s) %s are before %d, where the model starts."
                             % (", ".join(map(str, early)), FIRST_YEAR))
    negative = sorted(y for y, area in area_by_year.items() if area < 0 or not np.isfinite(area))
    if negative:
        raise FlowModelError("Negative or missing panel area for installation year(s) %s."
                             % ", ".join(map(str, negative)))


def material_flows(area_by_year, lifetime, reference_year=2024, end_year=2050, materials=SOLARSCOPE_MATERIALS,
                   scenarios=COLLECTION_SCENARIOS):
    """Run the model on panel area (m²) by installation year; returns a :class:`FlowResult`."""
    check_cohorts(area_by_year, reference_year, end_year)
    years = np.arange(FIRST_YEAR, end_year + 1)
    inflow = np.array([area_by_year.get(int(y), 0.0) / lifetime.survival(reference_year - y) for y in years])
    ages = years[:, None] - years[None, :]  # [t, cohort]
    outflow = (lifetime.density(ages) * inflow[None, :]).sum(axis=1)
    stock = np.cumsum(inflow - outflow)
    result = FlowResult(years, inflow, outflow, stock, tuple(materials), reference_year, {})
    recovery = np.array([m.recovery_rate for m in materials])
    after = (years > reference_year) & (years <= end_year)
    for scenario, collection in scenarios.items():
        rates = np.array([collection(int(y)) if a else 0.0 for y, a in zip(years, after)])
        result.recovered_t[scenario] = result.material_t(outflow * rates) * recovery[None, :]
    return result


def panel_area(horizontal_m2, tilt_degrees):
    """Panel area (m²) from mapped horizontal area and panel tilt: horizontal / cos(tilt)."""
    if not 0 <= tilt_degrees < 90:
        raise FlowModelError("The tilt must be at least 0° and below 90° (got %g°)." % tilt_degrees)
    return horizontal_m2 / math.cos(math.radians(tilt_degrees))


def read_materials(path):
    """Materials from a CSV file with columns material, kg_per_m2, recovery_rate."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise FlowModelError("Cannot read the materials file %s: %s" % (path, error))
    needed = {"material", "kg_per_m2", "recovery_rate"}
    if not rows or not needed <= set(rows[0]):
        raise FlowModelError("The materials file %s needs the columns material, kg_per_m2, recovery_rate." % path)
    materials = []
    for number, row in enumerate(rows, start=2):
        try:
            material = Material((row["material"] or "").strip(), float(row["kg_per_m2"]),
                                float(row["recovery_rate"]))
        except (TypeError, ValueError):
            raise FlowModelError("Line %d of %s: kg_per_m2 and recovery_rate must be numbers." % (number, path))
        if not 0 <= material.kg_per_m2 <= MAX_KG_PER_M2 or not 0 <= material.recovery_rate <= 1:
            raise FlowModelError("Line %d of %s: kg_per_m2 must be within 0–%g and recovery_rate within 0–1."
                                 % (number, path, MAX_KG_PER_M2))
        if not material.name or material.name.lower() in (m.name.lower() for m in materials):
            raise FlowModelError("Line %d of %s: each material needs a name of its own (got '%s')."
                                 % (number, path, material.name))
        materials.append(material)
    return tuple(materials)
