"""The documentation a fresh clone shows: every relative link of README.md, docs/ and the model card
resolves to a file of the checkout, and the README stays a first screen."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", REPO / "weights" / "README.md", REPO / "ffbridge" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_readme_is_one_screen_with_the_two_commands_and_the_user_command_lines():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 60
    for line in ("bash scripts/demo.sh", "bash scripts/test.sh", "gvc1d-pipe encode", "gvc1d-pipe decode", "gvc1d-batch encode"):
        assert line in text, line
