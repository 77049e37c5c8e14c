"""Test policy shared by every module.

- ``installed_script``: the ``sss-vfx`` console script installed beside this Python (as
  `pip install .` puts it). Tests that need it use this fixture; they are marked
  ``installed`` automatically and skip, saying why, where the package is not installed.
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


def pytest_collection_modifyitems(items):
    for item in items:
        if "installed_script" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.installed)
        if item.module.__name__.startswith("test_opencl_"):
            item.add_marker(pytest.mark.opencl)
