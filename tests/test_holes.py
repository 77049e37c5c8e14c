"""See-through holes in a guide's interior open; the object's own colours stay solid."""

import numpy as np

from sss_vfx.segments.evidence import EVIDENCE, object_evidence, signed_distance
from sss_vfx.segments.holes import guide_holes

BACKGROUND, OBJECT = (0.15, 0.2, 0.5), (0.9, 0.6, 0.2)


def scene(background, size=72, lo=8, hi=64, seed=0):
    """A square object (``lo:hi``) over the background, the background's colour where
    ``background`` (a (size, size) bool mask inside the square) too; its roto is the
    filled square, and the soft layer repeats the roto (it missed the holes as well)."""
    obj = np.zeros((size, size), bool)
    obj[lo:hi, lo:hi] = True
    shown = ~obj | background
    img = np.where(shown[..., None], BACKGROUND, OBJECT)
    img = np.clip(img + np.random.default_rng(seed).normal(0, 0.01, img.shape), 0, 1)
    return img, obj.astype(float)


def test_the_background_seen_through_a_hole_in_the_roto_leaves_the_layer():
    hole = np.zeros((72, 72), bool)
    hole[30:38, 30:38] = True  # 4 % of the interior
    img, guide = scene(hole)
    alpha, scale = object_evidence(img, guide, guide)
    closed, _ = object_evidence(img, guide, guide, hole_ratio=np.inf)
    assert closed[hole].min() == 1.0  # without the rule the roto's interior is fixed
    assert alpha[hole].max() < 0.1
    assert alpha[31:37, 31:37].max() == 0.0  # the core is fixed to 0
    interior = (guide > 0.5) & ~hole
    deep = signed_distance(guide > 0.5) > EVIDENCE["band"] * scale
    assert alpha[interior & deep].min() > 0.9  # the edge is the image's, not a dark halo
    assert alpha[interior & deep & (signed_distance(~hole) > 3)].min() == 1.0


def test_a_colour_the_object_wears_over_a_fair_part_of_it_stays_solid():
    # Dots of 4 x 4 px, each big enough for a hole, of the background's exact colour over
    # 8 % of the interior: the object's own (a printed pattern, the flag's second
    # colour), not holes.
    dots = np.zeros((72, 72), bool)
    for y in range(17, 56, 13):
        for x in range(17, 56, 13):
            dots[y:y + 4, x:x + 4] = True
    img, guide = scene(dots)
    solid = signed_distance(guide > 0.5) > 7.5
    assert 0.07 < dots[solid].mean() < 0.1
    alpha, _ = object_evidence(img, guide, guide)
    assert alpha[solid].min() == 1.0


def test_thin_lines_and_specks_of_the_background_colour_are_no_holes():
    # Seams one or two px wide (where two of the object's colours meet, their mix can be
    # the background's) and specks of a few px are left to the guide.
    marks = np.zeros((120, 120), bool)
    marks[30:70, 50] = True
    marks[80, 20:60] = marks[81, 20:60] = True
    marks[30:33, 80:83] = True  # 9 px
    img, guide = scene(marks, size=120, hi=112)
    distance = signed_distance(guide > 0.5)
    core, free = guide_holes(img, distance, 7.5)
    assert not core.any() and not free.any()
    big = marks.copy()
    big[30:34, 80:84] = True  # 16 px: a hole
    core, free = guide_holes(scene(big, size=120, hi=112)[0], distance, 7.5)
    assert core[31:33, 81:83].all() and core.sum() == 4 and free.sum() > 0
