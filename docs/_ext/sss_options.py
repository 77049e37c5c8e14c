"""Two checks of the documentation built from the code.

The ``sss-options`` directive: the parameter tables of :mod:`sss_vfx.options`, read
from the option dataclasses' fields and metadata when the docs build, so the tables
cannot drift from the code.

In a Markdown page::

    ```{sss-options}
    ```

gives one table per heading of :data:`sss_vfx.options.OPTION_GROUPS` (in that order):
flag, Python keyword, default and help text of every field, with the fields of
:class:`~sss_vfx.options.SegmentationOptions` first, then those of
:class:`~sss_vfx.options.TemporalOptions`.

Python references written in the pages (``{func}`sss_vfx.segment_image```...) must
resolve: an unresolved one is a warning (an error under ``-W``), as Sphinx's
``nitpicky`` mode would make it, but without judging the docstrings' own prose types.
"""

import dataclasses

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


def _table(nodes, rows):
    table = nodes.table(classes=["sss-options"])
    group = nodes.tgroup(cols=len(COLUMNS))
    table += group
    for width in (18, 18, 10, 54):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += _row(nodes, COLUMNS, literal=())
    body = nodes.tbody()
    group += body
    for row in rows:
        body += _row(nodes, row, literal=(0, 1, 2))
    return table


def _row(nodes, cells, literal):
    row = nodes.row()
    for i, text in enumerate(cells):
        entry = nodes.entry()
        para = nodes.paragraph()
        para += nodes.literal(text=text) if i in literal else nodes.Text(text)
        entry += para
        row += entry
    return row


#: Reference roles checked in the pages (autosummary's own ``obj`` rows are not).
CHECKED_ROLES = ("func", "class", "mod", "meth", "attr", "data", "exc")


def _missing_reference(app, env, node, contnode):
    """Warn about a page's Python reference that resolves to nothing."""
    from sphinx.util import logging

    page = node.get("refdoc", "")
    from_docstring = page.startswith("generated/") or "<autosummary>" in str(node.source)
    if node.get("refdomain") == "py" and node.get("reftype") in CHECKED_ROLES \
            and not from_docstring:
        logging.getLogger(__name__).warning(
            "unresolved reference %s:%s in %s", node["reftype"], node["reftarget"], page,
            location=node)
    return None


def setup(app):
    # docutils is imported here, so that option_rows() needs only sss_vfx (the test
    # suite checks it without the docs extra).
    from docutils import nodes
    from docutils.parsers.rst import Directive

    class OptionsDirective(Directive):
        """One table per option heading."""

        has_content = False

        def run(self):
            out = []
            for key, rows in option_rows().items():
                if rows:
                    title = OPTION_GROUPS[key]
                    out += [nodes.rubric(text=title[0].upper() + title[1:]),
                            _table(nodes, rows)]
            return out

    app.add_directive("sss-options", OptionsDirective)
    app.connect("missing-reference", _missing_reference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
