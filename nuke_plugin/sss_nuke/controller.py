"""Compute and Cancel: from the node's knobs to a running ``sss-vfx`` and back.

Compute reads the knobs and describes the inputs on Nuke's main thread; a :class:`Job`
then works on a worker thread: it keys the inputs (file sizes and times, upstream knob
values: no pixels are read), checks the cache, has the main thread render the inputs that
are not Reads of sequences (only when the cache misses), runs ``sss-vfx`` and feeds a
progress task. Every node edit goes back to the main thread through
``nuke.executeInMainThread``, off the artist's undo stack.

Jobs are keyed by the node's hidden id (a rename changes nothing); deleting the node,
closing the script or quitting Nuke stops its ``sss-vfx`` and its job touches nothing
afterwards.
"""

import atexit
import os
import shlex
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

import nuke

from sss_nuke import node as sss_node
from sss_nuke.cache import (RESULT_PATTERN, cache_key, cache_root, finished_frames,
                            input_signature, is_temporary)
from sss_nuke.colour import ScriptColour, script_colour
from sss_nuke.command import build_command
from sss_nuke.errors import InputError, SetupError, SettingsError, SssNukeError
from sss_nuke.executable import find_executable, subprocess_env
from sss_nuke.exr_header import sss_layer_names
from sss_nuke.frames import frame_path
from sss_nuke.inputs import InputPlan, plan_input, render_input
from sss_nuke.preferences import preferred_executable
from sss_nuke.process import Outcome, run_command
from sss_nuke.progress import Progress
from sss_nuke.settings import ComputeSettings

_jobs: Dict[str, "Job"] = {}
_callbacks_installed = False
_exit_hook_installed = False
_POLL_S = 0.1


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
        with sss_node.without_undo():
            sss_node.set_status(_as_group(group), "cancelling...")


def job_for(group: nuke.Node) -> Optional["Job"]:
    """The last computation started from `group`, if any."""
    knob = group.knob(sss_node.ID_KNOB)
    job = None if knob is None else _jobs.get(str(knob.value()))
    return job if job is not None and job.belongs_to(group) else None


def stop_all() -> None:
    """Stop every computation (the script closes, Nuke quits): their processes are
    terminated (finished frames are kept) and their jobs touch no node afterwards."""
    for job in list(_jobs.values()):
        job.detach()
    _jobs.clear()


def _on_destroy() -> None:
    """onDestroy callback: a deleted node's computation stops."""
    node = nuke.thisNode()
    knob = node.knob(sss_node.ID_KNOB)
    if knob is None:
        return
    key = str(knob.value())
    job = _jobs.get(key)
    if job is not None and job.belongs_to(node):
        job.detach()
        del _jobs[key]


def _install_callbacks() -> None:
    global _callbacks_installed, _exit_hook_installed
    if not _callbacks_installed:
        nuke.addOnDestroy(_on_destroy, nodeClass="Group")
        nuke.addOnScriptClose(stop_all)
        _callbacks_installed = True
    if not _exit_hook_installed:
        atexit.register(stop_all)
        _exit_hook_installed = True


def _start(group: nuke.Group) -> None:
    _install_callbacks()
    job = job_for(group)
    if job is not None and job.running:
        raise SettingsError("already computing; press Cancel to stop it first")
    key = sss_node.node_id(group)
    other = _jobs.get(key)
    if other is not None and not other.belongs_to(group):
        key = sss_node.new_id(group)  # a copied node carries its original's id
    if group.input(0) is None:
        raise InputError("nothing is connected to the image input; connect the plate "
                         "and press Compute again")
    settings = sss_node.read_settings(group)
    executable = find_executable(sss_node.path_value(group, "executable"),
                                 preferred_executable())
    script = _script_path()
    root = cache_root(sss_node.path_value(group, "cache_dir"), script)
    render_dir = os.path.join(root, "render", key)
    channels = ("rgb", "rgb", settings.guides_channels)
    colour = script_colour()
    # Only the plate's colour space is passed: features and guides are data.
    plans = [plan for plan in (plan_input(group, index, render_dir, settings.first,
                                          settings.last, channels[index],
                                          colour if index == 0 else None)
                               for index in range(3)) if plan is not None]
    if any(plan.name == "features" for plan in plans) and (
            settings.person or settings.feature_model):
        raise SettingsError("a features input and the person model or a feature model "
                            "file are two sources of features; disconnect one")
    if settings.feature_model and not os.path.isfile(settings.feature_model):
        raise InputError("feature model file {} does not exist; pick an existing .pt "
                         "or .onnx file".format(settings.feature_model))
    job = Job(group, key, executable, plans, root, settings,
              temporary=script is None and is_temporary(root), colour=colour)
    _jobs[key] = job
    job.start()


class Job:
    """One Compute of one node, worked on a worker thread.

    Parameters
    ----------
    group : nuke.Group
        The node; only touched on the main thread, never once the job is detached.
    key : str
        The node's id.
    executable : str
        The ``sss-vfx`` program.
    plans : list of InputPlan
        The connected inputs.
    cache_root : str
        The folder of result folders.
    settings : ComputeSettings
        What it computes.
    temporary : bool
        The cache is in the temporary folder (an unsaved script).
    colour : ScriptColour, optional
        The script's colour management (its config becomes ``--ocio``).
    """

    def __init__(self, group: nuke.Group, key: str, executable: str,
                 plans: List[InputPlan], cache_root: str, settings: ComputeSettings,
                 temporary: bool = False, colour: Optional[ScriptColour] = None) -> None:
        self.group = group
        self.key = key
        self.executable = executable
        self.plans = plans
        self.cache_root = cache_root
        self.settings = settings
        self.temporary = temporary
        self.colour = colour
        self.command: Optional[List[str]] = None
        self.result_dir: Optional[str] = None
        self.outcome: Optional[Outcome] = None
        self._cancel = threading.Event()
        self._gone = False
        self._process: Any = None
        self.title = sss_node.NODE_LABEL + " " + group.fullName()
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.title)

    @property
    def running(self) -> bool:
        """True while the worker thread works."""
        return self._thread.is_alive()

    def belongs_to(self, node: nuke.Node) -> bool:
        """True when this job is `node`'s (and `node` was not deleted since)."""
        return not self._gone and bool(self.group == node)

    def start(self) -> None:
        """Start the worker thread (main thread)."""
        sss_node.set_status(self.group, "checking the cache for frames {}-{}".format(
            self.settings.first, self.settings.last))
        self._thread.start()

    def cancel(self) -> None:
        """Ask the worker to stop (any thread)."""
        self._cancel.set()

    def detach(self) -> None:
        """The node or the script is going away: stop the process now and never touch
        the node again (any thread)."""
        self._gone = True
        self._cancel.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the worker thread; False if it is still running after `timeout`."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        started = time.monotonic()
        settings = self.settings
        try:
            result_dir = os.path.join(self.cache_root, cache_key(self._signatures(),
                                                                 settings))
            self.result_dir = result_dir
            if len(finished_frames(result_dir, settings.first, settings.last)) == \
                    settings.frame_count:
                self._post(lambda group: self._show(group, "cached (nothing to compute)"))
                return
            if not self._render():
                if self._cancel.is_set():
                    self._post(lambda group: sss_node.set_status(
                        group, "cancelled before sss-vfx started"))
                return
            try:
                os.makedirs(result_dir, exist_ok=True)
            except OSError as exc:
                raise SetupError("cannot create the cache folder {} ({}); set the cache "
                                 "folder knob to a writable folder".format(
                                     result_dir, exc.strerror or exc)) from None
            outcome = self._watch(result_dir)
        except Exception as exc:  # noqa: BLE001 - shown in the node, not lost in a thread
            self._post(_raiser(exc))
            return
        self.outcome = outcome
        self._post(lambda group: self._finish(group, outcome, time.monotonic() - started))

    def _signatures(self) -> Dict[str, Any]:
        """The inputs' part of the cache key (worker thread: stats only)."""
        signatures: Dict[str, Any] = {}
        for plan in self.plans:
            signatures[plan.name] = {
                "files": input_signature(plan.files, required=not plan.rendered),
                "graph": plan.graph, "colorspace": plan.colorspace}
        ocio = self.colour.ocio if self.colour else None
        signatures["ocio"] = ocio
        if ocio and not ocio.startswith("ocio://"):
            signatures["ocio_file"] = input_signature([ocio], required=False)
        if self.settings.feature_model:
            signatures["feature_model"] = input_signature([self.settings.feature_model])
        return signatures

    def _render(self) -> bool:
        """Have the main thread render the inputs that need it; False when that failed
        (already reported) or the job was cancelled meanwhile."""
        plans = [plan for plan in self.plans if plan.rendered]
        if not plans:
            return True
        done, failed = threading.Event(), threading.Event()

        def render(group: nuke.Group) -> None:
            try:
                for plan in plans:
                    sss_node.set_status(group, "rendering the {} input".format(plan.name))
                    render_input(group, plan, self.settings.first, self.settings.last)
            except BaseException:
                failed.set()
                raise
            finally:
                done.set()

        self._post(render)
        while not done.wait(_POLL_S):
            if self._cancel.is_set():
                return False
        return not failed.is_set() and not self._cancel.is_set()

    def _watch(self, result_dir: str) -> Outcome:
        plans = {plan.name: plan.pattern for plan in self.plans}
        image = next(plan for plan in self.plans if plan.name == "image")
        command = build_command(self.executable, image.pattern, result_dir, self.settings,
                                plans.get("features"), plans.get("guides"),
                                ocio=self.colour.ocio if self.colour else None,
                                colorspace=image.colorspace)
        self.command = command
        print(self.title + ": " + " ".join(shlex.quote(arg) for arg in command))
        self._post(lambda group: sss_node.set_status(
            group, "starting sss-vfx for frames {}-{}".format(self.settings.first,
                                                               self.settings.last)))
        # The progress task closes when it is collected, as this returns.
        task = nuke.ProgressTask(self.title)
        task.setMessage("starting sss-vfx")
        return run_command(
            command, env=subprocess_env(),
            on_progress=lambda progress: self._progress(task, progress),
            should_cancel=lambda: self._cancel.is_set() or bool(task.isCancelled()),
            on_start=self._started)

    def _started(self, process: Any) -> None:
        self._process = process
        if self._gone:
            process.terminate()

    def _progress(self, task: Any, progress: Progress) -> None:
        task.setProgress(progress.percent)
        task.setMessage(progress.describe())
        self._post(lambda group: sss_node.set_status(
            group, "computing: " + progress.describe()))

    def _post(self, action: Callable[[nuke.Group], None]) -> None:
        """Run `action` on the node on the main thread, unless the job is detached by
        then."""
        nuke.executeInMainThread(self._on_main, args=(action,))

    def _on_main(self, action: Callable[[nuke.Group], None]) -> None:
        if not self._gone:
            _reporting(self.group, action)

    def _finish(self, group: nuke.Group, outcome: Outcome, seconds: float) -> None:
        settings = self.settings
        if outcome.ok:
            self._show(group, "computed in {:.0f} s".format(seconds))
            return
        if not outcome.cancelled:
            raise SssNukeError(outcome.error())
        assert self.result_dir is not None
        done = finished_frames(self.result_dir, settings.first, settings.last)
        if done:
            self._show(group, "cancelled: {} of {} frames kept; press Compute to finish "
                       "the rest".format(len(done), settings.frame_count))
        else:
            sss_node.set_status(group, "cancelled before the first frame was finished")

    def _show(self, group: nuke.Group, note: str) -> None:
        assert self.result_dir is not None
        if self.temporary:
            note += " (in the temporary folder: save the script and Compute again to " \
                    "keep it)"
        _show(group, self.result_dir, self.settings, note)


def _show(group: nuke.Group, result_dir: str, settings: ComputeSettings,
          note: str) -> None:
    """Point the node at the frames finished in `result_dir` and say so."""
    done = finished_frames(result_dir, settings.first, settings.last)
    if not done:
        raise SssNukeError("sss-vfx wrote no layer files into {}; run the command line "
                           "printed in Nuke's terminal with -v".format(result_dir))
    pattern = os.path.join(result_dir, RESULT_PATTERN)
    layers = sss_layer_names(frame_path(pattern, done[0]))
    sss_node.show_result(group, result_dir, pattern, layers, settings.first, settings.last,
                         complete=len(done) == settings.frame_count)
    sss_node.set_status(group, "{} layers, frames {}-{}: {}".format(
        len(layers), settings.first, settings.last, note))


def _reporting(group: nuke.Node, action: Callable[[nuke.Group], None]) -> None:
    """Run `action` on the node, off the undo stack; an error becomes its status line and
    a message box."""
    with sss_node.without_undo():
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


def _as_group(node: nuke.Node) -> nuke.Group:
    if not isinstance(node, nuke.Group):
        raise SettingsError("{} is not a SemanticSoftSegmentation node".format(node.name()))
    return node


def _script_path() -> Optional[str]:
    try:
        return nuke.scriptName()
    except RuntimeError:
        return None
