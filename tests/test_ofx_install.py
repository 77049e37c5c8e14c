"""``sss-vfx ofx install``: where the bundle goes, its layout, and clear failures."""

import os
import shutil
import subprocess
import sys

import pytest

from ofx_support import REPO
from sss_vfx.ofx.errors import InstallError
from sss_vfx.ofx.install import (BUNDLE_NAME, bundle_binary, default_destination,
                                 find_compiler, install_bundle)

needs_cc = pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None,
                              reason="no C compiler")


def test_default_destination_is_first_ofx_plugin_path_entry():
    environ = {"OFX_PLUGIN_PATH": os.pathsep.join(["", "/studio/ofx", "/other"])}
    assert str(default_destination(environ, "Linux")) == "/studio/ofx"
    assert str(default_destination({}, "Linux")) == "/usr/OFX/Plugins"
    assert str(default_destination({}, "Darwin")) == "/Library/OFX/Plugins"


def test_no_compiler_is_a_clear_error(tmp_path):
    with pytest.raises(InstallError, match="no C compiler found .*cc, gcc, clang"):
        find_compiler({"PATH": str(tmp_path)})
    with pytest.raises(InstallError, match="looked for /nowhere/cc"):
        find_compiler({"CC": "/nowhere/cc", "PATH": str(tmp_path)})


def test_unwritable_destination_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InstallError, match="cannot create .*--dest DIR"):
        install_bundle(blocker / "plugins", compiler="cc", executable="/bin/true")
    assert not (blocker.parent / BUNDLE_NAME).exists()


def test_compile_error_is_reported(tmp_path):
    failing = tmp_path / "badcc"
    failing.write_text("#!/bin/sh\necho 'fatal: no headers' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(InstallError, match="compiling the plugin failed.*no headers"):
        install_bundle(tmp_path / "plugins", compiler=str(failing), executable="/bin/true")
    assert list((tmp_path / "plugins").iterdir()) == []      # nothing half-installed


def test_only_linux_is_built():
    with pytest.raises(InstallError, match="Darwin is not supported"):
        install_bundle("/nowhere", system="Darwin")


@needs_cc
def test_install_writes_the_bundle_layout_and_replaces_an_old_one(tmp_path):
    executable = tmp_path / "env" / "bin" / "sss-vfx"
    bundle = install_bundle(tmp_path / "plugins", executable=executable)
    binary = bundle_binary(bundle)
    assert binary == (tmp_path / "plugins" / "SemanticSoftSegmentation.ofx.bundle" /
                      "Contents" / "Linux-x86-64" / "SemanticSoftSegmentation.ofx")
    assert os.access(binary, os.X_OK)
    assert str(executable).encode() in binary.read_bytes()
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(binary)],
                             capture_output=True, text=True)
    if symbols.returncode == 0:
        exported = {line.split()[-1] for line in symbols.stdout.splitlines()}
        assert {"OfxGetNumberOfPlugins", "OfxGetPlugin"} <= exported
        assert not any(name.startswith("sss_") for name in exported)
    (bundle / "Contents" / "stale").write_text("old")
    again = install_bundle(tmp_path / "plugins", executable="/other/sss-vfx")
    assert again == bundle and not (bundle / "Contents" / "stale").exists()
    assert b"/other/sss-vfx" in bundle_binary(again).read_bytes()
    assert sorted(p.name for p in (tmp_path / "plugins").iterdir()) == [BUNDLE_NAME]


@needs_cc
def test_default_records_this_interpreter_unresolved(tmp_path):
    """The plugin starts `python -I -m sss_vfx.ofx serve` with the installing
    environment's interpreter; a virtual environment's symbolic link is kept, so that
    its packages are the ones imported."""
    real = tmp_path / "base" / "python3"
    real.parent.mkdir()
    real.write_text("")
    link = tmp_path / "venv" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    binary = bundle_binary(install_bundle(tmp_path / "plugins", python=link)).read_bytes()
    assert str(link).encode() in binary and str(real).encode() not in binary
    assert b"sss_vfx.ofx" in binary


@needs_cc
def test_sources_compile_without_warnings(tmp_path):
    sources = REPO / "ofx_bridge"
    done = subprocess.run([os.environ.get("CC", "cc"), "-std=c99", "-Wall", "-Wextra",
                           "-fPIC", "-shared", "-o", str(tmp_path / "p.ofx"),
                           str(sources / "sss_plugin.c"), str(sources / "sss_client.c"),
                           "-lm"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""


@needs_cc
def test_command_installs_into_ofx_plugin_path(tmp_path):
    env = dict(os.environ, OFX_PLUGIN_PATH=f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}",
               PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "sss_vfx.ofx", "ofx", "install",
                           "--executable", "/bin/true"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"installed {tmp_path / 'a' / BUNDLE_NAME}"
    assert bundle_binary(tmp_path / "a" / BUNDLE_NAME).is_file()
