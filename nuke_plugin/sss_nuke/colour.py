"""What the script's colour management tells ``sss-vfx``: ``--ocio`` and ``--colorspace``.

Nuke names colour spaces in the OCIO config of the script (root ``colorManagement``,
``OCIO_config``, ``customOCIOConfigPath``; ``$OCIO`` overrides them all, as in Nuke).
``sss-vfx`` must read the frames with that config and name:

- ``$OCIO``, or a custom config file: passed as ``--ocio`` (the file itself).
- An ACES config that OpenColorIO carries built in (Nuke 14+: ``fn-nuke_cg-config-...``,
  ``cg-config-...``, ``studio-config-...``): passed as ``--ocio ocio://<name>``.
- Nuke's bundled ACES 1.x configs (``aces_1.2``...): their ``config.ocio`` beside Nuke's
  program when it is there, else no ``--ocio`` (the built-in ACES config of ``sss-vfx``
  knows their ACES colour spaces by their legacy names, such as ``ACES - ACEScg``).
- ``nuke-default`` (also the classic ``Nuke`` colour management): that config is not
  OpenColorIO's, so no ``--ocio``; its colour spaces with an exact equivalent in the
  built-in config are passed by that name (:data:`NUKE_DEFAULT_SPACES`); a Read in any
  other (``Cineon``, camera logs) cannot be named and is rendered to a linear EXR first.

Everything here reads knobs, so it runs on Nuke's main thread.
"""

import os
import re
from typing import NamedTuple, Optional

import nuke

#: nuke-default colour spaces and the same space in OpenColorIO's built-in ACES config
#: (which ``sss-vfx`` uses without ``--ocio``); nuke-default spaces have no primaries of
#: their own, and Nuke treats them as Rec.709.
NUKE_DEFAULT_SPACES = {
    "linear": "Linear Rec.709 (sRGB)",
    "sRGB": "sRGB Encoded Rec.709 (sRGB)",
    "Gamma1.8": "Gamma 1.8 Encoded Rec.709",
    "Gamma2.2": "Gamma 2.2 Encoded Rec.709",
}
#: Configs OpenColorIO carries built in (Nuke prefixes its copies with ``fn-nuke_``).
_BUILTIN = re.compile(r"^(?:fn-nuke_)?((?:cg|studio)-config-v[0-9.]+_aces-v[0-9.]+"
                      r"_ocio-v[0-9.]+)$")
_DEFAULT = re.compile(r"^default \((.*)\)$")


class ScriptColour(NamedTuple):
    """The script's colour management, as ``sss-vfx`` needs it.

    Attributes
    ----------
    ocio : str or None
        The ``--ocio`` value (a ``.ocio`` file or an ``ocio://`` name); None: none.
    nuke_default : bool
        The script uses nuke-default colour spaces (names go through
        :data:`NUKE_DEFAULT_SPACES`).
    working_space : str
        The script's working space as Nuke names it (root ``workingSpaceLUT``).
    """

    ocio: Optional[str]
    nuke_default: bool
    working_space: str

    def to_sss(self, space: str) -> Optional[str]:
        """The ``--colorspace`` value for Nuke's colour space `space`; None when it
        cannot be named to ``sss-vfx`` (a nuke-default space without an equivalent)."""
        default = _DEFAULT.match(space.strip())
        name = default.group(1) if default else space.strip()
        if not self.nuke_default:
            return name or None
        return NUKE_DEFAULT_SPACES.get(name)


def script_colour() -> ScriptColour:
    """Read the root's colour-management knobs (and ``$OCIO``) (main thread)."""
    root = nuke.root()
    working = _knob_text(root, "workingSpaceLUT") or "linear"
    environment = os.environ.get("OCIO", "").strip()
    if environment:
        return ScriptColour(environment, False, working)
    management = _knob_text(root, "colorManagement")
    config = _knob_text(root, "OCIO_config")
    if management in ("", "Nuke") or config in ("", "nuke-default"):
        return ScriptColour(None, True, working)
    if config == "custom":
        knob = root.knob("customOCIOConfigPath")
        assert isinstance(knob, nuke.File_Knob)
        return ScriptColour(str(knob.evaluate()).strip() or None, False, working)
    builtin = _BUILTIN.match(config)
    if builtin:
        return ScriptColour("ocio://" + builtin.group(1), False, working)
    return ScriptColour(bundled_config(config), False, working)


def bundled_config(name: str) -> Optional[str]:
    """The ``config.ocio`` of a config Nuke bundles (``aces_1.2``), when it is found
    beside Nuke's program; else None."""
    program = str(getattr(nuke, "EXE_PATH", "") or "")
    if not program:
        return None
    path = os.path.join(os.path.dirname(program), "plugins", "OCIOConfigs", "configs",
                        name, "config.ocio")
    return path if os.path.isfile(path) else None


def read_colour_space(read: nuke.Node) -> str:
    """The colour space a Read reads its files as (its ``colorspace`` knob; ``raw``
    reads them untouched, as the working space)."""
    raw = read.knob("raw")
    if raw is not None and bool(raw.value()):
        return script_colour().working_space
    return _knob_text(read, "colorspace")


def _knob_text(node: nuke.Node, name: str) -> str:
    knob = node.knob(name)
    return "" if knob is None else str(knob.value()).strip()
