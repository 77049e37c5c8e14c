"""Quality of the soft layers from rough guides, against the guide and closed-form matting.

For every photo ``alpha_stills/input/GT0x.png`` with true alpha ``gt/GT0x.png`` (and
``--rendered N`` shots of ``sss_vfx.data.strands_shot``, seeds 101..100+N, held out):

* a **guide** drawn by one of two recipes (``--recipe``, both by default), each seeded
  by the image name:

  - ``hurried`` (:func:`hurried_guide`): the true alpha thresholded at 0.5, its thin
    parts (hair, strands, petals' tips) removed by an opening 15 px wide, each
    remaining outline redrawn as a polygon of 32 points, and the whole shape shifted
    5-10 px in a random direction;
  - ``tight`` (:func:`tight_guide`): the solid part (true alpha > 0.5, opened 5 px
    wide) outlined by a polygon within 3 px of it, grown or shrunk by 3-6 px and
    shifted by 0-3 px: a careful roto;

* **soft layers**: ``segment_image(image, guides=guide)``; layer 0 is the object's
  (layers follow the guides' order, the rest last);
* baseline **guide**: the guide itself as the matte;
* baselines **closed-form** and **KNN**: closed-form matting (``benchmarks/baselines.py``)
  and KNN matting (pymatting's ``estimate_alpha_knn``) on one trimap from the guide
  (unknown within 10 px of its outline).

Scores: SAD = sum |alpha - gt| / 1000, MSE x 1000 over the image, band MSE x 1000 over
the transition band (true alpha in (0.01, 0.99), dilated by 3 px) and IoU (both
thresholded at 0.5). The targets: the soft layers beat the guide on SAD and IoU on every
photo; their mean band MSE is 1.5x below, and their mean SAD 10 % below, the better of
closed-form and KNN. Strips ``benchmarks/output/guides_<recipe>_<image>.png``: image |
true alpha | guide | closed-form | KNN | soft layers. Numbers go to
``benchmarks/output/bench_guides.json``.

Usage::

    python benchmarks/bench_guides.py                     # eleven photos, both recipes
    python benchmarks/bench_guides.py --recipe tight --images GT01,GT02
    python benchmarks/bench_guides.py --rendered 3        # and three rendered shots
    python benchmarks/bench_guides.py --max-pixels 16384  # reduced working size
    python benchmarks/bench_guides.py --quick --images GT01
"""

from __future__ import annotations

import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (makes sss_vfx importable)
from _common import cv2  # noqa: E402
from baselines import closed_form_alpha, make_trimap  # noqa: E402

import sss_vfx  # noqa: E402
from sss_vfx.evaluation import iou, mse_x1000, sad  # noqa: E402
from sss_vfx.data import strands_shot  # noqa: E402

IMAGES = tuple(f"GT{i:02d}" for i in range(1, 12))
METHODS = ("guide", "closed_form", "knn", "soft_layers")
TRIMAP_RADIUS = 10
POLYGON_POINTS, HAIR_WIDTH, OFFSET_PX = 32, 15, (5.0, 10.0)
#: Tight recipe: polygon tolerance, opening width, grow/shrink range and shift range, px.
TIGHT = {"tolerance_px": 3.0, "opening_px": 5, "grow_px": (3, 6), "offset_px": (0.0, 3.0)}
RECIPES = ("hurried", "tight")
RENDERED_SHAPE, QUICK_SCALE = (480, 640), 0.5
QUICK_OPTIONS = dict(eigenvectors=20, initial_segments=8, superpixels=300,
                     constrained_iterations=10, relaxed_rounds=3, cg_steps=30)


def hurried_guide(alpha, seed, *, points=POLYGON_POINTS, hair=HAIR_WIDTH, offset=OFFSET_PX):
    """A roto drawn in a hurry from the true alpha: (H, W) float32 of 0 and 1.

    Thresholded at 0.5, opened by an ellipse ``hair`` px wide (hair and thin parts go),
    each outline of at least 0.2 % of the image redrawn as a polygon of ``points``
    vertices evenly spaced along it, then shifted by ``offset`` px (uniform in the
    range) in a uniform random direction.
    """
    rng = np.random.default_rng(seed)
    contours = _outlines(alpha, hair)
    guide = np.zeros(np.shape(alpha), np.uint8)
    for contour in contours:
        index = np.linspace(0, len(contour), points, endpoint=False).astype(int)
        cv2.fillPoly(guide, [contour[index]], 1)
    return _shifted(guide, rng, offset)


def tight_guide(alpha, seed, *, tolerance=TIGHT["tolerance_px"], opening=TIGHT["opening_px"],
                grow=TIGHT["grow_px"], offset=TIGHT["offset_px"]):
    """A careful roto from the true alpha: (H, W) float32 of 0 and 1.

    The solid part (thresholded at 0.5, opened by an ellipse ``opening`` px wide) is
    outlined by polygons within ``tolerance`` px of it (``cv2.approxPolyDP``), grown or
    shrunk (even odds) by an integer number of px in ``grow`` (inclusive), then shifted
    by ``offset`` px (uniform in the range) in a uniform random direction.
    """
    rng = np.random.default_rng(seed)
    guide = np.zeros(np.shape(alpha), np.uint8)
    cv2.fillPoly(guide, [cv2.approxPolyDP(c, tolerance, True)
                         for c in _outlines(alpha, opening)], 1)
    radius = int(rng.integers(grow[0], grow[1] + 1))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    guide = (cv2.dilate if rng.random() < 0.5 else cv2.erode)(guide, disc)
    return _shifted(guide, rng, offset)


def _outlines(alpha, width):
    """Outer contours of the true alpha > 0.5 opened by an ellipse ``width`` px wide,
    those enclosing at least 0.2 % of the image."""
    binary = (np.asarray(alpha) > 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    body = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
    contours, _ = cv2.findContours(body, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return [c for c in contours if cv2.contourArea(c) > 0.002 * binary.size]


def _shifted(guide, rng, offset):
    """``guide`` (uint8) moved by ``offset`` px (uniform in the range) in a uniform random
    direction, as float32."""
    angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(*offset)
    shift = np.float32([[1, 0, length * np.cos(angle)], [0, 1, length * np.sin(angle)]])
    guide = cv2.warpAffine(guide, shift, guide.shape[::-1], flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_REPLICATE)
    return guide.astype(np.float32)


GUIDE_RECIPES = {"hurried": hurried_guide, "tight": tight_guide}


def knn_alpha(image, trimap):
    """KNN matting (Chen et al. 2013, pymatting's implementation) on a trimap."""
    from pymatting import estimate_alpha_knn
    alpha = estimate_alpha_knn(np.asarray(image, np.float64), np.asarray(trimap, np.float64))
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def transition_band(truth, radius=3):
    """Pixels of the true alpha's soft transitions, dilated by ``radius`` px."""
    soft = ((truth > 0.01) & (truth < 0.99)).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    return cv2.dilate(soft, kernel).astype(bool)


def band_mse_x1000(alpha, truth, band):
    return 1000.0 * float(np.mean((np.asarray(alpha, np.float64)[band] - truth[band]) ** 2))


def parse_args(argv):
    p = _common.base_parser(__doc__, "alpha_stills/")
    p.add_argument("--images", default=",".join(IMAGES),
                   help="comma-separated image names (default: %(default)s)")
    p.add_argument("--recipe", default=",".join(RECIPES),
                   help="comma-separated roto recipes, of: hurried, tight "
                        "(default: %(default)s)")
    p.add_argument("--rendered", type=int, default=0, metavar="N",
                   help="also score N rendered shots (seeds 101..100+N), held out")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="segment_image's max_pixels (default: the library's)")
    p.add_argument("--quick", action="store_true", help="smoke run: half size, cheap options")
    return p.parse_args(argv)


def evaluate(name, image, truth, options, args, recipe="hurried"):
    truth64 = truth.astype(np.float64)
    band = transition_band(truth64)
    mattes, seconds = {}, {}
    guide = GUIDE_RECIPES[recipe](truth, zlib.crc32(name.encode()))
    mattes["guide"], seconds["guide"] = guide, 0.0
    trimap = make_trimap(guide, threshold=0.5, radius=TRIMAP_RADIUS)
    for method, solve in (("closed_form", closed_form_alpha), ("knn", knn_alpha)):
        t0 = time.perf_counter()
        mattes[method] = solve(image, trimap)
        seconds[method] = time.perf_counter() - t0
    t0 = time.perf_counter()
    seg = sss_vfx.segment_image(image, guides=guide, progress=_common.StageLogger(name),
                                **options)
    seconds["soft_layers"] = time.perf_counter() - t0
    mattes["soft_layers"] = seg.alphas[:, :, 0]
    record = {
        "image": name, "recipe": recipe, "size": list(truth.shape[::-1]),
        "layers": int(seg.alphas.shape[2]),
        "sad": {m: sad(mattes[m], truth64) for m in METHODS},
        "mse_x1000": {m: mse_x1000(mattes[m], truth64) for m in METHODS},
        "band_mse_x1000": {m: band_mse_x1000(mattes[m], truth64, band) for m in METHODS},
        "iou": {m: iou(mattes[m], truth64) for m in METHODS},
        "seconds": seconds, "notes": list(seg.notes),
    }
    panels = [image] + [np.repeat(m[:, :, None], 3, axis=2) for m in
                        (truth, guide, mattes["closed_form"], mattes["knn"],
                         mattes["soft_layers"])]
    strip = np.round(np.clip(np.concatenate(panels, axis=1), 0, 1) * 255).astype(np.uint8)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"guides_{recipe}_{name}{'_quick' if args.quick else ''}.png"
    cv2.imwrite(str(args.out / stem), np.ascontiguousarray(strip[:, :, ::-1]))
    return record


SHORT = {"guide": "guide", "closed_form": "cf", "knn": "knn", "soft_layers": "layers"}
KEYS = ("sad", "mse_x1000", "band_mse_x1000", "iou")


def report(records, title):
    """Print one table (every image, then the means) and the targets' verdicts."""
    headers = ["image"] + [f"{k.split('_')[0]} {SHORT[m]}" for k in KEYS for m in METHODS]
    fmt = {"iou": "{:.3f}"}
    rows = [[r["image"]] + [fmt.get(k, "{:.2f}").format(r[k][m]) for k in KEYS
                            for m in METHODS] for r in records]
    mean = {k: {m: float(np.mean([r[k][m] for r in records])) for m in METHODS} for k in KEYS}
    rows.append(["mean"] + [fmt.get(k, "{:.2f}").format(mean[k][m]) for k in KEYS
                            for m in METHODS])
    print(f"\n{title}")
    print(_common.format_table(headers, rows))
    never_worse = [r["image"] for r in records
                   if not (r["sad"]["soft_layers"] < r["sad"]["guide"]
                           and r["iou"]["soft_layers"] > r["iou"]["guide"])]
    best = {k: min(mean[k]["closed_form"], mean[k]["knn"]) for k in KEYS[:3]}
    ratio = best["band_mse_x1000"] / max(mean["band_mse_x1000"]["soft_layers"], 1e-12)
    sad_gain = 1.0 - mean["sad"]["soft_layers"] / max(best["sad"], 1e-12)
    print(f"targets: beats the guide on SAD and IoU on every image -> "
          f"{'PASS' if not never_worse else 'FAIL ' + ','.join(never_worse)}; band MSE "
          f"better of cf/knn / layers = {ratio:.2f} (>= 1.5: "
          f"{'PASS' if ratio >= 1.5 else 'FAIL'}); SAD {100 * sad_gain:+.1f} % below the "
          f"better of cf/knn (>= 10 %: {'PASS' if sad_gain >= 0.1 else 'FAIL'})")
    return {"mean": mean, "not_beating_guide": never_worse,
            "band_ratio_vs_best_baseline": ratio, "sad_gain_vs_best_baseline": sad_gain}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.data, args.out = args.data.resolve(), args.out.resolve()
    options = dict(QUICK_OPTIONS) if args.quick else {}
    if args.max_pixels is not None:
        options["max_pixels"] = args.max_pixels
    stills = args.data / "alpha_stills"
    recipes = [r.strip() for r in args.recipe.split(",") if r.strip()]
    unknown = sorted(set(recipes) - set(GUIDE_RECIPES))
    if unknown:
        print(f"unknown recipe(s) {', '.join(unknown)}; use hurried and/or tight")
        return 2
    records, rendered = {r: [] for r in recipes}, {r: [] for r in recipes}
    for name in [n.strip() for n in args.images.split(",") if n.strip()]:
        path, gt = stills / "input" / f"{name}.png", stills / "gt" / f"{name}.png"
        if not (path.is_file() and gt.is_file()):
            _common.data_missing(path, f"{name} (photo or true alpha)", args.data)
            continue
        image, truth = _common.read_rgb(path), _common.read_channel(gt)
        if args.quick:
            size = (round(truth.shape[1] * QUICK_SCALE), round(truth.shape[0] * QUICK_SCALE))
            image = _common.resize(image, size, cv2.INTER_AREA)
            truth = _common.resize(truth, size, cv2.INTER_AREA)
        for recipe in recipes:
            records[recipe].append(evaluate(name, image, truth, options, args, recipe))
    for seed in range(101, 101 + args.rendered):
        shape = tuple(s // 4 for s in RENDERED_SHAPE) if args.quick else RENDERED_SHAPE
        shot = strands_shot(shape, seed=seed)
        for recipe in recipes:
            rendered[recipe].append(evaluate(f"rendered{seed}", shot.image, shot.alpha,
                                             options, args, recipe))
    result = {"meta": _common.run_metadata(argv), "options": options,
              "guide_recipes": {"hurried": {"points": POLYGON_POINTS, "hair_px": HAIR_WIDTH,
                                            "offset_px": OFFSET_PX}, "tight": TIGHT},
              "trimap_radius": TRIMAP_RADIUS, "images": records, "rendered": rendered,
              "summary": {}, "rendered_summary": {}}
    for recipe in recipes:
        if records[recipe]:
            result["summary"][recipe] = report(records[recipe],
                                               f"photos (alpha_stills), {recipe} roto")
        if rendered[recipe]:
            result["rendered_summary"][recipe] = report(
                rendered[recipe], f"rendered shots (held out), {recipe} roto")
    if not any(records.values()) and not any(rendered.values()):
        print("nothing to run: no data found")
        return 0
    path = _common.write_json(args.out / f"bench_guides{'_quick' if args.quick else ''}.json",
                              result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
