"""Scores of a clip's stability in time: the temporal gradient error, the warping
error along the flow, and how often an object changes layers.

A clip is a sequence of ``(H, W)`` float mattes in [0, 1].
"""

import numpy as np

from sss_vfx.errors import OptionError
from sss_vfx.graph.flow import warp_back

__all__ = ["dtssd", "identity_changes", "object_mass", "warping_error"]


#: The object changes layers between two frames when this share of its mass moves.
IDENTITY_CHANGE = 0.25


def dtssd(mattes, truths):
    """Temporal coherence error dtSSD (Erofeev et al. 2015), x100.

    For each pair of consecutive frames, the root mean square over pixels of the
    difference between the matte's change and the true alpha's change; the mean over
    pairs. 0 for a matte whose error does not change in time.

    Parameters
    ----------
    mattes, truths : sequences of F >= 2 (H, W) float arrays

    Returns
    -------
    float
    """
    mattes = [np.asarray(m, np.float64) for m in mattes]
    truths = [np.asarray(t, np.float64) for t in truths]
    if len(mattes) != len(truths) or len(mattes) < 2:
        raise OptionError("dtSSD needs two equally long clips of at least 2 frames")
    scores = [np.sqrt(np.mean(((m1 - m0) - (t1 - t0)) ** 2))
              for m0, m1, t0, t1 in zip(mattes, mattes[1:], truths, truths[1:])]
    return float(100.0 * np.mean(scores))


def warping_error(layers, next_layers, flow, confidence):
    """Flow-warping error (Lai et al. 2018) between two frames' layers.

    The next frame's layers are warped back to this frame along the forward flow; the
    error is the mean over pixels with ``confidence > 0`` (not occluded) of the squared
    difference, summed over layers.

    Parameters
    ----------
    layers, next_layers : (H, W, K) float arrays
    flow : (H, W, 2) float array, forward flow of this frame
    confidence : (H, W) float array in [0, 1]

    Returns
    -------
    float
    """
    warped, inside = warp_back(next_layers, flow)
    warped = warped.reshape(np.shape(layers))
    visible = inside & (np.asarray(confidence) > 0)
    if not visible.any():
        return 0.0
    diff = ((np.asarray(layers, np.float64) - warped) ** 2).sum(axis=2)
    return float(diff[visible].mean())


def object_mass(alphas, mask):
    """How an object's mass spreads over the layers: each layer's share of it.

    Parameters
    ----------
    alphas : (H, W, K) float array in [0, 1], summing to 1 per pixel
    mask : (H, W) float array in [0, 1], the object's true alpha

    Returns
    -------
    (K,) float64 summing to 1 (all 0 when the mask is empty)
    """
    mask = np.asarray(mask, np.float64)
    total = mask.sum()
    mass = np.tensordot(mask, np.asarray(alphas, np.float64), axes=([0, 1], [0, 1]))
    return mass / total if total > 0 else np.zeros_like(mass)


def identity_changes(shot_alphas, masks, threshold=IDENTITY_CHANGE):
    """Frames where an object's mass moves between layers.

    Between two consecutive frames, the object's mass over the layers
    (:func:`object_mass`) moves by half the L1 distance of the two mass vectors (the
    share of the object that changed layer, in [0, 1]); a move above ``threshold``
    is one identity change, counted on the later frame. Empty masks count no change.

    Parameters
    ----------
    shot_alphas : sequence of F (H, W, K) float arrays, the shot's layers
    masks : sequence of F (H, W) float arrays, the object's true alpha per frame
    threshold : float in (0, 1)

    Returns
    -------
    frames : list of int, the (0-based) frames where the object changed layers
    moved : (F - 1,) float64, the share of the object that moved at each frame pair

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((2, 2, 2)); a[..., 0] = 1
    >>> mask = np.ones((2, 2))
    >>> identity_changes([a, a, a[..., ::-1]], [mask] * 3)[0]
    [2]
    """
    masses = [object_mass(a, m) for a, m in zip(shot_alphas, masks)]
    if len(masses) != len(shot_alphas) or len(masks) != len(shot_alphas):
        raise OptionError("identity_changes needs one mask per frame")
    moved = np.array([0.5 * np.abs(m1 - m0).sum() if m0.any() and m1.any() else 0.0
                      for m0, m1 in zip(masses, masses[1:])])
    return [int(i) + 1 for i in np.flatnonzero(moved > threshold)], moved
