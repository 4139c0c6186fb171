"""Fit the footprint density model of ``core/capacity.py`` on USPVDB and validate it the way a reader can rerun.

    /usr/bin/python3 bench/fit_capacity.py ../shared/data/pv_polygons/uspvdb_v1_0_20231108.csv

Prints the coefficients of ``USPVDB_MODEL`` (fitted on every plant of 2008–2021; paste them into core/capacity.py)
and the validation table of bench/README.md: fitted on the plants built up to 2018 and scored on those of 2019 and
later, then each state left out in turn; median absolute error, the sum of the estimates over the sum of the
reported MWdc, and how often the 80 % interval holds the reported MWdc, with and without the mount. Every score
runs the shipped estimator (``core.capacity.plant_capacity``), only with the coefficients fitted on the subset.
"""
import argparse
import csv
import dataclasses
import math
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import conftest  # noqa: E402,F401  (makes the repository importable as fusion_pv_mapping)
from fusion_pv_mapping.core import capacity  # noqa: E402

#: Plants of these years are fitted (before 2008 there are 20 plants in all).
FIRST_YEAR = 2008
#: Bolinger & Bolinger 2022 (IEEE J. Photovoltaics 12:589), 2019 plants: MWdc per acre, fixed and tracking.
BOLINGER_2019_MWDC_PER_ACRE = {"fixed": 0.35, "single-axis": 0.24}
ACRE_HA = 0.40468564224


def read_plants(path):
    """The USPVDB plants with a footprint, a reported MWdc and a year: a dict of arrays."""
    with open(path, encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    plants = []
    for row in rows:
        try:
            area_ha, mwdc, year = float(row["p_area"]) / 1e4, float(row["p_cap_dc"]), int(row["p_year"])
            latitude = float(row["ylat"])
        except ValueError:
            continue
        if area_ha > 0 and mwdc > 0 and year >= FIRST_YEAR:
            plants.append((area_ha, mwdc, year, latitude, capacity.mount_of(row["p_axis"]), row["p_state"]))
    columns = list(zip(*plants))
    return {name: np.array(column) for name, column in
            zip(("area_ha", "mwdc", "year", "latitude", "mount", "state"), columns)}


def least_absolute_deviations(design, target, rounds=100):
    """Coefficients minimising Σ|target − design·b| (iteratively reweighted least squares)."""
    coefficients = np.linalg.lstsq(design, target, rcond=None)[0]
    for _ in range(rounds):
        weights = 1 / np.sqrt(np.maximum(np.abs(target - design @ coefficients), 1e-4))
        coefficients = np.linalg.lstsq(design * weights[:, None], target * weights, rcond=None)[0]
    return coefficients


def logistic_regression(design, outcome, rounds=50):
    """Coefficients of P(outcome) = logistic(design·c) by Newton's method."""
    coefficients = np.zeros(design.shape[1])
    for _ in range(rounds):
        p = 1 / (1 + np.exp(-design @ coefficients))
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-9 * np.eye(design.shape[1])
        coefficients += np.linalg.solve(hessian, design.T @ (outcome - p))
    return coefficients


def fit(plants, source):
    """The :class:`capacity.DensityModel` of ``plants``."""
    years = (int(plants["year"].min()), int(plants["year"].max()))
    known = plants["mount"] != capacity.UNKNOWN_MOUNT
    centred = plants["year"] - capacity.CENTRE_YEAR
    design = np.column_stack([np.ones(len(centred)), centred, plants["mount"] == "single-axis",
                              plants["mount"] == "dual-axis"]).astype(float)
    log_density = np.log(plants["mwdc"] / plants["area_ha"])
    b = least_absolute_deviations(design[known], log_density[known])
    residuals = log_density[known] - design[known] @ b
    distance = np.abs(plants["latitude"])
    share_design = np.column_stack([np.ones(len(centred)), centred, np.log(plants["area_ha"]), distance - 35.0])
    tracks = np.isin(plants["mount"], ("single-axis", "dual-axis")).astype(float)
    c = logistic_regression(share_design[known], tracks[known])
    levels = 100 * (1 - capacity.INTERVAL) / 2
    return capacity.DensityModel(
        source=source, years=years,
        area_ha=(float(plants["area_ha"].min()), float(plants["area_ha"].max())),
        abs_latitude=(float(distance.min()), float(distance.max())),
        intercept=b[0], per_year=b[1], tracking=b[2], dual=b[3], share_intercept=c[0], share_per_year=c[1],
        share_ln_area=c[2], share_latitude=c[3], residual_low=float(np.percentile(residuals, levels)),
        residual_high=float(np.percentile(residuals, 100 - levels)),
        residuals=tuple(float(v) for v in np.percentile(residuals, np.linspace(0, 100, 41))))


def subset(plants, keep):
    return {name: values[keep] for name, values in plants.items()}


def estimates(model, plants, with_mount):
    """(MWdc, low, high) arrays from the shipped estimator."""
    results = [capacity.plant_capacity(area * 1e4, latitude, int(year), mount if with_mount else
                                       capacity.UNKNOWN_MOUNT, model=model)
               for area, year, latitude, mount in zip(plants["area_ha"], plants["year"], plants["latitude"],
                                                      plants["mount"])]
    return [np.array([getattr(r, name) for r in results]) for name in ("mwdc", "low", "high")]


def scores(truth, estimate, low, high):
    """(plants, median absolute error, Σ estimate / Σ truth, share of intervals holding the truth)."""
    return (len(truth), float(np.median(np.abs(estimate / truth - 1))), float(estimate.sum() / truth.sum()),
            float(np.mean((low <= truth) & (truth <= high))))


def validation_rows(plants):
    """Rows (test, mount, plants, MedAE, sum ratio, interval coverage)."""
    rows = []
    known = plants["mount"] != capacity.UNKNOWN_MOUNT
    older, newer = plants["year"] <= 2018, plants["year"] >= 2019
    model = fit(subset(plants, older), "fit <= 2018")
    for with_mount, label in ((False, "without"), (True, "with")):
        test = subset(plants, newer & known if with_mount else newer)
        rows.append(("fit ≤ 2018, test 2019–%d" % plants["year"].max(), label,
                     *scores(test["mwdc"], *estimates(model, test, with_mount))))
    for with_mount, label in ((False, "without"), (True, "with")):
        parts = [[], [], [], []]
        for state in np.unique(plants["state"]):
            held_out = plants["state"] == state
            test = subset(plants, held_out & known if with_mount else held_out)
            if not len(test["mwdc"]):
                continue
            model = fit(subset(plants, ~held_out), "without " + state)
            for part, values in zip(parts, [test["mwdc"], *estimates(model, test, with_mount)]):
                part.append(values)
        rows.append(("each state left out", label, *scores(*[np.concatenate(part) for part in parts])))
    return rows


def bolinger_row(plants):
    """Bolinger & Bolinger's 2019 densities on the 2019 plants of known mount: (plants, MedAE, sum ratio)."""
    test = subset(plants, (plants["year"] == 2019) & np.isin(plants["mount"], list(BOLINGER_2019_MWDC_PER_ACRE)))
    density = np.array([BOLINGER_2019_MWDC_PER_ACRE[mount] / ACRE_HA for mount in test["mount"]])
    estimate = density * test["area_ha"]
    return len(test["mwdc"]), float(np.median(np.abs(estimate / test["mwdc"] - 1))), \
        float(estimate.sum() / test["mwdc"].sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("uspvdb_csv")
    arguments = parser.parse_args()
    plants = read_plants(arguments.uspvdb_csv)
    model = fit(plants, "USPVDB v1.0 (%d-%d)" % (plants["year"].min(), plants["year"].max()))
    print("%d plants of %d–%d with area, MWdc and year; %d of known mount.\n" % (
        len(plants["mwdc"]), plants["year"].min(), plants["year"].max(),
        int((plants["mount"] != capacity.UNKNOWN_MOUNT).sum())))
    print("USPVDB_MODEL = DensityModel(")
    for field in dataclasses.fields(model):
        value = getattr(model, field.name)
        if isinstance(value, tuple):
            text = "(%s)" % ", ".join("%.6g" % v if isinstance(v, float) else repr(v) for v in value)
        else:
            text = "%.6g" % value if isinstance(value, float) else repr(value)
        print("    %s=%s," % (field.name, text))
    print(")\n")
    print("| test | mount | plants | median abs. error | Σ estimate / Σ reported | 80 % interval holds |")
    print("|---|---|---|---|---|---|")
    for test, mount, count, error, ratio, coverage in validation_rows(plants):
        print("| %s | %s | %d | %.1f %% | %.3f | %.1f %% |" % (test, mount, count, 100 * error, ratio,
                                                            100 * coverage))
    count, error, ratio = bolinger_row(plants)
    print("| Bolinger & Bolinger 2019 densities (0.35 / 0.24 MWdc/acre), 2019 plants | with | %d | %.1f %% | %.3f "
          "| – |" % (count, 100 * error, ratio))
    for year in (2012, 2016, 2020, 2025):
        print("density %d: fixed %.3f, single-axis %.3f MWdc/ha" % (
            year, math.exp(capacity.log_density(model, year, "fixed")),
            math.exp(capacity.log_density(model, year, "single-axis"))))


if __name__ == "__main__":
    main()
