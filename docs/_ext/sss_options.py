"""The ``sss-options`` directive: the parameter tables of :mod:`sss_vfx.options`, read
from the option dataclasses' fields and metadata when the docs build, so the tables
cannot drift from the code.

In a Markdown page::

    ```{sss-options}
    ```

gives one table per heading of :data:`sss_vfx.options.OPTION_GROUPS` (in that order):
flag, Python keyword, default and help text of every field, with the fields of
:class:`~sss_vfx.options.SegmentationOptions` first, then those of
:class:`~sss_vfx.options.TemporalOptions`.
"""

import dataclasses

from docutils import nodes
from docutils.parsers.rst import Directive

from sss_vfx.cli.flags import flag_name
from sss_vfx.options import OPTION_GROUPS, SegmentationOptions, TemporalOptions

#: Column titles of each table.
COLUMNS = ("flag", "keyword", "default", "what it does")


def option_rows():
    """``{group key: [(flag, keyword, default, help), ...]}`` in OPTION_GROUPS order."""
    rows = {key: [] for key in OPTION_GROUPS}
    for cls in (SegmentationOptions, TemporalOptions):
        for f in dataclasses.fields(cls):
            flag = "--no-temporal" if f.name == "temporal" else flag_name(f.name)
            meta = f.metadata
            text = meta["help"]
            if meta["kind"] == "choice":
                text += " (one of " + ", ".join(meta["choices"]) + ")"
            rows[meta["group"]].append((flag, f.name, repr(f.default), text))
    return rows


def _table(rows):
    table = nodes.table(classes=["sss-options"])
    group = nodes.tgroup(cols=len(COLUMNS))
    table += group
    for width in (18, 18, 10, 54):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += _row(COLUMNS, literal=())
    body = nodes.tbody()
    group += body
    for row in rows:
        body += _row(row, literal=(0, 1, 2))
    return table


def _row(cells, literal):
    row = nodes.row()
    for i, text in enumerate(cells):
        entry = nodes.entry()
        para = nodes.paragraph()
        para += nodes.literal(text=text) if i in literal else nodes.Text(text)
        entry += para
        row += entry
    return row


class OptionsDirective(Directive):
    """One table per option heading."""

    has_content = False

    def run(self):
        out = []
        for key, rows in option_rows().items():
            if not rows:
                continue
            section = nodes.rubric(text=OPTION_GROUPS[key][0].upper() + OPTION_GROUPS[key][1:])
            out += [section, _table(rows)]
        return out


def setup(app):
    app.add_directive("sss-options", OptionsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
