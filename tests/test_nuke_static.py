"""The Nuke plugin runs in Nuke's own Python 3.7 to 3.11 with the standard library
and ``nuke`` only, and type-checks against the published Nuke stubs."""

import ast
import pathlib
import sys

import pytest

PLUGIN_DIR = pathlib.Path(__file__).resolve().parents[1] / "nuke_plugin"
SOURCES = sorted(PLUGIN_DIR.rglob("*.py"))
ALLOWED_IMPORTS = set(sys.stdlib_module_names) | {"nuke", "sss_nuke"}


def test_the_plugin_has_its_entry_points():
    names = {path.relative_to(PLUGIN_DIR).as_posix() for path in SOURCES}
    assert {"init.py", "menu.py", "sss_nuke/node.py", "sss_nuke/controller.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(PLUGIN_DIR).as_posix())
def test_parses_as_python_37_and_imports_only_stdlib_and_nuke(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path),
                     feature_version=(3, 7))
    imported = set()
    for statement in ast.walk(tree):
        if isinstance(statement, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in statement.names}
        elif isinstance(statement, ast.ImportFrom):
            assert statement.level == 0, "relative imports break when Nuke runs the file"
            imported.add(statement.module.split(".")[0])
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS


def test_type_checks_against_the_nuke_stubs(tmp_path):
    from mypy import api  # with types-nuke: both in the `test` extra

    stdout, stderr, status = api.run(["--strict", "--cache-dir", str(tmp_path),
                                      str(PLUGIN_DIR)])
    assert status == 0, stdout + stderr
