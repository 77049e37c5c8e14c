"""Compute and Cancel: from the node's knobs to a running ``sss-vfx`` and back.

Compute runs on Nuke's main thread up to starting the command (reading knobs,
rendering an input if needed, checking the cache); a :class:`Job` then watches the
subprocess from a worker thread, feeds a progress task, and hands every node edit to
the main thread through ``nuke.executeInMainThread``.
"""

import os
import re
import shlex
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

import nuke

from sss_nuke import node as sss_node
from sss_nuke.cache import (RESULT_PATTERN, cache_key, cache_root, finished_frames,
                            input_signature)
from sss_nuke.command import build_command
from sss_nuke.errors import InputError, SetupError, SettingsError, SssNukeError
from sss_nuke.executable import find_executable, subprocess_env
from sss_nuke.exr_header import sss_layer_names
from sss_nuke.frames import frame_path
from sss_nuke.inputs import prepare_input
from sss_nuke.preferences import preferred_executable
from sss_nuke.process import Outcome, run_command
from sss_nuke.progress import Progress
from sss_nuke.settings import ComputeSettings

_jobs: Dict[str, "Job"] = {}


def compute(group: nuke.Node) -> None:
    """The Compute button: show the cached result, or start computing it.

    Errors go to the node's status line and a message box.
    """
    _reporting(group, _start)


def cancel(group: nuke.Node) -> None:
    """The Cancel button: stop the running computation; finished frames are kept."""
    job = job_for(group)
    if job is not None and job.running:
        job.cancel()
        sss_node.set_status(_as_group(group), "cancelling...")


def job_for(group: nuke.Node) -> Optional["Job"]:
    """The last computation started from `group`, if any."""
    return _jobs.get(group.fullName())


def _start(group: nuke.Group) -> None:
    job = job_for(group)
    if job is not None and job.running:
        raise SettingsError("already computing; press Cancel to stop it first")
    if group.input(0) is None:
        raise InputError("nothing is connected to the image input; connect the plate "
                         "and press Compute again")
    settings = sss_node.read_settings(group)
    executable = find_executable(str(group["executable"].value()), preferred_executable())
    root = cache_root(str(group["cache_dir"].value()), _script_path())
    render_dir = os.path.join(root, "render", re.sub(r"[^\w.-]", "_", group.fullName()))
    image = prepare_input(group, 0, render_dir, settings.first, settings.last)
    features = prepare_input(group, 1, render_dir, settings.first, settings.last)
    guides = prepare_input(group, 2, render_dir, settings.first, settings.last,
                           channels=settings.guides_channels)
    assert image is not None
    if features is not None and (settings.person or settings.feature_model):
        raise SettingsError("a features input and the person model or a feature model "
                            "file are two sources of features; disconnect one")
    signatures = {"image": input_signature(image.paths, by_content=image.rendered)}
    if features is not None:
        signatures["features"] = input_signature(features.paths,
                                                 by_content=features.rendered)
    if guides is not None:
        signatures["guides"] = input_signature(guides.paths, by_content=guides.rendered)
    if settings.feature_model:
        if not os.path.isfile(settings.feature_model):
            raise InputError("feature model file {} does not exist; pick an existing .pt "
                             "or .onnx file".format(settings.feature_model))
        signatures["feature_model"] = input_signature([settings.feature_model])
    result_dir = os.path.join(root, cache_key(signatures, settings))
    done = finished_frames(result_dir, settings.first, settings.last)
    if len(done) == settings.frame_count:
        _show(group, result_dir, settings, "cached (nothing to compute)")
        return
    try:
        os.makedirs(result_dir, exist_ok=True)
    except OSError as exc:
        raise SetupError("cannot create the cache folder {} ({}); set the cache folder "
                         "knob to a writable folder".format(result_dir, exc.strerror or exc))
    command = build_command(executable, image.pattern, result_dir, settings,
                            features.pattern if features is not None else None,
                            guides.pattern if guides is not None else None)
    job = Job(group, command, result_dir, settings)
    _jobs[group.fullName()] = job
    job.start()


class Job:
    """One run of ``sss-vfx`` for one node, watched from a worker thread.

    Parameters
    ----------
    group : nuke.Group
        The node; only touched on the main thread.
    command : list of str
        The command line.
    result_dir : str
        Its output folder.
    settings : ComputeSettings
        What it computes.
    """

    def __init__(self, group: nuke.Group, command: List[str], result_dir: str,
                 settings: ComputeSettings) -> None:
        self.group = group
        self.command = command
        self.result_dir = result_dir
        self.settings = settings
        self.outcome: Optional[Outcome] = None
        self._cancel = threading.Event()
        self.title = sss_node.NODE_LABEL + " " + group.fullName()
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.title)

    @property
    def running(self) -> bool:
        """True while the worker thread watches the subprocess."""
        return self._thread.is_alive()

    def start(self) -> None:
        """Start the worker thread (main thread)."""
        sss_node.set_status(self.group, "starting sss-vfx for frames {}-{}".format(
            self.settings.first, self.settings.last))
        print(self.title + ": " + " ".join(shlex.quote(arg) for arg in self.command))
        self._thread.start()

    def cancel(self) -> None:
        """Ask the worker to stop the subprocess (any thread)."""
        self._cancel.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the worker thread; False if it is still running after `timeout`."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        started = time.monotonic()
        try:
            outcome = self._watch()
        except Exception as exc:  # noqa: BLE001 - shown in the node, not lost in a thread
            _on_main(_reporting, self.group, _raiser(exc))
            return
        self.outcome = outcome
        _on_main(_reporting, self.group,
                 lambda group: self._finish(group, outcome, time.monotonic() - started))

    def _watch(self) -> Outcome:
        # The progress task closes when it is collected, as this returns.
        task = nuke.ProgressTask(self.title)
        task.setMessage("starting sss-vfx")
        return run_command(
            self.command, env=subprocess_env(),
            on_progress=lambda progress: self._progress(task, progress),
            should_cancel=lambda: self._cancel.is_set() or bool(task.isCancelled()))

    def _progress(self, task: Any, progress: Progress) -> None:
        task.setProgress(progress.percent)
        task.setMessage(progress.describe())
        _on_main(sss_node.set_status, self.group, "computing: " + progress.describe())

    def _finish(self, group: nuke.Group, outcome: Outcome, seconds: float) -> None:
        settings = self.settings
        if outcome.ok:
            _show(group, self.result_dir, settings, "computed in {:.0f} s".format(seconds))
            return
        done = finished_frames(self.result_dir, settings.first, settings.last)
        if not outcome.cancelled:
            raise SssNukeError(outcome.error())
        if done:
            _show(group, self.result_dir, settings,
                  "cancelled: {} of {} frames kept; press Compute to finish the rest"
                  .format(len(done), settings.frame_count))
        else:
            sss_node.set_status(group, "cancelled before the first frame was finished")


def _show(group: nuke.Group, result_dir: str, settings: ComputeSettings,
          note: str) -> None:
    """Point the node at the frames finished in `result_dir` and say so."""
    done = finished_frames(result_dir, settings.first, settings.last)
    if not done:
        raise SssNukeError("sss-vfx wrote no layer files into {}; run the command line "
                           "printed in Nuke's terminal with -v".format(result_dir))
    pattern = os.path.join(result_dir, RESULT_PATTERN)
    layers = sss_layer_names(frame_path(pattern, done[0]))
    sss_node.show_result(group, result_dir, pattern, layers, settings.first, settings.last)
    sss_node.set_status(group, "{} layers, frames {}-{}: {}".format(
        len(layers), settings.first, settings.last, note))


def _reporting(group: nuke.Node, action: Callable[[nuke.Group], None]) -> None:
    """Run `action` on the node; an error becomes its status line and a message box."""
    try:
        action(_as_group(group))
    except SssNukeError as exc:
        _report(group, str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug still reaches the artist
        traceback.print_exc()
        _report(group, "internal error: {} (details in the terminal)".format(exc))


def _report(group: nuke.Node, text: str) -> None:
    if isinstance(group, nuke.Group):
        sss_node.set_status(group, "error: " + text)
    nuke.message("{}: {}".format(group.name(), text))


def _raiser(exc: BaseException) -> Callable[[nuke.Group], None]:
    def action(group: nuke.Group) -> None:
        raise exc
    return action


def _on_main(call: Callable[..., None], *args: Any) -> None:
    nuke.executeInMainThread(call, args=args)


def _as_group(node: nuke.Node) -> nuke.Group:
    if not isinstance(node, nuke.Group):
        raise SettingsError("{} is not a SemanticSoftSegmentation node".format(node.name()))
    return node


def _script_path() -> Optional[str]:
    try:
        return nuke.scriptName()
    except RuntimeError:
        return None
