"""Colour management through OpenColorIO: what a plate's values mean, and the working copy
the affinities see.

The method runs on display-referred values in [0, 1] (DESIGN section 1). A plate is read
in its own colour space (an sRGB PNG, a scene-linear ACEScg EXR, a log DPX scan) and the
*working copy* is made from it by OpenColorIO: by default a plain colour-space conversion
to the config's sRGB-encoded colour space, clipped to [0, 1], so an sRGB image and the
ACEScg plate made from it give the same working copy; on request a display/view
transform instead. The layer colours are computed on the plate's own values, so the
premultiplied layers sum to the plate in its colour space.

The config is ``$OCIO`` as in Nuke, else the built-in ACES CG config
(:data:`BUILTIN_CONFIG`). A plate whose file does not say its colour space is taken as
the config's ``scene_linear`` role for EXR (with the built-in config, Linear Rec.709,
Nuke's default linear space, rather than its ACEScg role), its
``compositing_log`` role for a DPX whose header says logarithmic (ACEScct), and sRGB for
the other files (8/16-bit rasters, float TIFF).
"""

import functools
import os

import numpy as np

from sss_vfx.errors import OptionError

__all__ = [
    "BUILTIN_CONFIG",
    "ColourSpace",
    "convert",
    "default_colour_space",
    "linear_to_srgb",
    "load_config",
    "resolve_colour_space",
    "to_working",
]

#: The config used when neither ``ocio`` nor ``$OCIO`` names one (OpenColorIO >= 2.3).
BUILTIN_CONFIG = "ocio://cg-config-latest"
#: Names of the sRGB-encoded (Rec.709 primaries) colour space in common configs, tried
#: in order before asking OpenColorIO to identify it.
SRGB_NAMES = ("srgb_tx", "sRGB Encoded Rec.709 (sRGB)", "sRGB - Texture",
              "Utility - sRGB - Texture", "sRGB", "srgb")
#: Linear Rec.709 in the built-in config: the space of the former hand-written curve.
LINEAR_REC709 = "lin_rec709_srgb"
#: What a colour space defaults to, by the kind of file (roles where a config has them).
SCENE_LINEAR, COMPOSITING_LOG, SRGB = "scene_linear", "compositing_log", "srgb"


class ColourSpace(str):
    """A colour-space name, canonical in its config (a ``str``)."""


def _ocio():
    # Imported when colour management is first used (~70 ms).
    try:
        import PyOpenColorIO
    except ImportError as exc:    # pragma: no cover - a core dependency
        raise OptionError("colour management needs OpenColorIO; pip install "
                          "'opencolorio>=2.3'") from exc
    return PyOpenColorIO


def load_config(spec=None):
    """The OpenColorIO config to use.

    Parameters
    ----------
    spec : str, optional
        A config file (``.ocio``) or a built-in config URI (``ocio://default``,
        ``ocio://cg-config-latest``, ``ocio://studio-config-latest``). None: ``$OCIO``,
        else :data:`BUILTIN_CONFIG`.

    Returns
    -------
    PyOpenColorIO.Config
        Loaded once per spec (cached).

    Raises
    ------
    OptionError
        If the config does not load; the message names it and what to give instead.
    """
    if spec is None:
        spec = os.environ.get("OCIO") or BUILTIN_CONFIG
    return _load(str(spec))


@functools.lru_cache(maxsize=8)
def _load(spec):
    ocio = _ocio()
    where = ("$OCIO" if spec == os.environ.get("OCIO") else "--ocio")
    if not spec.startswith("ocio://") and not os.path.isfile(spec):
        raise OptionError(f"OCIO config {spec} ({where}) does not exist; give a .ocio file "
                          f"or a built-in config such as {BUILTIN_CONFIG}")
    try:
        config = ocio.Config.CreateFromFile(spec)
        config.validate()
    except Exception as exc:   # OCIO raises its own Exception type for every failure
        reason = " ".join(str(exc).split())[:200]
        raise OptionError(f"OCIO config {spec} ({where}) does not load: {reason}; fix it "
                          f"or give another, e.g. {BUILTIN_CONFIG}") from exc
    return config


def resolve_colour_space(config, name, *, what="--colorspace"):
    """The canonical name of a colour space, alias or role of `config`.

    Parameters
    ----------
    config : PyOpenColorIO.Config
    name : str
        A colour-space name, one of its aliases, or a role (``scene_linear``...).
    what : str, optional
        Where the name came from, for the message.

    Returns
    -------
    ColourSpace

    Raises
    ------
    OptionError
        If the config has no such colour space; the message lists a few it has.
    """
    found = config.getColorSpace(str(name))
    if found is None:
        names = list(config.getColorSpaceNames())
        shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
        raise OptionError(f"{what} {name!r} is not a colour space of the OCIO config "
                          f"{config.getName() or '(unnamed)'}; choose one of {shown} (or "
                          "an alias or role), or pass --ocio with the config that has it")
    return ColourSpace(found.getName())


def srgb_space(config):
    """The config's sRGB-encoded (Rec.709 primaries) colour space.

    Raises
    ------
    OptionError
        If the config has none that OpenColorIO can identify.
    """
    for name in SRGB_NAMES:
        found = config.getColorSpace(name)
        if found is not None:
            return ColourSpace(found.getName())
    ocio = _ocio()
    try:
        name = ocio.Config.IdentifyBuiltinColorSpace(config, _load(BUILTIN_CONFIG),
                                                     "srgb_tx")
    except Exception as exc:    # OCIO's own Exception when nothing matches
        raise OptionError(f"the OCIO config {config.getName() or '(unnamed)'} has no "
                          "sRGB-encoded colour space for the working copy; pass "
                          "--working-view DISPLAY/VIEW, or another --ocio") from exc
    return ColourSpace(name)


def default_colour_space(config, kind):
    """The colour space of a plate whose file does not say.

    Parameters
    ----------
    config : PyOpenColorIO.Config
    kind : {'scene_linear', 'compositing_log', 'srgb'}
        ``'scene_linear'`` for EXR, ``'compositing_log'`` for a log DPX, ``'srgb'`` for
        the rest.

    Returns
    -------
    ColourSpace
        The role's colour space, or the sRGB-encoded space (also when the config lacks
        the role); for EXR with the built-in config, Linear Rec.709 rather than its
        scene_linear role (ACEScg).
    """
    if kind == SCENE_LINEAR and config is _load(BUILTIN_CONFIG):
        # The built-in config's scene_linear is ACEScg, but an EXR without a colour
        # space is most often Nuke's (and Blender's) linear Rec.709: the rule before
        # colour management, which keeps those plates' working copies as they were.
        return ColourSpace(config.getColorSpace(LINEAR_REC709).getName())
    if kind != SRGB:
        found = config.getColorSpace(kind)
        if found is not None:
            return ColourSpace(found.getName())
        if kind == SCENE_LINEAR:
            raise OptionError(f"the OCIO config {config.getName() or '(unnamed)'} has no "
                              "scene_linear role; pass --colorspace NAME")
    return srgb_space(config)


@functools.lru_cache(maxsize=64)
def _processor(config, source, target, view):
    ocio = _ocio()
    if view is None:
        processor = config.getProcessor(source, target)
    else:
        display, view_name = view
        transform = ocio.DisplayViewTransform(src=source, display=display, view=view_name)
        processor = config.getProcessor(transform)
    return processor.getDefaultCPUProcessor()


def _parse_view(config, working_view):
    text = str(working_view)
    display, _, view = text.rpartition("/")
    display = display or config.getDefaultDisplay()
    if display not in list(config.getDisplays()):
        raise OptionError(f"--working-view {text!r}: the OCIO config has no display "
                          f"{display!r}; choose one of {', '.join(config.getDisplays())}")
    views = list(config.getViews(display))
    if view not in views:
        raise OptionError(f"--working-view {text!r}: display {display!r} has no view "
                          f"{view!r}; choose one of {', '.join(views)}")
    return display, view


def check_working_view(config, working_view):
    """Refuse a ``working_view`` the config does not have (before any work)."""
    if working_view is not None:
        _parse_view(config, working_view)


def convert(values, config, source, target):
    """Values converted from one colour space of `config` to another.

    Parameters
    ----------
    values : (..., 3) array_like
        RGB, finite.
    config : PyOpenColorIO.Config
    source, target : str
        Colour-space names (canonical, aliases or roles).

    Returns
    -------
    (..., 3) float32 ndarray, new; not clipped.
    """
    out = np.array(values, dtype=np.float32, copy=True, order="C")
    if resolve_colour_space(config, source) == resolve_colour_space(config, target):
        return out
    _processor(config, str(source), str(target), None).applyRGB(out)
    return out


def to_working(values, config, source, *, working_view=None):
    """The working copy of a plate: display-referred RGB in [0, 1].

    Parameters
    ----------
    values : (H, W, 3) array_like
        The plate in colour space `source`, finite.
    config : PyOpenColorIO.Config
    source : str
        The plate's colour space.
    working_view : str, optional
        ``'DISPLAY/VIEW'`` or ``'VIEW'`` (of the default display): the copy is made by
        that display/view transform; None: converted to the config's sRGB-encoded space.

    Returns
    -------
    (H, W, 3) float32 ndarray in [0, 1], new.

    Raises
    ------
    OptionError
        Unknown view or display, or no sRGB-encoded space in the config.
    """
    if working_view is None:
        working = convert(values, config, source, srgb_space(config))
    else:
        working = np.array(values, dtype=np.float32, copy=True, order="C")
        _processor(config, str(source), None, _parse_view(config, working_view)) \
            .applyRGB(working)
    np.nan_to_num(working, copy=False, nan=0.0)
    return np.clip(working, 0.0, 1.0, out=working)


def linear_to_srgb(linear):
    """Clamp linear Rec.709 values to [0, 1] and encode them as sRGB (through OCIO).

    Parameters
    ----------
    linear : array_like
        Linear values, any shape whose last axis is 3 (or any shape at all: the values
        are converted one by one, grey), finite.

    Returns
    -------
    ndarray, same shape, float32
        ``12.92 x`` for ``x <= 0.0031308``, else ``1.055 x**(1/2.4) - 0.055``.
    """
    x = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    shape = x.shape
    grey = np.repeat(x.reshape(-1, 1), 3, axis=1)
    config = _load(BUILTIN_CONFIG)
    encoded = convert(grey, config, LINEAR_REC709, srgb_space(config))[:, 0]
    return np.clip(encoded, 0.0, 1.0).reshape(shape)
