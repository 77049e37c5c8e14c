"""The files of a chunked shot in its output folder.

Everything a step needs from another is a file here, so steps run on any machine that
mounts the folder::

    OUT/layers.NNNN.exr                 final frames (what ``sss-vfx video`` writes)
    OUT/manifest.json                   written by the final step
    OUT/farm/plan.json                  the plan: source, options, chunks ("SssFarmPlan.1")
    OUT/farm/keys/key.NNNN.exr          key-frame layers from the planning pass
    OUT/farm/projection.npz             how the shot's features map to colours
    OUT/farm/joins/tail.NNNN.exr        a chunk's own frames the next chunk's joins cover
    OUT/farm/joins/head.NNNN.exr        a chunk's joins (frames before its own)
    OUT/farm/chunks/cNNNN/state.NNNN.npz  window states of a running chunk (exact resume)
    OUT/farm/chunks/cNNNN.done.json     marks a finished chunk
    OUT/farm/chunks/cNNNN.journal       one line per frame file written, for audits

Every file is written atomically: a killed step leaves whole files or none.
"""

import dataclasses
import json
import os
import pathlib
import shutil

import numpy as np

from sss_vfx.errors import InputError, OutputError
from sss_vfx.features.preprocess import FeatureProjection
from sss_vfx.io.atomic import atomic_path, atomic_write_text
from sss_vfx.io.exr import layer_names, read_layers_exr, write_layers_exr
from sss_vfx.io.shot_outputs import frame_name

__all__ = ["PLAN_SCHEMA", "FarmFolder"]

PLAN_SCHEMA = "SssFarmPlan.1"


class FarmFolder:
    """Paths and atomic reads and writes of a chunked shot's folder.

    Parameters
    ----------
    directory : str or os.PathLike
        The shot's output folder.
    """

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.farm = self.directory / "farm"

    # ------------------------------------------------------------------ paths
    def frame_path(self, number):
        return self.directory / frame_name("layers", number, ".exr")

    def key_path(self, number):
        return self.farm / "keys" / frame_name("key", number, ".exr")

    def join_path(self, side, number):
        return self.farm / "joins" / frame_name(side, number, ".exr")

    def state_path(self, chunk, number):
        return self.farm / "chunks" / f"c{chunk:04d}" / frame_name("state", number, ".npz")

    def done_path(self, chunk):
        return self.farm / "chunks" / f"c{chunk:04d}.done.json"

    def journal_path(self, chunk):
        return self.farm / "chunks" / f"c{chunk:04d}.journal"

    @property
    def plan_path(self):
        return self.farm / "plan.json"

    # ------------------------------------------------------------------ plan
    def read_plan(self):
        """The plan dict; OutputError naming the plan step when there is none."""
        try:
            plan = json.loads(self.plan_path.read_text())
        except FileNotFoundError:
            raise OutputError(f"{self.directory} has no farm plan ({self.plan_path}); run "
                              "the plan step first (sss-vfx farm plan)") from None
        except (OSError, ValueError) as exc:
            raise OutputError(f"cannot read {self.plan_path}: {exc}; rerun the plan "
                              "step with force") from exc
        if plan.get("schema") != PLAN_SCHEMA:
            raise OutputError(f"{self.plan_path} is not a {PLAN_SCHEMA} plan; rerun the "
                              "plan step with force")
        return plan

    def write_plan(self, plan):
        self._mkdir(self.farm)
        atomic_write_text(self.plan_path, json.dumps(plan, indent=1, sort_keys=True))

    # ------------------------------------------------------------------ frames
    def read_layers(self, path, layers):
        """``(alphas, colours)`` of a layers EXR with ``layers`` layers, or None when
        absent, unreadable or of another layer count (then it is recomputed)."""
        if not path.exists():
            return None
        try:
            result = read_layers_exr(path)
        except InputError:
            return None
        if result.layer_names != layer_names(layers):
            return None
        return result.alphas, result.colours

    def write_layers(self, path, alphas, colours, attributes, *, chunk=None, header=None):
        """Write a layers EXR atomically (with the plate's PlateHeader, if given) and
        note it in the chunk's journal."""
        self._mkdir(path.parent)
        write_layers_exr(path, alphas, colours=colours, attributes=attributes,
                         header=header)
        if chunk is not None:
            self._mkdir(self.journal_path(chunk).parent)
            with open(self.journal_path(chunk), "a") as journal:
                journal.write(f"{path.relative_to(self.directory)}\n")

    # ------------------------------------------------------------------ features
    @property
    def projection_path(self):
        return self.farm / "projection.npz"

    def save_projection(self, projection):
        """Keep the shot's :class:`~sss_vfx.features.preprocess.FeatureProjection`."""
        fields = {name: np.asarray(value if value is not None else np.zeros(0))
                  for name, value in dataclasses.asdict(projection).items()}
        self._mkdir(self.farm)
        with atomic_path(self.projection_path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **fields)

    def load_projection(self):
        """The shot's FeatureProjection, or None when it has no features."""
        try:
            with np.load(self.projection_path, allow_pickle=False) as data:
                fields = {name: data[name] for name in data.files}
        except FileNotFoundError:
            return None
        fields["channels"] = int(fields["channels"])
        for name in ("axes", "class_points"):
            if name in fields and fields[name].size == 0:
                fields[name] = None
        return FeatureProjection(**fields)

    # ------------------------------------------------------------------ states
    def save_state(self, chunk, number, state):
        path = self.state_path(chunk, number)
        self._mkdir(path.parent)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **state)

    def load_state(self, chunk, number):
        path = self.state_path(chunk, number)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError):
            return None

    # ------------------------------------------------------------------ chunks
    def is_done(self, chunk):
        return self.done_path(chunk).exists()

    def mark_done(self, chunk, summary):
        self._mkdir(self.done_path(chunk).parent)
        atomic_write_text(self.done_path(chunk), json.dumps(summary, indent=1))
        shutil.rmtree(self.state_path(chunk, 0).parent, ignore_errors=True)

    def journal(self, chunk):
        """Lines of a chunk's journal (files it wrote, relative to the folder)."""
        try:
            return self.journal_path(chunk).read_text().split()
        except FileNotFoundError:
            return []

    def _mkdir(self, path):
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {path}: {exc.strerror}; check the folder's "
                              "permissions") from exc
