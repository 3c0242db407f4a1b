"""``python -m edge.ota``: see ``edge.ota.cli``."""

import sys

from edge.ota.cli import main

sys.exit(main())
