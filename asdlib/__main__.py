"""``python -m asdlib``: the ``asdlib`` command line (:func:`asdlib.cli.main`)."""
import sys

from asdlib.cli import main

sys.exit(main())
