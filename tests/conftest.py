"""Test policy shared by every module.

- ``installed_script``: the ``sss-vfx`` console script installed beside this Python (as
  `pip install .` puts it). Tests that need it use this fixture; they are marked
  ``installed`` automatically and skip, saying why, where the package is not installed.
- ``pose_models``: the person model's pose files, fetched once into the user's model
  folder (:mod:`sss_vfx.features.model_store`); tests that run them skip, saying why,
  where ai-edge-litert is missing or no package index can be reached.
- Modules named ``test_opencl_*`` are marked ``opencl``; ``slow`` and ``gpu`` are set by
  hand. Select with ``-m``, e.g. ``pytest -m "not slow"``.
"""

import os
import shutil
import sys

import pytest


@pytest.fixture
def installed_script():
    found = shutil.which("sss-vfx", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.skip(f"the sss-vfx console script is not installed beside {sys.executable} "
                    "(pip install .)")
    return os.path.abspath(found)


@pytest.fixture(scope="session")
def pose_models():
    pytest.importorskip("ai_edge_litert")
    from sss_vfx.errors import FeatureError
    from sss_vfx.features.model_store import POSE_MODELS, model_path
    try:
        return [model_path(name) for name in POSE_MODELS]
    except FeatureError as exc:
        pytest.skip(f"the pose models are not available: {exc}")


def pytest_collection_modifyitems(items):
    for item in items:
        if "installed_script" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.installed)
        if item.module.__name__.startswith("test_opencl_"):
            item.add_marker(pytest.mark.opencl)
