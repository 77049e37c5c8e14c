"""to_half: numpy's float16 conversion, bit for bit."""

import numpy as np
import pytest

from sss_vfx.io.half import to_half

EDGES = np.array([0.0, -0.0, 2.0 ** -25, 3 * 2.0 ** -26, 5 * 2.0 ** -26, 2.0 ** -24,
                  2.0 ** -26, 2.0 ** -14, np.nextafter(np.float32(2.0 ** -14), 0),
                  1023.5 * 2.0 ** -24, 1e-45, 1e-38, 6.1e-5, 0.5, 1.0, 65504.0],
                 np.float32)


def bits(x):
    return np.asarray(x).view(np.uint16)


@pytest.mark.parametrize("seed", [0, 1])
def test_same_bits_as_numpy_over_every_magnitude_and_sign(seed):
    rng = np.random.default_rng(seed)
    values = (10.0 ** rng.uniform(-12, 4, 200_000)).astype(np.float32)
    values *= rng.choice([-1, 1], values.size).astype(np.float32)
    values = np.concatenate([values, EDGES, -EDGES])
    assert np.array_equal(bits(to_half(values)), bits(values.astype(np.float16)))


def test_same_bits_for_a_strided_channel_of_mattes():
    rng = np.random.default_rng(2)
    layers = (rng.random((17, 23, 4, 3), dtype=np.float32) ** 12)   # many tiny values
    channel = layers[:, :, 2, 1]
    half = to_half(channel)
    assert half.shape == channel.shape and half.flags.c_contiguous
    assert np.array_equal(bits(half), bits(channel.astype(np.float16)))


def test_nan_and_infinity_pass_through():
    values = np.array([np.nan, np.inf, -np.inf, 1e-7], np.float32)
    assert np.array_equal(bits(to_half(values)), bits(values.astype(np.float16)))
