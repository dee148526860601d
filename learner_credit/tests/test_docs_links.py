"""Every relative link in the README and the docs resolves inside the repository (a clone has nothing else)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
RST_PATH = re.compile(r"``((?:docs|[a-z_]+)/[\w./-]+\.(?:md|rst|py))``")


def _documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_relative_link_resolves_inside_the_repository():
    broken = []
    for document in _documents():
        for target in MARKDOWN_LINK.findall(document.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (document.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{document.relative_to(ROOT)} -> {target}")
    assert not broken, broken
    assert len(_documents()) >= 4


def test_the_docs_name_no_file_outside_the_repository():
    for document in [*_documents(), *sorted((ROOT / "docs").glob("*.rst"))]:
        text = document.read_text()
        assert "../shared" not in text, document
        for path in RST_PATH.findall(text):
            assert (ROOT / path).exists(), f"{document.relative_to(ROOT)} names {path}, which does not exist"
