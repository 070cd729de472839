"""Every relative link and ``#anchor`` in README.md and docs/*.md leads somewhere.

README keeps the front page and docs/ the depth (review 71 F8), so a reader follows links between
them; a moved section or a renamed heading must not leave a link pointing at nothing. Anchors are
GitHub's: a heading lowercased, punctuation dropped, spaces as hyphens, repeats numbered.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(([^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+\"[^\"]*\")?\)")


def _prose(text: str) -> str:
    """The text without fenced blocks and code spans, where brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def links(path: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(_prose(path.read_text(encoding="utf-8")))]


def test_slugs_are_githubs():
    """The anchors this test expects are the ones GitHub makes (checked against links README had)."""
    assert slug("Inputs: what `scan` opens, by content") == "inputs-what-scan-opens-by-content"
    assert slug("Exit codes (`scan`, `inspect`, `report`, `rules`)") == "exit-codes-scan-inspect-report-rules"
    assert slug("Security: what apkscan defends against, and what it does not") == (
        "security-what-apkscan-defends-against-and-what-it-does-not")


def test_the_pages_link_to_each_other():
    """README leads to every docs page, and the check below has links to check."""
    targets = {link.split("#")[0] for link in links(ROOT / "README.md")}
    assert {f"docs/{p.name}" for p in PAGES[1:]} <= targets


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not this repository's
            continue
        name, _, anchor = target.partition("#")
        dest = (page.parent / name).resolve() if name else page
        if not dest.exists():
            broken.append(target)
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(target)
    assert broken == []
