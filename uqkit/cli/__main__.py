"""``python -m uqkit.cli``: the same as the ``uqkit`` console script."""

import sys

from uqkit.cli import main

sys.exit(main())
