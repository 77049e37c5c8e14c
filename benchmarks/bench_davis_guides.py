"""DAVIS shots in video mode with rough guides made from the given masks.

``--shot NAME`` picks the shot: ``car-shadow`` (``davis_car_shadow/``, the default) or any
shot under ``davis/JPEGImages/480p/`` (breakdance, camel, cows, dog, libby, parkour,
horsejump-high, soapbox, car-roundabout, goat); ``--shot all`` runs every one found.

Each frame's guide is drawn from its mask as ``bench_guides.hurried_guide`` draws one
(threshold, thin parts removed, a 32-point polygon, shifted 5-10 px; seeded by the
frame index, so the roto wobbles from frame to frame as a hurried artist's does). The
shot runs through ``sss_vfx.segment_video(frames, guides=...)``: layer 0 is the
object's (layers follow the guides), layer 1 the rest. Scores against the masks:
per-frame IoU of layer 0 (threshold 0.5) and whether the object keeps its own layer
(layer 0 holds most of it), dtSSD of layer 0 over the shot; the guide's own IoU and
dtSSD beside them. Numbers go to ``benchmarks/output/bench_davis_guides_<shot>.json``.

Usage::

    python benchmarks/bench_davis_guides.py                     # car-shadow, 40 frames
    python benchmarks/bench_davis_guides.py --shot dog --frames 20 --max-pixels 65536
    python benchmarks/bench_davis_guides.py --shot all --frames 8
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (makes sss_vfx importable)
from bench_guides import hurried_guide  # noqa: E402

import sss_vfx  # noqa: E402
from sss_vfx.evaluation import dtssd, iou  # noqa: E402

DAVIS_DIR = Path("davis")
CAR_SHADOW = "car-shadow"


def shot_dirs(data, shot):
    """(frames, masks) folders of a DAVIS shot under ``data``."""
    root = data / ("davis_car_shadow" if shot == CAR_SHADOW else DAVIS_DIR)
    return (root / "JPEGImages" / "480p" / shot, root / "Annotations" / "480p" / shot)


def read_shot(args, shot):
    """(plates, masks) of a shot's first ``args.frames`` frames, as float arrays; None
    (after saying so) when its data are absent."""
    frames_dir, masks_dir = shot_dirs(args.data, shot)
    if not frames_dir.is_dir() or not masks_dir.is_dir():
        _common.data_missing(frames_dir, f"DAVIS {shot}", args.data)
        return None
    paths = sorted(frames_dir.glob("*.jpg"))[:args.frames]
    return ([_common.read_rgb(p) for p in paths],
            [_common.read_channel(masks_dir / f"{p.stem}.png") for p in paths])


def all_shots(data):
    """car-shadow, then every shot under ``davis/JPEGImages/480p`` (sorted)."""
    found = sorted(p.name for p in (data / DAVIS_DIR / "JPEGImages" / "480p").glob("*")
                   if p.is_dir())
    return [CAR_SHADOW] + found


def parse_args(argv):
    p = _common.base_parser(__doc__, "davis_car_shadow/ and davis/")
    p.add_argument("--shot", default=CAR_SHADOW,
                   help="DAVIS shot name, or 'all' (default: %(default)s)")
    p.add_argument("--frames", type=int, default=40, help="frames (default 40)")
    p.add_argument("--max-pixels", type=int, default=16384,
                   help="working size of the spectral stages (default 16384)")
    p.add_argument("--no-temporal", action="store_true", help="per-frame baseline")
    return p.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    shots = all_shots(args.data) if args.shot == "all" else [args.shot]
    summaries = [run_shot(args, argv, shot) for shot in shots]
    summaries = [s for s in summaries if s is not None]
    if len(summaries) > 1:
        print(_common.format_table(
            ["shot", "IoU", "IoU guide", "dtSSD", "dtSSD guide"],
            [[s["shot"], f"{s['iou']:.3f}", f"{s['iou_guide']:.3f}", f"{s['dtssd']:.2f}",
              f"{s['dtssd_guide']:.2f}"] for s in summaries]
            + [["mean"] + [f"{np.mean([s[k] for s in summaries]):.3f}"
                           for k in ("iou", "iou_guide", "dtssd", "dtssd_guide")]]))
    return 0


def run_shot(args, argv, shot):
    """Segment one shot and print and write its scores; None when its data are absent."""
    shot_data = read_shot(args, shot)
    if shot_data is None:
        return None
    plates, masks = shot_data
    guides = [hurried_guide(m, seed=i) for i, m in enumerate(masks)]
    started = time.perf_counter()
    results = list(sss_vfx.segment_video(plates, guides=guides, max_pixels=args.max_pixels,
                                         temporal=not args.no_temporal))
    seconds = time.perf_counter() - started
    rows = []
    for i, (result, mask, guide) in enumerate(zip(results, masks, guides)):
        inside = (result.alphas * (mask > 0.5)[..., None]).sum(axis=(0, 1))
        rows.append({"frame": i, "iou": iou(result.alphas[..., 0], mask),
                     "iou_guide": iou(guide, mask), "own_layer": bool(np.argmax(inside) == 0),
                     "car_share": float(mask.mean())})
    mattes = [r.alphas[..., 0] for r in results]
    summary = {
        "shot": shot, "frames": len(rows), "layers": int(results[0].alphas.shape[2]),
        "own_layer_frames": sum(r["own_layer"] for r in rows),
        "iou": float(np.mean([r["iou"] for r in rows])),
        "iou_guide": float(np.mean([r["iou_guide"] for r in rows])),
        "iou_last10": float(np.mean([r["iou"] for r in rows[-10:]])),
        "dtssd": dtssd(mattes, masks), "dtssd_guide": dtssd(guides, masks),
        "seconds_per_frame": seconds / len(rows), "notes": results[-1].notes,
    }
    print(f"\n{shot}")
    print(_common.format_table(
        ["frames", "mode", "own layer", "IoU", "IoU guide", "IoU last 10", "dtSSD",
         "dtSSD guide", "s/frame"],
        [[summary["frames"], "per-frame" if args.no_temporal else "temporal",
          f"{summary['own_layer_frames']}/{summary['frames']}", f"{summary['iou']:.3f}",
          f"{summary['iou_guide']:.3f}", f"{summary['iou_last10']:.3f}",
          f"{summary['dtssd']:.2f}", f"{summary['dtssd_guide']:.2f}",
          f"{summary['seconds_per_frame']:.1f}"]]))
    stem = f"bench_davis_guides_{shot}" + ("_perframe" if args.no_temporal else "")
    path = _common.write_json(args.out / f"{stem}.json", {
        "meta": _common.run_metadata(argv), "max_pixels": args.max_pixels,
        "summary": summary, "rows": rows})
    print(f"wrote {path}")
    return summary


if __name__ == "__main__":
    sys.exit(main())
