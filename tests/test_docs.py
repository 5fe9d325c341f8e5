"""The README and the docs/ pages hold together: every relative link and anchor resolves, the site's nav lists
every page, what the code's messages send readers to is there, and the pages that repeat each other agree."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """``text`` without its fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """The anchor GitHub and mkdocs give a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of ``page``'s headings."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file, or whose anchor in that file, does not exist."""
    broken = []
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: not the repository's to check
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and (linked.suffix != ".md" or anchor not in anchors(linked))):
            broken.append(target)
    return broken


def test_every_relative_link_resolves() -> None:
    assert {p.relative_to(ROOT).as_posix(): broken_links(p) for p in PAGES if broken_links(p)} == {}
    links = [link for p in PAGES for link in LINK.findall(prose(p.read_text(encoding="utf-8")))]
    assert len(links) > 40 and any("#" in link for link in links)


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading: here\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#a-code-heading-here) [ok](#top) [web](https://example.com/x.md)\n"
        "# Top\n[gone](missing.md) [no anchor](other.md#nowhere) [self](#nowhere)\n"
        "```\n[in code](missing.md)\n```\n`[inline](missing.md)`\n"
    )
    assert broken_links(page) == ["missing.md", "other.md#nowhere", "#nowhere"]


def test_the_site_lists_every_page() -> None:
    nav = re.findall(r"^\s+- (?:[^:\n]+: )?([\w-]+\.md)$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.M)
    assert sorted(nav) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert len(nav) == len(set(nav))


def test_the_readme_keeps_the_sections_messages_name() -> None:
    """A message that sends its reader to a section of the README (``see 'Files' … in the README``) finds it."""
    named = {
        name
        for source in sorted((ROOT / "sqlmig").rglob("*.py"))
        for quoted in re.findall(r"""((?:["'][A-Z][^"'\n]*["'](?:,| and)? )+)in the README""", source.read_text())
        for name in re.findall(r"""["']([^"']+)["']""", quoted)
    }
    assert {"Files", "Directives", "Upgrading the embedded server"} <= named
    headings = set(re.findall(r"^#+ (.+)$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M))
    assert named - headings == set()


def table(page: str, heading: str) -> list[str]:
    """The rows of the first table under ``heading`` in ``page``."""
    lines = (ROOT / page).read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1].splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("|"))
    return list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))


def test_the_exit_codes_are_the_same_in_the_readme_and_the_cli_page() -> None:
    readme = table("README.md", "### Exit codes")
    assert len(readme) == 9 and readme == table("docs/cli.md", "## Exit codes")


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md has a line for each module under sqlmig/, and names none that is gone."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([\w/]+(?:\.py|/))` \|", text, re.M))
    package = ROOT / "sqlmig"
    modules = {p.relative_to(package).as_posix() for p in package.rglob("*.py")} | {"templates/"}
    assert documented == modules
