"""The array namespace every stage is written against, and what the standard lacks.

A stage takes numpy arrays or torch tensors (CPU or CUDA) and computes with the namespace
of its main input (``xp = namespace(x)``, the Python array API through
``array-api-compat``), so one implementation runs on numpy and on torch. This package
adds only what the standard has no word for: :mod:`~sss_vfx.arrays.namespace` (moving
values between host and device, and a few reductions whose numpy spelling decides the
bits of the numpy results), :mod:`~sss_vfx.arrays.sparse` (scipy.sparse or torch sparse
CSR) and :mod:`~sss_vfx.arrays.resample` (OpenCV's box filter and resizes, or their
torch equivalents). Nothing here imports torch: a torch branch only runs when given a
tensor, and torch is then already imported.
"""
