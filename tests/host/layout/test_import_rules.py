"""The host package's layering rules (docs/architecture.md), read from the source with `ast`.

Every import counts, also the lazy ones inside functions (a lazy import still
ties the modules together: `analysis -> capture -> xdf -> analysis` was a circle
although each step was lazy); only `if TYPE_CHECKING:` blocks are skipped (they
never run). The last tests copy the package, add one forbidden import each, and
check that the rules catch it, so the rules cannot pass by reading nothing.
"""
from __future__ import annotations

import ast
import functools
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
HOSTAPP = REPO / "hostapp" / "holdsense"
ROLLSIGNAL = REPO / "signal" / "rollsignal"

# (importer prefix, forbidden prefixes): "holdsense.io" covers holdsense.io and everything below it.
FORBIDDEN: list[tuple[str, tuple[str, ...]]] = [
    ("holdsense.messages", ("holdsense",)),
    ("holdsense.io", ("holdsense.link", "holdsense.listeners")),
    ("holdsense.link", ("holdsense.io", "holdsense.listeners", "holdsense.coaching", "holdsense.commands")),
    ("rollsignal", ("holdsense",)),
]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _modules(root: Path, package: str) -> dict[str, Path]:
    """Module name -> file, for every .py file under `root` (a package named `package`)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join([package, *parts])] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Import / ImportFrom nodes anywhere in the tree, except under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Absolute names of what module `name` (file `path`) imports; `from P import m` of a known
    module `P.m` counts as importing `P.m`."""
    return set(_imports_of_source(name, path.name == "__init__.py", path.read_text(encoding="utf-8"),
                                  frozenset(known)))


# Keyed by the source text itself: the copied packages of the last tests differ from the tree only in
# the one file they append to, so that file is read afresh and the ~130 unchanged ones are not parsed
# again (the suite built the whole graph about twenty times: 25 s of CPU, mostly ast walks).
@functools.lru_cache(maxsize=None)
def _imports_of_source(name: str, is_package: bool, source: str, known: frozenset[str]) -> frozenset[str]:
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _import_nodes(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
            continue
        if node.level:
            base = package.split(".")
            base = base[:len(base) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        for a in node.names:
            sub = f"{mod}.{a.name}"
            out.add(sub if sub in known else mod)
    return frozenset(out)


def import_graph(roots: dict[str, Path]) -> dict[str, set[str]]:
    """{module: imported names} for every module of the given packages ({package name: folder})."""
    files: dict[str, Path] = {}
    for package, root in roots.items():
        files.update(_modules(root, package))
    known = set(files)
    return {name: imports_of(name, path, known) for name, path in files.items()}


def rule_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for importer, targets in sorted(graph.items()):
        for prefix, forbidden in FORBIDDEN:
            if not _under(importer, prefix):
                continue
            for t in sorted(targets):
                if any(_under(t, f) for f in forbidden) and not (prefix == "holdsense.messages" and t == importer):
                    out.append(f"{importer} imports {t}")
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles among the graph's own modules (strongly connected components, Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in graph or w == v:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _graph(host: Path = HOSTAPP) -> dict[str, set[str]]:
    return import_graph({"holdsense": host, "rollsignal": ROLLSIGNAL})


def test_the_layers_import_only_downward() -> None:
    g = _graph()
    assert {"holdsense.messages", "holdsense.io.recording", "holdsense.link.frames", "rollsignal"} <= set(g)
    assert rule_violations(g) == []


def test_no_import_circles_in_the_host_package() -> None:
    g = {k: v for k, v in _graph().items() if _under(k, "holdsense")}
    assert circles(g) == []


def test_the_graph_sees_lazy_relative_and_package_imports() -> None:
    """The reader resolves what the rules depend on: relative levels, lazy imports, `from . import module`."""
    g = _graph()
    assert "holdsense.messages" in g["holdsense.link.device"]          # from ..messages import ...
    assert "holdsense.link.frames" in g["holdsense.link.commands"]     # from .frames import ...
    assert "holdsense.link.commands" not in g["holdsense.link.frames"]  # only under TYPE_CHECKING there
    assert "holdsense.link.ble" in g["holdsense.commands.devices"]     # lazy: from ..link import ble


@pytest.fixture()
def host_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "holdsense"
    shutil.copytree(HOSTAPP, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _append(path: Path, code: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + code + "\n", encoding="utf-8")


@pytest.mark.parametrize("module, code, expected", [
    ("io/recording.py", "def _bad():\n    from ..link.device import Device", "holdsense.io.recording imports holdsense.link.device"),
    ("io/xdf.py", "from ..listeners import notifier", "holdsense.io.xdf imports holdsense.listeners.notifier"),
    ("link/frames.py", "from ..io.recording import read_recording", "holdsense.link.frames imports holdsense.io.recording"),
    ("link/device.py", "import holdsense.commands.analyze", "holdsense.link.device imports holdsense.commands.analyze"),
    ("link/ble.py", "from ..coaching.flow import Cue", "holdsense.link.ble imports holdsense.coaching.flow"),
    ("messages.py", "from .errors import UserError", "holdsense.messages imports holdsense.errors"),
])
def test_a_forbidden_import_is_caught(host_copy: Path, module: str, code: str, expected: str) -> None:
    assert rule_violations(_graph(host_copy)) == []
    _append(host_copy / module, code)
    assert expected in rule_violations(_graph(host_copy))


def test_an_import_circle_is_caught(host_copy: Path) -> None:
    """The circle the old layout had: analysis -> (capture ->) xdf -> analysis, each step lazy."""
    assert circles(_graph(host_copy)) == []
    _append(host_copy / "io" / "xdf.py", "def _bad():\n    from ..analysis import analyze_recording")
    found = circles({k: v for k, v in _graph(host_copy).items() if _under(k, "holdsense")})
    assert any({"holdsense.analysis", "holdsense.io.xdf"} <= set(c) for c in found), found
