"""Where the pose models live: fetched once from the mediapipe wheel, checked, kept per user.

The BlazePose models (``pose_detection.tflite``, ``pose_landmark_full.tflite``; 9 MB,
Apache-2.0) are not in the sss_vfx package: on first use they are taken out of the
``mediapipe`` 0.10.14 wheel, which ``pip download`` fetches from the package index that
pip is configured for (a studio's mirror or proxy included), then checked against their
SHA-256 and written atomically to a per-user folder. Nothing else of mediapipe is kept.

The folder is ``$SSS_VFX_MODELS`` when set, else ``$XDG_CACHE_HOME/sss_vfx/models``
(``~/.cache/sss_vfx/models``). A farm without access to an index fills it once with
``sss-vfx models fetch --wheel mediapipe-0.10.14-...whl`` (any platform's wheel holds
the same files) or shares a folder that holds them through ``SSS_VFX_MODELS``.
"""

import hashlib
import logging
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

from sss_vfx.errors import FeatureError

__all__ = ["MEDIAPIPE", "POSE_MODELS", "fetch_models", "model_folder", "model_path"]

#: The wheel the models come from (pip requirement).
MEDIAPIPE = "mediapipe==0.10.14"

#: File name -> (SHA-256, path inside the wheel).
POSE_MODELS = {
    "pose_detection.tflite":
        ("9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
         "mediapipe/modules/pose_detection/pose_detection.tflite"),
    "pose_landmark_full.tflite":
        ("e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
         "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"),
}

# One wheel for every machine: the models are the same in all of mediapipe's wheels, and
# naming one lets pip fetch it where this Python has no mediapipe 0.10.14 of its own.
_WHEEL_TARGET = ["--only-binary=:all:", "--python-version", "3.11", "--implementation",
                 "cp", "--platform", "manylinux_2_17_x86_64"]


def model_folder():
    """The folder the pose models are kept in (not created here): ``$SSS_VFX_MODELS``,
    else ``$XDG_CACHE_HOME/sss_vfx/models``, else ``~/.cache/sss_vfx/models``."""
    if os.environ.get("SSS_VFX_MODELS"):
        return pathlib.Path(os.environ["SSS_VFX_MODELS"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(cache) / "sss_vfx" / "models"


def model_path(name, *, fetch=True):
    """The checked file of one pose model, fetched first if the folder lacks it.

    Parameters
    ----------
    name : str
        A key of :data:`POSE_MODELS`.
    fetch : bool
        Fetch the models when missing (else raise).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FeatureError
        If the model is missing and cannot be fetched, or the file there is not the
        expected one; the message says how to provide it.
    """
    digest, _ = POSE_MODELS[name]
    path = model_folder() / name
    if not path.is_file():
        if not fetch:
            raise FeatureError(f"the pose model {name} is not in {model_folder()}; run "
                               "'sss-vfx models fetch' (or set SSS_VFX_MODELS to a folder "
                               "that holds it)")
        fetch_models()
    if _checked_digest(path) != digest:
        raise FeatureError(f"{path} is not MediaPipe's {name} (its SHA-256 differs); "
                           "delete it and run 'sss-vfx models fetch'")
    return path


def fetch_models(*, wheel=None, folder=None, log=None):
    """Take the pose models out of the mediapipe wheel into the model folder.

    Parameters
    ----------
    wheel : str or os.PathLike, optional
        A ``mediapipe-0.10.14-*.whl`` already downloaded; else pip downloads one.
    folder : str or os.PathLike, optional
        Where to write them (default :func:`model_folder`).
    log : callable, optional
        Called with one line of progress text (default: a warning of the ``sss_vfx``
        logger, as the library reports everything else).

    Returns
    -------
    list of pathlib.Path, the model files, checked.

    Raises
    ------
    FeatureError
        If the wheel cannot be downloaded or read, or a model in it is not the expected
        file. Nothing is written then.
    """
    folder = pathlib.Path(folder) if folder is not None else model_folder()
    log = log or logging.getLogger("sss_vfx").warning
    with tempfile.TemporaryDirectory(prefix="sss_vfx_models_") as tmp:
        if wheel is None:
            log(f"downloading the pose models ({MEDIAPIPE} wheel, 36 MB) once "
                f"into {folder}")
            wheel = _download(pathlib.Path(tmp))
        contents = _read_models(pathlib.Path(wheel))
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in contents.items():
            target = folder / name
            # Written beside the target and renamed: a reader never sees half a model.
            part = target.with_name(f".{name}.{os.getpid()}.part")
            part.write_bytes(data)
            os.replace(part, target)
            paths.append(target)
    return paths


def _download(into):
    """pip's download of the mediapipe wheel into ``into``; its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               *_WHEEL_TARGET, "--dest", str(into), MEDIAPIPE]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(into.glob("mediapipe-*.whl"))
    if done.returncode != 0 or not wheels:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise FeatureError(f"could not download {MEDIAPIPE} for the pose models "
                           f"({reason[0]}); on a machine that can, run 'pip download "
                           f"--no-deps {MEDIAPIPE}' and then 'sss-vfx models fetch --wheel "
                           "THAT.whl', or set SSS_VFX_MODELS to a folder holding "
                           f"{' and '.join(POSE_MODELS)}")
    return wheels[0]


def _read_models(wheel):
    """Every pose model's bytes from the wheel, checked. {name: bytes}."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            found = {name: archive.read(inner) for name, (_, inner) in POSE_MODELS.items()}
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise FeatureError(f"{wheel} is not a readable {MEDIAPIPE} wheel with the pose "
                           f"models ({exc}); give the wheel pip downloads for "
                           f"'{MEDIAPIPE}'") from exc
    for name, data in found.items():
        if hashlib.sha256(data).hexdigest() != POSE_MODELS[name][0]:
            raise FeatureError(f"{name} in {wheel} is not the expected file (SHA-256 "
                               f"differs); give the wheel of {MEDIAPIPE}")
    return found


def _checked_digest(path):
    """The file's SHA-256, computed once per version of the file (every frame asks)."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _DIGESTS[key]


_DIGESTS = {}
