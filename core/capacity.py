"""DC capacity of PV plants from their footprint: MWdc = area (ha) × power density (MWdc/ha).

The density model is fitted offline by ``bench/fit_capacity.py`` on USPVDB v1.0 (Fujita et al. 2023, USGS/LBNL,
public domain: 3,699 US plants with digitised footprint area, reported MWdc, year and mount), in log space with
least absolute deviations, so a prediction is a median:

* mount known: ln(MWdc/ha) = b0 + b_year · (y' − 2018) + b_tracking · [single-axis] + b_dual · [dual-axis];
* mount unknown: a mixture of the fixed and single-axis predictions, weighted by the share of trackers
  P(tracking) = logistic(c0 + c_year · (y' − 2018) + c_area · ln(ha) + c_lat · (|latitude| − 35)): big plants and
  plants near the equator are more often trackers, and the share grows with the years.

y' is the year built; beyond the last year of the data the trend is damped to half its rate (the damped trend of
Gardner & McKenzie 1985), so a plant of 2030 is not given a density nobody built. The 80 % interval is the 10th and
90th percentile of the fit's residuals around the prediction (of the mixture without the mount). A plant whose year
is unknown, or only bounded (``built by`` a year, e.g. present when a series starts), gets the density of its year
(the newest year when unknown) with the interval widened down to the low end of the oldest year of the data.

Rooftop panels (layers of panel areas, not plant footprints) follow SolarScope instead: MWdc = panel area / cos(tilt)
× 176 W/m² (``core.material_flows.SOLARSCOPE_POWER_DENSITY``); no interval is known for it.
"""
import math
from dataclasses import dataclass

import numpy as np

#: Mount values, lower case, by the mount they name (anything else is unknown).
MOUNT_NAMES = {
    "fixed": ("fixed-tilt", "fixed tilt", "fixed", "fixed_tilt", "fixed-axis"),
    "single-axis": ("single-axis", "single axis", "single_axis", "tracking", "tracker", "1-axis", "one-axis"),
    "dual-axis": ("dual-axis", "dual axis", "dual_axis", "2-axis", "two-axis"),
}
MOUNTS = tuple(MOUNT_NAMES)
UNKNOWN_MOUNT = "unknown"
#: Years a plant may be built in (others are refused by the algorithm).
YEAR_RANGE = (1990, 2035)
#: The interval's coverage (the residual percentiles 10 and 90).
INTERVAL = 0.8
#: The year the trend is centred on, and the damping of the trend beyond the last year of the data.
CENTRE_YEAR = 2018
DAMPING = 0.5


@dataclass(frozen=True)
class DensityModel:
    """Coefficients of the footprint density model (see the module docstring); ln(MWdc/ha) units."""
    source: str
    years: tuple            # (first, last) year of the plants it was fitted on
    area_ha: tuple          # (smallest, largest) footprint fitted, ha: ln(ha) is held inside it
    abs_latitude: tuple     # (lowest, highest) |latitude| fitted, degrees: held inside it
    intercept: float
    per_year: float
    tracking: float         # single-axis
    dual: float
    share_intercept: float  # logistic share of trackers
    share_per_year: float
    share_ln_area: float
    share_latitude: float
    residual_low: float     # percentile 10 of the residuals
    residual_high: float    # percentile 90
    residuals: tuple        # percentiles 0, 2.5, …, 100 of the residuals (the mixture's quantiles)


#: The fitted model: ``bench/fit_capacity.py`` on USPVDB v1.0 (2023-11-08), plants of 2008–2021 with a footprint
#: and a reported MWdc (table printed by the script; bench/README.md, "Capacity").
USPVDB_MODEL = DensityModel(
    source="USPVDB v1.0 (2008-2021)", years=(2008, 2021), area_ha=(0.1561, 1523.36),
    abs_latitude=(20.7658, 47.8696), intercept=-0.268348, per_year=0.030671, tracking=-0.3241, dual=-0.528712,
    share_intercept=-1.17951, share_per_year=0.150045, share_ln_area=0.544892, share_latitude=-0.0466547,
    residual_low=-0.298936, residual_high=0.294089,
    residuals=(-3.5177, -0.710565, -0.475272, -0.360934, -0.298936, -0.252661, -0.220943, -0.194483, -0.175691,
               -0.158781, -0.138462, -0.122852, -0.107061, -0.0927667, -0.0797401, -0.0679933, -0.0543482,
               -0.0423061, -0.0271038, -0.0133774, 0.0, 0.0111339, 0.0224816, 0.0378437, 0.0485551, 0.0614936,
               0.0771855, 0.0894909, 0.104095, 0.11962, 0.13907, 0.156707, 0.176813, 0.198705, 0.224382, 0.253657,
               0.294089, 0.357458, 0.457622, 0.77135, 3.15092))


class CapacityError(ValueError):
    """A value the capacity model cannot take (the message says which)."""


@dataclass(frozen=True)
class Capacity:
    """A plant's DC capacity, MW, with its 80 % interval (None where none is known) and the basis in words."""
    mwdc: float
    low: float
    high: float
    basis: str


def mount_of(value):
    """The mount a text names (:data:`MOUNTS`), or :data:`UNKNOWN_MOUNT`."""
    text = str(value or "").strip().lower()
    for mount, names in MOUNT_NAMES.items():
        if text in names:
            return mount
    return UNKNOWN_MOUNT


def effective_year(model, year):
    """The year the trend sees: the year inside the data, damped by :data:`DAMPING` beyond its last year."""
    first, last = model.years
    year = max(float(year), first)
    return year if year <= last else last + DAMPING * (year - last)


def log_density(model, year, mount):
    """ln(MWdc/ha) of a plant of ``year`` and known ``mount`` (the median)."""
    return (model.intercept + model.per_year * (effective_year(model, year) - CENTRE_YEAR)
            + model.tracking * (mount == "single-axis") + model.dual * (mount == "dual-axis"))


def tracking_share(model, year, area_ha, latitude):
    """P(a plant of unknown mount tracks the sun), from its year, footprint (ha) and latitude (degrees)."""
    area = min(max(area_ha, model.area_ha[0]), model.area_ha[1])
    distance = min(max(abs(latitude), model.abs_latitude[0]), model.abs_latitude[1])
    z = (model.share_intercept + model.share_per_year * (effective_year(model, year) - CENTRE_YEAR)
         + model.share_ln_area * math.log(area) + model.share_latitude * (distance - 35.0))
    return 1.0 / (1.0 + math.exp(-z))


_RESIDUAL_LEVELS = np.linspace(0.0, 1.0, 41)


def _mixture_quantile(model, centres, weights, level):
    """The ``level`` quantile of a mixture of the residual distribution shifted to ``centres`` (log density): its
    distribution function is piecewise linear between the shifted percentiles, so it is inverted exactly there."""
    residuals = np.asarray(model.residuals)
    points = np.sort(np.concatenate([centre + residuals for centre in centres]))
    cdf = sum(weight * np.interp(points - centre, residuals, _RESIDUAL_LEVELS)
              for centre, weight in zip(centres, weights))
    return float(np.interp(level, cdf, points))


def log_density_interval(model, year, mount, area_ha, latitude):
    """(median, low, high) of ln(MWdc/ha), the 80 % interval, for a plant built in ``year``."""
    if mount != UNKNOWN_MOUNT:
        centre = log_density(model, year, mount)
        return centre, centre + model.residual_low, centre + model.residual_high
    share = tracking_share(model, year, area_ha, latitude)
    centres, weights = (log_density(model, year, "fixed"), log_density(model, year, "single-axis")), \
        (1.0 - share, share)
    low_level = (1.0 - INTERVAL) / 2
    return tuple(_mixture_quantile(model, centres, weights, level) for level in (0.5, low_level, 1.0 - low_level))


def plant_capacity(area_m2, latitude, year=None, mount=UNKNOWN_MOUNT, built_by=False, model=USPVDB_MODEL):
    """DC capacity of a ground-mounted plant of footprint ``area_m2`` (m²) at ``latitude`` (degrees) built in
    ``year`` (None: unknown; ``built_by``: in that year or earlier) with ``mount`` (:data:`MOUNTS` or unknown)."""
    if not (math.isfinite(area_m2) and area_m2 >= 0):
        raise CapacityError("the area must be a finite number of m² ≥ 0, not %r" % area_m2)
    if year is not None and not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        raise CapacityError("the year %r is outside %d–%d" % (year, *YEAR_RANGE))
    known_year = model.years[1] if year is None else year
    area_ha = area_m2 / 1e4
    centre, low, high = log_density_interval(model, known_year, mount, max(area_ha, 1e-9), latitude)
    if year is None or built_by:
        low = min(low, log_density_interval(model, model.years[0], mount, max(area_ha, 1e-9), latitude)[1])
    mounted = "%s mount" % mount if mount != UNKNOWN_MOUNT else "mount unknown (%.0f %% trackers expected)" % (
        100 * tracking_share(model, known_year, max(area_ha, 1e-9), latitude))
    if year is None:
        when = "year unknown: newest density (%d), interval down to %d's" % (model.years[1], model.years[0])
    elif built_by:
        when = "built by %d: its density, interval down to %d's" % (year, model.years[0])
    else:
        when = "built %d" % year
    basis = "%.2f MWdc/ha, %s, %s; %s" % (math.exp(centre), when, mounted, model.source)
    return Capacity(area_ha * math.exp(centre), area_ha * math.exp(low), area_ha * math.exp(high), basis)


def rooftop_capacity(panel_area_m2, tilt_degrees, watts_per_m2):
    """DC capacity (MW) of rooftop panels covering ``panel_area_m2`` m² seen from above, tilted ``tilt_degrees``,
    at ``watts_per_m2`` W per m² of module (SolarScope: module area = area / cos(tilt), 176 W/m²)."""
    module_area = panel_area_m2 / math.cos(math.radians(tilt_degrees))
    mw = module_area * watts_per_m2 / 1e6
    basis = "rooftop panels: %.0f W/m² of module, tilt %.0f° (SolarScope); no interval known" % (
        watts_per_m2, tilt_degrees)
    return Capacity(mw, None, None, basis)


@dataclass
class YearTotals:
    """MWdc built per year and cumulative, with the summed bounds (as if the plants' errors were shared)."""
    years: list
    plants: list
    area_ha: list
    built: list
    built_low: list
    built_high: list

    @staticmethod
    def cumulative(values):
        """The running sum of per-year ``values`` (one of :attr:`built`, :attr:`built_low`, :attr:`built_high`)."""
        return list(np.cumsum(values)) if values else []


def totals_per_year(rows):
    """:class:`YearTotals` of ``rows`` = (year, area m², Capacity); every year between the first and the last is
    listed, also when nothing was built in it."""
    if not rows:
        return YearTotals([], [], [], [], [], [])
    first, last = min(row[0] for row in rows), max(row[0] for row in rows)
    years = list(range(first, last + 1))
    index = {year: number for number, year in enumerate(years)}
    sums = np.zeros((5, len(years)))
    for year, area_m2, capacity in rows:
        low = capacity.low if capacity.low is not None else capacity.mwdc
        high = capacity.high if capacity.high is not None else capacity.mwdc
        sums[:, index[year]] += (1, area_m2 / 1e4, capacity.mwdc, low, high)
    return YearTotals(years, [int(n) for n in sums[0]], list(sums[1]), list(sums[2]), list(sums[3]), list(sums[4]))
