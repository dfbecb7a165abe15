"""`python -m barenet ...` runs the command line (barenet.cli)."""

import sys

from .cli import main

sys.exit(main())
