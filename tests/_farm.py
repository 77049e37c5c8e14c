"""A small rendered shot on disk for the farm tests: 16-bit PNG plates and .npy
features numbered from 1001, with the true alphas."""

import cv2
import numpy as np

from sss_vfx.data import moving_shot

#: The tiny method options of the farm tests.
TINY = dict(eigenvectors=10, initial_segments=6, superpixels=40, layers=2)
FIRST = 1001


def write_shot(folder, name="shot", frames=8, seed=0):
    """Render ``frames`` frames to ``folder``; returns (plates pattern, features
    pattern, list of (H, W) true alphas)."""
    folder.mkdir(parents=True, exist_ok=True)
    clip = moving_shot(frames=frames, shape=(48, 64), seed=seed)
    for i, frame in enumerate(clip):
        rgb16 = (np.clip(frame.image[..., ::-1], 0, 1) * 65535 + 0.5).astype(np.uint16)
        cv2.imwrite(str(folder / f"{name}.{FIRST + i:04d}.png"), rgb16)
        np.save(folder / f"{name}_features.{FIRST + i:04d}.npy", frame.features)
    return (str(folder / f"{name}.%04d.png"), str(folder / f"{name}_features.%04d.npy"),
            [frame.alpha for frame in clip])
