"""The Nuke plugin runs in Nuke's own Python 3.7 to 3.11 with the standard library
and ``nuke`` only, and type-checks against the published Nuke stubs."""

import ast
import pathlib
import shutil
import subprocess
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


#: Nuke runs these from every folder on NUKE_PATH, also in Nuke 12 and older (Python 2).
PYTHON2_ENTRY_POINTS = ("init.py", "menu.py")
PYTHON2_MODULES = {"os", "sys", "nuke"}


@pytest.mark.parametrize("name", PYTHON2_ENTRY_POINTS)
def test_entry_points_use_no_python3_only_syntax(name):
    tree = ast.parse((PLUGIN_DIR / name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.AnnAssign, ast.JoinedStr, ast.AsyncFunctionDef,
                                     ast.Await, ast.YieldFrom, ast.Nonlocal)), \
            f"{name}:{node.lineno}: {type(node).__name__} is Python 3 only"
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            arguments = node.args
            assert not arguments.kwonlyargs and not arguments.posonlyargs
            assert all(a.annotation is None for a in arguments.args), f"{name}: annotation"
            assert getattr(node, "returns", None) is None, f"{name}: return annotation"
    # The Python 3 package may only be imported where Python 3 is checked first.
    top = {alias.name.split(".")[0] for statement in tree.body
           if isinstance(statement, ast.Import) for alias in statement.names}
    top |= {statement.module.split(".")[0] for statement in tree.body
            if isinstance(statement, ast.ImportFrom)}
    assert top <= PYTHON2_MODULES, top - PYTHON2_MODULES


def _python2():
    for name in ("python2.7", "python2"):
        program = shutil.which(name)
        if program is None:
            continue
        check = subprocess.run([program, "-c", "import sys; sys.exit(sys.version_info[0] - 2)"],
                               capture_output=True)
        if check.returncode == 0:
            return program
    return None


@pytest.mark.parametrize("name", PYTHON2_ENTRY_POINTS)
def test_entry_points_compile_under_python_2(name):
    program = _python2()
    if program is None:
        pytest.skip("no Python 2 interpreter on this machine")
    path = str(PLUGIN_DIR / name)
    result = subprocess.run([program, "-c", "import sys; compile(open(sys.argv[1]).read(), "
                             "sys.argv[1], 'exec')", path], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
