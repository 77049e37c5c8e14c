"""Where the ``sss-vfx`` program is, and the environment it runs in."""

import os
import shutil
from typing import Dict, Mapping, Optional

from sss_nuke.errors import SetupError

EXECUTABLE_ENV = "SSS_VFX_EXECUTABLE"
PROGRAM = "sss-vfx"
#: Variables Nuke sets for its own interpreter; the project's Python must not see them.
NUKE_PYTHON_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE")


def find_executable(knob_value: str = "", preference: str = "",
                    environ: Optional[Mapping[str, str]] = None) -> str:
    """Return the ``sss-vfx`` program to run.

    The first one set wins: the node's ``executable`` knob, the preferences knob,
    ``$SSS_VFX_EXECUTABLE``; else ``sss-vfx`` on the ``PATH``.

    Parameters
    ----------
    knob_value, preference : str, optional
        Paths (or program names) from the node and from Nuke's preferences.
    environ : mapping, optional
        Defaults to ``os.environ``.

    Returns
    -------
    str
        An absolute path to an executable file.

    Raises
    ------
    SetupError
        If the place named is not an executable, or none is named and ``sss-vfx`` is
        not on the PATH.
    """
    environ = os.environ if environ is None else environ
    sources = (("the node's executable knob", knob_value),
               ("the sss_vfx executable preference", preference),
               ("$" + EXECUTABLE_ENV, environ.get(EXECUTABLE_ENV, "")))
    for source, value in sources:
        if value.strip():
            found = shutil.which(os.path.expanduser(value.strip()), path=environ.get("PATH"))
            if found is None:
                raise SetupError(
                    "{} names {}, which is not an executable file; set it to the sss-vfx "
                    "program of your sss_vfx install (its bin/sss-vfx)".format(source, value))
            return os.path.abspath(found)
    found = shutil.which(PROGRAM, path=environ.get("PATH"))
    if found is None:
        raise SetupError(
            "sss-vfx was not found on the PATH; set ${} (or the executable knob on the "
            "node's Advanced tab) to the sss-vfx program of your sss_vfx install"
            .format(EXECUTABLE_ENV))
    return os.path.abspath(found)


def subprocess_env(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment for ``sss-vfx``: Nuke's, less the variables that point Python
    at Nuke's own interpreter and packages."""
    environ = os.environ if environ is None else environ
    return {name: value for name, value in environ.items()
            if name not in NUKE_PYTHON_VARIABLES}
