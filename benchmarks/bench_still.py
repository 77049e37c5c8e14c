"""Speed and memory of the still-image pipeline, stage by stage.

Every configuration runs in a fresh Python process, so its peak resident memory is its
own. The driver (``--all``, the default) starts ``bench_still.py --config NAME
--result FILE`` once per configuration, then prints one table and writes
``benchmarks/output/bench_still.json``.

Configurations (docia.png: left half the photo, right half its features):

=====================  ==========================================  =====================
name                   input                                       target
=====================  ==========================================  =====================
docia-320-faithful     docia halved to 320x320 (INTER_AREA), the    total <= 90 s
                       MATLAB demo's input; ``max_pixels=0``
docia-320-paper        the same, the paper's whole configuration     (none)
                       (``sss_vfx.PAPER``: also ARPACK, every pixel
                       in the Gram products, float64 constrained
                       step, feature classes off)
docia-640-default      docia at 640x640, default options            total <= 45 s
hd-1080-default        docia photo and features resized to          total <= 120 s and
                       1920x1080 (INTER_CUBIC), default options     peak RSS <= 6 GB
uhd-2160-default       docia photo and features resized to          total <= 40 s and
                       3840x2160 (INTER_CUBIC), default options     peak RSS <= 6 GB
=====================  ==========================================  =====================

"total" is the wall time of the ``segment_image`` call (all stages plus feature
preparation and the working-resolution downscale), not counting reading the PNG.
"peak RSS" is the process's peak resident memory, from the start to the outputs
written (imports and input data included); per stage, where Linux tells it, the peak
during that stage alone (``VmHWM`` reset at each stage's start), else the running peak.
After ``segment_image`` each configuration writes what ``sss-vfx segment`` writes
(layers.exr with colours, one PNG per layer, the preview) into a temporary folder: the
``write`` stage.

A second table lists the full-resolution stages (upsampling, refinement when on,
colours, write): wall seconds, CPU seconds of the process (all threads) and the peak
RSS during the stage; when two configurations of different plate sizes ran, the ratios
of their times against the ratio of their pixels (a stage that scales linearly has
ratios near the pixel ratio). Every result records the load average
(``os.getloadavg``) before and after: on a busy machine wall times are not speed.

Usage::

    python benchmarks/bench_still.py                  # all configurations
    python benchmarks/bench_still.py --only docia-640-default,hd-1080-default
    python benchmarks/bench_still.py --config docia-320-faithful   # one, in this process
    python benchmarks/bench_still.py --quick          # smoke run at tiny sizes (~1 min)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (makes sss_vfx importable)
from _common import GB, cv2  # noqa: E402

import sss_vfx  # noqa: E402
from sss_vfx.io.outputs import write_preview_png  # noqa: E402
from sss_vfx.io.still_outputs import write_still_outputs  # noqa: E402
from _common import peak_rss_bytes  # noqa: E402

# The pipeline's stages in order (sss_vfx.pipeline.still.STAGES); a stage the library
# does not report shows as "-", one it reports beyond these is kept in the JSON.
STAGES = ("superpixels", "affinities", "eigenvectors", "initial_segments",
          "constrained_sparsification", "grouping", "relaxed_sparsification", "upsampling",
          "colours", "write")

STAGE_LABELS = {
    "superpixels": "superpix", "affinities": "affin", "eigenvectors": "eigvec",
    "initial_segments": "init", "constrained_sparsification": "constr",
    "grouping": "group", "relaxed_sparsification": "relax", "upsampling": "upsamp",
    "refinement": "refine", "colours": "colours", "write": "write",
}

#: The stages that run at the plate's resolution, in order (``write``: the outputs).
FULL_RESOLUTION = ("upsampling", "refinement", "colours", "write")

# Cheap settings for --quick: the point is that every code path of the script runs.
QUICK_OPTIONS = dict(eigenvectors=20, initial_segments=8, superpixels=200,
                     constrained_iterations=10, relaxed_rounds=3, cg_steps=30)


@dataclass(frozen=True)
class Config:
    name: str
    size_wh: tuple            # plate size (width, height)
    interpolation: int        # how docia's 640x640 is brought to size_wh
    options: dict = field(default_factory=dict)
    max_seconds: float = None
    max_peak_gb: float = None
    preview: str = None       # file name under the output directory, if any


CONFIGS = {
    c.name: c for c in [
        Config("docia-320-faithful", (320, 320), cv2.INTER_AREA, {"max_pixels": 0},
               max_seconds=90, preview="docia_320_preview.png"),
        Config("docia-320-paper", (320, 320), cv2.INTER_AREA, dict(sss_vfx.PAPER)),
        Config("docia-640-default", (640, 640), cv2.INTER_AREA, {}, max_seconds=45),
        Config("hd-1080-default", (1920, 1080), cv2.INTER_CUBIC, {}, max_seconds=120,
               max_peak_gb=6.0),
        Config("uhd-2160-default", (3840, 2160), cv2.INTER_CUBIC, {}, max_seconds=40,
               max_peak_gb=6.0),
    ]
}

# --quick: same names and code paths, tiny plates, cheap options, no targets.
QUICK_SIZES = {"docia-320-faithful": (64, 64), "docia-320-paper": (64, 64),
               "docia-640-default": (128, 128),
               "hd-1080-default": (192, 108), "uhd-2160-default": (384, 216)}
QUICK_MAX_PIXELS = 4096  # so the "default" quick configs still downscale and upsample


def parse_args(argv):
    p = _common.base_parser(__doc__, "docia.png")
    _common.add_driver_arguments(p, CONFIGS, quick_help=", targets not judged")
    return p.parse_args(argv)


# ------------------------------------------------------------------ one configuration


def run_config(name, args):
    """Run configuration ``name`` in this process; return its result dict."""
    config = CONFIGS[name]
    size_wh = QUICK_SIZES[name] if args.quick else config.size_wh
    options = dict(config.options)
    if args.quick:
        options = {**QUICK_OPTIONS, **options}
        options.setdefault("max_pixels", QUICK_MAX_PIXELS)

    t0 = time.perf_counter()
    photo, feats = _common.load_docia(args.data)
    image = _common.resize(photo, size_wh, config.interpolation)
    features = _common.resize(feats, size_wh, config.interpolation)
    load_s = time.perf_counter() - t0
    rss_before = peak_rss_bytes()
    load_before = os.getloadavg()

    clock = StageCpu(_common.StageLogger(name))
    start = time.perf_counter()
    seg = sss_vfx.segment_image(image, features, progress=clock, **options)
    total = time.perf_counter() - start
    cpu = clock.stop()
    segment_peak = max([peak_rss_bytes(), *seg.peak_rss.values()])
    with tempfile.TemporaryDirectory(prefix="bench_still_") as folder:
        write_start, write_cpu = time.perf_counter(), time.process_time()
        write_still_outputs(Path(folder), seg, attributes={"sss_source": name})
        timings = dict(seg.timings, write=time.perf_counter() - write_start)
        cpu["write"] = time.process_time() - write_cpu
    # Each stage's own peak where the kernel tells it, else the running peak.
    own = dict(clock.peaks, write=own_peak_bytes(reset=False))
    peak_by_stage = {stage: own.get(stage) or value
                     for stage, value in dict(seg.peak_rss, write=peak_rss_bytes()).items()}
    peak = max([segment_peak, rss_before, clock.before or 0, *clock.peaks.values(),
                *peak_by_stage.values()])

    coverage = _common.layer_coverage(seg.alphas)
    result = {
        "config": name,
        "quick": bool(args.quick),
        "size": list(image.shape[1::-1]),
        "working_size": list(seg.working_image.shape[1::-1]),
        "options": seg.options.as_dict(),
        "explicit_options": options,
        "timings_s": {**{s: timings.get(s) for s in STAGES}, **timings},
        "cpu_s": cpu,
        "stage_sum_s": sum(v for v in seg.timings.values() if v is not None),
        "total_s": total,
        "load_s": load_s,
        "peak_rss_by_stage_bytes": {**{s: peak_by_stage.get(s) for s in STAGES},
                                    **peak_by_stage},
        "rss_before_bytes": rss_before,
        "segment_peak_rss_bytes": segment_peak,
        "peak_rss_bytes": peak,
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "peak_rss_gb": peak / GB,
        "layers": int(seg.alphas.shape[2]),
        "coverage": coverage,
        "notes": list(seg.notes),
        "targets": {"max_seconds": config.max_seconds, "max_peak_gb": config.max_peak_gb},
    }
    result["verdict"] = judge(result, config, args.quick)
    if config.preview:
        name_png = config.preview.replace(".png", "_quick.png") if args.quick else config.preview
        path = args.out / name_png
        args.out.mkdir(parents=True, exist_ok=True)
        write_preview_png(path, seg.image, seg.alphas)
        result["preview"] = str(path)
    return result


def own_peak_bytes(reset=True):
    """The process's peak resident memory since the last reset (Linux ``VmHWM``), then
    reset it (``/proc/self/clear_refs``), so each stage's own peak shows; None where
    the kernel offers neither."""
    try:
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) * 1024 for line in status
                        if line.startswith("VmHWM:"))
        if reset:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")
        return peak
    except (OSError, StopIteration, ValueError):
        return None


class StageCpu:
    """``progress`` callback that records the process's CPU time (all threads) and its
    own-peak memory (:func:`own_peak_bytes`) at each stage's start, passing the call
    on; :meth:`stop` gives CPU seconds and peak bytes per stage."""

    def __init__(self, report=None):
        self.report = report
        self.starts = []
        self.peaks = {}
        self.before = own_peak_bytes()

    def __call__(self, stage, done, total):
        self._close()
        self.starts.append((stage, time.process_time()))
        if self.report is not None:
            self.report(stage, done, total)

    def _close(self):
        peak = own_peak_bytes()
        if peak is not None:    # before the first stage: preparing the working frame
            stage = self.starts[-1][0] if self.starts else "prepare"
            self.peaks[stage] = max(self.peaks.get(stage, 0), peak)

    def stop(self):
        """``{stage: CPU seconds}``, a stage ending where the next starts; the peaks
        are in :attr:`peaks`."""
        self._close()
        ends = [t for _, t in self.starts[1:]] + [time.process_time()]
        cpu = {}
        for (stage, begin), end in zip(self.starts, ends):
            cpu[stage] = cpu.get(stage, 0.0) + end - begin
        return cpu


def judge(result, config, quick):
    """'PASS' / 'FAIL (...)' against the configuration's targets, 'n/a' in quick mode."""
    if quick:
        return "n/a (quick)"
    failures = []
    if config.max_seconds is not None and result["total_s"] > config.max_seconds:
        failures.append(f"{result['total_s']:.0f} s > {config.max_seconds:g} s")
    if config.max_peak_gb is not None and result["peak_rss_gb"] > config.max_peak_gb:
        failures.append(f"{result['peak_rss_gb']:.2f} GB > {config.max_peak_gb:g} GB")
    return "FAIL (" + "; ".join(failures) + ")" if failures else "PASS"


def target_text(config):
    parts = []
    if config.max_seconds is not None:
        parts.append(f"<={config.max_seconds:g}s")
    if config.max_peak_gb is not None:
        parts.append(f"<={config.max_peak_gb:g}GB")
    return " ".join(parts) or "-"


# ------------------------------------------------------------------------ the driver


def run_in_subprocess(name, args):
    """Run one configuration in a fresh interpreter; its result dict or a failure dict."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--config", name,
           "--data", str(args.data), "--out", str(args.out)]
    if args.quick:
        cmd.append("--quick")
    return {"quick": bool(args.quick), **_common.run_in_fresh_process(cmd, name, args.timeout)}


def print_table(results):
    headers = ["config", "size", "working"] + [STAGE_LABELS[s] for s in STAGES] + [
        "total s", "peak GB", "layers", "target", "result"]
    rows = []
    for r in results:
        config = CONFIGS[r["config"]]
        if "error" in r:
            rows.append([r["config"]] + ["-"] * (len(headers) - 3) +
                        [target_text(config), r["verdict"]])
            continue
        times = [f"{r['timings_s'][s]:.2f}" if r["timings_s"].get(s) is not None else "-"
                 for s in STAGES]
        rows.append([r["config"], "x".join(map(str, r["size"])),
                     "x".join(map(str, r["working_size"]))] + times +
                    [f"{r['total_s']:.1f}", f"{r['peak_rss_gb']:.2f}", r["layers"],
                     target_text(config), r["verdict"]])
    print(_common.format_table(headers, rows, align="lll" + "r" * (len(headers) - 5) + "ll"))
    print("stage times in seconds; total = wall time of segment_image; "
          "peak GB = process peak RSS (GiB) after writing the outputs")


def print_full_resolution(results):
    """The full-resolution stages of each result, and the ratios of the largest plate's
    times to the smallest's beside their pixel ratio."""
    done = [r for r in results if "error" not in r]
    if not done:
        return
    headers = ["config", "stage", "s", "CPU s", "peak GB", "load before/after"]
    rows = []
    for r in done:
        load = r.get("load_average", {})
        load_text = "/".join(f"{v[0]:.1f}" for v in (load.get("before"), load.get("after"))
                             if v) or "-"
        for stage in FULL_RESOLUTION:
            if r["timings_s"].get(stage) is None:
                continue
            peak = r["peak_rss_by_stage_bytes"].get(stage)
            rows.append([r["config"], stage, f"{r['timings_s'][stage]:.2f}",
                         f"{r.get('cpu_s', {}).get(stage, float('nan')):.2f}",
                         f"{peak / GB:.2f}" if peak else "-", load_text])
    print(_common.format_table(headers, rows, align="llrrrl"))
    by_size = sorted(done, key=lambda r: r["size"][0] * r["size"][1])
    small, large = by_size[0], by_size[-1]
    pixels = (large["size"][0] * large["size"][1]) / (small["size"][0] * small["size"][1])
    if pixels <= 1:
        return
    ratios = []
    for stage in FULL_RESOLUTION:
        a, b = small["timings_s"].get(stage), large["timings_s"].get(stage)
        ca, cb = small.get("cpu_s", {}).get(stage), large.get("cpu_s", {}).get(stage)
        if a and b:
            cpu_text = f", CPU x{cb / ca:.2f}" if ca and cb else ""
            ratios.append(f"{stage} x{b / a:.2f}{cpu_text}")
    print(f"{large['config']} / {small['config']}: pixels x{pixels:.2f}; "
          + "; ".join(ratios))


def print_coverage(results):
    for r in results:
        if "coverage" in r:
            cover = ", ".join(f"{100 * c:.1f}%" for c in r["coverage"])
            print(f"{r['config']}: {r['layers']} layers, coverage {cover}")
            if r.get("preview"):
                print(f"  preview: {r['preview']}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.out = args.out.resolve()
    args.data = args.data.resolve()
    docia = args.data / "docia.png"
    if not docia.is_file():
        _common.data_missing(docia, "docia.png", args.data)
        return 0

    if args.config:
        result = run_config(args.config, args)
        if args.result:
            _common.write_json(args.result, result)
        else:
            print_table([result])
            print_full_resolution([result])
            print_coverage([result])
            suffix = "_quick" if args.quick else ""
            path = _common.write_json(args.out / f"bench_still_{args.config}{suffix}.json",
                                      {"meta": _common.run_metadata(argv), "results": [result]})
            print(f"wrote {path}")
        return 0

    names = list(CONFIGS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in CONFIGS]
        if unknown:
            print(f"unknown configuration(s) {', '.join(unknown)}; "
                  f"known: {', '.join(CONFIGS)}", file=sys.stderr)
            return 2
    results = [run_in_subprocess(name, args) for name in names]
    print()
    print_table(results)
    print_full_resolution(results)
    print_coverage(results)
    suffix = "_quick" if args.quick else ""
    path = _common.write_json(args.out / f"bench_still{suffix}.json",
                              {"meta": _common.run_metadata(argv), "results": results})
    print(f"wrote {path}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
