"""Flags shared by the sub-commands, generated from the option classes' metadata, and
the translation of library messages (which name parameters) into flags."""

import dataclasses
import re

from sss_vfx.errors import OptionError
from sss_vfx.options import (COARSE_FEATURES, PlateOptions, SegmentationOptions,
                             TemporalOptions, option_help)

__all__ = ["add_method_flags", "add_plate_flags", "add_run_flags", "add_temporal_flags",
           "add_wait_flag", "flag_name", "method_options", "plate_options",
           "temporal_options", "to_flags"]

_TYPES = {"count": int, "natural": int, "positive": float, "weight": float, "text": str}


def flag_name(field_name):
    """``'max_pixels'`` -> ``'--max-pixels'``."""
    return "--" + field_name.replace("_", "-")


def _add_fields(parser, options_class, skip=()):
    for name, (default, text, kind, choices) in option_help(options_class).items():
        if name in skip:
            continue
        extra = {"choices": choices} if kind == "choice" else {"type": _TYPES[kind]}
        parser.add_argument(flag_name(name), default=default,
                            help=text if default is None else f"{text} (default {default})",
                            **extra)


def add_method_flags(parser):
    """One flag per field of :class:`SegmentationOptions`, and ``--coarse-features``."""
    _add_fields(parser, SegmentationOptions)
    recipe = " ".join(f"{flag_name(k)} {v if isinstance(v, str) else format(v, 'g')}"
                      for k, v in COARSE_FEATURES.items())
    parser.add_argument("--coarse-features", action="store_true",
                        help="the features are a segmentation network's masks (a few "
                             f"flat classes): shorthand for {recipe}, for those of "
                             "these options left at their default")


def add_temporal_flags(parser):
    """One flag per field of :class:`TemporalOptions` (``--no-temporal`` for the
    switch)."""
    parser.add_argument("--no-temporal", action="store_true",
                        help="segment every frame on its own (the per-frame baseline)")
    _add_fields(parser, TemporalOptions, skip=("temporal",))


def add_plate_flags(parser):
    """One flag per field of :class:`PlateOptions`: ``--colorspace``, ``--ocio``,
    ``--working-view``, ``--part``."""
    _add_fields(parser, PlateOptions)


def plate_options(args):
    """The :class:`PlateOptions` of parsed arguments (their defaults where a command has
    no plate flags)."""
    return PlateOptions(**{f.name: getattr(args, f.name, None)
                           for f in dataclasses.fields(PlateOptions)})


def add_wait_flag(parser):
    """``--wait``: wait for another run holding the output folder instead of refusing."""
    parser.add_argument("--wait", action="store_true",
                        help="when another sss-vfx run holds the output folder, wait for "
                             "it to finish instead of refusing (a killed run's lock is "
                             "taken over at once)")


def add_run_flags(parser):
    """--device, --progress and --verbose."""
    parser.add_argument("--device", default=None,
                        help="where the stages run: auto (a CUDA GPU through torch, else "
                             "the first OpenCL GPU, else any OpenCL device, else numpy), "
                             "numpy, opencl, opencl:<platform>:<device>, cuda, "
                             "cuda:<index> or torch:cpu, as `sss-vfx devices` lists them "
                             "(default: $SSS_VFX_DEVICE, else auto)")
    parser.add_argument("--progress", choices=("auto", "bar", "log", "json", "none"),
                        default="auto",
                        help="progress on standard error, stage by stage with the time "
                             "left: one line rewritten on a terminal (bar), a line per "
                             "stage and every 30 s otherwise (log), JSON lines for tools "
                             "(json, schema SssProgress.1), or none; auto = bar on a "
                             "terminal, else log")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show tracebacks and debug messages")


def method_options(args):
    """The :class:`SegmentationOptions` of parsed arguments, with ``--coarse-features``
    applied to the options it names that were left at their default."""
    names = [f.name for f in dataclasses.fields(SegmentationOptions)]
    values = {name: getattr(args, name) for name in names}
    if getattr(args, "coarse_features", False):
        if not getattr(args, "features", None):
            raise OptionError("--coarse-features describes the features, but none were "
                              "given; add --features PATH or drop --coarse-features")
        for name, value in COARSE_FEATURES.items():
            if values[name] == getattr(SegmentationOptions, name):
                values[name] = value
    return SegmentationOptions.from_kwargs(**values)


def temporal_options(args):
    """The :class:`TemporalOptions` of parsed arguments."""
    names = [f.name for f in dataclasses.fields(TemporalOptions) if f.name != "temporal"]
    return TemporalOptions(temporal=not args.no_temporal,
                           **{name: getattr(args, name) for name in names})


#: Library phrases that stand for a flag on the command line.
_PHRASES = {"temporal=False": "--no-temporal", "force=True": "--force",
            "sss_vfx.COARSE_FEATURES": "--coarse-features",
            "allow_missing=True": "--allow-missing", "feature_model": "--feature-model",
            "guides names": "--guides-names"}
_FIELDS = sorted({f.name for cls in (SegmentationOptions, TemporalOptions)
                  for f in dataclasses.fields(cls)} | {"features"}, key=len, reverse=True)
_FIELD_PATTERN = re.compile(r"(?<![\w.-])(" + "|".join(_FIELDS) + r")(?=\W|$)")


def to_flags(message):
    """A library message with its parameter names written as the command's flags.

    Only names with an underscore, or followed by ``=``/``(``/`` must``, are parameters
    (``layers`` alone is also a word).

    Examples
    --------
    >>> to_flags("max_pixels must be 0 or at least 1024, got 5")
    '--max-pixels must be 0 or at least 1024, got 5'
    """
    for phrase, flag in _PHRASES.items():
        message = message.replace(phrase, flag)

    def replace(match):
        name = match.group(1)
        rest = message[match.end():match.end() + 6]
        if "_" in name or rest.startswith((" must", " (", "=")):
            return flag_name(name)
        return name

    return _FIELD_PATTERN.sub(replace, message)

