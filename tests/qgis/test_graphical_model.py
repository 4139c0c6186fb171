"""The shipped graphical model opens valid in the Model Designer: every child has every mandatory parameter set."""
import os

from qgis.core import QgsProcessingModelAlgorithm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "resources", "models", "model_prior_plants.model3")


def test_shipped_model_validates(fusionpv):
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(MODEL)
    assert sorted(model.childAlgorithms()) == ["extractpvplants", "runmodel"]
    for child_id in model.childAlgorithms():
        child_ok, child_issues = model.validateChildAlgorithm(child_id)
        assert child_ok, "%s: %s" % (child_id, "; ".join(child_issues))
    valid, issues = model.validate()
    assert valid, "; ".join(issues)
