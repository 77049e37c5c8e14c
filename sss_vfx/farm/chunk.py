"""The chunk step: the layers of a chunk's frames, in the shot's layer order.

A chunk reads its key frame's layers (the planning pass), then its joins and its own
frames with :func:`~sss_vfx.segment_video`, the key frame opening its first window
with those layers, as the frame two windows of one process share: they anchor the
window and group its segments (:func:`~sss_vfx.segments.grouping.group_by_reference`),
so the chunk continues the shot's layers, in their order, as one process would from
that frame (the first chunk runs as one process does from the shot's first frame,
which the plan segmented the same way). A chunk needs nothing from its neighbours: only
the plan and its key frame. It
writes its own frames (``layers.NNNN.exr``, or ``farm/joins/tail.NNNN.exr`` for those
the next chunk's joins cover) and its joins (``farm/joins/head.NNNN.exr``), each
atomically, and keeps the window states as it goes: rerun after a kill, it restarts
from the last state before its first missing frame and gives the same bits as an
uninterrupted run; rerun once finished, it does nothing.
"""

import logging
import time

import numpy as np

from sss_vfx.accel.compute import Compute
from sss_vfx.errors import OptionError, OutputError
from sss_vfx.farm.chunks import Chunk
from sss_vfx.farm.layout import FarmFolder
from sss_vfx.farm.plan import model_cache, model_compute
from sss_vfx.features.sources import literal_pattern
from sss_vfx.io.folder_lock import folder_lock
from sss_vfx.options import PlateOptions, SegmentationOptions, TemporalOptions
from sss_vfx.pipeline.inputs import prepare_shot
from sss_vfx.pipeline.layers import working_size
from sss_vfx.pipeline.video import segment_video
from sss_vfx.segments.upsample import downsample_layers
from sss_vfx.version import __version__

log = logging.getLogger("sss_vfx")

__all__ = ["chunk_for_frames", "run_chunk"]


def chunk_for_frames(plan, first, last):
    """Indices of the chunks whose own frames meet ``first``-``last`` (a farm task's
    frame range).

    Raises
    ------
    OptionError
        No chunk owns a frame in the range.
    """
    found = [c["index"] for c in plan["chunks"] if c["first"] <= last and c["last"] >= first]
    if not found:
        raise OptionError(f"frames {first}-{last} are outside the planned shot "
                          f"({plan['numbers'][0]}-{plan['numbers'][-1]})")
    return found


class _States:
    """The checkpoint of :func:`segment_video`: window states of one chunk on disk,
    and, before its first window, the key frame held with its layers (the state one
    process has when that frame opens a window)."""

    def __init__(self, folder, chunk, key_given):
        self.folder, self.chunk, self.key_given = folder, chunk, key_given

    def save(self, number, state):
        self.folder.save_state(self.chunk.index, number, state)

    def load(self, number):
        if number == self.chunk.key and self.key_given is not None:
            return {"previous": self.key_given,
                    "held_numbers": np.array([number], np.int64),
                    "held_given": self.key_given[None],
                    "notes": np.array([], dtype=str)}
        return self.folder.load_state(self.chunk.index, number)


def run_chunk(output, index, *, device=None, progress=None, wait=False):
    """Compute one chunk of a planned shot (idempotent).

    Parameters
    ----------
    output : str or os.PathLike
        The shot's output folder holding ``farm/plan.json``.
    index : int
        The chunk, from 0.
    device : str, optional
        As :func:`~sss_vfx.segment_image`.
    progress : callable(number, skipped), optional
        Told after each frame of the chunk.
    wait : bool, optional
        When another process runs this chunk (a requeued task whose first attempt
        still runs), wait for it instead of refusing; the chunk is then found finished.

    Returns
    -------
    dict
        ``chunk``, ``frames`` (own frames), ``computed`` (frames computed by this
        call), ``seconds``, ``skipped`` (True when it was already finished).

    Raises
    ------
    OutputError
        No plan, or a missing key frame.
    OptionError
        No such chunk.
    """
    folder = FarmFolder(output)
    plan = folder.read_plan()
    if not 0 <= int(index) < len(plan["chunks"]):
        raise OptionError(f"chunk must be 0-{len(plan['chunks']) - 1} for this shot; "
                          f"got {index}")
    chunk = Chunk.from_dict(plan["chunks"][int(index)])
    chunks = folder.farm / "chunks"
    folder._mkdir(chunks)
    # One process per chunk at a time (sss_vfx.io.folder_lock); other chunks run beside.
    with folder_lock(chunks, wait=wait, name=f"c{chunk.index:04d}.lock"):
        return _run_chunk(folder, plan, chunk, device, progress)


def _run_chunk(folder, plan, chunk, device, progress):
    if folder.is_done(chunk.index):
        log.info("chunk %d is finished already", chunk.index)
        return {"chunk": chunk.index, "frames": chunk.frames, "computed": 0,
                "seconds": 0.0, "skipped": True}
    started = time.perf_counter()
    opts = SegmentationOptions.from_kwargs(**plan["options"])
    key = folder.read_layers(folder.key_path(chunk.key), opts.layers)
    if key is None:
        raise OutputError(f"the key frame {chunk.key} of chunk {chunk.index} is missing "
                          f"from {folder.farm / 'keys'}; rerun the plan step")
    compute = Compute.resolve(device)
    prepared = _chunk_inputs(folder, plan, chunk, compute)
    targets = _targets(folder, chunk)
    # The first chunk starts where one process starts, so it gives the planned first
    # frame itself; the others start from their planned key frame.
    anchored = chunk.index > 0
    shape = working_size(key[0].shape[:2], opts.max_pixels)
    states = _States(folder, chunk,
                     downsample_layers(key[0], shape) if anchored else None)

    def finished(number):
        if number == chunk.key and anchored:
            return key[0]
        found = folder.read_layers(targets[number], opts.layers)
        return None if found is None else found[0]

    computed = 0
    for result in segment_video(prepared, finished=finished, checkpoint=states,
                                device=compute, colours=plan["colours"]):
        if not result.skipped:
            folder.write_layers(targets[result.number], result.alphas, result.colours,
                                _attributes(result, chunk), chunk=chunk.index,
                                header=prepared.shot.plates.header(result.number))
            computed += 1
        if progress is not None:
            progress(result.number, result.skipped)
    summary = {"chunk": chunk.index, "frames": chunk.frames, "computed": computed,
               "seconds": round(time.perf_counter() - started, 3), "skipped": False}
    folder.mark_done(chunk.index, summary)
    return summary


def _chunk_inputs(folder, plan, chunk, compute):
    """The chunk's frames with the plan's semantic inputs, options and feature
    projection: the same objects, in the same order, and the same features' colours
    as the plan fixed for the whole shot."""
    inputs = plan["inputs"]
    projection = folder.load_projection()
    if projection is None and inputs["features"] not in (None, "person"):
        # Fitted on the chunk's own first frame, the features' classes and colours
        # could come out in another order than the other chunks'.
        raise OutputError(f"the shot's feature projection is missing from {folder.farm}; "
                          "rerun the plan step")
    objects = tuple(inputs.get("objects", ()))
    names = inputs.get("guide_names")
    if objects and names is None and "guides" in inputs:
        # The shot's objects (an ID pass's labels over the whole shot) as literal names.
        names = ",".join(literal_pattern(o) for o in (
            objects[:-1] if objects[-1:] == ("person",) else objects))
    prepared = prepare_shot(
        inputs["source"], inputs["features"], guides=inputs.get("guides"),
        guide_names=names, feature_model=inputs.get("feature_model"),
        mean=inputs.get("feature_model_mean"), std=inputs.get("feature_model_std"),
        cache=model_cache(folder, inputs),
        options=SegmentationOptions.from_kwargs(**plan["options"]),
        temporal=TemporalOptions(**plan["temporal"]),
        compute=model_compute(compute, inputs.get("feature_model")),
        frames=(chunk.key, chunk.last), start=inputs["start"],
        allow_missing=inputs["allow_missing"],
        plate=PlateOptions(**inputs.get("plate", {})), projection=projection)
    found = prepared.objects
    if tuple(found[:-1]) != objects:
        raise OutputError(f"chunk {chunk.index} finds the objects {', '.join(found[:-1])} "
                          f"but the plan fixed {', '.join(objects)}; plan the shot again")
    return prepared


def _targets(folder, chunk):
    """Frame number -> the file the chunk writes it to."""
    own = {n: folder.frame_path(n) for n in range(chunk.first, chunk.last + 1)}
    own.update({n: folder.join_path("tail", n) for n in chunk.tail})
    own.update({n: folder.join_path("head", n) for n in chunk.joins})
    return own


def _attributes(result, chunk):
    return {"sss_version": __version__, "sss_frame": str(result.number),
            "sss_farm": f"chunk {chunk.index}"}
