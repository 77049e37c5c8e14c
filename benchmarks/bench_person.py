"""The person model against DAVIS masks: the selfie model alone and the default rule.

For every ``--step``-th frame of each shot: the mask of ``person_mask(model='selfie')``
and of ``person_mask()`` (the default, ``'auto'``: the union of the pose models'
people, the selfie model where they find nobody), thresholded at 0.5, scored by IoU
against the shot's annotation; beside them the best single person the pose models
found (the IoU of the one person's mask that matches the annotation best, 0 when
nobody is found), which says whether the annotated person was found at all when the
frame holds other people. Seconds per frame for both models (one thread).

Development shots (the rule was chosen on them): breakdance, parkour. Checked, not
tuned on: soapbox and horsejump-high, whose annotations also hold the soapbox cart and
the horse, so no person model can reach IoU 1 there. The DAVIS shots camel, cows, dog,
goat, libby (animals) and car-roundabout hold no annotated person.

Numbers go to ``benchmarks/output/bench_person.json``.

Usage::

    python benchmarks/bench_person.py                        # every 4th frame, 4 shots
    python benchmarks/bench_person.py --shots parkour --step 8 --per-frame
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (makes sss_vfx importable)

from sss_vfx.features.person import person_mask  # noqa: E402
from sss_vfx.features.pose import people  # noqa: E402

DEV, HELD_OUT = ("breakdance", "parkour"), ("soapbox", "horsejump-high")


def iou(mask, truth):
    """IoU of ``mask > 0.5`` with the boolean ``truth`` (1 when both are empty)."""
    mask = mask > 0.5
    union = np.logical_or(mask, truth).sum()
    return float(np.logical_and(mask, truth).sum() / union) if union else 1.0


def score_frame(frame, truth):
    """One frame's IoUs, timings and which model the default rule used."""
    start = time.perf_counter()
    selfie = person_mask(frame, model="selfie")
    selfie_s = time.perf_counter() - start
    start = time.perf_counter()
    auto = person_mask(frame)
    auto_s = time.perf_counter() - start
    found = people(frame)
    return {"selfie": iou(selfie, truth), "auto": iou(auto, truth),
            "best_person": max((iou(p.mask, truth) for p in found), default=0.0),
            "people": len(found), "used": "pose" if found else "selfie",
            "selfie_s": selfie_s, "auto_s": auto_s}


def main(argv=None):
    p = _common.base_parser(__doc__, "davis/{JPEGImages,Annotations}/480p/<shot>/")
    p.add_argument("--shots", default=",".join(DEV + HELD_OUT),
                   help="comma-separated DAVIS shots (default: %(default)s)")
    p.add_argument("--step", type=int, default=4, help="every N-th frame (default 4)")
    p.add_argument("--per-frame", action="store_true", help="print every frame's line")
    args = p.parse_args(argv)
    root = args.data / "davis"
    if not (root / "JPEGImages" / "480p").is_dir():
        _common.data_missing(root, "the DAVIS shots", args.data)
        return 0
    print(f"load before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    shots, rows = {}, []
    for shot in args.shots.split(","):
        frames = sorted((root / "JPEGImages" / "480p" / shot).glob("*.jpg"))[::args.step]
        if not frames:
            _common.data_missing(root / "JPEGImages" / "480p" / shot, f"shot {shot}",
                                 args.data)
            continue
        per = []
        for path in frames:
            truth = _common.read_channel(root / "Annotations" / "480p" / shot /
                                         (path.stem + ".png")) > 0
            per.append({"frame": path.stem, **score_frame(_common.read_rgb(path), truth)})
            if args.per_frame:
                r = per[-1]
                print(f"{shot} {r['frame']}: selfie {r['selfie']:.3f} auto {r['auto']:.3f} "
                      f"({r['used']}, {r['people']} people) best person "
                      f"{r['best_person']:.3f}", flush=True)
        mean = {k: float(np.mean([r[k] for r in per]))
                for k in ("selfie", "auto", "best_person", "selfie_s", "auto_s")}
        mean["pose_frames"] = sum(r["used"] == "pose" for r in per)
        shots[shot] = {"frames": per, "mean": mean, "dev": shot in DEV}
        rows.append([shot + (" (dev)" if shot in DEV else ""), len(per),
                     f"{mean['selfie']:.3f}", f"{mean['auto']:.3f}",
                     f"{mean['best_person']:.3f}", f"{mean['pose_frames']}/{len(per)}",
                     f"{mean['selfie_s']:.3f}", f"{mean['auto_s']:.3f}"])
        print(rows[-1], flush=True)
    print(_common.format_table(["shot", "frames", "selfie IoU", "auto IoU", "best person",
                                "pose used", "selfie s/frame", "auto s/frame"], rows))
    print(f"load after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    out = _common.write_json(args.out / "bench_person.json",
                             {"meta": _common.run_metadata(sys.argv), "step": args.step,
                              "shots": shots})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
