# Settings and calibration in flash, as one JSON file written atomically
# (write a temp file, then rename), so a brown-out mid-write keeps the old file.
import json
import os

from . import config

FILE = "holdsense.json"


class Storage:
    def __init__(self, root="/"):
        self.root = root
        self.path = self._join(FILE)
        self.errors = 0

    def _join(self, name):
        return self.root.rstrip("/") + "/" + name

    def load(self):
        """Settings dict: defaults overlaid with what flash holds (defaults if missing or corrupt)."""
        s = dict(config.DEFAULTS)
        s["cal"] = dict(config.NOMINAL_CAL)
        try:
            with open(self.path) as f:
                d = json.load(f)
            for k in d:
                s[k] = d[k]
        except OSError:
            pass
        except ValueError:
            self.errors += 1
        return s

    def save(self, settings):
        """Write settings; OSError propagates (the command answers E_STORAGE)."""
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(settings, f)
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.rename(tmp, self.path)
