"""The server's cache of computed shots, on disk.

A shot is keyed by the content hash of every frame of the clip range, the frame size
and range, every parameter and the package version (:func:`shot_key`): a changed
parameter or source frame is another key, so it is computed afresh. A shot is
written into a hidden folder and renamed into place only when every frame is there,
so a crash or a failed computation never leaves a partial shot under a valid key.

Per frame, ``<number>.layers.npy`` holds ``(K, H, W, 4)`` float16: layer k's
premultiplied colour in R, G, B and its matte in A (what ``sss-vfx video`` stores in
its half-float EXR), and ``<number>.preview.npy`` the ``(H, W, 3)`` uint8 colour-coded
view of all layers (what its preview video shows).
"""

import hashlib
import json
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from sss_vfx.version import __version__

__all__ = ["ShotCache", "shot_key"]


def shot_key(request, options):
    """The cache key of `request`'s shot computed with server `options` (a dict)."""
    identity = {"version": __version__, "first": request.first, "last": request.last,
                "width": request.width, "height": request.height,
                "hashes": list(request.hashes), "layers": request.layers,
                "temporal": request.temporal, "linear": request.linear,
                "colourspace": request.colourspace,
                "max_pixels": request.max_pixels,
                "device": request.device, "options": sorted(options.items())}
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class ShotCache:
    """Computed shots in folder `root`, at most `limit_bytes` of them (oldest go first).

    Parameters
    ----------
    root : str or os.PathLike
    limit_bytes : int
    """

    def __init__(self, root, limit_bytes):
        self.root = Path(root)
        self.limit_bytes = int(limit_bytes)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def complete(self, key):
        """Whether the shot `key` is fully computed."""
        return (self.root / key / "shot.json").is_file()

    def output(self, key, number, output_layer):
        """Frame `number` of shot `key` as the plugin shows it.

        Returns
        -------
        (H, W, 4) float32 ndarray, top row first
            ``output_layer`` 0: the colour-coded preview with alpha 1; k: layer k's
            premultiplied RGBA.
        """
        folder = self.root / key
        if output_layer == 0:
            preview = np.load(folder / f"{number}.preview.npy")
            rgba = np.ones(preview.shape[:2] + (4,), np.float32)
            rgba[:, :, :3] = preview.astype(np.float32) / 255.0
            return rgba
        layers = np.load(folder / f"{number}.layers.npy", mmap_mode="r")
        return np.asarray(layers[output_layer - 1], dtype=np.float32)

    def writer(self, key):
        """A :class:`ShotWriter` that fills shot `key`."""
        return ShotWriter(self, key)

    def drop(self, key):
        """Forget shot `key` (a damaged entry)."""
        shutil.rmtree(self.root / key, ignore_errors=True)

    def remove_partials(self):
        """Remove shots a stopped server left half-written (call with the lock held)."""
        for folder in self.root.glob(".*.partial"):
            shutil.rmtree(folder, ignore_errors=True)

    def evict(self, keep=None):
        """Remove the least recently written shots beyond the size limit."""
        shots = []
        for folder in self.root.iterdir():
            if folder.name.startswith(".") or not folder.is_dir() or folder.name == keep:
                continue
            size = sum(f.stat().st_size for f in folder.iterdir())
            shots.append((folder.stat().st_mtime, size, folder))
        total = sum(size for _, size, _ in shots)
        if keep and (self.root / keep).is_dir():
            total += sum(f.stat().st_size for f in (self.root / keep).iterdir())
        for _, size, folder in sorted(shots):
            if total <= self.limit_bytes:
                break
            shutil.rmtree(folder, ignore_errors=True)
            total -= size


class ShotWriter:
    """Writes one shot's frames into a hidden folder; :meth:`commit` publishes it."""

    def __init__(self, cache, key):
        self.cache, self.key = cache, key
        self.folder = cache.root / f".{key}.{uuid.uuid4().hex}.partial"
        self.folder.mkdir(mode=0o700)
        self.numbers = []

    def add(self, number, alphas, colours, preview):
        """Store one frame.

        Parameters
        ----------
        number : int
        alphas : (H, W, K) float32
        colours : (H, W, K, 3) float32
            Premultiplied layer colours.
        preview : (H, W, 3) uint8
        """
        layers = np.concatenate([colours, alphas[:, :, :, np.newaxis]], axis=3)
        np.save(self.folder / f"{number}.layers.npy",
                np.ascontiguousarray(layers.transpose(2, 0, 1, 3), dtype=np.float16))
        np.save(self.folder / f"{number}.preview.npy", np.ascontiguousarray(preview))
        self.numbers.append(number)

    def commit(self, meta):
        """Publish the shot under its key, with `meta` (a dict) in ``shot.json``."""
        (self.folder / "shot.json").write_text(json.dumps(
            dict(meta, frames=self.numbers, written=time.time())), encoding="utf-8")
        final = self.cache.root / self.key
        try:
            self.folder.rename(final)
        except OSError:             # computed twice: the first one stays
            self.abort()
        self.cache.evict(keep=self.key)

    def abort(self):
        """Throw away what was written."""
        shutil.rmtree(self.folder, ignore_errors=True)
