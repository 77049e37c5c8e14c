"""Temporal coherence, speed and memory of the video pipeline on DAVIS ``car-shadow``.

Every configuration runs in a fresh Python process, so its peak resident memory is its
own. The driver (``--all``, the default) starts ``bench_video.py --config NAME
--result FILE`` once per configuration, then prints one table per group and writes
``benchmarks/output/bench_video.json``.

Data: ``davis_car_shadow/JPEGImages/480p/car-shadow/*.jpg`` (40 frames, 854x480) and the
binary masks ``Annotations/480p/car-shadow/*.png``. Frames are read from disk as a
numbered sequence, one at a time, as ``sss_vfx.segment_video`` streams them; a shot
longer than 40 frames plays the clip back and forth (0..39, 38..0, 1..).

Groups of configurations (each mode ``temporal`` = the default window of 3 frames
linked by flow, ``perframe`` = ``temporal=False``):

``quality-colour-*``, ``quality-features-*``
    ``--frames`` frames (40) at 854x480, default options (``--max-pixels`` to change),
    no features (colour-driven layers), or coarse network-like features per frame
    ``sss_vfx.data.coarse_features(mask, seed=frame_index)``. Scores against the
    masks (after the run, so they do not count in its time or memory): mean IoU of the
    best-matching layer group (threshold 0.5), chosen per frame by
    ``foreground_layers`` or once on the first frame and kept; dtSSD of that group's
    matte; flow-warping error of all layers (Lai et al. 2018; DIS flow between the
    full-resolution plates, occluded pixels excluded); layer identity swaps.
``speed-480-*``, ``speed-1080-*``
    ``--speed-frames`` frames (9) at 854x480, or resized to 1920x1080 with
    ``INTER_CUBIC``, default options: seconds per frame and peak RSS.
``--identity`` (its own table, no configuration group)
    Identity changes (:func:`sss_vfx.evaluation.identity_changes`: a frame where more than
    a quarter of the object's mass moves to other layers) on every DAVIS shot
    (``davis/JPEGImages/480p/*`` and car-shadow; the first ``--identity-frames``
    frames resized to ``--identity-size``, features ``coarse_features(mask)``: with
    ``--davis-features`` ``classes`` one layer per mask class, ``paper`` the same
    features grouped by their means (so a window after the first groups by the shot's
    layers, the hand-over under test), ``colour`` no features) and on rendered shots
    ``sss_vfx.data.regions_shot`` of ``--seeds`` (12 frames, 160x120, five flat
    feature colours; ``--rendered-size``), ``--modes`` temporal and per-frame, with
    each ``--solvers`` eigensolver; SAD and dtSSD of the object's matte, its layers
    chosen on the first frame (``fixed``) or per frame (``each``); notes of uncertain
    hand-overs. A last table sets temporal against per-frame per shot and solver:
    done when temporal has no identity change, SAD fixed <= 1.10 x per-frame's SAD
    each and dtSSD fixed <= 0.70 x per-frame's dtSSD each. ``--reuse-perframe``
    takes per-frame rows from an earlier run (same shot, options and working size).
``length-short``, ``length-long``
    Temporal mode on ``--lengths`` frames (30 and 300) at 854x480 with a small working
    size (``max_pixels=4096, eigenvectors=30, initial_segments=10, superpixels=200``):
    peak RSS must not grow with the shot, long <= 1.10 x short.

Usage::

    python benchmarks/bench_video.py                       # all configurations
    python benchmarks/bench_video.py --only length         # a group (or names, comma-separated)
    python benchmarks/bench_video.py --only quality --max-pixels 16384 --frames 20
    python benchmarks/bench_video.py --only quality-features --coarse-features
    python benchmarks/bench_video.py --only quality-features-temporal --carry-weight 1
    python benchmarks/bench_video.py --config speed-480-temporal   # one, in this process
    python benchmarks/bench_video.py --quick               # smoke run at tiny sizes
    python benchmarks/bench_video.py --identity --max-pixels 16384 --seeds 0-9
    python benchmarks/bench_video.py --identity --davis none --rendered-size 80x60 \
        --modes temporal,perframe --reuse-perframe benchmarks/output/bench_video_identity.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (makes sss_vfx importable)
from _common import GB, cv2, peak_rss_bytes  # noqa: E402
from bench_still import STAGE_LABELS  # noqa: E402

import sss_vfx  # noqa: E402
from sss_vfx.graph.flow import frame_flow, warp_back  # noqa: E402
from sss_vfx.io.outputs import render_preview  # noqa: E402
from sss_vfx.evaluation import (  # noqa: E402
    dtssd,
    foreground_layers,
    identity_changes,
    iou,
    sad,
    warping_error,
)
from sss_vfx.options import DEFAULT_MAX_PIXELS, TemporalOptions  # noqa: E402
from sss_vfx.pipeline.layers import working_size  # noqa: E402
from sss_vfx.pipeline.video import VIDEO_STAGES  # noqa: E402
from sss_vfx.segments.identity import match_layers  # noqa: E402
from sss_vfx.data import coarse_features, regions_shot  # noqa: E402

CLIP = Path("davis_car_shadow")
FRAMES_DIR = CLIP / "JPEGImages" / "480p" / "car-shadow"
MASKS_DIR = CLIP / "Annotations" / "480p" / "car-shadow"
CLIP_FRAMES = 40
LABELS = {**STAGE_LABELS, "flow": "flow"}

LENGTH_OPTIONS = {"max_pixels": 4096, "eigenvectors": 30, "initial_segments": 10,
                  "superpixels": 200}
#: The long run may peak at most this much above the short one.
MAX_LENGTH_RATIO = 1.10
#: A layer counts in the swap check when it covers this share of the visible pixels.
SWAP_MIN_COVERAGE = 0.01

# --quick: every code path (two windows, downscale and upsampling) at tiny sizes with
# cheap options, no verdicts.
QUICK_OPTIONS = {"eigenvectors": 10, "initial_segments": 6, "superpixels": 100,
                 "constrained_iterations": 5, "relaxed_rounds": 2, "cg_steps": 20,
                 "max_pixels": 1024}
QUICK_SIZE = (107, 60)
QUICK_HD_SIZE = (192, 108)
QUICK_FRAMES = {"quality": 4, "speed": 2}
QUICK_LENGTHS = (3, 5)


@dataclass(frozen=True)
class Config:
    name: str
    group: str                    # "quality", "speed" or "length"
    temporal: bool = True
    size_wh: tuple = None         # None: the clip's own 854x480
    features: bool = False
    length: str = None            # "short" / "long" for the length group
    options: dict = field(default_factory=dict)

    @property
    def mode(self):
        return "temporal" if self.temporal else "perframe"


def _configs():
    configs = []
    for source in ("colour", "features"):
        for temporal in (True, False):
            mode = "temporal" if temporal else "perframe"
            configs.append(Config(f"quality-{source}-{mode}", "quality", temporal,
                                  features=source == "features"))
    for label, size in (("480", None), ("1080", (1920, 1080))):
        for temporal in (True, False):
            mode = "temporal" if temporal else "perframe"
            configs.append(Config(f"speed-{label}-{mode}", "speed", temporal, size))
    for length in ("short", "long"):
        configs.append(Config(f"length-{length}", "length", length=length,
                              options=LENGTH_OPTIONS))
    return {c.name: c for c in configs}


CONFIGS = _configs()
GROUPS = ("quality", "speed", "length")


def parse_args(argv):
    p = _common.base_parser(__doc__, "davis_car_shadow/")
    _common.add_driver_arguments(
        p, CONFIGS, only_help="configurations, groups (quality, speed, length) or name "
                              "prefixes (quality-features)",
        quick_help=", nothing judged")
    p.add_argument("--frames", type=int, default=CLIP_FRAMES,
                   help="frames of the quality runs (default: %(default)s, the whole clip)")
    p.add_argument("--speed-frames", type=int, default=9,
                   help="frames of the speed runs (default: %(default)s)")
    p.add_argument("--lengths", default="30,300", metavar="SHORT,LONG",
                   help="frames of the two memory-vs-length runs (default: %(default)s)")
    p.add_argument("--coarse-features", action="store_true",
                   help="run the quality-features configurations with "
                        "sss_vfx.COARSE_FEATURES, the options for features that are a "
                        "network's masks (default: the paper's)")
    p.add_argument("--carry-weight", type=float, default=None,
                   help="carry_weight of the temporal runs (default: the library's)")
    p.add_argument("--identity", action="store_true",
                   help="count identity changes on the DAVIS shots and rendered shots "
                        "(see above) instead of the configurations")
    p.add_argument("--identity-frames", type=int, default=12,
                   help="frames of each identity shot (default: %(default)s)")
    p.add_argument("--identity-size", default="320x180", metavar="WxH",
                   help="plate size of the DAVIS identity shots (default: %(default)s)")
    p.add_argument("--seeds", default="0-9",
                   help="rendered identity shots: seeds, 'A-B' or comma-separated "
                        "(default: %(default)s; '' for none)")
    p.add_argument("--rendered-size", default="160x120", metavar="WxH",
                   help="plate size of the rendered identity shots (default: %(default)s)")
    p.add_argument("--modes", default="temporal,perframe",
                   help="modes of the identity runs (default: %(default)s)")
    p.add_argument("--davis", default="all",
                   help="DAVIS identity shots: 'all', 'none' or comma-separated names "
                        "(car-shadow, camel, ...)")
    p.add_argument("--solvers", default="block,arpack",
                   help="eigensolvers of the identity runs (default: %(default)s)")
    p.add_argument("--davis-features", default="classes,paper",
                   help="how the DAVIS identity shots are segmented, comma-separated: "
                        "classes = mask features, one layer per class (the default "
                        "options); paper = the same features grouped by their means "
                        "(feature_classes='off'), so windows after the first group by "
                        "the shot's layers; colour = no features (default: "
                        "%(default)s)")
    p.add_argument("--reuse-perframe", type=Path, default=None, metavar="JSON",
                   help="take the per-frame rows of an earlier identity JSON whose shot, "
                        "solver, frames, working size and options match instead of "
                        "running them again (per-frame mode does not link windows)")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="max_pixels of the quality and speed runs (default: the "
                        "library's; 0 = never downscale)")
    args = p.parse_args(argv)
    try:
        lengths = tuple(int(v) for v in args.lengths.split(","))
    except ValueError:
        lengths = ()
    if len(lengths) != 2 or min(lengths) < 2:
        p.error("--lengths takes two frame counts >= 2, e.g. 30,300")
    if args.frames < 2 or args.speed_frames < 1:
        p.error("--frames must be >= 2 and --speed-frames >= 1")
    args.lengths = lengths
    args.davis_features = [v.strip() for v in args.davis_features.split(",") if v.strip()]
    unknown = set(args.davis_features) - set(DAVIS_FEATURES)
    if unknown:
        p.error(f"--davis-features takes {', '.join(DAVIS_FEATURES)}; got "
                f"{', '.join(sorted(unknown))}")
    try:
        args.identity_size = tuple(int(v) for v in args.identity_size.lower().split("x"))
        args.rendered_size = tuple(int(v) for v in args.rendered_size.lower().split("x"))
        args.seeds = parse_seeds(args.seeds)
    except ValueError:
        p.error("--identity-size and --rendered-size take WxH, --seeds 'A-B' or "
                "'A,B,...'")
    return args


def parse_seeds(text):
    """Seeds from ``'0-9'`` or ``'1,4,7'`` ('' for none)."""
    seeds = []
    for part in filter(None, (t.strip() for t in text.split(","))):
        first, _, last = part.partition("-")
        seeds += list(range(int(first), int(last or first) + 1))
    return seeds


# ------------------------------------------------------------------------ the shot


def clip_index(i):
    """Frame of the 40-frame clip shown at position ``i`` of a ping-pong loop."""
    period = 2 * (CLIP_FRAMES - 1)
    i %= period
    return i if i < CLIP_FRAMES else period - i


def load_mask(data_dir, i, size_wh):
    """Mask of shot position ``i``: (H, W) float32 in [0, 1], resized like the frames."""
    mask = _common.read_channel(data_dir / MASKS_DIR / f"{clip_index(i):05d}.png")
    return mask if size_wh is None else _common.resize(mask, size_wh, cv2.INTER_AREA)


@dataclass
class Shot:
    """The frames of one run, written to a temporary folder as numbered sequences."""

    frames: list                  # path of each frame file, in shot order
    pattern: str
    features: str = None          # sequence pattern of the .npy features, if any


def prepare_shot(data_dir, folder, count, size_wh, interpolation, features):
    """Link (or resize to 16-bit PNG) ``count`` ping-pong frames into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        source = data_dir / FRAMES_DIR / f"{clip_index(i):05d}.jpg"
        if size_wh is None:
            path = folder / f"frame.{i:05d}.jpg"
            os.symlink(source, path)
        else:
            path = folder / f"frame.{i:05d}.png"
            plate = _common.resize(_common.read_rgb(source), size_wh, interpolation)
            cv2.imwrite(str(path), np.rint(plate[:, :, ::-1] * 65535).astype(np.uint16))
        paths.append(path)
        if features:
            mask = load_mask(data_dir, i, size_wh)
            np.save(folder / f"feat.{i:05d}.npy", coarse_features(mask, seed=i))
    ext = paths[0].suffix
    return Shot(paths, str(folder / f"frame.%05d{ext}"),
                str(folder / "feat.%05d.npy") if features else None)


def current_rss_bytes():
    """Resident memory of this process now (Linux), or None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------ one configuration


def settings(config, args):
    """Frames, plate size and segment_video options of ``config`` under ``args``."""
    if config.group == "length":
        count = args.lengths[config.length == "long"]
        if args.quick:
            count = QUICK_LENGTHS[config.length == "long"]
    else:
        count = args.frames if config.group == "quality" else args.speed_frames
        if args.quick:
            count = min(count, QUICK_FRAMES[config.group])
    size = config.size_wh
    if args.quick:
        size = QUICK_HD_SIZE if size else QUICK_SIZE
    options = dict(config.options)
    if config.group != "length" and args.max_pixels is not None:
        options["max_pixels"] = args.max_pixels
    if config.features and args.coarse_features:
        options.update(sss_vfx.COARSE_FEATURES)
    if config.temporal and args.carry_weight is not None:
        options["carry_weight"] = args.carry_weight
    if args.quick:
        options = {**options, **QUICK_OPTIONS}
    return count, size, options


def run_config(name, args):
    """Run configuration ``name`` in this process; return its result dict."""
    config = CONFIGS[name]
    count, size, options = settings(config, args)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_video_") as tmp:
        tmp = Path(tmp)
        shot = prepare_shot(args.data, tmp / "shot", count, size, cv2.INTER_CUBIC,
                            config.features)
        keep = tmp / "layers" if config.group == "quality" else None
        result = segment(name, config, shot, options, keep)
        result.update(config=name, group=config.group, mode=config.mode,
                      quick=bool(args.quick), features=config.features,
                      explicit_options=options, load_start=load_start,
                      load_end=os.getloadavg()[0])
        if keep is not None:
            linking = TemporalOptions(temporal=config.temporal)
            stride = linking.frames_per_window - linking.shared_frames
            result["quality"] = score(shot, keep, count, size, args.data, stride)
            result["preview"] = str(write_previews(shot, keep, count, args, name))
    return result


def segment(name, config, shot, options, keep):
    """Stream the shot through segment_video; timings, memory and layer coverage."""
    rss_before = peak_rss_bytes()
    emitted, rss_now, coverage = [], [], []
    paused = 0.0           # time spent saving layers for scoring, not the pipeline's
    last = None
    start, cpu_start = time.perf_counter(), time.process_time()
    for layers in sss_vfx.segment_video(shot.pattern, features=shot.features,
                                        temporal=config.temporal, **options):
        now = time.perf_counter()
        emitted.append(now - start - paused)
        rss_now.append(current_rss_bytes())
        coverage.append(_common.layer_coverage(layers.alphas))
        if keep is not None:
            keep.mkdir(exist_ok=True)
            np.save(keep / f"{layers.index:05d}.npy", layers.alphas)
        paused += time.perf_counter() - now
        last = layers
        print(f"  [{name}] frame {layers.index + 1}/{len(shot.frames)} "
              f"t={emitted[-1]:.1f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - start - paused
    cpu = time.process_time() - cpu_start   # saving layers is cheap in CPU; kept
    peak = peak_rss_bytes()
    frames = len(emitted)
    h, w = last.plate.shape[:2]
    working = working_size((h, w), options.get("max_pixels", DEFAULT_MAX_PIXELS))
    linking = TemporalOptions(temporal=config.temporal)
    first = min(linking.frames_per_window - linking.shared_frames, frames)
    return {
        # The shot's first window waits for all its frames' eigenvectors; the frames
        # after it are solved ahead, beside the windows before them.
        "first_window_s_per_frame": emitted[first - 1] / first,
        "later_s_per_frame": ((emitted[-1] - emitted[first - 1]) / (frames - first)
                              if frames > first else None),
        "frames": frames,
        "size": [w, h],
        "working_size": [working[1], working[0]],
        "layers": int(last.alphas.shape[2]),
        "total_s": total,
        "s_per_frame": total / frames,
        "cpu_s": cpu,
        "cpu_s_per_frame": cpu / frames,
        "first_frame_s": emitted[0],
        "emitted_s": emitted,
        "timings_s": dict(last.timings),
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak,
        "peak_rss_gb": peak / GB,
        "rss_by_frame_bytes": rss_now,
        "mean_coverage": np.mean(coverage, axis=0).tolist(),
        "notes": list(last.notes),
        "device": last.device,
    }


# -------------------------------------------------------------------------- scoring


def layer_swapped(layers, next_layers, flow):
    """Whether the best match of the next frame's layers (warped back) is not 1:1."""
    warped, inside = warp_back(next_layers, flow.forward)
    visible = inside & (flow.confidence > 0)
    a = layers[visible].astype(np.float64)
    b = warped.reshape(layers.shape)[visible].astype(np.float64)
    perm = match_layers(a, b)
    present = a.mean(axis=0) > SWAP_MIN_COVERAGE
    return bool((perm[present] != np.flatnonzero(present)).any())


def score(shot, layer_dir, count, size_wh, data_dir, step):
    """Per-frame and per-pair scores of the saved layers against the masks.

    Pair scores (dtSSD, warping error, swap) are stored on the later frame of the
    pair; ``step`` is the window stride (window - overlap), so the pair scores can be
    split by their position in the window ("phase").
    """
    rows, prev, fixed = [], None, None
    for i in range(count):
        alphas = np.load(layer_dir / f"{i:05d}.npy")
        mask = load_mask(data_dir, i, size_wh)
        plate = _common.read_rgb(shot.frames[i])
        group, _ = foreground_layers(alphas, mask)
        fixed = group if fixed is None else fixed
        matte = alphas[..., group].sum(axis=2)
        fixed_matte = alphas[..., fixed].sum(axis=2)
        row = {"frame": i, "group": group, "iou": iou(matte, mask),
               "iou_fixed": iou(fixed_matte, mask)}
        if prev is not None:
            flow = frame_flow(prev["plate"], plate)
            row.update(
                phase=(i - 1) % step,
                dtssd=dtssd([prev["matte"], matte], [prev["mask"], mask]),
                dtssd_fixed=dtssd([prev["fixed"], fixed_matte], [prev["mask"], mask]),
                warping_error=warping_error(prev["alphas"], alphas, flow.forward,
                                            flow.confidence),
                swap=layer_swapped(prev["alphas"], alphas, flow),
                group_changed=group != prev["group"])
        rows.append(row)
        prev = {"alphas": alphas, "mask": mask, "plate": plate, "matte": matte,
                "fixed": fixed_matte, "group": group}
    pairs = rows[1:]

    def mean(key, subset=pairs):
        return float(np.mean([r[key] for r in subset])) if subset else None

    return {
        "iou": float(np.mean([r["iou"] for r in rows])),
        "iou_fixed": float(np.mean([r["iou_fixed"] for r in rows])),
        "first_group": rows[0]["group"],
        "dtssd": mean("dtssd"),
        "dtssd_fixed": mean("dtssd_fixed"),
        "warping_error": mean("warping_error"),
        "swaps": sum(r["swap"] for r in pairs),
        "group_changes": sum(r["group_changed"] for r in pairs),
        "by_phase": {phase: {"pairs": len(sub), "dtssd": mean("dtssd", sub),
                             "warping_error": mean("warping_error", sub)}
                     for phase in range(step)
                     for sub in [[r for r in pairs if r["phase"] == phase]]},
        "per_frame": rows,
    }


def write_previews(shot, layer_dir, count, args, name):
    """First, middle and last frame, each ``plate | colour-coded layers``, stacked."""
    picks = sorted({0, count // 2, count - 1})
    strips = [render_preview(_common.read_rgb(shot.frames[i]),
                             np.load(layer_dir / f"{i:05d}.npy")) for i in picks]
    suffix = "_quick" if args.quick else ""
    path = args.out / f"video_{name}{suffix}.png"
    args.out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(strips, axis=0)[:, :, ::-1])
    return path


# ------------------------------------------------------------------------ the driver


def run_in_subprocess(name, args):
    """Run one configuration in a fresh interpreter; its result dict or a failure dict."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--config", name,
           "--data", str(args.data), "--out", str(args.out),
           "--frames", str(args.frames), "--speed-frames", str(args.speed_frames),
           "--lengths", ",".join(map(str, args.lengths))]
    if args.max_pixels is not None:
        cmd += ["--max-pixels", str(args.max_pixels)]
    if args.quick:
        cmd.append("--quick")
    if args.coarse_features:
        cmd.append("--coarse-features")
    if args.carry_weight is not None:
        cmd += ["--carry-weight", str(args.carry_weight)]
    return {"group": CONFIGS[name].group, "quick": bool(args.quick),
            **_common.run_in_fresh_process(cmd, name, args.timeout)}


def selected(args):
    """Configuration names from ``--only`` (names, group names or the start of names
    up to a dash, e.g. ``quality-features``), in table order."""
    if not args.only:
        return list(CONFIGS)
    wanted = [n.strip() for n in args.only.split(",") if n.strip()]

    def chosen(name, config, item):
        return item in (name, config.group) or name.startswith(item + "-")

    unknown = [w for w in wanted if not any(chosen(n, c, w) for n, c in CONFIGS.items())]
    if unknown:
        raise KeyError(", ".join(unknown))
    return [n for n, c in CONFIGS.items() if any(chosen(n, c, w) for w in wanted)]


def fmt(value, spec=".3f"):
    return "-" if value is None else format(value, spec)


def print_quality(results):
    rows, phases = [], []
    for r in results:
        q = r.get("quality")
        if q is None:
            rows.append([r["config"]] + ["-"] * 12 + [r["verdict"]])
            continue
        rows.append([r["config"], r["frames"], "x".join(map(str, r["working_size"])),
                     fmt(q["iou"]), fmt(q["iou_fixed"]), fmt(q["dtssd"], ".2f"),
                     fmt(q["dtssd_fixed"], ".2f"), fmt(q["warping_error"], ".4f"),
                     q["swaps"], q["group_changes"], fmt(r["s_per_frame"], ".1f"),
                     fmt(r["cpu_s_per_frame"], ".1f"), fmt(r["peak_rss_gb"], ".2f"),
                     fmt(r["load_end"], ".1f")])
        for phase, p in q["by_phase"].items():
            phases.append([r["config"], phase, p["pairs"], fmt(p["dtssd"], ".2f"),
                           fmt(p["warping_error"], ".4f")])
    print(_common.format_table(
        ["config", "frames", "working", "IoU", "IoU fixed", "dtSSD", "dtSSD fixed",
         "warp err", "swaps", "grp chg", "s/frame", "cpu/frame", "peak GB", "load"], rows))
    print("IoU: per-frame best layer group vs mask (0.5); fixed: group chosen on frame 0; "
          "dtSSD x100 of that matte; warp err: mean over pairs of sum_k squared layer "
          "difference to the next frame warped back (visible pixels); swaps: pairs whose "
          "best layer match is not 1:1; grp chg: pairs where the per-frame group changed")
    print()
    print(_common.format_table(["config", "phase", "pairs", "dtSSD", "warp err"], phases))
    print("phase: position of the pair (t, t+1) in the window stride, t mod (window - "
          "overlap); temporal windows are frames [0,1,2], [2,3,4], ...")
    for source in ("colour", "features"):
        pair = {r["mode"]: r.get("quality") for r in results
                if r["config"].startswith(f"quality-{source}-")}
        t, f = pair.get("temporal"), pair.get("perframe")
        if t and f:
            print(f"{source}: temporal vs per-frame: " + ", ".join(
                f"{key} {100 * (t[key] / f[key] - 1):+.0f} %" if f[key] else f"{key} n/a"
                for key in ("dtssd", "dtssd_fixed", "warping_error")))


def print_speed(results):
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["config"]] + ["-"] * (len(VIDEO_STAGES) + 7) + [r["verdict"]])
            continue
        per = [fmt(r["timings_s"].get(s, 0.0) / r["frames"], ".2f") for s in VIDEO_STAGES]
        rows.append([r["config"], "x".join(map(str, r["size"])),
                     "x".join(map(str, r["working_size"])), r["frames"]] + per +
                    [fmt(r["s_per_frame"], ".1f"), fmt(r["cpu_s_per_frame"], ".1f"),
                     fmt(r["peak_rss_gb"], ".2f"), fmt(r["load_end"], ".1f"), r["verdict"]])
    print(_common.format_table(
        ["config", "size", "working", "frames"] + [LABELS[s] for s in VIDEO_STAGES] +
        ["s/frame", "cpu/frame", "peak GB", "load", "result"], rows))
    print("stage columns: wall seconds per frame; s/frame = wall time of the whole shot "
          "(reading frames included) / frames; cpu/frame = the process's CPU seconds "
          "(all threads) / frames; peak GB = process peak RSS (GiB)")
    for r in results:
        if r.get("later_s_per_frame") is not None:
            print(f"{r['config']}: the first window {r['first_window_s_per_frame']:.1f} s "
                  f"a frame, the frames after it {r['later_s_per_frame']:.1f} s a frame")


def print_length(results, quick):
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["config"]] + ["-"] * 8 + [r["verdict"]])
            continue
        by_frame = [v for v in r["rss_by_frame_bytes"] if v is not None]
        rows.append([r["config"], r["frames"], fmt(r["s_per_frame"], ".2f"),
                     fmt(r["cpu_s_per_frame"], ".2f"), fmt(r["rss_before_bytes"] / GB, ".2f"), fmt(r["peak_rss_gb"], ".3f"),
                     fmt(by_frame[min(len(by_frame), 30) - 1] / GB if by_frame else None),
                     fmt(by_frame[-1] / GB if by_frame else None),
                     fmt(r["load_end"], ".1f"), r["verdict"]])
    print(_common.format_table(
        ["config", "frames", "s/frame", "cpu/frame", "before GB", "peak GB", "RSS@30 GB", "RSS@end GB",
         "load", "result"], rows))
    print("before: peak RSS before segment_video (imports, input prepared); RSS@30 / "
          "RSS@end: resident memory when frame 30 / the last frame was emitted")
    verdict = length_verdict(results, quick)
    if verdict:
        print(verdict["text"])
    return verdict


def length_verdict(results, quick):
    runs = {r["config"]: r for r in results if "error" not in r}
    short, long = runs.get("length-short"), runs.get("length-long")
    if not (short and long):
        return None
    ratio = long["peak_rss_bytes"] / short["peak_rss_bytes"]
    growth = ((long["peak_rss_bytes"] - long["rss_before_bytes"]) /
              max(short["peak_rss_bytes"] - short["rss_before_bytes"], 1))
    result = "n/a (quick)" if quick else ("PASS" if ratio <= MAX_LENGTH_RATIO else "FAIL")
    return {"ratio": ratio, "growth_ratio": growth, "result": result,
            "text": f"peak RSS {long['frames']} frames / {short['frames']} frames = "
                    f"{ratio:.3f} (target <= {MAX_LENGTH_RATIO:.2f}): {result}; "
                    f"above the pre-run baseline: {growth:.3f}"}


# ----------------------------------------------------------------- identity changes

#: How the DAVIS identity shots are segmented: (uses the mask features, options).
DAVIS_FEATURES = {"classes": (True, {}), "paper": (True, {"feature_classes": "off"}),
                  "colour": (False, {})}


def identity_shots(args):
    """(name, images, features, masks, options) of every identity shot, rendered ones
    first; each DAVIS shot once per ``--davis-features`` variant."""
    for seed in args.seeds:
        w, h = args.rendered_size
        clip = regions_shot(frames=args.identity_frames, shape=(h, w), seed=seed,
                            speed=4.0 * w / 160)
        yield (f"rendered-{seed}", [s.image for s in clip], [s.features for s in clip],
               [s.alpha for s in clip], {})
    root = args.data / "davis" / "JPEGImages" / "480p"
    folders = {"car-shadow": (args.data / FRAMES_DIR, args.data / MASKS_DIR)}
    if root.is_dir():
        folders.update({d.name: (d, args.data / "davis" / "Annotations" / "480p" / d.name)
                        for d in sorted(root.iterdir()) if d.is_dir()})
    names = (list(folders) if args.davis == "all" else [] if args.davis == "none"
             else [n.strip() for n in args.davis.split(",")])
    for name in names:
        if name not in folders:
            raise KeyError(name)
        frames, masks = folders[name]
        images, feats, truths = [], [], []
        for i, path in enumerate(sorted(frames.glob("*.jpg"))[:args.identity_frames]):
            images.append(_common.resize(_common.read_rgb(path), args.identity_size,
                                         cv2.INTER_AREA))
            truth = _common.read_channel(masks / (path.stem + ".png"))
            truths.append(_common.resize(truth, args.identity_size, cv2.INTER_AREA))
            feats.append(coarse_features(truths[-1], seed=i))
        for variant in args.davis_features:
            with_features, options = DAVIS_FEATURES[variant]
            yield (f"davis-{name}/{variant}", images, feats if with_features else None,
                   truths, options)


def identity_run(images, features, masks, temporal, solver, options):
    """One run of a shot: identity changes, SAD and dtSSD of the object's matte."""
    start, load = time.perf_counter(), os.getloadavg()[0]
    out = list(sss_vfx.segment_video(images, features, temporal=temporal,
                                     eigensolver=solver, colours=False, **options))
    seconds = time.perf_counter() - start
    alphas = [f.alphas for f in out]
    changes, moved = identity_changes(alphas, masks)
    first, _ = foreground_layers(alphas[0], masks[0])
    fixed = [a[..., first].sum(axis=2) for a in alphas]
    each = [a[..., foreground_layers(a, m)[0]].sum(axis=2) for a, m in zip(alphas, masks)]
    h, w = working_size(images[0].shape[:2], options.get("max_pixels", DEFAULT_MAX_PIXELS))
    return {"changes": changes, "max_moved": float(moved.max(initial=0.0)),
            "object_layers": first,
            "sad_fixed": float(np.mean([sad(a, m) for a, m in zip(fixed, masks)])),
            "sad_each": float(np.mean([sad(a, m) for a, m in zip(each, masks)])),
            "dtssd_fixed": dtssd(fixed, masks), "dtssd_each": dtssd(each, masks),
            "frames": len(out), "working_size": [w, h], "s_per_frame": seconds / len(out),
            "load": [load, os.getloadavg()[0]],
            "notes": [n for n in out[-1].notes if "hand-over" in n]}


#: The issue's targets: temporal SAD (one grouping for the shot) at most this times
#: per-frame mode's, and temporal dtSSD at most this times per-frame's.
MAX_SAD_RATIO, MAX_DTSSD_RATIO = 1.10, 0.70


def identity_verdicts(rows):
    """Per shot and solver: temporal's changes, and its SAD/dtSSD against per-frame's
    (each judged on its own and together)."""
    runs = {(r["shot"], r["solver"], r["mode"]): r for r in rows}
    verdicts = []
    for (shot, solver, mode), t in runs.items():
        f = runs.get((shot, solver, "perframe"))
        if mode != "temporal":
            continue
        v = {"shot": shot, "solver": solver, "changes": t["changes"],
             "object_layers": t.get("object_layers"),
             "perframe_changes": None, "sad": t["sad_fixed"], "perframe_sad": None,
             "sad_ratio": None, "dtssd": t["dtssd_fixed"], "perframe_dtssd": None,
             "dtssd_ratio": None, "identity_pass": not t["changes"]}
        if f is not None:
            v.update(perframe_changes=f["changes"], perframe_sad=f["sad_each"],
                     sad_ratio=t["sad_fixed"] / max(f["sad_each"], 1e-12),
                     perframe_dtssd=f["dtssd_each"],
                     dtssd_ratio=t["dtssd_fixed"] / max(f["dtssd_each"], 1e-12))
        v["sad_pass"] = v["sad_ratio"] is not None and v["sad_ratio"] <= MAX_SAD_RATIO
        v["dtssd_pass"] = (v["dtssd_ratio"] is not None
                           and v["dtssd_ratio"] <= MAX_DTSSD_RATIO)
        v["pass"] = v["identity_pass"] and v["sad_pass"] and v["dtssd_pass"]
        verdicts.append(v)
    return verdicts


def print_verdicts(verdicts):
    """Temporal against per-frame, one row per shot and solver, and the totals."""
    def mark(ok):
        return "ok" if ok else "FAIL"

    print(_common.format_table(
        ["shot", "solver", "layers T", "chg T", "chg P", "SAD T", "SAD P", "ratio", "",
         "dtSSD T", "dtSSD P", "ratio", "", "result"],
        [[v["shot"], v["solver"],
          "?" if v["object_layers"] is None else len(v["object_layers"]) or "none",
          ",".join(map(str, v["changes"])) or "-",
          "-" if not v["perframe_changes"] else ",".join(map(str, v["perframe_changes"])),
          fmt(v["sad"]), fmt(v["perframe_sad"]), fmt(v["sad_ratio"], ".2f"),
          mark(v["sad_pass"]), fmt(v["dtssd"], ".2f"), fmt(v["perframe_dtssd"], ".2f"),
          fmt(v["dtssd_ratio"], ".2f"), mark(v["dtssd_pass"]),
          "PASS" if v["pass"] else "FAIL"] for v in verdicts]))
    print(f"T: temporal, the object's layers chosen on the first frame (layers T: how "
          f"many; none: no layer lies mostly on the object, its SAD is the mask's); P: "
          f"per-frame, chosen per frame; chg: identity changes (frames); targets: no "
          f"temporal "
          f"change, SAD ratio <= {MAX_SAD_RATIO:.2f}, dtSSD ratio <= "
          f"{MAX_DTSSD_RATIO:.2f}")
    for key, label in (("identity_pass", "no identity change"),
                       ("sad_pass", "SAD"), ("dtssd_pass", "dtSSD"), ("pass", "all")):
        print(f"{label}: {sum(v[key] for v in verdicts)} of {len(verdicts)} pass")


def reusable_perframe(path):
    """Per-frame rows of an earlier identity JSON, by (shot, solver), with the options
    they ran under; empty when there is no file."""
    if path is None:
        return {}
    earlier = json.loads(Path(path).read_text(encoding="utf-8"))
    return {(r["shot"], r["solver"]): (r, r.get("options", earlier.get("options", {})))
            for r in earlier["results"] if r["mode"] == "perframe"}


def reuse(earlier, name, solver, images, options):
    """The earlier per-frame row of this shot and solver when it ran the same frames
    at the same working size with the same options, else None."""
    old, old_options = earlier.get((name, solver), (None, None))
    h, w = working_size(images[0].shape[:2], options.get("max_pixels", DEFAULT_MAX_PIXELS))
    if old is None or old_options != options or old["frames"] != len(images) \
            or old["working_size"] != [w, h]:
        return None
    return {**old, "reused": True}


def run_identity(args, argv):
    options = {} if args.max_pixels is None else {"max_pixels": args.max_pixels}
    if args.quick:
        options.update(QUICK_OPTIONS)
    rows = []
    earlier = reusable_perframe(args.reuse_perframe)
    try:
        for name, images, feats, masks, extra in identity_shots(args):
            for solver in args.solvers.split(","):
                for mode in args.modes.split(","):
                    temporal = mode == "temporal"
                    run_options = {**options, **extra}
                    result = None if temporal else reuse(earlier, name, solver, images,
                                                         run_options)
                    if result is None:
                        result = identity_run(images, feats, masks, temporal, solver,
                                              run_options)
                    rows.append({**result, "shot": name, "solver": solver, "mode": mode,
                                 "options": run_options})
                    print(f"  [{name} {solver} {mode}] {json.dumps(result)}",
                          file=sys.stderr, flush=True)
    except KeyError as exc:
        print(f"unknown DAVIS shot {exc.args[0]}", file=sys.stderr)
        return 2
    print(_common.format_table(
        ["shot", "solver", "mode", "frames", "working", "changes", "max moved",
         "SAD fixed", "SAD each", "dtSSD fixed", "dtSSD each", "s/frame", "load"],
        [[r["shot"], r["solver"], r["mode"], r["frames"],
          "x".join(map(str, r["working_size"])),
          ",".join(map(str, r["changes"])) or "-", fmt(r["max_moved"], ".2f"),
          fmt(r["sad_fixed"]), fmt(r["sad_each"]), fmt(r["dtssd_fixed"], ".2f"),
          fmt(r["dtssd_each"], ".2f"),
          fmt(r["s_per_frame"], ".1f") + (" (reused)" if r.get("reused") else ""),
          fmt(r["load"][1], ".1f")] for r in rows]))
    print("changes: frames where more than a quarter of the object's mass moved to other "
          "layers; fixed: the object's layers chosen on the first frame; each: per frame")
    verdicts = identity_verdicts(rows)
    print()
    print_verdicts(verdicts)
    meta = _common.run_metadata(argv)
    path = args.out / f"bench_video_identity{'_quick' if args.quick else ''}.json"
    _common.write_json(path, {"meta": meta, "options": options, "results": rows,
                              "verdicts": verdicts})
    print(f"wrote {path}")
    return 0 if all(v["pass"] for v in verdicts) else 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.out = args.out.resolve()
    args.data = args.data.resolve()
    if args.identity:
        return run_identity(args, argv)
    first = args.data / FRAMES_DIR / "00000.jpg"
    if not first.is_file() or not (args.data / MASKS_DIR / "00000.png").is_file():
        _common.data_missing(first, "DAVIS car-shadow frames and masks", args.data)
        return 0

    if args.config:
        result = run_config(args.config, args)
        result["verdict"] = "ok"
        if args.result:
            _common.write_json(args.result, result)
        else:
            report([result], args, argv, f"bench_video_{args.config}")
        return 0

    try:
        names = selected(args)
    except KeyError as exc:
        print(f"unknown configuration(s) {exc.args[0]}; known: {', '.join(CONFIGS)} "
              f"or a group: {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    results = [run_in_subprocess(name, args) for name in names]
    print()
    report(results, args, argv, "bench_video")
    return 1 if any("error" in r for r in results) else 0


def report(results, args, argv, stem):
    """Print the tables of the groups present and write the JSON.

    Rows of configurations run before and not run now are kept from the existing
    file, so groups run one at a time (``--only``) end up in one file.
    """
    for group, printer in (("quality", print_quality), ("speed", print_speed)):
        chosen = [r for r in results if r["group"] == group]
        if chosen:
            print(f"== {group}")
            printer(chosen)
            print()
    chosen = [r for r in results if r["group"] == "length"]
    if chosen:
        print("== length")
        print_length(chosen, args.quick)
    meta = _common.run_metadata(argv)
    meta["loadavg_end"] = list(os.getloadavg())
    for result in results:
        result["run"] = {key: meta.get(key) for key in ("date", "argv", "git_commit",
                                                         "git_dirty", "sss_vfx_path")}
    suffix = "_quick" if args.quick else ""
    path = args.out / f"{stem}{suffix}.json"
    merged = merge_results(path, results)
    summary = {"length": length_verdict(merged, args.quick)}
    _common.write_json(path, {"meta": meta, "summary": summary, "results": merged})
    print(f"wrote {path}")


def merge_results(path, results):
    """``results`` plus the rows of other configurations already in ``path``."""
    try:
        earlier = json.loads(Path(path).read_text(encoding="utf-8"))["results"]
    except (OSError, ValueError, KeyError, TypeError):
        earlier = []
    fresh = {r["config"]: r for r in results}
    kept = {r["config"]: r for r in earlier
            if isinstance(r, dict) and r.get("config") in CONFIGS and r["config"] not in fresh}
    merged = {**kept, **fresh}
    return [merged[name] for name in CONFIGS if name in merged]


if __name__ == "__main__":
    sys.exit(main())
