"""`python -m holdsense ARGS` runs the `holdsense` command (the same as the console script), e.g. from a
virtual environment whose bin/ is not on PATH."""
import sys

from .cli import main

sys.exit(main())
