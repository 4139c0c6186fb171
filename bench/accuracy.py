"""Accuracy of the paper and improved methods on real plants, as bench/BENCHMARK.md describes.

Usage: ``python3 bench/accuracy.py DATA_DIR [--seed N] [--placements N]`` with DATA_DIR the shared
``data/austria_pv`` folder (its sibling ``s2_scenes/`` gives the Virginia scene). For every chip, flawed priors
are built from the reference outline (exact, grown by 1 and 2 px, 20 m generalised, shifted 1 px, half missing)
and run as trusted and as candidate priors on the clear-sky median and the single-date image, with both methods.
Non-PV candidates are the real plant shapes placed at random on the Virginia scene (real farmland, water and
towns with no PV plant), each in a chip of its bounds plus 2 px like the Austrian chips.

Prints one table: mean pixel IoU and F1 over chips (the known hard cases apart), the prior's own IoU, the share of
real plants confirmed as candidates (IoU ≥ 0.5) and the share of non-PV candidates confirmed (any pixel left).
With ``--assess-with-qgis`` the IoU and F1 of every output come from ``fusionpv:assessaccuracy``.
"""
import argparse
import os
import sys
import tempfile

import numpy as np
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "data"))
import conftest  # noqa: E402,F401  (makes the repository importable as fusion_pv_mapping)
from chip_data import bands_by_role  # noqa: E402
from flawed_priors import flawed_priors  # noqa: E402
from scenes import austrian_chips, virginia_bands  # noqa: E402
from fusion_pv_mapping.core.bands import ROLES  # noqa: E402
from fusion_pv_mapping.core.extract import METHOD_IMPROVED, METHOD_NAMES, METHOD_PAPER, fuse  # noqa: E402

#: Known hard cases (MANIFEST.md): floating PV built in 2023, plants unbuilt in 2022, a rooftop site.
HARD_CASES = {"1913", "1933", "2004", "2011", "102"}
PRIOR_KINDS = ("exact", "grown1", "grown2", "generalised20m", "shifted1", "half_missing")
CHIP_MARGIN = 2


def iou_f1(output, reference):
    intersection = np.count_nonzero(output & reference)
    union = np.count_nonzero(output | reference)
    total = np.count_nonzero(output) + np.count_nonzero(reference)
    return (intersection / union if union else 1.0), (2 * intersection / total if total else 1.0)


def run(dn, trusted, candidate, method):
    return fuse(dn, trusted, candidate, method=method).mask


class QgisAssessment:
    """Scores outputs with ``fusionpv:assessaccuracy`` (QGIS started in this process): each output mask is written
    on its chip's grid and compared with the chip's reference outline; the numpy figures are checked against it."""

    def __init__(self, data):
        from qgis.core import QgsApplication
        self.app = QgsApplication([], False)
        self.app.initQgis()
        sys.path.insert(0, "/usr/share/qgis/python/plugins")
        from processing.core.Processing import Processing
        Processing.initialize()
        from fusion_pv_mapping.plugin import FusionPvMappingPlugin
        self.plugin = FusionPvMappingPlugin(None)
        self.plugin.initProcessing()
        import processing
        self.processing = processing
        self.data = data
        self.folder = tempfile.mkdtemp(prefix="fusionpv-accuracy-")
        self.checked = 0

    def iou_f1(self, output, reference, chip):
        template = os.path.join(self.data, "geotiff", "pv_mask_%s.tif" % chip)
        path = os.path.join(self.folder, "output.tif")
        gdal.Translate(path, template)
        dataset = gdal.Open(path, gdal.GA_Update)
        dataset.GetRasterBand(1).WriteArray(output.astype(np.uint8))
        dataset = None
        result = self.processing.run("fusionpv:assessaccuracy", {
            "PREDICTION": path, "REFERENCE": template, "OUTPUT_TABLE": os.path.join(self.folder, "table.csv")})
        scores = tuple(0.0 if result[name] is None else result[name] for name in ("IOU", "F1"))
        expected = iou_f1(output, reference)
        if not output.any() and not reference.any():
            expected = (0.0, 0.0)
        assert np.allclose(scores, expected, atol=1e-9), (chip, scores, expected)
        self.checked += 1
        return scores


def virginia_candidates(scene, shapes, placements, seed):
    """(chip DN by role, prior mask) for each real plant shape placed ``placements`` times at random."""
    rng = np.random.default_rng(seed)
    rows, cols = scene.shape[1:]
    candidates = []
    for shape in shapes:
        height, width = shape.shape
        for _ in range(placements):
            y = int(rng.integers(CHIP_MARGIN, rows - height - CHIP_MARGIN))
            x = int(rng.integers(CHIP_MARGIN, cols - width - CHIP_MARGIN))
            chip = scene[:, y - CHIP_MARGIN:y + height + CHIP_MARGIN, x - CHIP_MARGIN:x + width + CHIP_MARGIN]
            if (chip == 0).any():  # outside the acquisition
                continue
            prior = np.zeros(chip.shape[1:], bool)
            prior[CHIP_MARGIN:CHIP_MARGIN + height, CHIP_MARGIN:CHIP_MARGIN + width] = shape
            candidates.append((dict(zip(ROLES, chip)), prior))
    return candidates


def bounding_shape(mask):
    rows, cols = np.nonzero(mask)
    return mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="the shared data/austria_pv folder")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--placements", type=int, default=8, help="Virginia placements per plant shape")
    parser.add_argument("--assess-with-qgis", action="store_true",
                        help="score every output with fusionpv:assessaccuracy (needs QGIS; slower)")
    args = parser.parse_args()
    assessor = QgisAssessment(args.data) if args.assess_with_qgis else None
    chips = austrian_chips(args.data)
    methods = (METHOD_PAPER, METHOD_IMPROVED)
    rows = []
    for kind in ("median", "bestdate"):
        for prior_kind in PRIOR_KINDS:
            for role in ("trusted", "candidate"):
                for group in ("main", "hard"):
                    selected = [c for c in chips if (c[0] in HARD_CASES) == (group == "hard")]
                    prior_scores = [iou_f1(flawed_priors(ref)[prior_kind], ref) for _, _, ref in selected]
                    row = {"image": kind, "prior": prior_kind, "role": role, "chips": group, "n": len(selected),
                           "prior_iou": np.mean([s[0] for s in prior_scores])}
                    for method in methods:
                        scores = []
                        for chip, images, reference in selected:
                            prior = flawed_priors(reference)[prior_kind]
                            dn = bands_by_role(images[kind])
                            roles = (prior, None) if role == "trusted" else (None, prior)
                            output = run(dn, *roles, method)
                            scores.append(assessor.iou_f1(output, reference, chip) if assessor else
                                          iou_f1(output, reference))
                        name = METHOD_NAMES[method]
                        row[name + "_iou"] = np.mean([s[0] for s in scores])
                        row[name + "_f1"] = np.mean([s[1] for s in scores])
                        row[name + "_confirmed"] = np.mean([s[0] >= 0.5 for s in scores])
                    rows.append(row)
    scene = virginia_bands(args.data)
    shapes = [bounding_shape(reference) for _, _, reference in chips]
    negatives = virginia_candidates(scene, shapes, args.placements, args.seed)
    false_confirmed = {METHOD_NAMES[m]: np.mean([run(dn, None, prior, m).any() for dn, prior in negatives])
                       for m in methods}
    print_table(rows, false_confirmed, len(negatives), args)
    if assessor:
        print("IoU and F1 of %d outputs scored by fusionpv:assessaccuracy (equal to numpy within 1e-9)."
              % assessor.checked)


def print_table(rows, false_confirmed, negatives, args):
    print("Fusion PV Mapping accuracy benchmark (mean over chips; IoU and F1 of the output against the reference)")
    print("data: %s; Virginia placements: %d per shape, seed %d" % (args.data, args.placements, args.seed))
    header = ("image", "prior", "role", "chips", "n", "prior IoU", "paper IoU", "paper F1", "paper conf",
              "impr IoU", "impr F1", "impr conf")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        confirmed = r["role"] == "candidate"
        cells = [r["image"], r["prior"], r["role"], r["chips"], str(r["n"]), "%.3f" % r["prior_iou"],
                 "%.3f" % r["paper_iou"], "%.3f" % r["paper_f1"],
                 "%.2f" % r["paper_confirmed"] if confirmed else "",
                 "%.3f" % r["improved_iou"], "%.3f" % r["improved_f1"],
                 "%.2f" % r["improved_confirmed"] if confirmed else ""]
        print("| " + " | ".join(cells) + " |")
    print()
    print("Non-PV candidates (real plant shapes on the Virginia L1C scene, no PV): %d; share confirmed: paper %.3f,"
          " improved %.3f" % (negatives, false_confirmed["paper"], false_confirmed["improved"]))


if __name__ == "__main__":
    main()
