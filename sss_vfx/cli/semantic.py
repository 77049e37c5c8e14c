"""Flags for the semantic inputs (guides, the person model, a feature network), shared by
``segment`` and ``video``, and what the manifest records of them."""

import os

from sss_vfx.errors import OptionError
from sss_vfx.features.sources import check_sources, resolve_model
from sss_vfx.helptext import sections

__all__ = ["add_semantic_flags", "feature_model", "semantic_record"]


def add_semantic_flags(parser, *, video=False):
    """``--guides`` (repeatable), ``--guides-names``, ``--feature-model`` and its
    ``--feature-model-mean/--feature-model-std``."""
    numbered = (" numbered like the frames (roto/hero.%%04d.png)" if video else "")
    inputs = sections(parser)["inputs"]
    inputs.add_argument(
        "--guides", action="append", metavar="PATH",
        help="rough per-object mattes" + numbered + ": an image or EXR with one channel "
             "per object, a label/ID image (0 = none), a Cryptomatte EXR, or .npy; repeat "
             "for several files. Each object gets a layer, in this order, then the rest "
             "of the frame (--layers is then not used)")
    inputs.add_argument(
        "--guides-names", metavar="PATTERNS",
        help="objects to pick from the guides, comma-separated shell patterns "
             "('hero,car*'); required for a Cryptomatte")
    inputs.add_argument(
        "--feature-model", metavar="FILE",
        help="a network computing the features from each image: TorchScript .pt (needs "
             "sss_vfx[gpu]) or ONNX .onnx (needs sss_vfx[onnx])")
    inputs.add_argument(
        "--feature-model-mean", metavar="R,G,B",
        help="the feature model's input mean, e.g. 0.485,0.456,0.406 (default: the "
             "file's metadata, else 0)")
    inputs.add_argument(
        "--feature-model-std", metavar="R,G,B",
        help="the feature model's input std, e.g. 0.229,0.224,0.225 (default: the file's "
             "metadata, else 1)")


def feature_model(args, compute):
    """The loaded feature model of the arguments, or None (loads before any output)."""
    if not args.feature_model:
        if args.feature_model_mean or args.feature_model_std:
            raise OptionError("--feature-model-mean/--feature-model-std describe a feature "
                              "model; add --feature-model FILE or drop them")
        return None
    check_sources(args.features, args.guides, args.feature_model)
    return resolve_model(args.feature_model, compute, mean=args.feature_model_mean,
                         std=args.feature_model_std)


def semantic_record(args, model=None, objects=()):
    """The manifest's record of the semantic inputs."""
    def where(path):
        return path if "%" in path or "#" in os.path.basename(path) \
            else os.path.abspath(path)

    record = {"guides": [where(p) for p in args.guides] if args.guides else None,
              "guides_names": args.guides_names,
              "feature_model": os.path.abspath(args.feature_model)
              if args.feature_model else None}
    if model is not None:
        record["feature_model_mean"] = list(model.mean)
        record["feature_model_std"] = list(model.std)
    if objects:
        record["objects"] = list(objects)
    return record
