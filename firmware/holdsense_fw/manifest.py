# What `holdsense deploy` copies to the board. Host-side helper, also harmless on the board.
import os

MAIN_PY = "from holdsense_fw.app import main; main()\n"


def firmware_files():
    """[(local path, path on the board)] of every .py file of this package."""
    f = globals().get("__file__")
    # os.path does not exist on MicroPython: cut the directory by hand
    here = f[:f.rfind("/")] if f and "/" in f else "holdsense_fw"
    out = []
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            out.append((here + "/" + name, "holdsense_fw/" + name))
    return out
