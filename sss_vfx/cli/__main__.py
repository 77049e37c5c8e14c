"""``python -m sss_vfx.cli``: the ``sss-vfx`` command."""

import sys

from sss_vfx.cli import main

sys.exit(main())
