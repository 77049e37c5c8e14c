"""Quality of the soft layers against true alpha (alphamatting.com low-res training set).

For every photo ``alpha_stills/input/GT0x.png`` with true alpha ``gt/GT0x.png`` (first
channel / 255):

* features as a segmentation network would give them:
  ``sss_vfx.data.coarse_features(alpha_true, scale=8, blur_sigma=1.0)``;
* **soft layers**: ``segment_image(image, features, **sss_vfx.COARSE_FEATURES)``, the
  library's options for features that are a network's masks (``--paper-defaults``: the
  paper's defaults instead; ``--embedding-weight`` etc. override either). The features
  are recognised as two classes, so there is one layer per class (object, rest), fitted
  in the eigenvectors' span (``--class-layers segments``: the soft segments added up by
  class; ``--feature-classes off``: the paper's grouping into 5 layers); layer k counts as
  foreground when the alpha-weighted mean of the coarse mask over it is > 0.5, and the
  matte is the sum of the foreground layers;
* baseline **coarse mask**: ``sss_vfx.data.coarse_mask`` (same recipe) as the matte;
* baseline **closed-form**: closed-form matting (Levin et al. 2008) at full resolution on
  a trimap made from the coarse mask (threshold 0.5, unknown within 10 px of its
  boundary), see ``benchmarks/baselines.py``.

Scores over the whole image: SAD = sum |alpha - gt| / 1000 (the alphamatting.com
convention) and MSE x 1000 = 1000 * mean (alpha - gt)^2. The target: the soft layers
beat both baselines on average (SAD and MSE). Visual strips
``benchmarks/output/quality_GT0x.png``: image | true alpha | coarse mask | closed-form |
soft layers; ``quality_GT0x_error.png``: each method's signed error (red: matte above the
true alpha, green: below); ``quality_GT0x_layers.png`` is the colour-coded preview of all
layers.
Numbers go to ``benchmarks/output/bench_quality.json``.

Usage::

    python benchmarks/bench_quality.py                    # all eleven photos
    python benchmarks/bench_quality.py --paper-defaults   # the paper's options
    python benchmarks/bench_quality.py --images GT01,GT03 --max-pixels 0
    python benchmarks/bench_quality.py --refine-band 3
    python benchmarks/bench_quality.py --gram-stride 1    # faithful constrained step
    python benchmarks/bench_quality.py --class-layers segments   # grouped soft segments
    python benchmarks/bench_quality.py --docia            # also docia at 320x320, faithful
    python benchmarks/bench_quality.py --rendered 5       # also 5 rendered shots, held out
    python benchmarks/bench_quality.py --rendered 3 --first-seed 301   # new seeds
    python benchmarks/bench_quality.py --quick --images GT01   # smoke run (quarter size)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (makes sss_vfx importable)
from _common import cv2  # noqa: E402
from baselines import closed_form_alpha, make_trimap  # noqa: E402

import sss_vfx  # noqa: E402
from sss_vfx.io.outputs import write_preview_png  # noqa: E402
from sss_vfx.evaluation import foreground_layers, mse_x1000, sad  # noqa: E402
from sss_vfx.data import coarse_features, coarse_mask, strands_shot  # noqa: E402

IMAGES = tuple(f"GT{i:02d}" for i in range(1, 12))
METHODS = ("coarse_mask", "closed_form", "soft_layers")
COARSE = dict(scale=8, blur_sigma=1.0)
TRIMAP_RADIUS = 10
RENDERED_SHAPE, RENDERED_QUICK = (480, 640), (120, 160)
# --quick: images at half width and height, cheap options; only checks the script runs.
QUICK_SCALE = 0.5
QUICK_OPTIONS = dict(eigenvectors=20, initial_segments=8, superpixels=300,
                     constrained_iterations=10, relaxed_rounds=3, cg_steps=30)


def parse_args(argv):
    p = _common.base_parser(__doc__, "alpha_stills/")
    p.add_argument("--images", default=",".join(IMAGES),
                   help="comma-separated image names (default: %(default)s)")
    p.add_argument("--paper-defaults", action="store_true",
                   help="run the soft layers with the paper's defaults rather than "
                        "sss_vfx.COARSE_FEATURES")
    p.add_argument("--embedding-weight", type=float, default=None,
                   help="segment_image's embedding_weight (default: COARSE_FEATURES')")
    p.add_argument("--grouping-colour-weight", type=float, default=None,
                   help="segment_image's grouping_colour_weight (default: "
                        "COARSE_FEATURES')")
    p.add_argument("--refine-band", type=int, default=None,
                   help="segment_image's refine_band (default: the library's)")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="segment_image's max_pixels (default: the library default; "
                        "0 = faithful, no downscale)")
    p.add_argument("--feature-classes", choices=("auto", "off"), default=None,
                   help="segment_image's feature_classes (default: the library's)")
    p.add_argument("--class-layers", choices=("segments", "fit", "both"), default=None,
                   help="segment_image's class_layers (default: COARSE_FEATURES' fit)")
    p.add_argument("--gram-stride", type=int, default=None,
                   help="segment_image's gram_stride (default: the library's; 1 = "
                        "faithful constrained sparsification)")
    p.add_argument("--solver", choices=("direct", "cg"), default="direct",
                   help="closed-form solver: SuperLU or Jacobi-preconditioned CG "
                        "(default: %(default)s)")
    p.add_argument("--docia", action="store_true",
                   help="also segment docia at 320x320 (max_pixels=0): preview and coverage")
    p.add_argument("--rendered", type=int, default=0, metavar="N",
                   help="also score N rendered shots (sss_vfx.data.strands_shot, "
                        "640x480, seeds S..S+N-1), reported apart from the dev images")
    p.add_argument("--first-seed", type=int, default=1, metavar="S",
                   help="seed of the first rendered shot (default 1; give new seeds for "
                        "a set no option was chosen on)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: half-size images and cheap options")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- scoring


# ------------------------------------------------------------------------ one image


def load_pair(data_dir, name, quick):
    image = _common.read_rgb(data_dir / "alpha_stills" / "input" / f"{name}.png")
    truth = _common.read_channel(data_dir / "alpha_stills" / "gt" / f"{name}.png")
    if image.shape[:2] != truth.shape:
        raise SystemExit(f"{name}: image {image.shape[:2]} and alpha {truth.shape} differ")
    if quick:
        h, w = truth.shape
        size = (max(32, round(w * QUICK_SCALE)), max(32, round(h * QUICK_SCALE)))
        image = _common.resize(image, size, cv2.INTER_AREA)
        truth = _common.resize(truth, size, cv2.INTER_AREA)
    return image, truth


def evaluate(name, image, truth, options, args):
    """Run the three methods on one image; return (record, mattes)."""
    truth64 = truth.astype(np.float64)
    mattes, seconds, extra = {}, {}, {}

    t0 = time.perf_counter()
    mask = coarse_mask(truth, **COARSE)
    seconds["coarse_mask"] = time.perf_counter() - t0
    mattes["coarse_mask"] = mask

    t0 = time.perf_counter()
    trimap = make_trimap(mask, threshold=0.5, radius=TRIMAP_RADIUS)
    info = {}
    mattes["closed_form"] = closed_form_alpha(image, trimap, solver=args.solver, info=info)
    seconds["closed_form"] = time.perf_counter() - t0
    extra["closed_form"] = {k: v for k, v in info.items()}

    features = coarse_features(truth, **COARSE)
    t0 = time.perf_counter()
    seg = sss_vfx.segment_image(image, features, progress=_common.StageLogger(name), **options)
    seconds["soft_layers"] = time.perf_counter() - t0
    chosen, share = foreground_layers(seg.alphas, mask)
    soft = np.clip(seg.alphas[:, :, chosen].sum(axis=2), 0.0, 1.0) if chosen else \
        np.zeros(truth.shape, np.float32)
    mattes["soft_layers"] = soft
    extra["soft_layers"] = {
        "layers": int(seg.alphas.shape[2]), "foreground_layers": chosen,
        "mask_share": [float(v) for v in share],
        "coverage": _common.layer_coverage(seg.alphas),
        "working_size": list(seg.working_image.shape[1::-1]),
        "timings_s": dict(seg.timings), "notes": list(seg.notes),
    }

    record = {
        "image": name, "size": list(truth.shape[::-1]),
        "unknown_pixels": int((trimap == 0.5).sum()),
        "sad": {m: sad(mattes[m], truth64) for m in METHODS},
        "mse_x1000": {m: mse_x1000(mattes[m], truth64) for m in METHODS},
        "seconds": seconds, "details": extra,
    }
    suffix = "_quick" if args.quick else ""
    write_strip(args.out / f"quality_{name}{suffix}.png", image, truth, mattes)
    write_error_strip(args.out / f"quality_{name}_error{suffix}.png", truth, mattes)
    write_preview_png(args.out / f"quality_{name}_layers{suffix}.png", seg.image, seg.alphas)
    return record


def write_strip(path, image, truth, mattes):
    """image | true alpha | coarse mask | closed-form | soft layers, labelled, 8-bit PNG."""
    panels = [image] + [np.repeat(m[:, :, None], 3, axis=2)
                        for m in (truth, mattes["coarse_mask"], mattes["closed_form"],
                                  mattes["soft_layers"])]
    _write_panels(path, panels, ["image", "true alpha", "coarse mask", "closed-form",
                                 "soft layers"])


def error_map(alpha, truth):
    """Signed error as colour: red where ``alpha`` exceeds the truth, green where it falls
    short, black where they agree. (H, W, 3) float in [0, 1]."""
    diff = alpha.astype(np.float64) - truth
    return np.stack([np.clip(diff, 0, 1), np.clip(-diff, 0, 1), np.zeros_like(diff)], -1)


def write_error_strip(path, truth, mattes):
    """Signed error maps of each method against the true alpha, with its SAD, 8-bit PNG."""
    truth64 = truth.astype(np.float64)
    panels = [error_map(mattes[m], truth64) for m in METHODS]
    labels = [f"{m} error, SAD {sad(mattes[m], truth64):.2f}" for m in METHODS]
    _write_panels(path, panels, labels)


def _write_panels(path, panels, labels):
    tiles = []
    for panel, label in zip(panels, labels):
        tile = np.round(np.clip(panel, 0, 1) * 255).astype(np.uint8)
        tile = np.ascontiguousarray(tile[:, :, ::-1])  # RGB -> BGR for OpenCV
        scale = max(0.4, tile.shape[0] / 600)
        for colour, thick in (((0, 0, 0), 4), ((255, 255, 255), 1)):
            cv2.putText(tile, label, (8, int(24 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.7 * scale, colour, thick, cv2.LINE_AA)
        tiles.append(tile)
        tiles.append(np.full((tile.shape[0], 4, 3), 128, np.uint8))
    strip = np.concatenate(tiles[:-1], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), strip):
        raise SystemExit(f"cannot write {path}")


# ----------------------------------------------------------------------------- docia


def run_docia(args):
    """docia halved to 320x320 (the MATLAB demo), max_pixels=0: layers and coverage."""
    path = args.data / "docia.png"
    if not path.is_file():
        _common.data_missing(path, "docia.png", args.data)
        return None
    photo, feats = _common.load_docia(args.data)
    side = 64 if args.quick else 320
    image = _common.resize(photo, (side, side), cv2.INTER_AREA)
    features = _common.resize(feats, (side, side), cv2.INTER_AREA)
    options = {**(QUICK_OPTIONS if args.quick else {}), "max_pixels": 0}
    t0 = time.perf_counter()
    seg = sss_vfx.segment_image(image, features, progress=_common.StageLogger("docia"),
                                **options)
    seconds = time.perf_counter() - t0
    out = args.out / ("docia_320_preview_quick.png" if args.quick else "docia_320_preview.png")
    args.out.mkdir(parents=True, exist_ok=True)
    write_preview_png(out, seg.image, seg.alphas)
    coverage = _common.layer_coverage(seg.alphas)
    print(f"\ndocia {side}x{side}, max_pixels=0: {seg.alphas.shape[2]} layers in "
          f"{seconds:.1f} s (the paper's demo gives about 5: sky, balloon, ground, person, "
          f"horizon strip)")
    print(_common.format_table(["layer", "coverage"],
                               [[k + 1, f"{100 * c:.1f}%"] for k, c in enumerate(coverage)]))
    print(f"preview: {out}")
    return {"size": [side, side], "layers": int(seg.alphas.shape[2]), "coverage": coverage,
            "seconds": seconds, "timings_s": dict(seg.timings), "preview": str(out)}


# ----------------------------------------------------------------------------- report


def print_report(records):
    headers = ["image", "size"] + [f"SAD {m}" for m in METHODS] + \
        [f"MSE {m}" for m in METHODS] + [f"s {m}" for m in METHODS] + ["fg layers"]
    rows = []
    for r in records:
        d = r["details"]["soft_layers"]
        rows.append([r["image"], "x".join(map(str, r["size"]))] +
                    [f"{r['sad'][m]:.2f}" for m in METHODS] +
                    [f"{r['mse_x1000'][m]:.2f}" for m in METHODS] +
                    [f"{r['seconds'][m]:.2f}" for m in METHODS] +
                    [f"{len(d['foreground_layers'])}/{d['layers']}"])
    mean = mean_scores(records)
    rows.append(["mean", ""] + [f"{mean['sad'][m]:.2f}" for m in METHODS] +
                [f"{mean['mse_x1000'][m]:.2f}" for m in METHODS] +
                [f"{mean['seconds'][m]:.2f}" for m in METHODS] + [""])
    print(_common.format_table(headers, rows))
    print("SAD = sum|alpha - gt| / 1000; MSE = 1000 x mean (alpha - gt)^2; both over the "
          "whole image. s = seconds (closed-form includes building the Laplacian).")


def mean_scores(records):
    return {key: {m: float(np.mean([r[key][m] for r in records])) for m in METHODS}
            for key in ("sad", "mse_x1000", "seconds")}


def verdict(mean):
    soft = "soft_layers"
    checks = {key: all(mean[key][soft] < mean[key][m] for m in ("coarse_mask", "closed_form"))
              for key in ("sad", "mse_x1000")}
    return checks, all(checks.values())


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.data = args.data.resolve()
    args.out = args.out.resolve()
    options = {} if args.paper_defaults else dict(sss_vfx.COARSE_FEATURES)
    if args.quick:
        options.update(QUICK_OPTIONS)
    for name in ("max_pixels", "embedding_weight", "grouping_colour_weight", "refine_band",
                 "gram_stride", "feature_classes", "class_layers"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)

    stills = args.data / "alpha_stills"
    names = [n.strip() for n in args.images.split(",") if n.strip()]
    present = [n for n in names if (stills / "input" / f"{n}.png").is_file()
               and (stills / "gt" / f"{n}.png").is_file()]
    if not stills.is_dir():
        _common.data_missing(stills, "alpha_stills/", args.data)
    else:
        for n in names:
            if n not in present:
                _common.data_missing(stills / "input" / f"{n}.png",
                                     f"{n} (photo or true alpha)", args.data)

    records = []
    for name in present:
        print(f"== {name}", file=sys.stderr, flush=True)
        image, truth = load_pair(args.data, name, args.quick)
        records.append(evaluate(name, image, truth, options, args))

    rendered = []
    for seed in range(args.first_seed, args.first_seed + args.rendered):
        name = f"rendered{seed}"
        print(f"== {name}", file=sys.stderr, flush=True)
        shot = strands_shot(RENDERED_QUICK if args.quick else RENDERED_SHAPE, seed=seed)
        rendered.append(evaluate(name, shot.image, shot.alpha, options, args))

    result = {"meta": _common.run_metadata(argv), "options": options,
              "coarse_recipe": COARSE, "trimap_radius": TRIMAP_RADIUS,
              "closed_form_solver": args.solver, "quick": bool(args.quick),
              "images": records}
    if records:
        print()
        print_report(records)
        mean = mean_scores(records)
        checks, ok = verdict(mean)
        result["mean"] = mean
        result["target_soft_layers_beat_both_baselines"] = {**checks, "all": ok}
        label = "n/a (quick), would be " if args.quick else ""
        print(f"target: soft layers beat both baselines on average -> {label}"
              f"{'PASS' if ok else 'FAIL'} (SAD: {'yes' if checks['sad'] else 'no'}, "
              f"MSE: {'yes' if checks['mse_x1000'] else 'no'})")
        print(f"strips: {args.out}/quality_<image>{'_quick' if args.quick else ''}.png")
    if rendered:
        print("\nrendered shots (held out: no option was chosen on them)")
        print_report(rendered)
        result["rendered"] = rendered
        result["rendered_mean"] = mean_scores(rendered)
    if args.docia:
        result["docia"] = run_docia(args)
    if not records and not rendered and not result.get("docia"):
        print("nothing to run: no data found")
        return 0
    suffix = "_quick" if args.quick else ""
    path = _common.write_json(args.out / f"bench_quality{suffix}.json", result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
