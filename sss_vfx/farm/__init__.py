"""Shots at farm scale: a planning step, chunks that run anywhere in any order, and a
final step that joins them (:mod:`.chunks` for how a shot is cut, :mod:`.layout` for
the files), an Open Job Description template (:mod:`.openjd`) and Dask batches
(:mod:`~sss_vfx.farm.batch`, whose :func:`~sss_vfx.farm.batch.batch` imports Dask
only when called)."""

from sss_vfx.farm.chunk import chunk_for_frames, run_chunk
from sss_vfx.farm.chunks import (
    DEFAULT_CHUNK_FRAMES,
    DEFAULT_HANDLES,
    Chunk,
    chunk_ranges,
)
from sss_vfx.farm.finalise import finalise_shot
from sss_vfx.farm.plan import plan_shot

__all__ = ["DEFAULT_CHUNK_FRAMES", "DEFAULT_HANDLES", "Chunk", "chunk_for_frames",
           "chunk_ranges", "finalise_shot", "plan_shot", "run_chunk"]
