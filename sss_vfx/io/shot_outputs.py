"""The output folder of a shot: per-frame files, and what a resumed run may keep.

A shot's folder holds ``layers.NNNN.exr`` per frame (the input's frame numbers, at least
four digits), ``mattes/sss_layerNN.NNNN.png`` on request, ``preview.mp4`` and
``manifest.json``, and ``state/window.NNNN.npz``: the window state after frame NNNN, from
which a resumed run restarts so that it gives the same bits as an uninterrupted one
(the two newest are kept: a few MB each). The manifest carries a run key, a hash of the inputs and every
parameter: a rerun with the same key keeps the frames whose EXR exists, any other
rerun must say ``force`` so that no result is silently replaced.
"""

import hashlib
import json
import os
import pathlib
import zipfile

import numpy as np

from sss_vfx.errors import InputError, OutputError
from sss_vfx.io.atomic import atomic_path
from sss_vfx.io.exr import layer_names, read_layers_exr, write_layers_exr
from sss_vfx.io.outputs import claim_output_dir, write_matte_png

__all__ = ["ShotOutputs", "WindowStates", "frame_name", "run_key"]

MANIFEST = "manifest.json"
MATTES = "mattes"
STATES = "state"
#: States kept: the newest may be saved before the frames it follows are written.
STATES_KEPT = 2


def frame_name(stem, number, suffix):
    """``stem.NNNN.suffix`` with the frame number padded to at least four digits."""
    return f"{stem}.{number:04d}{suffix}" if number >= 0 else f"{stem}.{number}{suffix}"


def _file_identity(path):
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [os.path.abspath(path), stat.st_size, int(stat.st_mtime)]


def run_key(inputs, parameters):
    """A hash of what decides a shot's results.

    Parameters
    ----------
    inputs : dict
        JSON-able description of the source and features (paths, frame range, start);
        a path that names an existing file also contributes its size and time stamp.
    parameters : dict
        Every parameter of the method.

    Returns
    -------
    str, 16 hex digits
    """
    described = {key: (_file_identity(value) or value) if isinstance(value, str) else value
                 for key, value in inputs.items()}
    text = json.dumps({"inputs": described, "parameters": parameters}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ShotOutputs:
    """The output folder of one shot.

    Parameters
    ----------
    directory : str or os.PathLike
        Created if needed.
    key : str
        The run key of this run (:func:`run_key`).
    layers : int
        K, the layer count of every frame.
    force : bool
        Recompute every frame even where results exist.
    pngs : bool
        Also write one 16-bit PNG matte per layer and frame.
    wait : bool
        Wait for another run holding the folder instead of refusing.

    Attributes
    ----------
    previous : dict or None
        The manifest of the run this one resumes (same run key), else None.
    resuming : bool
        ``previous`` is not None: finished frames are kept.
    states : WindowStates
        The window states, the ``checkpoint`` of
        :func:`~sss_vfx.pipeline.video.segment_video`.

    Raises
    ------
    OutputError
        The folder cannot be written, or holds results of another run and ``force``
        is not set.
    """

    def __init__(self, directory, key, layers, *, force=False, pngs=False, wait=False):
        # With force, results are not removed: a frame is replaced when rewritten.
        self.directory, self.previous = claim_output_dir(
            directory, key, [] if force else ["layers.*.exr"], force=force, wait=wait)
        self.resuming = self.previous is not None
        self.key = key
        self.names = layer_names(layers)
        self.pngs = pngs
        self.states = WindowStates(self.directory / STATES, key, resuming=self.resuming)

    def exr_path(self, number):
        """Path of a frame's layers EXR."""
        return self.directory / frame_name("layers", number, ".exr")

    def finished(self, number):
        """A finished frame's layers ``(H, W, K)`` float32 when resuming, else None."""
        path = self.exr_path(number)
        if not self.resuming or not path.exists():
            return None
        try:
            result = read_layers_exr(path)
        except InputError:
            return None      # unreadable: recompute it
        if result.layer_names != self.names:
            return None
        return result.alphas

    def write_frame(self, number, alphas, attributes, *, colours=None, header=None):
        """Write a frame's EXR (and PNG mattes); each file atomically.

        Parameters
        ----------
        number : int
        alphas : (H, W, K) float array
        attributes : dict of str to str, extra EXR header attributes
        colours : (H, W, K, 3) float array, optional
            Premultiplied layer colours, stored as ``sss_layerNN.R/.G/.B``.
        header : PlateHeader, optional
            The frame's windows, pixel aspect, time code, frame rate, colour space.

        Returns
        -------
        list of str, the files written, relative to the folder
        """
        written = [self.exr_path(number).name]
        if self.pngs:
            mattes = self.directory / MATTES
            try:
                mattes.mkdir(exist_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot create {mattes}: {exc.strerror}; check the "
                                  "folder's permissions") from exc
            for k, name in enumerate(self.names):
                path = mattes / frame_name(name, number, ".png")
                write_matte_png(path, alphas[:, :, k])
                written.append(str(pathlib.Path(MATTES) / path.name))
        # The EXR last: its presence marks the frame finished for a resumed run.
        write_layers_exr(self.exr_path(number), alphas, colours=colours,
                         attributes=attributes, header=header)
        return written


class WindowStates:
    """The window states of a shot, one ``.npz`` per window boundary: the checkpoint of
    :func:`~sss_vfx.pipeline.video.segment_video`.

    Parameters
    ----------
    directory : pathlib.Path
        The ``state`` folder, created on the first save.
    key : str
        The run key; a state saved under another key is never loaded.
    resuming : bool
        Whether states already in the folder may be loaded.
    """

    def __init__(self, directory, key, *, resuming):
        self.directory = pathlib.Path(directory)
        self.key = key
        self.resuming = resuming
        self.saved = []

    def path(self, number):
        """The state file saved after frame ``number``."""
        return self.directory / frame_name("window", number, ".npz")

    def save(self, number, state):
        """Write the state after frame ``number`` atomically; drop the older ones.

        Parameters
        ----------
        number : int
        state : dict of str to ndarray
            Numeric or str arrays (no objects).

        Raises
        ------
        OutputError
            The file cannot be written.
        """
        try:
            self.directory.mkdir(exist_ok=True)
            with atomic_path(self.path(number)) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, run_key=np.array(self.key), **state)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path(number)}: "
                              f"{exc.strerror or exc}; free some space or fix the "
                              "folder's permissions") from exc
        self.saved = [n for n in self.saved if n != number] + [number]
        for old in self.saved[:-STATES_KEPT]:
            try:
                self.path(old).unlink()
            except OSError:
                pass     # left over, harmless: only a matching run key is loaded
        self.saved = self.saved[-STATES_KEPT:]

    def load(self, number):
        """The state saved after frame ``number`` by a run with the same key, or None
        (not resuming, none saved, unreadable)."""
        path = self.path(number)
        if not self.resuming or not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as content:
                state = {name: content[name] for name in content.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            return None   # unreadable: restart from an earlier state
        if str(state.pop("run_key", "")) != self.key:
            return None
        return state
