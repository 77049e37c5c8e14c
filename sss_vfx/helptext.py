"""How the commands' ``--help`` reads: the headings their flags are shown under, a
formatter that keeps examples as written, and the epilog naming an example and its
guide. Shared by the ``sss-vfx`` command (:mod:`sss_vfx.cli`) and the OpenFX bridge's
commands (:mod:`sss_vfx.ofx.commands`), which the command also offers."""

import argparse
import textwrap

from sss_vfx.options import OPTION_GROUPS

__all__ = ["HELP_SECTIONS", "HelpFormatter", "epilog", "sections"]

#: The headings of a sub-command's ``--help``, in order: key -> title. The option
#: fields' own groups (:data:`~sss_vfx.options.OPTION_GROUPS`) sit among them.
HELP_SECTIONS = {
    "inputs": "inputs",
    "outputs": "outputs",
    "artist": OPTION_GROUPS["artist"],
    "features": OPTION_GROUPS["features"],
    "plate": OPTION_GROUPS["plate"],
    "farm": "farm and cluster",
    "run": "running",
    **{key: title for key, title in OPTION_GROUPS.items()
       if key not in ("artist", "features", "plate")},
}


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, but lines of the description or epilog that start with
    two spaces (examples) are kept as written."""

    def _fill_text(self, text, width, indent):
        paragraphs = []
        for block in text.split("\n\n"):
            if block.startswith("  ") or "\n  " in block:
                paragraphs.append(textwrap.indent(block, indent))
            else:
                paragraphs.append(super()._fill_text(block, width, indent))
        return "\n\n".join(paragraphs)


def epilog(example, page):
    """The end of a sub-command's ``--help``: one example and its documentation page.

    Examples
    --------
    >>> print(epilog("sss-vfx devices", "guides/stills"))
    example:
      sss-vfx devices
    <BLANKLINE>
    documentation:
      docs/guides/stills.md, built as guides/stills.html
    """
    return (f"example:\n  {example}\n\ndocumentation:\n  docs/{page}.md, built as "
            f"{page}.html")


def sections(parser):
    """The argument groups of a parser, one per :data:`HELP_SECTIONS` key, created once
    in that order (a section without flags is not shown)."""
    found = getattr(parser, "sss_sections", None)
    if found is None:
        found = {key: parser.add_argument_group(title)
                 for key, title in HELP_SECTIONS.items()}
        parser.sss_sections = found
    return found
