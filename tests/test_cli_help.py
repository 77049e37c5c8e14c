"""Every sub-command's --help: flags under headings, each exactly once, the option fields
under their metadata's heading, and an example that parses and a docs page that exists."""

import argparse
import dataclasses
import importlib.metadata
import re
import shlex
from pathlib import Path

import pytest
from _cli import run_in_process

import sss_vfx
from sss_vfx.cli import build_parser
from sss_vfx.cli.flags import flag_name
from sss_vfx.helptext import HELP_SECTIONS
from sss_vfx.options import OPTION_GROUPS, SegmentationOptions, TemporalOptions

ROOT = Path(__file__).resolve().parents[1]


def _commands(parser, prefix=()):
    """(words, parser) of every command that runs something, farm steps included."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for name, child in subs[0].choices.items():
        yield from _commands(child, prefix + (name,))


COMMANDS = dict(_commands(build_parser()))


def _flags(action):
    return action.option_strings or [action.dest]


@pytest.mark.parametrize("words", list(COMMANDS), ids=" ".join)
def test_every_flag_sits_under_exactly_one_heading(words):
    parser = COMMANDS[words]
    seen = {}
    for group in parser._action_groups:
        for action in group._group_actions:
            for flag in _flags(action):
                seen.setdefault(flag, []).append(group.title)
    for action in parser._actions:
        for flag in _flags(action):
            assert len(seen.get(flag, [])) == 1, (flag, seen.get(flag))
    # argparse's own catch-all headings hold only -h.
    leftovers = [f for f, titles in seen.items()
                 if titles[0] in ("options", "positional arguments")]
    assert leftovers == ["-h", "--help"], leftovers
    titles = {g.title for g in parser._action_groups if g._group_actions}
    assert titles <= set(HELP_SECTIONS.values()) | {"options"}


@pytest.mark.parametrize("command", ["segment", "video"])
def test_option_fields_sit_under_their_metadata_group(command):
    parser = COMMANDS[(command,)]
    where = {flag: group.title for group in parser._action_groups
             for action in group._group_actions for flag in action.option_strings}
    fields = dataclasses.fields(SegmentationOptions)
    if command == "video":
        fields += dataclasses.fields(TemporalOptions)
    for f in fields:
        flag = "--no-temporal" if f.name == "temporal" else flag_name(f.name)
        assert where[flag] == OPTION_GROUPS[f.metadata["group"]], f.name


def test_headings_come_in_order_inputs_first_advanced_last():
    text = COMMANDS[("video",)].format_help()
    shown = [t for t in HELP_SECTIONS.values() if f"\n{t}:\n" in text]
    assert [text.index(f"\n{t}:\n") for t in shown] == \
        sorted(text.index(f"\n{t}:\n") for t in shown)
    assert shown[:3] == ["inputs", "outputs", OPTION_GROUPS["artist"]]
    assert all(t.startswith("advanced") for t in shown[-3:])
    # The wall of the paper's parameters is below everything an artist reads first.
    assert text.index("--eigenvectors") > text.index("--device")


@pytest.mark.parametrize("words", list(COMMANDS), ids=" ".join)
def test_help_ends_with_an_example_that_parses_and_an_existing_page(words):
    text = COMMANDS[words].format_help()
    match = re.search(r"example:\n  (.+)\n\ndocumentation:\n  docs/(\S+)\.md, built as "
                      r"(\S+)\.html\n$", text)
    assert match, text[-300:]
    example, source, page = match.groups()
    assert (ROOT / "docs" / f"{source}.md").is_file(), source
    assert source == page
    argv = shlex.split(example)
    assert argv[0] == "sss-vfx" and tuple(argv[1:1 + len(words)]) == words
    build_parser().parse_args(argv[1:])      # a usage error raises SystemExit


def test_version_is_the_installed_metadata(capsys):
    status, out, _ = run_in_process(["--version"], capsys)
    assert status == 0
    installed = importlib.metadata.version("sss_vfx")
    assert out.strip() == f"sss-vfx {installed}"
    assert sss_vfx.__version__ == installed
