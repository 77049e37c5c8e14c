#!/usr/bin/env bash
# The GPU benchmark as it runs on the CUDA machine (benchmarks/bench_gpu.py).
#
# That machine has Python 3.12 with torch, numpy, scipy and OpenCV, but not the other
# packages sss_vfx imports; they come as wheels from .whl/ (prepared here, see below),
# installed into /tmp/site. Shared data does not travel, so docia.png and the first
# DAVIS frames are carried in .gpu_data/.
#
# On the development machine, once (both folders are in .git/info/exclude):
#     benchmarks/gpu_device_run.sh --prepare [DATA_DIR]     # copies data into .gpu_data/
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#         --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
#         --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#         OpenEXR==3.5.3 pyopencl==2026.1.4 pytools==2026.1.1 siphash24==1.9 \
#         platformdirs==4.14.8 scikit-image==0.26.0 lazy_loader==0.6 imageio==2.38.1 \
#         tifffile==2026.3.3 networkx==3.6.1
# (av is left out: 36 MB, and only video files need it; the benchmark passes frames in
# memory.) Then, on the GPU machine, from the repository root, carrying .whl and
# .gpu_data:
#     bash benchmarks/gpu_device_run.sh [OUT_DIR]              # writes OUT_DIR/bench_gpu.json
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--prepare" ]]; then
    data="${2:-../shared/data}"
    frames="$data/davis_car_shadow/JPEGImages/480p/car-shadow"
    mkdir -p .gpu_data/davis_car_shadow/JPEGImages/480p/car-shadow
    cp "$data/docia.png" .gpu_data/
    for f in $(ls "$frames" | sort | head -n 12); do
        cp "$frames/$f" .gpu_data/davis_car_shadow/JPEGImages/480p/car-shadow/
    done
    du -sh .gpu_data .whl 2>/dev/null || true
    exit 0
fi

out="${1:-${OUT:-/tmp}}"
mkdir -p "$out"
echo "== $(date -u +%H:%M:%S) installing wheels"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'python', sys.version.split()[0])"
echo "== $(date -u +%H:%M:%S) bench_gpu"
# The whole run stays under 6 minutes; a config that fails is recorded and skipped.
timeout 340 python3 benchmarks/bench_gpu.py --data .gpu_data --out "$out/bench_gpu.json" \
    --video-frames 8 2>&1 | tee "$out/bench_gpu.log" || echo "bench_gpu exit status $?"
echo "== $(date -u +%H:%M:%S) done"
