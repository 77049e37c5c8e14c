"""The still pipeline gives the same layers with the Laplacian built on numpy or OpenCL.

The Laplacians agree to ~1e-12 of their largest entry. The layers agree less closely:
the spectral and sparsification stages amplify any perturbation of that size (adding
1e-12 noise to the numpy Laplacian moves the layers as much, ~5e-4 on average and up to
~0.02 at a few pixels), so the layers are compared at that level.
"""

import numpy as np
from _opencl import FP64

from sss_vfx import segment_image
from sss_vfx.data import two_region_image

OPTIONS = dict(eigenvectors=20, initial_segments=8, layers=2, superpixels=40)


@FP64
def test_same_layers_on_numpy_and_opencl(device):
    image, _ = two_region_image((30, 36), edge_width=4, seed=3)
    on_numpy = segment_image(image, device="numpy", **OPTIONS)
    on_device = segment_image(image, device=device.spec, **OPTIONS)
    assert on_numpy.device == "numpy" and on_device.device == device.spec
    assert on_device.alphas.shape == on_numpy.alphas.shape
    assert abs(on_device.laplacian - on_numpy.laplacian).max() < \
        1e-9 * abs(on_numpy.laplacian).max()
    difference = np.abs(on_device.alphas - on_numpy.alphas)
    assert difference.mean() < 2e-3
    assert difference.max() < 0.05
    agree = on_device.alphas.argmax(axis=2) == on_numpy.alphas.argmax(axis=2)
    assert agree.mean() > 0.99
