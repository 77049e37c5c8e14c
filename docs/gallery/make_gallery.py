"""Make the documentation's pictures from the bundled samples (and benchmark outputs).

Run from anywhere, with sss_vfx importable (installed, or this checkout on ``PYTHONPATH``)::

    python docs/gallery/make_gallery.py            # every picture (a few minutes on 2 cores)
    python docs/gallery/make_gallery.py --only hero

Writes small 8-bit PNGs into ``docs/_static/gallery/``:

- ``hero.png``: ``sample_shots/strands.png`` with the rough roto as a guide: plate |
  colour-coded layers | the head's matte (the README's picture).
- ``strands_features.png``: the same plate with the coarse features instead: features |
  layers | the head's matte | the true alpha.
- ``chelsea.png``: the cat photo on colour alone: plate | layers | each layer's matte.
- ``shot_strip.png``: a rendered hairy object moving over a panning background
  (:func:`sss_vfx.data.moving_shot`), temporal mode: plates over the colour-coded
  layers, every other frame.
- ``davis_strip.png``: DAVIS 2016 ``car-shadow`` (CC BY 4.0), every third frame of its
  first 13, with a blocky roto per frame (the masks at 1/8 resolution) as the car's
  guide, default options, temporal mode: plates over the car's matte. Made when the benchmark data are present
  (``../shared/data`` beside the checkout, or ``--data DIR``).
- ``worst_case.png``: the worst case found for a roto: DAVIS 2016 ``car-roundabout``
  (the one development shot whose layer stays below its roto), first 8 frames with a
  hurried roto per frame (``bench_davis_guides.py``'s recipe), temporal, default options
  (65,536 working pixels); the frame where the car's layer scores lowest against the
  mask: plate | roto | the car's layer | the roto's errors | the layer's errors (red: too
  high, green: too low). Made when the benchmark data are present.
- ``bench/*.png``: the strips the benchmarks wrote into ``benchmarks/output/``, scaled
  down, when that folder holds them. They are made from the benchmark data
  (alphamatting.com photos, whose terms do not grant redistribution), so they stay out
  of the repository (``docs/_static/gallery/bench/`` is git-ignored) and out of the
  built pages.

Every run uses fixed seeds and a small working size, so the pictures are the same on
every machine up to floating-point round-off.
"""

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_shots"
OUT = ROOT / "docs" / "_static" / "gallery"
#: Benchmark strips: local only (see the module docstring).
BENCH_OUT = OUT / "bench"
BENCH = ROOT / "benchmarks" / "output"
#: The benchmark data (not in the repository), as the benchmarks find it.
DATA = ROOT.parent / "shared" / "data"

try:
    import sss_vfx
except ImportError:     # a checkout without the package installed
    sys.path.insert(0, str(ROOT))
    import sss_vfx

from sss_vfx.io.images import read_image           # noqa: E402
from sss_vfx.io.outputs import render_preview      # noqa: E402

#: Width of one panel in a strip, in pixels: keeps each PNG under about 150 KB.
PANEL_WIDTH = 240
#: Gap between panels, in pixels (white).
GAP = 4
#: Benchmark pictures copied when present: output name -> source name.
BENCH_STRIPS = {"guides_GT01.png": "guides_GT01.png",
                "guides_GT04.png": "guides_GT04.png",
                "quality_GT04_error.png": "quality_GT04_error.png",
                "docia_320.png": "docia_320_preview.png"}


def _to_rgb8(image):
    """(H, W), (H, W, 3) float in [0, 1] or uint8 -> (H, W, 3) uint8."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return image


def _panel(image, width=PANEL_WIDTH):
    image = _to_rgb8(image)
    height = round(image.shape[0] * width / image.shape[1])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _row(panels):
    """Panels of one height side by side, white gaps between them."""
    height = panels[0].shape[0]
    gap = np.full((height, GAP, 3), 255, np.uint8)
    parts = []
    for panel in panels:
        parts += [panel, gap]
    return np.concatenate(parts[:-1], axis=1)


def _column(rows):
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    gap = np.full((GAP, width, 3), 255, np.uint8)
    parts = []
    for row in rows:
        parts += [row, gap]
    return np.concatenate(parts[:-1], axis=0)


def _write(name, rgb, folder=OUT):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]),
                            [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise OSError(f"could not encode {name}")
    path.write_bytes(data.tobytes())
    print(f"wrote {path.relative_to(ROOT)} ({rgb.shape[1]}x{rgb.shape[0]}, "
          f"{len(data) / 1024:.0f} KiB)")


def _layers_view(image, alphas):
    """The colour-coded half of the still preview."""
    preview = render_preview(image, alphas)
    return preview[:, image.shape[1]:]


def _segment(image, features=None, **kwargs):
    started = time.perf_counter()
    seg = sss_vfx.segment_image(image, features, colours=False, device="numpy", **kwargs)
    print(f"  segmented {image if isinstance(image, str) else 'array'} into "
          f"{seg.alphas.shape[2]} layers in {time.perf_counter() - started:.1f} s")
    return seg


def hero():
    """Plate | layers | the head's matte, from the roto guide (the README's run)."""
    plate = str(SAMPLES / "strands.png")
    seg = _segment(plate, guides=str(SAMPLES / "strands_roto.png"))
    head = seg.objects.index("strands_roto") if "strands_roto" in seg.objects else 0
    _write("hero.png", _row([_panel(seg.image), _panel(_layers_view(seg.image, seg.alphas)),
                             _panel(seg.alphas[:, :, head])]))


def strands_features():
    """Features | layers | head's layer | true alpha, from the coarse features."""
    plate = str(SAMPLES / "strands.png")
    seg = _segment(plate, str(SAMPLES / "strands_features.png"), **sss_vfx.COARSE_FEATURES)
    truth = read_image(SAMPLES / "strands_alpha.png").pixels[:, :, 0]
    # The head's layer: the one agreeing best with the true alpha.
    errors = [np.abs(seg.alphas[:, :, k] - truth).mean() for k in range(seg.alphas.shape[2])]
    head = int(np.argmin(errors))
    features = read_image(SAMPLES / "strands_features.png").pixels
    _write("strands_features.png", _row([
        _panel(features), _panel(_layers_view(seg.image, seg.alphas)),
        _panel(seg.alphas[:, :, head]), _panel(truth)]))


def chelsea():
    """The cat on colour alone: plate | layers, then each layer's matte."""
    seg = _segment(str(SAMPLES / "chelsea.png"), layers=4)
    top = _row([_panel(seg.image), _panel(_layers_view(seg.image, seg.alphas))])
    k = seg.alphas.shape[2]
    mattes = [_panel(seg.alphas[:, :, j], (top.shape[1] - (k - 1) * GAP) // k)
              for j in range(k)]
    _write("chelsea.png", _column([top, _row(mattes)]))


def shot_strip():
    """A moving hairy object, temporal mode: plates over layers, every other frame."""
    from sss_vfx.data import moving_shot
    # Faster than the default motion, so four frames show it; little sensor noise, so
    # the PNG stays small.
    shots = moving_shot(frames=7, shape=(96, 128), seed=2, fg_speed=(1.5, 0.4),
                        noise=0.004)
    started = time.perf_counter()
    results = list(sss_vfx.segment_video([s.image for s in shots],
                                         features=[s.features for s in shots],
                                         colours=False, device="numpy",
                                         **sss_vfx.COARSE_FEATURES))
    print(f"  segmented {len(results)} frames in {time.perf_counter() - started:.1f} s")
    picked = results[::2]
    width = 128     # the frames' own size: no upscaling
    plates = _row([_panel(r.plate, width) for r in picked])
    layers = _row([_panel(_layers_view(r.plate, r.alphas), width) for r in picked])
    _write("shot_strip.png", _column([plates, layers]))


def davis_strip(data=None):
    """A real shot: DAVIS car-shadow with a blocky roto per frame as the car's guide."""
    from sss_vfx.data import coarse_mask
    folder = Path(data or DATA) / "davis_car_shadow"
    plates = sorted((folder / "JPEGImages" / "480p" / "car-shadow").glob("*.jpg"))[:13:3]
    if not plates:
        print(f"  no DAVIS car-shadow under {folder.parent}: skipped")
        return
    frames = [read_image(p).pixels for p in plates]
    masks = [read_image(folder / "Annotations" / "480p" / "car-shadow" /
                        p.with_suffix(".png").name).pixels[:, :, 0] for p in plates]
    # An artist's quick roto: the mask at 1/8 resolution, blocky, no soft edge.
    guides = [(coarse_mask(m, scale=8, blur_sigma=0) > 0.5)[:, :, None].astype(np.float32)
              for m in masks]
    started = time.perf_counter()
    results = list(sss_vfx.segment_video(frames, guides=guides,
                                         colours=False,
                                         device="numpy"))
    print(f"  segmented {len(results)} frames in {time.perf_counter() - started:.1f} s")
    width = 176
    plates_row = _row([_panel(r.plate, width) for r in results])
    mattes_row = _row([_panel(r.alphas[:, :, 0], width) for r in results])
    _write("davis_strip.png", _column([plates_row, mattes_row]))


def worst_case(data=None):
    """The worst case found for a roto: DAVIS car-roundabout, the road's shadow and bits
    of the street behind drawn into the car's layer."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_davis_guides import shot_dirs
    from bench_guides import hurried_guide
    from bench_quality import error_map
    from sss_vfx.evaluation import iou
    frames_dir, masks_dir = shot_dirs(Path(data or DATA), "car-roundabout")
    plates = sorted(frames_dir.glob("*.jpg"))[:8]
    if not plates:
        print(f"  no DAVIS car-roundabout under {frames_dir}: skipped")
        return
    frames = [read_image(p).pixels for p in plates]
    masks = [read_image(masks_dir / p.with_suffix(".png").name).pixels[:, :, 0] > 0.5
             for p in plates]
    guides = [hurried_guide(m, seed=i) for i, m in enumerate(masks)]
    started = time.perf_counter()
    results = list(sss_vfx.segment_video(frames, guides=guides, colours=False,
                                         device="numpy"))
    print(f"  segmented {len(results)} frames in {time.perf_counter() - started:.1f} s")
    scores = [iou(r.alphas[:, :, 0], m) for r, m in zip(results, masks)]
    k = int(np.argmin(scores))
    print(f"  frame {k}: layer IoU {scores[k]:.3f}, roto {iou(guides[k], masks[k]):.3f}")
    car, truth = results[k].alphas[:, :, 0], masks[k].astype(np.float64)
    panels = [results[k].plate, guides[k], car, error_map(guides[k], truth),
              error_map(car, truth)]
    _write("worst_case.png", _row([_panel(p, 200) for p in panels]))


def bench_strips():
    """The benchmarks' own strips, scaled down, when benchmarks/output holds them (into
    the git-ignored ``bench/`` folder)."""
    for name, source in BENCH_STRIPS.items():
        path = BENCH / source
        if not path.is_file():
            print(f"  no {source} in benchmarks/output: run the benchmark first")
            continue
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]
        width = min(image.shape[1], 3 * PANEL_WIDTH)
        _write(name, _panel(image, width), BENCH_OUT)


PICTURES = {"hero": hero, "strands_features": strands_features, "chelsea": chelsea,
            "shot_strip": shot_strip, "davis": davis_strip, "worst": worst_case,
            "bench": bench_strips}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated: " + ", ".join(PICTURES))
    parser.add_argument("--data", help="benchmark data folder (default: shared/data "
                                       "beside the checkout)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(PICTURES)
    unknown = sorted(set(names) - set(PICTURES))
    if unknown:
        parser.error(f"unknown picture(s) {', '.join(unknown)}; known: "
                     f"{', '.join(PICTURES)}")
    for name in names:
        print(name)
        PICTURES[name](**({"data": args.data} if name in ("davis", "worst") else {}))


if __name__ == "__main__":
    main()
