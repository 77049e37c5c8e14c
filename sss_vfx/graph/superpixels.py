"""SLIC superpixels and the per-superpixel statistics the non-local affinities use."""

from dataclasses import dataclass

import numpy as np
import skimage.segmentation

#: Fewest pixels per superpixel on average: below that, superpixels degenerate to
#: single pixels and the non-local colour affinity joins hundreds of thousands of pairs.
MIN_SUPERPIXEL_AREA = 25


@dataclass(frozen=True)
class Superpixels:
    """An over-segmentation of an image into colour-coherent superpixels.

    Attributes
    ----------
    labels : (H, W) int32
        Superpixel index of every pixel, 0..S-1.
    centroids : (S, 2) int64
        (row, column) of each superpixel's centroid, rounded to a pixel.
    mean_colour : (S, 3) float64
        Mean image colour of each superpixel, in [0, 1].
    adjacency : (E, 2) int64
        Pairs (s, t), s < t, of superpixels that touch (4-connectivity), each once.
    """

    labels: np.ndarray
    centroids: np.ndarray
    mean_colour: np.ndarray
    adjacency: np.ndarray

    @property
    def count(self):
        """Number of superpixels S."""
        return len(self.centroids)

    @property
    def centroid_pixels(self):
        """(S,) int64: row-major pixel index of each centroid."""
        return self.centroids[:, 0] * self.labels.shape[1] + self.centroids[:, 1]

    def mean_of(self, values):
        """Mean of a per-pixel quantity over each superpixel.

        Parameters
        ----------
        values : (H, W, C) float array

        Returns
        -------
        (S, C) float64
        """
        return label_means(self.labels, values, self.count)


def label_means(labels, values, count):
    """Mean of ``values`` over each label.

    Parameters
    ----------
    labels : (H, W) int array, values 0..count-1
    values : (H, W, C) float array
    count : int

    Returns
    -------
    (count, C) float64
    """
    flat = labels.ravel()
    sizes = np.maximum(np.bincount(flat, minlength=count), 1)
    values = np.asarray(values, dtype=np.float64).reshape(flat.size, -1)
    sums = np.stack([np.bincount(flat, values[:, c], minlength=count)
                     for c in range(values.shape[1])], axis=1)
    return sums / sizes[:, None]


def compute_superpixels(image, n_segments=2500, compactness=1e-20):
    """SLIC superpixels driven almost purely by colour (DESIGN step 2).

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1]
    n_segments : int, optional
        Approximate number of superpixels (2500 in the paper), capped at one per
        ``MIN_SUPERPIXEL_AREA`` pixels for small images.
    compactness : float, optional
        Weight of spatial proximity; the paper uses a vanishing value so superpixels
        follow colour edges. SLIC's search window still keeps them local.

    Returns
    -------
    Superpixels
    """
    n_segments = max(1, min(n_segments, image.shape[0] * image.shape[1] // MIN_SUPERPIXEL_AREA))
    labels = skimage.segmentation.slic(
        np.asarray(image, dtype=np.float64), n_segments=n_segments,
        compactness=compactness, start_label=0, enforce_connectivity=True,
        channel_axis=-1)
    # SLIC may leave gaps in the label range after enforcing connectivity.
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.reshape(image.shape[:2]).astype(np.int32)
    count = int(labels.max()) + 1
    h, w = labels.shape
    ys, xs = np.mgrid[0:h, 0:w]
    centroids = np.rint(label_means(labels, np.dstack([ys, xs]), count)).astype(np.int64)
    # A non-convex superpixel's rounded centroid may fall outside it; it is still a
    # valid pixel, which is all the affinities need.
    return Superpixels(labels=labels, centroids=centroids,
                       mean_colour=label_means(labels, image, count),
                       adjacency=_adjacent_pairs(labels))


def _adjacent_pairs(labels):
    pairs = np.concatenate([
        np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], axis=1),
        np.stack([labels[:-1, :].ravel(), labels[1:, :].ravel()], axis=1)])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(np.sort(pairs, axis=1), axis=0).astype(np.int64)
