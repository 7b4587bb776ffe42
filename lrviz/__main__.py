"""``python -m lrviz ...``: see :mod:`lrviz.cli`."""

import sys

from lrviz.cli import main

sys.exit(main())
