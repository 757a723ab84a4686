"""``python -m tinybcnn``: the same as the ``tinybcnn`` command."""

import sys

from .cli import main

sys.exit(main())
