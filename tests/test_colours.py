"""Layer colours (DESIGN step 8): exact sums, range, accuracy, and the solver itself."""

import numpy as np
import pytest
from scipy import ndimage

import sss_vfx
from sss_vfx.errors import OptionError
from sss_vfx.segments.colours import (_solve_colours, _sum_to_plate, layer_colours,
                                      premultiplied_colours)
from sss_vfx.data import strands_shot, two_region_image


def smooth_layers(shape, k, seed=0):
    """(H, W, K) soft layers summing to 1, smooth blobs with soft transitions."""
    rng = np.random.default_rng(seed)
    raw = ndimage.gaussian_filter(rng.random(shape + (k,)), (3, 3, 0)) ** 4
    return raw / raw.sum(axis=2, keepdims=True)


def plate_sum(colours, alphas):
    return (np.asarray(alphas, np.float64)[..., None] * colours).sum(axis=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_pixels, k", [(0, 3), (200, 3), (200, 6)])
def test_layers_sum_to_the_plate_and_stay_in_range(dtype, max_pixels, k):
    image, _ = two_region_image((24, 32))
    alphas = smooth_layers((24, 32), k)
    image_in, alphas_in = image.astype(dtype), alphas.astype(dtype)
    before = (image_in.copy(), alphas_in.copy())
    colours = layer_colours(image_in, alphas_in, max_pixels=max_pixels)
    assert colours.shape == (24, 32, k, 3) and colours.dtype == np.float32
    assert colours.min() >= 0.0 and colours.max() <= 1.0
    np.testing.assert_allclose(plate_sum(colours, alphas_in), image, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(image_in, before[0])
    np.testing.assert_array_equal(alphas_in, before[1])


def test_saturated_plate_colours_are_redistributed_after_clipping():
    # Plate at 0 and 1 in mixed pixels: the plain correction would push one layer out
    # of [0, 1]; the water-filling gives the rest to the layers with room.
    image, _ = two_region_image((24, 32))
    image = image.copy()
    image[5:9, 5:20] = 1.0
    image[14:18, 10:30] = 0.0
    alphas = smooth_layers((24, 32), 4, seed=3)
    colours = layer_colours(image, alphas, max_pixels=150)
    assert colours.min() >= 0.0 and colours.max() <= 1.0
    np.testing.assert_allclose(plate_sum(colours, alphas), image, rtol=0, atol=1e-5)


def test_exact_sum_needs_a_second_round_when_a_layer_saturates():
    colours = np.array([[[[0.9] * 3, [0.2] * 3]]], np.float32)      # (1, 1, 2, 3)
    alphas = np.array([[[0.5, 0.5]]], np.float32)
    image = np.ones((1, 1, 3), np.float32)
    _sum_to_plate(colours, alphas, image)
    # One step alone gives F = (1.35 -> 1, 0.65): sum 0.825. The second round fills it.
    np.testing.assert_allclose(colours[0, 0], 1.0, atol=1e-6)


def test_premultiplied_colours_sum_to_the_plate():
    image, _ = two_region_image((16, 20))
    alphas = smooth_layers((16, 20), 2)
    premultiplied = premultiplied_colours(layer_colours(image, alphas), alphas)
    assert premultiplied.shape == (16, 20, 2, 3) and premultiplied.dtype == np.float32
    assert np.all(premultiplied <= alphas[..., None] + 1e-6)
    np.testing.assert_allclose(premultiplied.sum(axis=2), image, atol=1e-5)
    assert sss_vfx.layer_colours is layer_colours


@pytest.mark.parametrize("max_pixels", [0, 1200])
def test_true_alpha_recovers_the_true_foreground(max_pixels):
    """Measured: mean |F - F_true| 0.016 (at 60x80) and 0.018 (solved at 40x30 and
    upsampled) where alpha > 0.1; the plate there is 0.097 from the foreground."""
    shot = strands_shot((60, 80))
    alphas = np.stack([shot.alpha, 1.0 - shot.alpha], axis=-1)
    colours = layer_colours(shot.image, alphas, max_pixels=max_pixels)
    inside = shot.alpha > 0.1
    error = np.abs(colours[:, :, 0] - shot.foreground)[inside].mean()
    plate_error = np.abs(shot.image - shot.foreground)[inside].mean()
    assert error < 0.025
    assert error < plate_error / 4
    outside = shot.alpha < 0.9
    assert np.abs(colours[:, :, 1] - shot.background)[outside].mean() < 0.015


def dense_colour_system(image, alphas, smoothness, presence, prior):
    """The normal equations written out entry by entry, unknowns (pixel, layer)."""
    h, w, k = alphas.shape
    n = h * w * k
    matrix = np.zeros((n, n))
    rhs = np.zeros((n, 3))

    def unknown(y, x, layer):
        return (y * w + x) * k + layer

    for y in range(h):
        for x in range(w):
            a = alphas[y, x]
            for i in range(k):
                u = unknown(y, x, i)
                rhs[u] = (a[i] + prior) * image[y, x]
                matrix[u, u] += prior
                for j in range(k):
                    matrix[u, unknown(y, x, j)] += a[i] * a[j]
            for dy, dx in ((0, 1), (1, 0)):
                if y + dy >= h or x + dx >= w:
                    continue
                for i in range(k):
                    weight = smoothness * (
                        (alphas[y, x, i] + alphas[y + dy, x + dx, i]) / 2 + presence)
                    u, v = unknown(y, x, i), unknown(y + dy, x + dx, i)
                    matrix[u, u] += weight
                    matrix[v, v] += weight
                    matrix[u, v] -= weight
                    matrix[v, u] -= weight
    return matrix, rhs


def test_pcg_equals_a_dense_solve_of_the_same_system():
    image, _ = two_region_image((8, 8))
    image = image[:5, :6].astype(np.float64)
    alphas = smooth_layers((5, 6), 3, seed=1)
    params = dict(smoothness=2.0, presence=0.05, prior=1e-2)
    matrix, rhs = dense_colour_system(image, alphas, **params)
    expected = np.linalg.solve(matrix, rhs).reshape(5, 6, 3, 3)
    colours, steps = _solve_colours(image, alphas, params["smoothness"],
                                    params["presence"], params["prior"], 1e-12, 500)
    np.testing.assert_allclose(colours, expected, rtol=0, atol=1e-9)
    assert steps <= 5 * 6 * 3


def test_solver_step_count_stays_small():
    """Caps the conjugate-gradient steps (44 measured) so that a slowdown shows
    without timing noise."""
    shot = strands_shot((60, 80))
    alphas = np.stack([shot.alpha, 1.0 - shot.alpha], axis=-1).astype(np.float64)
    _, steps = _solve_colours(shot.image.astype(np.float64), alphas, 1.0, 0.01, 1e-4,
                              1e-4, 500)
    assert steps <= 80


@pytest.mark.parametrize("change, match", [
    (lambda i, a: (i[..., :2], a), "image must have shape"),
    (lambda i, a: (i, a[:-1]), "alphas must have shape"),
    (lambda i, a: (i, a * 0.5), "sum to 1"),
    (lambda i, a: (i * 2.0, a), r"in \[0, 1\]"),
])
def test_bad_input_names_the_problem(change, match):
    image, alpha = two_region_image((16, 20))
    alphas = np.stack([alpha, 1 - alpha], axis=-1)
    with pytest.raises(OptionError, match=match):
        layer_colours(*change(image, alphas))
    with pytest.raises(OptionError, match="smoothness"):
        layer_colours(image, alphas, smoothness=0)
