"""The node's inputs as image sequences on disk for ``sss-vfx``.

A Read of an EXR/PNG/TIFF sequence is used as it is; anything else (a movie, a
processed stream) is rendered by a temporary Write node to an EXR sequence first.
"""

import os
from typing import List, NamedTuple, Optional

import nuke

from sss_nuke.errors import InputError
from sss_nuke.frames import frame_paths, is_sequence, printf_pattern
from sss_nuke.node import internal

#: Files ``sss-vfx`` reads as sequences, as Nuke's Read shows them.
SEQUENCE_EXTENSIONS = (".exr", ".png", ".tif", ".tiff")
#: The internal Input node of each of the node's inputs.
INPUT_NAMES = ("image", "features", "guides")


class InputFiles(NamedTuple):
    """An input on disk: the pattern given to the command and one file per frame."""

    pattern: str
    paths: List[str]
    rendered: bool


def prepare_input(group: nuke.Group, index: int, render_dir: str, first: int,
                  last: int, channels: str = "rgb") -> Optional[InputFiles]:
    """Return input `index` of `group` as files for frames `first`..`last`.

    Parameters
    ----------
    group : nuke.Group
        The node.
    index : int
        0 for the plate, 1 for the features, 2 for the guides.
    render_dir : str
        Where to render an input that is not a Read of a sequence.
    first, last : int
        The frame range.
    channels : str, optional
        The channels a render keeps (``rgb``; ``alpha`` for a Roto guide).

    Returns
    -------
    InputFiles or None
        None when nothing is connected.

    Raises
    ------
    InputError
        If rendering fails or is cancelled.
    """
    upstream = group.input(index)
    if upstream is None:
        return None
    pattern = sequence_on_disk(upstream)
    if pattern is not None:
        return InputFiles(pattern, frame_paths(pattern, first, last), False)
    pattern = _render(group, index, render_dir, first, last, channels)
    return InputFiles(pattern, frame_paths(pattern, first, last), True)


def sequence_on_disk(node: nuke.Node) -> Optional[str]:
    """The printf file pattern of `node` (through Dots) when it is a Read of an image
    sequence the command can read frame for frame, else None."""
    above = node.input(0) if node.Class() == "Dot" else None
    while above is not None:
        node = above
        above = node.input(0) if node.Class() == "Dot" else None
    if node.Class() != "Read":
        return None
    offset = node.knob("frame")
    if offset is not None and str(offset.value()).strip():
        return None  # a retimed Read: its frame numbers are not the files'
    path = nuke.filename(node) or str(node["file"].value())
    if not is_sequence(path) or not path.lower().endswith(SEQUENCE_EXTENSIONS):
        return None
    return printf_pattern(path)


def _render(group: nuke.Group, index: int, render_dir: str, first: int,
            last: int, channels: str = "rgb") -> str:
    name = INPUT_NAMES[index]
    try:
        os.makedirs(render_dir, exist_ok=True)
    except OSError as exc:
        raise InputError("cannot create {} to render the {} input ({}); set the cache "
                         "folder knob to a writable folder".format(
                             render_dir, name, exc.strerror or exc)) from None
    pattern = os.path.join(render_dir, name + ".%04d.exr").replace(os.sep, "/")
    with group:
        write = nuke.nodes.Write(name="sss_render_" + name)
    try:
        write.setInput(0, internal(group, name))
        write["file"].setValue(pattern)
        write["file_type"].setValue("exr")
        write["channels"].setValue(channels)
        write["datatype"].setValue("16 bit half")
        nuke.execute(write, first, last)
    except RuntimeError as exc:
        raise InputError("rendering the {} input for frames {}-{} stopped ({}); check "
                         "that it renders in the Viewer, or connect a Read".format(
                             name, first, last, exc)) from None
    finally:
        nuke.delete(write)
    return pattern
