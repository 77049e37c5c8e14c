"""Scores of mattes against ground truth, and of their stability in time (the
benchmarks' and the tests' measures).

All mattes are ``(H, W)`` float arrays in [0, 1]; a clip is a sequence of them.
"""

from sss_vfx.evaluation.mattes import foreground_layers, iou, mse_x1000, sad
from sss_vfx.evaluation.temporal import (IDENTITY_CHANGE, dtssd, identity_changes,
                                         object_mass, warping_error)

__all__ = ["IDENTITY_CHANGE", "dtssd", "foreground_layers", "identity_changes", "iou",
           "mse_x1000", "object_mass", "sad", "warping_error"]
