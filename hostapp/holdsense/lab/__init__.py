"""Lab integration: LSL outlets (`lsl`), XDF import (`xdf`), batch tables (`batch`).

pylsl and pyxdf are optional (the `lab` extra): nothing here imports them at
module level, so `import holdsense` works without them, and a command that
needs one raises a UserError naming `pip install 'holdsense[lab]'`.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from ..errors import UserError

PACKAGE_LSL_CONFIG = Path(__file__).with_name("lsl_api.cfg")
# Where liblsl itself looks for a configuration (besides $LSLAPICFG), in its order.
_LIBLSL_CONFIG_PLACES = ("lsl_api.cfg", "~/lsl_api/lsl_api.cfg", "/etc/lsl_api/lsl_api.cfg")


def require(module: str) -> ModuleType:
    """Import an optional lab dependency (`pylsl` or `pyxdf`), or raise a UserError saying how to install it."""
    if module == "pylsl":
        ensure_lsl_config()
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UserError(f"this needs {module}, which is not installed or not working ({exc}); "
                        f"install the lab extra: pip install 'holdsense[lab]'") from None
    except (OSError, RuntimeError) as exc:
        # pylsl is there but cannot load liblsl (RuntimeError: not found; OSError: a broken library): the
        # extra is installed, so saying "install it" would not help. pip's pylsl bundles liblsl only on
        # some platforms; elsewhere liblsl comes separately.
        raise UserError(f"this needs {module}, which is installed but cannot load liblsl "
                        f"({' '.join(str(exc).split())}); install liblsl (conda install -c conda-forge liblsl; "
                        "macOS: brew install labstreaminglayer/tap/lsl; or a release from "
                        "github.com/sccn/liblsl) and, if it is not found, point PYLSL_LIB at its "
                        "liblsl.so/.dylib/.dll (docs/lab.md)") from None


def lsl_config_in_use() -> str | None:
    """The liblsl config file liblsl will load in this process (None: liblsl's built-in defaults)."""
    env = os.environ.get("LSLAPICFG")
    if env:
        return env
    for place in _LIBLSL_CONFIG_PLACES:
        p = Path(place).expanduser()
        if p.is_file():
            return str(p)
    return None


def ensure_lsl_config() -> str:
    """Keep LSL on this machine unless the user configured LSL: set LSLAPICFG to the packaged config.

    liblsl's built-in default (ResolveScope = site) announces streams by
    multicast on every network; holdsense only goes that far when the user
    has an LSL config (LSLAPICFG or one of liblsl's standard places), which is
    how labs configure every LSL program on a machine. Must run before liblsl
    reads its configuration (first use in the process). Returns the config used.
    Raises UserError for a config liblsl would not use (check_lsl_config).
    """
    used = lsl_config_in_use()
    if used is None:
        os.environ["LSLAPICFG"] = str(PACKAGE_LSL_CONFIG)
        used = str(PACKAGE_LSL_CONFIG)
    check_lsl_config(used)
    return used


# liblsl's accepted values (src/api_config.cpp); anything else makes it drop the whole file.
_LSL_SCOPES = ("machine", "link", "site", "organization", "global")
_LSL_IPV6 = ("disabled", "disable", "allowed", "allow", "forced", "force")
_FALLBACK = "liblsl would skip this file and announce streams with its defaults, on the whole network"


def _read_lsl_config(path: str) -> dict[str, tuple[int, str]]:
    """An LSL config as liblsl's INI reader sees it: {"section.Key": (line number, value)}.

    Mirrors src/util/inireader.cpp: a comment is a line that *starts* with ';'
    (no '#', no inline comments: the rest of a line after '=' is the value),
    every other non-blank line is `[section]` or `key = value`. Raises ValueError
    where liblsl would reject the file.
    """
    values: dict[str, tuple[int, str]] = {}
    section = ""
    text = Path(path).expanduser().read_text(encoding="utf-8", errors="replace")
    for n, line in enumerate(text.split("\n"), 1):
        if line.startswith(";") or not line.strip():
            continue
        if line.startswith("["):
            if "]" not in line:
                raise ValueError(f"line {n}: no closing bracket ]")
            section = line[1:line.index("]")] + "."
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"line {n}: not 'key = value' (liblsl takes only lines starting with ';' as comments)")
        if not key.strip() or not value.strip():
            raise ValueError(f"line {n}: empty key or value")
        if section + key.strip() in values:
            raise ValueError(f"line {n}: {key.strip()} given twice")
        values[section + key.strip()] = (n, value.strip())
    return values


def check_lsl_config(path: str) -> str:
    """Check that liblsl will use this config file as written; returns its ResolveScope.

    liblsl quietly skips a config it cannot read or parse (or a ResolveScope
    it does not know) and falls back to its defaults: ResolveScope = site,
    streams announced by multicast on the site network, while the person
    believes their file keeps them on this computer. So holdsense refuses such
    a file with one line (UserError, exit 2) instead. An inline comment
    (`ResolveScope = machine ; local`) is the common case: liblsl has none.
    """
    try:
        values = _read_lsl_config(path)
    except OSError as exc:
        where = "LSLAPICFG names " + path if os.environ.get("LSLAPICFG") == path else path
        raise UserError(f"LSL config: {where}, which cannot be read ({exc.strerror or exc}); {_FALLBACK}: "
                        "fix the path or unset LSLAPICFG") from None
    except ValueError as exc:
        raise UserError(f"LSL config {path}: {exc}; {_FALLBACK}") from None
    for key, value in values.items():
        n, v = value
        if ";" in v:
            raise UserError(f"LSL config {path}: line {n}: {key.split('.')[-1]} = {v!r}: liblsl has no inline "
                            f"comments (the ';...' is part of the value); put the comment on a line of its own")
    n, scope = values.get("multicast.ResolveScope", (0, "site"))
    if scope not in _LSL_SCOPES:
        raise UserError(f"LSL config {path}: line {n}: ResolveScope = {scope!r} is not one of "
                        f"{', '.join(_LSL_SCOPES)}; {_FALLBACK}")
    n, ipv6 = values.get("ports.IPv6", (0, "allow"))
    if ipv6 not in _LSL_IPV6:
        raise UserError(f"LSL config {path}: line {n}: IPv6 = {ipv6!r} is not disable, allow or force; {_FALLBACK}")
    return scope


def lsl_scope(config_path: str | None) -> str:
    """The ResolveScope a liblsl config file sets ("site" is liblsl's default, also for a file it would skip)."""
    if not config_path:
        return "site"
    try:
        return check_lsl_config(config_path)
    except UserError:
        return "site"
