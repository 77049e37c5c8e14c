"""Temporal affinity between consecutive frames (DESIGN section 2); numpy reference.

Pixel p of frame t is joined to the point q = p + F(p) of frame t+1, spread bilinearly
over the four pixels around q::

    W_pq_k = lambda_t * c(p) * b_k * exp(-||I_t(p) - I_t+1(q_k)||^2 / sigma^2)

with b_k the bilinear weight of pixel q_k (the four sum to 1) and c(p) in [0, 1] the
flow confidence. Each of the four pixels is compared with its own colour, so a link
that lands across an edge keeps its weight on the matching side. Pixels q_k outside
frame t+1 are dropped with their share; their entries are not stored. An entry is
stored for every in-frame q_k, also where its weight is zero (c(p) = 0 or b_k = 0), so
the sparsity pattern depends on the flow alone. A non-finite flow vector links nothing.

The result is the (N, N) matrix T of frame t's pixels (rows) to frame t+1's pixels
(columns), at most four entries per row. A window of frames stacks per-frame
affinities on the block diagonal and T and T^T beside it: :func:`temporal_block` gives
the two-frame form ``[[0, T], [T^T, 0]]``. lambda_t and sigma are placeholders until
the video pipeline tunes them.
"""

import numpy as np
import scipy.sparse

from sss_vfx.errors import InputError
from sss_vfx.options import TemporalOptions

__all__ = ["temporal_affinity", "temporal_block", "check_temporal_inputs"]

#: The four pixels around q, as (dy, dx) from floor(q), in ascending pixel order.
CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))


def check_temporal_inputs(frame, next_frame, flow, confidence, lambda_t, sigma):
    """Validated float arrays ``(frame, next_frame, flow, confidence)``.

    Raises
    ------
    InputError
        Shapes that disagree, non-finite colours or confidences, confidences outside
        [0, 1], or a non-positive sigma / negative lambda_t.
    """
    frame = np.asarray(frame)
    next_frame = np.asarray(next_frame)
    flow = np.asarray(flow)
    confidence = np.asarray(confidence)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"frame must be an (H, W, 3) colour array, got shape {frame.shape}")
    h, w = frame.shape[:2]
    if next_frame.shape != frame.shape:
        raise InputError(f"next_frame must have the frame's shape {frame.shape}, got "
                         f"{next_frame.shape}")
    if flow.shape != (h, w, 2):
        raise InputError(f"flow must be (H, W, 2) = {(h, w, 2)} (x then y displacement), "
                         f"got {flow.shape}")
    if confidence.shape != (h, w):
        raise InputError(f"confidence must be (H, W) = {(h, w)}, got {confidence.shape}")
    if not (np.isfinite(frame).all() and np.isfinite(next_frame).all()):
        raise InputError("frames hold NaN or infinite values")
    if not np.isfinite(confidence).all() or confidence.min(initial=0) < 0 \
            or confidence.max(initial=0) > 1:
        raise InputError("confidence must be finite and within [0, 1]")
    if not sigma > 0:
        raise InputError(f"sigma must be positive, got {sigma!r}")
    if not lambda_t >= 0:
        raise InputError(f"lambda_t must be zero or positive, got {lambda_t!r}")
    return frame, next_frame, flow, confidence


def temporal_affinity(frame, next_frame, flow, confidence, *,
                      lambda_t=TemporalOptions.temporal_weight,
                      sigma=TemporalOptions.temporal_sigma):
    """Temporal affinity T of frame t's pixels to frame t+1's pixels.

    Parameters
    ----------
    frame, next_frame : (H, W, 3) float arrays, values in [0, 1]
        Frames t and t+1.
    flow : (H, W, 2) float array
        Forward flow in pixels, ``flow[..., 0]`` along x (columns), ``flow[..., 1]``
        along y (rows), as OpenCV's DIS gives it.
    confidence : (H, W) float array in [0, 1]
        Forward-backward consistency c(p); 0 where occluded.
    lambda_t : float, optional
        Weight of the temporal term.
    sigma : float, optional
        Colour distance scale.

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64
        Row p holds the (up to four) pixels around p + F(p), ascending.

    Raises
    ------
    InputError
        See :func:`check_temporal_inputs`.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.zeros((4, 4, 3)); flow = np.zeros((4, 4, 2)); flow[..., 0] = 0.5
    >>> T = temporal_affinity(f, f, flow, np.ones((4, 4)))
    >>> float(T[0, 0]), float(T[0, 1])
    (0.5, 0.5)
    """
    frame, next_frame, flow, confidence = check_temporal_inputs(
        frame, next_frame, flow, confidence, lambda_t, sigma)
    h, w, _ = frame.shape
    n = h * w
    ys, xs = np.mgrid[0:h, 0:w]
    qx = xs + flow[..., 0].astype(np.float64)
    qy = ys + flow[..., 1].astype(np.float64)
    finite = np.isfinite(qx) & np.isfinite(qy)
    qx, qy = np.where(finite, qx, -10.0), np.where(finite, qy, -10.0)
    x0, y0 = np.floor(qx), np.floor(qy)
    fx, fy = qx - x0, qy - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    frame = frame.astype(np.float64)
    next_frame = next_frame.astype(np.float64)
    base = lambda_t * confidence.astype(np.float64)
    rows, cols, vals = [], [], []
    pixel = np.arange(n).reshape(h, w)
    for dy, dx in CORNERS:
        cy, cx = y0 + dy, x0 + dx
        inside = finite & (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
        bilinear = (fx if dx else 1.0 - fx) * (fy if dy else 1.0 - fy)
        colour = next_frame[np.clip(cy, 0, h - 1), np.clip(cx, 0, w - 1)]
        distance = ((frame - colour) ** 2).sum(axis=2)
        value = base * bilinear * np.exp(-distance / sigma ** 2)
        rows.append(pixel[inside])
        cols.append((cy * w + cx)[inside])
        vals.append(value[inside])
    rows, cols, vals = (np.concatenate(v) for v in (rows, cols, vals))
    # The corners of one p are distinct and ascending, so a stable sort by row is CSR.
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return scipy.sparse.csr_matrix((vals[order], cols[order], indptr), shape=(n, n))


def temporal_block(temporal):
    """The symmetric two-frame affinity ``[[0, T], [T^T, 0]]``.

    Parameters
    ----------
    temporal : (N, N) sparse matrix
        T from :func:`temporal_affinity`.

    Returns
    -------
    scipy.sparse.csr_matrix, (2N, 2N) float64, symmetric
    """
    temporal = scipy.sparse.csr_matrix(temporal, dtype=np.float64)
    return scipy.sparse.bmat([[None, temporal], [temporal.T, None]], format="csr")
