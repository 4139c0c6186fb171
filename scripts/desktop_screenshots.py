"""Screenshots of the real QGIS desktop: each algorithm's dialog at its default size, and the map window with
styled outputs loaded. Run by ``make screenshots`` (QGIS under Xvfb, ``qgis --code``); writes to $SHOTS_DIR."""
import os
import traceback

from qgis.PyQt.QtCore import QTimer
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.utils import iface

OUT = os.environ.get("SHOTS_DIR", "screenshots")
# run through exec() by qgis --code, so the repository comes from the environment, not __file__
DATA = os.path.join(os.environ["FUSIONPV_ROOT"], "tests", "data", "austria_pv")
ALGORITHMS = ("andpi", "extractpvplants", "mapregion", "plantsovertime", "stackbands", "clearcomposite",
              "assessaccuracy", "materialflows", "capacity", "runmodel", "multisourcestack", "searchimagery")
MODEL = os.path.join(os.environ["FUSIONPV_ROOT"], "resources", "models", "pv_segmenter.onnx")


def log(text):
    with open(os.path.join(OUT, "log.txt"), "a", encoding="utf-8") as handle:
        handle.write(str(text) + "\n")


def dialogs_and_outputs():
    try:
        import processing
        import qgis.utils
        qgis.utils.loadPlugin("fusion_pv_mapping")
        qgis.utils.startPlugin("fusion_pv_mapping")
        project = QgsProject.instance()
        project.addMapLayer(QgsRasterLayer(os.path.join(DATA, "S2L2A_2022_clearmedian_101.tif"), "S2 chip 101"))
        project.addMapLayer(QgsVectorLayer(os.path.join(DATA, "osm_pv_chips.gpkg"), "OSM PV"))
        for algorithm in ALGORITHMS:
            dialog = processing.createAlgorithmDialog("fusionpv:" + algorithm)
            dialog.show()
            QgsApplication.processEvents()
            dialog.grab().save(os.path.join(OUT, "dialog_%s.png" % algorithm))
            log("dialog %s %d × %d" % (algorithm, dialog.width(), dialog.height()))
            dialog.close()
        processing.runAndLoadResults("fusionpv:extractpvplants", {
            "INPUT": os.path.join(DATA, "S2L2A_2022_clearmedian_101.tif"),
            "TRUSTED_PRIORS": [os.path.join(DATA, "pv_mask_101.tif")],
            "OUTPUT": os.path.join(OUT, "plants.gpkg"), "OUTPUT_MASK": os.path.join(OUT, "mask.tif")})
        processing.runAndLoadResults("fusionpv:clearcomposite", {
            "INPUT": [os.path.join(DATA, "netcdf", "S2_2022_101.nc")], "OUTPUT": os.path.join(OUT, "composite.tif")})
        processing.runAndLoadResults("fusionpv:plantsovertime", {
            "INPUT": [os.path.join(DATA, "netcdf", "S2_2022_2004.nc")], "PERIOD": 1,
            "TRUSTED_PRIORS": [os.path.join(DATA, "pv_mask_2004.tif")], "OUTPUT": os.path.join(OUT, "over_time.gpkg"),
            "OUTPUT_PERIODS": os.path.join(OUT, "periods.tif"), "OUTPUT_TABLE": os.path.join(OUT, "periods.csv")})
        processing.runAndLoadResults("fusionpv:runmodel", {
            "INPUT": os.path.join(DATA, "S2L2A_2022_clearmedian_101.tif"), "MODEL": MODEL,
            "OUTPUT": os.path.join(OUT, "classes.tif"), "OUTPUT_PROBABILITIES": os.path.join(OUT, "probability.tif")})
        for layer in project.mapLayers().values():
            log("layer %s: %s" % (layer.name(), layer.renderer().type() if layer.renderer() else "no renderer"))
        plants = [layer for layer in project.mapLayers().values()
                  if layer.source().startswith(os.path.join(OUT, "plants.gpkg"))][0]
        project.setCrs(plants.crs())
        extent = plants.extent()
        extent.scale(3.0)
        iface.mapCanvas().setExtent(extent)
        QTimer.singleShot(3000, finish)
    except Exception:  # noqa: BLE001 (the log is what the caller reads)
        log(traceback.format_exc())
        finish()


def finish():
    iface.mainWindow().grab().save(os.path.join(OUT, "main_window.png"))
    QgsProject.instance().clear()
    QgsApplication.exit(0)


os.makedirs(OUT, exist_ok=True)
QTimer.singleShot(4000, dialogs_and_outputs)
