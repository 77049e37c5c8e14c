"""The planning step: cut a shot into chunks and fix its layer identity on key frames.

The shot's first frame is segmented as one process does it (in its first window); the
other key frames (each chunk's first frame, :mod:`sss_vfx.farm.chunks`) one by one in
frame order, each in a window of two frames after the one before (in temporal mode:
the key frame before it anchors the window and groups its segments, so the key frames
carry the shot's layers, their order and their grouping, from its first frame, as one
process carries them from window to window); every chunk starts from its key frame's
layers, so the whole shot keeps that order. The step costs about two frames per chunk
(a key frame's window recomputes the key frame before it; one window for the first)
and is deterministic: rerun, it recomputes nothing that exists, and a key frame
depends only on the written layers of the one before.
"""

import dataclasses
import logging
import os
import shutil

from sss_vfx.accel.compute import Compute
from sss_vfx.errors import InputError, OutputError
from sss_vfx.farm.chunks import DEFAULT_CHUNK_FRAMES, DEFAULT_HANDLES, chunk_ranges
from sss_vfx.farm.layout import PLAN_SCHEMA, FarmFolder
from sss_vfx.features.sources import FrameCache, is_person
from sss_vfx.io.folder_lock import folder_lock
from sss_vfx.io.shot import is_sequence_pattern
from sss_vfx.io.shot_outputs import run_key
from sss_vfx.pipeline.inputs import prepare_shot
from sss_vfx.pipeline.video import segment_video
from sss_vfx.segments.identity import match_layers

log = logging.getLogger("sss_vfx")

__all__ = ["model_cache", "model_compute", "plan_shot", "semantic_inputs"]


def _source_name(source):
    source = os.fspath(source)
    return source if is_sequence_pattern(source) else os.path.abspath(source)


def plan_shot(source, output, *, features=None, frames=None, start=0,
              allow_missing=False, chunk_frames=DEFAULT_CHUNK_FRAMES,
              handles=DEFAULT_HANDLES, options=None, temporal=None, colours=True,
              device=None, force=False, guides=None, guide_names=None,
              feature_model=None, feature_model_mean=None, feature_model_std=None,
              plate=None, **overrides):
    """Plan a chunked shot: write ``farm/plan.json`` and the key frames' layers.

    Parameters
    ----------
    source : str or os.PathLike
        A video file or an image-sequence pattern (chunks read it on other machines:
        give a path they share).
    output : str or os.PathLike
        The shot's output folder, shared by every step.
    features, frames, start, allow_missing
        As :func:`~sss_vfx.segment_video` (``features`` a sequence pattern, or
        ``'person'`` for the built-in person model).
    guides, guide_names, feature_model
        As :func:`~sss_vfx.segment_video`, as paths every machine reads (guides: one
        sequence pattern per object file, or one ID pass / Cryptomatte sequence; the
        model: a ``.pt`` or ``.onnx`` file). The objects are fixed by the plan, so
        every chunk has the same layers.
    feature_model_mean, feature_model_std : str or sequence of 3 float, optional
        The feature model's input normalisation (default: the file's metadata).
    chunk_frames : int, optional
        Frames each chunk owns (:data:`~sss_vfx.farm.chunks.DEFAULT_CHUNK_FRAMES`).
    handles : int, optional
        Frames a chunk starts before its own (:data:`~sss_vfx.farm.chunks.DEFAULT_HANDLES`).
    options : SegmentationOptions, optional
    temporal : TemporalOptions or bool, optional
    colours : bool, optional
        Store premultiplied layer colours in every EXR.
    device : str, optional
        Where the key frames are computed.
    plate : PlateOptions, optional
        Colour space, OCIO config, working view and EXR part of the plate files.
    force : bool, optional
        Replace a plan made with other inputs or parameters.
    **overrides
        Option fields, as :func:`~sss_vfx.segment_video`.

    Returns
    -------
    dict, the plan (as ``farm/plan.json``)

    Raises
    ------
    InputError, FeatureError, OptionError
        Bad shot or options.
    OutputError
        The folder holds a plan of another run and ``force`` is not set.
    """
    folder = FarmFolder(output)
    inputs = {"source": _source_name(source),
              "features": None if features is None else (
                  "person" if is_person(features) else os.fspath(features)),
              "frames": list(frames) if frames else None, "start": start,
              "allow_missing": allow_missing, **semantic_inputs(
                  guides, guide_names, feature_model, plate, feature_model_mean,
                  feature_model_std)}
    compute = Compute.resolve(device)   # once: every key frame's run shares it
    prepared = prepare_shot(
        source, features, guides=guides, guide_names=guide_names,
        feature_model=feature_model, mean=feature_model_mean, std=feature_model_std,
        cache=model_cache(folder, inputs), options=options, temporal=temporal,
        frames=frames, start=start, allow_missing=allow_missing, plate=plate,
        compute=model_compute(compute, feature_model), **overrides)
    shot, opts, linking = prepared.shot, prepared.options, prepared.temporal
    objects, projection = prepared.objects, prepared.projection
    if shot.numbers is None:
        raise InputError(f"{shot.description} does not declare its frame count, which "
                         "chunking needs; convert it to an image sequence first")
    chunks = chunk_ranges(shot.numbers, chunk_frames, handles)
    if objects:     # the guided objects, then "rest"
        inputs["objects"] = list(objects[:-1])
    parameters = {**opts.as_dict(), **linking.as_dict(), "colours": bool(colours),
                  "chunk_frames": int(chunk_frames), "handles": int(handles)}
    plan = {"schema": PLAN_SCHEMA, "run_key": run_key(inputs, parameters),
            "inputs": inputs, "options": opts.as_dict(), "temporal": linking.as_dict(),
            "colours": bool(colours), "chunk_frames": int(chunk_frames),
            "handles": int(handles), "numbers": list(shot.numbers),
            "missing_frames": shot.missing, "fps": str(shot.fps),
            "chunks": [c.as_dict() for c in chunks]}
    # One plan step at a time in the folder (sss_vfx.io.folder_lock).
    folder._mkdir(folder.directory)
    with folder_lock(folder.directory):
        if folder.plan_path.exists() and not force:
            previous = folder.read_plan()
            if previous["run_key"] != plan["run_key"]:
                raise OutputError(
                    f"{output} holds the plan of another input or other parameters (run "
                    f"key {previous['run_key']}, this plan {plan['run_key']}); pass "
                    "force=True to replace it or choose another output folder")
        elif (folder.directory.exists() and not folder.plan_path.exists()
              and any(folder.directory.glob("layers.*.exr")) and not force):
            raise OutputError(f"{output} already holds layers EXRs of another run; pass "
                              "force=True to replace them or choose another output "
                              "folder")
        if force and folder.farm.exists():
            shutil.rmtree(folder.farm)
            for path in folder.directory.glob("layers.*.exr"):
                path.unlink()
        folder.write_plan(plan)
        if projection is not None:
            folder.save_projection(projection)
        _key_frames(prepared, folder, sorted({c.key for c in chunks}), colours, compute)
    return plan


def semantic_inputs(guides, guide_names, feature_model, plate, mean=None, std=None):
    """The plan's record of the semantic inputs and plate options (paths absolute, so
    that chunks on other machines read the same files); empty entries left out, so a
    plan without them keeps its run key."""
    record = {}
    if guides is not None:
        patterns = [guides] if isinstance(guides, (str, os.PathLike)) else list(guides)
        if not all(isinstance(g, (str, os.PathLike)) for g in patterns):
            raise InputError("a farm shot's guides must be files every machine reads "
                             "(sequence patterns), not arrays")
        record["guides"] = [_source_name(g) for g in patterns]
    if guide_names is not None:
        record["guide_names"] = guide_names
    if feature_model is not None:
        if not isinstance(feature_model, (str, os.PathLike)):
            raise InputError("a farm shot's feature model must be a file every machine "
                             "reads (.pt or .onnx), not a loaded model")
        record["feature_model"] = os.path.abspath(feature_model)
        for key, value in (("feature_model_mean", mean), ("feature_model_std", std)):
            if value is not None:
                record[key] = value if isinstance(value, str) else [float(v) for v in value]
    if plate is not None:
        record.update(plate.record())
    return record


def model_cache(folder, inputs):
    """Person masks and network features of every frame, shared by the steps."""
    if inputs["features"] != "person" and "feature_model" not in inputs:
        return None
    return FrameCache(folder.farm / "features",
                      run_key({k: v for k, v in inputs.items() if k != "objects"}, {}))


def model_compute(compute, feature_model):
    """Where a feature model runs: the run's resolved ``compute``; None without one."""
    return compute if feature_model is not None else None


def _key_frames(prepared, folder, keys, colours, compute):
    """The shot's first frame as one process gives it (its first window), then the
    other key frames one by one, each in a window after the key frame before it.

    Each key frame's window holds the key frame before it with its written layers
    (which anchor the window and group its segments, as a shared frame does between
    two windows of one process) and the key frame, linked along the optical flow:
    the layers keep one order and each key frame's grouping carries the shot's from
    its first frame, as one process carries it, instead of clustering each key frame
    afresh. A key frame depends only on the file of the one before, so a rerun after
    a kill gives the same bits.
    """
    layers = prepared.options.layers
    numbers, linking = prepared.shot.numbers, prepared.temporal

    def finished(number):
        found = folder.read_layers(folder.key_path(number), layers)
        return None if found is None else found[0]

    def write(result):
        folder.write_layers(folder.key_path(result.number), result.alphas, result.colours,
                            {"sss_frame": str(result.number), "sss_farm": "key"})
        log.info("key frame %d planned", result.number)

    if finished(keys[0]) is None:
        window = prepared.subset(numbers[:linking.frames_per_window])
        write(next(segment_video(window, device=compute, colours=colours)))
    # Per-frame shots: each key frame matched to the one before, as their frames are.
    pair = linking.with_overrides(window=2, overlap=1) if linking.temporal else linking
    for before, key in zip(keys, keys[1:]):
        if finished(key) is not None:
            continue
        given = finished(before)
        window = dataclasses.replace(prepared.subset([before, key]), temporal=pair)
        for result in segment_video(window, device=compute, colours=colours,
                                    finished=lambda n: given if n == before else None):
            if not result.skipped:
                write(result)
