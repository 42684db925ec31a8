"""``python -m injectmap``: the command line."""

import sys

from injectmap.cli import main

sys.exit(main())
