"""Dask batches on a 2-worker LocalCluster: a worker killed mid-batch loses nothing."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from sss_vfx.farm import finalise_shot, plan_shot, run_chunk
from sss_vfx.farm.batch import BatchProgress, shot_name
from sss_vfx.farm.layout import FarmFolder
from sss_vfx.io.exr import read_layers_exr
from tests._farm import TINY, write_shot

FRAMES = 6


def test_shot_names_and_progress_arithmetic(tmp_path):
    import io

    assert shot_name("a/sh010.%04d.exr") == "sh010"
    assert shot_name("a/sh020_plate.####.png") == "sh020_plate"
    assert shot_name("/clips/sh030.mov") == "sh030"
    stream = io.StringIO()
    progress = BatchProgress(shots=2, frames=10, stream=stream)
    assert progress.left_s() is None
    progress.chunk({"frames": 4, "computed": 4})
    left = progress.left_s()
    elapsed = time.perf_counter() - progress.started
    assert 0 <= left <= elapsed / 4 * 6 + 1e-3
    assert "frames 4/10" in stream.getvalue() and "shots 0/2" in stream.getvalue()


def test_batch_without_dask_names_the_extra(monkeypatch, tmp_path):
    import sys

    from sss_vfx.errors import SssError
    from sss_vfx.farm.batch import batch

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(SssError, match=r"sss_vfx\[dask\]"):
        batch(["shot.%04d.exr"], tmp_path)


@pytest.mark.slow
def test_batch_with_a_killed_worker_writes_every_frame_once(tmp_path):
    distributed = pytest.importorskip("distributed")
    from sss_vfx.farm.batch import batch

    shots = [write_shot(tmp_path / "plates", name=n, frames=FRAMES, seed=s)
             for s, n in enumerate(("sh010", "sh020"))]
    root = tmp_path / "batch"
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    killed = []

    def kill_a_worker_mid_chunk():
        client = distributed.Client(cluster)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            busy = {w: keys for w, keys in client.processing().items()
                    if any(str(k).startswith("chunk-") for k in keys)}
            journals = list(root.glob("*/farm/chunks/*.journal"))
            if busy and journals:
                worker = sorted(busy)[0]
                pid = client.run(os.getpid, workers=[worker])[worker]
                os.kill(pid, signal.SIGKILL)
                killed.append(busy[worker])
            time.sleep(0.05)
        client.close()

    killer = threading.Thread(target=kill_a_worker_mid_chunk)
    killer.start()
    try:
        manifests = batch([s[0] for s in shots], root, features=[s[1] for s in shots],
                          scheduler=cluster.scheduler_address, chunk_frames=3, handles=2,
                          progress=False, **TINY)
    finally:
        killer.join()
        cluster.close()
    assert killed, "no worker was killed: the batch finished too fast to test"
    assert [m["frame_count"] for m in manifests] == [FRAMES, FRAMES]
    for (plates, features, _), name in zip(shots, ("sh010", "sh020")):
        folder = FarmFolder(root / name)
        written = [line for i in range(2) for line in folder.journal(i)]
        assert len(written) == len(set(written))      # nothing written twice
        assert all((folder.directory / n).exists() for n in written)
        # an undisturbed run, one process, gives the same bits
        alone = tmp_path / "alone" / name
        plan_shot(plates, alone, features=features, chunk_frames=3, handles=2, **TINY)
        for i in range(2):
            run_chunk(alone, i)
        finalise_shot(alone)
        for path in sorted(alone.glob("layers.*.exr")):
            assert np.array_equal(read_layers_exr(path).alphas,
                                  read_layers_exr(folder.directory / path.name).alphas)
