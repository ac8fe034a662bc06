"""`python -m holdsense ...`: the `holdsense` console script, for environments whose scripts folder is not on
PATH (or to pick the interpreter explicitly)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
