"""``python -m equiv``: the command line."""

import sys

from equiv.cli import main

sys.exit(main())
