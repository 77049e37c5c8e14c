"""Regenerate the sample shots in this folder, deterministically.

Run from anywhere: ``python sample_shots/make_samples.py``. Writes, next to this file:

- ``chelsea.png``: scikit-image's ``data.chelsea()`` photo (CC0), re-encoded as PNG.
- ``strands.png``: the rendered :func:`sss_vfx.data.strands_shot` (seed 0), 8-bit.
- ``strands_alpha.png``: its true alpha, 16-bit grey.
- ``strands_features.png``: its coarse semantic features, 8-bit RGB.
- ``strands_roto.png``: a rough roto of the head, as an artist in a hurry draws it:
  blocky at 1/12 resolution, binary, eroded by 3 px, no strand in it (8-bit grey).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent

try:
    from sss_vfx.data import coarse_mask, strands_shot
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(HERE.parent))
    from sss_vfx.data import coarse_mask, strands_shot

STRANDS_SHAPE = (240, 320)
STRANDS_SEED = 0

# Fixed encoder settings so reruns give byte-identical files.
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 9]


def _quantise(values, bits):
    peak = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.round(np.clip(values, 0.0, 1.0) * peak).astype(dtype)


def _write_png(path, pixels):
    """Write an (H, W) grey or (H, W, 3) RGB integer array as PNG."""
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), pixels, _PNG_PARAMS):
        raise OSError(f"could not write {path}")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


def make_chelsea(folder):
    """Save scikit-image's Chelsea the cat (300 x 451 RGB, CC0) as ``chelsea.png``."""
    from skimage import data

    _write_png(folder / "chelsea.png", np.ascontiguousarray(data.chelsea()))


def make_strands(folder):
    """Render the strands shot and save image, 16-bit true alpha and 8-bit features."""
    shot = strands_shot(STRANDS_SHAPE, seed=STRANDS_SEED)
    _write_png(folder / "strands.png", _quantise(shot.image, 8))
    _write_png(folder / "strands_alpha.png", _quantise(shot.alpha, 16))
    _write_png(folder / "strands_features.png", _quantise(shot.features, 8))
    roto = (coarse_mask(shot.alpha, scale=12, blur_sigma=0.0) > 0.5).astype(np.uint8)
    roto = cv2.erode(roto, np.ones((7, 7), np.uint8))
    _write_png(folder / "strands_roto.png", roto * 255)


def main(folder=HERE):
    """Write every sample shot into ``folder`` (default: this script's folder)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    make_chelsea(folder)
    make_strands(folder)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
