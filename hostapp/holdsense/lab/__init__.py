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
    except (ImportError, OSError, RuntimeError) as exc:
        # pylsl raises RuntimeError when its bundled liblsl cannot be loaded.
        raise UserError(f"this needs {module}, which is not installed or not working ({exc}); "
                        f"install the lab extra: pip install 'holdsense[lab]'") from None


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
    """
    used = lsl_config_in_use()
    if used is None:
        os.environ["LSLAPICFG"] = str(PACKAGE_LSL_CONFIG)
        used = str(PACKAGE_LSL_CONFIG)
    return used


def lsl_scope(config_path: str | None) -> str:
    """The ResolveScope a liblsl config file sets ("site" is liblsl's default), for messages."""
    if not config_path:
        return "site"
    try:
        text = Path(config_path).expanduser().read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "site"
    scope = "site"
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == "resolvescope":
            scope = value.split(";")[0].strip()
    return scope
