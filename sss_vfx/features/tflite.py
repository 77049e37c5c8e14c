"""Loading the bundled TFLite models with ai-edge-litert, one interpreter per thread.

``ai-edge-litert`` (extra ``sss_vfx[people]``) is imported only when a model is first
used, so sss_vfx runs without it as long as nobody asks for the person model.
"""

import functools
import importlib
import pathlib
import threading

from sss_vfx.errors import FeatureError

__all__ = ["interpreter"]

# One interpreter per thread: a TFLite interpreter is not safe to share.
_LOCAL = threading.local()


def interpreter(path, inputs, outputs):
    """The thread's interpreter for a model, checked against the interface it must have.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.tflite`` file.
    inputs, outputs : list of list of int
        The shapes the model must take and return, in the model's order.

    Returns
    -------
    tuple
        ``(interpreter, input_indices, output_indices)``; the indices in the order of
        ``inputs`` and ``outputs``.

    Raises
    ------
    FeatureError
        If ai-edge-litert is not installed (the message names the extra), the file is
        missing or does not load, or the model's interface differs.
    """
    path = str(path)
    cache = getattr(_LOCAL, "interpreters", None)
    if cache is None:
        cache = _LOCAL.interpreters = {}
    if path not in cache:
        cache[path] = _load(path, [list(s) for s in inputs], [list(s) for s in outputs])
    return cache[path]


def _load(path, expected_in, expected_out):
    litert = runtime()
    if not pathlib.Path(path).is_file():
        raise FeatureError(f"person model file {path} is missing; reinstall sss_vfx "
                           "(pip install 'sss_vfx[people]') or give an existing .tflite")
    try:
        interp = litert.Interpreter(model_path=path, num_threads=1)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise FeatureError(f"cannot load the person model {path}: {exc}; give a TFLite "
                           "model of the expected interface") from exc
    ins, outs = interp.get_input_details(), interp.get_output_details()
    got_in = [list(d["shape"]) for d in ins]
    got_out = [list(d["shape"]) for d in outs]
    if got_in != expected_in or got_out != expected_out:
        raise FeatureError(f"person model {path} takes {got_in} and returns {got_out}; it "
                           f"must take {expected_in} and return {expected_out}")
    return interp, [d["index"] for d in ins], [d["index"] for d in outs]


@functools.cache
def runtime():
    """The ``ai_edge_litert.interpreter`` module.

    Raises
    ------
    FeatureError
        If it is not installed; the message names the extra to install.
    """
    try:
        return importlib.import_module("ai_edge_litert.interpreter")
    except ImportError as exc:
        raise FeatureError("the person model needs ai-edge-litert, which is not installed; "
                           "pip install 'sss_vfx[people]'") from exc
