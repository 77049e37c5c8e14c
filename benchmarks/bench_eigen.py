"""The eigen stage alone on one configuration's Laplacian: time, accuracy, coarse spaces.

For A/B comparisons of eigensolvers at fewer CPU minutes than ``bench_still.py``: the
Laplacian and the working image of a ``bench_still.py`` configuration are built once
(``segment_image`` with default options) and kept in ``--out`` (``eigen_NAME.npz``);
later runs with ``--reuse`` start from them.

It reports:

* the default solver's wall time (``--repeat`` runs, median) and the load average
  before and after;
* its accuracy against ARPACK (``block=False``, the paper's solver): the largest
  eigenvalue difference, the largest residual ``||L v - lambda v||`` and the largest
  principal angle between the two ``k``-dimensional subspaces;
* the gap after the ``k``-th eigenvalue: by Davis and Kahan a subspace whose residuals
  are ``r`` is within ``asin(r / gap)`` of the exact one, so the gap says how far a solver
  must converge for the ``k``-vector subspace to be pinned down;
* with ``--coarse S`` (S > 0), how well coarse spaces that a multilevel start would
  prolong from hold the reference eigenvectors: the norm of each eigenvector's part
  outside the space (0 = inside), for piecewise constant 2x2 aggregates, bilinear hat
  functions on a grid of spacing S, and the hat functions times ``(1, R, G, B)`` of the
  working image (the matting Laplacian's null space is locally affine in colour) at
  spacings S and 2S.

Usage::

    python benchmarks/bench_eigen.py --config docia-640-default --out DIR
    python benchmarks/bench_eigen.py --config docia-640-default --out DIR --reuse --repeat 5
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (makes sss_vfx importable)

import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402
import scipy.sparse.linalg  # noqa: E402

import sss_vfx  # noqa: E402
from bench_still import CONFIGS  # noqa: E402
from sss_vfx.spectral import (largest_principal_angle, residuals,  # noqa: E402
                              smallest_magnitude_eigs)


def parse_args(argv):
    p = _common.base_parser(__doc__, "docia.png")
    p.add_argument("--config", default="docia-640-default",
                   choices=[c for c in CONFIGS if "paper" not in c and "faithful" not in c])
    p.add_argument("--repeat", type=int, default=3, help="timed runs of the default solver")
    p.add_argument("--coarse", type=int, default=4,
                   help="grid spacing of the coarse spaces studied; 0 = no study")
    p.add_argument("--reuse", action="store_true",
                   help="start from the Laplacian a previous run kept in --out")
    return p.parse_args(argv)


def laplacian_of(name, args):
    """``(laplacian, working image (h, w, 3), k)`` of configuration ``name``."""
    path = args.out / f"eigen_{name}.npz"
    if args.reuse and path.exists():
        kept = np.load(path)
        lap = scipy.sparse.csr_matrix((kept["data"], kept["indices"], kept["indptr"]),
                                      shape=tuple(kept["shape"]))
        return lap, kept["image"], int(kept["k"])
    config = CONFIGS[name]
    photo, feats = _common.load_docia(args.data)
    image = _common.resize(photo, config.size_wh, config.interpolation)
    features = _common.resize(feats, config.size_wh, config.interpolation)
    seg = sss_vfx.segment_image(image, features, **config.options)
    lap = scipy.sparse.csr_matrix(seg.laplacian)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(path, data=lap.data, indices=lap.indices, indptr=lap.indptr,
             shape=np.array(lap.shape), image=seg.working_image,
             k=seg.options.eigenvectors)
    return lap, seg.working_image, seg.options.eigenvectors


def hat_prolongation(shape, spacing, channels):
    """(N, m) sparse: bilinear hat functions on a grid of ``spacing`` pixels, each times
    every one of ``channels`` ((N, c) float, e.g. ones and the colours)."""
    h, w = shape
    pixel = np.arange(h * w)
    ys, xs = np.divmod(pixel, w)
    parts = []
    for size, coord in ((h, ys), (w, xs)):
        nodes = np.unique(np.minimum(np.arange(0, size + spacing - 1, spacing), size - 1))
        cell = np.clip(np.searchsorted(nodes, coord, side="right") - 1, 0, len(nodes) - 2)
        t = (coord - nodes[cell]) / (nodes[cell + 1] - nodes[cell])
        parts.append((cell, t, len(nodes)))
    (cy, ty, my), (cx, tx, mx) = parts
    rows, cols, vals = [], [], []
    for dy, wy in ((0, 1 - ty), (1, ty)):
        for dx, wx in ((0, 1 - tx), (1, tx)):
            node = (cy + dy) * mx + (cx + dx)
            for c in range(channels.shape[1]):
                rows.append(pixel)
                cols.append(node * channels.shape[1] + c)
                vals.append(wy * wx * channels[:, c])
    p = scipy.sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                        np.concatenate(cols))),
                                shape=(h * w, my * mx * channels.shape[1]))
    used = np.flatnonzero(np.asarray(abs(p).sum(axis=0)).ravel() > 0)
    return p[:, used]


def outside_norms(prolongation, vectors):
    """``||v - P P^+ v||`` of every column of ``vectors`` (orthonormal), (k,)."""
    gram = (prolongation.T @ prolongation).tocsc()
    gram = gram + 1e-12 * gram.diagonal().max() * scipy.sparse.identity(gram.shape[0])
    inside = prolongation @ scipy.sparse.linalg.splu(gram.tocsc()).solve(
        np.asarray(prolongation.T @ vectors))
    return np.linalg.norm(vectors - inside, axis=0)


def coarse_spaces(shape, image, spacing):
    """name -> (N, m) prolongation of the coarse spaces studied."""
    h, w = shape
    ys, xs = np.divmod(np.arange(h * w), w)
    aggregate = (ys // 2) * ((w + 1) // 2) + xs // 2
    ones = np.ones((h * w, 1))
    colour = np.hstack([ones, image.reshape(-1, 3) - image.reshape(-1, 3).mean(axis=0)])
    return {
        "aggregates 2x2": scipy.sparse.csc_matrix(
            (np.ones(h * w), (np.arange(h * w), aggregate))),
        f"bilinear/{spacing}": hat_prolongation(shape, spacing, ones),
        f"colour-affine/{spacing}": hat_prolongation(shape, spacing, colour),
        f"colour-affine/{2 * spacing}": hat_prolongation(shape, 2 * spacing, colour),
    }


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not (args.data / "docia.png").exists():
        _common.data_missing(args.data / "docia.png", "docia.png", args.data)
        return 0
    lap, image, k = laplacian_of(args.config, args)
    shape = image.shape[:2]
    result = {"meta": _common.run_metadata(sys.argv), "config": args.config,
              "pixels": lap.shape[0], "k": k, "load_before": os.getloadavg()}
    seconds = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        values, vectors = smallest_magnitude_eigs(lap, k, shape=shape)
        seconds.append(time.perf_counter() - start)
    result["load_after"] = os.getloadavg()
    start = time.perf_counter()
    ref_values, ref_vectors = smallest_magnitude_eigs(lap, k + 1, shape=shape, block=False)
    result["arpack_s"] = time.perf_counter() - start
    gap = abs(ref_values[k]) - abs(ref_values[k - 1])
    result.update(
        block_s=seconds, block_median_s=float(np.median(seconds)),
        eigenvalue_difference=float(np.abs(values - ref_values[:k]).max()),
        residual=float(residuals(lap, vectors, values).max()),
        largest_angle_rad=largest_principal_angle(ref_vectors[:, :k], vectors),
        gap_after_k=float(gap), relative_gap_after_k=float(gap / abs(ref_values[k - 1])),
        residual_for_1_degree=float(gap * np.sin(np.radians(1.0))))
    print(f"{args.config}: {lap.shape[0]} px, k={k}; load {result['load_before'][0]:.2f} "
          f"-> {result['load_after'][0]:.2f}")
    print(f"block Lanczos {result['block_median_s']:.2f} s (median of {args.repeat}), "
          f"ARPACK {result['arpack_s']:.2f} s")
    print(f"against ARPACK: eigenvalues {result['eigenvalue_difference']:.2g}, residuals "
          f"<= {result['residual']:.2g}, largest principal angle "
          f"{result['largest_angle_rad']:.2g} rad")
    print(f"gap after the {k}th eigenvalue {gap:.3g} ({result['relative_gap_after_k']:.2%}):"
          f" a subspace within 1 degree needs residuals <= "
          f"{result['residual_for_1_degree']:.2g}")
    if args.coarse > 0:
        rows, result["coarse"] = [], {}
        for name, prolongation in coarse_spaces(shape, image, args.coarse).items():
            outside = outside_norms(prolongation, ref_vectors[:, :k])
            result["coarse"][name] = dict(dof=prolongation.shape[1],
                                          outside_max=float(outside.max()),
                                          outside_median=float(np.median(outside)))
            rows.append([name, prolongation.shape[1],
                         f"{lap.shape[0] / prolongation.shape[1]:.1f}x",
                         f"{np.median(outside):.3g}", f"{outside.max():.3g}"])
        print(_common.format_table(["coarse space", "dof", "fewer", "outside median",
                                    "outside max"], rows))
    path = _common.write_json(args.out / f"bench_eigen_{args.config}.json", result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
