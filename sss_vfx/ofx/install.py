"""``sss-vfx ofx install``: compile the plugin with the system C compiler and install
the ``SemanticSoftSegmentation.ofx.bundle``.

The C sources ship inside the ``ofx_bridge`` package, so this works from an installed
sss_vfx as well as from a checkout. The absolute path of this environment's Python
interpreter is compiled into the plugin, which starts the render server isolated from
the host's Python (``python -I -m sss_vfx.ofx serve``, without the host's ``PYTHON*``
variables). ``--executable PROGRAM`` records a program run as ``PROGRAM serve``
instead (a wrapper script), and ``SSS_VFX_EXECUTABLE`` overrides both at render time.
"""

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sss_vfx.ofx.errors import InstallError

__all__ = ["BUNDLE_NAME", "bundle_binary", "default_destination", "find_compiler",
           "install_bundle"]

PLUGIN_NAME = "SemanticSoftSegmentation"
BUNDLE_NAME = f"{PLUGIN_NAME}.ofx.bundle"
SOURCES = ("sss_plugin.c", "sss_client.c")
HEADERS = ("ofx_api.h", "sss_client.h")
#: The standard OFX plug-in folder of each platform (the OFX 1.4 specification).
STANDARD_FOLDERS = {"Linux": "/usr/OFX/Plugins", "Darwin": "/Library/OFX/Plugins",
                    "Windows": r"C:\Program Files\Common Files\OFX\Plugins"}
#: The bundle's binary folder of each platform (only Linux is built here).
ARCHITECTURE_FOLDERS = {"Linux": "Linux-x86-64", "Darwin": "MacOS", "Windows": "Win64"}


def default_destination(environ=None, system=None):
    """The first folder of ``OFX_PLUGIN_PATH``, else the platform's standard folder."""
    environ = os.environ if environ is None else environ
    system = system or platform.system()
    for entry in environ.get("OFX_PLUGIN_PATH", "").split(os.pathsep):
        if entry.strip():
            return Path(entry.strip())
    return Path(STANDARD_FOLDERS.get(system, STANDARD_FOLDERS["Linux"]))


def find_compiler(environ=None):
    """The C compiler to use: ``$CC``, else the first of cc, gcc, clang on PATH.

    Raises
    ------
    InstallError
        If none is found.
    """
    environ = os.environ if environ is None else environ
    names = [environ["CC"]] if environ.get("CC") else ["cc", "gcc", "clang"]
    for name in names:
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return found
    raise InstallError(f"no C compiler found (looked for {', '.join(names)} on PATH); "
                       "install one (Debian/Ubuntu: apt-get install gcc; macOS: "
                       "xcode-select --install) or set CC to its path")


def _source_folder():
    # The C sources ship as a package of their own, looked up only to install the plugin.
    try:
        import ofx_bridge
    except ImportError:
        raise InstallError("the plugin's C sources (package ofx_bridge) are not installed; "
                           "reinstall sss_vfx (pip install .)") from None
    folder = Path(ofx_bridge.__file__).parent
    absent = [name for name in SOURCES + HEADERS if not (folder / name).is_file()]
    if absent:
        raise InstallError(f"the plugin's C sources are incomplete in {folder} (missing "
                           f"{', '.join(absent)}); reinstall sss_vfx")
    return folder


def _c_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bundle_binary(bundle):
    """Path of the plugin binary inside `bundle` (Linux layout)."""
    return Path(bundle) / "Contents" / ARCHITECTURE_FOLDERS["Linux"] / f"{PLUGIN_NAME}.ofx"


def _info_plist():
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>CFBundleExecutable</key><string>{PLUGIN_NAME}.ofx</string>
  <key>CFBundleIdentifier</key><string>org.sss_vfx.{PLUGIN_NAME}</string>
  <key>CFBundlePackageType</key><string>BNDL</string>
</dict>
</plist>
"""


def _writable_folder(dest):
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"cannot create {dest} ({exc.strerror}); pass --dest DIR, set "
                           "OFX_PLUGIN_PATH, or run with the rights to write there") \
            from exc
    if not os.access(dest, os.W_OK | os.X_OK):
        raise InstallError(f"cannot write to {dest} (permission denied); pass --dest DIR, "
                           "set OFX_PLUGIN_PATH, or run with the rights to write there")


def install_bundle(dest=None, *, compiler=None, executable=None, python=None,
                   system=None):
    """Compile the plugin and install its bundle into `dest`.

    Parameters
    ----------
    dest : str or os.PathLike, optional
        Plug-in folder (default :func:`default_destination`); created if needed.
    compiler : str, optional
        C compiler (default :func:`find_compiler`).
    executable : str or os.PathLike, optional
        A program the plugin starts as ``PROGRAM serve --ready-fd 3`` (a wrapper
        script); by default it starts `python` instead.
    python : str or os.PathLike, optional
        The interpreter the plugin starts as ``PYTHON -I -m sss_vfx.ofx serve`` (default:
        this one, ``sys.executable``, kept unresolved so that a virtual environment's
        packages are the ones imported).
    system : str, optional
        ``platform.system()`` value, for tests.

    Returns
    -------
    pathlib.Path
        The installed bundle; an older one there is replaced whole.

    Raises
    ------
    InstallError
        Not Linux, no compiler, no sources, a compile error, or `dest` not writable.
    """
    system = system or platform.system()
    if system != "Linux":
        raise InstallError(f"building the plugin on {system} is not supported yet; see "
                           "ofx_bridge/README.md for the bundle layout to build by hand")
    dest = Path(dest) if dest is not None else default_destination(system=system)
    dest = dest.expanduser().absolute()
    sources = _source_folder()
    compiler = compiler or find_compiler()
    executable = str(Path(executable).absolute()) if executable else ""
    python = Path(python or sys.executable).absolute()
    _writable_folder(dest)
    staging = Path(tempfile.mkdtemp(prefix=f".{BUNDLE_NAME}.", dir=dest))
    try:
        binary = bundle_binary(staging / BUNDLE_NAME)
        binary.parent.mkdir(parents=True)
        (staging / BUNDLE_NAME / "Contents" / "Info.plist").write_text(_info_plist())
        command = [compiler, "-std=c99", "-O2", "-fPIC", "-shared", "-fvisibility=hidden",
                   "-pthread", f"-DSSS_DEFAULT_EXECUTABLE={_c_string(executable)}",
                   f"-DSSS_DEFAULT_PYTHON={_c_string(str(python))}",
                   "-o", str(binary), *[str(sources / name) for name in SOURCES], "-lm"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise InstallError(f"compiling the plugin failed ({compiler}): "
                               f"{done.stderr.strip()[-800:]}")
        binary.chmod(0o755)
        final = dest / BUNDLE_NAME
        if final.exists():
            final.rename(staging / "previous")   # removed with the staging folder
        (staging / BUNDLE_NAME).rename(final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
