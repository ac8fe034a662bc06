# What `holdsense deploy` copies to the board. Host-side helper, also harmless on the board.
import os

MAIN_PY = "from holdsense_fw.app import main; main()\n"


def firmware_files():
    """[(local path, path on the board)] of every .py file of this package."""
    here = os.path.dirname(__file__) if "__file__" in globals() else "holdsense_fw"
    out = []
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            out.append((here + "/" + name, "holdsense_fw/" + name))
    return out
