"""The built-in person model: MediaPipe's pose models, the selfie model where they see nobody.

Three bundled models (Apache-2.0, from the mediapipe 0.10.14 wheel; see
``models/README.md``), run offline with ``ai-edge-litert`` (extra ``sss_vfx[people]``,
imported only when the model is first used):

- the pose models (:mod:`sss_vfx.features.pose`): a detector finds each person and the
  landmark model segments that person's whole body inside a region fitted to them;
- the selfie segmentation model, one pass over the whole frame at 256x256, made for
  people near the camera.

The rule, per frame (``model='auto'``): the union (maximum) of the masks of everyone
the pose models find; the selfie model's mask when they find nobody. On the DAVIS shot
of a full-body free runner, pose IoU 0.93 against the selfie model's 0.61 (every 4th
frame; ``benchmarks/bench_person.py``); where both see the person, the selfie model's
extra pixels are mostly false (the maximum of both measured 0.81). The union measured
better on single frames than keeping only the largest person (breakdance 0.072 against
0.061, soapbox 0.385 against 0.369, parkour equal).

In a shot (``features='person'`` on a video) the frames are not taken one by one: the
principal performer is followed from frame to frame
(:class:`~sss_vfx.features.tracking.PersonTracker`), which finds a breakdancer amid a
crowd the detector sees instead (IoU 0.78 against 0.07).

sss_vfx uses the mask as a guide named ``'person'``: its probability map becomes an
object matte like a roto (:mod:`sss_vfx.features.guides`), so people get a layer of
their own and the soft transitions (hair) are found from the image.
"""

import pathlib

import cv2
import numpy as np

from sss_vfx.errors import FeatureError, OptionError
from sss_vfx.features.pose import people
from sss_vfx.features.tflite import interpreter

__all__ = ["PERSON_MODEL", "MODELS", "person_mask"]

PERSON_MODEL = pathlib.Path(__file__).parent / "models" / "selfie_segmentation.tflite"
#: The selfie model's input and output side, pixels.
MODEL_SIDE = 256
#: ``model`` values of :func:`person_mask`.
MODELS = ("auto", "pose", "selfie")


def person_mask(image, *, model_path=None, model="auto"):
    """Probability that each pixel shows a person.

    Parameters
    ----------
    image : array_like, shape (H, W, 3)
        RGB, float in [0, 1] (display-referred).
    model_path : str or os.PathLike, optional
        Another selfie-segmentation ``.tflite`` of the same interface
        (``(1, 256, 256, 3)`` float32 in, ``(1, 256, 256, 1)`` probabilities out); the
        bundled one when None.
    model : {'auto', 'pose', 'selfie'}
        ``'pose'``: the union of the pose models' masks of everyone found (zero when
        nobody is); ``'selfie'``: the selfie model alone (the image resized to 256x256
        by area averaging, aspect not kept, as MediaPipe feeds it, and the output
        resized back bilinearly); ``'auto'``: pose where it finds someone, else selfie.

    Returns
    -------
    ndarray, shape (H, W), float32
        Person probability in [0, 1].

    Raises
    ------
    FeatureError
        If ai-edge-litert is not installed (the message names the extra), a model file
        is missing or does not load, or it returns NaN/inf.
    OptionError
        If the image is not finite (H, W, 3), or ``model`` is not one of :data:`MODELS`.

    Examples
    --------
    >>> mask = person_mask(plate)  # doctest: +SKIP
    >>> mask.shape == plate.shape[:2]  # doctest: +SKIP
    True
    """
    if model not in MODELS:
        raise OptionError(f"person model {model!r} is not one of {', '.join(MODELS)}")
    image = checked_image(image)
    if model != "selfie":
        found = people(image)
        if found or model == "pose":
            union = np.zeros(image.shape[:2], np.float32)
            for person in found:
                np.maximum(union, person.mask, out=union)
            return _finite(union)
    return selfie_mask(image, model_path)


def checked_image(image):
    """The image as float32 (H, W, 3) clipped to [0, 1].

    Raises
    ------
    OptionError
        If it is not a finite (H, W, 3) array.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or not np.isfinite(image).all():
        raise OptionError(f"the image for the person model must be finite (H, W, 3) RGB in "
                          f"[0, 1], got shape {image.shape}")
    return np.clip(image, 0.0, 1.0)


def selfie_mask(image, model_path=None):
    """The selfie model's person probability, (H, W) float32 in [0, 1], of a checked
    image (:func:`checked_image`); ``model_path`` as :func:`person_mask`'s."""
    height, width = image.shape[:2]
    side = MODEL_SIDE
    interp, inputs, outputs = interpreter(model_path or PERSON_MODEL, [[1, side, side, 3]],
                                          [[1, side, side, 1]])
    resized = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    interp.set_tensor(inputs[0], np.ascontiguousarray(resized[None], np.float32))
    interp.invoke()
    out = np.array(interp.get_tensor(outputs[0]), np.float32).reshape(side, side)
    mask = cv2.resize(_finite(out), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0)


def _finite(mask):
    if not np.isfinite(mask).all():
        raise FeatureError("the person model returned NaN/inf; check the model file")
    return mask
