"""The eigen stage (DESIGN step 4): eigenpairs of the Laplacian nearest zero.

Two solvers stand side by side, because the algorithms genuinely differ by device:

- :mod:`~sss_vfx.spectral.shift_invert` (CPU, numpy): shift-invert block Lanczos
  (:mod:`~sss_vfx.spectral.lanczos`) on a sparse LU of the shifted Laplacian, with
  ARPACK as its fallback; single-threaded BLAS for its small dense steps
  (:mod:`~sss_vfx.spectral.threads`).
- :mod:`~sss_vfx.spectral.subspace` (GPU, torch): Chebyshev-filtered subspace
  iteration, which needs only sparse products and can be warm-started.

:mod:`~sss_vfx.spectral.window` finds a window's pairs from its frames' own
eigenvectors (one implementation for every device), and
:mod:`~sss_vfx.spectral.checks` holds what all of them share: the argument check, the
order by magnitude, the fixed signs, the residuals, and the largest principal angle that
compares two solvers' subspaces.
"""

from sss_vfx.spectral.checks import (by_magnitude, check_count, fixed_signs,
                                     largest_principal_angle, residuals)
from sss_vfx.spectral.shift_invert import (ARPACK_TOL, SHIFT, grid_dissection_order,
                                           long_range_pixels, smallest_magnitude_eigs)
from sss_vfx.spectral.subspace import subspace_eigs
from sss_vfx.spectral.window import window_eigs

__all__ = ["ARPACK_TOL", "SHIFT", "by_magnitude", "check_count", "fixed_signs",
           "grid_dissection_order", "largest_principal_angle", "long_range_pixels",
           "residuals", "smallest_magnitude_eigs", "subspace_eigs", "window_eigs"]
