"""LSL configs liblsl would quietly skip are refused (holdsense.lab.check_lsl_config); no liblsl needed.

liblsl drops a config it cannot use and falls back to ResolveScope = site
(streams announced on the whole network), so a lab's "keep it local" file with
an inline comment, or a mistyped LSLAPICFG, must stop `--lsl` with one line.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from holdsense.errors import UserError
from holdsense.lab import PACKAGE_LSL_CONFIG, check_lsl_config, ensure_lsl_config, lsl_scope

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_configs_pass() -> None:
    assert check_lsl_config(str(PACKAGE_LSL_CONFIG)) == "machine"
    assert check_lsl_config(str(REPO / "tests" / "lsl_loopback.cfg")) == "machine"


def test_inline_comment_is_refused_not_read_as_the_scope_liblsl_ignores(tmp_path: Path, monkeypatch) -> None:
    # liblsl reads the value as 'machine   ; this computer only', an unknown scope: it would skip the file
    # and announce on the site network while holdsense said "this computer only"
    cfg = tmp_path / "lsl_api.cfg"
    cfg.write_text("[multicast]\nResolveScope = machine   ; this computer only\n")
    monkeypatch.setenv("LSLAPICFG", str(cfg))
    with pytest.raises(UserError, match=r"line 2: ResolveScope = .*no inline comments"):
        ensure_lsl_config()
    assert lsl_scope(str(cfg)) == "site"  # what liblsl would really use


@pytest.mark.parametrize("text, match", [
    ("[multicast]\nResolveScope = local\n", r"line 2: ResolveScope = 'local' is not one of machine"),
    ("# lab config\n[multicast]\nResolveScope = machine\n", r"line 1: not 'key = value'"),
    ("[multicast\nResolveScope = machine\n", r"line 1: no closing bracket"),
    ("[ports]\nIPv6 = off\n", r"line 2: IPv6 = 'off'"),
    ("[lab]\nSessionID = a\nSessionID = b\n", r"line 3: SessionID given twice"),
])
def test_files_liblsl_would_skip_are_refused(tmp_path: Path, monkeypatch, text: str, match: str) -> None:
    cfg = tmp_path / "lsl_api.cfg"
    cfg.write_text(text)
    monkeypatch.setenv("LSLAPICFG", str(cfg))
    with pytest.raises(UserError, match=match):
        ensure_lsl_config()


def test_mistyped_lslapicfg_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LSLAPICFG", str(tmp_path / "nope.cfg"))
    with pytest.raises(UserError, match=r"LSLAPICFG names .*nope.cfg, which cannot be read"):
        ensure_lsl_config()


def test_a_valid_lab_config_gives_its_scope(tmp_path: Path, monkeypatch) -> None:
    cfg = tmp_path / "lsl_api.cfg"
    cfg.write_text("; the lab's config\n[multicast]\n; or link\nResolveScope = site\r\n[lab]\n"
                   "KnownPeers = {192.168.1.20, 192.168.1.21}\n")
    monkeypatch.setenv("LSLAPICFG", str(cfg))
    assert ensure_lsl_config() == str(cfg)
    assert lsl_scope(str(cfg)) == "site"


def test_pylsl_without_liblsl_says_to_install_liblsl_not_the_extra(tmp_path: Path, monkeypatch) -> None:
    """pylsl installed (the lab extra is there) but liblsl missing: the advice is liblsl / PYLSL_LIB."""
    import sys

    from holdsense.lab import require

    fake = tmp_path / "pylsl"
    fake.mkdir()
    # what pylsl raises when it finds no liblsl binary
    (fake / "__init__.py").write_text("raise RuntimeError('LSL binary library file was not found.')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pylsl", raising=False)
    monkeypatch.setenv("LSLAPICFG", str(PACKAGE_LSL_CONFIG))
    with pytest.raises(UserError) as err:
        require("pylsl")
    msg = str(err.value)
    assert "cannot load liblsl (LSL binary library file was not found.)" in msg
    assert "PYLSL_LIB" in msg and "conda-forge liblsl" in msg
    assert "pip install 'holdsense[lab]'" not in msg
