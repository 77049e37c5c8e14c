"""Chunked shots at farm scale: one process against chunks on a 2-worker LocalCluster.

Sections (``--only`` picks some, comma-separated):

``rendered``
    ``sss_vfx.data.moving_shot`` (``--frames`` 40, ``--shape`` 64x96) with true
    alpha and coarse features, written as a PNG sequence. One process
    (``segment_video``) against the shot cut into ``--chunk-frames`` (10: 4 chunks)
    run by ``sss_vfx.batch`` on 2 workers: the object's layer index in every frame,
    SAD of that layer against the true alpha, flow-warping error (Lai et al. 2018) on
    the pairs of frames across chunk joins (key frame to the chunk's first own frame)
    against the other pairs and against the window seams of the one process.
``davis``
    DAVIS ``car-shadow`` (40 frames, 854x480) the same way at ``--davis-max-pixels``
    (4096) with the ``bench_video`` length options: identity swaps, IoU and dtSSD
    against the masks, warping error at joins.
``kill``
    Two rendered shots (``--kill-frames`` 20 each) as one batch on 2 workers,
    undisturbed and with one worker process killed (SIGKILL) while it computes a chunk:
    every frame written once, the outputs bit-equal to the undisturbed batch's.

Wall time of one process against the 2-worker batch: ``seconds`` of ``rendered`` and
``davis``.
``exr`` (with ``davis``)
    Bytes of one layers EXR (half float, ZIP, mattes and premultiplied colours) of a
    car-shadow frame at 854x480, and resized to 1920x1080 and 4096x2160.

Writes ``benchmarks/output/bench_farm.json``. Usage::

    python benchmarks/bench_farm.py                    # everything (about 20 min, 2 cores)
    python benchmarks/bench_farm.py --only rendered,exr --frames 20
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (makes sss_vfx importable)
from _common import cv2  # noqa: E402

import sss_vfx  # noqa: E402
from sss_vfx.farm.batch import batch  # noqa: E402
from sss_vfx.farm.chunks import chunk_ranges  # noqa: E402
from sss_vfx.farm.layout import FarmFolder  # noqa: E402
from sss_vfx.graph.flow import frame_flow  # noqa: E402
from sss_vfx.io.exr import read_layers_exr, write_layers_exr  # noqa: E402
from sss_vfx.evaluation import dtssd, foreground_layers, iou, sad, warping_error  # noqa: E402
from sss_vfx.data import coarse_features, moving_shot  # noqa: E402

# Coarse features (blocky masks): the options the library recommends for them.
RENDERED_OPTIONS = dict(sss_vfx.COARSE_FEATURES, eigenvectors=20, initial_segments=8,
                        superpixels=100, layers=3)
DAVIS_OPTIONS = dict(sss_vfx.COARSE_FEATURES, eigenvectors=30, initial_segments=10,
                     superpixels=200)
HANDLES = 3
SECTIONS = ("rendered", "davis", "kill", "exr")


def write_rendered(folder, name, frames, shape, seed):
    folder.mkdir(parents=True, exist_ok=True)
    clip = moving_shot(frames=frames, shape=shape, seed=seed)
    for i, frame in enumerate(clip):
        cv2.imwrite(str(folder / f"{name}.{i:04d}.png"),
                    np.rint(np.clip(frame.image[..., ::-1], 0, 1) * 65535).astype(np.uint16))
        np.save(folder / f"{name}_feat.{i:04d}.npy", frame.features)
    return (str(folder / f"{name}.%04d.png"), str(folder / f"{name}_feat.%04d.npy"),
            [f.image for f in clip], [f.alpha for f in clip])


def write_davis(data, folder, frames):
    folder.mkdir(parents=True, exist_ok=True)
    clip = data / "davis_car_shadow"
    plates, masks = [], []
    for i in range(frames):
        plate = _common.read_rgb(clip / "JPEGImages/480p/car-shadow" / f"{i:05d}.jpg")
        # the annotations store the object as a small palette index, not 255
        mask = (_common.read_channel(clip / "Annotations/480p/car-shadow"
                                     / f"{i:05d}.png") > 0).astype(np.float32)
        cv2.imwrite(str(folder / f"car.{i:04d}.png"),
                    np.rint(plate[..., ::-1] * 65535).astype(np.uint16))
        np.save(folder / f"car_feat.{i:04d}.npy", coarse_features(mask, seed=i))
        plates.append(plate)
        masks.append(mask)
    return (str(folder / "car.%04d.png"), str(folder / "car_feat.%04d.npy"), plates, masks)


def one_process(pattern, features, options):
    start = time.perf_counter()
    alphas = [f.alphas for f in sss_vfx.segment_video(pattern, features=features,
                                                      **options)]
    return alphas, time.perf_counter() - start


def read_shot(folder, count):
    return [read_layers_exr(FarmFolder(folder).frame_path(i)).alphas for i in range(count)]


def scores(alphas, plates, truths, joins, seams, *, soft):
    """The object's layer per frame (the largest share inside it; a swap is a frame
    where it differs from the first frame's), the matte of the first frame's object
    layers (``foreground_layers``, else that one layer), its error, and the warping
    error on join/seam/other pairs."""
    index = [int(np.argmax(foreground_layers(a, t)[1])) for a, t in zip(alphas, truths)]
    group = foreground_layers(alphas[0], truths[0])[0] or [index[0]]
    mattes = [a[..., group].sum(axis=2) for a in alphas]
    out = {"object_layers": index, "object_group": group,
           "swaps": int(sum(i != index[0] for i in index))}
    if soft:
        out["sad"] = float(np.mean([sad(m, t) for m, t in zip(mattes, truths)]))
    else:
        out["iou"] = float(np.mean([iou(m, t) for m, t in zip(mattes, truths)]))
    out["dtssd"] = dtssd(mattes, truths)
    warp = []
    for i in range(len(alphas) - 1):
        flow = frame_flow(plates[i], plates[i + 1])
        warp.append(warping_error(alphas[i], alphas[i + 1], flow.forward, flow.confidence))
    pairs = {"joins": [i for i in range(len(warp)) if i in joins],
             "seams": [i for i in range(len(warp)) if i in seams],
             "other": [i for i in range(len(warp)) if i not in joins and i not in seams]}
    out["warping"] = {name: float(np.mean([warp[i] for i in idx])) if idx else None
                      for name, idx in pairs.items()}
    out["warping_all"] = float(np.mean(warp))
    out["warping_per_pair"] = warp
    return out


def join_pairs(count, chunk_frames):
    """Indices i of pairs (i, i+1) inside the cross-faded handles of the joins."""
    pairs = set()
    for chunk in chunk_ranges(range(count), chunk_frames, HANDLES)[1:]:
        pairs.update(range(chunk.key, chunk.first))
    return pairs


def window_seams(count):
    """Pairs (i, i+1) touching a frame shared by two windows (window 3, overlap 1)."""
    shared = set(range(2, count, 2))
    return {i for i in range(count - 1) if i in shared or i + 1 in shared}


def compare(name, pattern, features, plates, truths, options, args, tmp, *, soft):
    count = len(plates)
    single, single_s = one_process(pattern, features, options)
    start = time.perf_counter()
    batch([pattern], tmp / f"{name}_batch", features=[features], workers=2,
          chunk_frames=args.chunk_frames, handles=HANDLES, progress=True, **options)
    batch_s = time.perf_counter() - start
    chunked = read_shot(tmp / f"{name}_batch" / name, count)
    manifest = FarmFolder(tmp / f"{name}_batch" / name)
    manifest = json.loads((manifest.directory / "manifest.json").read_text())
    joins, seams = join_pairs(count, args.chunk_frames), window_seams(count)
    result = {"frames": count, "size": list(plates[0].shape[1::-1]), "options": options,
              "chunk_frames": args.chunk_frames, "handles": HANDLES,
              "one_process": {"seconds": single_s,
                              **scores(single, plates, truths, set(), seams, soft=soft)},
              "chunked_2_workers": {"seconds": batch_s,
                                    "reordered_chunks": manifest["reordered_chunks"],
                                    "join_swaps": manifest["join_swaps"],
                                    **scores(chunked, plates, truths, joins, seams - joins,
                                             soft=soft)}}
    print(name, {k: {kk: vv for kk, vv in v.items()
                     if kk not in ("object_layers", "warping_per_pair")}
                 if isinstance(v, dict) else v for k, v in result.items()}, flush=True)
    return result


def kill_section(args, tmp):
    import distributed

    shots = [write_rendered(tmp / "kill_plates", n, args.kill_frames, args.shape, s)
             for s, n in enumerate(("sh010", "sh020"))]
    start = time.perf_counter()
    batch([s[0] for s in shots], tmp / "calm", features=[s[1] for s in shots], workers=2,
          chunk_frames=args.chunk_frames, handles=HANDLES, **RENDERED_OPTIONS)
    calm_s = time.perf_counter() - start
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                       dashboard_address=None)
    killed = []

    def killer():
        client = distributed.Client(cluster)
        while not killed:
            busy = {w: k for w, k in client.processing().items()
                    if any(str(x).startswith("chunk-") for x in k)}
            if busy and list((tmp / "killed").glob("*/farm/chunks/*.journal")):
                worker = sorted(busy)[0]
                os.kill(client.run(os.getpid, workers=[worker])[worker], signal.SIGKILL)
                killed.append([str(x) for x in busy[worker]])
            time.sleep(0.05)
        client.close()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    start = time.perf_counter()
    batch([s[0] for s in shots], tmp / "killed", features=[s[1] for s in shots],
          scheduler=cluster.scheduler_address, chunk_frames=args.chunk_frames,
          handles=HANDLES, **RENDERED_OPTIONS)
    killed_s = time.perf_counter() - start
    cluster.close()
    written, equal = [], True
    for name in ("sh010", "sh020"):
        folder = FarmFolder(tmp / "killed" / name)
        plan = folder.read_plan()
        written += [f"{name}/{w}" for c in plan["chunks"] for w in folder.journal(c["index"])]
        for path in sorted((tmp / "calm" / name).glob("layers.*.exr")):
            equal &= bool(np.array_equal(read_layers_exr(path).alphas, read_layers_exr(
                folder.directory / path.name).alphas))
    result = {"killed_tasks": killed, "files_written": len(written),
              "files_written_twice": len(written) - len(set(written)),
              "outputs_equal_undisturbed": equal, "frames_per_shot": args.kill_frames,
              "batch_2_workers_s": calm_s, "batch_2_workers_killed_s": killed_s}
    print("kill", result, flush=True)
    return result


def exr_section(alphas, plate, tmp):
    """EXR bytes of a real result at its size, and resized to 1080p and 4K (resized
    mattes are smoother than true ones there: a lower bound)."""
    out = {"layers": int(alphas.shape[2])}
    for w, h in (alphas.shape[1::-1], (1920, 1080), (4096, 2160)):
        a = cv2.resize(alphas, (w, h), interpolation=cv2.INTER_LINEAR).clip(0, 1)
        a /= np.maximum(a.sum(axis=2, keepdims=True), 1e-6)
        rgb = cv2.resize(plate, (w, h), interpolation=cv2.INTER_LINEAR)
        path = tmp / f"exr_{w}.exr"
        write_layers_exr(path, a, colours=a[..., None] * rgb[:, :, None, :])
        out[f"{w}x{h}"] = path.stat().st_size
    print("exr bytes", out, flush=True)
    return out


def main(argv=None):
    p = _common.base_parser(__doc__, "davis_car_shadow/")
    p.add_argument("--only", default=",".join(SECTIONS))
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--shape", type=lambda s: tuple(int(v) for v in s.split("x")),
                   default=(64, 96), help="HxW of the rendered shot (default 64x96)")
    p.add_argument("--chunk-frames", type=int, default=10)
    p.add_argument("--kill-frames", type=int, default=20,
                   help="frames of each of the two shots of the kill section")
    p.add_argument("--davis-max-pixels", type=int, default=4096)
    args = p.parse_args(argv)
    only = args.only.split(",")
    result = {"run": _common.run_metadata(sys.argv), "load_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench_farm_") as tmp:
        tmp = Path(tmp)
        if "rendered" in only:
            pattern, feats, plates, alphas = write_rendered(tmp / "rendered", "rendered",
                                                            args.frames, args.shape, 0)
            result["rendered"] = compare("rendered", pattern, feats, plates, alphas,
                                         RENDERED_OPTIONS, args, tmp, soft=True)
        if "davis" in only:
            first = args.data / "davis_car_shadow/JPEGImages/480p/car-shadow/00000.jpg"
            if not first.exists():
                print(f"skipping davis: {first} is absent", file=sys.stderr)
            else:
                pattern, feats, plates, masks = write_davis(args.data, tmp / "davis",
                                                            min(args.frames, 40))
                options = dict(DAVIS_OPTIONS, max_pixels=args.davis_max_pixels)
                result["davis"] = compare("car", pattern, feats, plates, masks, options,
                                          args, tmp, soft=False)
                if "exr" in only:
                    result["exr_bytes"] = exr_section(
                        read_shot(tmp / "car_batch" / "car", 1)[0], plates[0], tmp)
        if "kill" in only:
            result["kill"] = kill_section(args, tmp)
    result["load_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    _common.write_json(args.out / "bench_farm.json", result)
    return result


if __name__ == "__main__":
    main()
