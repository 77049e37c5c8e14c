"""The files written beside the layers EXR: mattes, a preview and the manifest.

Every file is written atomically (see :mod:`sss_vfx.io.atomic`), so an interrupted
render never leaves a truncated PNG or JSON behind.
"""

import colorsys
import json
import os
import pathlib
import tempfile

import cv2
import numpy as np

from sss_vfx.errors import InputError, OptionError, OutputError
from sss_vfx.io.atomic import atomic_path, atomic_write_text
from sss_vfx.io.exr import check_alphas
from sss_vfx.io.folder_lock import hold_folder
from sss_vfx.io.images import as_working_image, require_file

__all__ = [
    "MANIFEST_SCHEMA",
    "claim_output_dir",
    "layer_palette",
    "prepare_output_dir",
    "read_manifest",
    "render_preview",
    "write_manifest",
    "write_matte_png",
    "write_preview_png",
]

MANIFEST_SCHEMA = "SssManifest.1"
# Hand-picked, well separated in RGB (min pairwise distance > 0.35); colours beyond
# these step the hue by the golden ratio, which never repeats.
BASE_PALETTE = np.array([
    (0.90, 0.10, 0.10),  # red
    (0.10, 0.70, 0.20),  # green
    (0.15, 0.35, 0.95),  # blue
    (1.00, 0.85, 0.05),  # yellow
    (0.80, 0.15, 0.85),  # magenta
    (0.05, 0.85, 0.90),  # cyan
    (1.00, 0.50, 0.00),  # orange
    (0.45, 0.20, 0.05),  # brown
    (0.55, 1.00, 0.35),  # lime
    (1.00, 0.60, 0.80),  # pink
    (0.35, 0.05, 0.55),  # purple
    (0.00, 0.45, 0.45),  # teal
], dtype=np.float32)
GOLDEN_RATIO_CONJUGATE = 0.6180339887498949
OVERLAY_WEIGHT = 0.7
LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)  # Rec. 709


def prepare_output_dir(path):
    """Create the output directory if needed and prove it is writable.

    Parameters
    ----------
    path : str or os.PathLike
        The directory; missing parents are created.

    Returns
    -------
    pathlib.Path
        The directory.

    Raises
    ------
    OutputError
        If the path is a file, cannot be created, or a file cannot be created in it.
    """
    if not os.fspath(path).strip():
        raise OutputError("the output directory is an empty name; give a folder with -o "
                          "(e.g. -o out)")
    directory = pathlib.Path(path)

    def refuse(reason):
        return OutputError(
            f"cannot write to output directory {directory}: {reason}; "
            "choose another -o or fix its permissions"
        )

    if directory.exists() and not directory.is_dir():
        raise refuse("it exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".sss-write-test-", dir=directory)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from exc
    return directory


def claim_output_dir(path, key, results, *, force=False, wait=False):
    """Prepare an output folder for a run without silently mixing two runs' results.

    The folder may hold results (files matching ``results``) only of a run with the
    same key, written down in its ``manifest.json``; with ``force`` any results are
    replaced: files matching ``results`` are removed first, so none from a previous
    run (e.g. one with more layers) is left beside the new ones.

    Parameters
    ----------
    path : str or os.PathLike
        The folder; created if needed.
    key : str
        The run key of this run (a hash of its inputs and parameters).
    results : sequence of str
        Glob patterns of the result files, relative to the folder.
    force : bool
        Replace another run's results.
    wait : bool
        When another run holds the folder (:mod:`~sss_vfx.io.folder_lock`), wait for
        it instead of refusing.

    Returns
    -------
    (pathlib.Path, dict or None)
        The folder, and the manifest of the run with the same key whose results it
        holds (None when there is none, or with ``force``).

    Raises
    ------
    OutputError
        The folder cannot be written, another run holds it (``wait`` not set), or it
        holds another run's results (or results without a readable manifest) and
        ``force`` is not set.
    """
    directory = prepare_output_dir(path)
    # One run at a time: what follows reads and replaces the folder's results.
    hold_folder(directory, wait=wait)
    previous = sorted(p for pattern in results for p in directory.glob(pattern))
    if force:
        for stale in previous:
            try:
                stale.unlink()
            except OSError as exc:
                raise OutputError(f"cannot remove {stale} of a previous run: "
                                  f"{exc.strerror or exc}; fix the folder's permissions "
                                  "or choose another output folder") from exc
        return directory, None
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        if previous:
            raise OutputError(
                f"{directory} already holds {len(previous)} result file(s) "
                f"({previous[0].name}...) but no manifest.json, so they cannot be "
                "checked; pass --force to replace them or choose another output folder")
        return directory, None
    try:
        manifest = read_manifest(manifest_path)
    except InputError as exc:
        raise OutputError(f"{exc}; pass --force to recompute or choose another "
                          "output folder") from exc
    if manifest.get("run_key") != key:
        raise OutputError(
            f"{directory} holds the results of another input or other parameters "
            f"(run key {manifest.get('run_key')}, this run {key}); pass --force "
            "to recompute them or choose another output folder")
    return directory, manifest


def write_matte_png(path, alpha):
    """Write one matte as a 16-bit single-channel PNG, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.png``; its directory must exist.
    alpha : array_like, shape (H, W)
        Matte in [0, 1] (round-off up to 1e-3 outside is clipped); stored as
        ``round(alpha * 65535)``.

    Raises
    ------
    OptionError
        If `alpha` is not 2-D, holds NaN/inf or is out of range.
    OutputError
        If the file cannot be written.
    """
    alpha = np.asarray(alpha)
    if alpha.ndim != 2:
        raise OptionError(f"alpha must have shape (H, W), got {alpha.shape}; pass one matte")
    alpha = check_alphas(alpha[:, :, np.newaxis], name="alpha")[:, :, 0]
    samples = np.round(alpha.astype(np.float64) * 65535.0).astype(np.uint16)
    _write_encoded(path, samples)


def layer_palette(k):
    """Return `k` deterministic, clearly distinct display colours.

    Parameters
    ----------
    k : int
        Number of colours, >= 0.

    Returns
    -------
    ndarray, shape (k, 3), float32
        RGB in [0, 1]: twelve hand-picked colours, then golden-ratio hue steps.

    Raises
    ------
    OptionError
        If `k` is not a non-negative integer.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise OptionError(f"palette size must be a non-negative integer, got {k!r}")
    k = int(k)
    colours = [BASE_PALETTE[i] for i in range(min(k, len(BASE_PALETTE)))]
    for step in range(k - len(colours)):
        hue = (0.05 + step * GOLDEN_RATIO_CONJUGATE) % 1.0
        # Alternating saturation and value keeps neighbouring hues apart too.
        saturation = 0.85 if step % 2 == 0 else 0.55
        value = 0.95 if step % 3 != 2 else 0.7
        colours.append(colorsys.hsv_to_rgb(hue, saturation, value))
    return np.array(colours, dtype=np.float32).reshape(k, 3)


def render_preview(image, alphas):
    """Render the input beside a colour-coded view of the soft segments.

    Parameters
    ----------
    image : array_like, shape (H, W, 3)
        The working image, float in [0, 1] (or uint8/uint16).
    alphas : array_like, shape (H, W, K)
        Mattes in [0, 1].

    Returns
    -------
    ndarray, shape (H, 2 W, 3), uint8
        Left: the image. Right: ``0.7 * sum_k alpha_k palette_k + 0.3 * luminance``
        (Rec. 709 luminance of the image, grey), so image structure shows through.

    Raises
    ------
    InputError
        If `image` is not a valid working image.
    OptionError
        If `alphas` has the wrong shape, NaN/inf or values out of range.
    """
    image = as_working_image(image)
    alphas = check_alphas(alphas)
    if alphas.shape[:2] != image.shape[:2]:
        raise OptionError(
            f"alphas are {alphas.shape[1]}x{alphas.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}; pass mattes of the image's size"
        )
    palette = layer_palette(alphas.shape[2])
    overlay = alphas @ palette      # not tensordot: 100x slower on (H, W, K) @ (K, 3)
    luminance = (image @ LUMA_WEIGHTS)[:, :, np.newaxis]
    right = OVERLAY_WEIGHT * overlay + (1.0 - OVERLAY_WEIGHT) * luminance
    both = np.concatenate([image, right], axis=1)
    return np.round(np.clip(both, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_preview_png(path, image, alphas):
    """Render :func:`render_preview` and write it as an 8-bit RGB PNG, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.png``; its directory must exist.
    image : array_like, shape (H, W, 3)
        The working image.
    alphas : array_like, shape (H, W, K)
        Mattes in [0, 1].

    Raises
    ------
    InputError, OptionError
        As :func:`render_preview`.
    OutputError
        If the file cannot be written.
    """
    preview = render_preview(image, alphas)
    _write_encoded(path, np.ascontiguousarray(preview[:, :, ::-1]))


def write_manifest(path, manifest):
    """Write the run's manifest as JSON with the ``SssManifest.1`` schema label.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, usually ``manifest.json``; its directory must exist.
    manifest : dict
        JSON-able content with str keys; NumPy scalars and arrays, paths and sets
        are converted. Not modified; its ``schema`` key, if any, is replaced.

    Raises
    ------
    OptionError
        If the manifest holds something JSON cannot represent (or NaN/inf).
    OutputError
        If the file cannot be written.
    """
    if not isinstance(manifest, dict):
        raise OptionError(f"manifest must be a dict, got {type(manifest).__name__}")
    content = {**manifest, "schema": MANIFEST_SCHEMA}
    try:
        text = json.dumps(content, sort_keys=True, indent=2, default=_jsonable,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OptionError(
            f"manifest cannot be written as JSON: {exc}; pass numbers, strings, "
            "lists and dicts with str keys"
        ) from exc
    atomic_write_text(path, text + "\n")


def read_manifest(path):
    """Read a manifest written by :func:`write_manifest`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``manifest.json`` file.

    Returns
    -------
    dict
        The manifest, ``schema`` included.

    Raises
    ------
    InputError
        If the file is missing, not JSON, or has no ``SssManifest`` schema label.
    """
    path = require_file(path, what="manifest")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read manifest {path}: {exc}; render it again") from exc
    schema = content.get("schema") if isinstance(content, dict) else None
    if not isinstance(schema, str) or not schema.startswith("SssManifest."):
        raise InputError(
            f"{path} has no SssManifest schema label, so it is not an sss_vfx "
            "manifest; give the manifest.json written by sss-vfx"
        )
    return content


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _write_encoded(path, samples):
    final = pathlib.Path(path)
    ok, encoded = cv2.imencode(".png", samples)
    if not ok:
        raise OutputError(f"cannot encode {final} as PNG; report this as a bug")
    with atomic_path(final) as tmp:
        try:
            tmp.write_bytes(encoded.tobytes())
        except OSError as exc:
            raise OutputError(
                f"cannot write {final}: {exc.strerror or exc}; "
                "choose another -o or fix its permissions"
            ) from exc
