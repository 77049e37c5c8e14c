"""Many shots on a Dask cluster: each shot's plan, chunks and final step as tasks.

``batch(shots, output_root)`` starts a :class:`~distributed.LocalCluster` (one
single-threaded worker process per CPU core, or one per GPU), or connects to a running
scheduler (``scheduler="tcp://host:8786"``; dask-jobqueue starts such clusters on
Slurm, PBS or SGE). A shot's chunks depend on its plan and its final step on its
chunks; shots run side by side. Every step is idempotent (:mod:`sss_vfx.farm`), so:

- rerunning a batch computes only what is missing;
- a worker that dies mid-task has its task rerun on another worker by the scheduler,
  which redoes only the chunk's frames not yet written, bit for bit as before.
"""

import logging
import os
import sys
import time

from sss_vfx.accel.devices import find_cuda_devices
from sss_vfx.errors import OptionError, SssError
from sss_vfx.farm.chunk import run_chunk
from sss_vfx.farm.chunks import DEFAULT_CHUNK_FRAMES, DEFAULT_HANDLES, chunk_ranges
from sss_vfx.farm.finalise import finalise_shot
from sss_vfx.farm.plan import plan_shot
from sss_vfx.features.sources import is_person
from sss_vfx.io.shot import is_sequence_pattern, open_shot

log = logging.getLogger("sss_vfx")

__all__ = ["BatchProgress", "batch", "shot_name"]


def _distributed():
    try:
        import distributed
    except ImportError:
        raise SssError("batches run on Dask, which is not installed; install it with "
                       "pip install 'sss_vfx[dask]'") from None
    return distributed


def shot_name(source):
    """The output folder name of a shot: the file name up to the frame number.

    >>> shot_name("plates/sh010.%04d.exr"), shot_name("clips/sh020.mov")
    ('sh010', 'sh020')
    """
    name = os.path.basename(os.fspath(source))
    if is_sequence_pattern(name):
        name = name.split("%")[0].split("#")[0]
    else:
        name = os.path.splitext(name)[0]
    return name.rstrip("._-") or "shot"


class BatchProgress:
    """Shots and frames done, elapsed and time left, one line per event on a stream."""

    def __init__(self, shots, frames, stream=None):
        self.shots, self.frames = shots, frames
        self.shots_done = self.frames_done = self.frames_computed = 0
        self.started = time.perf_counter()
        self.stream = stream if stream is not None else sys.stderr

    def chunk(self, summary):
        self.frames_done += summary["frames"]
        self.frames_computed += summary["computed"]
        self._line()

    def shot(self):
        self.shots_done += 1
        self._line()

    def left_s(self):
        """Seconds left at the rate of the frames computed so far; None before any."""
        elapsed = time.perf_counter() - self.started
        if not self.frames_computed:
            return None
        return elapsed / self.frames_computed * (self.frames - self.frames_done)

    def _line(self):
        left = self.left_s()
        print(f"batch: shots {self.shots_done}/{self.shots}, frames {self.frames_done}/"
              f"{self.frames}, {time.perf_counter() - self.started:.0f} s"
              + (f", about {left:.0f} s left" if left is not None else ""),
              file=self.stream, flush=True)


def _plan_task(source, output, kwargs):
    plan_shot(source, output, **kwargs)
    return output


def _chunk_task(output, index, device, _plan):
    return run_chunk(output, index, device=_worker_device(device))


def _final_task(output, _chunks):
    return finalise_shot(output)


def _worker_device(device):
    """On a worker holding a GPU resource, its GPU: LocalCluster worker i -> cuda:i;
    a cluster's workers see their own GPU as cuda:0 (CUDA_VISIBLE_DEVICES)."""
    if device not in (None, "auto", "gpu"):
        return device
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        return device
    if not worker.state.total_resources.get("GPU"):
        return None if device == "gpu" else device
    name = worker.name
    return f"cuda:{name}" if isinstance(name, int) else "cuda"


def _gpu_count():
    try:
        return len(find_cuda_devices())
    except Exception:   # a broken CUDA install: no GPU workers
        return 0


def batch(shots, output_root, *, workers=None, scheduler=None, features=None,
          chunk_frames=DEFAULT_CHUNK_FRAMES, handles=DEFAULT_HANDLES, options=None,
          temporal=None, colours=True, device=None, force=False, retries=1,
          progress=True, guides=None, **overrides):
    """Segment many shots on a Dask cluster, each cut into chunks.

    Parameters
    ----------
    shots : sequence of str or os.PathLike
        Image-sequence patterns or video files, each written to
        ``output_root/<name>`` (:func:`shot_name`).
    output_root : str or os.PathLike
        Shared by every worker.
    workers : int, optional
        Worker processes of the local cluster (default: one per GPU where torch sees
        GPUs and ``device`` is None, ``'auto'`` or ``'gpu'``, else one per CPU core).
        Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a running Dask scheduler, ``tcp://host:8786``.
    features : sequence of str or None, optional
        Per-shot feature patterns (or ``'person'``), parallel to ``shots``.
    guides : sequence of (str, sequence of str or None), optional
        Per-shot guides (a sequence pattern, or several), parallel to ``shots``.
    chunk_frames, handles : int, optional
        As :func:`~sss_vfx.farm.plan_shot`.
    options, temporal, colours, force, **overrides
        As :func:`~sss_vfx.farm.plan_shot` (also ``guide_names``, ``feature_model``,
        ``feature_model_mean``, ``feature_model_std``, ``plate``, for every shot).
    device : str, optional
        Device spec for every task; on GPU workers None/'auto' means the worker's GPU.
    retries : int, optional
        Extra tries of a task that raised (a dead worker's tasks are rerun anyway).
    progress : bool or file, optional
        Print shots and frames done and time left to standard error (or the file).

    Returns
    -------
    list of dict, each shot's manifest, in the order of ``shots``

    Raises
    ------
    SssError
        Dask is missing (``pip install 'sss_vfx[dask]'``), or a step failed: the
        first failure is raised after the other shots finished.
    OptionError
        Two shots with one name, or features not parallel to shots.

    Examples
    --------
    >>> import sss_vfx  # doctest: +SKIP
    >>> sss_vfx.batch(["sh010.%04d.exr", "sh020.%04d.exr"], "/show/mattes")  # doctest: +SKIP
    """
    distributed = _distributed()
    shots = [os.fspath(s) for s in shots]
    features = list(features) if features is not None else [None] * len(shots)
    if len(features) != len(shots):
        raise OptionError(f"features must give one pattern (or None) per shot: "
                          f"{len(features)} for {len(shots)} shots")
    guides = list(guides) if guides is not None else [None] * len(shots)
    if len(guides) != len(shots):
        raise OptionError(f"guides must give one pattern (or None) per shot: "
                          f"{len(guides)} for {len(shots)} shots")
    names = [shot_name(s) for s in shots]
    if len(set(names)) != len(names):
        raise OptionError(f"shots must have distinct names for their output folders; got "
                          f"{names}")
    sizes = []
    for source, feats in zip(shots, features):
        # Bad shots stop the batch early (guides and models: at their shot's plan).
        shot = open_shot(source, features=None if is_person(feats) else feats,
                         plate=overrides.get("plate"))
        if shot.numbers is None:
            raise OptionError(f"{source} does not declare its frame count; convert it "
                              "to an image sequence first")
        sizes.append(chunk_ranges(shot.numbers, chunk_frames, handles))
    gpus = _gpu_count() if device in (None, "auto", "gpu") else 0
    resources = {"GPU": 1} if gpus else None
    if scheduler:
        client = distributed.Client(scheduler)
        cluster = None
    else:
        cluster = distributed.LocalCluster(
            n_workers=workers or gpus or os.cpu_count() or 1, threads_per_worker=1,
            processes=True, resources=resources, dashboard_address=None)
        client = distributed.Client(cluster)
    stream = progress if progress not in (True, False, None) else None
    tracker = BatchProgress(len(shots), sum(c.frames for cs in sizes for c in cs), stream)
    try:
        return _run(client, distributed, shots, names, list(zip(features, guides)), sizes,
                    output_root,
                    dict(chunk_frames=chunk_frames, handles=handles, options=options,
                         temporal=temporal, colours=colours, force=force, **overrides),
                    device, resources, retries, tracker if progress else None)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run(client, distributed, shots, names, features, sizes, output_root, plan_kwargs,
         device, resources, retries, tracker):
    finals, watched = [], {}
    for source, name, (feats, shot_guides), chunks in zip(shots, names, features, sizes):
        output = os.path.join(os.fspath(output_root), name)
        plan = client.submit(_plan_task, source, output,
                             dict(plan_kwargs, features=feats, guides=shot_guides),
                             key=f"plan-{name}", pure=False, retries=retries)
        done = [client.submit(_chunk_task, output, c.index, device, plan,
                              key=f"chunk-{name}-{c.index}", pure=False, retries=retries,
                              resources=resources)
                for c in chunks]
        final = client.submit(_final_task, output, done, key=f"final-{name}", pure=False,
                              retries=retries)
        watched.update({f: "chunk" for f in done})
        watched[final] = "final"
        finals.append(final)
    failure = None
    for future in distributed.as_completed(list(watched)):
        try:
            result = future.result()
        except Exception as exc:   # reported once the other shots have finished
            failure = failure or exc
            continue
        if tracker is not None and watched[future] == "chunk":
            tracker.chunk(result)
        elif tracker is not None:
            tracker.shot()
    if failure is not None:
        if isinstance(failure, SssError):
            raise failure
        raise SssError(f"a batch task failed: {failure}") from failure
    return [f.result() for f in finals]
