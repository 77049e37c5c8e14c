"""The documentation built from the code: the parameter tables cover every option field
once, under its metadata's heading; the README's commands are the ones CI runs; every
picture the README and the pages show exists and stays small."""

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest

from sss_vfx.options import OPTION_GROUPS, SegmentationOptions, TemporalOptions

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def extension():
    """docs/_ext/sss_options.py, imported by path (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("sss_options",
                                                  DOCS / "_ext" / "sss_options.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parameter_tables_list_every_field_once_under_its_group(extension):
    rows = extension.option_rows()
    assert list(rows) == list(OPTION_GROUPS)
    listed = [(group, keyword, default) for group, entries in rows.items()
              for _, keyword, default, _ in entries]
    keywords = [keyword for _, keyword, _ in listed]
    assert len(keywords) == len(set(keywords))
    expected = {f.name: (f.metadata["group"], repr(f.default))
                for cls in (SegmentationOptions, TemporalOptions)
                for f in dataclasses.fields(cls)}
    assert {k: (g, d) for g, k, d in listed} == expected


def test_parameter_tables_carry_each_fields_help_and_flag(extension):
    rows = {keyword: (flag, text) for entries in extension.option_rows().values()
            for flag, keyword, _, text in entries}
    for f in dataclasses.fields(SegmentationOptions):
        flag, text = rows[f.name]
        assert flag == "--" + f.name.replace("_", "-")
        assert text.startswith(f.metadata["help"])
    assert rows["temporal"][0] == "--no-temporal"


def test_the_method_page_shows_the_generated_tables():
    text = (DOCS / "method.md").read_text()
    assert "```{sss-options}" in text
    assert "sss_options" in (DOCS / "conf.py").read_text()


def _bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_ci_runs_the_readme_test_and_docs_commands_unchanged():
    readme = _bash_blocks((ROOT / "README.md").read_text())
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert len(ci) == 2
    tests, docs = ci
    # CI runs the README's test command with pip quiet; the docs command in the venv
    # the tests made.
    assert tests.replace("pip install -q ", "pip install ") in readme
    assert tests.endswith("python -m pytest -q")
    assert docs.replace("pip install -q ", "pip install ") in " ".join(readme)
    assert "-W" in docs and "-b doctest" in docs


def test_readme_is_short_and_its_pictures_and_doc_links_exist():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).is_file(), target


@pytest.mark.parametrize("picture", sorted((DOCS / "_static").rglob("*.png")),
                         ids=lambda p: p.name)
def test_committed_pictures_are_small_pngs(picture):
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) < 170_000, f"{picture.name}: {len(data)} bytes"
