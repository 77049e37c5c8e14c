"""The built-in person model: MediaPipe's selfie segmentation, run offline.

The model (``models/selfie_segmentation.tflite``, Apache-2.0, from the mediapipe 0.10.14
wheel; see ``models/README.md``) gives the probability that each pixel is a person. It
covers people only. sss_vfx uses it as a guide named ``'person'``: its probability map
becomes an object matte like a roto (:mod:`sss_vfx.features.guides`), so the person gets
a layer of their own and the soft transitions (hair) are found from the image.

It runs with ``ai-edge-litert`` (extra ``sss_vfx[people]``), imported only when the
model is first used.
"""

import functools
import importlib
import pathlib
import threading

import cv2
import numpy as np

from sss_vfx.errors import FeatureError, OptionError

__all__ = ["PERSON_MODEL", "person_mask"]

PERSON_MODEL = pathlib.Path(__file__).parent / "models" / "selfie_segmentation.tflite"
#: The model's input and output side, pixels.
MODEL_SIDE = 256
# One interpreter per thread: a TFLite interpreter is not safe to share.
_LOCAL = threading.local()


def person_mask(image, *, model_path=None):
    """Probability that each pixel shows a person.

    The image is resized to the model's 256x256 input (area averaging, aspect not
    kept, as MediaPipe feeds it), and the output is resized back bilinearly.

    Parameters
    ----------
    image : array_like, shape (H, W, 3)
        RGB, float in [0, 1] (display-referred).
    model_path : str or os.PathLike, optional
        Another ``.tflite`` of the same interface (``(1, 256, 256, 3)`` float32 in,
        ``(1, 256, 256, 1)`` probabilities out); the bundled model when None.

    Returns
    -------
    ndarray, shape (H, W), float32
        Person probability in [0, 1].

    Raises
    ------
    FeatureError
        If ai-edge-litert is not installed (the message names the extra), the model
        file is missing or does not load, or it returns NaN/inf.
    OptionError
        If the image is not finite (H, W, 3).

    Examples
    --------
    >>> mask = person_mask(plate)  # doctest: +SKIP
    >>> mask.shape == plate.shape[:2]  # doctest: +SKIP
    True
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or not np.isfinite(image).all():
        raise OptionError(f"the image for the person model must be finite (H, W, 3) RGB in "
                          f"[0, 1], got shape {image.shape}")
    height, width = image.shape[:2]
    interpreter, input_index, output_index = _interpreter(str(model_path or PERSON_MODEL))
    side = MODEL_SIDE
    resized = cv2.resize(np.clip(image, 0.0, 1.0), (side, side), interpolation=cv2.INTER_AREA)
    interpreter.set_tensor(input_index, np.ascontiguousarray(resized[None], np.float32))
    interpreter.invoke()
    out = np.array(interpreter.get_tensor(output_index), np.float32).reshape(side, side)
    if not np.isfinite(out).all():
        raise FeatureError("the person model returned NaN/inf; check the model file")
    mask = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0)


def _interpreter(path):
    cache = getattr(_LOCAL, "interpreters", None)
    if cache is None:
        cache = _LOCAL.interpreters = {}
    if path not in cache:
        cache[path] = _load(path)
    return cache[path]


def _load(path):
    runtime = _runtime()
    if not pathlib.Path(path).is_file():
        raise FeatureError(f"person model file {path} is missing; reinstall sss_vfx "
                           "(pip install 'sss_vfx[people]') or give an existing .tflite")
    try:
        interpreter = runtime.Interpreter(model_path=path, num_threads=1)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise FeatureError(f"cannot load the person model {path}: {exc}; give a TFLite "
                           "selfie-segmentation model") from exc
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    expected_in, expected_out = [1, MODEL_SIDE, MODEL_SIDE, 3], [1, MODEL_SIDE, MODEL_SIDE, 1]
    if len(inputs) != 1 or list(inputs[0]["shape"]) != expected_in or \
            len(outputs) != 1 or list(outputs[0]["shape"]) != expected_out:
        raise FeatureError(f"person model {path} takes {[list(i['shape']) for i in inputs]} "
                           f"and returns {[list(o['shape']) for o in outputs]}; it must take "
                           f"{expected_in} and return {expected_out}")
    return interpreter, inputs[0]["index"], outputs[0]["index"]


@functools.cache
def _runtime():
    try:
        return importlib.import_module("ai_edge_litert.interpreter")
    except ImportError as exc:
        raise FeatureError("the person model needs ai-edge-litert, which is not installed; "
                           "pip install 'sss_vfx[people]'") from exc
