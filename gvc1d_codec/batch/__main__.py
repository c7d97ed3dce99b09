"""``python -m gvc1d_codec.batch``: the same as the ``gvc1d-batch`` console script."""
import sys

from .cli import main

sys.exit(main())
