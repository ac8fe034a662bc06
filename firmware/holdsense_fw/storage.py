# Settings and calibration in flash, as one JSON file replaced atomically.
#
# save(): write FILE.new, read it back and parse it (verified), then rename it over FILE
# (LittleFS, the ESP32/RP2 default, and POSIX replace atomically). Where rename cannot
# replace (FAT: EEXIST), FILE is first renamed to FILE.bak. The old settings are never
# deleted before the new ones are complete and verified, so a power cut at any step
# leaves a valid file: load() takes a complete FILE.new (the newest: cut after the write),
# else FILE, else FILE.bak; recover() (at boot) puts that survivor in place as FILE.
import json
import os

from . import config

FILE = "holdsense.json"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


class Storage:
    def __init__(self, root="/"):
        self.root = root
        self.path = self._join(FILE)
        self.new_path = self.path + ".new"
        self.bak_path = self.path + ".bak"
        self.errors = 0
        self.recovered = None  # which file recover() restored, if any

    def _join(self, name):
        return self.root.rstrip("/") + "/" + name

    @staticmethod
    def _read(path):
        """dict from `path`; OSError if missing, ValueError if corrupt."""
        with open(path) as f:
            d = json.load(f)
        if not isinstance(d, dict):
            raise ValueError("not an object")
        return d

    def recover(self):
        """After a power cut during save(): make FILE the newest complete settings again.
        Returns the file restored (or None: nothing to do)."""
        self.recovered = None
        try:
            self._read(self.new_path)  # complete: the newest settings, cut before the rename
        except (OSError, ValueError):
            _remove(self.new_path)     # missing or half-written: FILE (or .bak) is the truth
            try:
                self._read(self.path)
                _remove(self.bak_path)
                return None
            except OSError:
                pass
            except ValueError:
                self.errors += 1
            try:
                self._read(self.bak_path)
            except (OSError, ValueError):
                return None
            cand = self.bak_path
        else:
            cand = self.new_path
        try:
            _remove(self.path)
            os.rename(cand, self.path)
            self.recovered = cand
        except OSError:
            self.errors += 1
        return cand

    def load(self):
        """Settings dict: defaults overlaid with what flash holds (defaults if missing or corrupt)."""
        s = dict(config.DEFAULTS)
        s["cal"] = dict(config.NOMINAL_CAL)
        d = None
        for cand in (self.new_path, self.path, self.bak_path):
            try:
                d = self._read(cand)
                break
            except OSError:
                continue
            except ValueError:
                if cand == self.path:
                    self.errors += 1
        if d is not None:
            for k in d:
                s[k] = d[k]
        return s

    def save(self, settings):
        """Write settings atomically; OSError propagates (the command answers E_STORAGE)."""
        text = json.dumps(settings)
        with open(self.new_path, "w") as f:
            f.write(text)
        if self._read(self.new_path) != json.loads(text):  # verify what flash really holds
            raise OSError(5, "verify failed")
        try:
            os.rename(self.new_path, self.path)  # atomic replace (LittleFS, POSIX)
        except OSError:
            # FAT cannot rename onto an existing file: keep the old one as .bak meanwhile
            _remove(self.bak_path)
            if _exists(self.path):
                os.rename(self.path, self.bak_path)
            os.rename(self.new_path, self.path)
        _remove(self.bak_path)
