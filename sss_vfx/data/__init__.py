"""Synthetic shots and stills with known ground-truth alpha (as ``skimage.data``).

Everything here composites exactly: ``image = alpha * F + (1 - alpha) * B`` with the
returned foreground ``F`` and background ``B``, so tests and benchmarks can score a
matte against the alpha that produced the image. The coarse "network-like" semantic
features are made from an alpha by :func:`coarse_features`, the same recipe the quality
benchmark applies to real photos with true alpha.

All outputs are ``float32``: images and features ``(H, W, 3)`` in [0, 1], alphas and
masks ``(H, W)`` in [0, 1]. Every generator is deterministic for a given ``seed``.
"""

from sss_vfx.data.coarse import coarse_features, coarse_mask
from sss_vfx.data.shot import Shot
from sss_vfx.data.shots import REGION_FEATURES, moving_shot, regions_shot
from sss_vfx.data.stills import strands_shot, two_region_image

__all__ = [
    "REGION_FEATURES",
    "Shot",
    "coarse_features",
    "coarse_mask",
    "moving_shot",
    "regions_shot",
    "strands_shot",
    "two_region_image",
]
