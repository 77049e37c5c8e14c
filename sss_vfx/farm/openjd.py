"""An Open Job Description job template of a chunked shot (the format AWS Deadline
Cloud runs; ``openjd run`` runs it on one machine).

Three steps: ``Plan`` (one task), ``Chunk`` (one task per chunk, after Plan) and
``Finalise`` (one task, after every chunk), each a plain ``sss-vfx farm`` command.
The chunk count is fixed when the template is written, from the shot's frames.
"""

import json
import os
import pathlib

from sss_vfx.errors import OutputError
from sss_vfx.farm.chunks import DEFAULT_CHUNK_FRAMES, DEFAULT_HANDLES, chunk_ranges
from sss_vfx.io.atomic import atomic_write_text
from sss_vfx.io.shot import open_shot

__all__ = ["SPECIFICATION", "job_template", "write_job_template"]

SPECIFICATION = "jobtemplate-2023-09"


def _run(args):
    return {"actions": {"onRun": {"command": "{{Param.SssVfx}}", "args": args}}}


def job_template(source, output, *, features=None, frames=None, start=0,
                 allow_missing=False, chunk_frames=DEFAULT_CHUNK_FRAMES,
                 handles=DEFAULT_HANDLES, plan_flags=(), chunk_flags=(), program="sss-vfx",
                 template_dir=None):
    """The job template of one shot, as a JSON-able dict.

    Parameters
    ----------
    source : str
        The shot (sequence pattern or video file) as the farm's machines see it.
    output : str
        The shot's output folder as the farm's machines see it.
    features, frames, start, allow_missing, chunk_frames, handles
        As :func:`~sss_vfx.farm.plan_shot`; they also fix the chunk count.
    plan_flags, chunk_flags : sequence of str, optional
        Extra flags of the plan command (method options) and of the chunk command
        (``--device``).
    program : str, optional
        The ``sss-vfx`` command on the farm's machines (job parameter ``SssVfx``).
    template_dir : str, optional
        Where the template will be written: when ``output`` lies inside it, the
        ``Output`` parameter defaults to it (OpenJD resolves PATH defaults against
        the template's folder and refuses ``..``); otherwise ``Output`` must be
        given when the job is submitted.

    Returns
    -------
    dict

    Raises
    ------
    InputError, OptionError
        Bad shot or chunking.
    """
    shot = open_shot(source, frames=frames, start=start, features=features,
                     allow_missing=allow_missing)
    chunks = chunk_ranges(shot.numbers if shot.numbers is not None else [],
                          chunk_frames, handles)
    shot_flags = (["--features", str(features)] if features else []) \
        + (["--frames", f"{frames[0]}-{frames[1]}"] if frames else []) \
        + (["--start", str(start)] if start else []) \
        + (["--allow-missing"] if allow_missing else []) \
        + ["--chunk-frames", str(chunk_frames), "--handles", str(handles)]
    return {
        "specificationVersion": SPECIFICATION,
        "name": f"sss-vfx {os.path.basename(os.fspath(output).rstrip('/')) or 'shot'}",
        "parameterDefinitions": [
            {"name": "Input", "type": "STRING", "default": os.fspath(source),
             "description": "the shot: image-sequence pattern or video file"},
            {"name": "Output", "type": "PATH", "objectType": "DIRECTORY",
             "dataFlow": "OUT", "description": "the shot's output folder, shared by every "
                                              "task",
             **_output_default(output, template_dir)},
            {"name": "SssVfx", "type": "STRING", "default": program,
             "description": "the sss-vfx command on the workers"},
        ],
        "steps": [
            {"name": "Plan",
             "script": _run(["farm", "plan", "{{Param.Input}}", "-o", "{{Param.Output}}",
                             "--progress", "log", *shot_flags, *plan_flags])},
            {"name": "Chunk",
             "dependencies": [{"dependsOn": "Plan"}],
             "parameterSpace": {"taskParameterDefinitions": [
                 {"name": "Chunk", "type": "INT", "range": f"0-{len(chunks) - 1}"}]},
             "script": _run(["farm", "chunk", "{{Param.Output}}", "--chunk",
                             "{{Task.Param.Chunk}}", "--progress", "log", *chunk_flags])},
            {"name": "Finalise",
             "dependencies": [{"dependsOn": "Chunk"}],
             "script": _run(["farm", "finalise", "{{Param.Output}}"])},
        ],
    }


def _output_default(output, template_dir):
    # OpenJD joins a PATH default to the template's folder and forbids walking up.
    if template_dir is None:
        return {}
    relative = os.path.relpath(os.path.abspath(output), os.path.abspath(template_dir))
    return {} if relative.split(os.sep)[0] == os.pardir else {"default": relative}


def write_job_template(source, output, path=None, **kwargs):
    """Write :func:`job_template` as JSON (default ``OUTPUT/job.template.json``).

    Returns
    -------
    pathlib.Path, the file written
    """
    path = pathlib.Path(path) if path else pathlib.Path(output) / "job.template.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path.parent}: {exc.strerror}; choose another "
                          "template path") from exc
    template = job_template(source, output, template_dir=path.parent, **kwargs)
    atomic_write_text(path, json.dumps(template, indent=1))
    return path
