"""Makes the repository importable as the package ``fusion_pv_mapping``, whatever its folder is called."""
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
sys.path.insert(0, DATA)

if "fusion_pv_mapping" not in sys.modules:
    spec = importlib.util.spec_from_file_location(
        "fusion_pv_mapping", os.path.join(ROOT, "__init__.py"), submodule_search_locations=[ROOT])
    package = importlib.util.module_from_spec(spec)
    sys.modules["fusion_pv_mapping"] = package
    spec.loader.exec_module(package)
