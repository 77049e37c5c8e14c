"""The torch stages on a CUDA GPU against their numpy references, stage by stage.

One process, after a warm-up on a small image: for each configuration the Laplacian is
built once (numpy), then every stage after it runs on numpy and on the GPU (torch, data
kept on the device between stages) on the same inputs. Recorded per stage: seconds,
GPU peak memory (``torch.cuda.max_memory_allocated``) and agreement with numpy
(eigen-residuals, eigenvalue error, principal cosines, label agreement, max |diff|).
When the pipeline accepts ``device='cuda'``, the whole ``segment_image`` and
``segment_video`` (DAVIS car-shadow, temporal and per-frame) are timed too. Every
measurement is wrapped: an error is recorded in the JSON and the script goes on.

Configurations (docia.png: left half the photo, right half its features):

==================  ==============================================  ==================
name                input                                           working pixels
==================  ==============================================  ==================
docia-640-default   docia 640x640, default options                  65,536
docia-320-faithful  docia halved (INTER_AREA), ``max_pixels=0``      102,400
plate-1080          docia resized to 1920x1080 (INTER_CUBIC),        262,144
                    ``max_pixels=262144``
==================  ==============================================  ==================

Usage::

    python benchmarks/bench_gpu.py --out gpu.json                  # on a CUDA machine
    python benchmarks/bench_gpu.py --data DIR --device torch:cpu --quick --out q.json
    python benchmarks/bench_gpu.py --numpy-max-pixels 0            # no numpy baselines

``--data`` holds ``docia.png`` and ``davis_car_shadow/`` (default: ``../shared/data``
beside the repository, else ``.gpu_data/`` in it). ``--quick`` runs tiny sizes with few
eigenvectors (a smoke test of every code path, on ``torch:cpu`` too).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import cv2  # noqa: E402

import sss_vfx  # noqa: E402

CONFIGS = {
    "docia-640-default": dict(size=(640, 640), interpolation=cv2.INTER_AREA,
                              max_pixels=65_536),
    "docia-320-faithful": dict(size=(320, 320), interpolation=cv2.INTER_AREA, max_pixels=0),
    "plate-1080": dict(size=(1920, 1080), interpolation=cv2.INTER_CUBIC,
                       max_pixels=262_144),
}
QUICK = dict(eigenvectors=20, initial_segments=8, superpixels=200,
             constrained_iterations=10, relaxed_rounds=3, cg_steps=30)
QUICK_SIZES = {"docia-640-default": ((96, 96), 4096), "docia-320-faithful": ((64, 64), 0),
               "plate-1080": ((192, 108), 8192)}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def default_data():
    shared = REPO_ROOT.parent / "shared" / "data"
    return shared if (shared / "docia.png").exists() else REPO_ROOT / ".gpu_data"


def load_docia(data, size_wh, interpolation):
    png = cv2.imread(str(Path(data) / "docia.png"), cv2.IMREAD_COLOR)
    if png is None:
        raise FileNotFoundError(f"{data}/docia.png is missing")
    png = png[:, :, ::-1].astype(np.float32) / 255.0
    image, features = png[:, :640], png[:, 640:]
    if tuple(size_wh) != (640, 640):
        image = np.clip(cv2.resize(image, tuple(size_wh), interpolation=interpolation), 0, 1)
        features = np.clip(cv2.resize(features, tuple(size_wh), interpolation=interpolation),
                           0, 1)
    return np.ascontiguousarray(image), np.ascontiguousarray(features)


class Recorder:
    """Runs measurements, recording seconds or the error of each."""

    def __init__(self, torch, device):
        self.torch, self.device = torch, device

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def time(self, entry, name, fn):
        """``entry[name] = seconds`` (or ``entry[name + '_error']``); fn's result or None."""
        try:
            self.sync()
            start = time.perf_counter()
            result = fn()
            self.sync()
            entry[name] = round(time.perf_counter() - start, 4)
            return result
        except Exception as exc:  # every measurement goes on after a failure
            entry[name + "_error"] = f"{type(exc).__name__}: {exc}"
            log(f"  {name} failed: {exc}")
            traceback.print_exc(limit=3)
            return None


def principal_cosine(a, b):
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    return float(np.linalg.svd(qa.T @ qb, compute_uv=False).min())


def working_problem(image, features, max_pixels, opts):
    """The working frame and its Laplacian, as the pipeline builds them (numpy)."""
    from sss_vfx.features.preprocess import preprocess_features
    from sss_vfx.graph.superpixels import compute_superpixels
    h, w = image.shape[:2]
    if max_pixels and h * w > max_pixels:
        scale = np.sqrt(max_pixels / (h * w))
        h, w = int(h * scale), int(w * scale)
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float64)
        feats = cv2.resize(features, (w, h), interpolation=cv2.INTER_AREA)
    else:
        small, feats = image.astype(np.float64), features
    feats = preprocess_features(feats.astype(np.float64), small)
    sp = compute_superpixels(small, n_segments=opts.get("superpixels", 2500))
    lap = sss_vfx.laplacian(small, feats, superpixels=sp)
    return small, feats, lap


def stage_comparison(name, image, features, max_pixels, opts, rec, numpy_max_pixels):
    """Every stage after the Laplacian on numpy and torch, same inputs."""
    from sss_vfx.accel.compute import memory_guard
    from sss_vfx.accel.stages import STAGES
    from sss_vfx.arrays.transfer import to_device
    from sss_vfx.filters.gradient import gradient_magnitude
    from sss_vfx.segments.colours import layer_colours
    from sss_vfx.segments.constrained import constrained_sparsification
    from sss_vfx.segments.initial import initial_segments
    from sss_vfx.segments.relaxed import relaxed_sparsification
    from sss_vfx.segments.upsample import normalise_layers, upsample_layers
    from sss_vfx.spectral import smallest_magnitude_eigs
    torch, dev = rec.torch, rec.device

    def run_stage(stage, *args, device=None, memory=None, pixels=None, **kwargs):
        """A stage's torch implementation on tensors (results stay on the device)."""
        with memory_guard(stage, dev, memory, pixels):
            return STAGES[stage].implementation("torch")(*args, **kwargs)

    def as_tensor(value, device):
        return to_device(np.asarray(value), device)

    out = {"numpy": {}, "torch": {}, "agreement": {}, "gpu_peak_bytes": {}}
    tn, tt, agree, memory = out["numpy"], out["torch"], out["agreement"], out["gpu_peak_bytes"]
    problem = rec.time(tn, "laplacian", lambda: working_problem(image, features, max_pixels,
                                                                opts))
    if problem is None:
        return out
    small, feats, lap = problem
    h, w = small.shape[:2]
    n = h * w
    k = min(opts.get("eigenvectors", 100), n - 2)
    out.update(working=[w, h], pixels=n, nnz=int(lap.nnz), eigenvectors=k)
    with_numpy = bool(numpy_max_pixels) and n <= numpy_max_pixels
    log(f"{name}: {w}x{h} = {n} px, nnz {lap.nnz}, numpy baselines: {with_numpy}")
    lap_t = rec.time(tt, "to_device", lambda: to_device(lap, dev))
    ones_t = as_tensor(lap @ np.ones(n), dev)
    feats_t = as_tensor(feats.reshape(-1, 3), dev)
    gradient = gradient_magnitude(small).ravel()

    info = {}
    eig = rec.time(tt, "eigenpairs", lambda: run_stage(
        "eigenvectors", lap_t, k, device=dev, memory=memory, pixels=n, info=info))
    out["eigen_info"] = dict(info)
    ref = rec.time(tn, "eigenpairs", lambda: smallest_magnitude_eigs(lap, k, shape=(h, w))) \
        if with_numpy else None
    if eig is not None:
        values_t, vectors_t = eig
        values, vectors = values_t.cpu().numpy(), vectors_t.cpu().numpy()
        res = np.linalg.norm(lap @ vectors - vectors * values, axis=0)
        agree["eigen_residual_max"] = float(res.max())
        if ref is not None:
            agree["eigenvalue_max_abs_diff"] = float(np.abs(values - ref[0]).max())
            agree["eigenvalue_max_rel_diff"] = float(
                (np.abs(values - ref[0]) / np.maximum(np.abs(ref[0]), 1e-12))[1:].max())
            agree["subspace_min_cosine"] = principal_cosine(vectors, ref[1])
        # Warm start from a nearby space (the next frame of a shot starts from this one's).
        noise = torch.randn(vectors_t.shape, generator=torch.Generator().manual_seed(1),
                            dtype=torch.float64).to(dev)
        warm_info = {}
        rec.time(tt, "eigenpairs_warm", lambda: run_stage(
            "eigenvectors", lap_t, k, device=dev, start=vectors_t + 1e-3 * noise,
            info=warm_info))
        out["eigen_info_warm"] = warm_info
    else:
        return out
    values_np, vectors_np = (ref if ref is not None else (values, vectors))
    labels_t = rec.time(tt, "initial_segments", lambda: run_stage(
        "initial_segments", values_t, vectors_t, feats_t, opts.get("initial_segments", 40),
        device=dev, memory=memory))
    labels = rec.time(tn, "initial_segments", lambda: initial_segments(
        values_np, vectors_np, feats, opts.get("initial_segments", 40))) if with_numpy \
        else None
    if labels_t is None:
        return out
    if labels is not None:
        agree["initial_labels_equal_fraction"] = float(np.mean(labels_t.cpu().numpy() == labels))
    labels = labels_t.cpu().numpy()
    from sss_vfx.segments.constrained import ConstrainedOptions
    cons = ConstrainedOptions(iterations=opts.get("constrained_iterations", 40))
    soft_t = rec.time(tt, "constrained_sparsification", lambda: run_stage(
        "constrained_sparsification", vectors_t, values_t, labels_t, options=cons,
        laplacian_ones=ones_t, device=dev, memory=memory))
    # numpy on the same eigenpairs (the torch ones) and labels.
    soft = rec.time(tn, "constrained_sparsification", lambda: constrained_sparsification(
        vectors, values, labels, options=cons, laplacian_ones=lap @ np.ones(n))) \
        if with_numpy else None
    if with_numpy:
        rec.time(tn, "constrained_sparsification_stride4", lambda: constrained_sparsification(
            vectors, values, labels, options=cons, laplacian_ones=lap @ np.ones(n),
            gram_stride=4))
    if soft_t is None:
        return out
    if soft is not None:
        agree["constrained_segments"] = [int(soft.shape[1]), int(soft_t.shape[1])]
        if soft.shape == tuple(soft_t.shape):
            agree["constrained_mean_abs_diff"] = float(np.abs(soft - soft_t.cpu().numpy()).mean())
    grouped_t = rec.time(tt, "grouping", lambda: run_stage(
        "grouping", soft_t, feats_t, opts.get("layers", 5), device=dev, memory=memory))
    if grouped_t is None:
        return out
    grouped = grouped_t[0]
    relaxed_kw = {}
    from sss_vfx.segments.relaxed import RelaxedOptions
    relaxed_kw["options"] = RelaxedOptions(rounds=opts.get("relaxed_rounds", 20),
                                           cg_steps=opts.get("cg_steps", 100))
    relaxed_t = rec.time(tt, "relaxed_sparsification", lambda: run_stage(
        "relaxed_sparsification", lap_t, grouped, gradient, device=dev, memory=memory,
        **relaxed_kw))
    relaxed = rec.time(tn, "relaxed_sparsification", lambda: relaxed_sparsification(
        lap, grouped.cpu().numpy(), gradient, **relaxed_kw)) if with_numpy else None
    if relaxed_t is None:
        return out
    if relaxed is not None:
        agree["relaxed_max_abs_diff"] = float(np.abs(relaxed - relaxed_t.cpu().numpy()).max())
    small_alphas_t = relaxed_t.reshape(h, w, -1)
    plate_t = as_tensor(image, dev)
    if (h, w) != image.shape[:2]:
        alphas_t = rec.time(tt, "upsampling", lambda: run_stage(
            "upsampling", small_alphas_t, as_tensor(small, dev), plate_t, device=dev,
            memory=memory))
        alphas = rec.time(tn, "upsampling", lambda: upsample_layers(
            small_alphas_t.cpu().numpy(), small, image))
        if alphas is not None and alphas_t is not None:
            agree["upsampling_max_abs_diff"] = float(np.abs(alphas - alphas_t.cpu().numpy()).max())
    else:
        alphas_t = as_tensor(normalise_layers(small_alphas_t.cpu().numpy()), dev)
    if alphas_t is None:
        return out
    col_t = rec.time(tt, "colours", lambda: run_stage("colours", plate_t, alphas_t,
                                                      device=dev, memory=memory))
    col = rec.time(tn, "colours", lambda: layer_colours(image, alphas_t.cpu().numpy()))
    if col is not None and col_t is not None:
        agree["colours_max_abs_diff"] = float(np.abs(col - col_t.cpu().numpy()).max())
    tt["total_after_laplacian"] = round(sum(v for key, v in tt.items()
                                            if key not in ("to_device", "eigenpairs_warm")
                                            and isinstance(v, float)), 4)
    if with_numpy:
        tn["total_after_laplacian"] = round(sum(
            v for key, v in tn.items() if key not in ("laplacian",
                                                      "constrained_sparsification_stride4")
            and isinstance(v, float)), 4)
    return out


def whole_pipeline(image, features, opts, spec, rec, repeats=2):
    """``segment_image(..., device=spec)``: seconds of each run (the first warms up)."""
    entry = {}
    for r in range(repeats):
        result = rec.time(entry, f"run{r}", lambda: sss_vfx.segment_image(
            image, features, device=spec, **opts))
        if result is None:
            break
        entry["timings"] = dict(getattr(result, "timings", {}))
        entry["layers"] = int(result.alphas.shape[2])
        entry["device"] = str(getattr(result, "device", ""))
    if rec.device.type == "cuda":
        entry["gpu_peak_bytes"] = int(rec.torch.cuda.max_memory_allocated(rec.device))
    return entry


def davis_frames(data, count):
    folder = Path(data) / "davis_car_shadow" / "JPEGImages" / "480p" / "car-shadow"
    files = sorted(folder.glob("*.jpg"))[:count]
    if not files:
        raise FileNotFoundError(f"no DAVIS frames under {folder}")
    return [cv2.imread(str(f))[:, :, ::-1].astype(np.float32) / 255.0 for f in files]


def whole_video(frames, opts, spec, temporal, rec):
    entry = {}

    def run():
        if rec.device.type == "cuda":
            rec.torch.cuda.reset_peak_memory_stats(rec.device)
        stamps, start = [], time.perf_counter()
        for layers in sss_vfx.segment_video(list(frames), device=spec, temporal=temporal,
                                            **opts):
            stamps.append(time.perf_counter() - start)
            entry["timings"] = dict(getattr(layers, "timings", {}))
        return stamps

    stamps = rec.time(entry, "total", run)
    if stamps:
        entry["frames"] = len(stamps)
        entry["seconds_per_frame"] = round(stamps[-1] / len(stamps), 4)
        # After the first frame (warm-up of the shot: first factorisation, etc.).
        if len(stamps) > 2:
            entry["seconds_per_frame_after_first"] = round(
                (stamps[-1] - stamps[0]) / (len(stamps) - 1), 4)
    if rec.device.type == "cuda":
        entry["gpu_peak_bytes"] = int(rec.torch.cuda.max_memory_allocated(rec.device))
    return entry


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--data", default=None, help="folder with docia.png and davis_car_shadow/")
    p.add_argument("--device", default=None, help="torch device (default: cuda if seen)")
    p.add_argument("--only", default=",".join(CONFIGS), help="configurations, comma-separated")
    p.add_argument("--numpy-max-pixels", type=int, default=110_000,
                   help="numpy baselines only up to this many working pixels (0: none)")
    p.add_argument("--video-frames", type=int, default=8)
    p.add_argument("--skip-pipeline", action="store_true")
    p.add_argument("--quick", action="store_true", help="tiny sizes, every code path")
    args = p.parse_args(argv)
    data = Path(args.data) if args.data else default_data()
    report = {"schema": "SssGpuBench.1", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "python": platform.python_version(), "numpy": np.__version__,
              "sss_vfx": getattr(sss_vfx, "__version__", "?"), "data": str(data),
              "quick": args.quick, "configs": {}, "pipeline": {}, "video": {}}
    out_path = Path(args.out)

    def save():
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_suffix(out_path.suffix + ".tmp")
        tmp.write_text(json.dumps(report, indent=2, default=str))
        tmp.replace(out_path)

    try:
        import torch
        from sss_vfx.accel.compute import Compute
        from sss_vfx.accel.devices import find_cuda_devices
        spec = args.device or ("cuda" if torch.cuda.is_available() else "torch:cpu")
        device = Compute.resolve(spec).torch_device
        report.update(torch=torch.__version__, device=str(device),
                      cuda=[d.describe() for d in find_cuda_devices()],
                      cpu_threads=torch.get_num_threads())
    except Exception as exc:
        report["fatal"] = f"{type(exc).__name__}: {exc}"
        save()
        log(report["fatal"])
        return 1
    rec = Recorder(torch, device)
    log(f"device {device}; data {data}")
    opts_all = dict(QUICK) if args.quick else {}

    # Warm-up: CUDA context, cuSPARSE/cuSOLVER handles, kernels, on a small image.
    try:
        image, features = load_docia(data, (48, 48), cv2.INTER_AREA)
        stage_comparison("warm-up", image, features, 0, dict(QUICK, eigenvectors=10), rec, 0)
        log("warm-up done")
    except Exception as exc:
        report["warmup_error"] = f"{type(exc).__name__}: {exc}"
    save()

    for name in [c for c in args.only.split(",") if c in CONFIGS]:
        config = CONFIGS[name]
        size, max_pixels = ((QUICK_SIZES[name]) if args.quick
                            else (config["size"], config["max_pixels"]))
        try:
            image, features = load_docia(data, size, config["interpolation"])
        except Exception as exc:
            report["configs"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        opts = dict(opts_all, max_pixels=max_pixels)
        log(f"{name}: stages")
        report["configs"][name] = stage_comparison(name, image, features, max_pixels,
                                                   opts_all, rec, args.numpy_max_pixels)
        save()
        if not args.skip_pipeline:
            log(f"{name}: segment_image(device={spec!r})")
            report["pipeline"][name] = whole_pipeline(image, features, opts, spec, rec)
            save()
    if not args.skip_pipeline and args.video_frames > 0:
        try:
            frames = davis_frames(data, args.video_frames)
            if args.quick:
                frames = [cv2.resize(f, (107, 60), interpolation=cv2.INTER_AREA) for f in frames]
            for temporal in (True, False):
                mode = "temporal" if temporal else "perframe"
                log(f"davis {len(frames)} frames {mode}")
                report["video"][mode] = whole_video(frames, opts_all, spec, temporal, rec)
                save()
        except Exception as exc:
            report["video"]["error"] = f"{type(exc).__name__}: {exc}"
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    save()
    log(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
