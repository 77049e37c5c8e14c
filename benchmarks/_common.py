"""Helpers shared by the benchmark scripts: paths, data loading, run metadata, tables.

Importing this module makes ``sss_vfx`` importable: when it is not installed, the
repository root (the parent of ``benchmarks/``) is put on ``sys.path``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
#: ``../shared/data`` relative to the repository root.
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = BENCH_DIR / "output"

try:
    import sss_vfx  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO_ROOT))
    import sss_vfx  # noqa: F401

import cv2  # noqa: E402  (after the sys.path fix, like sss_vfx's own dependencies)

from sss_vfx.io.images import read_image  # noqa: E402
from sss_vfx.progress import peak_rss_bytes  # noqa: E402,F401  (re-exported)

GB = 1024 ** 3


def read_rgb(path):
    """Read an 8/16-bit image file as ``(H, W, 3)`` float32 RGB in [0, 1]."""
    return read_image(path).pixels


def read_channel(path):
    """Read one channel (the first) of an image file as ``(H, W)`` float32 in [0, 1]."""
    return np.ascontiguousarray(read_image(path).pixels[:, :, 0])


def base_parser(doc, data_holds):
    """Argument parser with the ``--data`` and ``--out`` every benchmark takes."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help=f"data directory holding {data_holds} (default: %(default)s)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="output directory (default: %(default)s)")
    return p


def add_driver_arguments(parser, configs, *, only_help="configurations", quick_help=""):
    """Options of a benchmark whose configurations each run in a fresh process.

    ``--all`` (the default), ``--only NAMES``, ``--config NAME`` (one configuration, in
    this process), ``--quick``, ``--timeout`` and the hidden ``--result FILE`` through
    which a child hands its result dict to the driver (:func:`run_in_fresh_process`).
    """
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--all", action="store_true",
                      help="run every configuration, each in a fresh process (default)")
    mode.add_argument("--only", metavar="NAMES",
                      help=f"comma-separated {only_help} to run, each in a fresh process")
    mode.add_argument("--config", choices=sorted(configs),
                      help="run one configuration in this process")
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)  # driver -> child
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: tiny sizes and cheap options{quick_help}")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds after which a configuration is killed (default: none)")
    return parser


def load_docia(data_dir):
    """The paper's demo input: ``(image, features)``, each (640, 640, 3) float32 in [0, 1]."""
    png = read_rgb(Path(data_dir) / "docia.png")
    half = png.shape[1] // 2
    return np.ascontiguousarray(png[:, :half]), np.ascontiguousarray(png[:, half:])


def resize(array, size_wh, interpolation):
    """cv2.resize to ``(width, height)``, clipped back to [0, 1]."""
    out = cv2.resize(array, tuple(int(v) for v in size_wh), interpolation=interpolation)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def data_missing(path, what, data_dir):
    """Print why a benchmark is skipped (data absent) to stdout; the caller exits 0."""
    print(f"SKIP: {what} not found at {path}.\n"
          f"      The benchmark data live in {data_dir} (../shared/data relative to the "
          f"repository root); pass --data DIR to point elsewhere.")


def run_metadata(argv):
    """What a result file should say about where and how it was produced."""
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "argv": list(argv),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "sss_vfx": getattr(sss_vfx, "__version__", "?"),
        "sss_vfx_path": str(Path(sss_vfx.__file__).resolve().parent),
    }
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            meta[var] = os.environ[var]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        if head.returncode == 0:
            meta["git_commit"] = head.stdout.strip()
            meta["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return meta


def run_in_fresh_process(cmd, name, timeout=None):
    """Run a benchmark configuration in a fresh interpreter, so its peak RSS is its own.

    ``cmd`` is the child's command line; ``--result FILE`` is appended and the child
    writes its result dict there as JSON. Returns that dict with ``process_wall_s``
    added, or ``{"config": name, "error": ..., "verdict": "ERROR (...)"}`` when the
    child failed or ran past ``timeout`` seconds.
    """
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        result_path = Path(tmp) / "result.json"
        print(f"== {name} (fresh process)", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            code = subprocess.run([*cmd, "--result", str(result_path)], timeout=timeout,
                                  check=False).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        wall = time.perf_counter() - start
        if code == 0 and result_path.exists():
            result = json.loads(result_path.read_text(encoding="utf-8"))
            result["process_wall_s"] = wall
            return result
    return {"config": name, "error": f"exit status {code}", "process_wall_s": wall,
            "verdict": f"ERROR (exit status {code})"}


def write_json(path, content):
    """Write ``content`` as indented JSON (NumPy scalars converted); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def default(value):
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    path.write_text(json.dumps(content, indent=2, default=default) + "\n", encoding="utf-8")
    return path


def format_table(headers, rows, align=None):
    """Plain-text table; ``align`` is a string of 'l'/'r' per column (default: l then r)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or ("l" + "r" * (len(headers) - 1))

    def line(row):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(row, widths, align))

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


class StageLogger:
    """``progress`` callback for ``segment_image`` that prints each stage to stderr."""

    def __init__(self, label):
        self.label = label
        self.start = time.perf_counter()

    def __call__(self, stage, done, total):
        elapsed = time.perf_counter() - self.start
        print(f"  [{self.label}] {done + 1}/{total} {stage} (t={elapsed:.1f} s)",
              file=sys.stderr, flush=True)


def layer_coverage(alphas):
    """Share of the image each layer covers: mean alpha per layer, ``(K,)`` floats."""
    return [float(v) for v in np.asarray(alphas, dtype=np.float64).mean(axis=(0, 1))]
