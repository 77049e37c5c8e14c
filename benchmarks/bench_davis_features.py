"""DAVIS shots in video mode with two-class features made from the given masks.

The coarse-mask counterpart of ``bench_davis_guides.py``: each frame's features are
``sss_vfx.data.coarse_features(mask, seed=frame_index)`` (the mask area-averaged to
1/8, thresholded, blurred, with a seeded wobble, painted in two feature colours), what
``bench_video.py --coarse-features`` gives car-shadow, as a segmentation network's mask
would. The shot runs through ``sss_vfx.segment_video(frames, features,
**sss_vfx.COARSE_FEATURES)``: the features are recognised as two classes, one layer
each. The object's matte is the sum of the layers whose alpha-weighted mean of the
coarse mask exceeds 0.5 (``sss_vfx.evaluation.foreground_layers``, per frame).

Scores against the annotations, per frame: IoU of the matte (threshold 0.5) and of the
coarse mask the features were painted from; SAD of both (sum |a - mask| / 1000, the
masks being binary); dtSSD over the shot. Numbers go to
``benchmarks/output/bench_davis_features_<shot>.json``.

Usage::

    python benchmarks/bench_davis_features.py --shot parkour --frames 8
    python benchmarks/bench_davis_features.py --shot all --frames 8 --max-pixels 16384
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (makes sss_vfx importable)
from bench_davis_guides import all_shots, read_shot  # noqa: E402

import sss_vfx  # noqa: E402
from sss_vfx.evaluation import dtssd, foreground_layers, iou, sad  # noqa: E402
from sss_vfx.data import coarse_features  # noqa: E402

#: The feature colours of ``coarse_features``' defaults: the mask is read back from them.
FG, BG = np.array((0.9, 0.2, 0.1)), np.array((0.1, 0.3, 0.9))


def parse_args(argv):
    p = _common.base_parser(__doc__, "davis_car_shadow/ and davis/")
    p.add_argument("--shot", default="parkour",
                   help="DAVIS shot name, comma-separated names, or 'all' "
                        "(default: %(default)s)")
    p.add_argument("--frames", type=int, default=8, help="first N frames (default 8)")
    p.add_argument("--max-pixels", type=int, default=16384,
                   help="working size of the spectral stages (default 16384)")
    p.add_argument("--no-temporal", action="store_true", help="per-frame baseline")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR",
                   help="also write each shot's layers, masks and annotations to "
                        "DIR/<shot>.npz (float16), to study them without running again")
    return p.parse_args(argv)


def feature_mask(features):
    """The coarse mask ``features`` were painted from: (H, W) float in [0, 1]."""
    step = FG - BG
    return np.clip((np.asarray(features, np.float64) - BG) @ step / (step @ step), 0, 1)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    shots = all_shots(args.data) if args.shot == "all" else args.shot.split(",")
    summaries = [s for s in (run_shot(args, argv, shot) for shot in shots) if s is not None]
    if summaries:
        keys = ("iou", "iou_mask", "sad", "sad_mask", "dtssd", "dtssd_mask")
        print(_common.format_table(
            ["shot", "IoU", "IoU mask", "SAD", "SAD mask", "dtSSD", "dtSSD mask"],
            [[s["shot"]] + [f"{s[k]:.3f}" for k in keys] for s in summaries]
            + [["mean"] + [f"{np.mean([s[k] for s in summaries]):.3f}" for k in keys]]))
    return 0


def run_shot(args, argv, shot):
    """Segment one shot, print and write its scores; None when its data are absent."""
    shot_data = read_shot(args, shot)
    if shot_data is None:
        return None
    plates, truths = shot_data
    features = [coarse_features(t, seed=i) for i, t in enumerate(truths)]
    masks = [feature_mask(f) for f in features]
    print(f"== {shot}: {len(plates)} frames, load {os.getloadavg()[0]:.1f}",
          file=sys.stderr, flush=True)
    started = time.perf_counter()
    results = list(sss_vfx.segment_video(
        plates, features, max_pixels=args.max_pixels, temporal=not args.no_temporal,
        **sss_vfx.COARSE_FEATURES))
    seconds = time.perf_counter() - started
    rows, mattes = [], []
    for i, (result, truth, mask) in enumerate(zip(results, truths, masks)):
        chosen, _ = foreground_layers(result.alphas, mask)
        matte = np.clip(result.alphas[..., chosen].sum(axis=2), 0, 1)
        mattes.append(matte)
        rows.append({"frame": i, "iou": iou(matte, truth), "iou_mask": iou(mask, truth),
                     "sad": sad(matte, truth), "sad_mask": sad(mask, truth),
                     "layers": int(result.alphas.shape[2]), "foreground": chosen})
    summary = {"shot": shot, "frames": len(rows),
               **{k: float(np.mean([r[k] for r in rows]))
                  for k in ("iou", "iou_mask", "sad", "sad_mask")},
               "dtssd": dtssd(mattes, truths), "dtssd_mask": dtssd(masks, truths),
               "seconds_per_frame": seconds / len(rows)}
    print(f"{shot}: IoU {summary['iou']:.3f} (mask {summary['iou_mask']:.3f}), SAD "
          f"{summary['sad']:.2f} (mask {summary['sad_mask']:.2f}), dtSSD "
          f"{summary['dtssd']:.2f} (mask {summary['dtssd_mask']:.2f}), "
          f"{summary['seconds_per_frame']:.1f} s/frame", flush=True)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.keep / f"{shot}.npz",
                            layers=np.stack([r.alphas for r in results]).astype(np.float16),
                            masks=np.stack(masks).astype(np.float16),
                            truths=np.stack(truths).astype(np.float16))
    stem = f"bench_davis_features_{shot}" + ("_perframe" if args.no_temporal else "")
    path = _common.write_json(args.out / f"{stem}.json", {
        "meta": _common.run_metadata(argv), "max_pixels": args.max_pixels,
        "summary": summary, "rows": rows})
    print(f"wrote {path}")
    return summary


if __name__ == "__main__":
    sys.exit(main())
