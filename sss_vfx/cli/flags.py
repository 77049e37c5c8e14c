"""Flags shared by the sub-commands, generated from the option classes' metadata
(shown under the headings of :mod:`sss_vfx.helptext`), and the translation of library
messages (which name parameters) into flags."""

import argparse
import dataclasses
import re

from sss_vfx.errors import OptionError
from sss_vfx.helptext import sections
from sss_vfx.options import (COARSE_FEATURES, PAPER, PlateOptions, SegmentationOptions,
                             TemporalOptions)

__all__ = ["GIVEN", "add_method_flags", "add_plate_flags", "add_run_flags",
           "add_temporal_flags", "add_wait_flag", "flag_name", "method_options",
           "plate_options", "temporal_options", "to_flags"]

_TYPES = {"count": int, "natural": int, "positive": float, "weight": float, "text": str}
#: What ``--help`` shows for a value of each kind (choices list themselves).
_METAVARS = {"count": "N", "natural": "N", "positive": "X", "weight": "W", "text": "NAME"}

def flag_name(field_name):
    """``'max_pixels'`` -> ``'--max-pixels'``."""
    return "--" + field_name.replace("_", "-")


#: The attribute of parsed arguments listing the option fields given on the command line
#: (the presets fill only the others).
GIVEN = "given_options"


class _StoreGiven(argparse.Action):
    """Store the value and note the field as given on the command line (:data:`GIVEN`):
    a value equal to the default, given explicitly, still counts."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, GIVEN, sorted({*getattr(namespace, GIVEN, ()), self.dest}))


#: The fields of PAPER whose default is not the paper's, and those whose default is.
_DEPARTING = {k: v for k, v in PAPER.items() if getattr(SegmentationOptions, k) != v}
_KEPT = {k: v for k, v in PAPER.items() if k not in _DEPARTING}


def _recipe(preset):
    """``{'max_pixels': 0}`` -> ``'--max-pixels 0'``."""
    return " ".join(f"{flag_name(k)} {v if isinstance(v, str) else format(v, 'g')}"
                    for k, v in preset.items())


def _add_fields(parser, options_class, skip=()):
    groups = sections(parser)
    for f in dataclasses.fields(options_class):
        if f.name in skip:
            continue
        kind, choices = f.metadata["kind"], f.metadata["choices"]
        extra = {"choices": choices} if kind == "choice" else {
            "type": _TYPES[kind], "metavar": _METAVARS[kind]}
        paper = f", --paper {f.metadata['paper']}" if "paper" in f.metadata else ""
        text = f.metadata["help"]
        groups[f.metadata["group"]].add_argument(
            flag_name(f.name), default=f.default, action=_StoreGiven,
            help=text if f.default is None else f"{text} (default {f.default}{paper})",
            **extra)


def add_method_flags(parser):
    """One flag per field of :class:`SegmentationOptions`, under its group's heading,
    ``--coarse-features`` and ``--paper``."""
    sections(parser)["features"].add_argument(
        "--coarse-features", action="store_true",
        help="the features are a segmentation network's masks (a few flat classes): "
             f"shorthand for {_recipe(COARSE_FEATURES)}, for those of these options not "
             "given")
    sections(parser)["method"].add_argument(
        "--paper", action="store_true",
        help="the paper's configuration, none of this project's speed-ups: shorthand for "
             f"{_recipe(_DEPARTING)}, with {_recipe(_KEPT)} kept (their defaults); one of "
             "these flags given with another value is refused. Far slower and larger "
             "than the default: the spectral stages run at the plate's resolution")
    _add_fields(parser, SegmentationOptions)


def add_temporal_flags(parser):
    """One flag per field of :class:`TemporalOptions` (``--no-temporal`` for the
    switch), under its group's heading."""
    group = TemporalOptions.__dataclass_fields__["temporal"].metadata["group"]
    sections(parser)[group].add_argument(
        "--no-temporal", action="store_true",
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
    sections(parser)["outputs"].add_argument(
        "--wait", action="store_true",
        help="when another sss-vfx run holds the output folder, wait for it to finish "
             "instead of refusing (a killed run's lock is taken over at once)")


def add_run_flags(parser):
    """--device, --progress and --verbose, under "running"."""
    run = sections(parser)["run"]
    run.add_argument("--device", default=None,
                     help="where the stages run: auto (a CUDA GPU through torch, else "
                          "the first OpenCL GPU, else any OpenCL device, else numpy), "
                          "numpy, opencl, opencl:<platform>:<device>, cuda, "
                          "cuda:<index> or torch:cpu, as `sss-vfx devices` lists them "
                          "(default: $SSS_VFX_DEVICE, else auto)")
    run.add_argument("--progress", choices=("auto", "bar", "log", "json", "none"),
                     default="auto",
                     help="progress on standard error, stage by stage with the time "
                          "left: one line rewritten on a terminal (bar), a line per "
                          "stage and every 30 s otherwise (log), JSON lines for tools "
                          "(json, schema SssProgress.1), or none; auto = bar on a "
                          "terminal, else log")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="show tracebacks and debug messages")


def method_options(args):
    """The :class:`SegmentationOptions` of parsed arguments.

    ``--coarse-features`` sets the options it names that were not given on the command
    line; ``--paper`` sets those of :data:`~sss_vfx.options.PAPER` and refuses one
    given (or set by ``--coarse-features``) with another value.

    Raises
    ------
    OptionError
        ``--coarse-features`` without features; ``--paper`` with a conflicting flag; an
        option out of range.
    """
    names = [f.name for f in dataclasses.fields(SegmentationOptions)]
    values = {name: getattr(args, name) for name in names}
    given = set(getattr(args, GIVEN, ()))
    if getattr(args, "coarse_features", False):
        if not getattr(args, "features", None):
            raise OptionError("--coarse-features describes the features, but none were "
                              "given; add --features PATH or drop --coarse-features")
        for name, value in COARSE_FEATURES.items():
            if name not in given:
                values[name], given = value, given | {name}
    if getattr(args, "paper", False):
        conflicts = [n for n in PAPER if n in given and values[n] != PAPER[n]]
        if conflicts:
            asked = ", ".join(f"{flag_name(n)} {values[n]}" for n in conflicts)
            source = " (from --coarse-features)" if getattr(
                args, "coarse_features", False) and set(conflicts) & set(COARSE_FEATURES) \
                else ""
            raise OptionError(f"--paper sets {_recipe({n: PAPER[n] for n in conflicts})}, "
                              f"the paper's values, but the command asks for {asked}"
                              f"{source}; drop --paper or those flags")
        return SegmentationOptions.paper(**{name: values[name] for name in given})
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

