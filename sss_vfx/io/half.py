"""Conversion to half floats, bit for bit as numpy's, without its slow path.

numpy converts a float32 whose half is subnormal or zero (``|x| < 2**-14``: a matte's
faint tail, a premultiplied colour where its layer is nearly absent) about 25 times
slower than a normal one (0.7 s per 10 million values against 0.03 s on this project's
machine). Layers written at 4K hold about 166 million values, many of them that small.
Below ``2**-14`` a half is a multiple of ``2**-24``, so its bits are
``round(|x| * 2**24)`` (ties to even, as IEEE conversion rounds) with the sign on top;
only the others go through numpy's conversion.
"""

import numpy as np

__all__ = ["to_half"]

#: The smallest normal half.
_SMALLEST_NORMAL = np.float32(2.0 ** -14)
#: The spacing of subnormal halves.
_SUBNORMAL_SCALE = np.float32(2.0 ** 24)


def to_half(values):
    """``values.astype(np.float16)``, the same bits, faster for tiny values.

    Parameters
    ----------
    values : array_like of float32 (other real types are converted to float32 first)
        Finite values within the half range (``abs(x) <= 65504``).

    Returns
    -------
    float16 ndarray, C-contiguous, of the shape of ``values``

    Examples
    --------
    >>> to_half(np.array([1e-6, 0.5, -3e-8], np.float32)).view(np.uint16).tolist()
    [17, 14336, 32769]
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    tiny = np.abs(values) < _SMALLEST_NORMAL
    # Zero in place of the tiny values keeps numpy's conversion on its fast path.
    half = np.where(tiny, np.float32(0.0), values).astype(np.float16)
    small = values[tiny]
    bits = np.rint(np.abs(small) * _SUBNORMAL_SCALE).astype(np.uint16)
    bits |= np.signbit(small).astype(np.uint16) << 15
    half.view(np.uint16)[tiny] = bits
    return half
