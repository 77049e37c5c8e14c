"""The final step: one layer order, the joins cross-faded, the manifest.

Each chunk keeps its layers' identity from frame to frame; the key frames make chunks
start in the same order, but two key frames far apart can be matched wrongly. So the
final step matches each chunk's layers to the previous chunk's on the join frames both
computed (the same frames: an unambiguous match), renumbers the chunk's files when they
differ (each file rewritten atomically, tagged with the order applied, so a rerun or a
resumed final step never renumbers twice), then cross-fades the joins.

On each join frame the previous chunk's layers (``tail``) fade into the next chunk's
(``head``), ``w = j / handles`` for the j-th frame after the key frame, so the shot
passes from one chunk to the next over ``handles - 1`` frames as it passes from one
window to the next inside a chunk. Premultiplied colours fade the same way (they still
sum to the plate). A join where the two chunks disagree on the layer order (their best
match is not the identity) is reported in the manifest as a swap.
"""

import json
import logging
import platform

import numpy as np

from sss_vfx.errors import OutputError
from sss_vfx.farm.chunks import Chunk
from sss_vfx.farm.layout import FarmFolder
from sss_vfx.io.exr import layer_names, read_layers_exr
from sss_vfx.io.outputs import write_manifest
from sss_vfx.segments.identity import match_layers
from sss_vfx.version import __version__

log = logging.getLogger("sss_vfx")

__all__ = ["finalise_shot"]


ORDER_ATTRIBUTE = "sss_farm_order"


def finalise_shot(output):
    """Put every chunk in the first chunk's layer order, write the join frames and
    ``manifest.json`` of a chunked shot (idempotent).

    Parameters
    ----------
    output : str or os.PathLike
        The shot's output folder; every chunk must be finished.

    Returns
    -------
    dict, the manifest (``reordered_chunks``: chunks whose layers were renumbered to
    match the chunk before on their shared frames; ``join_swaps``: join frames where
    the two chunks still disagree, none unless a join is ambiguous)

    Raises
    ------
    OutputError
        A chunk is not finished, or a join file is missing.
    """

    folder = FarmFolder(output)
    plan = folder.read_plan()
    chunks = [Chunk.from_dict(c) for c in plan["chunks"]]
    waiting = [c.index for c in chunks if not folder.is_done(c.index)]
    if waiting:
        raise OutputError(f"chunk(s) {', '.join(map(str, waiting))} of {output} are not "
                          "finished; run them first (sss-vfx farm chunk OUT --chunk N)")
    layers = plan["options"]["layers"]
    orders = _chunk_orders(folder, chunks, layers)
    for chunk, order in zip(chunks, orders):
        for path in _chunk_files(folder, chunk):
            _reorder(folder, path, order, layers)
    swaps = []
    for chunk in chunks:
        for j, number in enumerate(chunk.joins, start=1):
            if _join_frame(folder, number, j / plan["handles"], layers, __version__):
                swaps.append(number)
    missing = [n for n in plan["numbers"] if not folder.frame_path(n).exists()]
    if missing:
        raise OutputError(f"frames {missing[:5]} of {output} are missing although their "
                          "chunks are marked finished; delete farm/chunks/*.done.json of "
                          "those chunks and rerun them")
    if swaps:
        log.warning("layer order differs between chunks at frames %s", swaps)
    summaries = [json.loads(folder.done_path(c.index).read_text()) for c in chunks]
    manifest = {"command": "farm", "version": __version__, "inputs": plan["inputs"],
                "parameters": {**plan["options"], **plan["temporal"],
                               "colours": plan["colours"],
                               "chunk_frames": plan["chunk_frames"],
                               "handles": plan["handles"]},
                "run_key": plan["run_key"], "layers": layer_names(layers),
                "colours": plan["colours"], "status": "complete",
                "frames": [plan["numbers"][0], plan["numbers"][-1]],
                "frame_count": len(plan["numbers"]), "missing_frames": plan["missing_frames"],
                "chunks": len(chunks), "join_swaps": swaps,
                "reordered_chunks": [c.index for c, o in zip(chunks, orders)
                                     if list(o) != list(range(layers))],
                "chunk_summaries": summaries,
                "outputs": ["layers.%04d.exr", "manifest.json"],
                "platform": {"python": platform.python_version(),
                             "numpy": np.__version__, "machine": platform.machine()}}
    write_manifest(folder.directory / "manifest.json", manifest)
    return manifest


def _chunk_files(folder, chunk):
    own = [folder.frame_path(n) for n in range(chunk.first, chunk.last + 1)
           if n not in chunk.tail]
    return ([p for p in own if p.exists()]
            + [folder.join_path("tail", n) for n in chunk.tail]
            + [folder.join_path("head", n) for n in chunk.joins])


def _original(folder, path, layers):
    """A chunk file's ``(alphas, colours)`` in the chunk's own layer order, and the
    order applied to it so far."""
    found = read_layers_exr(path) if path.exists() else None
    if found is None or found.layer_names != layer_names(layers):
        raise OutputError(f"{path} is missing or unreadable; rerun the chunk that "
                          "writes it (delete its farm/chunks/cNNNN.done.json)")
    applied = np.array([int(v) for v in found.header.get(
        ORDER_ATTRIBUTE, ",".join(map(str, range(layers)))).split(",")])
    back = np.argsort(applied)
    colours = None if found.colours is None else found.colours[:, :, back]
    return found.alphas[:, :, back], colours, applied, found.header


def _chunk_orders(folder, chunks, layers):
    """Per chunk, the permutation into the first chunk's order: each chunk's layers
    matched to the chunk before's on the frames both computed (its joins)."""
    orders = [np.arange(layers)]
    for chunk in chunks[1:]:
        tail = [_original(folder, folder.join_path("tail", n), layers)[0]
                for n in chunk.joins]
        head = [_original(folder, folder.join_path("head", n), layers)[0]
                for n in chunk.joins]
        if not tail:
            orders.append(orders[-1])
            continue
        step = match_layers(np.concatenate([t.reshape(-1, layers) for t in tail]),
                            np.concatenate([h.reshape(-1, layers) for h in head]))
        orders.append(step[orders[-1]])
    return orders


def _reorder(folder, path, order, layers):
    """Rewrite a chunk file in ``order`` (from the chunk's own), unless it is."""
    alphas, colours, applied, header = _original(folder, path, layers)
    if np.array_equal(applied, order):
        return
    attributes = {k: v for k, v in header.items() if k.startswith("sss_")
                  and k != "sss_layers"}
    attributes[ORDER_ATTRIBUTE] = ",".join(map(str, order))
    folder.write_layers(path, alphas[:, :, order],
                        None if colours is None else colours[:, :, order], attributes,
                        header=read_layers_exr(path).plate_header)


def _join_frame(folder, number, weight, layers, version):
    """Fade ``tail`` into ``head`` on one frame; True when their layer orders differ."""
    tail = folder.read_layers(folder.join_path("tail", number), layers)
    head = folder.read_layers(folder.join_path("head", number), layers)
    if tail is None or head is None:
        raise OutputError(f"the join files of frame {number} are missing from "
                          f"{folder.farm / 'joins'}; rerun the chunks around it")
    k = tail[0].shape[2]
    swapped = bool(np.any(match_layers(tail[0].reshape(-1, k), head[0].reshape(-1, k))
                          != np.arange(k)))
    path = folder.frame_path(number)
    if path.exists():
        return swapped
    alphas = (1.0 - weight) * tail[0] + weight * head[0]
    colours = None
    if tail[1] is not None and head[1] is not None:
        colours = (1.0 - weight) * tail[1] + weight * head[1]
    folder.write_layers(path, alphas.astype(np.float32),
                        None if colours is None else colours.astype(np.float32),
                        {"sss_version": version, "sss_frame": str(number),
                         "sss_farm": f"join w={weight:.3f}"},
                        header=read_layers_exr(folder.join_path("tail", number)).plate_header)
    return swapped
