"""The mkdocs hook (``hooks:`` in mkdocs.yml): expands the generated parts of each page."""

from __future__ import annotations

from typing import Any

from omnirelay.docsgen.directives import expand


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return expand(markdown, where=str(page.file.src_uri))
