"""``python -m segbench``."""

import sys

from segbench.cli import main

sys.exit(main())
