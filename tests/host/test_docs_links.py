"""Every relative link in the README and docs/ points at a file that exists, and every #anchor at a heading
in it (GitHub's slugs): the docs are split across files and moved around, and a reader following a link
to nothing is lost."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("*/README.md"))]
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def _anchors(md: Path) -> set[str]:
    text = _CODE.sub("", md.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)}


def _links(md: Path) -> list[str]:
    return _LINK.findall(_CODE.sub("", md.read_text(encoding="utf-8")))


def _broken(md: Path) -> list[str]:
    """The links of `md` that lead nowhere, each with why."""
    bad = []
    for target in _links(md):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, mailto: ...: not checked offline
            continue
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target}: no heading with that anchor")
    return bad


@pytest.mark.parametrize("md", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(md: Path) -> None:
    bad = _broken(md)
    assert not bad, f"{md.relative_to(ROOT)}: " + "; ".join(bad)


def test_the_checker_sees_a_broken_link(tmp_path: Path) -> None:
    """The check is not vacuous: a link to a missing file and to a missing heading are both found."""
    (tmp_path / "a.md").write_text("# Title, here\n\n[ok](#title-here) [gone](b.md) [anchor](a.md#nope) "
                                   "[web](https://example.org) `[code](c.md)`\n")
    assert _broken(tmp_path / "a.md") == ["b.md: no such file", "a.md#nope: no heading with that anchor"]


#: `docs/detector.md, "Heavy holds weighted"`: the way docs, code and benches cite a section of a doc
_CITE = re.compile(r"((?:docs/|firmware/|hardware/)?[\w-]+\.md),?\s+\"([^\"\n]{3,90})\"")
_SOURCES = [*DOCS, *sorted(ROOT.glob("bench/*.py")), *sorted(ROOT.glob("signal/rollsignal/**/*.py")),
            *sorted(ROOT.glob("signal/rollsignal/profiles/*.json")), *sorted(ROOT.glob("hostapp/holdsense/**/*.py")),
            *sorted(ROOT.glob("tests/**/*.py"))]


def _titles(md: Path) -> list[str]:
    """Headings and bold run-in titles (`**Heavy holds weighted** (...)`) of a doc, lower case."""
    text = md.read_text(encoding="utf-8")
    return [t.lower() for t in re.findall(r"^#{1,6}\s+(.+)$", text, re.M) + re.findall(r"\*\*([^*\n]+)\*\*", text)]


def _bad_citations(src: Path) -> list[str]:
    """Section citations in `src` whose doc exists in the project but has no such heading."""
    bad = []
    for name, title in _CITE.findall(src.read_text(encoding="utf-8")):
        cands = [ROOT / name, ROOT / "docs" / name, src.parent / name]
        doc = next((c for c in cands if c.is_file()), None)
        if doc is None or "{" in title:  # a doc of ../shared/guide (not in a user's clone), or a format string
            continue
        if not any(title.lower() in t for t in _titles(doc)):
            bad.append(f'{name}, "{title}"')
    return bad


def test_cited_sections_exist() -> None:
    """Every `doc.md, "Section"` citation names a heading (or bold run-in title) of that doc."""
    bad = {str(s.relative_to(ROOT)): b for s in _SOURCES if s.name != Path(__file__).name and (b := _bad_citations(s))}
    assert not bad, bad


def test_a_dangling_citation_is_found(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text("# Heavy holds weighted\n\n**Run-in title** text\n")
    (tmp_path / "y.md").write_text('see x.md, "Heavy holds weighted" and x.md "Run-in title" and x.md, "Gone"\n')
    assert _bad_citations(tmp_path / "y.md") == ['x.md, "Gone"']
