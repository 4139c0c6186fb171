"""Fixtures of the core tests: real chips as arrays, and both connected-component back-ends."""
import numpy as np
import pytest

from fusion_pv_mapping.core import components
from chip_data import CHIPS_NPZ


@pytest.fixture(scope="session")
def chips():
    """The bundled real chips: an NpzFile with median_<id>, bestdate_<id>, reference_<id> and golden outputs."""
    return np.load(CHIPS_NPZ)


@pytest.fixture(params=["opencv", "scipy"], autouse=True)
def component_backend(request, monkeypatch):
    """Run every core test with OpenCV (when installed) and with the scipy fallback."""
    if request.param == "opencv":
        pytest.importorskip("cv2")
    monkeypatch.setattr(components, "USE_OPENCV", request.param == "opencv")
    return request.param
